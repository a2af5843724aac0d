"""Starting the window: the QApplication, the store (with a clear message if it cannot open), the loop."""

from __future__ import annotations

import logging
import os
import signal
import sys
from collections.abc import Callable

from PySide6.QtCore import QSettings, QTimer
from PySide6.QtWidgets import QApplication, QMessageBox, QWidget

from dock.resources import icon
from worker import __version__
from worker.store import Store
from worker.store.errors import DatabaseError, DatabaseLocked, DatabaseTooNew

ORGANIZATION = "processing-dock"
APPLICATION = "Processing Dock"

Presenter = Callable[[str, str], None]


def configure(app: QApplication) -> None:
    """Names (they place QSettings), icon and style, set once per process."""
    app.setOrganizationName(ORGANIZATION)
    app.setApplicationName(APPLICATION)
    app.setApplicationVersion(__version__)
    app.setDesktopFileName("processing-dock")
    app.setWindowIcon(icon("app"))
    app.setStyle("Fusion")  # the painted bars and buttons are designed against it, on every platform


def startup_error(error: DatabaseError) -> tuple[str, str]:
    """The title and text of the message shown when the store cannot be opened."""
    if isinstance(error, DatabaseLocked):
        title = "The job store is busy"
    elif isinstance(error, DatabaseTooNew):
        title = "The job store is from a newer version"
    else:
        title = "The job store cannot be opened"
    return title, f"{error}\n\nNothing was deleted or changed."


def _critical(title: str, text: str) -> None:
    QMessageBox.critical(None, title, text)


def open_store(data_dir: str | None, present: Presenter = _critical) -> Store | None:
    """The store, or None after telling the user why it cannot be opened (locked, damaged, too new)."""
    try:
        return Store(data_dir)
    except DatabaseError as error:
        logging.getLogger(__name__).error("cannot open the store: %s", error)
        present(*startup_error(error))
        return None


def _stop_on_signals(window: QWidget) -> QTimer:
    """Ctrl+C or SIGTERM close the window the normal way (which stops its worker first)."""
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: window.close())
    # Python runs signal handlers only between bytecodes: wake the interpreter now and then.
    timer = QTimer(window)
    timer.setInterval(250)
    timer.timeout.connect(lambda: None)
    timer.start()
    return timer


def run(data_dir: str | None) -> int:
    """The `dock` command with no subcommand: show the window until it is closed."""
    from dock.window import MainWindow  # after the QApplication exists

    logging.basicConfig(level=os.environ.get("DOCK_LOG_LEVEL", "WARNING"),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app = QApplication.instance() or QApplication(sys.argv)
    assert isinstance(app, QApplication)
    configure(app)
    store = open_store(data_dir)
    if store is None:
        return 1
    window = MainWindow(store, QSettings())
    try:
        _stop_on_signals(window)
        window.show()
        return int(app.exec())
    finally:
        window.shut_down()  # every thread ends before the store closes
        store.close()
