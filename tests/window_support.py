"""Helpers for the window's tests: jobs put into every state through the engine's own API."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QWidget
from pytestqt.qtbot import QtBot

from dock.window import MainWindow
from worker.store import Store
from worker.store.rows import NewJob
from worker.store.states import JobStatus

# The offscreen platform plugin warns about what it cannot do (size hints, raising windows): noise here.
OFFSCREEN_NOISE = pytest.mark.qt_log_ignore("This plugin does not support propagateSizeHints",
                                            r"This plugin does not support raise\(\)")
FAKE_WORKER_PID = 4242  # a worker "started from a shell": its row is real, its process is not


def new_job(name: str, handler: str = "sleep", max_attempts: int = 3, size: int = 48_213) -> NewJob:
    return NewJob(handler, name, None, name, size, {"seconds": "5"} if handler == "sleep" else {}, max_attempts)


@dataclass
class Seeded:
    pending: int
    running: int
    completed: int
    failed: int
    cancelled: int
    retrying: int
    worker_id: str


def claim_one(store: Store, worker_id: str, name: str, handler: str = "sleep",
              max_attempts: int = 3) -> tuple[int, str]:
    """Add a job and claim it as a worker would: it is then running, and the token fences its writes."""
    (job_id,) = store.add([new_job(name, handler, max_attempts)])
    (claim,) = store.claim(worker_id, limit=1)
    assert claim.job_id == job_id
    return job_id, claim.token


def seed_every_state(store: Store) -> Seeded:
    """One job in each state, made the way a worker would make them (claims, progress, finishes)."""
    worker_id = store.register_worker(FAKE_WORKER_PID, socket.gethostname(), 2)
    completed, token = claim_one(store, worker_id, "quarterly-report.pdf", "checksum")
    store.report_progress(completed, token, 100, "hashed 48 KB")
    store.complete(completed, token, {"sha256": "9f86d081884c7d659a2feaa0c55ad015", "bytes": 48213}, worker_id)
    failed, token = claim_one(store, worker_id, "scan-0042.tiff", "checksum", max_attempts=1)
    store.report_progress(failed, token, 35, "reading strips")
    store.fail(failed, token, "ValueError: strip 7 is truncated (expected 8192 bytes, got 1204)",
               'Traceback (most recent call last):\n  File "handlers/tiff.py", line 88, in run\n'
               "    strip = read_strip(f, 7)\nValueError: strip 7 is truncated (expected 8192 bytes, got 1204)\n",
               worker_id)
    cancelled, token = claim_one(store, worker_id, "holiday-video.mov")
    store.report_progress(cancelled, token, 40, "step 20 of 50")
    store.cancel(cancelled, by="window")
    running, token = claim_one(store, worker_id, "annual-accounts-2024.xlsx")
    store.report_progress(running, token, 62, "step 31 of 50")
    # Last of the claims: its retry is due again within the tests' short backoff, and a claim after that
    # would take it instead of the job just added.
    retrying, token = claim_one(store, worker_id, "invoice-2291.pdf", "checksum")
    store.fail(retrying, token, "OSError: the network share went away", None, worker_id)
    (pending,) = store.add([new_job("team-photo.jpg")])
    return Seeded(pending, running, completed, failed, cancelled, retrying, worker_id)


# ---- the window under test ------------------------------------------------------------------------------

POLL_MS = 100  # the tests poll faster than the product (250 ms) to stay quick; the logic is the same


def settings_at(path: Path) -> QSettings:
    """A private settings file: tests never share (or touch) the user's QSettings."""
    return QSettings(str(path), QSettings.Format.IniFormat)


def open_window(qtbot: QtBot, store: Store, settings_path: Path,
                size: tuple[int, int] | None = (1280, 800)) -> MainWindow:
    """A window on `store`; pytest-qt closes it after the test, before the store's fixture closes the store."""
    window = MainWindow(store, settings_at(settings_path), poll_interval_ms=POLL_MS)
    qtbot.addWidget(window, before_close_func=_stop_worker_now)
    if size is not None:
        window.resize(*size)
    window.show()
    qtbot.waitExposed(window)
    qtbot.waitUntil(lambda: window.poller.polls > 0)
    return window


def _stop_worker_now(window: QWidget) -> None:
    """At teardown there is no event loop to wait in: stop the worker synchronously, then every thread."""
    assert isinstance(window, MainWindow)
    window.worker.stop()
    assert window.worker.wait_stopped(20000), "the worker did not stop"
    window.shut_down()


def windows(qtbot: QtBot, store: Store, settings_path: Path) -> Iterator[MainWindow]:
    """The body of a `window` fixture."""
    yield open_window(qtbot, store, settings_path)


def close_window(qtbot: QtBot, window: MainWindow) -> None:
    """Close the way a user does, and wait until its worker and every thread have stopped."""
    window.close()
    qtbot.waitUntil(lambda: window.is_shut_down, timeout=20000)


def shown_ids(window: MainWindow) -> list[int]:
    return window.model.ids()


def shown_status(window: MainWindow, job_id: int) -> JobStatus | None:
    positions = window.model.positions([job_id])
    return window.model.row_at(positions[job_id]).status if job_id in positions else None


def wait_shown(qtbot: QtBot, window: MainWindow, job_id: int, status: JobStatus | None,
               timeout: int = 5000) -> None:
    """Wait until the list shows `job_id` in `status` (None: until it is gone)."""
    qtbot.waitUntil(lambda: shown_status(window, job_id) == status, timeout=timeout)


def select(window: MainWindow, *job_ids: int) -> None:
    window.table.select_ids(list(job_ids), job_ids[0] if job_ids else None)
