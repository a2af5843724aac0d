"""The job model: its diff plan, refresh by row operations (never a reset), busy marks, and Qt's model rules."""

from __future__ import annotations

import random
import time

import pytest
from PySide6.QtCore import QItemSelectionModel, QModelIndex, Qt
from pytestqt.modeltest import ModelTester
from pytestqt.qtbot import QtBot

from dock.model import Column, Diff, JobModel, ModelChange, Role, Row, plan_diff, runs
from worker.store.states import JobStatus

NOW = time.time()


def row(job_id: int, status: JobStatus = JobStatus.PENDING, rev: int = 1, progress: int = 0) -> Row:
    return Row(job_id, f"file-{job_id}.txt", "sleep", status, progress, "", 0, 3, NOW, NOW - job_id,
               None, None, None, rev)


def apply_plan(old: list[int], diff: Diff) -> list[int]:
    """What the model does with a plan, on a plain list."""
    ids = list(old)
    for first, last in diff.removed:
        del ids[first:last + 1]
    for position, run in diff.inserted:
        ids[position:position] = run
    return ids


@pytest.mark.parametrize("seed", range(300))
def test_plan_turns_any_list_into_any_other(seed: int) -> None:
    rng = random.Random(seed)
    old = rng.sample(range(60), rng.randint(0, 40))
    new = rng.sample(range(60), rng.randint(0, 40))
    if seed % 3 == 0:  # mostly the same list, a few moves: the common case of a live refresh
        new = list(old)
        for _ in range(rng.randint(0, 3)):
            if new:
                new.insert(rng.randint(0, len(new)), new.pop(rng.randrange(len(new))))
    changed = set(rng.sample(range(60), 10))
    diff = plan_diff(old, new, changed)
    assert apply_plan(old, diff) == new
    starts = [first for first, _ in diff.removed]
    assert starts == sorted(starts, reverse=True), "removals go bottom-up"
    positions = [p for p, _ in diff.inserted]
    assert positions == sorted(positions), "inserts go top-down"
    assert diff.gone == set(old) - set(new)
    reinserted = {j for _, run in diff.inserted for j in run}
    assert {new[p] for p in diff.changed} == (changed & set(new)) - reinserted


def test_a_change_in_place_is_one_data_change_not_a_move() -> None:
    diff = plan_diff([5, 4, 3, 2, 1], [5, 4, 3, 2, 1], {3})
    assert diff == Diff(changed=(2,))


def test_new_jobs_on_top_are_one_contiguous_insert() -> None:
    diff = plan_diff([3, 2, 1], [6, 5, 4, 3, 2, 1], set())
    assert diff.inserted == ((0, (6, 5, 4)),)
    assert diff.removed == ()


def test_deleted_jobs_are_contiguous_removals() -> None:
    diff = plan_diff([6, 5, 4, 3, 2, 1], [6, 2, 1], set())
    assert diff.removed == ((1, 3),)


def model_with(qtbot: QtBot, rows: list[Row]) -> JobModel:
    model = JobModel()
    model.apply(ModelChange(1, reset=True, ids=[r.id for r in rows], rows={r.id: r for r in rows}))
    return model


def refresh(model: JobModel, seq: int, rows: list[Row], changed: set[int] | None = None) -> None:
    """What the poller hands the model for a new list of rows."""
    old = model.ids()
    known = {j: model.row_at(i) for i, j in enumerate(old)}
    changed_rows = {r.id: r for r in rows if r.id not in known or known[r.id] != r}
    model.apply(ModelChange(seq, rows=changed_rows, diff=plan_diff(old, [r.id for r in rows],
                                                                    changed if changed is not None
                                                                    else set(changed_rows))))


def test_model_passes_qt_model_tester_through_refreshes(qtmodeltester: ModelTester, qtbot: QtBot) -> None:
    model = model_with(qtbot, [row(i) for i in range(10, 0, -1)])
    qtmodeltester.check(model)
    refresh(model, 2, [row(i) for i in range(14, 0, -1)])  # four new on top
    refresh(model, 3, [row(i, JobStatus.RUNNING if i == 7 else JobStatus.PENDING, rev=2 if i == 7 else 1)
                       for i in range(14, 0, -1) if i not in (3, 4, 12)])
    refresh(model, 4, [row(i) for i in (1, 2, 5, 6, 20)])  # a new order entirely
    qtmodeltester.check(model)
    assert model.ids() == [1, 2, 5, 6, 20]


def test_refresh_never_resets_and_keeps_the_selection(qtbot: QtBot) -> None:
    model = model_with(qtbot, [row(i) for i in range(10, 0, -1)])
    selection = QItemSelectionModel(model)
    position = model.positions([4])[4]
    selection.select(model.index(position, 0), QItemSelectionModel.SelectionFlag.Select
                     | QItemSelectionModel.SelectionFlag.Rows)
    resets: list[bool] = []
    model.modelAboutToBeReset.connect(lambda: resets.append(True))
    changed: list[int] = []
    model.dataChanged.connect(lambda top, _bottom, _roles: changed.append(top.row()))
    rows = [row(i, rev=2 if i == 4 else 1, progress=50 if i == 4 else 0)
            for i in range(15, 0, -1) if i not in (9, 2)]
    refresh(model, 2, rows)
    assert not resets
    selected = [model.data(i, Role.JOB_ID) for i in selection.selectedRows()]
    assert selected == [4]
    assert changed == [model.positions([4])[4]], "one dataChanged for the one changed row"


@pytest.mark.parametrize(("positions", "expected"), [
    ([], []),
    ([4], [(4, 4)]),
    ([0, 1, 2, 5, 7, 8], [(0, 2), (5, 5), (7, 8)]),
    (list(range(10_000)), [(0, 9_999)]),
])
def test_runs_of_adjacent_rows(positions: list[int], expected: list[tuple[int, int]]) -> None:
    assert runs(positions) == expected


def test_many_changed_rows_are_one_signal_per_run_of_adjacent_rows(qtbot: QtBot, qtmodeltester: ModelTester) -> None:
    model = model_with(qtbot, [row(i) for i in range(2_000, 0, -1)])
    changed: list[tuple[int, int, int, int]] = []
    model.dataChanged.connect(lambda top, bottom, _roles: changed.append(
        (top.row(), top.column(), bottom.row(), bottom.column())))
    retried = [row(i, rev=2, progress=10) for i in range(2_000, 0, -1)]
    refresh(model, 2, [r if r.id % 1_000 else row(r.id) for r in retried])  # 1,000 and 2,000 stay as they were
    last = len(Column) - 1
    assert changed == [(1, 0, 999, last), (1_001, 0, 1_999, last)]
    assert all(model.data(model.index(p, 0), Role.ROW).progress == 10 for p in (1, 999, 1_001, 1_999))
    qtmodeltester.check(model)


def test_data_reads_rows_through_roles(qtbot: QtBot) -> None:
    model = model_with(qtbot, [row(7, JobStatus.RUNNING, progress=42)])
    index = model.index(0, Column.PROGRESS)
    assert model.data(index, Role.JOB_ID) == 7
    assert model.data(index, Role.STATUS) is JobStatus.RUNNING
    assert model.data(index, Role.PROGRESS) == 42
    assert model.data(model.index(0, Column.STATUS)) == "Running"
    assert model.data(model.index(0, Column.ATTEMPTS)) == "0 of 3"
    assert model.headerData(Column.FILE, Qt.Orientation.Horizontal) == "File"
    assert model.data(QModelIndex()) is None


def test_header_sort_asks_the_store_not_a_proxy(qtbot: QtBot) -> None:
    model = model_with(qtbot, [row(1)])
    with qtbot.waitSignal(model.sort_requested) as blocker:
        model.sort(Column.CREATED, Qt.SortOrder.AscendingOrder)
    assert blocker.args == ["created_at", False]
    with qtbot.assertNotEmitted(model.sort_requested):
        model.sort(Column.ACTIONS)


def test_busy_rows_show_their_action_until_a_later_refresh_confirms(qtbot: QtBot) -> None:
    model = model_with(qtbot, [row(2), row(1)])
    model.mark_busy([1], "Deleting…")
    assert model.data(model.index(model.positions([1])[1], Column.STATUS)) == "Deleting…"
    assert model.data(model.index(0, Column.ACTIONS), Role.BUSY) is None
    model.settle_busy_after([1], seq=5)
    refresh(model, 4, [row(2), row(1)])  # a poll that started before the action committed
    assert model.busy_label(1) == "Deleting…"
    refresh(model, 5, [row(2), row(1, JobStatus.FAILED, rev=2)])
    assert model.busy_label(1) is None


def test_busy_mark_goes_with_its_row(qtbot: QtBot) -> None:
    model = model_with(qtbot, [row(2), row(1)])
    model.mark_busy([2], "Deleting…")
    refresh(model, 2, [row(1)])
    assert model.busy_count() == 0


def test_a_refused_action_clears_its_mark_at_once(qtbot: QtBot) -> None:
    model = model_with(qtbot, [row(1)])
    model.mark_busy([1], "Queuing…")
    model.clear_busy([1])
    assert model.busy_label(1) is None
