"""The worker end to end: a real worker subprocess, real handler processes, a real SQLite file."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import run_dock
from tests.workerkit import WorkerProcess, attempt_file, install_test_plugins, pid_alive, wait_until
from worker.registry import load_registry
from worker.store import Backoff, Store
from worker.store.errors import TransitionRefused
from worker.store.rows import NewJob
from worker.store.states import JobStatus
from worker.uploads import prepare


@pytest.fixture(scope="module")
def plugin_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return install_test_plugins(tmp_path_factory.mktemp("site"))


def add_job(store: Store, sample: Path, handler: str, max_attempts: int = 3, **params: str) -> int:
    new_jobs, refused = prepare(store.data, [sample], load_registry(include_plugins=False), handler, params,
                                max_attempts)
    assert not refused
    (job_id,) = store.add(new_jobs)
    return job_id


def status_of(store: Store, job_id: int) -> JobStatus:
    return store.get(job_id).status


def wait_status(store: Store, job_id: int, status: JobStatus, timeout: float = 20.0) -> None:
    wait_until(lambda: status_of(store, job_id) == status, timeout, f"job {job_id} to be {status}")


def wait_progress(store: Store, job_id: int) -> None:
    wait_until(lambda: store.get(job_id).progress > 0, 20, f"job {job_id} to make progress")


@pytest.fixture(scope="class")
def setup(tmp_path_factory: pytest.TempPathFactory,
          plugin_env: dict[str, str]) -> Iterator[tuple[Store, WorkerProcess, Path]]:
    root = tmp_path_factory.mktemp("five")
    sample = root / "doc.txt"
    sample.write_text("some text")
    with Store(root / "data") as store:
        worker = WorkerProcess(store.data.root, plugin_env, "--grace", "3")
        yield store, worker, sample
        assert worker.stop() == 0
        assert worker.errors() == []


class TestTheFiveScenariosWithOneWorker:
    """The cancellation scenarios of the system this replaces, all against the same worker process."""

    def test_1_cancel_during_processing(self, setup: tuple[Store, WorkerProcess, Path]) -> None:
        store, worker, sample = setup
        job = add_job(store, sample, "sleep", seconds="60")
        wait_progress(store, job)
        assert store.cancel(job) == f"job {job} cancelled"
        worker.wait_for_event("handler stopped", job=job, timeout=3)
        assert store.get(job).status is JobStatus.CANCELLED
        assert [e.to_status for e in store.history(job)] == ["pending", "running", "cancelled"]

    def test_2_cancel_while_queued(self, setup: tuple[Store, WorkerProcess, Path]) -> None:
        store, worker, sample = setup
        blocker = add_job(store, sample, "sleep", seconds="60")
        queued = add_job(store, sample, "sleep", seconds="60")
        wait_progress(store, blocker)
        store.cancel(queued)
        store.cancel(blocker)
        worker.wait_for_event("handler stopped", job=blocker, timeout=3)
        assert not worker.find("job started", job=queued)
        assert [e.to_status for e in store.history(queued)] == ["pending", "cancelled"]

    def test_3_cancel_refused_on_a_completed_job(self, setup: tuple[Store, WorkerProcess, Path]) -> None:
        store, _worker, sample = setup
        job = add_job(store, sample, "sleep", seconds="0.2")
        wait_status(store, job, JobStatus.COMPLETED)
        with pytest.raises(TransitionRefused, match=f"cannot cancel job {job}: it is completed"):
            store.cancel(job)
        assert store.get(job).status is JobStatus.COMPLETED

    def test_4_cancel_twice(self, setup: tuple[Store, WorkerProcess, Path]) -> None:
        store, worker, sample = setup
        job = add_job(store, sample, "sleep", seconds="60")
        wait_progress(store, job)
        assert store.cancel(job) == f"job {job} cancelled"
        assert store.cancel(job) == f"job {job} was already cancelled"
        worker.wait_for_event("handler stopped", job=job, timeout=3)
        assert sum(e.to_status == "cancelled" for e in store.history(job)) == 1

    def test_5_the_next_job_is_still_picked_up_and_completed(self, setup: tuple[Store, WorkerProcess, Path]) -> None:
        store, worker, sample = setup
        job = add_job(store, sample, "sleep", seconds="0.3")
        wait_status(store, job, JobStatus.COMPLETED)
        (started,) = worker.find("worker started")
        assert store.history(job)[1].actor == started["worker"]  # the same worker that handled the cancels
        assert worker.proc.poll() is None
        assert len(worker.find("job started")) == 5


def test_force_fail_stops_the_handler_and_the_retry_policy_runs_it_again(
        tmp_path: Path, plugin_env: dict[str, str], sample_file: Path) -> None:
    with Store(tmp_path / "data", backoff=Backoff(base=0.2, cap=0.5)) as store:
        job = add_job(store, sample_file, "sleep", max_attempts=2, seconds="60")
        worker = WorkerProcess(store.data.root, plugin_env)
        wait_progress(store, job)
        first_pid = worker.find("job started", job=job)[0]["pid"]
        assert "now pending" in store.force_fail(job)
        worker.wait_for_event("handler stopped", job=job, timeout=3)
        # The retry policy: back to pending with a backoff, then claimed again for attempt 2.
        wait_until(lambda: len(worker.find("job started", job=job)) == 2, 10, "attempt 2")
        wait_progress(store, job)
        assert store.get(job).attempts == 2
        assert "now failed" in store.force_fail(job)
        worker.wait_for_event("handler stopped", job=job, timeout=3)
        final = store.get(job)
        assert (final.status, final.attempts, final.error) == (JobStatus.FAILED, 2, "force-failed by user")
        assert worker.find("job started", job=job)[1]["pid"] == first_pid  # the process was reused
        assert worker.stop() == 0


def test_a_handler_that_ignores_cancellation_is_killed_after_the_grace(
        tmp_path: Path, plugin_env: dict[str, str], sample_file: Path) -> None:
    with Store(tmp_path / "data") as store:
        worker = WorkerProcess(store.data.root, plugin_env, "--grace", "1")
        stubborn = add_job(store, sample_file, "stubborn", seconds="120")
        forking = add_job(store, sample_file, "forking")
        pid_file = wait_until(lambda: attempt_file(store.data.job_dir(stubborn), "pid"), 20,
                              "the stubborn handler to start")
        handler_pid = int(pid_file.read_text())
        store.cancel(stubborn)
        worker.wait_for_event("handler ignored the stop request: killing its process group", job=stubborn, timeout=4)
        wait_until(lambda: not pid_alive(handler_pid), 5, "the stubborn handler process to be gone")
        # The next job (which starts a grandchild, then ignores cancellation too) still runs...
        pids = wait_until(lambda: (f := attempt_file(store.data.job_dir(forking), "pids")) and f.read_text(), 20,
                          "the forking handler to start")
        parent, grandchild = map(int, pids.split())
        store.delete(forking)
        # ...and killing its process group takes the grandchild too; the deleted job leaves no file.
        wait_until(lambda: not pid_alive(parent) and not pid_alive(grandchild), 6, "the handler's group to die")
        worker.wait_for_event("deleted job's files removed", job=forking, timeout=5)
        assert not store.data.job_dir(forking).exists()
        after = add_job(store, sample_file, "noop")
        wait_status(store, after, JobStatus.COMPLETED)
        assert worker.stop() == 0


@pytest.mark.parametrize(("how", "error"), [
    ("exit", "handler process died: exit code 7"),
    ("segfault", "handler process died: signal 11 (SIGSEGV)"),
    ("abort", "handler process died: signal 6 (SIGABRT)"),
    ("raise", "RuntimeError: boom: raise"),
    ("memory", "out of memory (the handler hit the memory limit)"),
    ("badresult", "TypeError: Object of type object is not JSON serializable"),
])
def test_a_crashing_handler_fails_only_its_own_job(
        tmp_path: Path, plugin_env: dict[str, str], sample_file: Path, how: str, error: str) -> None:
    with Store(tmp_path / "data") as store:
        crash = add_job(store, sample_file, "crash", max_attempts=1, how=how)
        after = add_job(store, sample_file, "noop")
        worker = WorkerProcess(store.data.root, plugin_env, "--exit-when-idle", "--memory-limit", "1024")
        assert worker.proc.wait(timeout=60) == 0
        failed, completed = store.get(crash), store.get(after)
        assert (failed.status, failed.error) == (JobStatus.FAILED, error)
        assert completed.status is JobStatus.COMPLETED
        assert "about to crash: " + how in store.data.job_log(crash).read_text()


def test_a_permanent_error_fails_the_job_at_once_and_a_transient_one_is_retried(
        tmp_path: Path, plugin_env: dict[str, str], sample_file: Path) -> None:
    with Store(tmp_path / "data", backoff=Backoff(base=0.01, cap=0.02)) as store:
        permanent = add_job(store, sample_file, "refuse", max_attempts=3, permanent="damaged")
        transient = add_job(store, sample_file, "refuse", max_attempts=3)
        worker = WorkerProcess(store.data.root, plugin_env, "--exit-when-idle")
        assert worker.proc.wait(timeout=60) == 0
        refused, retried = store.get(permanent), store.get(transient)
        assert (refused.status, refused.attempts, refused.max_attempts) == (JobStatus.FAILED, 1, 3)
        assert refused.error == "this input can never succeed: damaged"
        assert refused.message == "not retried: this input can never succeed: damaged"
        assert "not retried" in store.history(permanent)[-1].reason
        assert (retried.status, retried.attempts) == (JobStatus.FAILED, 3)  # every attempt spent
        assert retried.message.startswith("failed: RuntimeError")
        assert worker.errors() == []


def test_nothing_a_handler_starts_outlives_its_job_not_even_a_process_that_escaped(
        tmp_path: Path, plugin_env: dict[str, str], sample_file: Path) -> None:
    pidfiles = {how: tmp_path / f"{how}.pid" for how in ("completed", "cancelled", "timed-out")}
    with Store(tmp_path / "data") as store:
        completed = add_job(store, sample_file, "escaper", pidfile=str(pidfiles["completed"]))
        cancelled = add_job(store, sample_file, "escaper", pidfile=str(pidfiles["cancelled"]), wait="1")
        timed_out = add_job(store, sample_file, "escaper", max_attempts=1, pidfile=str(pidfiles["timed-out"]),
                            wait="1", timeout="3")
        worker = WorkerProcess(store.data.root, plugin_env, "--concurrency", "3", "--grace", "1")
        for pidfile in pidfiles.values():
            wait_until(pidfile.exists, 20, f"{pidfile.name} to be written")
        escaped = {how: int(pidfile.read_text()) for how, pidfile in pidfiles.items()}
        # The waiting handlers' escaped processes live on while their handlers do: they left their groups.
        assert pid_alive(escaped["cancelled"]) and pid_alive(escaped["timed-out"])
        wait_status(store, completed, JobStatus.COMPLETED)
        store.cancel(cancelled)
        wait_status(store, timed_out, JobStatus.FAILED)
        for how, pid in escaped.items():
            wait_until(lambda pid=pid: not pid_alive(pid), 10, f"the process the {how} job's handler left to die")
        assert worker.stop() == 0
        assert worker.errors() == []


def test_the_job_log_is_capped_and_says_where_it_was_cut(
        tmp_path: Path, plugin_env: dict[str, str], sample_file: Path) -> None:
    with Store(tmp_path / "data") as store:
        job = add_job(store, sample_file, "flood", mib="30")
        worker = WorkerProcess(store.data.root, plugin_env, "--exit-when-idle")
        assert worker.proc.wait(timeout=120) == 0
        assert store.get(job).status is JobStatus.COMPLETED
        log = store.data.job_log(job).read_bytes()
        assert 10 << 20 < len(log) < (10 << 20) + 1024
        assert log.rstrip().endswith(b"the handler wrote more than 10 MiB; the rest was dropped ---")


def test_a_job_whose_handler_writes_nothing_costs_no_folder_and_no_log(
        tmp_path: Path, plugin_env: dict[str, str]) -> None:
    with Store(tmp_path / "data") as store:
        quiet, chatty = store.add([NewJob("noop", "q.txt", None, "q.txt", 0, {}, 3),
                                   NewJob("chatty", "c.txt", None, "c.txt", 0, {"calls": "10"}, 3)])
        worker = WorkerProcess(store.data.root, plugin_env, "--exit-when-idle")
        assert worker.proc.wait(timeout=60) == 0
        assert store.get(quiet).status is store.get(chatty).status is JobStatus.COMPLETED
        assert not store.data.job_dir(quiet).exists()  # no upload, no output, no output printed: nothing made
        log = store.data.job_log(chatty).read_text()
        assert log.startswith("--- attempt 1 of 3 by ") and "printed by the handler" in log


def test_a_result_over_the_cap_fails_with_a_message_and_one_under_it_arrives_whole(
        tmp_path: Path, plugin_env: dict[str, str], sample_file: Path) -> None:
    with Store(tmp_path / "data") as store:
        over = add_job(store, sample_file, "big_result", max_attempts=1, chars=str(2 << 20))
        under = add_job(store, sample_file, "big_result", chars=str(1000 << 10))  # many pieces on the pipe
        worker = WorkerProcess(store.data.root, plugin_env, "--exit-when-idle")
        assert worker.proc.wait(timeout=60) == 0
        refused = store.get(over)
        assert refused.status is JobStatus.FAILED
        assert refused.error is not None and "over the 1 MiB a result may be" in refused.error
        assert "ctx.output_dir" in refused.error
        arrived = store.get(under)
        assert arrived.status is JobStatus.COMPLETED and arrived.result == {"blob": "x" * (1000 << 10)}


def test_a_memory_limit_too_small_to_start_a_handler_says_so_in_the_job(
        tmp_path: Path, plugin_env: dict[str, str], sample_file: Path) -> None:
    with Store(tmp_path / "data") as store:
        job = add_job(store, sample_file, "noop", max_attempts=1)
        worker = WorkerProcess(store.data.root, plugin_env, "--exit-when-idle", "--memory-limit", "20")
        assert worker.proc.wait(timeout=60) == 0
        failed = store.get(job)
        assert failed.status is JobStatus.FAILED
        assert failed.error is not None and "--memory-limit" in failed.error and "20 MiB" in failed.error


@pytest.mark.parametrize("how", ["deleted", "replaced"])
def test_a_worker_whose_database_is_deleted_or_replaced_stops_with_a_clear_message(
        tmp_path: Path, plugin_env: dict[str, str], how: str) -> None:
    data = tmp_path / "data"
    with Store(data):
        pass
    worker = WorkerProcess(data, plugin_env, "--lease", "1.5")
    database = data / "dock.sqlite3"
    if how == "replaced":
        with Store(tmp_path / "other"):
            pass
        os.replace(tmp_path / "other" / "dock.sqlite3", database)
    else:
        database.unlink()
    assert worker.proc.wait(timeout=20) == 1
    (gone,) = worker.find("the database is gone: stopping")
    assert f"the database {database} was {'deleted' if how == 'deleted' else 'replaced by another file'}" in \
        gone["error"]
    assert worker.find("worker stopped", reason="database deleted or replaced")


def test_the_time_limit_kills_a_handler_that_runs_too_long(
        tmp_path: Path, plugin_env: dict[str, str], sample_file: Path) -> None:
    with Store(tmp_path / "data") as store:
        job = add_job(store, sample_file, "stubborn", max_attempts=1, seconds="120", timeout="1")
        after = add_job(store, sample_file, "noop")
        worker = WorkerProcess(store.data.root, plugin_env, "--exit-when-idle")
        assert worker.proc.wait(timeout=30) == 0
        row = store.get(job)
        assert row.status is JobStatus.FAILED
        assert row.error is not None and row.error.startswith("timed out after 1 s")
        assert store.get(after).status is JobStatus.COMPLETED


def test_a_stale_attempt_never_mixes_its_files_into_the_outputs_of_the_attempt_that_completes(
        tmp_path: Path, plugin_env: dict[str, str], sample_file: Path) -> None:
    with Store(tmp_path / "data", backoff=Backoff(base=0.01, cap=0.02)) as store:
        worker = WorkerProcess(store.data.root, plugin_env, "--concurrency", "2", "--grace", "10")
        job = add_job(store, sample_file, "stamp", seconds="3")
        wait_until(lambda: attempt_file(store.data.job_dir(job), "attempt1-2.txt"), 20, "attempt 1 to write")
        store.force_fail(job)  # attempt 1 ignores the stop and writes on while attempt 2 runs beside it
        wait_until(lambda: attempt_file(store.data.job_dir(job), "attempt2-2.txt"), 20, "attempt 2 to write")
        assert attempt_file(store.data.job_dir(job), "attempt1-0.txt")  # both attempts really overlapped
        wait_status(store, job, JobStatus.COMPLETED)
        worker.wait_for_event("handler stopped", job=job)  # attempt 1 ended after its claim was gone
        outputs = sorted(p.name for p in store.data.output_dir(job).iterdir())
        assert outputs and all(name.startswith("attempt2-") for name in outputs)
        assert store.get(job).result == {"attempt": 2}
        wait_until(lambda: not any(store.data.job_dir(job).glob("attempts/*")), 10, "the stale attempt's folder to go")
        assert worker.stop() == 0


def test_an_outcome_the_store_refuses_for_a_while_is_recorded_later_not_lost(
        tmp_path: Path, plugin_env: dict[str, str], sample_file: Path) -> None:
    with Store(tmp_path / "data") as store:
        worker = WorkerProcess(store.data.root, plugin_env)
        job = add_job(store, sample_file, "sleep", seconds="1")
        wait_progress(store, job)
        blocker = sqlite3.connect(store.data.database, isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")  # another program holds the write lock as the job finishes
        try:
            worker.wait_for_event("could not record completed jobs or claim new ones; will retry", jobs=[job])
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
        wait_status(store, job, JobStatus.COMPLETED)
        after = add_job(store, sample_file, "noop")
        wait_status(store, after, JobStatus.COMPLETED)
        assert worker.stop() == 0


def test_deleting_a_running_job_removes_every_file_and_touches_no_other(
        tmp_path: Path, plugin_env: dict[str, str], sample_file: Path) -> None:
    with Store(tmp_path / "data") as store:
        neighbour = add_job(store, sample_file, "noop")
        worker = WorkerProcess(store.data.root, plugin_env)
        wait_status(store, neighbour, JobStatus.COMPLETED)
        before = sorted(p.relative_to(store.data.root) for p in store.data.job_dir(neighbour).rglob("*"))
        job = add_job(store, sample_file, "writer")
        wait_until(lambda: store.get(job).progress > 5, 20, "the writer to write")
        assert store.delete(job) == f"job {job} cancelled and deleted"
        worker.wait_for_event("deleted job's files removed", job=job, timeout=3)
        assert not store.data.job_dir(job).exists()
        after = sorted(p.relative_to(store.data.root) for p in store.data.job_dir(neighbour).rglob("*"))
        assert after == before
        assert worker.stop() == 0


def test_sigterm_puts_interrupted_jobs_back_without_counting_an_attempt(
        tmp_path: Path, plugin_env: dict[str, str], sample_file: Path) -> None:
    with Store(tmp_path / "data") as store:
        worker = WorkerProcess(store.data.root, plugin_env, "--concurrency", "2")
        jobs = [add_job(store, sample_file, "sleep", seconds="60") for _ in range(2)]
        for job in jobs:
            wait_progress(store, job)
        assert worker.stop(timeout=10) == 0
        for job in jobs:
            row = store.get(job)
            assert (row.status, row.attempts, row.claimed_by) == (JobStatus.PENDING, 0, None)
        assert store.live_workers() == []


def test_a_second_signal_stops_at_once(tmp_path: Path, plugin_env: dict[str, str], sample_file: Path) -> None:
    with Store(tmp_path / "data") as store:
        worker = WorkerProcess(store.data.root, plugin_env, "--grace", "60")
        job = add_job(store, sample_file, "stubborn", seconds="120")
        wait_until(lambda: attempt_file(store.data.job_dir(job), "pid"), 20, "the handler to start")
        worker.signal(signal.SIGTERM)
        worker.wait_for_event("stopping")
        worker.signal(signal.SIGINT)
        assert worker.proc.wait(timeout=10) == 0  # well before the 60 s grace
        assert store.get(job).status is JobStatus.PENDING


def test_kill_9_of_a_worker_mid_job_then_a_new_worker_rescues_it(
        tmp_path: Path, plugin_env: dict[str, str], sample_file: Path) -> None:
    with Store(tmp_path / "data") as store:
        job = add_job(store, sample_file, "sleep", seconds="4")  # long enough to be mid-job at the kill
        first = WorkerProcess(store.data.root, plugin_env, "--lease", "2")
        wait_progress(store, job)
        handler_pid = first.find("job started", job=job)[0]["pid"]
        first.kill()
        wait_until(lambda: not pid_alive(handler_pid), 5, "the orphaned handler to exit with its worker")
        assert store.get(job).status is JobStatus.RUNNING  # held by a dead worker, until its lease runs out
        second = WorkerProcess(store.data.root, plugin_env, "--lease", "2")
        second.wait_for_event("rescued job of a dead worker", job=job, timeout=10)
        wait_status(store, job, JobStatus.COMPLETED)
        row = store.get(job)
        assert row.attempts == 2
        assert any(e.reason.startswith("worker died") for e in store.history(job))
        assert second.stop() == 0


def test_a_worker_paused_past_its_lease_cannot_finish_its_old_job(
        tmp_path: Path, plugin_env: dict[str, str], sample_file: Path) -> None:
    with Store(tmp_path / "data") as store:
        job = add_job(store, sample_file, "sleep", seconds="4")  # cannot finish before the pause under load
        paused = WorkerProcess(store.data.root, plugin_env, "--lease", "2")
        wait_progress(store, job)
        paused.signal(signal.SIGSTOP)
        try:
            rescuer = WorkerProcess(store.data.root, plugin_env, "--lease", "2")
            wait_status(store, job, JobStatus.COMPLETED, timeout=30)
        finally:
            paused.signal(signal.SIGCONT)
        paused.wait_for_event("job finished but its claim was lost", job=job)
        (completion,) = [e for e in store.history(job) if e.to_status == "completed"]
        assert completion.actor == rescuer.find("worker started")[0]["worker"]
        assert store.get(job).attempts == 2
        assert paused.stop() == 0
        assert rescuer.stop() == 0


def test_progress_is_coalesced_and_the_handler_output_goes_to_the_job_log(
        tmp_path: Path, plugin_env: dict[str, str], sample_file: Path) -> None:
    with Store(tmp_path / "data") as store:
        job = add_job(store, sample_file, "chatty", calls="300000")
        worker = WorkerProcess(store.data.root, plugin_env, "--exit-when-idle")
        assert worker.proc.wait(timeout=60) == 0
        row = store.get(job)
        assert row.status is JobStatus.COMPLETED
        assert row.rev < 100  # 300,000 progress calls became a handful of writes
        log = run_dock(store.data.root, "show", str(job), "--log").stdout
        assert "made 300000 progress calls" in log and "printed by the handler" in log


def test_a_plugin_that_fails_to_import_is_reported_and_never_stops_the_worker(
        tmp_path: Path, sample_file: Path) -> None:
    plugin_env = install_test_plugins(tmp_path / "site", with_broken=True)
    listing = subprocess.run([sys.executable, "-m", "dock", "handlers"], check=False, capture_output=True, text=True,
                             env=plugin_env, timeout=30)
    assert listing.returncode == 0
    assert "plugin 'broken' failed to load" in listing.stderr
    assert "noop" in listing.stdout and "plugin dock_test_plugins:noop" in listing.stdout
    with Store(tmp_path / "data") as store:
        job = add_job(store, sample_file, "noop")
        worker = WorkerProcess(store.data.root, plugin_env, "--exit-when-idle")
        assert worker.proc.wait(timeout=30) == 0
        assert worker.find("plugin failed to load", plugin="broken")
        assert store.get(job).status is JobStatus.COMPLETED


def test_the_worker_does_not_outlive_the_process_that_started_it(tmp_path: Path, plugin_env: dict[str, str]) -> None:
    data = tmp_path / "data"
    Store(data).close()
    pid_file = tmp_path / "worker.pid"
    starter = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import os, subprocess, sys, threading
        worker = subprocess.Popen([sys.executable, "-m", "worker", "--data-dir", {str(data)!r},
                                   "--parent-pid", str(os.getpid())], stderr=subprocess.DEVNULL)
        open({str(pid_file)!r}, "w").write(str(worker.pid))
        threading.Event().wait()
    """)], env=plugin_env)
    wait_until(lambda: pid_file.exists() and pid_file.read_text(), 20, "the worker to start")
    worker_pid = int(pid_file.read_text())
    with Store(data) as store:
        wait_until(store.live_workers, 20, "the worker to register")
        starter.kill()
        starter.wait()
        wait_until(lambda: not pid_alive(worker_pid), 5, "the worker to stop after its parent died")
        assert store.live_workers() == []  # it stopped cleanly, unregistering itself


def test_four_workers_racing_over_2000_jobs_claim_each_exactly_once(
        tmp_path: Path, plugin_env: dict[str, str]) -> None:
    with Store(tmp_path / "data") as store:
        # Jobs of 20 ms: no-op jobs would all be done by the first worker before the fourth has started.
        ids = store.add([NewJob("sleep", f"f{i}.txt", None, f"f{i}.txt", 0, {"seconds": "0.02"}, 3)
                         for i in range(2000)])
        workers = [WorkerProcess(store.data.root, plugin_env, "--exit-when-idle", "--concurrency", "2")
                   for _ in range(4)]
        for worker in workers:
            assert worker.proc.wait(timeout=240) == 0
        rows = store.get_many(ids)
        assert {row.status for row in rows.values()} == {JobStatus.COMPLETED}
        assert {row.attempts for row in rows.values()} == {1}
        claims = [e for job in ids[:: 50] for e in store.history(job) if e.to_status == "running"]
        assert len(claims) == len(ids[::50])
        started = [e["job"] for w in workers for e in w.find("job started")]
        assert sorted(started) == ids  # every job started exactly once, across all four workers
        assert all(len(w.find("job started")) > 0 for w in workers)
        for worker in workers:
            assert worker.errors() == []
            assert "locked" not in worker.log_path.read_text()


def test_the_window_flag_is_optional_from_a_shell(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "worker", "--help"], check=False, capture_output=True, text=True,
                            timeout=30)
    assert result.returncode == 0
    for flag in ("--data-dir", "--concurrency", "--grace", "--exit-when-idle", "--parent-pid"):
        assert flag in result.stdout


@pytest.mark.parametrize("flag", ["--lease", "--grace"])
@pytest.mark.parametrize("value", ["nan", "inf", "0", "-1", "1e300", "soon"])
def test_durations_that_are_not_a_number_of_seconds_are_usage_errors(tmp_path: Path, flag: str, value: str) -> None:
    result = subprocess.run([sys.executable, "-m", "worker", "--data-dir", str(tmp_path / "data"), flag, value],
                            check=False, capture_output=True, text=True, timeout=30)
    assert result.returncode == 2, result.stderr
    assert f"argument {flag}: expected a number of seconds" in result.stderr
    assert not (tmp_path / "data").exists()  # refused before anything was opened


def short_jobs(store: Store, count: int) -> list[int]:
    """No-op jobs without an upload: a handler that takes a fraction of a millisecond, which the worker
    learns to claim ahead."""
    return store.add([NewJob("noop", f"q{i}.txt", None, f"q{i}.txt", 0, {}, 3) for i in range(count)])


def slow_job(store: Store, seconds: str) -> int:
    (job_id,) = store.add([NewJob("sleep", "slow.txt", None, "slow.txt", 0, {"seconds": seconds}, 3)])
    return job_id


def test_short_jobs_claimed_ahead_are_given_back_when_a_slow_one_holds_up_their_slot(
        tmp_path: Path, plugin_env: dict[str, str]) -> None:
    with Store(tmp_path / "data") as store:
        before = short_jobs(store, 60)  # they set the pace: the worker claims ahead behind them
        slow = slow_job(store, "3")
        after = short_jobs(store, 20)
        worker = WorkerProcess(store.data.root, plugin_env)
        wait_until(lambda: store.unfinished() == 0, 30, "every job to finish")
        given_back = [j for j in after if any("claimed ahead" in e.reason for e in store.history(j))]
        assert given_back, "no job was claimed ahead behind the slow one"
        # Given back, a job is not claimed again while the slow one holds the only slot: its next claim is
        # made in the transaction that records the slow job's completion, or after it. (Read from the
        # history, not watched live, so a loaded machine cannot make the test miss the moment.)
        (slow_done,) = [e.at for e in store.history(slow) if e.to_status == "completed"]
        for job_id in given_back:
            events = store.history(job_id)
            back = max(i for i, e in enumerate(events) if "claimed ahead" in e.reason)
            claims_after = [e.at for e in events[back:] if e.to_status == "running"]
            assert claims_after and min(claims_after) >= slow_done, events
        rows = store.get_many([*before, slow, *after])
        assert {row.status for row in rows.values()} == {JobStatus.COMPLETED}
        assert {row.attempts for row in rows.values()} == {1}  # giving a job back does not spend an attempt
        started = [e["job"] for e in worker.find("job started")]
        assert sorted(started) == sorted(rows)  # each job ran once
        assert worker.stop() == 0
        assert worker.errors() == []


def test_a_job_claimed_ahead_and_deleted_before_its_turn_never_runs(
        tmp_path: Path, plugin_env: dict[str, str], sample_file: Path) -> None:
    with Store(tmp_path / "data") as store:
        short_jobs(store, 60)
        slow = slow_job(store, "2")
        target = add_job(store, sample_file, "noop")
        (following,) = short_jobs(store, 1)
        worker = WorkerProcess(store.data.root, plugin_env)
        wait_until(lambda: status_of(store, target) == JobStatus.RUNNING, 10, "the job to be claimed ahead")
        assert status_of(store, slow) == JobStatus.RUNNING  # claimed behind the slow job, so not started
        store.delete(target)
        wait_status(store, following, JobStatus.COMPLETED)
        assert not worker.find("job started", job=target)
        wait_until(lambda: not store.data.job_dir(target).exists(), 10, "the deleted job's folder to go")
        assert worker.stop() == 0
        assert worker.errors() == []


def test_a_completion_whose_outputs_cannot_be_published_fails_that_attempt_only(
        tmp_path: Path, plugin_env: dict[str, str], sample_file: Path) -> None:
    with Store(tmp_path / "data", backoff=Backoff(base=0.01, cap=0.01)) as store:
        worker = WorkerProcess(store.data.root, plugin_env)
        bad = add_job(store, sample_file, "squatter", max_attempts=1)
        good = add_job(store, sample_file, "noop")
        wait_status(store, bad, JobStatus.FAILED)
        wait_status(store, good, JobStatus.COMPLETED)
        job = store.get(bad)
        assert job.error is not None and job.error.startswith("could not publish the job's outputs")
        assert worker.stop() == 0
        assert worker.errors() == []
