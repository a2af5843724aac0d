"""`python -m bench [--quick] [--only SECTION...]`: run the benchmarks and print the figures as a table.

Run it from the repository's root with the project installed (and huey: `pip install -e '.[bench]'`).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench import cancel, documents, drain, enqueue, idle, plugins
from bench.common import Figure, commit, machine, table

SECTIONS = ("enqueue", "drain", "cancel", "window", "idle", "documents")


@dataclass(frozen=True)
class Sizes:
    """How much each section does: the full run, or a smoke run with --quick."""

    single: int = 2000
    single_fresh: int = 300
    single_warmup: int = 1000
    single_runs: int = 5
    cli_calls: int = 10
    batch: int = 5000
    batch_runs: int = 3
    drain_runs: int = 3
    backlog_small: int = 1000
    backlog_large: int = 50_000
    large_window: int = 2000
    cancel_trials: int = 50  # per action: 50 cancels and 50 deletes
    busy_seconds: float = 10.0
    window_jobs: int = 100_000
    window_runs: int = 3
    idle_seconds: float = 30.0
    idle_runs: int = 1
    documents_runs: int = 5
    documents_per_kind: int = 20  # generated when $DOCK_BENCH_DOCUMENTS names no folder


QUICK = Sizes(single=100, single_fresh=50, single_warmup=100, single_runs=2, cli_calls=3, batch=500, batch_runs=1,
              drain_runs=1, backlog_small=300, backlog_large=5000, large_window=300, cancel_trials=6,
              busy_seconds=2.0, window_jobs=10_000, window_runs=1, idle_seconds=3.0, documents_runs=1,
              documents_per_kind=3)


def sections(work: Path, env: dict[str, str], sizes: Sizes) -> dict[str, Callable[[], list[Figure]]]:
    def window() -> list[Figure]:
        from bench.window import run as run_window  # imports Qt: only when asked for

        return run_window(work, sizes.window_jobs, sizes.window_runs, sizes.idle_seconds)

    return {
        "enqueue": lambda: (enqueue.single(work, sizes.single, sizes.single_runs, sizes.cli_calls,
                                           sizes.single_fresh, sizes.single_warmup)
                            + enqueue.batch(work, sizes.batch, sizes.batch_runs)),
        "drain": lambda: drain.run(work, env, sizes.drain_runs, sizes.backlog_small, sizes.backlog_large,
                                   sizes.large_window),
        "cancel": lambda: cancel.run(work, env, sizes.cancel_trials, sizes.busy_seconds),
        "window": window,
        "idle": lambda: [idle.worker(work, env, sizes.idle_seconds, sizes.idle_runs)],
        "documents": lambda: documents.run(work, sizes.documents_runs, sizes.documents_per_kind),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a fast smoke run with small sizes (figures not "
                                                             "comparable with a full run)")
    parser.add_argument("--only", nargs="+", choices=SECTIONS, default=list(SECTIONS), metavar="SECTION",
                        help=f"run only these sections: {', '.join(SECTIONS)}")
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else Sizes()
    print(f"commit {commit()}\nmachine: {machine()}\n", flush=True)
    figures: list[Figure] = []
    with tempfile.TemporaryDirectory(prefix="dock-bench-") as tmp:
        work = Path(tmp)
        env = plugins.install(work / "site")  # `noop` and `quiet`, installed as real plugins
        runs = sections(work, env, sizes)
        for name in args.only:
            started = time.perf_counter()
            print(f"running {name}...", file=sys.stderr, flush=True)
            figures += runs[name]()
            print(f"  {name} took {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
    print(table(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
