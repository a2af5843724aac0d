"""The versioned schema: Alembic agrees with the metadata, old stores upgrade, bad files are refused untouched."""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import CheckConstraint, create_engine, inspect

import worker.store.sqlite
from tests.conftest import new_job, run_dock
from worker.store import Store
from worker.store.errors import DatabaseCorrupt, DatabaseLocked, DatabaseTooNew
from worker.store.rows import Event
from worker.store.schema import KNOWN_REVISIONS, SCHEMA_HEAD, jobs, metadata
from worker.store.states import JobStatus

MIGRATIONS = Path(worker.store.sqlite.__file__).with_name("migrations")


def alembic_config(connection: Any = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def test_schema_head_is_alembics_head() -> None:
    scripts = ScriptDirectory.from_config(alembic_config())
    assert scripts.get_heads() == [SCHEMA_HEAD]
    assert {rev.revision for rev in scripts.walk_revisions()} == KNOWN_REVISIONS


def _same_default(_context: Any, _inspected: Any, _column: Any, reflected: str | None, _default: Any,
                  rendered: str | None) -> bool | None:
    # Alembic's SQLite comparison unquotes '0' but not ('') (its pattern needs one character): compare
    # both sides unquoted and leave every other decision to Alembic.
    def bare(text: str | None) -> str | None:
        return None if text is None else re.sub(r"^\((.*)\)$", r"\1", text).strip("'\"")

    return False if bare(reflected) == bare(rendered) else None


def test_migrations_build_exactly_the_metadata(store: Store) -> None:
    with store.engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "compare_server_default": _same_default}
        )
        assert compare_metadata(context, metadata) == []
        # Alembic does not compare CHECK constraints, and they hold the invariants: compare them by name.
        reflected = {c["name"] for c in inspect(conn).get_check_constraints("jobs")}
        conn.rollback()
    declared = {c.name for c in jobs.constraints if isinstance(c, CheckConstraint)}
    assert reflected == declared
    assert all(str(name).startswith("ck_jobs_") and not str(name).startswith("ck_jobs_ck_") for name in reflected)


def _bytes(path: Path) -> bytes:
    return path.read_bytes()


def store_at_revision(data_dir: Path, revision: str) -> Path:
    """A new, empty store as an older version of Processing Dock left it; returns the database file."""
    data_dir.mkdir(mode=0o700)
    database = data_dir / "dock.sqlite3"
    engine = create_engine(f"sqlite:///{database}")
    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), revision)
    engine.dispose()
    return database


def test_older_database_is_upgraded_and_keeps_every_job(data_dir: Path) -> None:
    database = store_at_revision(data_dir, "0001")
    raw = sqlite3.connect(database)
    with raw:
        for i in range(1, 51):
            raw.execute(
                "INSERT INTO jobs (handler, filename, input_path, params, status, max_attempts, attempt_budget,"
                " run_after, created_at, updated_at) VALUES ('checksum', ?, ?, '{\"k\": \"v\"}', 'pending', 3, 3,"
                " 0, ?, ?)",
                (f"old {i}.txt", f"input/old {i}.txt", 100.0 + i, 100.0 + i),
            )
            raw.execute("INSERT INTO job_events (job_id, at, actor, to_status) VALUES (?, ?, 'user', 'pending')",
                        (i, 100.0 + i))
    assert raw.execute("SELECT version_num FROM alembic_version").fetchone() == ("0001",)
    raw.close()

    with Store(data_dir) as store:
        found = store.list_jobs(order_by="id", descending=False)
        assert [j.filename for j in found] == [f"old {i}.txt" for i in range(1, 51)]
        assert all(j.params == {"k": "v"} and j.status is JobStatus.PENDING for j in found)
        assert len(store.history(1)) == 1
        store.register_worker(pid=1, host="h", concurrency=1)  # the table 0002 added works
        (claim,) = store.claim("w")
        assert claim.job_id == 1
    raw = sqlite3.connect(database)
    assert raw.execute("SELECT version_num FROM alembic_version").fetchone() == (SCHEMA_HEAD,)
    raw.close()


def test_upgrading_0003_moves_each_added_event_into_its_job_row_and_keeps_the_history(data_dir: Path) -> None:
    database = store_at_revision(data_dir, "0003")
    raw = sqlite3.connect(database)
    with raw:
        for i, actor in ((1, "user"), (2, "window")):
            raw.execute(
                "INSERT INTO jobs (handler, filename, input_path, params, status, max_attempts, attempt_budget,"
                " run_after, created_at, updated_at, cancelled_at) VALUES ('checksum', ?, 'input/x', '{}',"
                " 'cancelled', 3, 3, 0, ?, 200, 200)", (f"doc {i}.pdf", 100.0 + i))
            raw.execute("INSERT INTO job_events (job_id, at, actor, from_status, to_status, reason)"
                        " VALUES (?, ?, ?, NULL, 'pending', ?)",
                        (i, 100.0 + i, actor, f"added 'doc {i}.pdf' for handler checksum"))
            raw.execute("INSERT INTO job_events (job_id, at, actor, from_status, to_status, reason)"
                        " VALUES (?, 200, 'user', 'pending', 'cancelled', 'cancelled by user')", (i,))
    raw.close()

    with Store(data_dir) as store:
        for i, actor in ((1, "user"), (2, "window")):
            assert store.history(i) == [
                Event(100.0 + i, actor, None, "pending", f"added 'doc {i}.pdf' for handler checksum"),
                Event(200.0, "user", "pending", "cancelled", "cancelled by user"),
            ]
    raw = sqlite3.connect(database)
    assert raw.execute("SELECT count(*) FROM job_events WHERE from_status IS NULL").fetchone() == (0,)
    assert raw.execute("SELECT id, added_by FROM jobs ORDER BY id").fetchall() == [(1, "user"), (2, "window")]
    raw.close()


@pytest.fixture
def closed_store(data_dir: Path) -> Path:
    """A real store with a few jobs, closed, so that its whole content sits in the main file."""
    with Store(data_dir) as store:
        store.add([new_job(f"job {i}") for i in range(300)])
    database = data_dir / "dock.sqlite3"
    assert not database.with_name("dock.sqlite3-wal").exists()  # checkpointed on close
    return database


def _refused(data_dir: Path, database: Path, error: type[Exception], *words: str) -> None:
    before = _bytes(database)
    with pytest.raises(error) as raised:
        Store(data_dir)
    text = str(raised.value)
    assert str(database) in text
    assert "nothing was changed" in text.lower()
    for word in words:
        assert word in text
    assert _bytes(database) == before


def test_database_from_a_newer_version_is_refused_untouched(closed_store: Path) -> None:
    raw = sqlite3.connect(closed_store)
    with raw:
        raw.execute("UPDATE alembic_version SET version_num = '9999'")
    raw.close()
    _refused(closed_store.parent, closed_store, DatabaseTooNew, "newer version", "9999", SCHEMA_HEAD)


def test_random_bytes_are_refused_untouched(data_dir: Path) -> None:
    data_dir.mkdir()
    database = data_dir / "dock.sqlite3"
    database.write_bytes(os.urandom(64 * 1024))
    _refused(data_dir, database, DatabaseCorrupt, "not a SQLite database")


def test_a_text_file_is_refused_untouched(data_dir: Path) -> None:
    data_dir.mkdir()
    database = data_dir / "dock.sqlite3"
    database.write_text("these are my notes, not a database\n" * 10)
    _refused(data_dir, database, DatabaseCorrupt, "not a SQLite database")


def test_truncated_header_is_refused_untouched(data_dir: Path) -> None:
    data_dir.mkdir()
    database = data_dir / "dock.sqlite3"
    database.write_bytes(b"SQLite format 3\x00" + b"\x00" * 50)
    _refused(data_dir, database, DatabaseCorrupt)


def test_a_damaged_page_is_refused_untouched(closed_store: Path) -> None:
    raw = sqlite3.connect(closed_store)
    page_size = raw.execute("PRAGMA page_size").fetchone()[0]
    pages = raw.execute("PRAGMA page_count").fetchone()[0]
    (root,) = raw.execute("SELECT rootpage FROM sqlite_master WHERE name = 'jobs'").fetchone()
    raw.close()
    assert pages > root + 2
    # Damage a page of the jobs table, not the schema page: only a real check of the file finds it.
    with closed_store.open("r+b") as f:
        f.seek((root + 1) * page_size + 8)  # page root + 2 (1-based), past its header's first bytes
        f.write(os.urandom(page_size - 16))
    _refused(closed_store.parent, closed_store, DatabaseCorrupt, "damaged")


def test_another_programs_database_is_refused_untouched(data_dir: Path) -> None:
    data_dir.mkdir()
    database = data_dir / "dock.sqlite3"
    raw = sqlite3.connect(database)
    with raw:
        raw.execute("CREATE TABLE contacts (name TEXT, phone TEXT)")
        raw.execute("INSERT INTO contacts VALUES ('Ada', '123')")
    raw.close()
    _refused(data_dir, database, DatabaseCorrupt, "another program", "contacts")


def test_another_alembic_programs_database_is_refused_untouched(data_dir: Path) -> None:
    data_dir.mkdir()
    database = data_dir / "dock.sqlite3"
    raw = sqlite3.connect(database)
    with raw:
        raw.execute("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL PRIMARY KEY)")
        raw.execute("INSERT INTO alembic_version VALUES ('ae1027a6acf')")
        raw.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY)")
    raw.close()
    _refused(data_dir, database, DatabaseCorrupt, "another program", "invoices")


def test_an_empty_file_becomes_a_store(data_dir: Path) -> None:
    data_dir.mkdir()
    (data_dir / "dock.sqlite3").touch()
    with Store(data_dir) as store:
        assert store.add([new_job()]) == [1]


def test_cli_reports_a_bad_database_on_one_line(data_dir: Path) -> None:
    data_dir.mkdir()
    database = data_dir / "dock.sqlite3"
    database.write_text("not a database")
    done = run_dock(data_dir, "ls")
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.startswith("dock: ") and "Traceback" not in done.stderr
    assert database.read_text() == "not a database"


# ---- locks ------------------------------------------------------------------------------------------------

HOLD_LOCK = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
if sys.argv[2] == "exclusive":
    conn.execute("PRAGMA locking_mode = EXCLUSIVE")
conn.execute("BEGIN IMMEDIATE")
conn.execute("UPDATE jobs SET rev = rev + 1")
if sys.argv[2] == "exclusive":
    conn.execute("COMMIT")  # the exclusive lock outlives the transaction: nobody else may even read
print("holding", flush=True)
sys.stdin.read()  # hold it until the test closes our stdin
"""


@pytest.fixture
def lock_holder(closed_store: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("DOCK_BUSY_TIMEOUT", "0.3")
    started: list[subprocess.Popen[str]] = []

    def hold(mode: str) -> subprocess.Popen[str]:
        holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(closed_store), mode],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        started.append(holder)
        assert holder.stdout is not None
        assert holder.stdout.readline() == "holding\n"
        return holder

    yield hold
    for holder in started:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(timeout=30)


def test_a_write_lock_held_elsewhere_gives_database_locked(closed_store: Path, lock_holder: Any) -> None:
    with Store(closed_store.parent) as store:  # readers are not blocked in WAL mode: opening works
        holder = lock_holder("write")
        assert len(store.list_jobs(limit=5)) == 5
        began = time.monotonic()
        with pytest.raises(DatabaseLocked, match="locked by another program") as locked:
            store.cancel(1)
        assert time.monotonic() - began < 5  # waited out the busy timeout (0.3 s), then said so
        assert "nothing was changed" in str(locked.value)
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(timeout=30)
        assert store.cancel(1) == "job 1 cancelled"  # the lock is gone: the same action goes through


def test_an_exclusive_lock_gives_database_locked_on_open(closed_store: Path, lock_holder: Any) -> None:
    lock_holder("exclusive")
    before = _bytes(closed_store)
    began = time.monotonic()
    with pytest.raises(DatabaseLocked, match="locked by another program"):
        Store(closed_store.parent)
    assert time.monotonic() - began < 5
    assert _bytes(closed_store) == before


def test_cli_reports_a_lock_and_exits_1(closed_store: Path, lock_holder: Any) -> None:
    lock_holder("exclusive")
    done = subprocess.run([sys.executable, "-m", "dock", "--data-dir", str(closed_store.parent), "ls"],
                          capture_output=True, text=True, timeout=60, check=False,
                          env={**os.environ, "DOCK_BUSY_TIMEOUT": "0.3"})
    assert done.returncode == 1
    assert "locked by another program" in done.stderr and "Traceback" not in done.stderr


def test_busy_timeout_is_configurable(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCK_BUSY_TIMEOUT", "2.5")
    with Store(data_dir) as store, store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 2500
        conn.rollback()
    monkeypatch.setenv("DOCK_BUSY_TIMEOUT", "soon")
    assert worker.store.sqlite.busy_timeout() == worker.store.sqlite.BUSY_TIMEOUT_S
