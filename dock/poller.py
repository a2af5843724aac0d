"""Live refresh: a timer asks a background thread what changed in the store, and hands the GUI a diff."""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import partial

from PySide6.QtCore import QObject, QTimer, Signal

from dock.background import Background
from dock.model import ModelChange, Row, plan_diff
from worker.store import Store, WorkerInfo
from worker.store.errors import DatabaseReplaced
from worker.store.states import JobStatus
from worker.store.watch import ChangeWatcher

POLL_INTERVAL_MS = 250  # a change shows within 0.5 s even when the 100,000-row query itself takes ~0.2 s
WORKERS_EVERY_S = 2.0  # a dead worker commits nothing, so the live-worker list is re-read on a clock
FULL_FETCH_OVER = 2000
MAX_REST_S = 0.25  # more changed rows than this: one list query beats fetching by id


@dataclass(frozen=True, slots=True)
class Query:
    """What the list shows: a state filter, a search, and the sort order (all done by the store)."""

    status: JobStatus | None = None
    search: str = ""
    order_by: str = "id"
    descending: bool = True


@dataclass(frozen=True, slots=True)
class PollResult:
    """One poll's findings; None fields mean "unchanged since the last poll"."""

    seq: int
    change: ModelChange | None
    counts: dict[JobStatus, int] | None
    workers: list[WorkerInfo] | None
    seconds: float


class _Source:
    """The poll thread's side: a mirror of what the model shows, to diff against. Used on that thread only."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._watcher: ChangeWatcher | None = None
        self._query: Query | None = None
        self._ids: list[int] = []
        self._rows: dict[int, Row] = {}
        self._revs: list[tuple[int, int]] = []
        self._known: dict[int, int] = {}  # id -> rev of every row shown
        self._workers_at = 0.0
        self._dirty = False
        self._rest_until = 0.0

    def poll(self, query: Query, force: bool, seq: int) -> PollResult:
        started = time.perf_counter()
        self._store.check_identity()  # a stat(): the file is still the one opened, not deleted or replaced
        if self._watcher is None:
            self._watcher = ChangeWatcher(self._store)
        committed = self._watcher.changed()
        self._dirty |= committed
        workers = None
        if committed or time.monotonic() - self._workers_at > WORKERS_EVERY_S:
            workers = self._store.live_workers()
            self._workers_at = time.monotonic()
        wanted = force or query != self._query
        # Under a flood of commits (chatty progress on 100,000 rows) refreshes rest as long as the last one
        # took, so this thread never holds the interpreter more than half the time.
        if not wanted and (not self._dirty or time.monotonic() < self._rest_until):
            return PollResult(seq, None, None, workers, time.perf_counter() - started)
        self._dirty = False
        change = self._refresh(query, seq)
        counts = self._store.counts()
        seconds = time.perf_counter() - started
        if not change.reset:  # a first load or a new filter is a one-off, not a flood
            self._rest_until = time.monotonic() + min(seconds, MAX_REST_S)
        return PollResult(seq, change, counts, workers, seconds)

    def _refresh(self, query: Query, seq: int) -> ModelChange:
        revs = self._store.revisions(query.status, query.search or None, query.order_by, query.descending)
        reset = query != self._query
        if not reset and revs == self._revs:
            return ModelChange(seq)  # the commit was elsewhere (a heartbeat, another filter's rows)
        # Plain loops, not set algebra over 100,000 tuples: a loop lets the GUI thread take the
        # interpreter every few milliseconds, one big C call would hold it for tens of them.
        known = self._known
        stale = [job_id for job_id, rev in revs if known.get(job_id) != rev]
        fetched = self._fetch(stale, query)
        vanished = set(stale) - fetched.keys()  # deleted between the two queries: left out
        ids = [job_id for job_id, _ in revs if job_id not in vanished]
        old_ids, self._ids, self._query, self._revs = self._ids, ids, query, revs
        if reset:
            self._rows = {job_id: fetched.get(job_id) or self._rows[job_id] for job_id in ids}
            self._known = {job_id: row.rev for job_id, row in self._rows.items()}
            return ModelChange(seq, reset=True, ids=ids, rows=dict(self._rows))  # the model's own copy
        diff = plan_diff(old_ids, ids, fetched.keys())
        for job_id in diff.gone:
            self._rows.pop(job_id, None)
            known.pop(job_id, None)
        self._rows.update(fetched)
        known.update((job_id, row.rev) for job_id, row in fetched.items())
        return ModelChange(seq, rows=fetched, diff=diff)

    def _fetch(self, stale: list[int], query: Query) -> dict[int, Row]:
        if not stale:
            return {}
        if len(stale) > FULL_FETCH_OVER:
            jobs = self._store.list_jobs(query.status, query.search or None, query.order_by, query.descending)
            wanted = set(stale)
            return {job.id: Row.of(job) for job in jobs if job.id in wanted}
        return {job_id: Row.of(job) for job_id, job in self._store.get_many(stale).items()}

    def close(self) -> None:
        if self._watcher is not None:
            self._watcher.close()
            self._watcher = None


class Poller(QObject):
    """Polls the store off the GUI thread; polls never overlap and cost nothing while nobody commits.

    Signals:
        polled(PollResult): after every poll, on the GUI thread.
        failed(str): a poll failed (the database is locked or damaged); polling goes on.
        store_lost(str): the database was deleted or replaced under the window; polling stops.
    """

    polled = Signal(object)
    failed = Signal(str)
    store_lost = Signal(str)

    polls = 0
    """How many polls have come back (tests wait for the first)."""

    def __init__(self, store: Store, interval_ms: int = POLL_INTERVAL_MS, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._background = Background("dock-poll", self)
        self._source = _Source(store)
        self._query = Query()
        self._seq = 0
        self._running = False
        self._again = False
        self._force = True
        self._timer = QTimer(self)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self._on_timer_timeout)

    @property
    def query(self) -> Query:
        return self._query

    def start(self) -> None:
        self._timer.start()
        self._submit()

    def stop(self) -> None:
        self._timer.stop()
        self._background.stop()
        self._source.close()

    def pause(self) -> None:
        """Stop polling on the clock (poll_now() still polls): for tests and benchmarks."""
        self._timer.stop()

    def resume(self) -> None:
        self._timer.start()

    def set_query(self, query: Query) -> None:
        if query != self._query:
            self._query = query
            self.poll_now()

    def poll_now(self) -> int:
        """Poll as soon as possible, even if nothing seems to have changed.

        Returns the sequence number of a poll that starts after this call, so it sees every commit made
        before it: `PollResult.seq >= that` means "this already shows it".
        """
        self._force = True
        target = self._seq + 1  # whether it starts now or after the running one, it is the next one
        self._submit()
        return target

    def _on_timer_timeout(self) -> None:
        self._submit()

    def _submit(self) -> None:
        if self._running:  # never two polls at once: run again right after this one instead
            self._again = True
            return
        self._running, self._again = True, False
        self._seq += 1
        force, self._force = self._force, False
        self._background.submit(partial(self._source.poll, self._query, force, self._seq), self._on_polled)

    def _on_polled(self, result: PollResult | None, error: BaseException | None) -> None:
        self._running = False
        self.polls += 1
        if isinstance(error, DatabaseReplaced):
            self._timer.stop()
            self._again = False
            self.store_lost.emit(str(error))
            return
        if error is not None:
            self.failed.emit(str(error))
        elif result is not None:
            self.polled.emit(result)
        if self._again:
            self._submit()
