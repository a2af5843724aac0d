"""Idle CPU: how much a waiting worker (and the window, in bench/window.py) costs, from /proc/<pid>/stat."""

from __future__ import annotations

import time
from pathlib import Path

from bench.common import Figure, cpu_seconds, fresh_dir, start_worker
from worker.store import Store


def cpu_percent(pid: int, seconds: float) -> float:
    """utime + stime used by `pid` over the next `seconds`, as a percentage of one CPU."""
    before, started = cpu_seconds(pid), time.perf_counter()
    time.sleep(seconds)  # the measured interval itself
    return 100 * (cpu_seconds(pid) - before) / (time.perf_counter() - started)


def worker(work: Path, env: dict[str, str], seconds: float, runs: int) -> Figure:
    """A worker with nothing to do, after its start-up: it wakes for claims, heartbeats and rescues only."""
    fig = Figure("idle CPU: worker, nothing to do", "%", target="<= 1%", better="lower",
                 note=f"{seconds:g} s per run after start-up, utime+stime of the worker")
    for run in range(runs):
        data = fresh_dir(work, f"idle-worker-{run}")
        Store(data).close()
        proc = start_worker(data, env, work / f"idle-worker-{run}.log")
        try:
            fig.samples.append(cpu_percent(proc.pid, seconds))
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    return fig
