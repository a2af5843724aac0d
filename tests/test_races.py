"""Real processes racing on one store: every outcome legal, no job claimed twice, never "database is locked"."""

from __future__ import annotations

import multiprocessing
import random
import sqlite3
import traceback
from collections import Counter
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import new_job
from worker.store import Store
from worker.store.errors import TransitionRefused
from worker.store.schema import SCHEMA_HEAD
from worker.store.states import JobStatus

# Spawned, never forked: a forked child would inherit the parent's open SQLite connections.
SPAWN = multiprocessing.get_context("spawn")
DEADLINE_S = 120


def _report(results: Queue[Any], index: int, work: Any, *args: Any) -> None:
    """Run `work` and send back what it returned, or its traceback: a child must never fail silently."""
    try:
        results.put((index, "ok", work(*args)))
    except BaseException:
        results.put((index, "error", traceback.format_exc()))


def _user_side(data_dir: str, action: str, ids: list[int], start: Barrier) -> dict[int, str]:
    """The window or the CLI: cancel (or force-fail) each job the moment the worker tries to finish it."""
    outcome = {}
    with Store(data_dir) as store:
        act = store.cancel if action == "cancel" else store.force_fail
        for job_id in ids:
            start.wait()
            try:
                act(job_id, by="user")
                outcome[job_id] = "won"
            except TransitionRefused as refused:
                assert refused.status is JobStatus.COMPLETED, refused
                outcome[job_id] = "lost"
    return outcome


def _worker_side(data_dir: str, ids: list[int], token: str, start: Barrier) -> dict[int, str]:
    outcome = {}
    with Store(data_dir, role="worker") as store:
        for job_id in ids:
            start.wait()
            won = store.complete(job_id, token, {"job": job_id}, "racer")
            outcome[job_id] = "won" if won else "lost"
    return outcome


def _claimer(data_dir: str, name: str, start: Barrier) -> list[int]:
    claimed: list[int] = []
    rng = random.Random(name)
    with Store(data_dir, role="worker") as store:
        worker_id = store.register_worker(pid=0, host=name, concurrency=4, worker_id=name)
        start.wait()
        while True:
            claims = store.claim(worker_id, limit=rng.randint(1, 4))
            if not claims and not store.has_due_work():
                break
            for claim in claims:
                claimed.append(claim.job_id)
                if claim.job_id % 3 == 0:
                    assert store.fail(claim.job_id, claim.token, "odd one", None, worker_id) == "failed"
                else:
                    assert store.complete(claim.job_id, claim.token, None, worker_id)
    return claimed


def _run_all(targets: list[tuple[Any, tuple[Any, ...]]]) -> list[Any]:
    results: Queue[Any] = SPAWN.Queue()
    processes = [SPAWN.Process(target=_report, args=(results, index, work, *args))
                 for index, (work, args) in enumerate(targets)]
    for process in processes:
        process.start()
    try:
        answers = sorted(results.get(timeout=DEADLINE_S) for _ in processes)  # in the order of `targets`
    finally:
        for process in processes:
            process.join(timeout=DEADLINE_S)
            if process.is_alive():
                process.kill()
    errors = [text for _, kind, text in answers if kind == "error"]
    assert not errors, "\n".join(errors)
    return [value for _, _, value in answers]


def _check_constraints(database: Path) -> None:
    raw = sqlite3.connect(database)
    try:
        assert raw.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert raw.execute("PRAGMA foreign_key_check").fetchall() == []
        broken = raw.execute(
            "SELECT id, status FROM jobs WHERE claim_token IS NOT NULL AND status <> 'running'"
            " OR (status = 'completed' AND (progress <> 100 OR finished_at < started_at))"
            " OR (status = 'cancelled' AND cancelled_at IS NULL)"
            " OR (status IN ('completed', 'failed', 'cancelled') AND finished_at IS NULL)"
        ).fetchall()
        assert broken == []
    finally:
        raw.close()


@pytest.mark.parametrize(("action", "rounds"), [("cancel", 1000), ("fail", 300)])
def test_user_action_racing_a_finishing_worker(data_dir: Path, action: str, rounds: int) -> None:
    with Store(data_dir) as store:
        ids = store.add([new_job(f"race {i}", max_attempts=1) for i in range(rounds)])
        claims = store.claim("racer", limit=rounds)
        assert [c.job_id for c in claims] == ids
        token = claims[0].token
    start = SPAWN.Barrier(2)
    user, worker = _run_all([(_user_side, (str(data_dir), action, ids, start)),
                             (_worker_side, (str(data_dir), ids, token, start))])
    loser = JobStatus.CANCELLED if action == "cancel" else JobStatus.FAILED
    tally: Counter[str] = Counter()
    with Store(data_dir) as store:
        jobs = store.get_many(ids)
        for job_id in ids:
            # Exactly one side won, and the row says which.
            assert {user[job_id], worker[job_id]} == {"won", "lost"}, job_id
            expected = loser if user[job_id] == "won" else JobStatus.COMPLETED
            job = jobs[job_id]
            assert job.status is expected
            assert job.claimed_by is None
            assert (job.result is not None) == (expected is JobStatus.COMPLETED)
            history = [(e.from_status, e.to_status) for e in store.history(job_id)]
            assert history == [(None, "pending"), ("pending", "running"), ("running", expected.value)]
            tally[expected.value] += 1
    _check_constraints(data_dir / "dock.sqlite3")
    assert sum(tally.values()) == rounds
    assert len(tally) == 2, f"one side always won, so nothing raced: {tally}"


def test_claimers_never_claim_a_job_twice(data_dir: Path) -> None:
    backlog = 600
    with Store(data_dir) as store:
        ids = store.add([new_job(f"backlog {i}", max_attempts=1) for i in range(backlog)])
    names = [f"claimer-{i}" for i in range(4)]
    start = SPAWN.Barrier(len(names))
    claimed = _run_all([(_claimer, (str(data_dir), name, start)) for name in names])
    everything = [job_id for part in claimed for job_id in part]
    assert sorted(everything) == ids  # every job claimed, none twice
    assert sum(1 for part in claimed if part) > 1, "one claimer took everything, so nothing raced"
    with Store(data_dir) as store:
        counts = store.counts()
        assert counts[JobStatus.COMPLETED] + counts[JobStatus.FAILED] == backlog
        for job_id in ids[::7]:
            runs = [e for e in store.history(job_id) if e.to_status == "running"]
            assert len(runs) == 1
    _check_constraints(data_dir / "dock.sqlite3")


def _opener(data_dir: str, name: str, start: Barrier) -> int:
    start.wait()
    with Store(data_dir) as store:  # all at once, on a folder that does not exist yet
        (job_id,) = store.add([new_job(name)])
    return job_id


def test_processes_creating_one_new_store_at_once(data_dir: Path) -> None:
    names = [f"opener-{i}" for i in range(6)]
    start = SPAWN.Barrier(len(names))
    ids = _run_all([(_opener, (str(data_dir), name, start)) for name in names])
    assert sorted(ids) == list(range(1, len(names) + 1))
    with Store(data_dir) as store:
        assert sorted(j.filename for j in store.list_jobs()) == names
    raw = sqlite3.connect(data_dir / "dock.sqlite3")
    try:
        assert raw.execute("SELECT version_num FROM alembic_version").fetchall() == [(SCHEMA_HEAD,)]
    finally:
        raw.close()
    _check_constraints(data_dir / "dock.sqlite3")
