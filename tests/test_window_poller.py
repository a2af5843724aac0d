"""The poller: off the GUI thread, never two polls at once, nothing done while nobody commits."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from pytestqt.qtbot import QtBot

from dock.poller import Poller, PollResult, Query
from tests.window_support import new_job
from worker.store import Store
from worker.store.states import JobStatus


class Recorder:
    """Counts the list queries and how many ran at the same moment."""

    def __init__(self, store: Store) -> None:
        self.calls = 0
        self.active = 0
        self.most_at_once = 0
        self.threads: set[str] = set()
        self._lock = threading.Lock()
        self._revisions = store.revisions
        store.revisions = self  # type: ignore[method-assign]

    def __call__(self, *args: Any, **kwargs: Any) -> list[tuple[int, int]]:
        with self._lock:
            self.calls += 1
            self.active += 1
            self.most_at_once = max(self.most_at_once, self.active)
            self.threads.add(threading.current_thread().name)
        try:
            return self._revisions(*args, **kwargs)
        finally:
            with self._lock:
                self.active -= 1


@pytest.fixture
def poller(qtbot: QtBot, store: Store) -> Iterator[Poller]:
    poller = Poller(store, interval_ms=20)
    yield poller
    poller.stop()


def results(qtbot: QtBot, poller: Poller, count: int) -> list[PollResult]:
    got: list[PollResult] = []
    poller.polled.connect(got.append)
    qtbot.waitUntil(lambda: len(got) >= count, timeout=5000)
    return got


def test_no_commit_means_no_query(qtbot: QtBot, poller: Poller, store: Store) -> None:
    store.add([new_job("a.txt")])
    recorder = Recorder(store)
    poller.start()
    got = results(qtbot, poller, 10)
    assert got[0].change is not None and got[0].change.reset
    assert recorder.calls == 1, "nine polls found data_version unchanged and did nothing"
    assert all(r.change is None and r.counts is None for r in got[1:])
    assert threading.main_thread().name not in recorder.threads


def test_a_commit_shows_as_a_diff(qtbot: QtBot, poller: Poller, store: Store) -> None:
    (first,) = store.add([new_job("a.txt")])
    poller.start()
    results(qtbot, poller, 1)
    got: list[PollResult] = []
    poller.polled.connect(lambda r: r.change is not None and got.append(r))
    (second,) = store.add([new_job("b.txt")])
    qtbot.waitUntil(lambda: bool(got), timeout=5000)
    change = got[0].change
    assert change is not None and not change.reset
    assert change.diff.inserted == ((0, (second,)),)
    assert set(change.rows) == {second}
    assert got[0].counts is not None and got[0].counts[JobStatus.PENDING] == 2
    assert first not in change.rows


def test_polls_never_overlap(qtbot: QtBot, poller: Poller, store: Store) -> None:
    store.add([new_job(f"f{i}.txt") for i in range(200)])
    recorder = Recorder(store)
    poller.start()
    for i in range(10):
        store.add([new_job(f"more{i}.txt")])
        for _ in range(5):  # a burst of requests while one poll runs: queued as one more, never run alongside
            poller.poll_now()
        qtbot.waitUntil(lambda i=i: recorder.calls > i, timeout=5000)
    qtbot.waitUntil(lambda: recorder.active == 0, timeout=5000)
    assert recorder.most_at_once == 1


def test_poll_now_names_a_poll_that_sees_earlier_commits(qtbot: QtBot, poller: Poller, store: Store) -> None:
    poller.start()
    results(qtbot, poller, 1)
    (job_id,) = store.add([new_job("late.txt")])
    target = poller.poll_now()
    seen: list[PollResult] = []
    poller.polled.connect(lambda r: r.seq >= target and seen.append(r))
    qtbot.waitUntil(lambda: bool(seen), timeout=5000)
    assert seen[0].change is not None and job_id in seen[0].change.rows


def test_a_new_query_resets_with_the_stores_order(qtbot: QtBot, poller: Poller, store: Store) -> None:
    ids = store.add([new_job(name) for name in ("b.txt", "c.txt", "a.txt")])
    poller.start()
    results(qtbot, poller, 1)
    got: list[PollResult] = []
    poller.polled.connect(lambda r: r.change is not None and got.append(r))
    poller.set_query(Query(order_by="filename", descending=False))
    qtbot.waitUntil(lambda: bool(got), timeout=5000)
    change = got[0].change
    assert change is not None and change.reset
    assert change.ids == [ids[2], ids[0], ids[1]]
