"""Documents: files per second through the built-in document handlers, beside the bare libraries they build on."""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench.common import Figure, fresh_dir
from bench.docset import BARE, by_kind, documents, generate
from worker.api import JobContext, PermanentError
from worker.handlers import BUILTINS


@dataclass
class Pass:
    """One timed pass over the files of a kind: how long it took, and how many files failed."""

    seconds: float
    failed: int


def handler_pass(kind: str, files: list[Path], out: Path) -> Pass:
    """Each file through its handler in this process, as the worker's child calls it (outputs written)."""
    func, failed = BUILTINS[kind], 0
    started = time.perf_counter()
    for number, path in enumerate(files):
        try:
            func(JobContext(number, path, {}, out / str(number)))
        except PermanentError:  # an encrypted or damaged file: fails once, as in the dock
            failed += 1
    seconds = time.perf_counter() - started
    shutil.rmtree(out, ignore_errors=True)
    return Pass(seconds, failed)


def bare_pass(read: Callable[[Path], int], files: list[Path]) -> Pass:
    failed = 0
    started = time.perf_counter()
    for path in files:
        try:
            read(path)
        except Exception:  # the bare library gives up on this file; the handler's figure says what it did
            failed += 1
    return Pass(time.perf_counter() - started, failed)


def run(work: Path, runs: int, per_kind: int) -> list[Figure]:
    """Every kind: the handler and each bare library over the same files, alternating, `runs` times."""
    # The handlers log each skipped chapter and pypdf each font it cannot parse: warnings, not figures.
    for name in ("dock", "pypdf"):
        logging.getLogger(name).setLevel(logging.ERROR)
    source, kinds = documents()
    if not kinds:
        source = f"generated: {per_kind} of each kind"
        kinds = by_kind(generate(fresh_dir(work, "documents"), per_kind))
    figures: list[Figure] = []
    total_files, total_seconds = 0, [0.0] * runs
    for kind, files in kinds.items():
        handled, bare = _measure(work, kind, files, runs)
        total_files += len(files)
        total_seconds = [a + b.seconds for a, b in zip(total_seconds, handled, strict=True)]
        figures += _figures(kind, files, handled, bare)
    figures.append(Figure(f"documents: all {total_files} files through the handlers", "docs/s",
                          [total_files / s for s in total_seconds], note=f"{source or 'the folder'}"))
    return figures


def _measure(work: Path, kind: str, files: list[Path], runs: int) -> tuple[list[Pass], dict[str, list[Pass]]]:
    handled: list[Pass] = []
    bare: dict[str, list[Pass]] = {name: [] for name, _ in BARE[kind]}
    for number in range(runs):
        steps: list[Callable[[], None]] = [lambda: handled.append(handler_pass(kind, files, work / "doc-out"))]
        steps += [lambda n=name, r=read: bare[n].append(bare_pass(r, files)) for name, read in BARE[kind]]  # type: ignore[misc]
        for step in steps if number % 2 == 0 else reversed(steps):  # alternate, so no side always runs warm
            step()
    return handled, bare


def _figures(kind: str, files: list[Path], handled: list[Pass], bare: dict[str, list[Pass]]) -> list[Figure]:
    count = len(files)
    what = f"documents: {kind} ({count} files"
    figures = [Figure(f"{what}) through the `{kind}` handler", "docs/s", [count / p.seconds for p in handled],
                      note=f"in-process, outputs written; {handled[0].failed} failed once (permanent)")]
    for name, passes in bare.items():
        figures.append(Figure(f"{what}): bare {name}", "docs/s", [count / p.seconds for p in passes],
                              note=f"text only, no limits; {passes[0].failed} files it could not read"))
        figures.append(Figure(f"{what}): handler time / bare {name}", "x", better="lower",
                              samples=[h.seconds / b.seconds for h, b in zip(handled, passes, strict=True)],
                              note="paired per run; above 1: the handler takes longer"))
    return figures
