"""Adding files: drag-and-drop anywhere on the window or File > Add Files, copied off the GUI thread."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from functools import partial

from PySide6.QtCore import QMimeData, QObject, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QFont, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import QWidget

from dock.background import Background
from dock.formatting import plural
from dock.resources import pixmap
from worker.registry import Registry, load_registry
from worker.store import Store
from worker.uploads import Refusal, discard, expand, prepare

CHUNK = 50  # files per transaction: jobs show up while a big drop is still copying
PROGRESS_EVERY_S = 0.05


def local_paths(mime: QMimeData) -> tuple[list[str], list[Refusal]]:
    """The local files and folders a drop carries; anything else (a web link) is refused."""
    paths: list[str] = []
    refused: list[Refusal] = []
    for url in mime.urls():
        if url.isLocalFile():
            paths.append(url.toLocalFile())
        else:
            refused.append(Refusal(url.toDisplayString(), "refused: not a local file"))
    return paths, refused


class _Cancelled(Exception):
    """Raised from prepare()'s progress callback to abandon a batch when the window closes."""


@dataclass(slots=True)
class UploadResult:
    ids: list[int] = field(default_factory=list)
    refused: list[Refusal] = field(default_factory=list)
    files: int = 0


class Uploader(QObject):
    """Copies files into the data folder and adds their jobs, on a thread of its own.

    Signals:
        progress(int done, int total): files copied so far in the current upload.
        finished(UploadResult): the upload is over; `refused` lists what was not added, and why.
        failed(str): the upload stopped on an error (nothing half-added stays).
    """

    progress = Signal(int, int)
    finished = Signal(object)
    failed = Signal(str)

    def __init__(self, store: Store, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._store = store
        self._registry: Registry | None = None
        self._background = Background("dock-uploads", self)
        self._cancel = threading.Event()
        self._reported = 0.0

    @property
    def busy(self) -> bool:
        return self._background.pending > 0

    @property
    def stopping(self) -> threading.Event:
        """Set once stop() was called; the upload thread checks it after every file."""
        return self._cancel

    def add_files(self, paths: list[str], refused: list[Refusal] | None = None) -> None:
        """Turn these files and folders into jobs; returns at once."""
        self._background.submit(partial(self._upload, list(paths), list(refused or [])), self._on_uploaded)

    def _upload(self, paths: list[str], refused: list[Refusal]) -> UploadResult:
        """Runs off the GUI thread."""
        if self._registry is None:
            self._registry = load_registry()
        files, unreadable = expand(paths, self._store.data.root)
        result = UploadResult(refused=refused + unreadable, files=len(files))
        self._report(0, len(files), force=True)
        for start in range(0, len(files), CHUNK):
            if self._cancel.is_set():
                result.refused += [Refusal(str(p), "not added: the window was closed") for p in files[start:]]
                break
            on_file = partial(self._on_file, start, len(files))
            try:
                new_jobs, chunk_refused = prepare(self._store.data, files[start:start + CHUNK], self._registry,
                                                  on_file=on_file)
            except _Cancelled:  # prepare() has removed the copies it made in this batch
                result.refused += [Refusal(str(p), "not added: the window was closed") for p in files[start:]]
                break
            try:
                result.ids += self._store.add(new_jobs, actor="window")
            except BaseException:
                discard(new_jobs)
                raise
            result.refused += chunk_refused
            self._report(start + CHUNK, len(files))
        return result

    def _on_file(self, offset: int, total: int, index: int, _count: int) -> None:
        if self._cancel.is_set():
            raise _Cancelled  # stop within the batch: closing waits for one file's copy, not fifty
        self._report(offset + index, total)

    def _report(self, done: int, total: int, force: bool = False) -> None:
        # Throttled: 1,000 small files would otherwise queue 1,000 repaints of the progress bar.
        now = time.monotonic()
        if force or now - self._reported >= PROGRESS_EVERY_S:
            self._reported = now
            self.progress.emit(min(done, total), total)  # queued to the GUI thread

    def _on_uploaded(self, result: UploadResult | None, error: BaseException | None) -> None:
        if error is not None or result is None:
            self.failed.emit(f"Could not add the files: {error}")
            return
        self.finished.emit(result)

    def stop(self) -> None:
        """Stop after the file being copied; the current batch is not added (closing must not wait)."""
        self._cancel.set()
        self._background.stop()


class DropOverlay(QWidget):
    """The highlight shown over the window while files are dragged onto it (mouse events pass through)."""

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self.text = "Drop to add files"
        self.hide()

    def show_for(self, count: int) -> None:
        self.text = f"Drop to add {plural(count, 'item')}" if count else "Drop to add files"
        parent = self.parentWidget()
        if parent is not None:
            self.setGeometry(parent.rect())
        self.raise_()
        self.show()
        self.update()

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        area = QRectF(self.rect()).adjusted(10, 10, -10, -10)
        painter.setPen(QPen(QColor("#2563eb"), 2, Qt.PenStyle.DashLine))
        painter.setBrush(QColor(239, 246, 255, 225))
        painter.drawRoundedRect(area, 14, 14)
        center = area.center().toPoint()
        painter.drawPixmap(center.x() - 40, center.y() - 70, pixmap("drop", 80))
        font = QFont(self.font())
        font.setPointSizeF(font.pointSizeF() * 1.5)
        font.setBold(True)
        painter.setFont(font)
        painter.setPen(QColor("#1e3a8a"))
        painter.drawText(area.adjusted(0, 40, 0, 0), Qt.AlignmentFlag.AlignCenter, self.text)
        painter.end()
