"""Small parts of the window: the batch notification, the worker corner of the status bar, formatting."""

from __future__ import annotations

import os
import time

import pytest
from pytestqt.qtbot import QtBot

from dock import formatting
from dock.logview import read_tail, readable_json_lines
from dock.notify import BatchNotifier, batch_summary
from dock.status import others_text
from worker.store import WorkerInfo
from worker.store.states import JobStatus

P, R, C, F, X = (JobStatus.PENDING, JobStatus.RUNNING, JobStatus.COMPLETED, JobStatus.FAILED,
                 JobStatus.CANCELLED)


def counts(pending: int = 0, running: int = 0, completed: int = 0, failed: int = 0,
           cancelled: int = 0) -> dict[JobStatus, int]:
    return {P: pending, R: running, C: completed, F: failed, X: cancelled}


def test_one_notification_per_batch_not_per_job(qtbot: QtBot) -> None:
    notifier = BatchNotifier()
    said: list[str] = []
    notifier.batch_finished.connect(said.append)
    notifier.observe(counts(completed=5))
    notifier.observe(counts(pending=10, completed=5))
    for done in range(1, 10):
        notifier.observe(counts(pending=10 - done - 1, running=1, completed=5 + done - (done > 7), failed=done > 7))
    assert said == []
    notifier.observe(counts(completed=13, failed=1, cancelled=1))
    assert said == ["10 jobs finished: 8 completed, 1 failed, 1 cancelled"]
    notifier.observe(counts(completed=13, failed=1, cancelled=1))
    assert len(said) == 1


def test_no_notification_when_the_batch_was_deleted() -> None:
    assert batch_summary(counts(completed=3), counts(completed=3)) is None
    assert batch_summary(counts(completed=3), counts(completed=1)) is None


def test_no_tray_offscreen_is_fine(qtbot: QtBot) -> None:
    notifier = BatchNotifier()
    assert notifier.tray is None  # the offscreen platform has no tray: the summary still goes out
    notifier.observe(counts(running=1))
    with qtbot.waitSignal(notifier.batch_finished):
        notifier.observe(counts(completed=1))
    assert notifier.last_message == "1 job finished: 1 completed"


def worker(pid: int, concurrency: int = 2, lease_s: float = 10.0) -> WorkerInfo:
    now = time.time()
    return WorkerInfo(f"{os.uname().nodename}:{pid}:x", pid, os.uname().nodename, concurrency, lease_s=lease_s,
                      grace_s=5.0, started_at=now - 60, heartbeat_at=now - 1)


def test_other_workers_are_listed_and_ours_is_not() -> None:
    assert others_text([], None)[0] == "No live workers: jobs wait until one starts"
    assert others_text([worker(100)], 100)[0] == ""
    text, tip = others_text([worker(100), worker(200, 4, lease_s=60)], 100)
    assert text == "1 other live worker · 4 slots"
    assert "pid 200 · 4 slots" in tip and "(this window's)" in tip
    assert "lease 60 s" in tip  # each worker is shown with the lease it is judged by


@pytest.mark.parametrize(("seconds", "text"), [(0.25, "250 ms"), (4.26, "4.3 s"), (42, "42 s"),
                                               (185, "3 m 05 s"), (7500, "2 h 05 m")])
def test_durations_read_naturally(seconds: float, text: str) -> None:
    assert formatting.duration(seconds) == text


def test_attempts_say_when_the_next_one_comes() -> None:
    now = time.time()
    assert formatting.attempts(R, 2, 3, now, now) == "2 of 3"
    assert formatting.attempts(P, 1, 3, now + 8.2, now) == "retrying in 8 s"
    assert formatting.attempts(P, 1, 3, now - 1, now) == "1 of 3"


def test_log_tail_starts_at_a_whole_line(tmp_path) -> None:  # type: ignore[no-untyped-def]
    log = tmp_path / "job.log"
    log.write_text("".join(f"line {i}\n" for i in range(10000)))
    tail = read_tail(log, limit=1000)
    assert tail.startswith("line ") and tail.endswith("line 9999\n")
    assert read_tail(tmp_path / "missing.log") == ""


def test_worker_json_lines_read_as_text() -> None:
    line = '{"ts": 1700000000.5, "level": "info", "event": "job started", "job": 3}'
    text = readable_json_lines(line + "\nplain line")
    assert "INFO  job started  job=3" in text and text.endswith("plain line")
