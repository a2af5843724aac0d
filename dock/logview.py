"""Live tails of log files: a job's log in the details pane, and the worker's log in a window of its own."""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path

from PySide6.QtCore import QTimer
from PySide6.QtGui import QFontDatabase, QHideEvent, QShowEvent, QTextCursor
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QPlainTextEdit, QVBoxLayout, QWidget

from dock.resources import icon

TAIL_BYTES = 64 * 1024  # enough to read the recent story; a 1 GB log costs the same as a small one


def read_tail(path: Path, limit: int = TAIL_BYTES) -> str:
    """The last `limit` bytes of a text file, starting at a whole line; empty if there is no file yet."""
    try:
        with path.open("rb") as f:
            size = f.seek(0, os.SEEK_END)
            f.seek(max(0, size - limit))
            data = f.read()
    except FileNotFoundError:
        return ""
    if len(data) >= limit and b"\n" in data:
        data = data.split(b"\n", 1)[1]
    return data.decode("utf-8", "replace")


def readable_json_lines(text: str) -> str:
    """The worker logs one JSON object per line; show those as 'time level message key=value'."""
    out = []
    for line in text.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            out.append(line)
            continue
        if not isinstance(record, dict):
            out.append(line)
            continue
        stamp = record.pop("ts", None)
        head = [datetime.fromtimestamp(stamp).strftime("%H:%M:%S.%f")[:-3]] if isinstance(stamp, float | int) else []
        head += [str(record.pop(k)).upper() if k == "level" else str(record.pop(k))
                 for k in ("level", "msg", "message", "event") if k in record]
        rest = " ".join(f"{k}={v}" for k, v in record.items())
        out.append("  ".join(head) + (f"  {rest}" if rest else ""))
    return "\n".join(out)


class LogView(QPlainTextEdit):
    """A read-only, monospaced tail that follows new lines unless the user scrolled up to read."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setReadOnly(True)
        self.setAcceptDrops(False)
        self.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.setMaximumBlockCount(5000)
        self._shown = ""

    def show_text(self, text: str) -> None:
        if text == self._shown:
            return
        bar = self.verticalScrollBar()
        following = bar.value() >= bar.maximum() - 2
        kept = bar.value()
        self._shown = text
        self.setPlainText(text)
        if following:
            self.moveCursor(QTextCursor.MoveOperation.End)
            bar.setValue(bar.maximum())
        else:
            bar.setValue(kept)


class LogWindow(QDialog):
    """A non-modal window on one log file, refreshed each second."""

    def __init__(self, title: str, path: Path, parent: QWidget | None = None, json_lines: bool = True) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.setWindowIcon(icon("log"))
        self.setModal(False)
        self.resize(900, 520)
        self._path = path
        self._json_lines = json_lines
        self.view = LogView()
        where = QLabel(str(path))
        where.setStyleSheet("color: #6b7280;")
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.close)
        layout = QVBoxLayout(self)
        layout.addWidget(where)
        layout.addWidget(self.view, 1)
        layout.addWidget(buttons)
        self._timer = QTimer(self)
        self._timer.setInterval(1000)
        self._timer.timeout.connect(self.refresh)
        self.refresh()

    def refresh(self) -> None:
        # Reading a bounded tail of a local file takes well under a millisecond: no thread needed.
        text = read_tail(self._path)
        if not text:
            self.view.show_text(f"(nothing logged yet in {self._path})")
            return
        self.view.show_text(readable_json_lines(text) if self._json_lines else text)

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802
        self._timer.start()
        self.refresh()
        super().showEvent(event)

    def hideEvent(self, event: QHideEvent) -> None:  # noqa: N802
        self._timer.stop()
        super().hideEvent(event)
