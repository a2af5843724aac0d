"""The handler process: runs one job at a time for the worker that started it, and is told when to stop.

The protocol is in worker/run/protocol.py. Runs are done in the order they came: the worker may send the next run
while one is going, so that for short jobs this process never waits on the round trip. A cancel for a run not
begun yet means it is reported cancelled without running; a withdraw takes a waiting run back.

Nothing a handler starts outlives its job: this process is a child subreaper, so whatever the handler spawned,
even a process that escaped with setsid or a double fork, stays its descendant and is killed when the job ends.
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
from typing import IO, Any

from worker.api import HandlerFunc, JobCancelled, JobContext, PermanentError
from worker.registry import load_registry
from worker.run.joblog import JobLog
from worker.run.platform import become_subreaper, die_with_parent, sweep_children
from worker.run.protocol import Ev, Op

PROGRESS_INTERVAL_S = 0.2  # a chatty handler is coalesced here, before anything crosses the pipe
MAX_RESULT_BYTES = 1 << 20  # a result is a summary; data belongs in files under ctx.output_dir
MAX_ERROR_CHARS = 2000
MAX_TRACEBACK_CHARS = 64 << 10


class Events:
    """The event pipe to the worker; thread-safe because progress may come from a handler's threads."""

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream
        self._lock = threading.Lock()

    def send(self, ev: Ev, **fields: Any) -> None:
        line = json.dumps({"ev": ev.value, **fields}, default=str) + "\n"
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
            self._events.send(Ev.PROGRESS, job_id=self._job_id, percent=percent, message=message[:500])


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

    def begin(self, token: str) -> Ev | None:
        """The main thread is about to run `token`: None to run it, CANCELLED to report it unrun, WITHDRAWN to skip
        it (the worker has put it back)."""
        with self._lock:
            self._waiting.pop(token, None)
            if token in self._withdrawn:
                self._withdrawn.discard(token)
                return Ev.WITHDRAWN
            self._current = token
            self.cancel.clear()
            if token in self._cancelled:
                self._cancelled.discard(token)
                self.cancel.set()
                return Ev.CANCELLED
            return None

    def _read(self) -> None:
        for line in self._stream:
            message = json.loads(line)
            op, token = message["op"], message.get("token")
            with self._lock:
                if op == Op.RUN:
                    self._waiting[token] = int(message["job_id"])
                    self.runs.put(message)
                elif op == Op.CANCEL and token == self._current:
                    self.cancel.set()
                elif op == Op.CANCEL and token in self._waiting:
                    self._cancelled.add(token)
                elif op == Op.WITHDRAW and token in self._waiting:
                    job_id = self._waiting.pop(token)
                    self._withdrawn.add(token)
                    self._events.send(Ev.WITHDRAWN, job_id=job_id, token=token)
                # Anything else names a run that has ended: a cancel that crossed its end, or a withdraw that
                # came too late (the run goes on and reports as usual).
        # The worker closed the pipe or died: a handler, and all it started, must never outlive its worker.
        sweep_children()
        os._exit(0)


def _job_logger() -> logging.Logger:
    """One logger for every job this process runs: it writes to fd 2, which goes to the running job's log."""
    logger = logging.getLogger("dock.job")
    logger.setLevel(logging.INFO)
    logger.propagate = False
    stream = logging.StreamHandler(sys.stderr)
    stream.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    logger.handlers[:] = [stream]
    return logger


def _outcome(func: HandlerFunc | None, request: dict[str, Any], ctx: JobContext, cancel: threading.Event,
             log: logging.Logger) -> dict[str, Any]:
    """Run the handler and say how it ended, as the fields of one event (the huey/api.py `_execute` ladder)."""
    try:
        if func is None:
            raise LookupError(f"no handler named {request['handler']!r} is installed")
        result = func(ctx)
        if cancel.is_set():  # returning after a cancel is a clean stop, not a success
            raise JobCancelled(f"job {ctx.job_id} was cancelled")
        return _done(result)
    except JobCancelled:
        log.info("stopped: cancelled")
        return {"ev": Ev.CANCELLED}
    except PermanentError as error:  # the input can never succeed: no retry
        log.error("failed, not retried: %s", error)
        return {"ev": Ev.FAILED, "error": (str(error) or type(error).__name__)[:MAX_ERROR_CHARS],
                "traceback": _traceback(), "permanent": True}
    except MemoryError:
        log.error("out of memory")
        return {"ev": Ev.FAILED, "error": "out of memory (the handler hit the memory limit)", "traceback": _traceback()}
    except BaseException as error:  # every other outcome of a handler is a failed attempt, reported
        log.exception("failed")
        return {"ev": Ev.FAILED, "error": f"{type(error).__name__}: {error}"[:MAX_ERROR_CHARS],
                "traceback": _traceback()}


def _done(result: Any) -> dict[str, Any]:
    """A DONE event for what the handler returned, or FAILED when the store could not keep it."""
    if result is not None and not isinstance(result, dict):
        raise TypeError(f"handler returned {type(result).__name__}, expected a dict or None")
    size = len(json.dumps(result, allow_nan=False))  # refuse what the store could not keep (NaN is not JSON)
    if size > MAX_RESULT_BYTES:
        return {"ev": Ev.FAILED, "traceback": None,
                "error": f"the handler's result is {size / (1 << 20):.1f} MiB of JSON, over the "
                         f"{MAX_RESULT_BYTES >> 20} MiB a result may be: write large data to files in "
                         "ctx.output_dir and return a summary"}
    return {"ev": Ev.DONE, "result": result}


def _traceback() -> str:
    text = traceback.format_exc()
    return text if len(text) <= MAX_TRACEBACK_CHARS else text[:MAX_TRACEBACK_CHARS // 2] + "\n...\n" + \
        text[-MAX_TRACEBACK_CHARS // 2:]


def _run_one(request: dict[str, Any], control: Control, events: Events, handlers: dict[str, HandlerFunc],
             log: logging.Logger, joblog: JobLog) -> None:
    job_id = int(request["job_id"])
    begun = control.begin(request["token"])
    if begun is Ev.WITHDRAWN:  # the worker took it back and put the job back: nothing to say
        return
    if begun is Ev.CANCELLED:  # cancelled, deleted or stopping while it waited behind another run
        events.send(Ev.CANCELLED, job_id=job_id)
        return
    ctx = JobContext(job_id, request["input_path"], request["params"], request["output_dir"],
                     log, int(request["attempt"]), Progress(events, job_id), control.cancel)
    joblog.begin(request["log_path"], request.get("header", ""))
    try:
        ending = _outcome(handlers.get(request["handler"]), request, ctx, control.cancel, log)
    finally:
        sweep_children()  # whatever the handler started ends with its job
        joblog.end()
    if ending["ev"] is Ev.DONE:  # an attempt that wrote nothing has nothing to publish: the worker skips it
        ending["outputs"] = os.path.isdir(request["output_dir"])
    events.send(ending.pop("ev"), job_id=job_id, **ending)


def serve(control_fd: int, event_fd: int, output_fd: int, memory_limit: int) -> None:
    os.setpgrp()  # own process group: the worker can kill us and whatever we started in one go
    die_with_parent(signal.SIGKILL)
    become_subreaper()
    events = Events(os.fdopen(event_fd, "w", encoding="utf-8"))
    # Said with memory to spare: once the limit bites, even building this message could fail.
    unusable = (json.dumps({"ev": Ev.UNUSABLE.value, "error": "the handler process could not start within its "
                            f"memory limit of {memory_limit >> 20} MiB (dock-worker --memory-limit): raise it"})
                + "\n").encode()
    if memory_limit > 0:
        resource.setrlimit(resource.RLIMIT_AS, (memory_limit, memory_limit))
    try:
        joblog = JobLog(output_fd)
        handlers = {name: spec.func for name, spec in load_registry().handlers.items()}
        control = Control(os.fdopen(control_fd, "r", encoding="utf-8"), events)
    except (MemoryError, RuntimeError):  # RuntimeError: no memory for a thread's stack
        os.write(event_fd, unusable)
        os._exit(1)
    log = _job_logger()
    events.send(Ev.READY, pid=os.getpid())
    while (request := control.runs.get()) is not None:
        _run_one(request, control, events, handlers, log, joblog)


def main() -> None:
    parser = argparse.ArgumentParser(prog="worker.run.child")
    parser.add_argument("--control-fd", type=int, required=True)
    parser.add_argument("--event-fd", type=int, required=True)
    parser.add_argument("--output-fd", type=int, required=True)
    parser.add_argument("--memory-limit", type=int, default=0)
    args = parser.parse_args()
    serve(args.control_fd, args.event_fd, args.output_fd, args.memory_limit)


if __name__ == "__main__":
    main()
