"""The main window: the job list with its filters, the details pane, menus, toolbar and status bar."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from functools import partial

from PySide6.QtCore import QByteArray, QPoint, QSettings, Qt, QTimer, QUrl
from PySide6.QtGui import (
    QAction,
    QActionGroup,
    QCloseEvent,
    QDesktopServices,
    QDragEnterEvent,
    QDragLeaveEvent,
    QDragMoveEvent,
    QDropEvent,
    QKeySequence,
    QResizeEvent,
)
from PySide6.QtWidgets import (
    QFileDialog,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from dock.actions import JobActions
from dock.details import DetailsPane
from dock.filters import FilterBar
from dock.formatting import plural
from dock.logview import LogWindow
from dock.menus import MenuActions, about_box, build_menus, build_toolbar
from dock.model import JobModel
from dock.notice import Notice
from dock.notify import BatchNotifier
from dock.poller import POLL_INTERVAL_MS, Poller, PollResult
from dock.resources import icon
from dock.status import WorkerStatus
from dock.table import JobTable
from dock.uploads import DropOverlay, Uploader, UploadResult, local_paths
from dock.worker_process import Command, WorkerProcess, WorkerState, worker_command
from worker.store import Store
from worker.uploads import Refusal

CONCURRENCY_CHOICES = (1, 2, 4, 8)
DEFAULT_CONCURRENCY = 2


class MainWindow(QMainWindow):
    """Processing Dock's window on one store.

    Attributes:
        model, table, filters, details, notice: the list and what surrounds it.
        job_actions: the job actions (QActions and row buttons).
        worker: the worker process this window started, if any.
        uploads: adds dropped or chosen files as jobs.
        poller: keeps the list live.
    """

    def __init__(self, store: Store, settings: QSettings, poll_interval_ms: int = POLL_INTERVAL_MS,
                 worker_command: Command = worker_command, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.store, self.settings = store, settings
        self._closing = self._shut_down = False
        self.setWindowTitle("Processing Dock")
        self.setWindowIcon(icon("app"))
        self.model = JobModel(self)
        self.poller = Poller(store, poll_interval_ms, self)
        self.table = JobTable(self.model)
        self.filters = FilterBar()
        self.notice = Notice()
        self.details = DetailsPane(store)
        self.worker = WorkerProcess(store.data, self, worker_command)
        self.worker_status = WorkerStatus(self.worker)
        self.job_actions = JobActions(store, self.model, self.poller, self.table.selected_ids, self)
        self.uploads = Uploader(store, self)
        self.notifier = BatchNotifier(self)
        self.worker_log: LogWindow | None = None
        self.present_fatal: Callable[[str, str], object] = partial(QMessageBox.critical, self)  # tests replace it
        self._build_central()
        self._build_window_actions()
        menu_actions = self._menu_actions()
        build_menus(self, menu_actions)
        self.toolbar = build_toolbar(self, menu_actions)
        self._build_status_bar()
        self._connect()
        self._restore_settings()
        self.drop_overlay = DropOverlay(self)
        self.setAcceptDrops(True)
        self.poller.start()

    # ---- building -----------------------------------------------------------------------------------------

    def _build_central(self) -> None:
        # The details sit under the list, as in qBittorrent: the list keeps the window's full width.
        self.splitter = QSplitter(Qt.Orientation.Vertical)
        self.splitter.addWidget(self.table)
        self.splitter.addWidget(self.details)
        self.splitter.setStretchFactor(0, 1)
        self.splitter.setCollapsible(0, False)
        self.splitter.setSizes([470, 280])
        central = QWidget()
        layout = QVBoxLayout(central)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        layout.addWidget(self.filters)
        notice_row = QVBoxLayout()
        notice_row.setContentsMargins(10, 0, 10, 0)
        notice_row.addWidget(self.notice)
        layout.addLayout(notice_row)
        layout.addWidget(self.splitter, 1)
        self.setCentralWidget(central)

    def _action(self, text: str, slot: object, icon_name: str | None = None,
                shortcut: QKeySequence | str | None = None, tip: str = "") -> QAction:
        action = QAction(text, self)
        if icon_name:
            action.setIcon(icon(icon_name))
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        action.setStatusTip(tip)
        action.triggered.connect(slot)
        return action

    def _build_window_actions(self) -> None:
        key = QKeySequence.StandardKey
        self.add_files_action = self._action("&Add Files...", self._on_add_files_triggered, "add",
                                             QKeySequence(key.Open), "Copy files into the dock as new jobs")
        self.add_folder_action = self._action("Add &Folder...", self._on_add_folder_triggered, "folder",
                                              None, "Add every file in a folder")
        self.open_data_action = self._action("Open &Data Folder", self._on_open_data_triggered, None, None,
                                             str(self.store.data.root))
        self.quit_action = self._action("&Quit", self.close, None, QKeySequence(key.Quit))
        self.find_action = self._action("&Find...", self.filters.focus_search, None, QKeySequence(key.Find))
        self.select_all_action = self._action("Select &All", self.table.selectAll, None, None)
        self.start_worker_action = self._action("&Start Worker", self._on_start_worker_triggered,
                                                "worker-start", "Ctrl+Shift+S", "Run jobs with a worker process")
        self.stop_worker_action = self._action("S&top Worker", self.worker.stop, "worker-stop", None,
                                               "Stop gracefully: running jobs go back to the queue")
        self.restart_worker_action = self._action("&Restart Worker", self._on_restart_worker_triggered,
                                                  "worker-restart")
        self.worker_log_action = self._action("Show Worker &Log...", self._on_worker_log_triggered, "log",
                                              "Ctrl+L")
        self.about_action = self._action("&About Processing Dock", self.show_about, "app")
        self.concurrency_group = QActionGroup(self)
        for n in CONCURRENCY_CHOICES:
            choice = QAction(plural(n, "job") + " at a time", self.concurrency_group)
            choice.setCheckable(True)
            choice.setData(n)
        self.concurrency_group.triggered.connect(self._on_concurrency_group_triggered)

    def _menu_actions(self) -> MenuActions:
        return MenuActions(
            add_files=self.add_files_action, add_folder=self.add_folder_action, open_data=self.open_data_action,
            quit=self.quit_action, job_selection=self.job_actions.selection_actions,
            job_bulk=self.job_actions.bulk_actions, select_all=self.select_all_action, find=self.find_action,
            start_worker=self.start_worker_action, stop_worker=self.stop_worker_action,
            restart_worker=self.restart_worker_action, concurrency=self.concurrency_group,
            worker_log=self.worker_log_action, about=self.about_action,
        )

    def _build_status_bar(self) -> None:
        self.upload_progress = QProgressBar()
        self.upload_progress.setMaximumWidth(220)
        self.upload_progress.setFormat("Adding %v of %m files")
        self.upload_progress.setVisible(False)
        status = self.statusBar()
        status.addPermanentWidget(self.upload_progress)
        status.addPermanentWidget(self.worker_status)

    def _connect(self) -> None:
        self.poller.polled.connect(self._on_poller_polled)
        self.poller.failed.connect(self._on_poller_failed)
        self.poller.store_lost.connect(self._on_poller_store_lost)
        self.model.sort_requested.connect(self._on_model_sort_requested)
        self.filters.changed.connect(self._on_filters_changed)
        selection = self.table.selectionModel()
        selection.selectionChanged.connect(self._on_selection_changed)
        selection.currentChanged.connect(self._on_selection_changed)
        self.table.customContextMenuRequested.connect(self._on_table_customContextMenuRequested)
        self.table.actions_delegate.clicked.connect(self.job_actions.on_button_clicked)
        self.job_actions.notice.connect(self.notice.show_message)
        self.job_actions.status.connect(self._on_job_actions_status)
        self.uploads.progress.connect(self._on_uploads_progress)
        self.uploads.finished.connect(self._on_uploads_finished)
        self.uploads.failed.connect(self._on_uploads_failed)
        self.worker.state_changed.connect(self._on_worker_state_changed)
        self.worker_status.restart_requested.connect(self._on_restart_worker_triggered)
        self.notifier.batch_finished.connect(self._on_notifier_batch_finished)
        self._on_worker_state_changed(self.worker.state)

    # ---- the list -----------------------------------------------------------------------------------------

    def _on_poller_polled(self, result: PollResult) -> None:
        if result.change is not None:
            self.model.apply(result.change)
            change = result.change
            # Recounting a big selection's states costs milliseconds: only when it can have changed.
            if change.reset or change.diff.removed or self.table.any_selected(change.diff.changed):
                self.job_actions.update_enabled()
        if result.counts is not None:
            self.filters.set_counts(result.counts)
            self.notifier.observe(result.counts)
        if result.workers is not None:
            self.worker_status.set_workers(result.workers)

    def _on_poller_failed(self, message: str) -> None:
        self.statusBar().showMessage(f"Cannot read the job store: {message}", 10000)

    def _on_poller_store_lost(self, message: str) -> None:
        """Working on a deleted file would lose every action from now on: say so, and close."""
        self.present_fatal("The job store is gone", f"{message[:1].upper()}{message[1:]}.\n\nThe window closes; "
                           "open it again to use the store now in that place.")
        self.close()

    def _on_model_sort_requested(self, key: str, descending: bool) -> None:
        self.poller.set_query(replace(self.poller.query, order_by=key, descending=descending))

    def _on_filters_changed(self) -> None:
        query = replace(self.poller.query, status=self.filters.status, search=self.filters.text)
        if query.status or query.search:
            self.table.set_empty_message("No matching jobs", "Try another state or search.")
        else:
            self.table.set_empty_message("No jobs yet",
                                         "Drop files anywhere on this window, or choose File › Add Files…")
        self.poller.set_query(query)

    def _on_selection_changed(self, *_args: object) -> None:
        self.job_actions.update_enabled()
        current = self.table.currentIndex()
        if current.isValid() and self.table.selectionModel().isRowSelected(current.row()):
            self.details.show_job(self.table.current_id())
        else:
            self.details.show_job(self.table.first_selected_id())

    def _on_table_customContextMenuRequested(self, pos: QPoint) -> None:  # noqa: N802
        self.job_actions.update_enabled()
        self.job_actions.context_menu(self).popup(self.table.viewport().mapToGlobal(pos))

    def _on_job_actions_status(self, text: str) -> None:
        self.statusBar().showMessage(text, 5000)

    # ---- adding files -------------------------------------------------------------------------------------

    def add_files(self, paths: list[str], refused: list[Refusal] | None = None) -> None:
        self.statusBar().showMessage(f"Adding {plural(len(paths), 'item')}…", 3000)
        self.uploads.add_files(paths, refused)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802
        if event.mimeData().hasUrls():
            event.acceptProposedAction()
            self.drop_overlay.show_for(len(event.mimeData().urls()))

    def dragMoveEvent(self, event: QDragMoveEvent) -> None:  # noqa: N802
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dragLeaveEvent(self, event: QDragLeaveEvent) -> None:  # noqa: N802
        self.drop_overlay.hide()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802
        self.drop_overlay.hide()
        paths, refused = local_paths(event.mimeData())
        event.acceptProposedAction()
        self.add_files(paths, refused)

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802
        super().resizeEvent(event)
        if hasattr(self, "drop_overlay"):
            self.drop_overlay.setGeometry(self.rect())

    def _on_add_files_triggered(self) -> None:
        paths, _ = QFileDialog.getOpenFileNames(self, "Add Files")
        if paths:
            self.add_files(paths)

    def _on_add_folder_triggered(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Add Folder")
        if folder:
            self.add_files([folder])

    def _on_uploads_progress(self, done: int, total: int) -> None:
        self.upload_progress.setVisible(done < total)
        self.upload_progress.setRange(0, max(1, total))
        self.upload_progress.setValue(done)

    def _on_uploads_finished(self, result: UploadResult) -> None:
        self.upload_progress.setVisible(False)
        added = plural(len(result.ids), "job")
        if result.refused:
            self.notice.show_message("warning", f"Added {added}; {plural(len(result.refused), 'item')} "
                                     "could not be added.", [str(r) for r in result.refused])
        else:
            self.statusBar().showMessage(f"Added {added}", 5000)

    def _on_uploads_failed(self, message: str) -> None:
        self.upload_progress.setVisible(False)
        self.notice.show_message("error", message)

    def _on_open_data_triggered(self) -> None:
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(self.store.data.root)))

    # ---- the worker ---------------------------------------------------------------------------------------

    @property
    def concurrency(self) -> int:
        checked = self.concurrency_group.checkedAction()
        return int(checked.data()) if checked else DEFAULT_CONCURRENCY

    def set_concurrency(self, n: int) -> None:
        for choice in self.concurrency_group.actions():
            choice.setChecked(int(choice.data()) == n)

    def _on_concurrency_group_triggered(self, _action: QAction) -> None:
        self.settings.setValue("worker/concurrency", self.concurrency)
        if self.worker.is_running():
            self.statusBar().showMessage("The new concurrency applies when the worker restarts", 5000)

    def _on_start_worker_triggered(self) -> None:
        self.worker.start(self.concurrency)

    def _on_restart_worker_triggered(self) -> None:
        self.worker.restart(self.concurrency)

    def _on_worker_state_changed(self, state: WorkerState) -> None:
        running = self.worker.is_running()
        self.start_worker_action.setEnabled(not running)
        self.stop_worker_action.setEnabled(running and state is not WorkerState.STOPPING)
        self.start_worker_action.setVisible(not running)
        self.stop_worker_action.setVisible(running)
        if state is WorkerState.CRASHED and self.worker.outcome is not None:
            self.notice.show_message("error", f"The worker {self.worker.outcome}. Its log is in "
                                     "Worker › Show Worker Log; Restart is in the status bar.")
        if self._closing and not running:
            self.statusBar().showMessage("The worker has stopped; closing", 2000)
            QTimer.singleShot(0, self.close)

    def _on_worker_log_triggered(self) -> None:
        if self.worker_log is None:
            self.worker_log = LogWindow("Worker Log", self.store.data.worker_log, self)
        self.worker_log.show()
        self.worker_log.raise_()

    def _on_notifier_batch_finished(self, summary: str) -> None:
        self.statusBar().showMessage(summary, 10000)

    # ---- the rest -----------------------------------------------------------------------------------------

    def show_about(self) -> QMessageBox:
        return about_box(self, self.store.data.root)

    def _restore_settings(self) -> None:
        if not self.restoreGeometry(self._setting_bytes("window/geometry")):
            self.resize(1280, 800)
        self.restoreState(self._setting_bytes("window/state"))
        self.splitter.restoreState(self._setting_bytes("window/splitter"))
        self.table.horizontalHeader().restoreState(self._setting_bytes("table/header"))
        concurrency = str(self.settings.value("worker/concurrency", DEFAULT_CONCURRENCY))
        self.set_concurrency(int(concurrency) if concurrency.isdigit() else DEFAULT_CONCURRENCY)

    def _setting_bytes(self, key: str) -> QByteArray:
        value = self.settings.value(key)
        return QByteArray(value) if isinstance(value, QByteArray | bytes) else QByteArray()

    def save_settings(self) -> None:
        s = self.settings
        s.setValue("window/geometry", self.saveGeometry())
        s.setValue("window/state", self.saveState())
        s.setValue("window/splitter", self.splitter.saveState())
        s.setValue("table/header", self.table.horizontalHeader().saveState())
        s.setValue("worker/concurrency", self.concurrency)
        s.sync()

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802
        if self.worker.is_running():
            # The worker must not outlive its window: stop it the graceful way first, then close.
            event.ignore()
            if not self._closing:
                self._closing = True
                self.statusBar().showMessage("Stopping the worker before closing…")
                self.worker.stop()
            return
        self.save_settings()
        self.shut_down()
        super().closeEvent(event)

    @property
    def is_shut_down(self) -> bool:
        return self._shut_down

    def shut_down(self) -> None:
        """Stop every background thread (before the store is closed)."""
        if self._shut_down:
            return
        self._shut_down = True
        self.poller.stop()
        self.job_actions.stop()
        self.details.stop()
        self.uploads.stop()
        if self.worker_log is not None:
            self.worker_log.close()
