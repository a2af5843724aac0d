"""Screenshots of the window as a user meets it, saved as test artifacts to be looked at."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QMimeData, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QImage
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from dock.window import MainWindow
from tests.window_support import OFFSCREEN_NOISE, claim_one, new_job, open_window, select
from worker.store import Backoff, Store

pytestmark = OFFSCREEN_NOISE

ARTIFACTS = Path(__file__).with_name("artifacts")


class Clock:
    """The store's clock, moved by hand: the jobs look like a morning's work, not a millisecond's."""

    def __init__(self, start: float) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock(time.time() - 40 * 60)


@pytest.fixture
def lived_in(tmp_path: Path, clock: Clock) -> Iterator[Store]:
    with Store(tmp_path / "data", backoff=Backoff(base=45, cap=60), clock=clock) as store:
        yield store


def fill(store: Store, clock: Clock) -> int:
    """Jobs in every state, as a worker would leave them; returns the failed job's id."""
    worker = store.register_worker(4242, socket.gethostname(), 2)
    for name, handler, seconds in (("quarterly-report.pdf", "pdf", 42), ("brochure-spring.epub", "epub", 95),
                                   ("invoice-2290.pdf", "pdf", 7), ("team-photo.jpg", "image", 3)):
        job_id, token = claim_one(store, worker, name, handler)
        clock.advance(seconds)
        store.complete(job_id, token, {"pages": 12, "words": 4180}, worker)
        clock.advance(20)
    failed, token = claim_one(store, worker, "scan-0042.tiff", "image", max_attempts=1)
    clock.advance(12)
    store.report_progress(failed, token, 35, "reading strips")
    store.fail(failed, token, "ValueError: strip 7 is truncated (expected 8192 bytes, got 1204)",
               'Traceback (most recent call last):\n  File "worker/handlers/image.py", line 88, in run\n'
               "    strip = read_strip(f, 7)\n  File \"worker/handlers/image.py\", line 41, in read_strip\n"
               "    raise ValueError(f\"strip {n} is truncated ...\")\n"
               "ValueError: strip 7 is truncated (expected 8192 bytes, got 1204)\n", worker)
    clock.advance(60)
    cancelled, token = claim_one(store, worker, "holiday-video.mov", "checksum")
    clock.advance(30)
    store.report_progress(cancelled, token, 40, "hashed 1.2 GB")
    store.cancel(cancelled, by="window")
    for name, handler, percent, step in (("annual-accounts-2024.pdf", "pdf", 62, "page 31 of 50"),
                                         ("site-photos.epub", "epub", 18, "chapter 2 of 11")):
        clock.advance(600)
        job_id, token = claim_one(store, worker, name, handler)
        clock.advance(100)
        store.report_progress(job_id, token, percent, step)
    clock.advance(time.time() - clock.now - 20)
    retrying, token = claim_one(store, worker, "invoice-2291.pdf", "pdf")
    clock.advance(4)
    store.fail(retrying, token, "OSError: the network share went away", None, worker)
    store.add([new_job(name, handler) for name, handler in (("contract-draft.txt", "text"),
                                                             ("meeting-notes.txt", "text"),
                                                             ("logo.png", "image"))])
    clock.advance(time.time() - clock.now)
    store.heartbeat(worker)
    return failed


def save(window: MainWindow, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    assert window.grab().save(str(path))
    image = QImage(str(path))
    assert (image.width(), image.height()) == (1280, 800)
    return path


def test_screenshot_with_jobs_in_every_state(qtbot: QtBot, lived_in: Store, clock: Clock,
                                             tmp_path: Path) -> None:
    failed = fill(lived_in, clock)
    window = open_window(qtbot, lived_in, tmp_path / "shot.ini")
    qtbot.waitUntil(lambda: window.model.rowCount() == 12)
    with qtbot.waitSignal(window.details.loaded):
        select(window, failed)
    qtbot.waitUntil(lambda: window.details.title.text() == "scan-0042.tiff")
    qtbot.waitUntil(lambda: window.worker_status.others.text() != "")
    assert save(window, "window.png").exists()


def test_screenshot_of_a_first_start_and_a_drag(qtbot: QtBot, store: Store, tmp_path: Path) -> None:
    window = open_window(qtbot, store, tmp_path / "empty.ini")
    save(window, "window-empty.png")
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(tmp_path / f"photo-{i}.jpg")) for i in range(3)])
    QApplication.sendEvent(window, QDragEnterEvent(window.rect().center(), Qt.DropAction.CopyAction, mime,
                                                   Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier))
    assert window.drop_overlay.isVisible()
    save(window, "window-drop.png")


def test_screenshot_of_actions_in_flight_and_a_notice(qtbot: QtBot, lived_in: Store, clock: Clock,
                                                      tmp_path: Path) -> None:
    failed = fill(lived_in, clock)
    window = open_window(qtbot, lived_in, tmp_path / "busy.ini")
    qtbot.waitUntil(lambda: window.model.rowCount() == 12)
    window.poller.pause()  # hold the picture still: nothing confirms the actions below
    window.model.mark_busy([window.model.ids()[0]], "Deleting…")
    window.model.mark_busy([failed], "Queuing…")
    window.notice.show_message("warning", "Added 41 jobs; 2 items could not be added.",
                               ["/home/me/scans/link.tiff: refused: a symbolic link",
                                "/home/me/scans/pipe: refused: a FIFO (named pipe), not a regular file"])
    window._on_uploads_progress(17, 60)
    save(window, "window-busy.png")
