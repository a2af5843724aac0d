"""The job store on a real SQLite file: adding, deleting, reading, fencing, rescue, files and constraints."""

from __future__ import annotations

import math
import os
import sqlite3
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import platformdirs
import pytest
from sqlalchemy import func, insert, select

from tests.conftest import job_in, new_job, run_dock
from worker.registry import load_registry
from worker.store import Store
from worker.store.errors import DockError, JobNotFound
from worker.store.layout import APP_NAME, ENV_DATA_DIR, resolve_data_dir
from worker.store.rows import Completion, Event, NewJob
from worker.store.schema import job_events, jobs
from worker.store.states import JobStatus
from worker.store.watch import ChangeWatcher
from worker.uploads import prepare

P, R, C, F, X = (JobStatus.PENDING, JobStatus.RUNNING, JobStatus.COMPLETED, JobStatus.FAILED,
                 JobStatus.CANCELLED)


def files_under(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def upload(store: Store, *paths: Path, **kwargs: object) -> list[int]:
    new_jobs, refused = prepare(store.data, paths, load_registry(include_plugins=False), **kwargs)  # type: ignore[arg-type]
    assert refused == []
    return store.add(new_jobs)


@pytest.fixture
def inputs(tmp_path: Path) -> list[Path]:
    folder = tmp_path / "inputs"
    folder.mkdir()
    paths = []
    for i in range(5):
        path = folder / f"file {i}.txt"
        path.write_bytes(f"content {i}\n".encode() * (i + 1))
        paths.append(path)
    return paths


# ---- adding -----------------------------------------------------------------------------------------------


def test_add_copies_each_file_into_its_own_folder(store: Store, inputs: list[Path]) -> None:
    ids = upload(store, *inputs, params={"k": "v"}, max_attempts=4)
    assert ids == sorted(ids) and len(set(ids)) == len(inputs)
    for job_id, source in zip(ids, inputs, strict=True):
        job = store.get(job_id)
        assert (job.status, job.filename, job.params, job.max_attempts) == (P, source.name, {"k": "v"}, 4)
        assert job.input_path == f"input/{source.name}"
        stored = store.data.job_dir(job_id) / job.input_path
        assert stored == store.data.root / "jobs" / str(job_id) / "input" / source.name
        assert stored.read_bytes() == source.read_bytes()
        assert job.size == source.stat().st_size
        assert store.data.output_dir(job_id).is_dir()
        assert not list((store.data.job_dir(job_id) / "input").glob(".upload.part"))
    assert list(store.data.staging.iterdir()) == []  # every staged upload was renamed into place


def test_add_is_one_transaction(store: Store, inputs: list[Path]) -> None:
    watcher = ChangeWatcher(store)
    assert watcher.changed()
    new_jobs, _ = prepare(store.data, inputs, load_registry(include_plugins=False))
    store.add(new_jobs)
    assert watcher.changed()
    assert not watcher.changed()
    watcher.close()
    # A batch with one bad job inserts none of them and moves no upload into place.
    good, _ = prepare(store.data, inputs[:2], load_registry(include_plugins=False))
    bad = NewJob("checksum", "bad", None, "bad", 0, {}, max_attempts=0)
    before = store.counts()
    with pytest.raises(Exception, match="CHECK constraint failed"):
        store.add([*good, bad])
    assert store.counts() == before
    assert sorted(p.name for p in store.data.jobs.iterdir()) == sorted(str(i) for i in range(1, 6))
    assert all(Path(nj.staged).exists() for nj in good if nj.staged)  # left for the caller to discard


def test_add_of_nothing_is_nothing(store: Store) -> None:
    assert store.add([]) == []


def test_large_batch(store: Store) -> None:
    ids = store.add([new_job(f"f{i}") for i in range(2000)])
    assert len(ids) == 2000 and ids == list(range(ids[0], ids[0] + 2000))
    assert store.counts()[P] == 2000
    assert [e.to_status for e in store.history(ids[-1])] == ["pending"]


# ---- deleting ---------------------------------------------------------------------------------------------


def test_delete_removes_the_jobs_folder_and_nothing_else(store: Store, inputs: list[Path]) -> None:
    keep, gone, other = upload(store, *inputs[:3])
    (store.data.output_dir(gone) / "result.bin").write_bytes(b"out")
    (store.data.output_dir(keep) / "result.bin").write_bytes(b"keep me")
    store.data.job_log(gone).write_text("log")
    before = {i: files_under(store.data.job_dir(i)) for i in (keep, other)}
    assert store.delete(gone) == f"job {gone} cancelled and deleted"
    assert not store.data.job_dir(gone).exists()
    assert {i: files_under(store.data.job_dir(i)) for i in (keep, other)} == before
    with pytest.raises(JobNotFound):
        store.get(gone)
    (new_id,) = upload(store, inputs[3])
    assert new_id > other  # ids are never reused, so a stale folder can never be mistaken for a new job's


def test_delete_of_a_running_job_cancels_it_first(store: Store) -> None:
    job_id, token = job_in(store, R)
    assert token is not None
    assert store.delete(job_id) == f"job {job_id} cancelled and deleted"
    assert store.lost_claims({job_id: token}) == {job_id}
    assert not store.complete(job_id, token, {}, "test-worker")
    with pytest.raises(JobNotFound):
        store.delete(job_id)


def test_delete_never_follows_links_out_of_the_jobs_folder(store: Store, inputs: list[Path]) -> None:
    victim, gone = upload(store, *inputs[:2])
    outside = store.data.root.parent / "outside.txt"
    outside.write_text("not the dock's")
    output = store.data.output_dir(gone)
    (output / "to-victim").symlink_to(store.data.job_dir(victim), target_is_directory=True)
    (output / "to-outside").symlink_to(outside)
    locked = output / "locked"
    locked.mkdir()
    (locked / "inner.txt").write_text("x")
    locked.chmod(0o500)  # a handler may leave a read-only folder behind: it must still go
    before = files_under(store.data.job_dir(victim))
    store.delete(gone)
    assert not store.data.job_dir(gone).exists()
    assert files_under(store.data.job_dir(victim)) == before
    assert outside.read_text() == "not the dock's"


def test_delete_of_a_finished_job_says_removed(store: Store) -> None:
    job_id, _ = job_in(store, C)
    assert store.delete(job_id) == f"job {job_id} removed"


def test_sweep_orphans_removes_only_folders_of_jobs_that_are_gone(store: Store, inputs: list[Path]) -> None:
    keep, gone = upload(store, *inputs[:2])
    store.delete(gone)
    (store.data.job_dir(gone) / "output").mkdir(parents=True)  # what a dying handler left behind
    (store.data.job_dir(gone) / "output" / "late.txt").write_text("late")
    future = store.data.job_dir(gone + 100)  # above the id sequence: an add in progress elsewhere
    future.mkdir()
    stray = store.data.jobs / "notes"
    stray.mkdir()
    before = files_under(store.data.job_dir(keep))
    assert store.sweep_orphans() == [gone]
    assert not store.data.job_dir(gone).exists()
    assert future.exists() and stray.exists()
    assert files_under(store.data.job_dir(keep)) == before
    assert store.sweep_orphans() == []


def test_sweep_removes_stale_staging_only(store: Store, inputs: list[Path]) -> None:
    new_jobs, _ = prepare(store.data, inputs[:2], load_registry(include_plugins=False))
    stale, fresh = (Path(nj.staged) for nj in new_jobs if nj.staged)
    day_ago = store.clock() - 2 * 24 * 3600
    for path in (stale, *stale.rglob("*")):
        os.utime(path, (day_ago, day_ago), follow_symlinks=False)
    store.sweep_orphans()
    assert not stale.exists()
    assert fresh.exists()  # an add may still be copying it


def test_an_interrupted_prepare_leaves_no_staged_copies(store: Store, inputs: list[Path]) -> None:
    def interrupt(done: int, _total: int) -> None:
        if done == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        prepare(store.data, inputs, load_registry(include_plugins=False), on_file=interrupt)
    assert list(store.data.staging.iterdir()) == []


# ---- reading ----------------------------------------------------------------------------------------------


@pytest.fixture
def listed(store: Store) -> list[int]:
    names = ["beta.pdf", "alpha_1.txt", "alpha%2.txt", "Gamma.epub", "delta.txt"]
    ids = store.add([new_job(n, handler="sleep" if n.endswith("pdf") else "checksum") for n in names])
    store.cancel(ids[3])
    return ids


def test_list_is_newest_first_and_filters(store: Store, listed: list[int]) -> None:
    assert [j.id for j in store.list_jobs()] == listed[::-1]
    assert [j.id for j in store.list_jobs(status="cancelled")] == [listed[3]]
    assert [j.id for j in store.list_jobs(status=P)] == [listed[4], listed[2], listed[1], listed[0]]
    assert [j.id for j in store.list_jobs(limit=2)] == listed[:-3:-1]


def test_search_matches_name_handler_and_id(store: Store, listed: list[int]) -> None:
    def found(term: str) -> list[int]:
        return sorted(j.id for j in store.list_jobs(search=term))

    assert found("ALPHA") == [listed[1], listed[2]]  # case-insensitive
    assert found("a_1") == [listed[1]]  # _ and % are literal, not LIKE wildcards
    assert found("a%2") == [listed[2]]
    assert found("sleep") == [listed[0]]
    assert found(f"#{listed[4]}") == [listed[4]]
    assert found("   ") == sorted(listed)
    assert found("nothing") == []


def test_sort_keys(store: Store, listed: list[int]) -> None:
    by_name = [j.filename for j in store.list_jobs(order_by="filename", descending=False)]
    assert by_name == sorted(by_name)
    assert [j.id for j in store.list_jobs(order_by="id", descending=False)] == listed
    for key in ("handler", "status", "progress", "attempts", "created_at", "duration"):
        assert len(store.list_jobs(order_by=key)) == len(listed)
    with pytest.raises(DockError, match="cannot sort by 'size; drop table'"):
        store.list_jobs(order_by="size; drop table")


def test_counts_name_every_state(store: Store, listed: list[int]) -> None:
    assert store.counts() == {P: 4, R: 0, C: 0, F: 0, X: 1}
    assert store.unfinished() == 4


def test_revisions_follow_every_write(store: Store, listed: list[int]) -> None:
    first = store.revisions()
    assert [i for i, _ in first] == listed[::-1]
    (claim,) = store.claim("w")
    store.report_progress(claim.job_id, claim.token, 50, "half")
    after = dict(store.revisions())
    assert after[claim.job_id] == dict(first)[claim.job_id] + 2
    assert all(after[i] == rev for i, rev in first if i != claim.job_id)
    assert [i for i, _ in store.revisions(status="cancelled")] == [listed[3]]


def test_get_many_skips_missing(store: Store, listed: list[int]) -> None:
    got = store.get_many([*listed, 9999])
    assert sorted(got) == sorted(listed)


def test_change_watcher_sees_commits_of_other_connections(store: Store, data_dir: Path) -> None:
    watcher = ChangeWatcher(store)
    assert watcher.changed()  # the first look always counts as a change
    assert not watcher.changed()
    store.add([new_job()])
    assert watcher.changed()
    assert not watcher.changed()
    with Store(data_dir) as other:  # another connection, as another process would be
        other.add([new_job()])
    assert watcher.changed()
    assert not watcher.changed()
    watcher.close()


def test_history_records_who_when_from_to_and_why(store: Store) -> None:
    job_id, token = job_in(store, R)
    assert token is not None
    store.complete(job_id, token, {"n": 1}, "test-worker")
    events = store.history(job_id)
    assert [(e.from_status, e.to_status, e.actor) for e in events] == [
        (None, "pending", "user"), ("pending", "running", "test-worker"), ("running", "completed", "test-worker"),
    ]
    assert [e.at for e in events] == sorted(e.at for e in events)
    assert "attempt 1 of 3" in events[1].reason
    assert events[0].to_json()["from"] is None


def test_the_added_entry_is_built_from_the_job_row_and_costs_no_history_row(store: Store) -> None:
    (job_id,) = store.add([new_job("report.pdf", handler="pdf")], actor="window")
    (added,) = store.history(job_id)
    assert added == Event(store.get(job_id).created_at, "window", None, "pending", "added 'report.pdf' for handler pdf")
    # An add is bound by its fsync, whose cost grows with the pages written: the job row alone stands for it.
    with store.db.read() as tx:
        assert tx.scalar(select(func.count()).select_from(job_events)) == 0
    store.delete(job_id)
    assert store.history(job_id) == []


REQUIRED = ("id", "status", "handler", "filename", "params", "progress", "message", "attempts", "max_attempts",
            "error", "result", "created_at", "started_at", "finished_at")


def test_job_json_has_the_required_fields_in_utc(store: Store) -> None:
    job_id, _ = job_in(store, C)
    data = store.get(job_id).to_json()
    assert set(REQUIRED) <= set(data)
    assert isinstance(data["id"], int) and data["id"] == job_id
    assert (data["status"], data["progress"], data["result"], data["error"]) == ("completed", 100, {"ok": True}, None)
    for key in ("created_at", "started_at", "finished_at"):
        when = datetime.fromisoformat(data[key])
        assert when.utcoffset() is not None and when.utcoffset().total_seconds() == 0  # type: ignore[union-attr]
        assert abs(when.timestamp() - getattr(store.get(job_id), key)) < 0.001
    assert data["created_at"] <= data["started_at"] <= data["finished_at"]
    (pending,) = store.add([new_job()])
    fresh = store.get(pending).to_json()
    assert (fresh["started_at"], fresh["finished_at"], fresh["result"]) == (None, None, None)


# ---- the worker's side: claims and their fencing ----------------------------------------------------------


def test_claim_takes_due_jobs_oldest_first_and_never_twice(store: Store) -> None:
    ids = store.add([new_job(f"{i}") for i in range(5)])
    first = store.claim("w1", limit=2)
    second = store.claim("w2", limit=10)
    assert [c.job_id for c in first] == ids[:2]
    assert [c.job_id for c in second] == ids[2:]
    assert store.claim("w3") == []
    assert not store.has_due_work()
    job = store.get(ids[0])
    assert (job.status, job.attempts, job.claimed_by) == (R, 1, "w1")
    assert job.started_at is not None and job.started_at >= job.created_at


def test_a_stale_token_can_never_overwrite_a_cancel(store: Store) -> None:
    job_id, token = job_in(store, R)
    assert token is not None
    store.cancel(job_id)
    assert not store.complete(job_id, token, {"late": True}, "w")
    assert store.fail(job_id, token, "late", None, "w") == ""
    assert not store.report_progress(job_id, token, 99, "late")
    assert not store.release(job_id, token, "w", "late")
    job = store.get(job_id)
    assert (job.status, job.result, job.progress) == (X, None, 0)


def test_a_stale_token_can_never_overwrite_a_newer_claim(store: Store) -> None:
    job_id, old = job_in(store, R)
    assert old is not None
    assert store.release(job_id, old, "w", "shutting down")
    assert store.get(job_id).attempts == 0  # a released attempt does not count
    (claim,) = store.claim("w2")
    assert claim.token != old
    assert not store.complete(job_id, old, {}, "w")
    assert store.fail(job_id, old, "late", None, "w") == ""
    assert not store.report_progress(job_id, old, 10, "late")
    assert store.lost_claims({job_id: old}) == {job_id}
    assert store.lost_claims({job_id: claim.token}) == set()
    assert store.report_progress(job_id, claim.token, 40, "mine")
    assert store.complete(job_id, claim.token, {"n": 2}, "w2")
    assert store.get(job_id).claimed_by is None


def test_one_transaction_records_completions_and_claims_the_next_jobs(store: Store) -> None:
    ids = store.add([new_job(f"{i}") for i in range(6)])
    claimed = store.claim("w", limit=3)
    cancelled = claimed[1].job_id
    store.cancel(cancelled)  # its late completion must be refused on its own, not take the batch down
    watcher = ChangeWatcher(store)
    watcher.changed()
    late = store.clock()  # each job really started after the claim: claimed ahead, it waited its turn
    done = [Completion(c.job_id, c.token, {"n": c.job_id}, late) for c in claimed]
    recorded, unpublished, more = store.complete_and_claim("w", done, 2)
    assert watcher.changed() and not watcher.changed()  # one commit for all of it
    assert recorded == {claimed[0].job_id, claimed[2].job_id} and unpublished == {}
    assert [c.job_id for c in more] == ids[3:5]
    for job_id in recorded:
        job = store.get(job_id)
        assert (job.status, job.result, job.started_at) == (C, {"n": job_id}, late)
        assert job.finished_at is not None and job.finished_at >= job.started_at
        assert [e.to_status for e in store.history(job_id)] == ["pending", "running", "completed"]
    assert store.get(cancelled).status == X
    assert store.get(ids[5]).status == P


def test_a_completion_whose_outputs_cannot_be_published_is_undone_alone(store: Store) -> None:
    ids = store.add([new_job(f"{i}") for i in range(2)])
    claims = store.claim("w", limit=2)
    for claim in claims:
        (store.data.attempt_dir(claim.job_id, claim.token)).mkdir(parents=True)
        (store.data.attempt_dir(claim.job_id, claim.token) / "out.txt").write_text("result")
    blocked = store.data.output_dir(ids[0])
    blocked.parent.mkdir(parents=True, exist_ok=True)
    blocked.write_text("a file where the output folder goes")
    recorded, unpublished, _ = store.complete_and_claim(
        "w", [Completion(c.job_id, c.token, {"ok": True}) for c in claims], 0)
    assert recorded == {ids[1]} and set(unpublished) == {ids[0]}
    assert "directory" in unpublished[ids[0]].lower()
    held = store.get(ids[0])
    assert (held.status, held.claimed_by) == (R, "w")  # still claimed: the worker fails this attempt itself
    assert [e.to_status for e in store.history(ids[0])] == ["pending", "running"]
    assert store.get(ids[1]).status == C
    assert (store.data.output_dir(ids[1]) / "out.txt").read_text() == "result"


def test_the_workers_string_paths_are_the_data_folders_paths(store: Store) -> None:
    job_dir, attempt_dir, log = store.data.attempt_paths(7, "tok")
    assert (job_dir, attempt_dir, log) == (str(store.data.job_dir(7)), str(store.data.attempt_dir(7, "tok")),
                                          str(store.data.job_log(7)))


def test_a_completion_never_moves_the_start_before_the_claim(store: Store) -> None:
    (job_id,) = store.add([new_job()])
    (claim,) = store.claim("w")
    claimed_at = store.get(job_id).started_at
    assert claimed_at is not None
    assert store.complete_and_claim("w", [Completion(job_id, claim.token, None, claimed_at - 100)], 0)[0] == {job_id}
    assert store.get(job_id).started_at == claimed_at


def test_a_finished_job_cannot_be_finished_again(store: Store) -> None:
    job_id, token = job_in(store, C)
    assert token is not None
    assert not store.complete(job_id, token, {"again": True}, "w")
    assert store.fail(job_id, token, "late", None, "w") == ""
    assert not store.release(job_id, token, "w", "late")
    assert store.get(job_id).result == {"ok": True}


def test_progress_is_clamped(store: Store) -> None:
    job_id, token = job_in(store, R)
    assert token is not None
    store.report_progress(job_id, token, 250, "x" * 1000)
    job = store.get(job_id)
    assert (job.progress, len(job.message)) == (100, 500)
    store.report_progress(job_id, token, -5, "")
    assert store.get(job_id).progress == 0


def test_rescue_fails_the_attempts_of_dead_workers_only(data_dir: Path) -> None:
    now = [1_000_000.0]
    with Store(data_dir, clock=lambda: now[0]) as store:
        dead = store.register_worker(pid=1, host="h", concurrency=1, worker_id="dead")
        alive = store.register_worker(pid=2, host="h", concurrency=1, worker_id="alive")
        a, b, c = store.add([new_job("a"), new_job("b"), new_job("c")])
        (ca,) = store.claim(dead)
        (cb,) = store.claim(alive)
        (cc,) = store.claim("never-registered")
        now[0] += 5
        assert store.rescue(actor="w") == [c]  # within the lease only the unknown holder is gone
        now[0] += 20
        assert store.heartbeat(alive)
        assert store.rescue(actor="w") == [a]
        assert not store.heartbeat(dead)  # its row is gone: it must register again
        assert [w.id for w in store.live_workers()] == ["alive"]
        job = store.get(a)
        assert (job.status, job.attempts, job.error) == (P, 1, "worker died")
        assert store.get(b).status is R
        assert not store.complete(a, ca.token, {}, dead)  # the dead worker's claim is fenced off
        assert store.complete(b, cb.token, {}, alive)
        assert cc.job_id == c


def test_each_worker_is_judged_by_its_own_lease(data_dir: Path) -> None:
    now = [1_000_000.0]
    with Store(data_dir, clock=lambda: now[0]) as store:
        patient = store.register_worker(pid=1, host="h", concurrency=1, worker_id="patient", lease_s=60)
        hasty = store.register_worker(pid=2, host="h", concurrency=1, worker_id="hasty", lease_s=1)
        a, b = store.add([new_job("a"), new_job("b")])
        (ca,) = store.claim(patient)
        (cb,) = store.claim(hasty)
        now[0] += 0.5  # the hasty worker heartbeats every third of a second; the patient one every 20 s
        assert store.heartbeat(hasty)
        now[0] += 30  # past the default lease and the hasty worker's, within the patient worker's own
        assert store.rescue(actor="a third worker") == [b]  # the hasty one fell silent past its own lease
        assert [(w.id, w.lease_s) for w in store.live_workers()] == [("patient", 60.0)]
        assert store.get(a).status is R and store.complete(a, ca.token, {}, patient)
        now[0] += 31
        assert store.live_workers() == []  # now past its own lease too
        assert not store.complete(b, cb.token, {}, hasty)


@pytest.mark.parametrize("lease", [0.0, -1.0, math.inf, math.nan, 86_401.0])
def test_the_store_refuses_a_worker_lease_that_is_no_duration(store: Store, lease: float) -> None:
    with pytest.raises(sqlite3.IntegrityError, match=r"lease_in_range|NOT NULL"):  # SQLite stores NaN as NULL
        store.register_worker(pid=1, host="h", concurrency=1, lease_s=lease)


def test_a_failed_attempt_that_goes_back_to_pending_starts_again_at_zero_progress(store: Store) -> None:
    job_id, token = job_in(store, R)
    assert token is not None
    store.report_progress(job_id, token, 60, "halfway")
    assert store.fail(job_id, token, "boom", None, "w") == "pending"
    assert (store.get(job_id).progress, store.get(job_id).message) == (0, "retrying after: boom")
    other, other_token = job_in(store, R)
    assert other_token is not None
    store.report_progress(other, other_token, 70, "further")
    assert store.force_fail(other) == f"job {other} force-failed; it is now pending"
    assert store.get(other).progress == 0


def test_release_rolls_back_the_attempt(store: Store) -> None:
    job_id, token = job_in(store, R)
    assert token is not None
    assert store.release(job_id, token, "w", "stopping")
    job = store.get(job_id)
    assert (job.status, job.attempts, job.claimed_by) == (P, 0, None)
    assert store.history(job_id)[-1].reason == "stopping"


# ---- the data folder --------------------------------------------------------------------------------------


def test_a_new_folder_is_private_and_an_existing_one_keeps_its_permissions(tmp_path: Path) -> None:
    fresh = tmp_path / "a" / "b"
    with Store(fresh) as store:
        assert stat.S_IMODE(fresh.stat().st_mode) == 0o700
        assert stat.S_IMODE(store.data.database.stat().st_mode) == 0o600
        for folder in (store.data.jobs, store.data.staging):
            assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)  # an empty folder of the user's, as /tmp is
    with Store(shared) as store:
        assert stat.S_IMODE(shared.stat().st_mode) == 0o1777  # the user's folder, the user's permissions
        assert stat.S_IMODE(store.data.database.stat().st_mode) == 0o600
    with Store(shared):  # opened again: it is a dock's folder now
        assert stat.S_IMODE(shared.stat().st_mode) == 0o1777


def test_a_folder_that_is_not_empty_and_not_a_docks_is_refused_and_left_untouched(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir(mode=0o755)
    home.chmod(0o755)
    (home / "notes.txt").write_text("mine")
    before = sorted(p.name for p in home.iterdir())
    with pytest.raises(DockError, match="is not empty and is not a Processing Dock data folder"):
        Store(home)
    done = run_dock(home, "ls")
    assert done.returncode == 1 and "not a Processing Dock data folder" in done.stderr
    assert sorted(p.name for p in home.iterdir()) == before
    assert stat.S_IMODE(home.stat().st_mode) == 0o755


def test_a_data_folder_of_an_earlier_version_is_recognised_by_its_database(tmp_path: Path) -> None:
    with Store(tmp_path / "old") as store:
        store.add([new_job()])
    (tmp_path / "old" / ".processing-dock").unlink()  # as a version before the marker left it
    with Store(tmp_path / "old") as store:
        assert len(store.list_jobs()) == 1


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    monkeypatch.delenv(ENV_DATA_DIR, raising=False)
    yield monkeypatch


def test_data_dir_resolution(tmp_path: Path, clean_env: pytest.MonkeyPatch) -> None:
    assert resolve_data_dir() == Path(platformdirs.user_data_dir(APP_NAME, appauthor=False)).resolve()
    clean_env.setenv(ENV_DATA_DIR, str(tmp_path / "env"))
    assert resolve_data_dir() == tmp_path / "env"
    assert resolve_data_dir(tmp_path / "flag") == tmp_path / "flag"  # --data-dir beats the environment
    clean_env.setenv(ENV_DATA_DIR, "~/x")
    assert resolve_data_dir() == Path.home() / "x"


def test_cli_honours_env_and_flag(tmp_path: Path, sample_file: Path) -> None:
    env = {**os.environ, ENV_DATA_DIR: str(tmp_path / "env")}
    command = [sys.executable, "-m", "dock"]
    subprocess.run([*command, "add", str(sample_file)], env=env, check=True, capture_output=True, timeout=60)
    assert (tmp_path / "env" / "dock.sqlite3").exists()
    subprocess.run([*command, "--data-dir", str(tmp_path / "flag"), "add", str(sample_file)], env=env, check=True,
                   capture_output=True, timeout=60)
    assert (tmp_path / "flag" / "dock.sqlite3").exists()
    assert len(list((tmp_path / "env" / "jobs").iterdir())) == 1  # the flag won: nothing more went there


# ---- the database guards its invariants itself -----------------------------------------------------------


BAD_UPDATES = {
    "progress above 100": "progress = 101",
    "negative progress": "progress = -1",
    "unknown status": "status = 'paused'",
    "attempts above max": "attempts = max_attempts + 1",
    "finished before started": "started_at = created_at + 10, finished_at = created_at + 5",
    "started before created": "started_at = created_at - 1",
    "running without a claim": "status = 'running', claim_token = NULL",
    "cancelled without a time": "status = 'cancelled', cancelled_at = NULL",
    "pending without an attempt left": "attempts = max_attempts",
    "no attempts at all": "max_attempts = 0, attempts = 0",
}


@pytest.mark.parametrize("change", BAD_UPDATES.values(), ids=BAD_UPDATES.keys())
def test_constraints_reject_bad_updates(store: Store, change: str) -> None:
    (job_id,) = store.add([new_job()])
    raw = sqlite3.connect(store.data.database)
    try:
        with pytest.raises(sqlite3.IntegrityError, match="CHECK constraint failed"):
            raw.execute(f"UPDATE jobs SET {change} WHERE id = ?", (job_id,))
    finally:
        raw.close()
    assert store.get(job_id).status is P


GOOD_ROW = {"handler": "'checksum'", "filename": "'f'", "input_path": "'input/f'", "params": "'{}'",
            "status": "'pending'", "max_attempts": "3", "attempt_budget": "3", "run_after": "0",
            "created_at": "100", "updated_at": "100"}
BAD_INSERTS = {
    "progress above 100": {"progress": "101"},
    "unknown status": {"status": "'paused'"},
    "attempts above max": {"status": "'failed'", "attempts": "4", "finished_at": "200"},
    "finished before started": {"status": "'failed'", "attempts": "1", "started_at": "150", "finished_at": "120"},
}


def test_the_good_row_is_good(store: Store) -> None:
    raw = sqlite3.connect(store.data.database)
    try:
        with raw:
            raw.execute(f"INSERT INTO jobs ({', '.join(GOOD_ROW)}) VALUES ({', '.join(GOOD_ROW.values())})")
    finally:
        raw.close()
    assert store.counts()[P] == 1


@pytest.mark.parametrize("change", BAD_INSERTS.values(), ids=BAD_INSERTS.keys())
def test_constraints_reject_bad_inserts(store: Store, change: dict[str, str]) -> None:
    row = {**GOOD_ROW, **change}
    raw = sqlite3.connect(store.data.database)
    try:
        with pytest.raises(sqlite3.IntegrityError, match="CHECK constraint failed"):
            raw.execute(f"INSERT INTO jobs ({', '.join(row)}) VALUES ({', '.join(row.values())})")
    finally:
        raw.close()
    assert store.list_jobs() == []


def test_connections_use_wal_foreign_keys_and_a_busy_timeout(store: Store) -> None:
    with store.engine.connect() as conn:
        pragma: dict[str, Any] = {name: conn.exec_driver_sql(f"PRAGMA {name}").scalar()
                  for name in ("journal_mode", "foreign_keys", "busy_timeout", "synchronous")}
        conn.rollback()
    assert pragma["journal_mode"] == "wal"
    assert pragma["foreign_keys"] == 1
    assert pragma["busy_timeout"] > 0
    assert pragma["synchronous"] == 2  # FULL for what users do: an add or a cancel survives a power loss


def test_worker_connections_choose_normal_sync(data_dir: Path) -> None:
    with Store(data_dir, role="worker") as store, store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL: a lost finish re-runs the job
        conn.rollback()


def test_writes_take_the_write_lock_at_begin_and_reads_do_not(store: Store) -> None:
    other = sqlite3.connect(store.data.database, timeout=0, isolation_level=None, check_same_thread=False)
    try:
        # BEGIN IMMEDIATE: the lock is ours before the first statement, on this thread and on any other.
        refused: list[str] = []
        def try_other() -> None:
            try:
                other.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as error:
                refused.append(str(error))
        with store.db.write():
            try_other()
        def write_elsewhere() -> None:
            with store.db.write():
                try_other()
        elsewhere = threading.Thread(target=write_elsewhere)
        elsewhere.start()
        elsewhere.join()
        assert refused == ["database is locked", "database is locked"]
        with store.db.read() as tx:
            tx.rows(select(jobs.c.id))
            other.execute("BEGIN IMMEDIATE")  # a reader never holds up a writer
            other.execute("ROLLBACK")
    finally:
        other.close()


def test_a_write_undoes_itself_when_interrupted_and_keeps_nothing_of_what_it_wrote(store: Store) -> None:
    other = sqlite3.connect(store.data.database, timeout=0, isolation_level=None)
    try:
        with pytest.raises(KeyboardInterrupt), store.db.write() as tx:
            tx.run(insert(jobs).values(handler="h", filename="f", input_path="i", params="{}", status="pending",
                                       max_attempts=1, attempt_budget=1, run_after=0, created_at=0, updated_at=0))
            raise KeyboardInterrupt  # an interrupt mid-transaction
        other.execute("BEGIN IMMEDIATE")  # the lock went with it
        other.execute("ROLLBACK")
        # A SQLAlchemy-run statement inside the driver's transaction is refused as the bug it is.
        with pytest.raises(RuntimeError, match="driver-level"), store.db.write():
            store.own_connection().execute(select(jobs.c.id))
        other.execute("BEGIN IMMEDIATE")
        other.execute("ROLLBACK")
    finally:
        other.close()
    assert store.counts()[P] == 0
    assert store.add([new_job()]) == [1]


def test_claims_and_the_list_walk_indexes(store: Store) -> None:
    store.add([new_job(f"{i}") for i in range(50)])
    raw = sqlite3.connect(store.data.database)
    try:
        def plan(sql: str) -> str:
            return " | ".join(row[3] for row in raw.execute(f"EXPLAIN QUERY PLAN {sql}"))

        claim = plan("SELECT id FROM jobs WHERE status = 'pending' AND run_after <= 1e12"
                     " ORDER BY run_after, id LIMIT 1")
        assert "ix_jobs_claim" in claim and "TEMP B-TREE" not in claim
        newest = plan("SELECT id, rev FROM jobs ORDER BY id DESC")
        assert "TEMP B-TREE" not in newest
        by_status = plan("SELECT id FROM jobs WHERE status = 'failed'")
        assert "ix_jobs_claim" in by_status
    finally:
        raw.close()


@pytest.mark.parametrize("obstacle", ["file", "file-parent", "database-folder"])
def test_an_unusable_data_folder_is_one_clear_error(tmp_path: Path, obstacle: str) -> None:
    root = tmp_path / "data"
    if obstacle == "file":
        root.write_text("x")
    elif obstacle == "file-parent":
        (tmp_path / "blocker").write_text("x")
        root = tmp_path / "blocker" / "data"
    else:
        (root / "dock.sqlite3").mkdir(parents=True)
    with pytest.raises(DockError, match=f"^(cannot use {root} as the data folder|the database {root})"):
        Store(root)


def test_an_upload_over_the_limit_never_becomes_a_job(data_dir: Path, tmp_path: Path) -> None:
    big = tmp_path / "big.bin"
    big.write_bytes(b"x" * 5000)
    small = tmp_path / "small.bin"
    small.write_bytes(b"y")
    env = {**os.environ, "DOCK_MAX_UPLOAD_BYTES": "1000"}
    done = subprocess.run([sys.executable, "-m", "dock", "--data-dir", str(data_dir), "add", str(big), str(small)],
                          capture_output=True, text=True, env=env, timeout=60, check=False)
    assert (done.returncode, done.stdout) == (1, "1\n")
    assert done.stderr == f"dock: {big}: refused: 5,000 bytes is over the upload limit of 1,000 bytes\n"
    with Store(data_dir) as store:
        assert [j.filename for j in store.list_jobs()] == ["small.bin"]
        assert list(store.data.staging.iterdir()) == []


def test_only_from_leaves_a_job_that_left_the_states_the_user_saw(store: Store) -> None:
    """Clear Finished names finished jobs; one retried since then must not be cancelled and deleted."""
    from tests.conftest import job_in
    from worker.store.states import FINISHED, Action

    done, _ = job_in(store, JobStatus.COMPLETED)
    retried, _ = job_in(store, JobStatus.CANCELLED)
    store.retry(retried)  # between the count and the click
    outcomes = store.apply(Action.DELETE, [done, retried, 999], "window", only_from=FINISHED)
    assert [(o.job_id, o.ok) for o in outcomes] == [(done, True), (retried, False), (999, False)]
    assert outcomes[1].message == f"job {retried} is now pending; left as it is"
    assert outcomes[2].message == "job 999 does not exist"
    assert store.get(retried).status is JobStatus.PENDING


def test_a_watcher_can_ignore_its_own_threads_writes(store: Store) -> None:
    watcher = ChangeWatcher(store, ignore_own_writes=True)
    assert watcher.changed()
    store.add([new_job()])  # this thread's own commit: no news
    assert not watcher.changed()
    with Store(store.data.root) as other:  # another connection's commit: news
        other.add([new_job()])
    assert watcher.changed()
    watcher.close()
    store.add([new_job()])  # closing it left the store's connection open
