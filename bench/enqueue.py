"""Enqueue: one job per call as `dock add` makes it, a 5,000-file batch, and huey's enqueue beside it."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from bench.common import ROOT, Figure, fresh_dir
from bench.hueyapp import make
from worker.registry import load_registry
from worker.store import Store
from worker.store.rows import NewJob
from worker.uploads import prepare

SMALL_FILE = b"A small document to process.\n" * 36  # ~1 KiB


def new_job(i: int) -> NewJob:
    """A job row with no uploaded file: what the database part of an add costs alone."""
    return NewJob("noop", f"f{i}.txt", None, f"f{i}.txt", len(SMALL_FILE), {}, 3)


def _paired_single(work: Path, run: int, n: int, warmup: int, sync: bool = True) -> tuple[float, float]:
    """Single adds into the dock and single huey enqueues, alternating call by call; (dock, huey) per second.

    Both sides pay one fsync per commit, and this disk's fsync varies by 2x from one second to the next:
    timing the sides one after the other measured the disk's mood as much as the code (paired ratios from
    0.70 to 1.14 within one run). Alternating calls puts every mood on both sides alike. `warmup` calls on
    each side first bring both write-ahead logs to their working size, as in a store that is in use; with
    none, every commit also grows its log file, which costs a metadata flush on ext4. With `sync` False both
    sides commit with synchronous=OFF: what each add costs apart from the fsync (no setting of the dock's).
    """
    queue, task = make(str(fresh_dir(work, f"huey-enqueue-{run}-{warmup}") / "huey.db"))
    with Store(fresh_dir(work, f"single-db-{run}-{warmup}")) as store:
        if not sync:
            driver = store.own_connection().connection.driver_connection
            assert driver is not None
            driver.execute("PRAGMA synchronous = OFF")
            queue.storage.conn.execute("PRAGMA synchronous = OFF")
        for i in range(warmup):
            store.add([new_job(i)])
            task()
        dock_s = huey_s = 0.0
        for i in range(n):
            started = time.perf_counter()
            store.add([new_job(i)])
            between = time.perf_counter()
            task()  # enqueues one message, one committed transaction, as huey users call it
            dock_s += between - started
            huey_s += time.perf_counter() - between
    queue.storage.close()
    return n / dock_s, n / huey_s


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


def _cli_single(data: Path, source: Path, n: int) -> float:
    started = time.perf_counter()
    for _ in range(n):
        subprocess.run([sys.executable, "-m", "dock", "--data-dir", str(data), "add", str(source)], check=True,
                       capture_output=True, cwd=ROOT)
    return n / (time.perf_counter() - started)


def single(work: Path, n: int, runs: int, cli_calls: int, fresh_calls: int, warmup: int) -> list[Figure]:
    """Single inserts per second, paired call by call with huey: into a new store and into one in use."""
    source = work / "one.txt"
    source.write_bytes(SMALL_FILE)
    figures = []
    for label, calls, before in (("a new store", fresh_calls, 0), ("a store in use", n, warmup)):
        dock = Figure(f"enqueue, one job per call, into {label}: dock (Store.add)", "jobs/s",
                      note=f"{calls} calls{f' after {before:,} each' if before else ''}; synchronous=FULL, "
                           "one fsync per commit")
        huey = Figure(f"enqueue, one job per call, into {label}: huey (SqliteHuey)", "tasks/s",
                      note="the same calls, alternating with the dock's; huey's defaults (FULL too)")
        ratio = Figure(f"ratio dock / huey: single enqueue, {label}", "x", target=">= 1" if before else "",
                       note="paired call by call")
        for run in range(runs):
            dock_rate, huey_rate = _paired_single(work, run, calls, before)
            dock.samples.append(dock_rate)
            huey.samples.append(huey_rate)
            ratio.samples.append(dock_rate / huey_rate)
        figures += [dock, huey, ratio]
    cpu_dock = Figure("enqueue, one job per call, no fsync on either side: dock", "us", better="lower",
                      note=f"{n} calls after {warmup:,}, synchronous=OFF on both: the CPU of an add")
    cpu_huey = Figure("enqueue, one job per call, no fsync on either side: huey", "us", better="lower",
                      note="the same, huey's enqueue")
    for run in range(runs):
        dock_rate, huey_rate = _paired_single(work, run, n, warmup, sync=False)
        cpu_dock.samples.append(1e6 / dock_rate)
        cpu_huey.samples.append(1e6 / huey_rate)
    figures += [cpu_dock, cpu_huey]
    upload = Figure("enqueue, one job per call: whole upload (prepare + Store.add)", "jobs/s",
                    note=f"{fresh_calls} calls of `dock add`'s path on a 1 KiB file: copy, fsync, rename, insert")
    for run in range(runs):
        upload.samples.append(_dock_single_upload(fresh_dir(work, f"single-upload-{run}"), source, fresh_calls))
    cli = Figure("`dock add FILE` as a command, one process per file", "jobs/s",
                 note=f"{cli_calls} processes; mostly Python start-up and imports")
    cli.samples.append(_cli_single(fresh_dir(work, "cli"), source, cli_calls))
    return [*figures, upload, cli]


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
    huey = Figure(f"huey: the same {count:,} tasks (task.map)", "s", better="lower",
                  note="huey has no batch enqueue: `map` commits each task on its own")
    ratio = Figure(f"ratio huey / dock: batch of {count:,} (database part)", "x", target=">= 1",
                   note="paired per run; how many times faster the dock is")
    for run in range(runs):
        queue, task = make(str(fresh_dir(work, f"huey-batch-{run}") / "huey.db"))
        started = time.perf_counter()
        task.map([()] * count)
        huey.samples.append(time.perf_counter() - started)
        queue.storage.close()
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
        ratio.samples.append(huey.samples[-1] / db.samples[-1])
    return [db, whole, huey, ratio]
