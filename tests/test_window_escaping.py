"""Job data is shown escaped: a file name or an error with HTML or control characters reads as it is."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QLabel
from pytestqt.qtbot import QtBot

from dock.delegates import ProgressDelegate
from dock.model import Column
from dock.window import MainWindow
from tests.window_support import FAKE_WORKER_PID, OFFSCREEN_NOISE, claim_one, select, windows
from worker.store import Store

pytestmark = OFFSCREEN_NOISE

NAME = "<b>bold</b>\n<img src=x>\x1b.txt"
ERROR = "ValueError: <b>not bold</b>\n<img src='/etc/passwd'> & more"


@pytest.fixture
def window(qtbot: QtBot, store: Store, tmp_path: Path) -> Iterator[MainWindow]:
    yield from windows(qtbot, store, tmp_path / "dock.ini")


@pytest.fixture
def hostile(store: Store) -> int:
    worker_id = store.register_worker(FAKE_WORKER_PID, socket.gethostname(), 1)
    job_id, token = claim_one(store, worker_id, NAME, "checksum", max_attempts=1)
    store.fail(job_id, token, ERROR, "Traceback: <i>here</i>\n", worker_id)
    return job_id


def test_the_details_show_a_hostile_name_and_error_as_plain_text(qtbot: QtBot, window: MainWindow,
                                                                 hostile: int) -> None:
    qtbot.waitUntil(lambda: window.model.rowCount() == 1)
    with qtbot.waitSignal(window.details.loaded):
        select(window, hostile)
    details = window.details
    assert details.title.textFormat() == Qt.TextFormat.PlainText
    assert details.title.text() == "<b>bold</b>\\n<img src=x>\\x1b.txt", "one line, control characters escaped"
    assert "&lt;b&gt;bold&lt;/b&gt;" in details.title.toolTip()
    assert details.error.textFormat() == Qt.TextFormat.PlainText
    assert details.error.text() == ERROR, "the error keeps its line break; its tags are text"
    for name, value in details.fields.items():
        assert value.textFormat() == Qt.TextFormat.PlainText, name
    assert details.fields["File"].text() == details.title.text()
    job_labels = [w for w in details.findChildren(QLabel) if w.text() and w is not details.subtitle]
    assert all(w.textFormat() == Qt.TextFormat.PlainText for w in job_labels if "<" in w.text())
    details.copy_error.click()
    assert QGuiApplication.clipboard().text().startswith(ERROR), "Copy Error copies the error as stored"


def test_the_list_shows_a_hostile_name_and_error_escaped(qtbot: QtBot, window: MainWindow, hostile: int) -> None:
    qtbot.waitUntil(lambda: window.model.rowCount() == 1)
    model = window.model
    name = model.index(0, Column.FILE)
    assert model.data(name) == "<b>bold</b>\\n<img src=x>\\x1b.txt"
    tip = model.data(name, Qt.ItemDataRole.ToolTipRole)
    assert "<b>" not in tip and "&lt;b&gt;bold&lt;/b&gt;" in tip
    status_tip = model.data(model.index(0, Column.STATUS), Qt.ItemDataRole.ToolTipRole)
    assert "<b>" not in status_tip and "&lt;b&gt;not bold" in status_tip  # the list has the first line
    row = model.row_at(0)
    assert ProgressDelegate.summary(row)[0].startswith("ValueError: <b>not bold</b>")
