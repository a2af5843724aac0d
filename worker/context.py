"""What a handler sees of its job: the public contract plugin authors write against."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path


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
        input_path: Path,
        params: dict[str, str],
        output_dir: Path,
        log: logging.Logger | None = None,
        attempt: int = 1,
        on_progress: ProgressSink | None = None,
        cancel_event: threading.Event | None = None,
    ) -> None:
        self.job_id = job_id
        self.input_path = input_path
        self.params = params
        self._output_dir = output_dir
        self._output_made = False
        self.log = log or logging.getLogger(f"dock.job.{job_id}")
        self.attempt = attempt
        self._on_progress = on_progress
        self._cancel_event = cancel_event or threading.Event()

    @property
    def output_dir(self) -> Path:
        # Made on first use: a job that writes nothing costs no folder (a handler that takes a millisecond
        # would otherwise spend most of its time on it).
        if not self._output_made:
            try:
                self._output_dir.mkdir(mode=0o700, exist_ok=True)
            except FileNotFoundError:  # the first attempt of a job made without an upload
                self._output_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            self._output_made = True
        return self._output_dir

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
