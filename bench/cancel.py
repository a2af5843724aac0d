"""Cancel latency: from a cancel or delete committed to the handler stopped, over many trials at random moments."""

from __future__ import annotations

import json
import random
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench.common import Figure, cpu_seconds, fmt, fresh_dir, percentile, poll_until, start_worker
from worker.store import Store
from worker.store.rows import NewJob
from worker.store.states import JobStatus

# The event the worker logs once the handler of a cancelled (or deleted) job has stopped.
STOPPED = {"cancel": "handler stopped", "delete": "deleted job's files removed"}


@dataclass
class Trials:
    """Jobs acted on: job id -> (action, wall-clock time the action committed)."""

    acted: dict[int, tuple[str, float]] = field(default_factory=dict)

    def latencies(self, log: Path) -> dict[str, list[float]]:
        stopped: dict[int, float] = {}
        for line in log.read_text().splitlines():
            try:
                event = json.loads(line)
            except ValueError:  # a traceback from a handler process (see the report); not an event
                continue
            job = event.get("job")
            if job in self.acted and event.get("event") == STOPPED[self.acted[job][0]]:
                stopped.setdefault(job, event["ts"])
        found: dict[str, list[float]] = {"cancel": [], "delete": []}
        for job, (action, committed) in self.acted.items():
            if job in stopped:
                found[action].append(stopped[job] - committed)
        return found


def _start_worker(data: Path, env: dict[str, str], log: Path, poll_only: bool, concurrency: int,
                  ) -> subprocess.Popen[bytes]:
    module = ("-m", "bench.pollonly") if poll_only else ("-m", "worker")
    return start_worker(data, env, log, "--concurrency", str(concurrency), module=module)


def _long_job(i: int, handler: str) -> NewJob:
    return NewJob(handler, f"long{i}.txt", None, f"long{i}.txt", 0, {"seconds": "60"}, 3)


def trials(work: Path, env: dict[str, str], count: int, handler: str, poll_only: bool = False,
           concurrency: int = 4) -> dict[str, list[float]]:
    """`count` cancels and `count` deletes of running jobs, each at a random moment of its run.

    The moment is random (0-1 s after the job is seen running) so that it falls anywhere in the worker's
    one-second status poll; acting right after a start would line up with the poll and flatter it.
    """
    name = f"cancel-{handler}-{'poll-only' if poll_only else 'default'}"
    data = fresh_dir(work, name)
    log = work / f"{name}.log"
    done = Trials()
    with Store(data) as store:
        proc = _start_worker(data, env, log, poll_only, concurrency)
        try:
            active: dict[int, float | None] = {}  # job -> when to act on it (perf_counter), once it runs
            added = 0
            while len(done.acted) < 2 * count:
                while len(active) < concurrency and added < 2 * count:
                    (job,) = store.add([_long_job(added, handler)])
                    active[job] = None
                    added += 1
                now = time.perf_counter()
                for job, row in store.get_many([j for j, at in active.items() if at is None]).items():
                    if row.status is JobStatus.RUNNING:
                        active[job] = now + random.uniform(0.0, 1.0)
                for job, at in list(active.items()):
                    if at is not None and now >= at:
                        action = "cancel" if len(done.acted) % 2 == 0 else "delete"
                        (store.cancel if action == "cancel" else store.delete)(job)
                        done.acted[job] = (action, time.time())
                        del active[job]
                time.sleep(0.005)  # the benchmark's own poll of its jobs, not a synchronisation
            poll_until(lambda: len([v for vs in done.latencies(log).values() for v in vs]) == 2 * count, 30,
                       what="every handler to stop")
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    return done.latencies(log)


def figure(name: str, values: list[float], target: str, note: str) -> Figure:
    fig = Figure(name, "s", samples=values, target=target, note=note, better="lower")
    fig.spread_text = f"p95 {fmt(percentile(values, 95))}, max {fmt(max(values))}"
    return fig


def busy_cpu(work: Path, env: dict[str, str], poll_only: bool, seconds: float) -> float:
    """CPU % of a worker (not its handler) while one quiet job runs: what the change check costs."""
    name = f"busy-{'poll-only' if poll_only else 'default'}"
    data = fresh_dir(work, name)
    with Store(data) as store:
        proc = _start_worker(data, env, work / f"{name}.log", poll_only, 1)
        try:
            (job,) = store.add([_long_job(0, "quiet")])
            poll_until(lambda: store.get(job).status is JobStatus.RUNNING, 30, what="the job to run")
            before, started = cpu_seconds(proc.pid), time.perf_counter()
            time.sleep(seconds)  # the measured interval itself
            used = cpu_seconds(proc.pid) - before
            return 100 * used / (time.perf_counter() - started)
        finally:
            proc.terminate()
            proc.wait(timeout=30)


def run(work: Path, env: dict[str, str], count: int, busy_seconds: float) -> list[Figure]:
    quiet = trials(work, env, count, "quiet")
    both = quiet["cancel"] + quiet["delete"]
    chatty = trials(work, env, max(5, count // 2), "sleep")
    chatty_all = chatty["cancel"] + chatty["delete"]
    slow = trials(work, env, max(5, count // 2), "quiet", poll_only=True)
    slow_all = slow["cancel"] + slow["delete"]
    return [
        figure("cancel committed -> handler stopped: p50", quiet["cancel"], "p95 <= 1.1 s",
               f"{len(quiet['cancel'])} trials; a handler that never reports progress (`quiet`)"),
        figure("delete committed -> handler stopped, files gone: p50", quiet["delete"], "p95 <= 1.1 s",
               f"{len(quiet['delete'])} trials; the same handler"),
        figure("cancel or delete -> stopped, all trials: p50", both, "p95 <= 1.1 s", f"{len(both)} trials"),
        figure("the same, handler reporting progress: p50", chatty_all, "p95 <= 1.1 s",
               f"{len(chatty_all)} trials; built-in `sleep`: a refused progress write reveals the cancel"),
        figure("the same, no progress, 1 s poll only (no change check): p50", slow_all, "",
               f"{len(slow_all)} trials; what the worker did before: bench/pollonly.py"),
        Figure("worker CPU while one job runs (default)", "%", [busy_cpu(work, env, False, busy_seconds)],
               better="lower", note=f"{busy_seconds:g} s; the worker process alone; 1 s poll + 0.1 s change check"),
        Figure("worker CPU while one job runs, 1 s poll only", "%",
               [busy_cpu(work, env, True, busy_seconds)], better="lower",
               note=f"{busy_seconds:g} s; the worker process alone"),
    ]
