"""Noticing, cheaply, that someone committed to the store: what lets the window skip idle polls."""

from __future__ import annotations

from worker.store.sqlite import translated
from worker.store.store import Store


class ChangeWatcher:
    """Tells cheaply whether anyone committed to the store since the last look (PRAGMA data_version).

    data_version only moves for commits made by other connections. So it looks through a connection of its
    own, or, with `ignore_own_writes`, through the calling thread's write connection of the store, so that
    thread's own commits are no news (the worker's loop: only a cancel or delete from elsewhere is). The
    pragma needs no transaction, so it goes straight to the driver: a look costs about 10 µs.
    """

    def __init__(self, store: Store, ignore_own_writes: bool = False) -> None:
        self._borrowed = ignore_own_writes
        self._conn = store.own_connection() if ignore_own_writes else store.engine.connect()
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
        if not self._borrowed:  # the store closes its own connection
            self._conn.close()
