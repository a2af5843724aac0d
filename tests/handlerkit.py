"""Running a built-in handler in-process on a file made by a test, and proving it wrote only where it may."""

from __future__ import annotations

import json
import os
import stat
import threading
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from worker.api import JobContext
from worker.handlers import BUILTINS


@dataclass
class Job:
    """A job's folders laid out as the worker lays them: input/<name> and output/, under a test's tmp_path.

    Attributes:
        root: the test's tmp_path; everything outside `out` must be unchanged by a handler.
        input: the input file.
        out: the output folder (ctx.output_dir).
        progress: every (percent, message) the handler reported.
        cancel: the event behind ctx.cancelled; set it to cancel.
    """

    root: Path
    input: Path
    out: Path
    progress: list[tuple[int, str]] = field(default_factory=list)
    cancel: threading.Event = field(default_factory=threading.Event)
    cancel_on: str | None = None  # set `cancel` when a progress message contains this

    def context(self, params: dict[str, str] | None = None) -> JobContext:
        return JobContext(1, self.input, dict(params or {}), self.out, attempt=1, on_progress=self._on_progress,
                          cancel_event=self.cancel)

    def _on_progress(self, percent: int, message: str) -> None:
        self.progress.append((percent, message))
        if self.cancel_on is not None and self.cancel_on in message:
            self.cancel.set()

    def outputs(self) -> list[str]:
        return sorted(p.name for p in self.out.iterdir())


def make_job(root: Path, name: str | bytes, data: bytes) -> Job:
    """Write `data` as input/<name> (a str, or raw bytes for names that are not UTF-8) and make output/."""
    inputs = root / "job" / "input"
    inputs.mkdir(parents=True, exist_ok=True)
    path = Path(os.fsdecode(name)) if isinstance(name, bytes) else Path(name)
    target = inputs / path
    target.write_bytes(data)
    out = root / "job" / "output"
    out.mkdir(exist_ok=True)
    return Job(root, target, out)


def run(job: Job, handler: str, params: dict[str, str] | None = None) -> dict[str, Any]:
    """Run the handler; whether it returns or raises, check that it wrote nothing outside job.out."""
    before = snapshot(job.root, skip=job.out)
    try:
        result = BUILTINS[handler](job.context(params))
    finally:
        assert snapshot(job.root, skip=job.out) == before, "the handler changed files outside its output folder"
        leftovers = [name for name in job.outputs() if name.startswith(".")]
        assert not leftovers, f"partial outputs left behind: {leftovers}"
    assert isinstance(result, dict)
    json.dumps(result)  # the worker stores it as JSON
    return result


def snapshot(root: Path, skip: Path | Collection[Path] = ()) -> dict[str, tuple[int, int, int]]:
    """Every path under root but those in `skip` (and below them): its type, and a file's size and mtime.

    Links are described, never followed; a folder's changes show as entries that appear or go.
    """
    skipped = {skip} if isinstance(skip, Path) else set(skip)
    found: dict[str, tuple[int, int, int]] = {}
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if Path(folder, d) not in skipped]
        for name in [*dirs, *files]:
            if Path(folder, name) in skipped:
                continue
            info = os.lstat(Path(folder, name))
            if stat.S_ISDIR(info.st_mode):  # a folder's own times change with any entry (SQLite's journal)
                found[os.path.relpath(Path(folder, name), root)] = (info.st_mode, 0, 0)
            else:
                found[os.path.relpath(Path(folder, name), root)] = (info.st_mode, info.st_size, info.st_mtime_ns)
    return found
