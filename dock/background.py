"""One background thread that runs calls in order and hands each result back to the GUI thread."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QThread, Signal, Slot

from worker.store.errors import DockError

log = logging.getLogger(__name__)

Callback = Callable[[Any, BaseException | None], None]


class _Runner(QObject):
    """Lives on the background thread; runs one call at a time."""

    done = Signal(object, object, object)  # callback, result, error

    @Slot(object, object)
    def run(self, call: Callable[[], Any], callback: Callback | None) -> None:
        try:
            result, error = call(), None
        except Exception as exc:  # handed to the caller, who shows it; never lost silently
            result, error = None, exc
            if not _expected(exc):
                log.exception("background call %r failed", call)
        self.done.emit(callback, result, error)


def _expected(error: BaseException) -> bool:
    """User-facing errors are shown by the caller, not logged as bugs."""
    return isinstance(error, DockError | OSError)


class Background(QObject):
    """Runs callables on a thread of its own, one after the other, so the GUI thread never waits.

    Results come back through `callback(result, error)`, called on the GUI thread. Calls never overlap,
    which is what keeps the store's readers and writers simple.

    Attributes:
        pending: how many submitted calls have not come back yet.
    """

    _submit = Signal(object, object)

    def __init__(self, name: str, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.pending = 0
        self._thread = QThread()
        self._thread.setObjectName(name)
        self._runner = _Runner()
        self._runner.moveToThread(self._thread)
        self._submit.connect(self._runner.run)
        self._runner.done.connect(self._on_runner_done)
        self._thread.start()

    def submit(self, call: Callable[[], Any], callback: Callback | None = None) -> None:
        self.pending += 1
        self._submit.emit(call, callback)

    def _on_runner_done(self, callback: Callback | None, result: Any, error: BaseException | None) -> None:
        self.pending -= 1
        if callback is not None:
            callback(result, error)

    def stop(self) -> None:
        """Let the running call finish, then end the thread (results still queued are dropped)."""
        if self._thread.isRunning():
            self._thread.quit()
            self._thread.wait()
