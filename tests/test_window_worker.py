"""The Worker menu: the real worker started from the window, stopped with it, and its crashes shown."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from dock.delegates import RowButton
from dock.window import MainWindow
from dock.worker_process import WORKER_GRACE_S, WorkerProcess, WorkerState, worker_command
from tests.test_window_actions import click_row_button
from tests.window_support import OFFSCREEN_NOISE, close_window, open_window, settings_at, wait_shown
from worker.registry import load_registry
from worker.store import Store
from worker.store.layout import DataDir
from worker.store.states import JobStatus
from worker.uploads import prepare

pytestmark = OFFSCREEN_NOISE

WORKER_START_S = 20  # a cold interpreter importing the engine on a busy CI machine


def sleep_jobs(store: Store, tmp_path: Path, *seconds: float) -> list[int]:
    """Real uploads for the built-in sleep handler, one per duration."""
    ids = []
    for i, duration in enumerate(seconds):
        path = tmp_path / f"nap-{i}.txt"
        path.write_text("zzz\n")
        new_jobs, refused = prepare(store.data, [path], load_registry(), handler="sleep",
                                    params={"seconds": str(duration)})
        assert not refused
        ids += store.add(new_jobs)
    return ids


def log_records(data: DataDir) -> list[dict[str, object]]:
    lines = data.worker_log.read_text().splitlines() if data.worker_log.exists() else []
    return [json.loads(line) for line in lines if line.startswith("{")]


def assert_no_unexpected_errors(data: DataDir) -> None:
    errors = [r for r in log_records(data) if r.get("level") in ("error", "critical")]
    assert not errors, f"the worker logged errors: {errors}"


def pid_alive(pid: int) -> bool:
    """Running, not a zombie waiting for a parent (in a container nobody may reap an orphan)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    state = next(line for line in status.splitlines() if line.startswith("State:"))
    return "zombie" not in state


@pytest.fixture
def window(qtbot: QtBot, store: Store, tmp_path: Path) -> MainWindow:
    window = open_window(qtbot, store, tmp_path / "dock.ini")
    window.set_concurrency(1)
    return window


def start_worker(qtbot: QtBot, window: MainWindow) -> int:
    window.start_worker_action.trigger()
    qtbot.waitUntil(lambda: window.worker.state is WorkerState.RUNNING, timeout=WORKER_START_S * 1000)
    assert window.worker.pid is not None
    return window.worker.pid


def test_start_worker_runs_a_job_to_completed(qtbot: QtBot, window: MainWindow, store: Store,
                                              tmp_path: Path) -> None:
    (job_id,) = sleep_jobs(store, tmp_path, 0.5)
    pid = start_worker(qtbot, window)
    assert window.worker_status.label.text() == f"Worker running · pid {pid} · 1 slot"
    wait_shown(qtbot, window, job_id, JobStatus.COMPLETED, timeout=WORKER_START_S * 1000)
    qtbot.waitUntil(lambda: any(w.pid == pid for w in window.worker_status._workers), timeout=5000)
    assert not window.worker_status.others.isVisible(), "our own worker is not listed as another one"
    assert store.get(job_id).result == {"seconds": 0.5, "steps": 5}
    assert_no_unexpected_errors(store.data)


def test_cancel_and_delete_a_running_job_then_the_worker_takes_the_next(
        qtbot: QtBot, window: MainWindow, store: Store, tmp_path: Path) -> None:
    long_job, next_job = sleep_jobs(store, tmp_path, 60, 0.3)
    start_worker(qtbot, window)
    wait_shown(qtbot, window, long_job, JobStatus.RUNNING, timeout=WORKER_START_S * 1000)
    qtbot.waitUntil(lambda: (store.get(long_job).progress or 0) > 0, timeout=5000)
    click_row_button(window, long_job, RowButton.CANCEL_DELETE)
    wait_shown(qtbot, window, long_job, None)
    wait_shown(qtbot, window, next_job, JobStatus.COMPLETED, timeout=15000)
    qtbot.waitUntil(lambda: not store.data.job_dir(long_job).exists(), timeout=10000)
    assert not store.get_many([long_job])
    assert_no_unexpected_errors(store.data)


def test_closing_the_window_stops_its_worker(qtbot: QtBot, store: Store, tmp_path: Path) -> None:
    window = open_window(qtbot, store, tmp_path / "dock.ini")
    (job_id,) = sleep_jobs(store, tmp_path, 60)
    pid = start_worker(qtbot, window)
    # Progress means the handler really runs (a SIGTERM between claim and start is the worker's own race).
    qtbot.waitUntil(lambda: store.get(job_id).progress > 0, timeout=WORKER_START_S * 1000)
    window.close()
    assert window.isVisible(), "it waits for its worker"
    assert window.statusBar().currentMessage() == "Stopping the worker before closing…"
    assert window.worker_status.label.text() == "Stopping the worker…"
    qtbot.waitUntil(lambda: window.is_shut_down, timeout=20000)
    assert not window.isVisible()
    assert not pid_alive(pid)
    job = store.get(job_id)
    assert job.status is JobStatus.PENDING and job.attempts == 0, "released, not failed"
    assert window.worker.outcome is not None and str(window.worker.outcome) == "exited normally"


def test_the_worker_log_is_viewable(qtbot: QtBot, window: MainWindow, store: Store, tmp_path: Path) -> None:
    (job_id,) = sleep_jobs(store, tmp_path, 0.2)
    start_worker(qtbot, window)
    wait_shown(qtbot, window, job_id, JobStatus.COMPLETED, timeout=WORKER_START_S * 1000)
    window.worker_log_action.trigger()
    log = window.worker_log
    assert log is not None and log.isVisible() and not log.isModal()
    qtbot.waitUntil(lambda: "INFO" in log.view.toPlainText(), timeout=3000)
    window.stop_worker_action.trigger()
    qtbot.waitUntil(lambda: window.worker.state is WorkerState.STOPPED, timeout=15000)


def test_a_crashed_worker_shows_its_exit_code_and_restarts(qtbot: QtBot, store: Store, tmp_path: Path) -> None:
    window = MainWindow(store, settings_at(tmp_path / "crash.ini"), poll_interval_ms=100,
                        worker_command=lambda _data, _n, _grace: [sys.executable, "-c", "import sys; sys.exit(3)"])
    qtbot.addWidget(window, before_close_func=lambda w: w.shut_down())
    window.show()
    states: list[WorkerState] = []
    window.worker.state_changed.connect(states.append)
    window.start_worker_action.trigger()
    qtbot.waitUntil(lambda: window.worker.state is WorkerState.CRASHED, timeout=10000)
    assert window.worker_status.label.text() == "Worker crashed (exit code 3)"
    assert window.worker_status.restart.isVisible()
    assert window.notice.isVisible() and "exited with code 3" in window.notice.text
    assert QApplication.activeModalWidget() is None
    states.clear()
    window.worker_status.restart.click()
    qtbot.waitUntil(lambda: states[-1:] == [WorkerState.CRASHED], timeout=10000)
    assert states[0] is WorkerState.STARTING
    close_window(qtbot, window)


def test_a_worker_that_cannot_start_is_a_crash(qtbot: QtBot, store: Store, tmp_path: Path) -> None:
    process = WorkerProcess(store.data, command=lambda _d, _n, _g: [str(tmp_path / "no-such-program")])
    with qtbot.waitSignal(process.finished, timeout=10000) as blocker:
        process.start(1)
    assert process.state is WorkerState.CRASHED
    assert str(blocker.args[0]).startswith("failed to start")


def test_a_worker_that_ignores_sigterm_is_killed_after_the_grace(qtbot: QtBot, store: Store) -> None:
    stubborn = ("import signal, sys\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
                "print('ready', flush=True)\nwhile True:\n    signal.pause()\n")
    process = WorkerProcess(store.data, command=lambda _d, _n, _g: [sys.executable, "-c", stubborn],
                            kill_after=300)
    process.start(1)
    qtbot.waitUntil(lambda: store.data.worker_log.exists() and "ready" in store.data.worker_log.read_text(),
                    timeout=10000)
    with qtbot.waitSignal(process.finished, timeout=10000) as blocker:
        process.stop()
    outcome = blocker.args[0]
    assert outcome.crash_exit and outcome.requested
    assert process.state is WorkerState.STOPPED, "we stopped it: not a crash"


def test_the_kill_deadline_is_the_workers_grace_plus_a_margin(store: Store) -> None:
    process = WorkerProcess(store.data, grace_s=2.5)
    assert process.kill_after_ms == 12_500
    assert WorkerProcess(store.data).kill_after_ms == (WORKER_GRACE_S + 10) * 1000
    command = worker_command(store.data, 1, process.grace_s)
    assert command[command.index("--grace") + 1] == "2.5"
    default = worker_command(store.data, 1)
    assert default[default.index("--grace") + 1] == f"{WORKER_GRACE_S:g}"


def test_a_worker_releasing_its_jobs_after_its_grace_is_not_killed(qtbot: QtBot, store: Store) -> None:
    # Its handlers' grace is 0.1 s, then releasing its jobs takes 3.5 s (a busy database): a proper
    # shutdown, which the old deadline (grace + 3 s) cut short with SIGKILL.
    slow = ("import signal, sys, threading\nstop = threading.Event()\n"
            "signal.signal(signal.SIGTERM, lambda *_: stop.set())\nprint('ready', flush=True)\n"
            "stop.wait()\nthreading.Event().wait(3.5)\nsys.exit(0)\n")
    grace: list[float] = []
    process = WorkerProcess(store.data, grace_s=0.1,
                            command=lambda _d, _n, g: grace.append(g) or [sys.executable, "-c", slow])
    process.start(1)
    qtbot.waitUntil(lambda: store.data.worker_log.exists() and "ready" in store.data.worker_log.read_text(),
                    timeout=10000)
    with qtbot.waitSignal(process.finished, timeout=20000) as blocker:
        process.stop()
    assert grace == [0.1]
    outcome = blocker.args[0]
    assert not outcome.crash_exit and outcome.code == 0, f"the worker {outcome}"


def test_the_worker_command_is_an_argument_list_for_this_data_folder(store: Store) -> None:
    command = worker_command(store.data, 3)
    assert command[:3] == [sys.executable, "-m", "worker"]
    assert command[command.index("--data-dir") + 1] == str(store.data.root)
    assert command[command.index("--concurrency") + 1] == "3"
    assert command[command.index("--parent-pid") + 1] == str(os.getpid())


WINDOW_SCRIPT = """
import sys
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication
app = QApplication([])
from dock.window import MainWindow
from worker.store import Store
window = MainWindow(Store(sys.argv[1]), QSettings(sys.argv[2], QSettings.Format.IniFormat))
window.worker.state_changed.connect(lambda s: print(s.value, window.worker.pid, flush=True))
window.start_worker_action.trigger()
app.exec()
"""


def test_the_worker_dies_with_a_killed_window(qtbot: QtBot, store: Store, tmp_path: Path) -> None:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    window = subprocess.Popen([sys.executable, "-c", WINDOW_SCRIPT, str(store.data.root),
                               str(tmp_path / "killed.ini")], stdout=subprocess.PIPE, text=True, env=env)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(window.stdout.readline, "")), daemon=True)
    reader.start()
    try:
        qtbot.waitUntil(lambda: any(line.startswith("running") for line in lines), timeout=WORKER_START_S * 1000)
        worker_pid = int(next(line for line in lines if line.startswith("running")).split()[1])
        qtbot.waitUntil(lambda: any(w.pid == worker_pid for w in store.live_workers()), timeout=10000)
        window.kill()  # SIGKILL: no closeEvent, no chance to stop the worker itself
        window.wait(10)
        qtbot.waitUntil(lambda: not pid_alive(worker_pid), timeout=15000)
    finally:
        window.kill()
        window.wait(10)
