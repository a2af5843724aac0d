"""The signals a worker answers: SIGTERM and SIGINT (stop gracefully; twice, at once) and the death of the window
that started it. Handlers only note them; the loop acts at a safe point, woken through a pipe."""

from __future__ import annotations

import os
import signal
from typing import Any

from worker.run.platform import die_with_parent
from worker.run.protocol import Shutdown


class Signals:
    """What arrived, for the loop to act on.

    Attributes:
        received: the stop signals, in order (a second one means: stop at once).
        parent_gone: the process that started us (the window) has died.
        wake_fd: readable when a signal arrived; the loop selects on it beside its handler processes.
    """

    def __init__(self, parent_pid: int | None) -> None:
        self.received: list[Shutdown] = []
        self.parent_gone = False
        self._parent_pid = parent_pid
        self.wake_fd, self._wake_write = os.pipe()

    def install(self) -> None:
        os.set_blocking(self._wake_write, False)
        signal.set_wakeup_fd(self._wake_write)
        signal.signal(signal.SIGTERM, self._on_stop)
        signal.signal(signal.SIGINT, self._on_stop)
        if self._parent_pid is not None:
            # Its own signal: Linux sends it when the *thread* that started us ends, so a window killed with
            # -9 may send one per thread, and two SIGTERMs would mean "stop at once", skipping the grace.
            signal.signal(signal.SIGHUP, self._on_parent_signal)
            die_with_parent(signal.SIGHUP)
            self.check_parent()  # the parent may have died before prctl took effect

    def check_parent(self) -> bool:
        """True once the process that started us is gone (a thread of a live parent ending is no reason)."""
        if self._parent_pid is not None and os.getppid() != self._parent_pid:
            self.parent_gone = True
        return self.parent_gone

    def _on_parent_signal(self, _signum: int, _frame: Any) -> None:
        self.check_parent()

    def _on_stop(self, signum: int, _frame: Any) -> None:
        # Only note it: the loop acts on it at a safe point (a handler that began a stop between a claim
        # and the start of its job would miss that job, which would then run on unstopped).
        self.received.append(Shutdown(signal.Signals(signum).name))

    def drain_wakeups(self) -> None:
        os.read(self.wake_fd, 4096)  # the signal handler already ran; this only woke us
