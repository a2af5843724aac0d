"""The painted cells: which buttons a row has (a table), where they are, and that they paint."""

from __future__ import annotations

import itertools
import time

import pytest
from PySide6.QtCore import QRect
from PySide6.QtGui import QFontMetrics, QPainter, QPixmap
from PySide6.QtWidgets import QApplication, QStyleOptionViewItem
from pytestqt.qtbot import QtBot

from dock.delegates import (
    ActionsDelegate,
    ProgressDelegate,
    RowButton,
    actions_width,
    button_at,
    button_rects,
    buttons_for,
)
from dock.model import Column, JobModel, ModelChange, Row
from worker.store.states import ALLOWED, Action, JobStatus, allowed_actions

BUTTONS = {
    JobStatus.PENDING: ("Cancel & Delete", "Force Fail"),
    JobStatus.RUNNING: ("Cancel & Delete", "Force Fail"),
    JobStatus.FAILED: ("Retry", "X"),
    JobStatus.CANCELLED: ("Retry", "X"),
    JobStatus.COMPLETED: ("X",),
}


@pytest.mark.parametrize(("status", "labels"), BUTTONS.items(), ids=[s.value for s in BUTTONS])
def test_buttons_per_state(status: JobStatus, labels: tuple[str, ...]) -> None:
    assert tuple(b.spec.label for b in buttons_for(status)) == labels


@pytest.mark.parametrize("status", list(JobStatus), ids=[s.value for s in JobStatus])
def test_every_button_is_an_action_the_engine_allows(status: JobStatus) -> None:
    for button in buttons_for(status):
        assert button.spec.action in allowed_actions(status)


def test_the_buttons_follow_the_engines_transition_table(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(ALLOWED, Action.RETRY, ALLOWED[Action.RETRY] | {JobStatus.COMPLETED})
    assert buttons_for(JobStatus.COMPLETED) == (RowButton.RETRY, RowButton.REMOVE)  # not restated by the window
    monkeypatch.setitem(ALLOWED, Action.FAIL, frozenset({JobStatus.RUNNING}))
    assert buttons_for(JobStatus.PENDING) == (RowButton.CANCEL_DELETE,)


def test_cancel_and_delete_is_the_engines_delete_and_looks_destructive() -> None:
    assert RowButton.CANCEL_DELETE.spec.action is Action.DELETE
    assert RowButton.CANCEL_DELETE.spec.tone == "danger"
    assert RowButton.FORCE_FAIL.spec.tone == "neutral"
    assert RowButton.REMOVE.spec.action is Action.DELETE


@pytest.mark.parametrize("status", list(JobStatus), ids=[s.value for s in JobStatus])
def test_button_rects_fit_the_cell_and_hit_test_back(qtbot: QtBot, status: JobStatus) -> None:
    metrics = QFontMetrics(QApplication.font())
    cell = QRect(500, 68, actions_width(metrics), 34)
    buttons = buttons_for(status)
    rects = button_rects(cell, buttons, metrics)
    assert len(rects) == len(buttons)
    for left, right in itertools.pairwise(rects):
        assert left.right() < right.left(), "buttons never overlap"
    for button, rect in zip(buttons, rects, strict=True):
        assert cell.contains(rect)
        assert button_at(cell, status, metrics, rect.center()) is button
    assert button_at(cell, status, metrics, cell.topLeft()) is None


def _row(status: JobStatus, progress: int = 0, error: str | None = None) -> Row:
    now = time.time()
    return Row(1, "a.pdf", "pdf", status, progress, "step 3 of 10", 1, 3, now, now, now, None, error, 1)


@pytest.mark.parametrize("status", list(JobStatus), ids=[s.value for s in JobStatus])
@pytest.mark.parametrize("busy", [False, True])
def test_cells_paint_in_every_state(qtbot: QtBot, status: JobStatus, busy: bool) -> None:
    model = JobModel()
    model.apply(ModelChange(1, reset=True, ids=[1], rows={1: _row(status, 40, "boom")}))
    if busy:
        model.mark_busy([1], "Deleting…")
    pixmap = QPixmap(400, 34)
    painter = QPainter(pixmap)
    option = QStyleOptionViewItem()
    option.rect = QRect(0, 0, 400, 34)
    option.fontMetrics = QFontMetrics(QApplication.font())
    for column, delegate in ((Column.ACTIONS, ActionsDelegate()), (Column.PROGRESS, ProgressDelegate())):
        delegate.paint(painter, option, model.index(0, column))
    painter.end()


@pytest.mark.parametrize(("status", "words"), [
    (JobStatus.COMPLETED, "Done"), (JobStatus.FAILED, "boom"), (JobStatus.CANCELLED, "Stopped at 40%"),
    (JobStatus.PENDING, "boom"),
])
def test_what_a_row_without_a_bar_says(status: JobStatus, words: str) -> None:
    row = _row(status, 40, "boom")
    if status is JobStatus.PENDING:
        row = Row(**{**{f: getattr(row, f) for f in Row.__slots__}, "run_after": time.time() + 60})
    assert ProgressDelegate.summary(row)[0] == words
