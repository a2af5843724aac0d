"""Enqueue: one job per call as `dock add` makes it, a 5,000-file batch, and huey's enqueue beside it."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from bench.common import ROOT, Figure, fresh_dir
from bench.hueyapp import make
from worker.jobs import NewJob
from worker.registry import load_registry
from worker.store import Store
from worker.uploads import prepare

SMALL_FILE = b"A small document to process.\n" * 36  # ~1 KiB


def new_job(i: int) -> NewJob:
    """A job row with no uploaded file: what the database part of an add costs alone."""
    return NewJob("noop", f"f{i}.txt", None, f"f{i}.txt", len(SMALL_FILE), {}, 3)


def _dock_single_db(data: Path, n: int) -> float:
    with Store(data) as store:
        started = time.perf_counter()
        for i in range(n):
            store.add([new_job(i)])
        return n / (time.perf_counter() - started)


def _dock_single_upload(data: Path, source: Path, n: int) -> float:
    registry = load_registry(include_plugins=False)
    with Store(data) as store:
        started = time.perf_counter()
        for _ in range(n):
            # Exactly what `dock add FILE` does once its process is up: stage a copy, choose the handler, insert.
            new_jobs, refused = prepare(store.data, [source], registry)
            assert not refused, refused
            store.add(new_jobs)
        return n / (time.perf_counter() - started)


def _huey_single(path: Path, n: int) -> float:
    queue, task = make(str(path))
    started = time.perf_counter()
    for _ in range(n):
        task()  # enqueues one message, one committed transaction, as huey users call it
    rate = n / (time.perf_counter() - started)
    queue.storage.close()
    return rate


def _cli_single(data: Path, source: Path, n: int) -> float:
    started = time.perf_counter()
    for _ in range(n):
        subprocess.run([sys.executable, "-m", "dock", "--data-dir", str(data), "add", str(source)], check=True,
                       capture_output=True, cwd=ROOT)
    return n / (time.perf_counter() - started)


def single(work: Path, n: int, runs: int, cli_calls: int) -> list[Figure]:
    """Single inserts per second: the dock's database part, its whole upload path, huey, and their ratio."""
    source = work / "one.txt"
    source.write_bytes(SMALL_FILE)
    db = Figure("enqueue, one job per call: database part (Store.add)", "jobs/s",
                note=f"{n} calls; synchronous=FULL, one fsync per commit")
    upload = Figure("enqueue, one job per call: whole upload (prepare + Store.add)", "jobs/s",
                    note=f"{n} calls of `dock add`'s path on a 1 KiB file: copy, fsync, rename, insert")
    huey = Figure("huey enqueue, one task per call (SqliteHuey)", "tasks/s", note=f"{n} calls; huey's defaults")
    ratio = Figure("ratio dock / huey: single enqueue (database part)", "x", target=">= 1",
                   note="paired per run")
    for run in range(runs):  # interleaved, so that a burst of load elsewhere hits both sides alike
        db.samples.append(_dock_single_db(fresh_dir(work, f"single-db-{run}"), n))
        huey.samples.append(_huey_single(fresh_dir(work, f"huey-enqueue-{run}") / "huey.db", n))
        upload.samples.append(_dock_single_upload(fresh_dir(work, f"single-upload-{run}"), source, n))
        ratio.samples.append(db.samples[-1] / huey.samples[-1])
    cli = Figure("`dock add FILE` as a command, one process per file", "jobs/s",
                 note=f"{cli_calls} processes; mostly Python start-up and imports")
    cli.samples.append(_cli_single(fresh_dir(work, "cli"), source, cli_calls))
    return [db, upload, huey, ratio, cli]


def batch(work: Path, count: int, runs: int) -> list[Figure]:
    """A drop of `count` files: the insert alone (one transaction), and the whole upload with the copies."""
    sources = fresh_dir(work, "batch-src")
    for i in range(count):
        (sources / f"doc{i:05d}.txt").write_bytes(SMALL_FILE)
    registry = load_registry(include_plugins=False)
    db = Figure(f"enqueue, batch of {count:,}: database part (one Store.add)", "s", better="lower",
                note="one transaction")
    whole = Figure(f"enqueue, batch of {count:,}: whole upload (prepare + Store.add)", "s", better="lower",
                   note="1 KiB files: each copied, fsynced, renamed, then one insert")
    for run in range(runs):
        with Store(fresh_dir(work, f"batch-db-{run}")) as store:
            started = time.perf_counter()
            store.add([new_job(i) for i in range(count)])
            db.samples.append(time.perf_counter() - started)
        with Store(fresh_dir(work, f"batch-upload-{run}")) as store:
            started = time.perf_counter()
            new_jobs, refused = prepare(store.data, [sources], registry)
            assert not refused and len(new_jobs) == count, refused
            store.add(new_jobs)
            whole.samples.append(time.perf_counter() - started)
    return [db, whole]
