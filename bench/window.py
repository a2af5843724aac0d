"""The window over 100,000 jobs: first paint, a 100-row refresh on the GUI thread, memory, idle CPU."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from bench.common import ROOT, Figure, fresh_dir, percentile
from bench.enqueue import new_job
from worker.store import Store


def _store_with(data: Path, count: int) -> None:
    with Store(data) as store:
        for start in range(0, count, 10_000):
            store.add([new_job(i) for i in range(start, min(count, start + 10_000))])


def run(work: Path, jobs: int, runs: int, idle_seconds: float, refreshes: int = 10) -> list[Figure]:
    data = fresh_dir(work, "window")
    _store_with(data, jobs)
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    paint = Figure(f"window, {jobs:,} jobs: start -> first paint of the list", "s", target="", better="lower",
                   note="new process to the list painted with every row loaded (offscreen Qt)")
    refresh = Figure(f"window, {jobs:,} jobs: refresh of 100 changed rows, GUI thread", "ms", target="<= 16 ms",
                     better="lower", note=f"{refreshes} refreshes per run: apply the diff + repaint the view")
    latency = Figure(f"window, {jobs:,} jobs: commit -> change on screen", "ms", target="<= 500 ms",
                     better="lower", note="another connection commits; the poller finds and applies it")
    memory = Figure(f"window, {jobs:,} jobs: memory (RSS)", "MiB", better="lower", note="after the first paint")
    idle = Figure("idle CPU: window, nothing changing", "%", target="<= 1%", better="lower",
                  note=f"{idle_seconds:g} s, the whole window process (GUI + poll thread)")
    for run_no in range(runs):
        out = subprocess.run([sys.executable, "-m", "bench.window_probe", str(data),
                              str(work / f"window-{run_no}.ini"), str(refreshes), str(idle_seconds)],
                             capture_output=True, text=True, check=True, env=env, cwd=ROOT, timeout=600)
        found = json.loads(out.stdout.strip().splitlines()[-1])
        paint.samples.append(found["first_paint_s"])
        refresh.samples.extend(found["refresh_ms"])
        latency.samples.extend(found["latency_ms"])
        memory.samples.append(found["rss_mib"])
        idle.samples.append(found["idle_cpu"])
    refresh.spread_text = f"p95 {percentile(refresh.samples, 95):.1f}, max {max(refresh.samples):.1f}"
    latency.spread_text = f"p95 {percentile(latency.samples, 95):.0f}, max {max(latency.samples):.0f}"
    return [paint, refresh, latency, memory, idle]
