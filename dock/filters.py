"""The bar above the list: a state filter with live counts, and a search box (both done by the store)."""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QHBoxLayout, QLineEdit, QTabBar, QWidget

from dock.formatting import STATUS_LABELS
from dock.resources import icon
from worker.store.states import JobStatus

FILTERS: list[JobStatus | None] = [None, *JobStatus]
SEARCH_DELAY_MS = 200  # wait for a pause in typing before asking the store


def tab_text(status: JobStatus | None, counts: dict[JobStatus, int]) -> str:
    count = sum(counts.values()) if status is None else counts.get(status, 0)
    name = "All" if status is None else STATUS_LABELS[status]
    return f"{name}  {count:,}"


class FilterBar(QWidget):
    """State tabs ("Running  3") and a search box.

    Signals:
        changed(): the filter or the search changed (after a short pause in typing).
    """

    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.tabs = QTabBar()
        self.tabs.setDrawBase(False)
        self.tabs.setExpanding(False)
        self.tabs.setDocumentMode(True)
        for status in FILTERS:
            index = self.tabs.addTab(tab_text(status, {}))
            if status is not None:
                self.tabs.setTabIcon(index, icon(f"status-{status.value}"))
        self.tabs.currentChanged.connect(self._on_tabs_currentChanged)
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search file, handler or #id")
        self.search.setClearButtonEnabled(True)
        self.search.setAcceptDrops(False)  # a dropped file is a new job, not search text
        self.search.addAction(QAction(icon("search"), "", self.search), QLineEdit.ActionPosition.LeadingPosition)
        self.search.setMinimumWidth(260)
        self.search.textChanged.connect(self._on_search_textChanged)
        self._delay = QTimer(self)
        self._delay.setSingleShot(True)
        self._delay.setInterval(SEARCH_DELAY_MS)
        self._delay.timeout.connect(self.changed)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(8, 6, 10, 2)
        layout.addWidget(self.tabs)
        layout.addStretch(1)
        layout.addWidget(self.search)

    @property
    def status(self) -> JobStatus | None:
        return FILTERS[max(0, self.tabs.currentIndex())]

    @property
    def text(self) -> str:
        return self.search.text().strip()

    def set_status(self, status: JobStatus | None) -> None:
        self.tabs.setCurrentIndex(FILTERS.index(status))

    def set_counts(self, counts: dict[JobStatus, int]) -> None:
        for index, status in enumerate(FILTERS):
            self.tabs.setTabText(index, tab_text(status, counts))

    def _on_tabs_currentChanged(self, _index: int) -> None:  # noqa: N802
        self.changed.emit()

    def _on_search_textChanged(self, _text: str) -> None:  # noqa: N802
        self._delay.start()

    def focus_search(self) -> None:
        self.search.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.search.selectAll()
