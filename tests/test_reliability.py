"""The reliability battery: kills, pauses, races and damaged stores, each printing its figures.

Run it alone with `pytest -m reliability`; it also runs with the rest of the suite (and so in CI). Each test
prints one `[reliability] ...` line straight to the terminal (capture disabled), so the figures show in CI logs.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import run_dock
from tests.workerkit import WorkerProcess, install_test_plugins, pid_alive, wait_until
from worker.store import Store
from worker.store.rows import NewJob
from worker.store.states import Action, JobStatus

Report = Callable[..., None]
LOCKED = "locked"  # the word SQLite's "database is locked" and the dock's own message share


@pytest.fixture(scope="module")
def plugin_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return install_test_plugins(tmp_path_factory.mktemp("site"))


@pytest.fixture
def report(capsys: pytest.CaptureFixture[str], request: pytest.FixtureRequest) -> Report:
    """Print a test's figures as one line, past pytest's capture, so that they appear in CI output."""

    def emit(**figures: object) -> None:
        line = f"[reliability] {request.node.name}: " + ", ".join(f"{k}={v}" for k, v in figures.items())
        with capsys.disabled():
            print(f"\n{line}", flush=True)

    return emit


def job(handler: str, i: int, max_attempts: int = 3, **params: str) -> NewJob:
    """A job without an uploaded file: these handlers never read their input."""
    return NewJob(handler, f"{handler}-{i}.txt", None, f"{handler}-{i}.txt", 0, dict(params), max_attempts)


def db_query(store: Store, sql: str) -> list[tuple[Any, ...]]:
    """A read through a plain sqlite3 connection: the test's own view, independent of the engine's."""
    conn = sqlite3.connect(f"file:{store.data.database}?mode=ro", uri=True, timeout=10)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def integrity(store: Store) -> str:
    return " ".join(str(row[0]) for row in db_query(store, "PRAGMA integrity_check"))


def events_per_job(store: Store, to_status: str) -> Counter[int]:
    rows = db_query(store, f"SELECT job_id, count(*) FROM job_events WHERE to_status = '{to_status}' GROUP BY job_id")
    return Counter({job_id: count for job_id, count in rows})


def _json(line: str) -> dict[str, Any]:
    try:
        value = json.loads(line)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def count_in(store: Store, status: JobStatus) -> int:
    return store.counts()[status]


def log_problems(worker: WorkerProcess, killed: bool = False) -> list[str]:
    """Error events, text that is not a JSON event (a traceback), and any mention of a locked database in a
    worker's log. A worker `killed` with SIGKILL may have been cut off in the middle of its last line: that
    line is not held against it.
    """
    found: list[str] = []
    blocks: list[list[str]] = []  # runs of lines that are not JSON events: tracebacks
    current: list[str] | None = None
    lines = worker.log_path.read_text().splitlines()
    if killed and lines and not _json(lines[-1]) and lines[-1].startswith('{"ts": '):
        lines.pop()
    for line in lines:
        event = _json(line)
        if not event:
            if current is None:
                current = []
                blocks.append(current)
            current.append(line)
            continue
        current = None
        if event.get("level") == "error":
            found.append(f"error event: {event}")
        if LOCKED in line:
            found.append(f"{LOCKED!r} in {line}")
    return found + ["\n".join(block) for block in blocks]


# ---- kill -9 ------------------------------------------------------------------------------------------------

KILLS = 10
KILL_JOBS = 300


def _completed_or_exited(store: Store, worker: WorkerProcess, target: int) -> bool:
    return count_in(store, JobStatus.COMPLETED) >= target or worker.proc.poll() is not None


def _all_gone(pids: set[int]) -> bool:
    return not any(pid_alive(pid) for pid in pids)


@pytest.mark.reliability
def test_kill_9_at_random_moments_loses_no_job_and_completes_none_twice(
        tmp_path: Path, plugin_env: dict[str, str], report: Report) -> None:
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    started = time.monotonic()
    with Store(tmp_path / "data") as store:
        kinds = ["noop"] * 240 + ["sleep"] * (KILL_JOBS - 240)  # sleeps give the kills something to interrupt
        rng.shuffle(kinds)
        ids = store.add([job(kind, i, max_attempts=20, seconds=f"{rng.uniform(0.05, 0.3):.2f}")
                         for i, kind in enumerate(kinds)])
        workers: list[WorkerProcess] = []
        kills = 0
        while True:
            # A short lease, so that the next worker rescues the dead one's jobs within about a second.
            worker = WorkerProcess(store.data.root, plugin_env, "--lease", "1", "--exit-when-idle")
            workers.append(worker)
            if kills == KILLS:
                break
            # A random moment: after a random number of further completions (never a timed sleep).
            target = count_in(store, JobStatus.COMPLETED) + rng.randint(3, 22)
            wait_until(partial(_completed_or_exited, store, worker, target), 60, f"{target} completions")
            if worker.proc.poll() is not None:
                break
            handlers = {e["pid"] for e in worker.find("job started")}
            worker.kill()
            kills += 1
            # Its handler processes die with it (PR_SET_PDEATHSIG): none is left running a job nobody owns.
            wait_until(partial(_all_gone, handlers), 5, "the dead worker's handlers")
        assert worker.proc.wait(timeout=120) == 0

        rows = store.get_many(ids)
        assert Counter(row.status for row in rows.values()) == {JobStatus.COMPLETED: KILL_JOBS}  # none lost
        completions = events_per_job(store, "completed")
        assert {completions[i] for i in ids} == {1}  # none completed twice
        logged = Counter(e["job"] for w in workers for e in w.find("job completed"))
        assert max(logged.values()) == 1
        assert integrity(store) == "ok"
        for w in workers:
            assert log_problems(w, killed=w is not worker) == [], w.log_path
        reruns = sum(row.attempts for row in rows.values()) - len(ids)
        rescued = sum(len(w.find("rescued job of a dead worker")) for w in workers)
    assert kills == KILLS
    report(jobs=KILL_JOBS, kills=kills, workers_started=len(workers), rescued=rescued, reruns=reruns,
           completed_once=f"{sum(1 for i in ids if completions[i] == 1)}/{KILL_JOBS}", integrity="ok",
           seconds=f"{time.monotonic() - started:.1f}", seed=seed)


# ---- SIGSTOP past the lease ---------------------------------------------------------------------------------

@pytest.mark.reliability
def test_a_worker_paused_past_its_lease_has_every_late_finish_refused(
        tmp_path: Path, plugin_env: dict[str, str], report: Report) -> None:
    lease = 2.0
    with Store(tmp_path / "data") as store:
        # Long enough that none can finish before the pause even on a loaded machine.
        ids = store.add([job("sleep", i, seconds="4") for i in range(3)])
        paused = WorkerProcess(store.data.root, plugin_env, "--lease", f"{lease:g}", "--concurrency", "3")
        wait_until(lambda: all(row.progress > 0 for row in store.get_many(ids).values()), 20, "all three running")
        paused.signal(signal.SIGSTOP)
        stopped_at = time.monotonic()
        try:
            # Its handlers run on and finish while it sleeps; their results wait in its pipes.
            rescuer = WorkerProcess(store.data.root, plugin_env, "--lease", f"{lease:g}", "--concurrency", "3")
            wait_until(lambda: count_in(store, JobStatus.COMPLETED) == 3, 40, "the rescuer to finish all three")
            paused_for = time.monotonic() - stopped_at
        finally:
            paused.signal(signal.SIGCONT)
        for job_id in ids:
            paused.wait_for_event("job finished but its claim was lost", job=job_id)
        paused.wait_for_event("heartbeat row was gone: re-registering")
        rescuer_id = rescuer.find("worker started")[0]["worker"]
        for job_id in ids:
            history = store.history(job_id)
            (completion,) = [e for e in history if e.to_status == "completed"]
            assert completion.actor == rescuer_id
            assert store.get(job_id).attempts == 2
            assert any(e.reason.startswith("worker died") for e in history)
        # The woken worker is still a good worker: it takes new work.
        (after,) = store.add([job("noop", 99)])
        wait_until(lambda: store.get(after).status is JobStatus.COMPLETED, 20, "a job after the pause")
        assert paused.stop() == 0
        assert rescuer.stop() == 0
        assert log_problems(paused) == [] and log_problems(rescuer) == []
    refused = len(paused.find("job finished but its claim was lost"))
    report(lease_s=lease, paused_s=f"{paused_for:.1f}", jobs=3,
           rescued=len(rescuer.find("rescued job of a dead worker")), late_finishes_refused=f"{refused}/3",
           completed_by_rescuer="3/3")


# ---- four workers, the window and the command line at once ---------------------------------------------------

RACE_JOBS = 400
WINDOW_STEPS = 80
CLI_REFUSAL = re.compile(r"^dock: (cannot (cancel|delete|fail|retry) job \d+: it is \w+;.*|job \d+ does not exist)$")


class CommandLineUser:
    """`dock cancel|delete|fail|retry ID...` in a loop on a thread, as a script running beside the window would."""

    def __init__(self, data: Path, ids: list[int], seed: int) -> None:
        self.runs: list[tuple[str, int, str]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, args=(data, ids, random.Random(seed)), daemon=True)

    def _loop(self, data: Path, ids: list[int], rng: random.Random) -> None:
        while not self._stop.is_set():
            verb = rng.choice(["cancel", "delete", "fail", "retry"])
            result = run_dock(data, verb, *map(str, rng.sample(ids, 3)))
            self.runs.append((verb, result.returncode, result.stderr))

    def __enter__(self) -> CommandLineUser:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=60)


def _window_step(window: Any, rng: random.Random, tally: Counter[str]) -> None:
    """One thing a user does in the window: a row action on a few rows, or a bulk action."""
    model = window.model
    rows = [model.row_at(i) for i in range(model.rowCount())]
    active = [r.id for r in rows if r.status in (JobStatus.PENDING, JobStatus.RUNNING)]
    retryable = [r.id for r in rows if r.status in (JobStatus.FAILED, JobStatus.CANCELLED)]
    finished = [r.id for r in rows if r.status in (JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED)]
    roll = rng.random()
    if roll < 0.05:
        tally["Cancel All Running"] += 1
        window.job_actions.cancel_all_running.trigger()
    elif roll < 0.10:
        tally["Retry All Failed"] += 1
        window.job_actions.retry_all_failed.trigger()
    else:
        choices = [(Action.DELETE, active, "Cancel & Delete"), (Action.FAIL, active, "Force Fail"),
                   (Action.RETRY, retryable, "Retry"), (Action.DELETE, finished, "Remove")]
        action, pool, name = choices[rng.choices(range(4), weights=[3, 3, 3, 1])[0]]
        if pool:
            tally[name] += 1
            window.job_actions.run(action, rng.sample(pool, min(len(pool), rng.randint(1, 3))))


@pytest.mark.reliability
@pytest.mark.qt_log_ignore("This plugin does not support propagateSizeHints")
def test_four_workers_the_window_and_the_command_line_at_once(
        tmp_path: Path, plugin_env: dict[str, str], report: Report, qtbot: Any, monkeypatch: pytest.MonkeyPatch,
) -> None:
    from PySide6.QtCore import QSettings

    from dock.window import MainWindow

    # Jobs force-failed and retried over and over climb the backoff towards minutes: keep retries quick here
    # (the window's store and every `dock` the command-line user runs read these).
    monkeypatch.setenv("DOCK_RETRY_BASE", "0.2")
    monkeypatch.setenv("DOCK_RETRY_CAP", "1")
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    started = time.monotonic()
    data = tmp_path / "data"
    with Store(data) as store, Store(data) as window_store:
        kinds = ["noop"] * 250 + ["sleep"] * (RACE_JOBS - 250)
        rng.shuffle(kinds)
        ids = store.add([job(kind, i, seconds=f"{rng.uniform(0.2, 0.6):.2f}") for i, kind in enumerate(kinds)])
        window: Any = MainWindow(window_store, QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat),
                            poll_interval_ms=100)
        qtbot.addWidget(window)
        window.job_actions.confirm = lambda _title, _text: True
        notices: list[tuple[str, str]] = []
        window.job_actions.notice.connect(lambda kind, text, _details: notices.append((kind, text)))
        window.poller.failed.connect(lambda message: notices.append(("poll failed", message)))
        outcomes: Counter[str] = Counter()
        window.job_actions.applied.connect(
            lambda _action, done: outcomes.update("accepted" if o.ok else "refused" for o in done))
        qtbot.waitUntil(lambda: window.model.rowCount() == RACE_JOBS, timeout=20_000)
        workers = [WorkerProcess(data, plugin_env, "--concurrency", "2") for _ in range(4)]
        tally: Counter[str] = Counter()
        with CommandLineUser(data, ids, seed + 1) as cli:
            for _ in range(WINDOW_STEPS):
                # Act whenever the workers have finished a few more jobs: paced by their progress, not a clock.
                seen = sum(count_in(store, s) for s in (JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED))
                qtbot.waitUntil(lambda s=seen: store.unfinished() == 0 or sum(
                    count_in(store, st) for st in (JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED))
                    >= s + 3, timeout=30_000)
                _window_step(window, rng, tally)
        qtbot.waitUntil(lambda: window.model.busy_count() == 0, timeout=20_000)
        wait_until(lambda: store.unfinished() == 0, 90, "every job to finish (retries wait out their backoff)")
        for worker in workers:
            assert worker.stop() == 0
        window.close()

        # No "database is locked" anywhere: workers, command line, window.
        assert [p for w in workers for p in log_problems(w)] == []
        assert not [n for n in notices if n[0] in ("error", "poll failed") or LOCKED in n[1]], notices
        assert {code for _, code, _ in cli.runs} <= {0, 1}
        cli_lines = [line for _, _, err in cli.runs for line in err.splitlines()]
        assert [line for line in cli_lines if not CLI_REFUSAL.match(line)] == []
        # Each job claimed once per attempt: no (job, attempt) started twice, across all four workers...
        starts = Counter((e["job"], e["attempt"]) for w in workers for e in w.find("job started"))
        assert max(starts.values()) == 1
        # ...and every start was a claim the store recorded. A claim may end unstarted: workers claim short jobs
        # ahead, and one cancelled, deleted or given back before its turn never starts.
        started_per_job = Counter(job_id for job_id, _ in starts)
        remaining = store.get_many(ids)
        claims = events_per_job(store, "running")
        assert not [j for j in remaining if started_per_job[j] > claims[j]]
        unstarted = sum(claims[j] - started_per_job[j] for j in remaining)
        assert not [row for row in remaining.values() if row.status in (JobStatus.PENDING, JobStatus.RUNNING)]
        assert integrity(store) == "ok"
        deleted = set(ids) - set(remaining)
        assert not [j for j in deleted if store.data.job_dir(j).exists()]  # no file of a deleted job survives
        assert list(store.data.staging.iterdir()) == []
        final = Counter(row.status.value for row in remaining.values())
    report(jobs=RACE_JOBS, workers=4, claims=sum(starts.values()), claims_unstarted=unstarted,
           window_actions=dict(tally),
           window_outcomes=dict(outcomes), cli_calls=len(cli.runs),
           cli_refused=sum(1 for _, code, _ in cli.runs if code == 1), deleted=len(deleted), final=dict(final),
           locked_errors=0, seconds=f"{time.monotonic() - started:.1f}", seed=seed)


@pytest.mark.reliability
def test_deleting_a_job_as_its_new_handler_process_starts_leaves_that_process_alive(
        tmp_path: Path, plugin_env: dict[str, str]) -> None:
    with Store(tmp_path / "data") as store:
        worker = WorkerProcess(store.data.root, plugin_env)
        (job_id,) = store.add([job("sleep", 0, seconds="5")])
        # The first claim starts a new handler process: delete while it is still starting up (~0.3 s). It
        # used to die of a FileNotFoundError traceback on the worker's stderr (fixed in worker/child.py).
        wait_until(lambda: store.get(job_id).status is JobStatus.RUNNING, 20, "the claim")
        store.delete(job_id)
        worker.wait_for_event("deleted job's files removed", job=job_id)
        assert worker.stop() == 0
        assert not worker.find("handler process ended", job=job_id)
        assert log_problems(worker) == []


# ---- the drain rate must not fall with the backlog ---------------------------------------------------------

def _vm_steps(store: Store, run: Callable[[], object]) -> int:
    """SQLite virtual-machine steps (in hundreds) spent by the transactions that `run` makes: a cost that does
    not depend on the machine's speed or load, so it can be compared across backlogs without timing anything.
    Counted on the connection the store writes through: the hot path runs its transactions on the driver."""
    steps = [0]

    def count() -> int:
        steps[0] += 1
        return 0  # carry on

    driver = store.own_connection().connection.driver_connection
    assert driver is not None
    driver.set_progress_handler(count, 100)
    try:
        run()
    finally:
        driver.set_progress_handler(None, 0)
    assert steps[0] > 0, "nothing ran on the store's own connection: the count would prove nothing"
    return steps[0]


def _claim_and_complete(store: Store, rounds: int) -> None:
    for _ in range(rounds):
        (claim,) = store.claim("bench-worker")
        assert store.complete(claim.job_id, claim.token, {"ok": True}, "bench-worker")


@pytest.mark.reliability
def test_claiming_costs_the_same_at_any_backlog(tmp_path: Path, report: Report) -> None:
    costs = {}
    for backlog in (1_000, 50_000):
        with Store(tmp_path / f"data-{backlog}") as store:
            for start in range(0, backlog, 10_000):
                store.add([job("noop", i) for i in range(start, min(backlog, start + 10_000))])
            costs[backlog] = _vm_steps(store, partial(_claim_and_complete, store, 50))
    # The claim walks ix_jobs_claim to the oldest due job and updates it by primary key: 50x the backlog
    # may cost a few more b-tree levels, never 50x the work.
    assert costs[50_000] < 2 * costs[1_000], costs
    report(vm_steps_per_claim_and_finish={b: f"{c * 100 / 50:.0f}" for b, c in costs.items()})


# ---- kill -9 of the window ---------------------------------------------------------------------------------

WINDOW_DRIVER = textwrap.dedent("""
    import sys
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication
    from dock.app import configure
    from dock.window import MainWindow
    from worker.store import Store

    app = QApplication([])
    configure(app)
    window = MainWindow(Store(sys.argv[1]), QSettings(sys.argv[2], QSettings.Format.IniFormat))
    window.show()
    window.start_worker_action.trigger()  # Worker > Start Worker, as a user would
    app.exec()
""")


def _kill_the_window_mid_job(tmp_path: Path, store: Store) -> tuple[float, float]:
    """Start the real window with a running job, SIGKILL it; seconds until its worker and handler are gone."""
    (job_id,) = store.add([job("sleep", 0, seconds="60")])
    window = subprocess.Popen([sys.executable, "-c", WINDOW_DRIVER, str(store.data.root),
                               str(tmp_path / "settings.ini")], stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: store.get(job_id).progress > 0, 30, "the window's worker to run the job")
        (info,) = store.live_workers()
        with open(f"/proc/{info.pid}/stat") as f:
            assert int(f.read().rsplit(")", 1)[1].split()[1]) == window.pid  # the window's own worker
        handler_pid = next(e["pid"] for e in map(_json, store.data.worker_log.read_text().splitlines())
                           if e.get("event") == "job started")
        window.kill()
        killed_at = time.monotonic()
        wait_until(lambda: not pid_alive(info.pid), 5, "the worker to stop after its window died")
        worker_gone = time.monotonic() - killed_at
        wait_until(lambda: not pid_alive(handler_pid), 5, "the handler to stop with its worker")
        handler_gone = time.monotonic() - killed_at
    finally:
        window.kill()
        window.wait()
    row = store.get(job_id)
    # It stopped the graceful way: the job is back in the queue, its attempt not counted, its row gone.
    assert (row.status, row.attempts) == (JobStatus.PENDING, 0)
    assert store.live_workers() == []
    return worker_gone, handler_gone


@pytest.mark.reliability
def test_kill_9_of_the_window_leaves_no_worker_behind(tmp_path: Path, report: Report) -> None:
    with Store(tmp_path / "data") as store:
        worker_gone, handler_gone = _kill_the_window_mid_job(tmp_path, store)
    report(worker_gone_s=f"{worker_gone:.2f}", handler_gone_s=f"{handler_gone:.2f}", job="released to pending",
           how="real MainWindow in a subprocess, Start Worker, then SIGKILL")


@pytest.mark.reliability
def test_kill_9_of_the_window_gives_its_workers_handlers_their_grace(tmp_path: Path) -> None:
    """Parent death comes as SIGHUP, once per thread of the dying window: never read as 'stop at once'."""
    with Store(tmp_path / "data") as store:
        _kill_the_window_mid_job(tmp_path, store)
        events = [_json(line) for line in store.data.worker_log.read_text().splitlines()]
    assert [e["event"] for e in events if e.get("level") == "warning"] == []  # not "killing its process group"
    assert sum(e.get("event") == "stopping" for e in events) == 1


# ---- damaged, newer and locked stores -------------------------------------------------------------------------

def fingerprint(root: Path) -> dict[str, str]:
    """Every file under the data folder with a hash of its bytes: 'nothing deleted, nothing changed'."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and not p.name.endswith(("-wal", "-shm"))}


@pytest.fixture
def populated(tmp_path: Path, sample_file: Path) -> Iterator[Path]:
    """A data folder with a few real jobs and their uploaded files, checkpointed into the main file."""
    from worker.registry import load_registry
    from worker.uploads import prepare

    data = tmp_path / "data"
    with Store(data) as store:
        new_jobs, _ = prepare(store.data, [sample_file] * 3, load_registry(include_plugins=False))
        store.add(new_jobs)
        store.add([job("noop", i) for i in range(2000)])  # enough rows that the table spans many pages
    conn = sqlite3.connect(data / "dock.sqlite3")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    yield data


def _garbage_pages(db: Path) -> None:
    with db.open("r+b") as f:
        f.seek(3 * 4096)
        f.write(random.Random(1).randbytes(4 * 4096))


def _garbage_header(db: Path) -> None:
    with db.open("r+b") as f:
        f.write(b"not a database, just bytes")


def _newer_schema(db: Path) -> None:
    conn = sqlite3.connect(db)
    with conn:
        conn.execute("UPDATE alembic_version SET version_num = '9999'")
    conn.close()


def run_both(data: Path, *dock_args: str) -> tuple[subprocess.CompletedProcess[str], subprocess.CompletedProcess[str]]:
    """`dock ...` and a worker on the same folder, at the same time (each may wait out the busy timeout)."""
    with subprocess.Popen([sys.executable, "-m", "worker", "--data-dir", str(data), "--exit-when-idle"],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as worker:
        cli = run_dock(data, *dock_args)
        out, err = worker.communicate(timeout=60)
    return cli, subprocess.CompletedProcess(worker.args, worker.returncode, out, err)


def assert_clear(cli: subprocess.CompletedProcess[str], worker: subprocess.CompletedProcess[str], words: str) -> None:
    """Exit 1 and a message that says what is wrong (never a traceback) from both programs."""
    assert (cli.returncode, cli.stdout) == (1, "")
    assert cli.stderr.startswith("dock: ") and words in cli.stderr and "Traceback" not in cli.stderr, cli.stderr
    assert worker.returncode == 1, worker.stderr
    (line,) = worker.stderr.splitlines()  # one JSON log line, not a traceback
    event = _json(line)
    assert event.get("level") == "error" and words in str(event.get("error")), line


@pytest.mark.reliability
@pytest.mark.parametrize(("damage", "words"), [
    (_garbage_header, "is not a SQLite database"),
    (_garbage_pages, "is damaged"),
    (_newer_schema, "made by a newer version"),
], ids=["not-sqlite", "corrupt-pages", "newer-version"])
def test_a_damaged_or_newer_store_gets_a_clear_message_and_is_left_untouched(
        populated: Path, report: Report, damage: Callable[[Path], None], words: str) -> None:
    damage(populated / "dock.sqlite3")
    before = fingerprint(populated)
    cli, worker = run_both(populated, "ls")
    assert_clear(cli, worker, words)
    assert fingerprint(populated) == before  # nothing deleted, not one byte changed
    report(files_unchanged=len(before), message=cli.stderr.split("dock.sqlite3", 1)[1].split("(")[0].strip()[:70])


LOCK_HOLDER = textwrap.dedent("""
    import sqlite3, sys
    conn = sqlite3.connect(sys.argv[1], isolation_level=None)
    if sys.argv[2] == "exclusive":
        conn.execute("PRAGMA locking_mode = EXCLUSIVE")  # not even readers get in
    conn.execute("BEGIN IMMEDIATE")
    conn.execute("UPDATE jobs SET message = 'held by another program' WHERE id = 1")
    print("holding", flush=True)
    sys.stdin.read()  # until the test closes our stdin; then roll back and go
""")


@pytest.mark.reliability
def test_a_store_locked_by_another_program_gets_a_clear_message_and_is_left_untouched(
        tmp_path: Path, populated: Path, report: Report, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCK_BUSY_TIMEOUT", "2")  # the programs under test give up after 2 s, not 10
    other = tmp_path / "other"
    subprocess.run(["cp", "-a", str(populated), str(other)], check=True)
    before = {populated: fingerprint(populated), other: fingerprint(other)}
    holders = {}
    for data, mode in ((populated, "exclusive"), (other, "writer")):
        holder = subprocess.Popen([sys.executable, "-c", LOCK_HOLDER, str(data / "dock.sqlite3"), mode],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert holder.stdout is not None and holder.stdout.readline() == "holding\n"
        holders[data] = holder
    results: dict[tuple[Path, str], tuple[subprocess.CompletedProcess[str], subprocess.CompletedProcess[str]]] = {}
    started = time.monotonic()
    try:
        # All the waits (each up to the busy timeout) overlap, to keep the battery short.
        threads = [threading.Thread(target=lambda d=d, a=a: results.__setitem__((d, a[0]), run_both(d, *a)))
                   for d in (populated, other) for a in (("ls",), ("cancel", "2"))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=90)
        waited = time.monotonic() - started
        for data in (populated, other):
            assert fingerprint(data) == before[data]  # while it is held: nothing written, nothing deleted
    finally:
        for holder in holders.values():
            holder.communicate(timeout=30)
    # An exclusive lock keeps everyone out: every command says so.
    for command in ("ls", "cancel"):
        assert_clear(*results[(populated, command)], "locked by another program")
    # Another program holding a write transaction: reading goes on (WAL), writing says it is locked.
    ls, worker_beside_ls = results[(other, "ls")]
    assert ls.returncode == 0 and "pending" in ls.stdout, ls.stderr
    assert_clear(*results[(other, "cancel")], "locked by another program")
    assert_clear(results[(other, "cancel")][0], worker_beside_ls, "locked by another program")
    for data in (populated, other):  # once the other program is gone, every job is still there
        with Store(data) as store:
            assert store.counts()[JobStatus.PENDING] == 2003
        assert fingerprint(data)["jobs/1/input/sample.txt"] == before[data]["jobs/1/input/sample.txt"]
    report(waited_s=f"{waited:.1f}", exclusive="ls, cancel and worker refused clearly",
           writer="ls works (WAL), cancel and worker refused clearly", files_unchanged=len(before[populated]))
