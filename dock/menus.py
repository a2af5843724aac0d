"""The main window's menus, toolbar and About box: every command in one place."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QActionGroup
from PySide6.QtWidgets import QMainWindow, QMessageBox, QToolBar, QWidget

from dock.resources import icon
from worker import __version__


@dataclass(frozen=True, slots=True)
class MenuActions:
    """The window's commands, as the menus and the toolbar lay them out."""

    add_files: QAction
    add_folder: QAction
    open_data: QAction
    quit: QAction
    job_selection: list[QAction]
    job_bulk: list[QAction]
    select_all: QAction
    find: QAction
    start_worker: QAction
    stop_worker: QAction
    restart_worker: QAction
    concurrency: QActionGroup
    worker_log: QAction
    about: QAction


def build_menus(window: QMainWindow, actions: MenuActions) -> None:
    """File, Jobs, Worker and Help; every entry is a QAction, so each has its shortcut and status tip."""
    bar = window.menuBar()
    file_menu = bar.addMenu("&File")
    file_menu.addActions([actions.add_files, actions.add_folder])
    file_menu.addSeparator()
    file_menu.addAction(actions.open_data)
    file_menu.addSeparator()
    file_menu.addAction(actions.quit)
    jobs = bar.addMenu("&Jobs")
    jobs.addActions(actions.job_selection)
    jobs.addSeparator()
    jobs.addActions(actions.job_bulk)
    jobs.addSeparator()
    jobs.addActions([actions.select_all, actions.find])
    worker = bar.addMenu("&Worker")
    worker.addActions([actions.start_worker, actions.stop_worker, actions.restart_worker])
    concurrency = worker.addMenu("&Concurrency")
    concurrency.addActions(actions.concurrency.actions())
    worker.addSeparator()
    worker.addAction(actions.worker_log)
    help_menu = bar.addMenu("&Help")
    help_menu.addAction(actions.about)


def build_toolbar(window: QMainWindow, actions: MenuActions) -> QToolBar:
    toolbar = QToolBar("Main")
    toolbar.setObjectName("main-toolbar")  # saveState() finds it by name
    toolbar.setMovable(False)
    toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
    toolbar.addAction(actions.add_files)
    toolbar.addSeparator()
    toolbar.addActions(actions.job_selection)
    toolbar.addSeparator()
    toolbar.addActions([actions.start_worker, actions.stop_worker])
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
