"""The main window's menus, toolbar and About box: every command in one place."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox, QToolBar, QWidget

from dock.resources import icon
from worker import __version__

if TYPE_CHECKING:
    from dock.window import MainWindow


def build_menus(window: MainWindow) -> None:
    """File, Jobs, Worker and Help; every entry is a QAction, so each has its shortcut and status tip."""
    bar = window.menuBar()
    file_menu = bar.addMenu("&File")
    file_menu.addActions([window.add_files_action, window.add_folder_action])
    file_menu.addSeparator()
    file_menu.addAction(window.open_data_action)
    file_menu.addSeparator()
    file_menu.addAction(window.quit_action)
    jobs = bar.addMenu("&Jobs")
    jobs.addActions(window.job_actions.selection_actions)
    jobs.addSeparator()
    jobs.addActions(window.job_actions.bulk_actions)
    jobs.addSeparator()
    jobs.addActions([window.select_all_action, window.find_action])
    worker = bar.addMenu("&Worker")
    worker.addActions([window.start_worker_action, window.stop_worker_action, window.restart_worker_action])
    concurrency = worker.addMenu("&Concurrency")
    concurrency.addActions(window.concurrency_group.actions())
    worker.addSeparator()
    worker.addAction(window.worker_log_action)
    help_menu = bar.addMenu("&Help")
    help_menu.addAction(window.about_action)


def build_toolbar(window: MainWindow) -> QToolBar:
    toolbar = QToolBar("Main")
    toolbar.setObjectName("main-toolbar")  # saveState() finds it by name
    toolbar.setMovable(False)
    toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
    toolbar.addAction(window.add_files_action)
    toolbar.addSeparator()
    toolbar.addActions(window.job_actions.selection_actions)
    toolbar.addSeparator()
    toolbar.addActions([window.start_worker_action, window.stop_worker_action])
    window.addToolBar(toolbar)
    return toolbar


def about_box(parent: QWidget, data_root: Path) -> QMessageBox:
    box = QMessageBox(parent)
    box.setWindowTitle("About Processing Dock")
    box.setIconPixmap(icon("app").pixmap(64, 64))
    box.setText(f"<h3>Processing Dock {__version__}</h3>"
                "<p>Drop files on the window; a supervised worker runs a handler on each, and you "
                "watch and steer the jobs live.</p>")
    box.setInformativeText(f"Data folder: {data_root}")
    box.open()  # window-modal, but it does not block the event loop: the list stays live
    return box
