"""The status bar's worker corner: this window's worker, a Restart button, and every live worker."""

from __future__ import annotations

import os
import time

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QPainter, QPixmap
from PySide6.QtWidgets import QHBoxLayout, QLabel, QToolButton, QWidget

from dock.formatting import duration, plural, when
from dock.resources import icon
from dock.worker_process import WorkerProcess, WorkerState
from worker.store import WorkerInfo

DOTS = {WorkerState.RUNNING: "#16a34a", WorkerState.STARTING: "#f59e0b", WorkerState.STOPPING: "#f59e0b",
        WorkerState.STOPPED: "#9ca3af", WorkerState.CRASHED: "#dc2626"}


def _dot(color: str) -> QPixmap:
    pix = QPixmap(10, 10)
    pix.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pix)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(QColor(color))
    painter.drawEllipse(1, 1, 8, 8)
    painter.end()
    return pix


def worker_text(process: WorkerProcess) -> str:
    """This window's worker, in a few words."""
    match process.state:
        case WorkerState.RUNNING:
            return f"Worker running · pid {process.pid} · {plural(process.concurrency, 'slot')}"
        case WorkerState.STARTING:
            return "Worker starting…"
        case WorkerState.STOPPING:
            return "Stopping the worker…"
        case WorkerState.CRASHED:
            outcome = process.outcome
            if outcome is not None and outcome.code is not None and not outcome.crash_exit:
                return f"Worker crashed (exit code {outcome.code})"
            return f"Worker crashed ({outcome})"
    return "Worker stopped"


def others_text(workers: list[WorkerInfo], own_pid: int | None) -> tuple[str, str]:
    """The live workers other than ours (started from a shell, say): a short label and a tooltip."""
    host = os.uname().nodename
    others = [w for w in workers if not (w.pid == own_pid and w.host == host)]
    if not workers:
        return "No live workers: jobs wait until one starts", "Start one from the Worker menu, or run dock-worker"
    lines = [f"{w.host} pid {w.pid} · {plural(w.concurrency, 'slot')} · since {when(w.started_at)} · "
             f"heartbeat {duration(time.time() - w.heartbeat_at)} ago (lease {w.lease_s:g} s)"
             + ("  (this window's)" if w not in others else "") for w in workers]
    if not others:
        return "", "\n".join(lines)
    slots = sum(w.concurrency for w in others)
    return f"{plural(len(others), 'other live worker')} · {plural(slots, 'slot')}", "\n".join(lines)


class WorkerStatus(QWidget):
    """Shows this window's worker (with Restart after a crash) and the other live workers.

    Signals:
        restart_requested()
    """

    restart_requested = Signal()

    def __init__(self, process: WorkerProcess, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._process = process
        self._workers: list[WorkerInfo] = []
        self.dot = QLabel()
        self.label = QLabel()
        self.restart = QToolButton()
        self.restart.setText("Restart")
        self.restart.setIcon(icon("worker-restart"))
        self.restart.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.restart.setAutoRaise(True)
        self.restart.clicked.connect(self.restart_requested)
        self.others = QLabel()
        self.others.setStyleSheet("color: #4b5563;")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(6, 0, 6, 0)
        layout.setSpacing(6)
        layout.addWidget(self.others)
        layout.addSpacing(12)
        layout.addWidget(self.dot)
        layout.addWidget(self.label)
        layout.addWidget(self.restart)
        process.state_changed.connect(self._on_process_state_changed)
        self.refresh()

    def set_workers(self, workers: list[WorkerInfo]) -> None:
        self._workers = workers
        self.refresh()

    def _on_process_state_changed(self, _state: WorkerState) -> None:
        self.refresh()

    def refresh(self) -> None:
        state = self._process.state
        self.dot.setPixmap(_dot(DOTS[state]))
        self.label.setText(worker_text(self._process))
        self.label.setToolTip(f"Log: {self._process.log_path}")
        self.restart.setVisible(state is WorkerState.CRASHED)
        text, tip = others_text(self._workers, self._process.pid)
        self.others.setText(text)
        self.others.setToolTip(tip)
        self.others.setVisible(bool(text))
