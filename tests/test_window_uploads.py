"""Adding files: a real drag and drop carrying file URLs, File > Add Files, refusals, and a big drop."""

from __future__ import annotations

import itertools
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QTimer, QUrl
from PySide6.QtGui import QDragEnterEvent, QDragLeaveEvent, QDropEvent
from PySide6.QtWidgets import QApplication, QFileDialog, QWidget
from pytestqt.qtbot import QtBot

from dock import uploads
from dock.window import MainWindow
from tests.window_support import OFFSCREEN_NOISE, windows
from worker.registry import Registry, load_registry
from worker.store import Store
from worker.store.layout import DataDir
from worker.store.rows import NewJob
from worker.store.states import JobStatus
from worker.uploads import Refusal

pytestmark = OFFSCREEN_NOISE


@pytest.fixture
def window(qtbot: QtBot, store: Store, tmp_path: Path) -> Iterator[MainWindow]:
    yield from windows(qtbot, store, tmp_path / "dock.ini")


def mime_for(*items: Path | str) -> QMimeData:
    mime = QMimeData()
    mime.setUrls([QUrl(item) if isinstance(item, str) else QUrl.fromLocalFile(str(item)) for item in items])
    return mime


def drag_enter(target: QWidget, mime: QMimeData) -> QDragEnterEvent:
    event = QDragEnterEvent(target.rect().center(), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                            Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(target, event)
    return event


def drop_on(target: QWidget, mime: QMimeData) -> QDropEvent:
    """What the platform sends for a real drop: a drag entering, then the drop itself."""
    assert drag_enter(target, mime).isAccepted()
    event = QDropEvent(QPointF(target.rect().center()), Qt.DropAction.CopyAction, mime,
                       Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(target, event)
    return event


def files(folder: Path, *names: str) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name in names:
        path = folder / name
        path.write_text(f"contents of {name}\n")
        paths.append(path)
    return paths


def test_dropped_files_become_jobs(qtbot: QtBot, window: MainWindow, store: Store, tmp_path: Path) -> None:
    dropped = files(tmp_path / "in", "notes.txt", "summary.md")
    event = drop_on(window.table.viewport(), mime_for(*dropped))
    assert event.isAccepted()
    qtbot.waitUntil(lambda: window.model.rowCount() == 2)
    registry = load_registry()
    jobs = {job.filename: job for job in store.list_jobs()}
    assert set(jobs) == {"notes.txt", "summary.md"}
    for path in dropped:
        assert jobs[path.name].handler == registry.choose(path)
        assert jobs[path.name].status is JobStatus.PENDING
        assert (store.data.job_dir(jobs[path.name].id) / jobs[path.name].input_path).read_text() == \
            path.read_text()
    assert not window.notice.isVisible()


def test_the_drop_highlight_follows_the_drag(qtbot: QtBot, window: MainWindow, tmp_path: Path) -> None:
    mime = mime_for(*files(tmp_path / "in", "a.txt"))
    target = window.details
    drag_enter(target, mime)
    assert window.drop_overlay.isVisible()
    assert window.drop_overlay.geometry() == window.rect()
    assert window.drop_overlay.text == "Drop to add 1 item"
    QApplication.sendEvent(window, QDragLeaveEvent())
    assert not window.drop_overlay.isVisible()
    drop_on(target, mime)
    assert not window.drop_overlay.isVisible()
    qtbot.waitUntil(lambda: window.model.rowCount() == 1)


def test_refused_items_are_listed_in_one_notice(qtbot: QtBot, window: MainWindow, store: Store,
                                                tmp_path: Path) -> None:
    good, target = files(tmp_path / "in", "good.txt", "target.txt")
    folder_file = files(tmp_path / "in" / "folder", "inside.txt")[0]
    link = tmp_path / "in" / "link.txt"
    link.symlink_to(target)
    fifo = tmp_path / "in" / "pipe"
    os.mkfifo(fifo)
    drop_on(window, mime_for(good, folder_file.parent, link, fifo, "https://example.com/report.pdf"))
    qtbot.waitUntil(window.notice.isVisible)
    assert window.notice.kind == "warning"
    assert window.notice.text == "Added 2 jobs; 3 items could not be added."
    details = "\n".join(window.notice.details)
    assert "link.txt: refused: a symbolic link" in details
    assert "pipe: refused: a FIFO" in details
    assert "https://example.com/report.pdf: refused: not a local file" in details
    assert QApplication.activeModalWidget() is None
    qtbot.waitUntil(lambda: window.model.rowCount() == 2)
    assert {job.filename for job in store.list_jobs()} == {"good.txt", "inside.txt"}


def test_add_files_from_the_file_menu(qtbot: QtBot, window: MainWindow, tmp_path: Path,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    chosen = files(tmp_path / "in", "one.txt", "two.txt", "three.txt")
    monkeypatch.setattr(QFileDialog, "getOpenFileNames", lambda *_a, **_k: ([str(p) for p in chosen], ""))
    window.add_files_action.trigger()
    qtbot.waitUntil(lambda: window.model.rowCount() == 3)


def test_dropping_a_thousand_files_never_freezes_the_window(qtbot: QtBot, window: MainWindow, store: Store,
                                                           tmp_path: Path) -> None:
    folder = tmp_path / "many"
    files(folder, *(f"file-{i:04d}.txt" for i in range(1000)))
    progress: list[tuple[int, int]] = []
    window.uploads.progress.connect(lambda done, total: progress.append((done, total)))
    # What a 10 ms timer on the GUI thread saw: when it ticked, and how far the copy was then. A loaded CI
    # machine may stall any thread for a moment, so no tight bound on gaps: the proof that the copy runs off
    # the GUI thread is that the timer ticked *while* the copy moved on.
    ticks: list[tuple[float, int | None]] = []

    def on_tick() -> None:
        underway = window.uploads.busy and progress and progress[-1][0] < progress[-1][1]
        ticks.append((time.perf_counter(), progress[-1][0] if underway else None))

    heartbeat = QTimer()
    heartbeat.setInterval(10)
    heartbeat.timeout.connect(on_tick)
    heartbeat.start()
    drop_on(window, mime_for(folder))
    qtbot.waitUntil(lambda: window.model.rowCount() == 1000, timeout=60000)
    heartbeat.stop()
    seen_underway = {done for _, done in ticks if done is not None}
    assert len(seen_underway) >= 2, f"the GUI ticked during the copy only at {sorted(seen_underway)} files"
    gaps = [b - a for (a, _), (b, _) in itertools.pairwise(ticks)]
    assert max(gaps) < 2.0, f"the event loop stalled for {max(gaps) * 1000:.0f} ms"
    assert progress[0] == (0, 1000)
    assert len({done for done, _ in progress}) > 3, "the progress indicator moved during the drop"
    assert store.counts()[JobStatus.PENDING] == 1000
    assert not window.upload_progress.isVisible()


def test_closing_abandons_the_batch_being_copied(qtbot: QtBot, window: MainWindow, store: Store, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "batch"
    files(folder, *(f"file-{i:02d}.txt" for i in range(2 * uploads.CHUNK)))
    copying = threading.Event()
    copied_after_stop: list[int] = []
    real_prepare = uploads.prepare

    def prepare(data: DataDir, paths: list[Path], registry: Registry,
                on_file: Callable[[int, int], None]) -> tuple[list[NewJob], list[Refusal]]:
        def on_each_file(index: int, count: int) -> None:
            if index == 1:  # hold the first batch until the window asks the uploader to stop
                copying.set()
                assert window.uploads.stopping.wait(10)
            elif window.uploads.stopping.is_set():
                copied_after_stop.append(index)
            on_file(index, count)
        return real_prepare(data, paths, registry, on_file=on_each_file)

    monkeypatch.setattr(uploads, "prepare", prepare)
    window.add_files([str(folder)])
    qtbot.waitUntil(copying.is_set)
    window.uploads.stop()  # what closing the window does; it blocks until the upload thread has ended
    assert copied_after_stop == [], f"{len(copied_after_stop)} more files were copied after the stop"
    assert store.list_jobs() == []
    assert list(store.data.staging.iterdir()) == [], "the abandoned batch's copies are removed"


def test_drop_on_the_main_window_edge(qtbot: QtBot, window: MainWindow, tmp_path: Path) -> None:
    mime = mime_for(files(tmp_path / "in", "edge.txt")[0])  # held: the event does not own it
    event = QDragEnterEvent(QPoint(3, 3), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                            Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(window.statusBar(), event)
    assert event.isAccepted()
    assert window.drop_overlay.isVisible()
    QApplication.sendEvent(window, QDragLeaveEvent())
