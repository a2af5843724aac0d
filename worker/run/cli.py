"""`dock-worker`: run a worker from a shell, or from the window's Worker menu."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence

from worker import __version__
from worker.registry import load_registry
from worker.run import logs
from worker.run.config import DEFAULT_MEMORY_LIMIT, WorkerConfig
from worker.run.loop import Worker
from worker.store import Store
from worker.store.errors import DockError
from worker.store.leases import DEFAULT_GRACE_S, DEFAULT_LEASE_S, checked_duration

MAX_CONCURRENCY = 256
MAX_MEMORY_LIMIT_MIB = 1 << 20  # a TiB


def _seconds(text: str) -> float:
    """A duration in seconds: finite, above zero, at most a day (nan, inf, 0 and -1 are usage errors)."""
    try:
        return checked_duration(float(text), "the value")
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"expected a number of seconds above 0 and at most a day, got {text!r}"
                                         ) from error


def _whole(low: int, high: int) -> Callable[[str], int]:
    """A whole number in ASCII digits from low to high (int() also reads '３' and overflows nothing)."""
    def parse(text: str) -> int:
        if not (text.isascii() and text.isdigit()) or not low <= int(text) <= high:
            raise argparse.ArgumentTypeError(f"expected a whole number from {low} to {high:,}, got {text!r}")
        return int(text)
    return parse


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dock-worker", description="Run Processing Dock jobs.")
    parser.add_argument("--data-dir", metavar="DIR", help="the data folder (default: $DOCK_DATA_DIR or the "
                                                            "platform's user data folder)")
    parser.add_argument("--concurrency", type=_whole(1, MAX_CONCURRENCY), default=1, metavar="N",
                        help="jobs at once (default 1)")
    parser.add_argument("--grace", type=_seconds, default=DEFAULT_GRACE_S, metavar="SECONDS",
                        help="how long a handler has to stop before it is killed (default %(default)g)")
    parser.add_argument("--lease", type=_seconds, default=DEFAULT_LEASE_S, metavar="SECONDS",
                        help="a worker silent this long is presumed dead and its jobs rescued (default %(default)g)")
    parser.add_argument("--memory-limit", type=_whole(0, MAX_MEMORY_LIMIT_MIB), default=DEFAULT_MEMORY_LIMIT >> 20,
                        metavar="MIB",
                        help="address-space limit per handler process in MiB, 0 for none (default 2048)")
    parser.add_argument("--exit-when-idle", action="store_true",
                        help="exit 0 once nothing is pending or running")
    parser.add_argument("--parent-pid", type=_whole(1, 2**31 - 1), metavar="PID",
                        help="stop when this process (the window that started us) is gone")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return parser


def config_from(args: argparse.Namespace) -> WorkerConfig:
    return WorkerConfig(
        concurrency=args.concurrency, grace=args.grace, lease=args.lease, exit_when_idle=args.exit_when_idle,
        parent_pid=args.parent_pid, memory_limit=args.memory_limit << 20,
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run(args, config_from(args))


def run(args: argparse.Namespace, config: WorkerConfig) -> int:
    log = logs.setup()
    try:
        store = Store(args.data_dir, role="worker")
    except DockError as error:
        log.error("cannot open the store", error=str(error))
        return 1
    with store:
        try:
            return Worker(store, config, load_registry(), log).run()
        except DockError as error:  # e.g. locked by another program when registering: say so, no traceback
            log.error("cannot use the store", error=str(error))
            return 1
