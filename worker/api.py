"""The handler API: everything a handler (built-in or plugin) may use, and nothing else of the engine.

A handler is a function of one `JobContext` that returns a JSON-serialisable dict (or None). It declares what it
accepts with the `handler` decorator, stops when asked (`JobCancelled`), and says with `PermanentError` that its
input can never succeed, so that the job fails at once instead of being retried.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar


class PermanentError(Exception):
    """This input can never succeed: the job fails now, whatever attempts it has left, with this message.

    Raise it for what no retry can fix (a damaged, encrypted or empty file, the wrong kind of file, a file over a
    limit); any other exception fails the attempt and the retry policy decides. BullMQ calls this an
    UnrecoverableError, Oban a {:cancel, reason}.
    """


class JobCancelled(Exception):
    """Raised by `ctx.check()` and `ctx.progress()` once the job was cancelled, deleted or force-failed.

    A handler may let it propagate (the usual way) or return; either is a clean stop.
    """


ProgressSink = Callable[[int, str], None]


class JobContext:
    """The one argument a handler receives.

    Attributes:
        job_id: the job's id.
        input_path: the job's own copy of the uploaded file.
        params: the job's parameters (strings, as given with --param KEY=VALUE).
        output_dir: an empty folder owned by this attempt, made when first asked for: write results here and
            nowhere else. It becomes the job's output/ if the attempt completes.
        log: a logger whose records go to the job's log file (`dock show ID --log`).
        attempt: which attempt this is, from 1.
    """

    def __init__(
        self,
        job_id: int,
        input_path: Path | str,
        params: dict[str, str],
        output_dir: Path | str,
        log: logging.Logger | None = None,
        attempt: int = 1,
        on_progress: ProgressSink | None = None,
        cancel_event: threading.Event | None = None,
    ) -> None:
        self.job_id = job_id
        self._input_path = input_path
        self.params = params
        self._output_dir = output_dir
        self._output_made: Path | None = None
        self.log = log or logging.getLogger(f"dock.job.{job_id}")
        self.attempt = attempt
        self._on_progress = on_progress
        self._cancel_event = cancel_event or threading.Event()

    @property
    def input_path(self) -> Path:
        # Paths are made when asked for: for a handler that takes a millisecond, building them cost a tenth.
        if not isinstance(self._input_path, Path):
            self._input_path = Path(self._input_path)
        return self._input_path

    @property
    def output_dir(self) -> Path:
        # Made on first use: a job that writes nothing costs no folder (a handler that takes a millisecond
        # would otherwise spend most of its time on it).
        if self._output_made is None:
            folder = Path(self._output_dir)
            try:
                folder.mkdir(mode=0o700, exist_ok=True)
            except FileNotFoundError:  # the first attempt of a job made without an upload
                folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            self._output_made = folder
        return self._output_made

    @property
    def cancelled(self) -> bool:
        """True once the dock asked this job to stop."""
        return self._cancel_event.is_set()

    def check(self) -> None:
        """Raise JobCancelled if the job should stop; call it between units of work."""
        if self._cancel_event.is_set():
            raise JobCancelled(f"job {self.job_id} was cancelled")

    def progress(self, percent: float, message: str = "") -> None:
        """Report progress (0-100) with a short step message; also a cancellation check.

        Cheap to call often: the worker coalesces what reaches the database to a few writes a second.
        """
        self.check()
        if self._on_progress is not None:
            self._on_progress(max(0, min(100, int(percent))), str(message))

    def param(self, name: str, default: str) -> str:
        return self.params.get(name, default)


HandlerFunc = Callable[["JobContext"], dict[str, Any] | None]
Sniffer = Callable[[bytes], bool]
F = TypeVar("F", bound=Callable[..., Any])


def handler(
    extensions: Iterable[str] = (),
    sniff: Sniffer | None = None,
    timeout: float | None = None,
    description: str = "",
) -> Callable[[F], F]:
    """Declare what a handler accepts, for plugin authors and built-ins alike.

    extensions: file suffixes such as ".epub" that this handler takes.
    sniff: given the file's first bytes, True if the content is this handler's kind (content beats suffix).
    timeout: the default per-job time limit in seconds (the job's `timeout` param overrides it).
    """

    def mark(func: F) -> F:
        func.dock_extensions = tuple(e.lower() for e in extensions)  # type: ignore[attr-defined]
        func.dock_sniff = sniff  # type: ignore[attr-defined]
        func.dock_timeout = timeout  # type: ignore[attr-defined]
        func.dock_description = description or (func.__doc__ or "").strip().split("\n")[0]  # type: ignore[attr-defined]
        return func

    return mark
