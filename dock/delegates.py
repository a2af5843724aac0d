"""Painted cells: the progress bar with its step message, and the row's action buttons (no widget per row)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from enum import Enum, StrEnum
from functools import lru_cache

from PySide6.QtCore import (
    QEvent,
    QModelIndex,
    QPersistentModelIndex,
    QPoint,
    QPointF,
    QRect,
    QRectF,
    QSize,
    Qt,
    Signal,
)
from PySide6.QtGui import QColor, QFont, QFontMetrics, QMouseEvent, QPainter, QPalette, QPen, QPixmap
from PySide6.QtWidgets import (
    QApplication,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionProgressBar,
    QStyleOptionViewItem,
    QWidget,
)

from dock import formatting
from dock.model import Role, Row
from worker.store.states import ACTIVE, ALLOWED, FINISHED, Action, JobStatus

Index = QModelIndex | QPersistentModelIndex


class Tone(StrEnum):
    DANGER = "danger"
    NEUTRAL = "neutral"
    PRIMARY = "primary"
    QUIET = "quiet"


@dataclass(frozen=True, slots=True)
class ButtonSpec:
    """A row button: the engine action it runs, and (for Delete) the states it is drawn in."""

    label: str
    action: Action
    tone: Tone
    tip: str
    drawn_in: frozenset[JobStatus] = frozenset(JobStatus)


class RowButton(Enum):
    """A button painted in a job's row, in the order drawn; what it does is its spec's engine action."""

    CANCEL_DELETE = ButtonSpec("Cancel & Delete", Action.DELETE, Tone.DANGER,
                               "Stop this job and delete it with its files", ACTIVE)
    FORCE_FAIL = ButtonSpec("Force Fail", Action.FAIL, Tone.NEUTRAL,
                            "Fail this attempt now; the retry policy decides what happens next")
    RETRY = ButtonSpec("Retry", Action.RETRY, Tone.PRIMARY, "Queue this job again")
    REMOVE = ButtonSpec("X", Action.DELETE, Tone.QUIET, "Remove this job and its files", FINISHED)

    @property
    def spec(self) -> ButtonSpec:
        return self.value  # type: ignore[no-any-return]


def buttons_for(status: JobStatus) -> tuple[RowButton, ...]:
    """Which buttons a row in `status` shows, left to right: those whose action the engine's transition table
    allows from `status`. Delete is drawn as Cancel & Delete while the job is active and as X once finished."""
    return tuple(b for b in RowButton if status in ALLOWED[b.spec.action] and status in b.spec.drawn_in)


BUTTON_HEIGHT = 24
BUTTON_PAD_X = 10
BUTTON_GAP = 6
CELL_MARGIN = 8
SPINNER_FRAME_MS = 40  # how often rows with an action in flight repaint their spinner
TONES: dict[Tone, tuple[str, str, str, str, str]] = {  # fill, hover, pressed, text, border
    Tone.DANGER: ("#dc2626", "#b91c1c", "#991b1b", "#ffffff", "#b91c1c"),
    Tone.NEUTRAL: ("#e5e7eb", "#d1d5db", "#9ca3af", "#1f2937", "#d1d5db"),
    Tone.PRIMARY: ("#2563eb", "#1d4ed8", "#1e40af", "#ffffff", "#1d4ed8"),
    Tone.QUIET: ("#ffffff", "#fee2e2", "#fecaca", "#4b5563", "#d1d5db"),
}


def button_width(button: RowButton, metrics: QFontMetrics) -> int:
    if button is RowButton.REMOVE:
        return BUTTON_HEIGHT  # a square with a painted cross
    return metrics.horizontalAdvance(button.spec.label) + 2 * BUTTON_PAD_X


def button_rects(cell: QRect, buttons: tuple[RowButton, ...], metrics: QFontMetrics) -> list[QRect]:
    """Where each button sits in `cell`, right-aligned; the one layout for painting and for clicks."""
    height = min(BUTTON_HEIGHT, cell.height() - 4)
    top = cell.top() + (cell.height() - height) // 2
    right = cell.right() - CELL_MARGIN
    rects: list[QRect] = []
    for button in reversed(buttons):
        width = button_width(button, metrics)
        rects.append(QRect(right - width + 1, top, width, height))
        right -= width + BUTTON_GAP
    return rects[::-1]


def button_at(cell: QRect, status: JobStatus, metrics: QFontMetrics, pos: QPoint) -> RowButton | None:
    buttons = buttons_for(status)
    for button, rect in zip(buttons, button_rects(cell, buttons, metrics), strict=True):
        if rect.contains(pos):
            return button
    return None


def actions_width(metrics: QFontMetrics) -> int:
    """The actions column's width: room for the widest set of buttons."""
    widest = max(sum(button_width(b, metrics) for b in buttons_for(s)) + BUTTON_GAP * (len(buttons_for(s)) - 1)
                 for s in JobStatus)
    return widest + 2 * CELL_MARGIN


def _paint_button(painter: QPainter, rect: QRect, button: RowButton, state: str) -> None:
    fill, hover, pressed, text, border = TONES[button.spec.tone]
    painter.setPen(QPen(QColor(border), 1))
    painter.setBrush(QColor({"hover": hover, "pressed": pressed}.get(state, fill)))
    painter.drawRoundedRect(QRectF(rect).adjusted(0.5, 0.5, -0.5, -0.5), 5, 5)
    if button is RowButton.REMOVE:
        color = QColor("#b91c1c") if state in ("hover", "pressed") else QColor(text)
        painter.setPen(QPen(color, 1.6, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap))
        c, r = QRectF(rect).center(), 4.0
        painter.drawLine(QPointF(c.x() - r, c.y() - r), QPointF(c.x() + r, c.y() + r))
        painter.drawLine(QPointF(c.x() - r, c.y() + r), QPointF(c.x() + r, c.y() - r))
        return
    painter.setPen(QColor(text))
    painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, button.spec.label)


@lru_cache(maxsize=64)
def _cached_button(button: RowButton, state: str, width: int, height: int, font_key: str,
                   ratio: float) -> QPixmap:
    pixmap = QPixmap(round(width * ratio), round(height * ratio))
    pixmap.setDevicePixelRatio(ratio)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    font = QFont()
    font.fromString(font_key)
    painter.setFont(font)
    _paint_button(painter, QRect(0, 0, width, height), button, state)
    painter.end()
    return pixmap


def _button_pixmap(button: RowButton, state: str, size: QSize, font: QFont, ratio: float) -> QPixmap:
    """A button painted once per look and reused: antialiased rounded rectangles on every row and every
    repaint would cost more than the rest of the row."""
    return _cached_button(button, state, size.width(), size.height(), font.toString(), ratio)


def paint_spinner(painter: QPainter, center: QPoint, radius: int, color: QColor) -> None:
    """A turning arc: its angle comes from the clock, so any repaint moves it."""
    angle = int((time.monotonic() * 360) % 360)
    rect = QRectF(center.x() - radius, center.y() - radius, 2 * radius, 2 * radius)
    painter.setPen(QPen(QColor("#e5e7eb"), 2))
    painter.drawEllipse(rect)
    painter.setPen(QPen(color, 2, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap))
    painter.drawArc(rect, -angle * 16, 100 * 16)


class ActionsDelegate(QStyledItemDelegate):
    """Paints a row's buttons (or the spinner of an action in flight) and turns clicks into `clicked`.

    Signals:
        clicked(int job_id, RowButton button)
    """

    clicked = Signal(int, object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.hovered: tuple[int, RowButton] | None = None
        self._pressed: tuple[int, RowButton] | None = None

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: Index) -> None:
        opt, _style = paint_panel(self, painter, option, index)
        row: Row = index.data(Role.ROW)
        busy: str | None = index.data(Role.BUSY)
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        if busy:
            self._paint_busy(painter, opt, busy)
        else:
            buttons = buttons_for(row.status)
            ratio = painter.device().devicePixelRatioF() if painter.device() else 1.0
            for button, rect in zip(buttons, button_rects(opt.rect, buttons, opt.fontMetrics), strict=True):
                state = self._state(row.id, button)
                painter.drawPixmap(rect.topLeft(), _button_pixmap(button, state, rect.size(), opt.font, ratio))
        painter.restore()

    def _state(self, job_id: int, button: RowButton) -> str:
        if self._pressed == (job_id, button):
            return "pressed"
        return "hover" if self.hovered == (job_id, button) else "normal"

    def _paint_busy(self, painter: QPainter, opt: QStyleOptionViewItem, label: str) -> None:
        rect = opt.rect.adjusted(CELL_MARGIN, 0, -CELL_MARGIN, 0)
        width = opt.fontMetrics.horizontalAdvance(label)
        text_rect = QRect(rect.right() - width, rect.top(), width, rect.height())
        paint_spinner(painter, QPoint(text_rect.left() - 14, rect.center().y()), 6, QColor("#2563eb"))
        painter.setPen(QColor("#6b7280"))
        painter.drawText(text_rect, Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignRight, label)

    def editorEvent(  # noqa: N802
        self, event: QEvent, model: object, option: QStyleOptionViewItem, index: Index
    ) -> bool:
        if event.type() not in (QEvent.Type.MouseButtonPress, QEvent.Type.MouseButtonRelease,
                                QEvent.Type.MouseButtonDblClick) or not isinstance(event, QMouseEvent):
            return False
        if event.button() != Qt.MouseButton.LeftButton or index.data(Role.BUSY):
            return False
        row: Row = index.data(Role.ROW)
        button = button_at(option.rect, row.status, option.fontMetrics, event.position().toPoint())
        if button is None:
            self._pressed = None
            return False
        if event.type() == QEvent.Type.MouseButtonRelease:
            # A click is a release on the button that was pressed; a drag from elsewhere is not.
            if self._pressed in (None, (row.id, button)):
                self._pressed = None
                self.clicked.emit(row.id, button)
            return True
        self._pressed = (row.id, button)
        return True  # the press is the button's: it does not change the selection

    def tooltip_at(self, cell: QRect, row: Row, metrics: QFontMetrics, pos: QPoint) -> str | None:
        button = button_at(cell, row.status, metrics, pos)
        return button.spec.tip if button else None


def paint_panel(delegate: QStyledItemDelegate, painter: QPainter, option: QStyleOptionViewItem,
                index: Index) -> tuple[QStyleOptionViewItem, QStyle]:
    """Paint only the item's panel (background, selection) and return the option and style to paint on it.

    Qt 6 styles do not paint the panel under a progress bar or custom painting: it is done here first.
    """
    opt = QStyleOptionViewItem(option)
    delegate.initStyleOption(opt, index)
    opt.text = ""
    style = opt.widget.style() if opt.widget else QApplication.style()
    style.drawPrimitive(QStyle.PrimitiveElement.PE_PanelItemViewItem, opt, painter, opt.widget)
    return opt, style


class ProgressDelegate(QStyledItemDelegate):
    """Running jobs get a painted progress bar with their step message; the others a short word."""

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: Index) -> None:
        opt, style = paint_panel(self, painter, option, index)
        row: Row = index.data(Role.ROW)
        if row.status is JobStatus.RUNNING:
            self._paint_bar(painter, opt, style, row)
        else:
            self._paint_text(painter, opt, row, bool(index.data(Role.BUSY)))

    def _paint_bar(self, painter: QPainter, opt: QStyleOptionViewItem, style: QStyle, row: Row) -> None:
        bar = QStyleOptionProgressBar()
        if opt.widget is not None:
            bar.initFrom(opt.widget)
        bar.rect = opt.rect.adjusted(6, 7, -6, -7)
        bar.state = QStyle.StateFlag.State_Enabled | QStyle.StateFlag.State_Horizontal
        bar.direction = opt.direction
        bar.minimum, bar.maximum, bar.progress = 0, 100, row.progress
        text = f"{row.progress}%  ·  {formatting.shown(row.message)}" if row.message else f"{row.progress}%"
        bar.text = opt.fontMetrics.elidedText(text, Qt.TextElideMode.ElideRight, bar.rect.width() - 12)
        bar.textVisible = True
        bar.textAlignment = Qt.AlignmentFlag.AlignCenter
        bar.fontMetrics = opt.fontMetrics
        bar.palette = QPalette(opt.palette)
        bar.palette.setColor(QPalette.ColorRole.Highlight, QColor("#3b82f6"))
        style.drawControl(QStyle.ControlElement.CE_ProgressBar, bar, painter, opt.widget)

    def _paint_text(self, painter: QPainter, opt: QStyleOptionViewItem, row: Row, index_busy: bool) -> None:
        text, color = self.summary(row)
        if index_busy:
            color = "#9ca3af"
        rect = opt.rect.adjusted(8, 0, -6, 0)
        painter.save()
        selected = bool(opt.state & QStyle.StateFlag.State_Selected)
        painter.setPen(opt.palette.color(QPalette.ColorRole.HighlightedText) if selected else QColor(color))
        painter.drawText(rect, Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft,
                         opt.fontMetrics.elidedText(formatting.shown(text), Qt.TextElideMode.ElideRight,
                                                    rect.width()))
        painter.restore()

    @staticmethod
    def summary(row: Row) -> tuple[str, str]:
        """The word shown instead of a bar, and its colour."""
        if row.status is JobStatus.COMPLETED:
            return "Done", "#15803d"
        if row.status is JobStatus.FAILED:
            return row.error or "Failed", "#b91c1c"
        if row.status is JobStatus.CANCELLED:
            return (f"Stopped at {row.progress}%" if row.progress else "Cancelled"), "#6b7280"
        if row.attempts and row.run_after > time.time():
            return row.error or row.message or "Waiting to retry", "#b45309"  # the attempts column has when
        return ("Queued" if not row.attempts else f"Queued for attempt {row.attempts + 1}"), "#6b7280"
