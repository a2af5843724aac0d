"""An inline, non-modal notice above the job list: refusals and problems are shown here, never in a dialog."""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from dock.resources import pixmap

STYLES = {  # background, border, text
    "info": ("#eff6ff", "#bfdbfe", "#1e3a8a"),
    "warning": ("#fffbeb", "#fcd34d", "#78350f"),
    "error": ("#fef2f2", "#fca5a5", "#7f1d1d"),
}
MARKS = {"info": "status-running", "warning": "force-fail", "error": "status-failed"}  # icon names
INFO_TIMEOUT_MS = 8000


class Notice(QFrame):
    """One message at a time, with an optional list of details (one line per item) and a close button.

    Attributes:
        kind: "info", "warning" or "error" of the message shown.
        details: the lines of the details list.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("notice")
        self.kind = "info"
        self.details: list[str] = []
        self._mark = QLabel()
        self._text = QLabel()
        self._text.setTextFormat(Qt.TextFormat.PlainText)  # messages quote file names and errors
        self._text.setWordWrap(True)
        self._text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self._toggle = QPushButton("Show details")
        self._toggle.setFlat(True)
        self._toggle.setCursor(Qt.CursorShape.PointingHandCursor)
        self._toggle.clicked.connect(self._on_toggle_clicked)
        self._close = QToolButton()
        self._close.setText("✕")
        self._close.setAutoRaise(True)
        self._close.setToolTip("Dismiss")
        self._close.clicked.connect(self.dismiss)
        self._list = QPlainTextEdit()
        self._list.setReadOnly(True)
        self._list.setAcceptDrops(False)
        self._list.setMaximumHeight(120)
        self._list.setVisible(False)
        top = QHBoxLayout()
        top.setContentsMargins(0, 0, 0, 0)
        top.addWidget(self._mark)
        top.addWidget(self._text, 1)
        top.addWidget(self._toggle)
        top.addWidget(self._close)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 8, 8, 8)
        layout.addLayout(top)
        layout.addWidget(self._list)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self.dismiss)
        self.setVisible(False)

    @property
    def text(self) -> str:
        return self._text.text()

    def show_message(self, kind: str, text: str, details: list[str] | None = None) -> None:
        """Show `text`; info notices fade after a while, warnings and errors stay until dismissed."""
        background, border, color = STYLES.get(kind, STYLES["info"])
        self.kind = kind
        self.details = list(details or [])
        self.setStyleSheet(f"#notice {{ background: {background}; border: 1px solid {border}; border-radius: 6px; }}"
                           f"#notice QLabel, #notice QPushButton {{ color: {color}; }}"
                           "#notice QPlainTextEdit { background: white; }")
        self._mark.setPixmap(pixmap(MARKS.get(kind, "status-running"), 18))
        self._text.setText(text)
        self._list.setPlainText("\n".join(self.details))
        self._list.setVisible(False)
        self._toggle.setVisible(bool(self.details))
        self._toggle.setText(f"Show {len(self.details)} details" if len(self.details) > 1 else "Show details")
        self.setVisible(True)
        if kind == "info":
            self._timer.start(INFO_TIMEOUT_MS)
        else:
            self._timer.stop()

    def dismiss(self) -> None:
        self._timer.stop()
        self.setVisible(False)

    def _on_toggle_clicked(self) -> None:
        showing = not self._list.isVisible()
        self._list.setVisible(showing)
        self._toggle.setText("Hide details" if showing else "Show details")
