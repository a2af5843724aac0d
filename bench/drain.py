"""Drain: no-op jobs finished per second by one real worker, at two backlogs, against huey's consumer."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench.common import ROOT, Figure, fresh_dir
from bench.enqueue import new_job
from bench.hueyapp import ENV_DB, ENV_RESULTS, QUEUE, make
from worker.store import Store

POLL_S = 0.05  # both queues are watched from outside the same way, with a cheap indexed count


@dataclass(frozen=True)
class Window:
    """Which part of a drain is timed: after `skip` jobs (start-up), the next `count` jobs."""

    skip: int
    count: int


def measure(remaining: Callable[[], int], start: int, window: Window, timeout: float) -> float:
    """Jobs per second between `window.skip` and `window.skip + window.count` jobs done, seen from outside."""
    deadline = time.perf_counter() + timeout
    first: tuple[float, int] | None = None
    while time.perf_counter() < deadline:
        left = remaining()
        now = time.perf_counter()
        done = start - left
        if first is None and done >= window.skip:
            first = (now, left)
        elif first is not None and done >= window.skip + window.count:
            return (first[1] - left) / (now - first[0])
        time.sleep(POLL_S)  # a poll of a count, with a deadline
    raise TimeoutError(f"the queue did not drain {window.count} jobs within {timeout} s")


def _counter(db: Path, sql: str) -> Callable[[], int]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    return lambda: int(conn.execute(sql).fetchone()[0])


def _stop(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    if proc.poll() is None:
        proc.send_signal(sig)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


class DockSide:
    """One data folder and the worker that drains it."""

    def __init__(self, data: Path, env: dict[str, str]) -> None:
        self.data = data
        self.env = env
        with Store(data) as store:
            self.db = store.data.database

    def load(self, n: int) -> None:
        with Store(self.data) as store:
            for start in range(0, n, 10_000):
                store.add([new_job(i) for i in range(start, min(n, start + 10_000))])

    def drain(self, window: Window, log: Path, exit_when_idle: bool, concurrency: int = 1) -> float:
        remaining = _counter(self.db, "SELECT count(*) FROM jobs WHERE status IN ('pending', 'running')")
        start = remaining()
        args = [sys.executable, "-m", "worker", "--data-dir", str(self.data), "--concurrency", str(concurrency)]
        with log.open("w") as err:
            proc = subprocess.Popen(args + (["--exit-when-idle"] if exit_when_idle else []), stderr=err,
                                    env=self.env, cwd=ROOT)
            try:
                rate = measure(remaining, start, window, timeout=600)
                if exit_when_idle:
                    proc.wait(timeout=120)
            finally:
                _stop(proc)
        return rate


class HueySide:
    """One SqliteHuey file and huey's own consumer with one worker draining it."""

    def __init__(self, path: Path, results: bool = True) -> None:
        self.path = path
        self.queue, self.task = make(str(path))
        self.env = {**os.environ, ENV_DB: str(path), ENV_RESULTS: "1" if results else "0",
                    "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}

    def load(self, n: int) -> None:
        # The same messages task() would enqueue, inserted in one transaction as the dock's backlog is.
        rows = [(QUEUE, self.queue.serialize_task(self.task.s()), 0) for _ in range(n)]
        with sqlite3.connect(self.path) as conn:
            conn.executemany("INSERT INTO task (queue, data, priority) VALUES (?, ?, ?)", rows)

    def drain(self, window: Window, log: Path, until_empty: bool, workers: int = 1) -> float:
        remaining = _counter(self.path, f"SELECT count(*) FROM task WHERE queue = '{QUEUE}'")
        start = remaining()
        args = [sys.executable, "-m", "huey.bin.huey_consumer", "bench.hueyapp.huey", "--workers", str(workers),
                "--worker-type", "thread", "--no-periodic"]
        with log.open("w") as err:
            proc = subprocess.Popen(args, stderr=err, stdout=err, env=self.env, cwd=ROOT)
            try:
                rate = measure(remaining, start, window, timeout=600)
                if until_empty:
                    deadline = time.perf_counter() + 120
                    while remaining() and time.perf_counter() < deadline:
                        time.sleep(POLL_S)  # the tail of the queue, so the next run starts empty
            finally:
                _stop(proc)
        return rate


def run(work: Path, env: dict[str, str], runs: int, small: int, large: int, large_window: int) -> list[Figure]:
    """Both queues at a small and a large backlog; every run starts a fresh worker/consumer.

    huey drains twice per dock run: as configured (its no-op returns a small result, which it stores, as the
    dock stores every job's result) and with a no-op that returns None, for which huey writes no result row.
    """
    dock_small = DockSide(fresh_dir(work, "drain-small"), env)
    dock_large = DockSide(fresh_dir(work, "drain-large"), env)
    hueys = {(size, results): HueySide(fresh_dir(work, f"huey-{size}-{results}") / "huey.db", results)
             for size in ("small", "large") for results in (True, False)}
    logs = fresh_dir(work, "drain-logs")
    skip = min(50, small // 10)
    small_window = Window(skip, small - 2 * skip)
    dock_large.load(large)
    for results in (True, False):
        hueys["large", results].load(large)
    figures = []
    for label, dock_side, window, backlog, slots in (
        ("small", dock_small, small_window, small, 1),
        ("large", dock_large, Window(skip, large_window), large, 1),
        ("small", dock_small, small_window, small, 4),
    ):
        how = "one worker" if slots == 1 else f"one worker, --concurrency {slots}"
        huey_how = "one consumer worker" if slots == 1 else f"one consumer, --workers {slots}"
        per_slots = "" if slots == 1 else f", {slots} slots"
        dock_fig = Figure(f"drain, backlog {backlog:,}: dock, {how}", "jobs/s",
                          note=f"no-op plugin handler in reused child processes; {window.count:,} jobs timed")
        huey_figs = {results: Figure(f"drain, backlog {backlog:,}: huey, {huey_how}"
                                     + ("" if results else ", no result stored"), "tasks/s",
                                     note=f"no-op task, thread workers; {window.count:,} tasks timed")
                     for results in (True, False)}
        ratios = {results: Figure(f"ratio dock / huey: drain at backlog {backlog:,}{per_slots}"
                                  + ("" if results else ", huey storing no result"), "x", target=">= 1",
                                  note="paired per run") for results in (True, False)}
        for run_no in range(runs):
            if label == "small":  # the large backlog is loaded once; each run drains a window of it
                dock_side.load(backlog)
                for results in (True, False):
                    hueys[label, results].load(backlog)
            name = f"{label}-{slots}-{run_no}"
            dock_fig.samples.append(dock_side.drain(window, logs / f"dock-{name}.log", exit_when_idle=label == "small",
                                                    concurrency=slots))
            for results in (True, False):
                huey_side = hueys[label, results]
                huey_figs[results].samples.append(huey_side.drain(
                    window, logs / f"huey-{name}-{results}.log", until_empty=label == "small", workers=slots))
                ratios[results].samples.append(dock_fig.samples[-1] / huey_figs[results].samples[-1])
        figures += [dock_fig, huey_figs[True], ratios[True], huey_figs[False], ratios[False]]
    return figures
