"""The details pane: every field of the selected job, its history, error, result and a live log tail."""

from __future__ import annotations

import html
import json
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from PySide6.QtCore import Qt, QTimer, QUrl, Signal
from PySide6.QtGui import QDesktopServices, QFont, QFontDatabase, QGuiApplication, QPainter, QPaintEvent
from PySide6.QtWidgets import (
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QStackedWidget,
    QTabWidget,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from dock import formatting
from dock.background import Background
from dock.logview import LogView, read_tail
from dock.model import STATUS_COLORS
from dock.resources import icon
from worker.store import Store
from worker.store.errors import JobNotFound
from worker.store.rows import Event, Job
from worker.store.states import ACTIVE

FIELDS = ("ID", "File", "Handler", "Status", "Progress", "Attempts", "Parameters", "Size", "Input", "Created",
          "Started", "Finished", "Duration", "Next attempt", "Cancelled", "Worker", "Updated")


@dataclass(frozen=True, slots=True)
class JobDetails:
    job: Job
    events: list[Event]
    log: str
    has_output: bool


def load_details(store: Store, job_id: int) -> JobDetails:
    """Everything the pane shows about one job (runs off the GUI thread)."""
    job = store.get(job_id)
    return JobDetails(job, store.history(job_id), read_tail(store.data.job_log(job_id)),
                      store.data.output_dir(job_id).is_dir())


def field_values(job: Job, job_dir: Path) -> dict[str, str]:
    """The text of each field, for a job."""
    params = json.dumps(job.params, ensure_ascii=False) if job.params else "none"
    waiting = job.status.value == "pending" and job.attempts and job.run_after
    return {
        "ID": str(job.id), "File": job.filename, "Handler": job.handler,
        "Status": formatting.STATUS_LABELS[job.status] + (" — not retried: this input can never succeed"
                                                          if job.not_retried else ""),
        "Progress": f"{job.progress}%" + (f" — {job.message}" if job.message and job.status in ACTIVE else ""),
        "Attempts": formatting.attempts(job.status, job.attempts, job.max_attempts, job.run_after),
        "Parameters": params, "Size": formatting.size(job.size), "Input": str(job_dir / job.input_path),
        "Created": formatting.when_full(job.created_at), "Started": formatting.when_full(job.started_at),
        "Finished": formatting.when_full(job.finished_at),
        "Duration": formatting.job_duration(job.started_at, job.finished_at),
        "Next attempt": formatting.when_full(job.run_after) if waiting else "",
        "Cancelled": (f"{formatting.when_full(job.cancelled_at)} by {job.cancelled_by}"
                      if job.cancelled_at else ""),
        "Worker": job.claimed_by or "", "Updated": formatting.when_full(job.updated_at),
    }


def _section(title: str) -> QLabel:
    label = QLabel(title.upper())
    label.setStyleSheet("color: #6b7280; font-weight: bold; letter-spacing: 1px;")
    return label


def _mono() -> QPlainTextEdit:
    edit = QPlainTextEdit()
    edit.setReadOnly(True)
    edit.setAcceptDrops(False)
    edit.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
    edit.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
    return edit


def _plain_label(text: str = "") -> QLabel:
    """A label for job data: never read as HTML, whatever a file name or an error contains."""
    label = QLabel(text)
    label.setTextFormat(Qt.TextFormat.PlainText)
    return label


class _Value(QLabel):
    """A field's value: one line, elided in the middle when the pane is narrow (the tooltip has it all)."""

    def __init__(self) -> None:
        super().__init__()
        self.setTextFormat(Qt.TextFormat.PlainText)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

    def set_value(self, text: str) -> None:
        self.setText(formatting.shown(text))
        self.setToolTip(formatting.plain_tip(text) if len(text) > 30 else "")

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802
        metrics = self.fontMetrics()
        if metrics.horizontalAdvance(self.text()) <= self.width():
            super().paintEvent(event)
            return
        painter = QPainter(self)
        painter.setPen(self.palette().color(self.foregroundRole()))
        painter.drawText(self.rect(), int(Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft),
                         metrics.elidedText(self.text(), Qt.TextElideMode.ElideMiddle, self.width()))
        painter.end()


class DetailsPane(QWidget):
    """Shows one job; refreshes it each second while it is shown.

    Signals:
        loaded(int job_id): the pane shows fresh data for this job (tests wait on it).
    """

    loaded = Signal(int)

    def __init__(self, store: Store, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._store = store
        self._job_id: int | None = None
        self._shown: tuple[int, int, int] | None = None
        self._loading = False
        self._background = Background("dock-details", self)
        self._stack = QStackedWidget()
        self._empty = _plain_label("Select a job to see its details")
        self._empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self._empty.setStyleSheet("color: #6b7280;")
        self._stack.addWidget(self._empty)
        self._stack.addWidget(self._build_job_page())
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self._stack)
        self._timer = QTimer(self)
        self._timer.setInterval(1000)
        self._timer.timeout.connect(self._on_timer_timeout)

    def _build_job_page(self) -> QWidget:
        page = QWidget()
        self.title = _plain_label()
        font = QFont(self.font())
        font.setPointSizeF(font.pointSizeF() * 1.25)
        font.setBold(True)
        self.title.setFont(font)
        self.title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.subtitle = QLabel()
        self.copy_error = QPushButton(icon("copy"), "Copy Error")
        self.copy_error.clicked.connect(self._on_copy_error_clicked)
        self.open_output = QPushButton(icon("folder"), "Open Output Folder")
        self.open_output.clicked.connect(self._on_open_output_clicked)
        head = QHBoxLayout()
        head.setSpacing(10)
        head.addWidget(self.title)
        head.addWidget(self.subtitle, 1)
        head.addWidget(self.copy_error)
        head.addWidget(self.open_output)
        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self.tabs.addTab(self._build_overview(), "Overview")
        self.history = QTreeWidget()
        self.history.setHeaderLabels(["When", "Change", "By", "Why"])
        self.history.setRootIsDecorated(False)
        self.history.setAlternatingRowColors(True)
        self.tabs.addTab(self.history, "History")
        self.log = LogView()
        self.tabs.addTab(self.log, "Log")
        layout = QVBoxLayout(page)
        layout.setContentsMargins(12, 8, 12, 4)
        layout.setSpacing(4)
        layout.addLayout(head)
        layout.addWidget(self.tabs, 1)
        return page

    def _build_overview(self) -> QWidget:
        body = QWidget()
        grid = QGridLayout()
        grid.setHorizontalSpacing(12)
        grid.setVerticalSpacing(4)
        self.fields: dict[str, _Value] = {}
        half = (len(FIELDS) + 1) // 2
        for i, name in enumerate(FIELDS):
            value = _Value()
            caption = QLabel(name)
            caption.setStyleSheet("color: #6b7280;")
            caption.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            row, column = i % half, 2 * (i // half)
            grid.addWidget(caption, row, column)
            grid.addWidget(value, row, column + 1)
            self.fields[name] = value
        grid.setColumnStretch(1, 1)
        grid.setColumnStretch(3, 1)
        fields = QWidget()
        fields.setLayout(grid)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        scroll.setWidget(fields)
        self.error_title = _section("Error")
        self.error = _plain_label()
        self._error = ""  # as stored, for Copy Error
        self.error.setWordWrap(True)
        self.error.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.error.setStyleSheet("color: #b91c1c; font-weight: bold;")
        self.traceback = _mono()
        self.result_title = _section("Result")
        self.result = _mono()
        self.nothing = QLabel("No error and no result yet.")
        self.nothing.setStyleSheet("color: #9ca3af;")
        self.nothing.setAlignment(Qt.AlignmentFlag.AlignCenter)
        side = QVBoxLayout()
        side.setSpacing(4)
        for widget in (self.error_title, self.error, self.traceback, self.result_title, self.result,
                       self.nothing):
            side.addWidget(widget)
        layout = QHBoxLayout(body)
        layout.setContentsMargins(0, 8, 0, 4)
        layout.setSpacing(18)
        layout.addWidget(scroll, 5)
        layout.addLayout(side, 4)
        return body

    # ---- which job ----------------------------------------------------------------------------------------

    @property
    def job_id(self) -> int | None:
        return self._job_id

    def show_job(self, job_id: int | None) -> None:
        if job_id == self._job_id:
            return
        self._job_id, self._shown = job_id, None
        if job_id is None:
            self._timer.stop()
            self._show_empty("Select a job to see its details")
            return
        self._timer.start()
        self._load()

    def _show_empty(self, text: str) -> None:
        self._empty.setText(formatting.shown(text, multiline=True))
        self._stack.setCurrentIndex(0)

    def _on_timer_timeout(self) -> None:
        self._load()

    def _load(self) -> None:
        if self._job_id is None or self._loading:
            return
        self._loading = True
        self._background.submit(partial(load_details, self._store, self._job_id),
                                partial(self._on_details_loaded, self._job_id))

    def _on_details_loaded(self, job_id: int, details: JobDetails | None, error: BaseException | None) -> None:
        self._loading = False
        if job_id != self._job_id:
            self._load()  # the selection moved while this was loading
            return
        if isinstance(error, JobNotFound):
            self._timer.stop()
            self._show_empty(f"Job {job_id} no longer exists")
        elif error is not None:
            self._show_empty(f"Could not read job {job_id}: {error}")
        elif details is not None:
            self._render(details)
        self.loaded.emit(job_id)

    # ---- showing ------------------------------------------------------------------------------------------

    def _render(self, details: JobDetails) -> None:
        job = details.job
        self.open_output.setEnabled(details.has_output)
        key = (job.rev, len(details.events), hash(details.log))
        if key == self._shown:
            self._refresh_clock(job)
            return
        self._shown = key
        self._stack.setCurrentIndex(1)
        self.title.setText(formatting.shown(job.filename))
        self.title.setToolTip(formatting.plain_tip(job.filename))
        color = STATUS_COLORS[job.status]
        self.subtitle.setText(f"<span style='color:{color}; font-weight:bold'>"
                              f"{formatting.STATUS_LABELS[job.status]}</span>"
                              f"<span style='color:#6b7280'>&nbsp;&nbsp;·&nbsp;&nbsp;job #{job.id}"
                              f"&nbsp;&nbsp;·&nbsp;&nbsp;{html.escape(formatting.shown(job.handler))}</span>")
        for name, text in field_values(job, self._store.data.job_dir(job.id)).items():
            self.fields[name].set_value(text or "—")
        self._render_error(job)
        has_result = job.result is not None
        self.result_title.setVisible(has_result)
        self.result.setVisible(has_result)
        self.result.setPlainText(json.dumps(job.result, indent=2, ensure_ascii=False) if has_result else "")
        self.nothing.setVisible(not has_result and not job.error)
        self._render_history(details.events)
        self.log.show_text(details.log or "(nothing logged yet)")

    def _refresh_clock(self, job: Job) -> None:
        self.fields["Duration"].set_value(formatting.job_duration(job.started_at, job.finished_at) or "—")

    def _render_error(self, job: Job) -> None:
        has_error = bool(job.error)
        for widget in (self.error_title, self.error, self.copy_error):
            widget.setVisible(has_error)
        self.traceback.setVisible(bool(job.traceback))
        self._error = job.error or ""
        self.error.setText(formatting.shown(self._error, multiline=True))
        self.traceback.setPlainText(job.traceback or "")

    def _render_history(self, events: list[Event]) -> None:
        self.history.clear()
        for event in events:
            change = f"{event.from_status or 'new'} → {event.to_status}"
            item = QTreeWidgetItem([formatting.when_full(event.at), change, formatting.shown(event.actor),
                                    formatting.shown(event.reason)])
            item.setToolTip(3, formatting.plain_tip(event.reason))
            self.history.addTopLevelItem(item)
        for column in range(3):
            self.history.resizeColumnToContents(column)  # a few dozen rows at most

    def error_text(self) -> str:
        """What Copy Error puts on the clipboard: the message, then the traceback."""
        return "\n\n".join(part for part in (self._error, self.traceback.toPlainText()) if part)

    def _on_copy_error_clicked(self) -> None:
        QGuiApplication.clipboard().setText(self.error_text())

    def _on_open_output_clicked(self) -> None:
        if self._job_id is not None:
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(self._store.data.output_dir(self._job_id))))

    def stop(self) -> None:
        self._timer.stop()
        self._background.stop()
