"""The store's one way to run SQL: transactions begun and committed on the driver, each a `Tx` of statements.

SQLAlchemy builds and compiles the statements (Core, portable) and owns the connection pool; it does not run
the transactions. Its transaction machinery cost as much CPU as a single add's own SQLite work, and two ways
of running SQL side by side (Core execution for some writes, the driver for the hot paths) was one way too
many: every read and write now goes through `Database.read()` or `Database.write()`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

from sqlalchemy import Connection, Engine

from worker.store.errors import DatabaseReplaced
from worker.store.prepared import Tx

Translator = Callable[[str], AbstractContextManager[None]]


class Database:
    """The connections of one store, and its transactions.

    The thread that opened the store (the worker's loop, a command, the window's GUI thread) keeps one connection
    for everything it does: checking one out of the pool per transaction cost a third of an add. Other threads
    (the window's background threads) check one out per transaction.

    Attributes:
        engine: SQLAlchemy's engine: the pool, the dialect, and Alembic's way in.
        name: what the messages call the database (its path).
    """

    def __init__(self, engine: Engine, name: str, translated: Translator, begin_write: str, begin_read: str,
                 identity: Callable[[], object] | None = None) -> None:
        self.engine = engine
        self.name = name
        self.dialect = engine.dialect
        self._translated = translated
        self._begin_write = begin_write
        self._begin_read = begin_read
        self._identity = identity
        self._opened_as = identity() if identity is not None else None
        self._owner = threading.get_ident()
        self._own: Connection | None = None

    def close(self) -> None:
        if self._own is not None:
            self._own.close()
            self._own = None
        self.engine.dispose()

    def own_connection(self) -> Connection:
        """The connection the opening thread works through (for that thread only). PRAGMA data_version read on it
        moves only for other connections' commits, never for this thread's own."""
        if self._own is None or self._own.invalidated:
            self._own = self.engine.connect()
        return self._own

    def write(self) -> AbstractContextManager[Tx]:
        """A write transaction: on SQLite it takes the write lock at BEGIN (IMMEDIATE), so it never fails
        halfway with "locked" for want of upgrading a read lock."""
        return self._transaction(self._begin_write)

    def read(self) -> AbstractContextManager[Tx]:
        """A read transaction: one consistent snapshot, which never waits for writers (WAL)."""
        return self._transaction(self._begin_read)

    @contextmanager
    def _transaction(self, begin: str) -> Iterator[Tx]:
        with self._translated(self.name):
            borrowed = None if threading.get_ident() == self._owner else self.engine.connect()
            conn = borrowed or self.own_connection()
            try:
                driver = conn.connection.driver_connection
                assert driver is not None
                cursor = driver.cursor()
                try:
                    cursor.execute(begin)  # inside the try: an interrupt right after it must roll back
                    yield Tx(cursor, self.dialect)
                    cursor.execute("COMMIT")
                except BaseException:
                    self._roll_back(conn, cursor)
                    raise
                finally:
                    cursor.close()
            finally:
                if borrowed is not None:
                    borrowed.close()

    def _roll_back(self, conn: Connection, cursor: Any) -> None:
        """Undo the transaction; a connection that cannot even roll back is dropped, so that its write lock goes
        with it and the next transaction starts on a fresh one."""
        try:
            if _in_transaction(conn):  # a failed BEGIN has nothing to undo; a failed COMMIT may have
                cursor.execute("ROLLBACK")
        except BaseException:
            conn.invalidate()
            if conn is self._own:
                self._own = None
            raise

    def check_identity(self) -> None:
        """Raise DatabaseReplaced if the database is no longer the one opened (deleted, or another file moved into
        its place): a process working on a deleted file would lose everything it writes from then on."""
        if self._identity is None:
            return
        now = self._identity()
        if now != self._opened_as:
            what = "was deleted" if now is None else "was replaced by another file"
            raise DatabaseReplaced(f"the database {self.name} {what} while this process had it open; "
                                   "stopping, so that nothing more is written to the old one")


def _in_transaction(conn: Connection) -> bool:
    driver = conn.connection.driver_connection
    return bool(getattr(driver, "in_transaction", True))
