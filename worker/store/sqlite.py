"""Opening a SQLite store: checks before any write, pragmas, WAL, busy timeouts, and what its errors mean."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import uuid
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.exc import DBAPIError

from worker.store.database import Database
from worker.store.errors import (
    DatabaseCorrupt,
    DatabaseError,
    DatabaseLocked,
    DatabaseTooNew,
)
from worker.store.schema import KNOWN_REVISIONS, SCHEMA_HEAD

BUSY_TIMEOUT_S = 10.0  # the default; DOCK_BUSY_TIMEOUT (seconds) overrides it
ENV_BUSY_TIMEOUT = "DOCK_BUSY_TIMEOUT"
SQLITE_MAGIC = b"SQLite format 3\x00"

Role = Literal["user", "worker"]


def busy_timeout() -> float:
    """How long a connection waits for another's lock before giving up, in seconds."""
    try:
        value = float(os.environ.get(ENV_BUSY_TIMEOUT, BUSY_TIMEOUT_S))
    except ValueError:
        return BUSY_TIMEOUT_S
    return value if value >= 0 else BUSY_TIMEOUT_S


def translate(error: BaseException, path: Path | str) -> DatabaseError:
    """A clear, user-facing error for what sqlite3 reported."""
    text = str(getattr(error, "orig", None) or error)
    if "locked" in text or "busy" in text:
        return DatabaseLocked(
            f"the database {path} is locked by another program and stayed locked for "
            f"{busy_timeout():g} s; close that program or try again (nothing was changed)"
        )
    if "not a database" in text or "malformed" in text or "corrupt" in text:
        return DatabaseCorrupt(
            f"the database {path} is damaged or is not a Processing Dock database ({text}); "
            "nothing was changed: move it aside to start afresh, or restore a backup"
        )
    return DatabaseError(f"the database {path} cannot be used: {text}")


def _check_before_open(path: Path) -> None:
    """Refuse a file that is not SQLite, is damaged, or was made by a newer version, before writing anything."""
    if not path.exists() or path.stat().st_size == 0:
        return
    with path.open("rb") as f:
        if f.read(len(SQLITE_MAGIC)) != SQLITE_MAGIC:
            raise DatabaseCorrupt(
                f"{path} is not a SQLite database, so it is not a Processing Dock store; nothing was changed"
            )
    probe = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=busy_timeout())
    try:
        names = {row[0] for row in probe.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if "alembic_version" in names and "jobs" not in names:
            raise DatabaseCorrupt(
                f"{path} is a SQLite database of another program (tables: {', '.join(sorted(names))}); "
                "nothing was changed"
            )
        if "alembic_version" in names:
            row = probe.execute("SELECT version_num FROM alembic_version").fetchone()
            revision = row[0] if row else None
            if revision is not None and revision not in KNOWN_REVISIONS:
                raise DatabaseTooNew(
                    f"{path} was made by a newer version of Processing Dock (schema {revision}, this version "
                    f"knows up to {SCHEMA_HEAD}); upgrade Processing Dock to open it. Nothing was changed."
                )
        elif names - {"sqlite_sequence"}:
            raise DatabaseCorrupt(
                f"{path} is a SQLite database of another program (tables: {', '.join(sorted(names))}); "
                "nothing was changed"
            )
        # Reading the schema only proves page 1 sound. quick_check reads every page (~50 ms for
        # 100,000 jobs), so damage is reported now, before anything writes, not halfway through a job.
        problems = [row[0] for row in probe.execute("PRAGMA quick_check(5)")]
        if problems != ["ok"]:
            raise DatabaseCorrupt(
                f"the database {path} is damaged ({'; '.join(problems)}); nothing was changed: "
                "move it aside to start afresh, or restore a backup"
            )
    except sqlite3.DatabaseError as error:
        raise translate(error, path) from error
    finally:
        probe.close()


WORKER_BUSY_TIMEOUT_S = 2.0


def busy_timeout_for(role: Role) -> float:
    """How long a write waits for the lock. The worker waits less: its one loop must heartbeat well within
    its lease (10 s), and a write that gives up is simply tried again on its next tick."""
    return busy_timeout() if role == "user" else min(busy_timeout(), WORKER_BUSY_TIMEOUT_S)


def _install_pragmas(engine: Engine, role: Role) -> None:
    # Durability by role. WAL with synchronous=NORMAL never corrupts, but a power loss can undo the last
    # commits. The worker's writes (claims, progress, finishes) are safe to lose: delivery is at-least-once
    # and a lost finish re-runs the job. What a user does (add, cancel, delete, retry) must survive, so
    # those connections use FULL and pay one fsync per commit.
    synchronous = "FULL" if role == "user" else "NORMAL"

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: sqlite3.Connection, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves (SQLAlchemy's pysqlite recipe)
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {int(busy_timeout_for(role) * 1000)}")
        cursor.execute("PRAGMA foreign_keys = ON")
        # 16 MiB of page cache rather than SQLite's 2: enough for the claim index and the hot rows of a
        # 50,000-job backlog, where the default made each claim re-read pages (drain fell ~17 %).
        cursor.execute("PRAGMA cache_size = -16384")
        cursor.execute(f"PRAGMA synchronous = {synchronous}")
        # WAL lets readers (the window) go on while a writer (the worker) commits. It is persistent, and
        # must be set outside a transaction, hence here.
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # Writers take the write lock up front: a deferred transaction that upgrades from read to write
        # fails with SQLITE_BUSY at once instead of waiting out the busy timeout.
        mode = conn.get_execution_options().get("sqlite_begin", "IMMEDIATE")
        driver = conn.connection.driver_connection
        assert driver is not None
        if driver.in_transaction:  # SQLAlchemy executing inside one of Database's transactions
            raise RuntimeError("a SQLAlchemy transaction inside a driver-level one: a bug of ours")
        # On the driver's connection: through conn.exec_driver_sql this cost as much as a job's whole insert.
        driver.execute(f"BEGIN {mode}")


def _engine(path: Path, role: Role) -> Engine:
    engine = create_engine(
        f"sqlite+pysqlite:///{path}",
        connect_args={"timeout": busy_timeout_for(role), "check_same_thread": False},
    )
    _install_pragmas(engine, role)
    return engine


def _create_new(path: Path, role: Role) -> None:
    """Build a new store under a temporary name, then link it into place.

    Another process opening the same new store at that moment sees nothing or a complete, migrated WAL
    database, never one half made: switching a database to WAL while another process has it open fails at
    once with "database is locked", without waiting out the busy timeout.
    """
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.new")
    os.close(os.open(temporary, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    try:
        engine = _engine(temporary, role)
        try:
            _migrate(engine, temporary)
        finally:
            engine.dispose()  # the last connection closing checkpoints the WAL into the file
        with contextlib.suppress(FileExistsError):  # another process linked its own first: use that one
            os.link(temporary, path)
    finally:
        for suffix in ("", "-wal", "-shm"):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(f"{temporary}{suffix}")


def _migrate(engine: Engine, path: Path) -> None:
    # Only reading the version: a deferred transaction, so a writer elsewhere does not hold up opening.
    with engine.connect().execution_options(sqlite_begin="DEFERRED") as conn:
        current = conn.exec_driver_sql(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'alembic_version'"
        ).fetchone()
        if current:
            row = conn.exec_driver_sql("SELECT version_num FROM alembic_version").fetchone()
            if row and row[0] == SCHEMA_HEAD:
                return
        conn.rollback()
    # Alembic is imported only when there is something to upgrade: it costs ~100 ms of start-up.
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(Path(__file__).with_name("migrations")))
    with engine.begin() as conn:  # BEGIN IMMEDIATE: two processes opening a new store upgrade it once
        config.attributes["connection"] = conn
        command.upgrade(config, "head")


def file_identity(path: Path) -> tuple[int, int] | None:
    """What names the database file: its device and inode, or None once it is gone."""
    try:
        found = os.stat(path)
    except FileNotFoundError:
        return None
    return found.st_dev, found.st_ino


def open_sqlite(path: Path, role: Role = "user") -> Database:
    """The store's database at `path`, created or upgraded to the current schema."""
    engine = open_engine(path, role)
    return Database(engine, str(path), translated, "BEGIN IMMEDIATE", "BEGIN DEFERRED",
                    identity=lambda: file_identity(path))


def open_engine(path: Path, role: Role = "user") -> Engine:
    """An engine on the store at `path`, created or upgraded to the current schema."""
    try:
        _check_before_open(path)
        if not path.exists():
            _create_new(path, role)
    except OSError as error:  # a folder in its place, no permission to read it
        raise DatabaseError(f"the database {path} cannot be used: {error.strerror or error}") from error
    except (DBAPIError, sqlite3.Error) as error:
        raise translate(error, path) from error
    engine = _engine(path, role)
    try:
        _migrate(engine, path)
    except (DBAPIError, sqlite3.Error) as error:
        engine.dispose()
        raise translate(error, path) from error
    return engine


class translated:  # noqa: N801 - used like the function it was: `with translated(path):`
    """Turn sqlite3's errors into DockErrors with a message a user can act on.

    A class rather than a @contextmanager generator: it wraps every transaction, and a generator costs
    several microseconds a use, a tenth of a single add's CPU.
    """

    __slots__ = ("path",)

    def __init__(self, path: Path | str) -> None:
        self.path = path

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, _tb: object) -> Literal[False]:
        if error is None or isinstance(error, sqlite3.IntegrityError):
            return False  # a broken constraint is a bug of ours: let it show as one
        if isinstance(error, DBAPIError):
            if isinstance(error.orig, sqlite3.IntegrityError):
                return False
            raise translate(error, self.path) from error
        if isinstance(error, sqlite3.Error):  # from the driver's cursor, which Database's transactions use
            raise translate(error, self.path) from error
        return False
