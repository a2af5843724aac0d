"""One supervised handler process: start it, give it jobs, read its events, kill it for sure."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Any

from worker.run.platform import describe_exit, kill_group
from worker.store.rows import Claim

# Recycle now and then, since a handler may leak memory or state between jobs; but not more often than every
# MIN_PROCESS_LIFE_S, or handlers that take a millisecond would spend more on starting processes than on work.
MAX_JOBS_PER_PROCESS = 1000
MIN_PROCESS_LIFE_S = 30.0


@dataclass
class Running:
    """A job this process is working on, and the worker's plans for it."""

    claim: Claim
    started: float  # monotonic
    timeout: float | None
    started_at: float = 0.0  # epoch seconds, for the store: a job claimed ahead starts after its claim
    stop_reason: str | None = None  # why we asked it to stop: "cancelled", "shutdown", ...
    kill_at: float | None = None  # monotonic deadline after which the process group is killed
    last_progress_write: float = 0.0
    pending_progress: tuple[int, str] | None = None
    killed_for: str | None = None  # set when we killed it: the job's error
    withdrawing: bool = False  # asked its process to hand it back unrun; it may have begun already


@dataclass
class HandlerProcess:
    """A child running `python -m worker.run.child`, in its own process group."""

    memory_limit: int
    proc: subprocess.Popen[bytes] | None = None
    control: Any = None
    events_fd: int = -1
    buffer: bytes = b""
    jobs_done: int = 0
    job: Running | None = None  # the job it runs
    queued: Running | None = None  # sent to run after it: short jobs never wait on our round trip
    exited: int | None = field(default=None)
    born: float = field(default_factory=time.monotonic)

    def start(self) -> None:
        control_read, control_write = os.pipe()
        event_read, event_write = os.pipe()
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "worker.run.child", "--control-fd", str(control_read),
                 "--event-fd", str(event_write), "--memory-limit", str(self.memory_limit)],
                pass_fds=(control_read, event_write),
                stdin=subprocess.DEVNULL,
                close_fds=True,
            )
        except BaseException:  # out of memory or processes: the worker retries, so leak no descriptor
            for fd in (control_read, control_write, event_read, event_write):
                os.close(fd)
            raise
        os.close(control_read)
        os.close(event_write)
        self.control = os.fdopen(control_write, "w", encoding="utf-8")
        self.events_fd = event_read
        os.set_blocking(event_read, False)

    @property
    def pid(self) -> int:
        return self.proc.pid if self.proc else -1

    @property
    def reusable(self) -> bool:
        return self.exited is None and (self.jobs_done < MAX_JOBS_PER_PROCESS
                                        or time.monotonic() - self.born < MIN_PROCESS_LIFE_S)

    def _send(self, **message: Any) -> bool:
        try:
            self.control.write(json.dumps(message) + "\n")
            self.control.flush()
            return True
        except (BrokenPipeError, OSError, ValueError):  # it died; its pipe's EOF reports how
            return False

    def run(self, job: Running, request: dict[str, Any]) -> None:
        """Send a job to run now, or after the current one when it has one."""
        if self.job is None:
            self.job = job
        else:
            assert self.queued is None, "one job waits at most"
            self.queued = job
        self._send(op="run", **request)

    def advance(self) -> Running | None:
        """The current job ended: the queued one (if any) is running now; returns it."""
        self.job, self.queued = self.queued, None
        self.jobs_done += 1
        return self.job

    def cancel(self, job: Running | None = None) -> None:
        """Ask the current job (or the given one, running or queued) to stop."""
        job = job or self.job
        if job is not None:
            self._send(op="cancel", job_id=job.claim.job_id, token=job.claim.token)

    def withdraw(self, job: Running) -> None:
        """Ask for a queued job back; the process answers "withdrawn" only if it had not begun it."""
        job.withdrawing = True
        self._send(op="withdraw", job_id=job.claim.job_id, token=job.claim.token)

    def read_events(self) -> list[dict[str, Any]]:
        """Every complete event line available now; on EOF the process is reaped and `exited` set."""
        chunks = []
        while True:
            try:
                chunk = os.read(self.events_fd, 65536)
            except BlockingIOError:
                break
            if not chunk:
                self._reap()
                break
            chunks.append(chunk)
        self.buffer += b"".join(chunks)
        *lines, self.buffer = self.buffer.split(b"\n")
        events = []
        for line in lines:
            with contextlib.suppress(ValueError):  # a corrupt line is dropped; the job still ends by EOF
                events.append(json.loads(line))
        return events

    def _reap(self) -> None:
        assert self.proc is not None
        # EOF on the event pipe: the process exited (or closed it, which is as good as dead to us).
        try:
            self.exited = self.proc.wait(timeout=1)
        except subprocess.TimeoutExpired:
            kill_group(self.proc.pid)
            self.exited = self.proc.wait()
        kill_group(self.proc.pid)  # whatever the handler started in its group goes with it
        self.close()

    def poll_exit(self) -> bool:
        """True if the process has died (for when a grandchild holds the event pipe open)."""
        if self.proc is None or self.exited is not None:
            return self.exited is not None
        if self.proc.poll() is None:
            return False
        self.exited = self.proc.returncode
        kill_group(self.proc.pid)
        self.close()
        return True

    def describe_exit(self) -> str:
        return describe_exit(self.exited if self.exited is not None else 0)

    def kill(self) -> None:
        if self.proc is not None and self.exited is None:
            kill_group(self.proc.pid)

    def stop(self) -> None:
        """Ask an idle process to exit (closing its control pipe does it) and reap it."""
        if self.proc is None or self.exited is not None:
            return
        with contextlib.suppress(OSError, ValueError):
            self.control.close()
        try:
            self.exited = self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            kill_group(self.proc.pid)
            self.exited = self.proc.wait()
        self.close()

    def close(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            self.control.close()
        if self.events_fd >= 0:
            with contextlib.suppress(OSError):
                os.close(self.events_fd)
            self.events_fd = -1
