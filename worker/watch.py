"""Noticing, cheaply, that someone committed to the store: what lets the window skip idle polls."""

from __future__ import annotations

from worker.db import translated
from worker.store import Store


class ChangeWatcher:
    """Tells cheaply whether anyone committed to the store since the last look (PRAGMA data_version).

    It holds one connection of its own: data_version only moves for commits made by other connections.
    """

    def __init__(self, store: Store) -> None:
        self._conn = store.engine.connect().execution_options(sqlite_begin="DEFERRED")
        self._database = store.data.database
        self._seen: int | None = None

    def changed(self) -> bool:
        """True on the first call and whenever another connection has committed since the previous call."""
        with translated(self._database):
            try:
                version = int(self._conn.exec_driver_sql("PRAGMA data_version").scalar() or 0)
            finally:
                self._conn.rollback()
        changed, self._seen = version != self._seen, version
        return changed

    def close(self) -> None:
        self._conn.close()
