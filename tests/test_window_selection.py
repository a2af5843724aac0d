"""A big selection: Select All on 20,000 jobs survives refreshes and a re-sort, and the actions follow it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from dock.model import Column
from dock.window import MainWindow
from tests.window_support import OFFSCREEN_NOISE, new_job, select, windows
from worker.store import Store
from worker.store.states import Action, JobStatus

pytestmark = OFFSCREEN_NOISE

MANY = 20_000


@pytest.fixture
def window(qtbot: QtBot, store: Store, tmp_path: Path) -> Iterator[MainWindow]:
    yield from windows(qtbot, store, tmp_path / "dock.ini")


def test_select_all_on_twenty_thousand_jobs_survives_a_refresh_and_a_re_sort(
        qtbot: QtBot, window: MainWindow, store: Store) -> None:
    ids = store.add([new_job(f"file-{i:05d}.txt") for i in range(MANY)])
    qtbot.waitUntil(lambda: window.model.rowCount() == MANY, timeout=30000)
    actions = window.job_actions
    window.select_all_action.trigger()
    assert sorted(window.table.selected_ids()) == sorted(ids)
    assert actions.cancel_delete.isEnabled() and actions.remove.isEnabled()
    assert not actions.retry.isEnabled(), "every selected job is pending"

    # A refresh that changes a selected row updates what the selection allows.
    store.apply(Action.CANCEL, [ids[MANY // 2]], "test")
    qtbot.waitUntil(actions.retry.isEnabled, timeout=10000)
    (extra,) = store.add([new_job("extra.txt")])
    qtbot.waitUntil(lambda: window.model.rowCount() == MANY + 1, timeout=10000)
    assert sorted(window.table.selected_ids()) == sorted(ids), "a new job is not selected; the others stay"

    # A re-sort resets the model: the selection is put back by id, in one selection change.
    changes: list[object] = []
    window.table.selectionModel().selectionChanged.connect(lambda *_: changes.append(True))
    window.table.sortByColumn(Column.FILE, Qt.SortOrder.AscendingOrder)
    qtbot.waitUntil(lambda: window.model.row_at(0).id == extra, timeout=30000)  # "extra" < "file-"
    qtbot.waitUntil(lambda: len(changes) >= 1)
    assert len(changes) == 1, f"{len(changes)} selectionChanged signals for one re-sort"
    assert window.table.selected_ids() == ids, "the same jobs, now in file-name order"
    assert window.table.current_id() in set(ids)
    assert actions.retry.isEnabled() and actions.cancel_delete.isEnabled()
    qtbot.waitUntil(lambda: window.details.job_id == window.table.current_id())


def test_select_ids_makes_one_selection_from_runs(qtbot: QtBot, window: MainWindow, store: Store) -> None:
    ids = store.add([new_job(f"f-{i}.txt") for i in range(10)])
    qtbot.waitUntil(lambda: window.model.rowCount() == 10)
    shown = window.model.ids()
    chosen = [shown[1], shown[2], shown[3], shown[6], shown[9]]
    changes: list[object] = []
    window.table.selectionModel().selectionChanged.connect(lambda *_: changes.append(True))
    select(window, *chosen)
    assert len(changes) == 1
    assert window.table.selected_spans() == [(1, 3), (6, 6), (9, 9)]
    assert window.table.selected_ids() == chosen
    assert window.table.any_selected([0, 4, 5, 8]) is False
    assert window.table.any_selected([0, 6]) is True
    store.apply(Action.CANCEL, [shown[0]], "test")  # not selected: the actions stay as they were
    qtbot.waitUntil(lambda: window.model.row_at(0).status is JobStatus.CANCELLED)
    assert not window.job_actions.retry.isEnabled()
    assert set(ids) == set(shown)
