"""The job list's view: fixed-height rows, painted cells, selection kept by job id, and an empty state."""

from __future__ import annotations

import time

from PySide6.QtCore import QEvent, QModelIndex, QPoint, QRect, Qt, QTimer
from PySide6.QtGui import QColor, QFont, QHelpEvent, QMouseEvent, QPainter, QPaintEvent
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableView, QToolTip, QWidget

from dock.delegates import SPINNER_FRAME_MS, ActionsDelegate, ProgressDelegate, actions_width, button_at
from dock.model import Column, JobModel, Row
from dock.resources import pixmap
from worker.states import JobStatus

ROW_HEIGHT = 34
DEFAULT_WIDTHS = {Column.ID: 56, Column.HANDLER: 96, Column.STATUS: 118, Column.PROGRESS: 250,
                  Column.ATTEMPTS: 116, Column.CREATED: 84, Column.DURATION: 84}


class JobTable(QTableView):
    """The list of jobs. Sorting is the store's (the header asks the model, the model asks the poller).

    Attributes:
        actions_delegate: paints the row buttons and reports their clicks.
    """

    def __init__(self, model: JobModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._model = model
        self._kept_ids: list[int] = []
        self._kept_current: int | None = None
        self._empty = ("No jobs yet", "Drop files anywhere on this window, or choose File › Add Files…")
        self.setModel(model)
        self.actions_delegate = ActionsDelegate(self)
        self.setItemDelegateForColumn(Column.ACTIONS, self.actions_delegate)
        self.setItemDelegateForColumn(Column.PROGRESS, ProgressDelegate(self))
        self._configure()
        self._spinner = QTimer(self)
        self._spinner.setInterval(SPINNER_FRAME_MS)
        self._spinner.timeout.connect(self._on_spinner_timeout)
        self._clock = QTimer(self)  # durations and "retrying in 8 s" move with time, not with the store
        self._clock.setInterval(1000)
        self._clock.timeout.connect(self._on_clock_timeout)
        self._clock.start()
        model.modelAboutToBeReset.connect(self._on_model_modelAboutToBeReset)
        model.modelReset.connect(self._on_model_modelReset)
        model.dataChanged.connect(self._on_model_dataChanged)

    def _configure(self) -> None:
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setShowGrid(False)
        self.setAlternatingRowColors(True)
        self.setWordWrap(False)
        self.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.setMouseTracking(True)  # hover feedback on the painted buttons
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.setAcceptDrops(False)  # drops go to the window
        rows = self.verticalHeader()
        rows.setVisible(False)
        rows.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)  # never measure 100,000 rows
        rows.setDefaultSectionSize(ROW_HEIGHT)
        header = self.horizontalHeader()
        header.setSectionsMovable(True)
        header.setHighlightSections(False)
        header.setStretchLastSection(False)
        header.setDefaultAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        header.setMinimumSectionSize(40)
        for column, width in DEFAULT_WIDTHS.items():
            header.resizeSection(column, width)
        header.setSectionResizeMode(Column.FILE, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(Column.ACTIONS, QHeaderView.ResizeMode.Fixed)
        header.resizeSection(Column.ACTIONS, actions_width(self.fontMetrics()))
        header.setSortIndicator(Column.ID, Qt.SortOrder.DescendingOrder)
        self.setSortingEnabled(True)

    # ---- selection by id ----------------------------------------------------------------------------------

    def selected_rows(self) -> list[Row]:
        """The selected jobs, top to bottom."""
        positions = sorted(index.row() for index in self.selectionModel().selectedRows())
        return [self._model.row_at(p) for p in positions]

    def selected_ids(self) -> list[int]:
        return [row.id for row in self.selected_rows()]

    def current_id(self) -> int | None:
        index = self.currentIndex()
        return self._model.row_at(index.row()).id if index.isValid() else None

    def select_ids(self, job_ids: list[int], current: int | None = None) -> None:
        """Select these jobs (those shown), making `current` (or the first) the current row."""
        positions = self._model.positions(job_ids)
        selection = self.selectionModel()
        selection.clearSelection()
        flags = (selection.SelectionFlag.Select | selection.SelectionFlag.Rows)
        for position in sorted(positions.values()):
            selection.select(self._model.index(position, 0), flags)
        target = positions.get(current) if current is not None else None
        if target is None and positions:
            target = min(positions.values())
        if target is not None:
            selection.setCurrentIndex(self._model.index(target, Column.FILE),
                                      selection.SelectionFlag.NoUpdate)

    def _on_model_modelAboutToBeReset(self) -> None:  # noqa: N802
        # A new filter or sort resets the model: keep the selection by id, as Anki's browser does.
        self._kept_ids, self._kept_current = self.selected_ids(), self.current_id()

    def _on_model_modelReset(self) -> None:  # noqa: N802
        if self._kept_ids:
            self.select_ids(self._kept_ids, self._kept_current)
            current = self.currentIndex()
            if current.isValid():
                self.scrollTo(current)

    def _on_model_dataChanged(self, *_args: object) -> None:  # noqa: N802
        if self._model.busy_count() and not self._spinner.isActive():
            self._spinner.start()

    def _on_clock_timeout(self) -> None:
        # Repaint only when a visible row reads the clock (a running duration, "retrying in 8 s").
        first = max(0, self.rowAt(0))
        last = self.rowAt(self.viewport().height() - 1)
        last = self._model.rowCount() - 1 if last < 0 else last
        now = time.time()
        for position in range(first, last + 1):
            row = self._model.row_at(position)
            if row.status is JobStatus.RUNNING or (row.status is JobStatus.PENDING and row.run_after > now - 1):
                self.viewport().update()
                return

    def _on_spinner_timeout(self) -> None:
        if not self._model.busy_count():
            self._spinner.stop()
        self.viewport().update()

    # ---- painting and pointer -----------------------------------------------------------------------------

    def set_empty_message(self, title: str, hint: str) -> None:
        self._empty = (title, hint)
        self.viewport().update()

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802
        super().paintEvent(event)
        if self._model.rowCount() == 0:
            self._paint_empty()

    def _paint_empty(self) -> None:
        painter = QPainter(self.viewport())
        area = self.viewport().rect()
        center = area.center()
        painter.drawPixmap(center.x() - 32, center.y() - 78, pixmap("drop", 64))
        title_font = QFont(self.font())
        title_font.setPointSizeF(title_font.pointSizeF() * 1.35)
        title_font.setBold(True)
        painter.setFont(title_font)
        painter.setPen(QColor("#374151"))
        title, hint = self._empty
        painter.drawText(QRect(area.left(), center.y() - 4, area.width(), 30), Qt.AlignmentFlag.AlignHCenter, title)
        painter.setFont(self.font())
        painter.setPen(QColor("#6b7280"))
        painter.drawText(QRect(area.left(), center.y() + 28, area.width(), 24), Qt.AlignmentFlag.AlignHCenter, hint)
        painter.end()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        self._update_hover(event.position().toPoint())
        super().mouseMoveEvent(event)

    def leaveEvent(self, event: QEvent) -> None:  # noqa: N802
        self._update_hover(None)
        super().leaveEvent(event)

    def _update_hover(self, pos: QPoint | None) -> None:
        index = self.indexAt(pos) if pos is not None else QModelIndex()
        hovered = None
        if index.isValid() and index.column() == Column.ACTIONS and pos is not None:
            row = self._model.row_at(index.row())
            button = button_at(self.visualRect(index), row.status, self.fontMetrics(), pos)
            hovered = (row.id, button) if button else None
        if hovered != self.actions_delegate.hovered:
            self.actions_delegate.hovered = hovered
            self.viewport().update()

    def viewportEvent(self, event: QEvent) -> bool:  # noqa: N802
        if event.type() == QEvent.Type.ToolTip and isinstance(event, QHelpEvent):
            index = self.indexAt(event.pos())
            if index.isValid() and index.column() == Column.ACTIONS:
                row = self._model.row_at(index.row())
                tip = self.actions_delegate.tooltip_at(self.visualRect(index), row, self.fontMetrics(), event.pos())
                if tip:
                    QToolTip.showText(event.globalPos(), tip, self.viewport())
                    return True
        return super().viewportEvent(event)
