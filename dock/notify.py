"""One desktop notification when a batch of jobs has finished (not one per job)."""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QSystemTrayIcon

from dock.formatting import plural
from dock.resources import icon
from worker.store.states import ACTIVE, FINISHED, JobStatus

OUTCOMES = [s for s in JobStatus if s in FINISHED]  # in the engine's order, for the summary's words


def batch_summary(before: dict[JobStatus, int], after: dict[JobStatus, int]) -> str | None:
    """'12 jobs finished: 10 completed, 2 failed', from the counts at the batch's start and end."""
    grown = {s: max(0, after[s] - before[s]) for s in OUTCOMES}
    total = sum(grown.values())
    if not total:
        return None  # everything was deleted, or nothing really ran: nothing worth a notification
    parts = [f"{count:,} {status.value}" for status, count in grown.items() if count]
    return f"{plural(total, 'job')} finished: {', '.join(parts)}"


class BatchNotifier(QObject):
    """Watches the job counts; when the queue drains after a batch, says so once.

    The tray icon exists only where the platform has a tray (not offscreen, not on some desktops);
    the `batch_finished` signal fires either way, and the window shows it in its status bar.

    Attributes:
        tray: the system-tray icon, or None where there is no tray.
        last_message: the last batch summary.
    Signals:
        batch_finished(str summary)
    """

    batch_finished = Signal(str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.tray: QSystemTrayIcon | None = None
        if QSystemTrayIcon.isSystemTrayAvailable():
            self.tray = QSystemTrayIcon(icon("app"), self)
            self.tray.setToolTip("Processing Dock")
            self.tray.show()
        self.last_message: str | None = None
        self._start: dict[JobStatus, int] | None = None

    def observe(self, counts: dict[JobStatus, int]) -> None:
        active = sum(counts[s] for s in ACTIVE)
        if active and self._start is None:
            self._start = dict(counts)
        elif not active and self._start is not None:
            summary = batch_summary(self._start, counts)
            self._start = None
            if summary:
                self._notify(summary)

    def _notify(self, summary: str) -> None:
        self.last_message = summary
        if self.tray is not None and QSystemTrayIcon.supportsMessages():
            self.tray.showMessage("Processing Dock", summary, icon("app"), 8000)
        self.batch_finished.emit(summary)
