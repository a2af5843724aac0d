"""The handler process: runs one job at a time for the worker that started it, and is told when to stop.

Protocol: JSON lines. The worker writes {"op": "run", ...} / {"op": "cancel", "job_id": N} to our control
pipe; we write {"ev": "ready" | "progress" | "done" | "failed" | "cancelled", ...} to the event pipe. Neither
pipe is stdout or stderr, which go to the running job's log file, so nothing a handler prints can garble it.

Runs are done in the order they came. The worker may send the next run while one is going, so that for short
jobs this process never waits on the round trip. Runs are named by their claim token: a cancel for a run not
begun yet means it is reported cancelled without running, and {"op": "withdraw", "token": T} takes a waiting
run back, answered by {"ev": "withdrawn", ...} only if it had not begun (the worker then puts the job back).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import queue
import resource
import signal
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import IO, Any

from worker.api import HandlerFunc, JobCancelled, JobContext, PermanentError
from worker.registry import load_registry
from worker.run.platform import die_with_parent

PROGRESS_INTERVAL_S = 0.2  # a chatty handler is coalesced here, before anything crosses the pipe


class Events:
    """The event pipe to the worker; thread-safe because progress may come from a handler's threads."""

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream
        self._lock = threading.Lock()

    def send(self, **event: Any) -> None:
        line = json.dumps(event, default=str) + "\n"
        with self._lock:
            self._stream.write(line)
            self._stream.flush()


class Progress:
    """Forwards progress at most every PROGRESS_INTERVAL_S, keeping the latest value."""

    def __init__(self, events: Events, job_id: int) -> None:
        self._events = events
        self._job_id = job_id
        self._last_sent = 0.0

    def __call__(self, percent: int, message: str) -> None:
        now = time.monotonic()
        if now - self._last_sent >= PROGRESS_INTERVAL_S or percent >= 100:
            self._last_sent = now
            self._events.send(ev="progress", job_id=self._job_id, percent=percent, message=message[:500])


class Control:
    """Reads the control pipe on a thread, so a cancel is seen while the handler runs on the main thread."""

    def __init__(self, stream: IO[str], events: Events) -> None:
        self.runs: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self.cancel = threading.Event()  # the current run's
        self._events = events
        self._lock = threading.Lock()
        self._current: str | None = None  # the claim token of the run going on
        self._waiting: dict[str, int] = {}  # runs received, not begun: token -> job id
        self._cancelled: set[str] = set()  # of those, the ones cancelled
        self._withdrawn: set[str] = set()  # of those, the ones the worker took back
        self._stream = stream
        threading.Thread(target=self._read, name="control", daemon=True).start()

    def begin(self, token: str) -> str:
        """The main thread is about to run `token`: "run", "cancelled" (report it) or "withdrawn" (skip it)."""
        with self._lock:
            self._waiting.pop(token, None)
            if token in self._withdrawn:
                self._withdrawn.discard(token)
                return "withdrawn"
            self._current = token
            self.cancel.clear()
            if token in self._cancelled:
                self._cancelled.discard(token)
                self.cancel.set()
                return "cancelled"
            return "run"

    def _read(self) -> None:
        for line in self._stream:
            message = json.loads(line)
            op, token = message["op"], message.get("token")
            with self._lock:
                if op == "run":
                    self._waiting[token] = int(message["job_id"])
                    self.runs.put(message)
                elif op == "cancel" and token == self._current:
                    self.cancel.set()
                elif op == "cancel" and token in self._waiting:
                    self._cancelled.add(token)
                elif op == "withdraw" and token in self._waiting:
                    job_id = self._waiting.pop(token)
                    self._withdrawn.add(token)
                    self._events.send(ev="withdrawn", job_id=job_id, token=token)
                elif op == "exit":
                    break
                # Anything else names a run that has ended: a cancel that crossed its end, or a withdraw that
                # came too late (the run goes on and reports as usual).
        # The worker closed the pipe or died: a handler must never outlive its worker.
        os._exit(0)


def _job_logger() -> logging.Logger:
    """One logger for every job this process runs: it writes to fd 2, which is the running job's log file."""
    logger = logging.getLogger("dock.job")
    logger.setLevel(logging.INFO)
    logger.propagate = False
    stream = logging.StreamHandler(sys.stderr)
    stream.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    logger.handlers[:] = [stream]
    return logger


def _redirect_output(log_path: Path | None, header: str = "") -> None:
    """Point fds 1 and 2 at the job's log (or /dev/null between jobs), so even C code's and subprocesses'
    output lands there and never on the worker's stderr, whose lines must stay JSON."""
    sys.stdout.flush()
    sys.stderr.flush()
    target = os.devnull if log_path is None else log_path
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
    if header:
        os.write(fd, f"{header}\n".encode())
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)


def _run_one(request: dict[str, Any], control: Control, events: Events, handlers: dict[str, HandlerFunc],
             log: logging.Logger) -> None:
    job_id = int(request["job_id"])
    begun = control.begin(request["token"])
    if begun == "withdrawn":  # the worker took it back and put the job back: nothing to say
        return
    if begun == "cancelled":  # cancelled, deleted or stopping while it waited behind another run
        events.send(ev="cancelled", job_id=job_id)
        return
    log_path = Path(request["log_path"])
    try:
        try:
            _redirect_output(log_path, request.get("header", ""))
        except FileNotFoundError:  # a job added without an upload has no folder yet
            log_path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            _redirect_output(log_path, request.get("header", ""))
    except OSError as error:
        events.send(ev="failed", job_id=job_id, error=f"cannot open the job's log: {error}", traceback=None)
        return
    ctx = JobContext(job_id, Path(request["input_path"]), dict(request["params"]), Path(request["output_dir"]),
                     log, int(request["attempt"]), Progress(events, job_id), control.cancel)
    func = handlers.get(request["handler"])
    try:
        if func is None:
            raise LookupError(f"no handler named {request['handler']!r} is installed")
        log.info("attempt %s: %s on %s", ctx.attempt, request["handler"], ctx.input_path.name)
        result = func(ctx)
        if control.cancel.is_set():  # returning after a cancel is a clean stop, not a success
            raise JobCancelled(f"job {job_id} was cancelled")
        if result is not None and not isinstance(result, dict):
            raise TypeError(f"handler returned {type(result).__name__}, expected a dict or None")
        json.dumps(result, allow_nan=False)  # refuse what the store could not keep (NaN is not JSON)
    except JobCancelled:
        log.info("stopped: cancelled")
        events.send(ev="cancelled", job_id=job_id)
    except PermanentError as error:  # the input can never succeed: no retry
        log.error("failed, not retried: %s", error)
        events.send(ev="failed", job_id=job_id, error=str(error)[:2000] or type(error).__name__,
                    traceback=traceback.format_exc(), permanent=True)
    except MemoryError:
        log.error("out of memory")
        events.send(ev="failed", job_id=job_id, error="out of memory (the handler hit the memory limit)",
                    traceback=traceback.format_exc())
    except BaseException as error:  # every other outcome of a handler is a failed attempt, reported
        log.exception("failed")
        events.send(ev="failed", job_id=job_id, error=f"{type(error).__name__}: {error}"[:2000],
                    traceback=traceback.format_exc())
    else:
        log.info("completed")
        events.send(ev="done", job_id=job_id, result=result)
    finally:
        _redirect_output(None)


def serve(control_fd: int, event_fd: int, memory_limit: int) -> None:
    os.setpgrp()  # own process group: the worker can kill us and whatever we started in one go
    if memory_limit > 0:
        resource.setrlimit(resource.RLIMIT_AS, (memory_limit, memory_limit))
    die_with_parent(signal.SIGKILL)
    _redirect_output(None)
    events = Events(os.fdopen(event_fd, "w", encoding="utf-8"))
    control = Control(os.fdopen(control_fd, "r", encoding="utf-8"), events)
    registry = load_registry()
    handlers = {name: spec.func for name, spec in registry.handlers.items()}
    log = _job_logger()
    events.send(ev="ready", pid=os.getpid())
    while (request := control.runs.get()) is not None:
        _run_one(request, control, events, handlers, log)


def main() -> None:
    parser = argparse.ArgumentParser(prog="worker.run.child")
    parser.add_argument("--control-fd", type=int, required=True)
    parser.add_argument("--event-fd", type=int, required=True)
    parser.add_argument("--memory-limit", type=int, default=0)
    args = parser.parse_args()
    serve(args.control_fd, args.event_fd, args.memory_limit)


if __name__ == "__main__":
    main()
