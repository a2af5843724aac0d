"""The worker the window starts: a QProcess with an argument list, stopped with SIGTERM, then killed."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from PySide6.QtCore import QObject, QProcess, QTimer, Signal

from worker.store.layout import DataDir

log = logging.getLogger(__name__)

WORKER_GRACE_S = 5.0  # the worker's own --grace for its handlers
# After its grace the worker still puts jobs back and writes their release, which may wait on a busy
# database: SIGKILL only a worker that has outlived all of that by a wide margin.
KILL_MARGIN_S = 10.0

Command = Callable[[DataDir, int, float], list[str]]


def kill_after_ms(grace_s: float) -> int:
    """How long after SIGTERM a worker started with this --grace is killed."""
    return int((grace_s + KILL_MARGIN_S) * 1000)


def worker_command(data: DataDir, concurrency: int, grace_s: float = WORKER_GRACE_S) -> list[str]:
    """The worker's command line: an argument list, never a shell string.

    `--grace` is always given, so the window's kill deadline is derived from the grace the worker really has.
    `--parent-pid` makes the worker stop when this window's process dies, even by SIGKILL.
    """
    return [sys.executable, "-m", "worker", "--data-dir", str(data.root), "--concurrency", str(concurrency),
            "--grace", f"{grace_s:g}", "--parent-pid", str(os.getpid())]


class WorkerState(StrEnum):
    STOPPED = "stopped"
    STARTING = "starting"
    RUNNING = "running"
    STOPPING = "stopping"
    CRASHED = "crashed"


@dataclass(frozen=True, slots=True)
class WorkerOutcome:
    """How the worker's process ended (after qutebrowser's guiprocess.ProcessOutcome)."""

    code: int | None = None
    crash_exit: bool = False  # killed by a signal
    requested: bool = False  # we asked it to stop
    error: str | None = None  # it did not even start

    @property
    def crashed(self) -> bool:
        if self.error is not None:
            return True
        return not self.requested and (self.crash_exit or self.code != 0)

    def __str__(self) -> str:
        if self.error is not None:
            return f"failed to start: {self.error}"
        if self.crash_exit:
            return "was stopped by force" if self.requested else "died from a signal"
        return "exited normally" if self.code == 0 else f"exited with code {self.code}"


class WorkerProcess(QObject):
    """The worker started from this window, if any.

    Attributes:
        state: stopped, starting, running, stopping or crashed.
        pid: the process id while it runs.
        concurrency: the slots it was started with.
        grace_s: the --grace given to the worker; kill_after_ms follows from it unless given.
        outcome: how the last one ended.
    Signals:
        state_changed(WorkerState)
        finished(WorkerOutcome)
    """

    state_changed = Signal(object)
    finished = Signal(object)

    def __init__(self, data: DataDir, parent: QObject | None = None, command: Command = worker_command,
                 grace_s: float = WORKER_GRACE_S, kill_after: int | None = None) -> None:
        super().__init__(parent)
        self._data = data
        self._command = command
        self._process: QProcess | None = None
        self._stop_requested = False
        self._restart_with: int | None = None
        self.state = WorkerState.STOPPED
        self.pid: int | None = None
        self.concurrency = 0
        self.grace_s = grace_s
        self.kill_after_ms = kill_after_ms(grace_s) if kill_after is None else kill_after
        self.outcome: WorkerOutcome | None = None
        self._kill_timer = QTimer(self)
        self._kill_timer.setSingleShot(True)
        self._kill_timer.setInterval(self.kill_after_ms)
        self._kill_timer.timeout.connect(self._on_kill_timer_timeout)

    @property
    def log_path(self) -> str:
        return str(self._data.worker_log)

    def is_running(self) -> bool:
        return self.state in (WorkerState.STARTING, WorkerState.RUNNING, WorkerState.STOPPING)

    def start(self, concurrency: int) -> None:
        if self.is_running():
            return
        program, *args = self._command(self._data, concurrency, self.grace_s)
        process = QProcess(self)
        # Its stderr (JSON lines) and stdout go straight to the worker log; the window reads that file.
        process.setProcessChannelMode(QProcess.ProcessChannelMode.MergedChannels)
        process.setStandardOutputFile(str(self._data.worker_log), QProcess.OpenModeFlag.Append)
        process.setStandardInputFile(QProcess.nullDevice())
        process.started.connect(self._on_process_started)
        process.finished.connect(self._on_process_finished)
        process.errorOccurred.connect(self._on_process_errorOccurred)
        self._process, self._stop_requested, self.concurrency = process, False, concurrency
        self._set_state(WorkerState.STARTING)
        log.info("starting the worker: %s %s", program, " ".join(args))
        process.start(program, args)

    def stop(self) -> None:
        """Ask it to stop (SIGTERM: it finishes or releases its jobs), and kill it if it takes too long."""
        if self._process is None or not self.is_running():
            return
        self._stop_requested = True
        self._set_state(WorkerState.STOPPING)
        self._process.terminate()
        self._kill_timer.start()

    def restart(self, concurrency: int) -> None:
        if self.is_running():
            self._restart_with = concurrency
            self.stop()
        else:
            self.start(concurrency)

    def _on_process_started(self) -> None:
        if self._process is not None:
            self.pid = int(self._process.processId())
        if self.state is WorkerState.STARTING:
            self._set_state(WorkerState.RUNNING)

    def _on_process_errorOccurred(self, error: QProcess.ProcessError) -> None:  # noqa: N802
        if error == QProcess.ProcessError.FailedToStart and self._process is not None:
            self._finish(WorkerOutcome(error=self._process.errorString()))

    def _on_process_finished(self, code: int, status: QProcess.ExitStatus) -> None:
        self._finish(WorkerOutcome(code=code, crash_exit=status == QProcess.ExitStatus.CrashExit,
                                   requested=self._stop_requested))

    def _on_kill_timer_timeout(self) -> None:
        if self._process is not None and self._process.state() != QProcess.ProcessState.NotRunning:
            log.warning("the worker (pid %s) outlived its grace period; killing it", self.pid)
            self._process.kill()

    def _finish(self, outcome: WorkerOutcome) -> None:
        self._kill_timer.stop()
        process, self._process = self._process, None
        if process is not None:
            process.deleteLater()
        self.outcome, self.pid = outcome, None
        log.info("the worker %s", outcome)
        self._set_state(WorkerState.CRASHED if outcome.crashed else WorkerState.STOPPED)
        self.finished.emit(outcome)
        if self._restart_with is not None:
            concurrency, self._restart_with = self._restart_with, None
            self.start(concurrency)

    def _set_state(self, state: WorkerState) -> None:
        self.state = state
        self.state_changed.emit(state)

    def wait_stopped(self, msecs: int) -> bool:
        """Block until the process has ended (for the last moments of the application only)."""
        if self._process is None:
            return True
        return bool(self._process.waitForFinished(msecs))
