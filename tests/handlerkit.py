"""Running a built-in handler in-process on a file made by a test, and proving it wrote only where it may."""

from __future__ import annotations

import json
import os
import resource
import stat
import subprocess
import sys
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


def run_limited(job: Job, handler: str, memory_mib: int) -> dict[str, Any]:
    """Run the handler as the worker's child process would: in a process whose address space is capped.

    Returns the result, or {"error": "Kind: message"} if the handler raised; its peak RSS is in "maxrss_mib".
    """
    done = subprocess.run([sys.executable, "-m", "tests.handlerkit", str(memory_mib), str(job.root),
                           str(job.input), str(job.out), handler], capture_output=True, text=True, timeout=120,
                          check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def _limited_main(memory_mib: str, root: str, input_path: str, out: str, handler: str) -> None:
    limit = int(memory_mib) << 20
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    try:
        outcome = run(Job(Path(root), Path(input_path), Path(out)), handler)
    except Exception as error:  # reported to the test, which decides what was expected
        outcome = {"error": f"{type(error).__name__}: {error}"}
    outcome["maxrss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(outcome))


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


if __name__ == "__main__":
    _limited_main(*sys.argv[1:])
