"""Noticing, cheaply, that someone committed to the store: what lets the window skip idle polls."""

from __future__ import annotations

from worker.db import translated
from worker.store import Store


class ChangeWatcher:
    """Tells cheaply whether anyone committed to the store since the last look (PRAGMA data_version).

    It holds one connection of its own: data_version only moves for commits made by other connections. The
    pragma needs no transaction, so it goes straight to the driver: a look costs about 10 µs.
    """

    def __init__(self, store: Store) -> None:
        self._conn = store.engine.connect()
        self._database = store.data.database
        self._seen: int | None = None

    def changed(self) -> bool:
        """True on the first call and whenever another connection has committed since the previous call."""
        with translated(self._database):
            driver = self._conn.connection.driver_connection
            assert driver is not None
            version = int(driver.execute("PRAGMA data_version").fetchone()[0])
        changed, self._seen = version != self._seen, version
        return changed

    def close(self) -> None:
        self._conn.close()
