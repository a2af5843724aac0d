"""The job list's view: fixed-height rows, painted cells, selection kept by job id, and an empty state."""

from __future__ import annotations

import time
from bisect import bisect_right
from collections.abc import Iterable

from PySide6.QtCore import QEvent, QItemSelection, QItemSelectionModel, QModelIndex, QPoint, QRect, Qt, QTimer
from PySide6.QtGui import QColor, QFont, QHelpEvent, QMouseEvent, QPainter, QPaintEvent
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableView, QToolTip, QWidget

from dock.delegates import SPINNER_FRAME_MS, ActionsDelegate, ProgressDelegate, actions_width, button_at
from dock.model import Column, JobModel, Row, runs
from dock.resources import pixmap
from worker.store.states import JobStatus

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
        # Painting a header section asks its selection model whether the neighbouring columns are selected:
        # Qt answers by calling flags() on every row, 20,000 rows x 9 columns per selection change. Sections
        # are never highlighted and a header click sorts rather than selects, so the header gets a
        # selection model of its own that stays empty.
        header.setSelectionModel(QItemSelectionModel(self._model, header))
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

    def selected_spans(self) -> list[tuple[int, int]]:
        """The selected rows as sorted, disjoint (first, last) runs, read from the selection's ranges.

        Cost grows with the number of ranges, not of rows: Select All on 100,000 jobs is one range, where
        selectedRows() would build 100,000 QModelIndex objects.
        """
        selection = self.selectionModel().selection()
        ranges = sorted((r.top(), r.bottom()) for r in (selection.at(i) for i in range(selection.size()))
                        if r.isValid())
        spans: list[tuple[int, int]] = []
        for top, bottom in ranges:
            if spans and top <= spans[-1][1] + 1:
                spans[-1] = (spans[-1][0], max(spans[-1][1], bottom))
            else:
                spans.append((top, bottom))
        return spans

    def selected_ids(self) -> list[int]:
        """The selected jobs' ids, top to bottom."""
        return self._model.ids_in(self.selected_spans())

    def selected_rows(self) -> list[Row]:
        """The selected jobs, top to bottom."""
        return self._model.rows_of(self.selected_ids())

    def first_selected_id(self) -> int | None:
        spans = self.selected_spans()
        return self._model.row_at(spans[0][0]).id if spans else None

    def any_selected(self, positions: Iterable[int]) -> bool:
        """Whether any of these rows is selected (a bisection per row, over the selected runs)."""
        spans = self.selected_spans()
        if not spans:
            return False
        firsts = [first for first, _ in spans]
        for position in positions:
            k = bisect_right(firsts, position) - 1
            if k >= 0 and position <= spans[k][1]:
                return True
        return False

    def current_id(self) -> int | None:
        index = self.currentIndex()
        return self._model.row_at(index.row()).id if index.isValid() else None

    def select_ids(self, job_ids: list[int], current: int | None = None) -> None:
        """Select these jobs (those shown), making `current` (or the first) the current row.

        One select() call over runs of consecutive rows: one selectionChanged, however many rows.
        """
        positions = self._model.positions(job_ids)
        selection = QItemSelection()
        last_column = self._model.columnCount() - 1
        for first, last in runs(sorted(positions.values())):
            selection.select(self._model.index(first, 0), self._model.index(last, last_column))
        flags = QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows
        model = self.selectionModel()
        model.select(selection, flags)
        target = positions.get(current) if current is not None else None
        if target is None and positions:
            target = min(positions.values())
        if target is not None:
            model.setCurrentIndex(self._model.index(target, Column.FILE),
                                  QItemSelectionModel.SelectionFlag.NoUpdate)

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
