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

from worker.run.joblog import salvage
from worker.run.platform import describe_exit, kill_group
from worker.run.protocol import Ev, Op, StopReason
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
    stop_reason: StopReason | None = None  # why we asked it to stop
    kill_at: float | None = None  # monotonic deadline after which the process group is killed
    last_progress_write: float = 0.0
    pending_progress: tuple[int, str] | None = None
    killed_for: str | None = None  # set when we killed it: the job's error
    withdrawing: bool = False  # asked its process to hand it back unrun; it may have begun already
    log_path: str = ""  # where its log goes, and the line that opens it
    log_header: str = ""


@dataclass
class HandlerProcess:
    """A child running `python -m worker.run.child`, in its own process group."""

    memory_limit: int
    proc: subprocess.Popen[bytes] | None = None
    control: Any = None
    events_fd: int = -1
    output_fd: int = -1
    pending: list[bytes] = field(default_factory=list)  # an event line's start, until its newline comes
    unusable: str | None = None  # why it could not start (its UNUSABLE event), the job's error if it dies
    ready: bool = False  # it said READY: its handlers are loaded
    jobs_done: int = 0
    job: Running | None = None  # the job it runs
    queued: Running | None = None  # sent to run after it: short jobs never wait on our round trip
    exited: int | None = field(default=None)
    born: float = field(default_factory=time.monotonic)

    def start(self) -> None:
        control_read, control_write = os.pipe()
        event_read, event_write = os.pipe()
        output_read, output_write = os.pipe()  # its fds 1 and 2: the running job's log (worker/run/joblog.py)
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "worker.run.child", "--control-fd", str(control_read),
                 "--event-fd", str(event_write), "--output-fd", str(output_read),
                 "--memory-limit", str(self.memory_limit)],
                pass_fds=(control_read, event_write, output_read),
                stdin=subprocess.DEVNULL, stdout=output_write, stderr=output_write,
                close_fds=True,
            )
        except BaseException:  # out of memory or processes: the worker retries, so leak no descriptor
            for fd in (control_read, control_write, event_read, event_write, output_read, output_write):
                os.close(fd)
            raise
        os.close(control_read)
        os.close(event_write)
        os.close(output_write)
        self.control = os.fdopen(control_write, "w", encoding="utf-8")
        self.events_fd = event_read
        self.output_fd = output_read  # kept to salvage what a process that died had printed last
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
        self._send(op=Op.RUN.value, **request)

    def advance(self) -> Running | None:
        """The current job ended: the queued one (if any) is running now; returns it."""
        self.job, self.queued = self.queued, None
        self.jobs_done += 1
        return self.job

    def cancel(self, job: Running | None = None) -> None:
        """Ask the current job (or the given one, running or queued) to stop."""
        job = job or self.job
        if job is not None:
            self._send(op=Op.CANCEL.value, job_id=job.claim.job_id, token=job.claim.token)

    def withdraw(self, job: Running) -> None:
        """Ask for a queued job back; the process answers "withdrawn" only if it had not begun it."""
        job.withdrawing = True
        self._send(op=Op.WITHDRAW.value, job_id=job.claim.job_id, token=job.claim.token)

    def read_events(self) -> list[dict[str, Any]]:
        """Every complete event line available now; on EOF the process is reaped and `exited` set.

        Linear in what was read: a line that comes in many pieces (a big result) is joined once, when its
        newline arrives, not re-scanned with each piece.
        """
        lines: list[bytes] = []
        while True:
            try:
                chunk = os.read(self.events_fd, 65536)
            except BlockingIOError:
                break
            if not chunk:
                self._reap()
                break
            *complete, rest = chunk.split(b"\n")
            if complete:
                lines.append(b"".join([*self.pending, complete[0]]))
                lines += complete[1:]
                self.pending = []
            if rest:
                self.pending.append(rest)
        events = []
        for line in lines:
            with contextlib.suppress(ValueError):  # a corrupt line is dropped; the job still ends by EOF
                event = json.loads(line)
                if isinstance(event, dict) and event.get("ev") == Ev.UNUSABLE:
                    self.unusable = str(event.get("error"))
                elif isinstance(event, dict) and event.get("ev") == Ev.READY:
                    self.ready = True
                events.append(event)
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

    def death_notice(self) -> str:
        """The error of the job it was running when it died."""
        if self.unusable is not None:
            return self.unusable
        if not self.ready:
            return (f"the handler process died while starting ({self.describe_exit()}); a --memory-limit too small "
                    "to load the handlers does this")
        return f"handler process died: {self.describe_exit()}"

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
        self.salvage_output(None)

    def salvage_output(self, job: Running | None) -> None:
        """It died: what its job printed last may still be in the pipe. Into the job's log with it."""
        if self.output_fd < 0:
            return
        fd, self.output_fd = self.output_fd, -1
        if job is None:
            os.close(fd)
        else:
            salvage(fd, job.log_path, job.log_header)

    def close(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            self.control.close()
        if self.events_fd >= 0:
            with contextlib.suppress(OSError):
                os.close(self.events_fd)
            self.events_fd = -1
