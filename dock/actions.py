"""The job actions: QActions for menus, toolbar and context menu, row-button clicks, and bulk actions."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import partial

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMenu, QMessageBox, QWidget

from dock.background import Background
from dock.delegates import RowButton
from dock.formatting import plural
from dock.model import JobModel
from dock.poller import Poller
from dock.resources import icon
from worker.store import Store
from worker.store.rows import Outcome
from worker.store.states import ACTIVE, ALLOWED, FINISHED, Action, JobStatus

BUSY_LABELS = {Action.DELETE: "Deleting…", Action.FAIL: "Failing…", Action.RETRY: "Queuing…",
               Action.CANCEL: "Cancelling…"}
VERBS = {Action.DELETE: "delete", Action.FAIL: "force-fail", Action.RETRY: "retry", Action.CANCEL: "cancel"}
CANCELLABLE = ALLOWED[Action.DELETE] & ACTIVE  # Cancel & Delete: the delete of a job that is still active
ACTOR = "window"

Confirm = Callable[[str, str], bool]


def _ids_in(store: Store, statuses: Iterable[JobStatus]) -> list[int]:
    """The ids of every job in these states (cheap: ids and revisions only). Runs off the GUI thread."""
    return sorted(job_id for status in statuses for job_id, _ in store.revisions(status))


def _apply_if_still(store: Store, action: Action, ids: list[int], statuses: frozenset[JobStatus]) -> list[Outcome]:
    """Apply `action` to the named jobs only while they are still in `statuses`, checked by the store in the
    same transaction: a job retried since "Clear Finished" counted it is left alone."""
    return store.apply(action, ids, ACTOR, only_from=statuses)


class JobActions(QObject):
    """Every job action the window offers, run off the GUI thread, with immediate feedback on the rows.

    Attributes:
        cancel_delete, force_fail, retry, remove: act on the selection (menu, toolbar, context menu).
        cancel_all_running, retry_all_failed, clear_finished: bulk actions on the ids they name.
        confirm: asks before a destructive bulk action (tests replace it).
    `selected` returns the selected jobs' ids, top to bottom.
    Signals:
        notice(str kind, str text, list details): something to show without a modal dialog.
        status(str text): a short confirmation for the status bar.
        applied(Action, list[Outcome]): after the store answered.
    """

    notice = Signal(str, str, object)
    status = Signal(str)
    applied = Signal(object, object)

    def __init__(self, store: Store, model: JobModel, poller: Poller, selected: Callable[[], list[int]],
                 parent: QWidget) -> None:
        super().__init__(parent)
        self._store, self._model, self._poller, self._selected = store, model, poller, selected
        self._parent = parent
        self._background = Background("dock-actions", self)
        self.confirm: Confirm = self._ask
        self.cancel_delete = self._make("Cancel && Delete", "cancel-delete", "Shift+Del",
                                        "Stop the selected active jobs and delete them with their files")
        self.force_fail = self._make("Force Fail", "force-fail", "Ctrl+Shift+F",
                                     "Fail the current attempt of the selected active jobs")
        self.retry = self._make("Retry", "retry", "Ctrl+R", "Queue the selected failed or cancelled jobs again")
        self.remove = self._make("Remove", "remove", QKeySequence.StandardKey.Delete,
                                 "Remove the selected jobs with their files (active ones are cancelled first)")
        self.cancel_all_running = self._make("Cancel All Running...", None, None, "Cancel every running job")
        self.retry_all_failed = self._make("Retry All Failed", None, None, "Queue every failed job again")
        self.clear_finished = self._make("Clear Finished...", None, None,
                                         "Remove every completed, failed and cancelled job")
        self.cancel_delete.triggered.connect(self._on_cancel_delete_triggered)
        self.force_fail.triggered.connect(self._on_force_fail_triggered)
        self.retry.triggered.connect(self._on_retry_triggered)
        self.remove.triggered.connect(self._on_remove_triggered)
        self.cancel_all_running.triggered.connect(self._on_cancel_all_running_triggered)
        self.retry_all_failed.triggered.connect(self._on_retry_all_failed_triggered)
        self.clear_finished.triggered.connect(self._on_clear_finished_triggered)
        self.update_enabled()

    def _make(self, text: str, icon_name: str | None, shortcut: str | QKeySequence.StandardKey | None,
              tip: str) -> QAction:
        action = QAction(text, self._parent)
        if icon_name:
            action.setIcon(icon(icon_name))
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        action.setStatusTip(tip)
        action.setToolTip(f"{text.replace('&&', '&')} ({action.shortcut().toString()})" if shortcut else tip)
        self._parent.addAction(action)  # shortcuts work wherever the focus is in the window
        return action

    @property
    def selection_actions(self) -> list[QAction]:
        return [self.cancel_delete, self.force_fail, self.retry, self.remove]

    @property
    def bulk_actions(self) -> list[QAction]:
        return [self.cancel_all_running, self.retry_all_failed, self.clear_finished]

    def update_enabled(self) -> None:
        """Enable what the selection allows (the engine still decides: the view may be a moment old)."""
        statuses = self._model.statuses_of(self._selected())
        self.cancel_delete.setEnabled(bool(statuses & CANCELLABLE))
        self.force_fail.setEnabled(bool(statuses & ALLOWED[Action.FAIL]))
        self.retry.setEnabled(bool(statuses & ALLOWED[Action.RETRY]))
        self.remove.setEnabled(bool(statuses & ALLOWED[Action.DELETE]))

    def context_menu(self, parent: QWidget) -> QMenu:
        menu = QMenu(parent)
        for action in self.selection_actions:
            menu.addAction(action)
        return menu

    # ---- acting -------------------------------------------------------------------------------------------

    def run(self, action: Action, job_ids: list[int]) -> None:
        """Apply `action` to these jobs off the GUI thread; their rows show it at once."""
        ids = [j for j in job_ids if self._model.busy_label(j) is None]  # one action in flight per row
        if not ids:
            return
        self._model.mark_busy(ids, BUSY_LABELS[action])
        call = partial(self._store.apply, action, ids, ACTOR)
        self._background.submit(call, partial(self._on_store_applied, action, ids))

    def run_named(self, action: Action, job_ids: list[int], statuses: frozenset[JobStatus]) -> None:
        """Like run(), for bulk actions: only the named jobs, and only those still in `statuses`."""
        if not job_ids:
            return
        self._model.mark_busy(job_ids, BUSY_LABELS[action])
        call = partial(_apply_if_still, self._store, action, job_ids, statuses)
        self._background.submit(call, partial(self._on_store_applied, action, job_ids))

    def on_button_clicked(self, job_id: int, button: RowButton) -> None:
        self.run(button.spec.action, [job_id])

    def _selected_ids(self, statuses: frozenset[JobStatus] | None = None) -> list[int]:
        ids = self._selected()
        return ids if statuses is None else [row.id for row in self._model.rows_of(ids) if row.status in statuses]

    def _on_cancel_delete_triggered(self) -> None:
        self.run(Action.DELETE, self._selected_ids(CANCELLABLE))

    def _on_force_fail_triggered(self) -> None:
        self.run(Action.FAIL, self._selected_ids(ALLOWED[Action.FAIL]))

    def _on_retry_triggered(self) -> None:
        self.run(Action.RETRY, self._selected_ids(ALLOWED[Action.RETRY]))

    def _on_remove_triggered(self) -> None:
        self.run(Action.DELETE, self._selected_ids())

    def _on_store_applied(self, action: Action, ids: list[int], outcomes: list[Outcome] | None,
                          error: BaseException | None) -> None:
        if error is not None or outcomes is None:
            self._model.clear_busy(ids)
            self.notice.emit("error", f"Could not {VERBS[action]} {plural(len(ids), 'job')}: {error}", [])
            return
        refused = [o for o in outcomes if not o.ok]
        accepted = [o for o in outcomes if o.ok]
        self._model.clear_busy(o.job_id for o in refused)
        self._model.settle_busy_after([o.job_id for o in accepted], self._poller.poll_now())
        if refused:
            text = (refused[0].message if len(refused) == 1 and not accepted
                    else f"{plural(len(refused), 'job')} could not be changed ({len(accepted)} done)")
            self.notice.emit("warning", text[:1].upper() + text[1:], [o.message for o in refused])
        elif accepted:
            self.status.emit(accepted[0].message[:1].upper() + accepted[0].message[1:] if len(accepted) == 1
                             else f"{plural(len(accepted), 'job')}: {VERBS[action]} done")
        self.applied.emit(action, outcomes)

    # ---- bulk ---------------------------------------------------------------------------------------------

    def _on_cancel_all_running_triggered(self) -> None:
        self._collect(frozenset({JobStatus.RUNNING}), self._confirm_cancel_running)

    def _on_retry_all_failed_triggered(self) -> None:
        self._collect(frozenset({JobStatus.FAILED}),
                      lambda ids: self.run_named(Action.RETRY, ids, frozenset({JobStatus.FAILED})))

    def _on_clear_finished_triggered(self) -> None:
        self._collect(FINISHED, self._confirm_clear_finished)

    def _collect(self, statuses: frozenset[JobStatus], then: Callable[[list[int]], None]) -> None:
        """Name the jobs first (off the GUI thread); the bulk action then touches those ids only."""
        def named(ids: list[int] | None, error: BaseException | None) -> None:
            if error is not None or ids is None:
                self.notice.emit("error", f"Could not list the jobs: {error}", [])
            elif not ids:
                names = " or ".join(s.value for s in sorted(statuses))
                self.status.emit(f"No {names} jobs")
            else:
                then(ids)
        self._background.submit(partial(_ids_in, self._store, statuses), named)

    def _confirm_cancel_running(self, ids: list[int]) -> None:
        count = plural(len(ids), "running job")
        if self.confirm("Cancel All Running", f"Cancel {count}? Their handlers are stopped; "
                        "the jobs stay in the list as cancelled and can be retried."):
            self.run_named(Action.CANCEL, ids, frozenset({JobStatus.RUNNING}))

    def _confirm_clear_finished(self, ids: list[int]) -> None:
        count = plural(len(ids), "finished job")
        if self.confirm("Clear Finished", f"Remove {count} and their files? This cannot be undone."):
            self.run_named(Action.DELETE, ids, FINISHED)

    def _ask(self, title: str, text: str) -> bool:
        answer = QMessageBox.question(self._parent, title, text,
                                      QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
                                      QMessageBox.StandardButton.Cancel)
        return answer == QMessageBox.StandardButton.Yes

    def stop(self) -> None:
        self._background.stop()
