"""A handler's output, into its job's log: every byte written to fds 1 and 2, capped, in a file made only if needed.

Fds 1 and 2 of a handler process are a pipe, so that what C code and subprocesses print lands in the job's log
too, never on the worker's stderr (whose lines must stay JSON). A thread of the handler process moves the pipe
into the running job's log with splice(), so no byte is ever held in the process: if it crashes, what it
printed is in the log or still in the pipe, where the worker, which holds the pipe's read end too, finds it
(`salvage`). The log is created at its first byte: a job whose handler says nothing costs no file and no
folder, which for handlers that take a millisecond was most of their time. Past the cap the rest is dropped
with one line saying so, so a runaway handler cannot fill the disk.
"""

from __future__ import annotations

import errno
import os
import select
import sys
import threading
from dataclasses import dataclass

LOG_CAP_BYTES = 10 << 20
CHUNK = 1 << 16
CAN_SPLICE = hasattr(os, "splice")


def cut_line(cap: int) -> bytes:
    """The line that ends a log cut at its cap."""
    return f"\n--- the log was cut here: the handler wrote more than {cap >> 20} MiB; the rest was dropped ---\n" \
        .encode()


@dataclass
class _Sink:
    """One job's log file, opened at its first byte; written at its own offset (splice refuses O_APPEND)."""

    path: str
    header: str
    cap: int
    fd: int = -1
    offset: int = 0
    written: int = 0
    done: bool = False  # cut at the cap, or unwritable (the job was deleted, the disk is full)
    splice: bool = CAN_SPLICE

    def take(self, source: int) -> bool:
        """Move what the pipe `source` holds into the log; False once the pipe is empty."""
        if self.done:
            return _discard(source)
        if self.fd < 0:
            if not _readable(source):  # nothing written yet: no file either
                return False
            if not self._open():
                return True
        try:
            moved = self._move(source, min(CHUNK, self.cap - self.written))
        except BlockingIOError:
            return False
        except OSError:  # a full disk: the job goes on without its log
            self.done = True
            return True
        if moved == 0:
            return False
        self.written += moved
        if self.written >= self.cap:
            os.pwrite(self.fd, cut_line(self.cap), self.offset)
            self.done = True
        return True

    def _move(self, source: int, count: int) -> int:
        if self.splice:
            try:
                moved = os.splice(source, self.fd, count, offset_dst=self.offset)
            except OSError as error:
                if error.errno != errno.EINVAL:
                    raise
                self.splice = False  # a file system that cannot splice: copy through memory instead
                return self._move(source, count)
        else:
            moved = os.pwrite(self.fd, os.read(source, count), self.offset)
        self.offset += moved
        return moved

    def _open(self) -> bool:
        try:
            self.fd = open_log(self.path)
        except OSError:  # the job was deleted under us: its output goes nowhere
            self.done = True
            return False
        self.offset = os.fstat(self.fd).st_size  # after the logs of earlier attempts
        if self.header:
            self.offset += os.pwrite(self.fd, f"{self.header}\n".encode(), self.offset)
        return True

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def open_log(path: str, flags: int = 0) -> int:
    """Open (or create) a job's log, making the job's folder if it has none yet (no upload)."""
    mode = os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC | flags
    try:
        return os.open(path, mode, 0o600)
    except FileNotFoundError:
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        return os.open(path, mode, 0o600)


def _readable(fd: int) -> bool:
    return bool(select.select([fd], [], [], 0)[0])


def _discard(source: int) -> bool:
    try:
        return bool(os.read(source, CHUNK))
    except BlockingIOError:
        return False


class JobLog:
    """The handler process's side: routes fds 1 and 2 into the log of the job being run.

    `output_fd` is the read end of the pipe that fds 1 and 2 write to.
    """

    def __init__(self, output_fd: int, cap: int = LOG_CAP_BYTES) -> None:
        self._cap = cap
        self._lock = threading.Lock()
        self._sink: _Sink | None = None
        self._source = output_fd
        os.set_blocking(output_fd, False)
        self._spare = os.dup(1)  # the pipe's write end, to give fds 1 and 2 back to each job
        os.set_inheritable(self._spare, False)
        threading.Thread(target=self._pump, name="job-log", daemon=True).start()

    def begin(self, path: str, header: str = "") -> None:
        """What is written from now on belongs to the log at `path`, opened with `header` at its first byte."""
        os.dup2(self._spare, 1)  # a handler before may have closed or redirected them
        os.dup2(self._spare, 2)
        with self._lock:
            self._drain()  # nothing written before belongs to this job
            self._sink = _Sink(path, header, self._cap)

    def end(self) -> None:
        """Everything written so far belongs to the job that ends; what comes later goes nowhere."""
        sys.stdout.flush()
        sys.stderr.flush()
        with self._lock:
            self._drain()
            if self._sink is not None:
                self._sink.close()
            self._sink = None

    def _pump(self) -> None:
        poller = select.poll()
        poller.register(self._source, select.POLLIN)
        while True:
            poller.poll()
            with self._lock:
                self._drain()

    def _drain(self) -> None:
        """Move what the pipe holds now into the current log (the lock is held); it never blocks."""
        sink = self._sink
        while sink.take(self._source) if sink is not None else _discard(self._source):
            pass


def salvage(output_fd: int, path: str, header: str, cap: int = LOG_CAP_BYTES) -> None:
    """The worker's side, when a handler process died: what its job printed last is still in the pipe. Append it
    to the job's log (within the cap) and close the worker's read end."""
    try:
        os.set_blocking(output_fd, False)
        data = b""
        while len(data) < cap and (chunk := _read_some(output_fd)):
            data += chunk
        if not data:
            return
        fd = open_log(path, os.O_APPEND)
        try:
            room = cap - os.fstat(fd).st_size
            os.write(fd, (f"{header}\n".encode() if os.fstat(fd).st_size == 0 and header else b"")
                     + data[:max(0, room)] + (cut_line(cap) if len(data) > room else b""))
        finally:
            os.close(fd)
    except OSError:  # the job is gone, the disk is full: nothing more to save
        return
    finally:
        os.close(output_fd)


def _read_some(fd: int) -> bytes:
    try:
        return os.read(fd, CHUNK)
    except BlockingIOError:
        return b""
