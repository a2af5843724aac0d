"""What every benchmark shares: figures with their spread, the machine, CPU time from /proc, worker helpers."""

from __future__ import annotations

import math
import os
import platform
import shutil
import sqlite3
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CLK_TCK = os.sysconf("SC_CLK_TCK")


@dataclass
class Figure:
    """One row of the table: a median over `samples`, shown with its min-max spread.

    Attributes:
        name: what was measured.
        unit: the unit of every sample ("jobs/s", "ms", ...).
        samples: one value per run.
        target: the goal from the issue, as text ("" when there is none).
        note: how it was measured, in a few words.
        better: "higher" or "lower": which way the target points.
        spread_text: shown instead of min-max when set.
    """

    name: str
    unit: str
    samples: list[float] = field(default_factory=list)
    target: str = ""
    note: str = ""
    better: str = "higher"
    spread_text: str | None = None  # replaces min-max where a distribution says more (p95, max)

    @property
    def median(self) -> float:
        return statistics.median(self.samples) if self.samples else float("nan")

    def spread(self) -> str:
        if self.spread_text is not None:
            return self.spread_text
        if len(self.samples) < 2:
            return "(1 run)"
        return f"{fmt(min(self.samples))}-{fmt(max(self.samples))}"


def fmt(value: float) -> str:
    """Three significant figures, without scientific notation for the sizes we see."""
    if math.isnan(value):  # nothing measured
        return "-"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}" if abs(value) >= 1 else f"{value:.3f}"


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) by linear interpolation, as numpy's default does."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = (len(ordered) - 1) * q / 100
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def table(figures: Sequence[Figure]) -> str:
    """A Markdown table: readable in a terminal, pasteable into bench/README.md."""
    header = ("Figure", "Median", "Spread (min-max)", "Samples", "Target", "How")
    body = [(f.name, f"{fmt(f.median)} {f.unit}", f.spread(), str(len(f.samples)), f.target, f.note)
            for f in figures]
    widths = [max(len(row[i]) for row in [header, *body]) for i in range(len(header))]
    numeric = {1, 2, 3}

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(c.rjust(w) if i in numeric else c.ljust(w)
                                 for i, (c, w) in enumerate(zip(cells, widths, strict=True))) + " |"

    rule = "| " + " | ".join("-" * (w - 1) + ":" if i in numeric else "-" * w for i, w in enumerate(widths)) + " |"
    return "\n".join([line(header), rule, *map(line, body)])


def commit() -> str:
    result = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                            check=False)
    dirty = subprocess.run(["git", "status", "--porcelain", "--", "worker", "dock"], cwd=ROOT, capture_output=True,
                           text=True, check=False).stdout.strip()
    return result.stdout.strip() + (" (+ uncommitted changes in worker/ or dock/)" if dirty else "")


def machine() -> str:
    """CPU model and count, memory, OS, Python and SQLite versions, and the load when the run began."""
    model = "unknown CPU"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        total_kib = int(f.readline().split()[1])
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return (f"{model}, {os.cpu_count()} CPUs, {total_kib / 2**20:.0f} GiB RAM; {platform.system()} "
            f"{platform.release()}; Python {platform.python_version()}; SQLite {sqlite3.sqlite_version}; "
            f"load average at start {load}")


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process, in seconds (fields 14 and 15 of /proc/<pid>/stat)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def poll_until(condition: Callable[[], bool], timeout: float, interval: float = 0.02, what: str = "") -> float:
    """Poll until `condition()` is true; returns the perf_counter time it first was. Fails after `timeout`."""
    deadline = time.perf_counter() + timeout
    while True:
        if condition():
            return time.perf_counter()
        if time.perf_counter() > deadline:
            raise TimeoutError(f"timed out after {timeout} s waiting for {what or condition}")
        time.sleep(interval)  # a benchmark's poll between checks, each with a deadline


def fresh_dir(parent: Path, name: str) -> Path:
    path = parent / name
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


def python() -> str:
    return sys.executable


def start_worker(data: Path, env: dict[str, str], log: Path, *args: str, module: Sequence[str] = ("-m", "worker"),
                 ) -> subprocess.Popen[bytes]:
    """A real worker subprocess logging to `log`, returned once it has logged that it started."""
    with log.open("w") as err:
        proc = subprocess.Popen([sys.executable, *module, "--data-dir", str(data), *args], stderr=err, env=env,
                                cwd=ROOT)
    poll_until(lambda: "worker started" in log.read_text(), 30, what="the worker to start")
    return proc
