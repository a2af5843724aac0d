"""The window's job actions: through their QActions, their painted buttons, the keyboard, and in bulk."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from dock.delegates import RowButton, button_rects, buttons_for
from dock.model import Column
from dock.window import MainWindow
from tests.window_support import (
    OFFSCREEN_NOISE,
    Seeded,
    claim_one,
    seed_every_state,
    select,
    shown_status,
    wait_shown,
    windows,
)
from worker.store import Store
from worker.store.states import JobStatus
from worker.store.transitions import FORCE_FAIL_REASON

pytestmark = OFFSCREEN_NOISE

PENDING, RUNNING, FAILED = JobStatus.PENDING, JobStatus.RUNNING, JobStatus.FAILED
GONE = None


@pytest.fixture
def seeded(store: Store) -> Seeded:
    return seed_every_state(store)


@pytest.fixture
def window(qtbot: QtBot, store: Store, tmp_path: Path, seeded: Seeded) -> Iterator[MainWindow]:
    yield from windows(qtbot, store, tmp_path / "dock.ini")


def wait_listed(qtbot: QtBot, window: MainWindow, seeded: Seeded) -> None:
    qtbot.waitUntil(lambda: shown_status(window, seeded.running) is RUNNING)


def click_row_button(window: MainWindow, job_id: int, button: RowButton) -> None:
    """A real click on the painted button, placed by the same function the delegate paints with."""
    table = window.table
    position = window.model.positions([job_id])[job_id]
    index = window.model.index(position, Column.ACTIONS)
    table.scrollTo(index)
    buttons = buttons_for(window.model.row_at(position).status)
    rect = button_rects(table.visualRect(index), buttons, table.fontMetrics())[buttons.index(button)]
    QTest.mouseClick(table.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, rect.center())


# (QAction, the job it acts on, what the list shows afterwards)
ACTION_CASES = [
    ("cancel_delete", "running", GONE),
    ("cancel_delete", "pending", GONE),
    ("force_fail", "running", PENDING),  # attempt 1 of 3 failed: the retry policy queues it again
    ("force_fail", "pending", PENDING),
    ("retry", "failed", PENDING),
    ("retry", "cancelled", PENDING),
    ("remove", "completed", GONE),
    ("remove", "failed", GONE),
    ("remove", "running", GONE),  # Delete on an active job cancels and deletes it
]


@pytest.mark.parametrize(("action", "job", "after"), ACTION_CASES)
def test_each_action_through_its_qaction(qtbot: QtBot, window: MainWindow, store: Store, seeded: Seeded,
                                         action: str, job: str, after: JobStatus | None) -> None:
    wait_listed(qtbot, window, seeded)
    job_id = getattr(seeded, job)
    select(window, job_id)
    qaction = getattr(window.job_actions, action)
    assert qaction.isEnabled()
    qaction.trigger()
    assert window.model.busy_label(job_id), "the row shows the action at once"
    qtbot.waitUntil(lambda: window.model.busy_count() == 0)  # the store answered, and a later poll shows it
    assert shown_status(window, job_id) == after
    if action == "force_fail":
        assert store.get(job_id).error == FORCE_FAIL_REASON
    if after is GONE:
        assert not store.get_many([job_id])
        assert not store.data.job_dir(job_id).exists()


BUTTON_CASES = [(status, button) for status in JobStatus for button in buttons_for(status)]
EXPECTED = {RowButton.CANCEL_DELETE: GONE, RowButton.REMOVE: GONE, RowButton.RETRY: PENDING,
            RowButton.FORCE_FAIL: PENDING}


@pytest.mark.parametrize(("status", "button"), BUTTON_CASES, ids=[f"{s.value}-{b.name.lower()}"
                                                                   for s, b in BUTTON_CASES])
def test_each_painted_button_with_a_real_click(qtbot: QtBot, window: MainWindow, store: Store,
                                               seeded: Seeded, status: JobStatus, button: RowButton) -> None:
    wait_listed(qtbot, window, seeded)
    job_id = getattr(seeded, status.value)
    click_row_button(window, job_id, button)
    assert window.model.busy_label(job_id), "the clicked row shows the action at once"
    qtbot.waitUntil(lambda: window.model.busy_count() == 0)
    assert shown_status(window, job_id) == EXPECTED[button]
    if button is RowButton.FORCE_FAIL:
        assert store.get(job_id).error == FORCE_FAIL_REASON


def test_delete_key_removes_the_selection(qtbot: QtBot, window: MainWindow, store: Store,
                                          seeded: Seeded) -> None:
    wait_listed(qtbot, window, seeded)
    window.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window)
    select(window, seeded.running, seeded.completed)
    window.table.setFocus()
    QTest.keyClick(window.table, Qt.Key.Key_Delete)
    wait_shown(qtbot, window, seeded.running, GONE)
    wait_shown(qtbot, window, seeded.completed, GONE)
    assert shown_status(window, seeded.failed) is FAILED


def test_actions_follow_the_selection(qtbot: QtBot, window: MainWindow, seeded: Seeded) -> None:
    wait_listed(qtbot, window, seeded)
    actions = window.job_actions
    select(window, seeded.completed)
    assert [a.isEnabled() for a in actions.selection_actions] == [False, False, False, True]
    select(window, seeded.running)
    assert [a.isEnabled() for a in actions.selection_actions] == [True, True, False, True]
    select(window, seeded.failed, seeded.pending)
    assert all(a.isEnabled() for a in actions.selection_actions)
    texts = [a.text() for a in actions.context_menu(window).actions()]
    assert texts == ["Cancel && Delete", "Force Fail", "Retry", "Remove"]
    jobs_menu = next(m for m in window.menuBar().actions() if m.text() == "&Jobs").menu()
    assert {a.text() for a in actions.selection_actions} <= {a.text() for a in jobs_menu.actions()}
    assert {a.text() for a in actions.selection_actions} <= {a.text() for a in window.toolbar.actions()}


def test_a_refused_action_says_why_without_a_modal(qtbot: QtBot, window: MainWindow, store: Store,
                                                   seeded: Seeded) -> None:
    wait_listed(qtbot, window, seeded)
    select(window, seeded.failed)
    window.poller.pause()
    store.retry(seeded.failed, by="cli")  # someone else got there first; the list does not know yet
    window.job_actions.retry.trigger()
    qtbot.waitUntil(window.notice.isVisible)
    assert f"Cannot retry job {seeded.failed}: it is pending" in window.notice.text
    assert QApplication.activeModalWidget() is None
    assert window.model.busy_label(seeded.failed) is None


def test_a_refused_button_click_says_why_without_a_modal(qtbot: QtBot, window: MainWindow, store: Store,
                                                         seeded: Seeded) -> None:
    wait_listed(qtbot, window, seeded)
    window.poller.pause()
    claims = store.claim(seeded.worker_id, limit=5)  # a worker finishes the queue before the list knows
    for claim in claims:
        store.complete(claim.job_id, claim.token, None, seeded.worker_id)
    assert seeded.pending in [c.job_id for c in claims]
    click_row_button(window, seeded.pending, RowButton.FORCE_FAIL)
    qtbot.waitUntil(window.notice.isVisible)
    assert f"Cannot fail job {seeded.pending}: it is completed" in window.notice.text
    assert QApplication.activeModalWidget() is None
    wait_shown(qtbot, window, seeded.pending, JobStatus.COMPLETED)


def test_cancel_all_running_touches_only_the_jobs_it_named(qtbot: QtBot, window: MainWindow, store: Store,
                                                           seeded: Seeded) -> None:
    wait_listed(qtbot, window, seeded)
    asked: list[str] = []
    late: list[int] = []

    def confirm(_title: str, text: str) -> bool:
        asked.append(text)
        late.append(claim_one(store, seeded.worker_id, "late-arrival.bin")[0] if not store.has_due_work()
                    else store.claim(seeded.worker_id, 1)[0].job_id)
        return True

    window.job_actions.confirm = confirm
    window.job_actions.cancel_all_running.trigger()
    wait_shown(qtbot, window, seeded.running, JobStatus.CANCELLED)
    assert asked and asked[0].startswith("Cancel 1 running job?")
    assert store.get(late[0]).status is RUNNING, "a job that started after the question is left alone"
    assert store.get(seeded.pending).status in (PENDING, RUNNING)
    assert store.get(seeded.completed).status is JobStatus.COMPLETED


def test_clear_finished_asks_and_spares_a_job_retried_meanwhile(qtbot: QtBot, window: MainWindow,
                                                                 store: Store, seeded: Seeded) -> None:
    wait_listed(qtbot, window, seeded)
    asked: list[str] = []

    def confirm(_title: str, text: str) -> bool:
        asked.append(text)
        store.retry(seeded.failed, by="cli")  # named as finished, active again by the time we act
        return True

    window.job_actions.confirm = confirm
    window.job_actions.clear_finished.trigger()
    wait_shown(qtbot, window, seeded.completed, GONE)
    wait_shown(qtbot, window, seeded.cancelled, GONE)
    assert asked == ["Remove 3 finished jobs and their files? This cannot be undone."]
    assert store.get(seeded.failed).status is PENDING
    assert {seeded.running, seeded.pending, seeded.retrying} <= set(window.model.ids())


def test_declining_a_bulk_action_changes_nothing(qtbot: QtBot, window: MainWindow, store: Store,
                                                 seeded: Seeded) -> None:
    wait_listed(qtbot, window, seeded)
    asked: list[str] = []
    window.job_actions.confirm = lambda _t, text: asked.append(text) is not None and False
    window.job_actions.clear_finished.trigger()
    qtbot.waitUntil(lambda: bool(asked))
    assert store.counts()[JobStatus.COMPLETED] == 1
    assert window.model.busy_count() == 0


def test_retry_all_failed(qtbot: QtBot, window: MainWindow, store: Store, seeded: Seeded) -> None:
    wait_listed(qtbot, window, seeded)
    window.job_actions.retry_all_failed.trigger()
    wait_shown(qtbot, window, seeded.failed, PENDING)
    assert store.get(seeded.cancelled).status is JobStatus.CANCELLED
