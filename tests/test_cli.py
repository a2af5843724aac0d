"""The `dock` command line contract of issue 2, end to end through the real program."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest

from tests.conftest import job_in, new_job, run_dock
from worker.store import NewJob, Store
from worker.store.states import JobStatus

P, R, C, F, X = (JobStatus.PENDING, JobStatus.RUNNING, JobStatus.COMPLETED, JobStatus.FAILED,
                 JobStatus.CANCELLED)
REQUIRED = ("id", "status", "handler", "filename", "params", "progress", "message", "attempts", "max_attempts",
            "error", "result", "created_at", "started_at", "finished_at")


def lines(text: str) -> list[str]:
    return text.splitlines()


def test_add_prints_each_new_id_on_its_own_line(data_dir: Path, tmp_path: Path) -> None:
    a, b = tmp_path / "a.txt", tmp_path / "b.bin"
    a.write_text("alpha")
    b.write_bytes(b"\x00\x01beta")
    done = run_dock(data_dir, "add", str(a), str(b), "--param", "level=3", "--param", "x=a=b", "--max-attempts", "5")
    assert (done.returncode, done.stdout, done.stderr) == (0, "1\n2\n", "")
    with Store(data_dir) as store:
        job = store.get(2)
        assert (job.filename, job.params, job.max_attempts, job.status) == ("b.bin", {"level": "3", "x": "a=b"}, 5, P)
        assert (store.data.job_dir(1) / "input" / "a.txt").read_text() == "alpha"
    done = run_dock(data_dir, "add", str(a), "--handler", "sleep")
    assert (done.returncode, done.stdout) == (0, "3\n")


def test_add_refuses_what_is_not_a_regular_file_and_adds_the_rest(data_dir: Path, tmp_path: Path) -> None:
    good = tmp_path / "good.txt"
    good.write_text("good")
    link = tmp_path / "link.txt"
    link.symlink_to(good)
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    folder = tmp_path / "folder"
    (folder / "sub").mkdir(parents=True)
    (folder / "one.txt").write_text("1")
    (folder / "sub" / "two.txt").write_text("2")
    (folder / "inner-link").symlink_to(good)
    (folder / "linked-dir").symlink_to(folder / "sub", target_is_directory=True)
    missing = tmp_path / "missing.txt"
    done = run_dock(data_dir, "add", str(good), str(link), str(fifo), str(folder), str(missing), "/dev/null")
    assert done.returncode == 1
    assert lines(done.stdout) == ["1", "2", "3"]  # good.txt, folder/one.txt, folder/sub/two.txt
    refused = lines(done.stderr)
    assert len(refused) == 6, done.stderr
    by_path = {line.split(": ", 2)[1]: line for line in refused}
    assert set(by_path) == {str(link), str(fifo), str(missing), "/dev/null", str(folder / "inner-link"),
                            str(folder / "linked-dir")}
    assert all(line.startswith("dock: ") for line in refused)
    assert "symbolic link" in by_path[str(link)]
    assert "FIFO" in by_path[str(fifo)]
    assert "device" in by_path["/dev/null"]
    assert "No such file" in by_path[str(missing)]
    assert "symbolic link" in by_path[str(folder / "linked-dir")]
    with Store(data_dir) as store:
        assert sorted(j.filename for j in store.list_jobs()) == ["good.txt", "one.txt", "two.txt"]
        assert list(store.data.staging.iterdir()) == []


def test_add_refuses_what_is_inside_the_data_folder_even_from_a_folder_that_holds_it(
        tmp_path: Path, sample_file: Path) -> None:
    home = tmp_path / "home"
    data = home / ".dock"
    (home / "docs").mkdir(parents=True)
    (home / "docs" / "letter.txt").write_text("dear")
    (job_id,) = [int(n) for n in lines(run_dock(data, "add", str(sample_file), check=True).stdout)]
    inside = next((data / "jobs" / str(job_id) / "input").iterdir())
    done = run_dock(data, "add", str(inside))
    assert done.returncode == 1
    assert lines(done.stderr) == [f"dock: {inside}: refused: it is inside the dock's own data folder (its jobs' "
                                  "inputs and outputs are not new files)"]
    whole_home = run_dock(data, "add", str(home))
    assert whole_home.returncode == 1
    assert len(lines(whole_home.stdout)) == 1  # the letter; nothing of the dock's own folder
    assert lines(whole_home.stderr) == [f"dock: {data}: refused: it is inside the dock's own data folder (its "
                                        "jobs' inputs and outputs are not new files)"]


@pytest.mark.parametrize("value", ["abc", "1.5GB", "-1", "0"])
def test_an_upload_cap_that_is_not_a_number_of_bytes_is_a_clear_error(
        data_dir: Path, sample_file: Path, value: str) -> None:
    done = subprocess.run([sys.executable, "-m", "dock", "--data-dir", str(data_dir), "add", str(sample_file)],
                          env={**os.environ, "DOCK_MAX_UPLOAD_BYTES": value}, capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 1
    assert done.stderr == (f"dock: DOCK_MAX_UPLOAD_BYTES must be a whole number of bytes above 0 (such as "
                           f"1073741824 for 1 GiB), got {value!r}; nothing was added\n")
    assert run_dock(data_dir, "ls", "--json", check=True).stdout.strip() == "[]"


def test_add_of_nothing_but_refusals_exits_1(data_dir: Path, tmp_path: Path) -> None:
    done = run_dock(data_dir, "add", str(tmp_path / "nope"))
    assert (done.returncode, done.stdout) == (1, "")
    assert lines(done.stderr) == [f"dock: {tmp_path / 'nope'}: No such file or directory"]


def test_ls_and_show(data_dir: Path, store: Store) -> None:
    done_id, _ = job_in(store, C)
    running_id, _ = job_in(store, R)
    pending_id, _ = job_in(store, P)
    table = run_dock(data_dir, "ls")
    assert table.returncode == 0
    rows = lines(table.stdout)
    assert rows[0].split() == ["ID", "STATUS", "PROG", "TRIES", "HANDLER", "CREATED", "FILE"]
    assert [int(row.split()[0]) for row in rows[1:]] == [pending_id, running_id, done_id]

    listed = run_dock(data_dir, "ls", "--json")
    data = json.loads(listed.stdout)
    assert isinstance(data, list)
    assert [job["id"] for job in data] == [pending_id, running_id, done_id]  # newest first
    for job in data:
        assert set(REQUIRED) <= set(job)
        assert isinstance(job["id"], int)
        for key in ("created_at", "started_at", "finished_at"):
            if job[key] is not None:
                assert datetime.fromisoformat(job[key]).utcoffset().total_seconds() == 0  # type: ignore[union-attr]
    assert data[0]["started_at"] is None and data[2]["result"] == {"ok": True}

    only = json.loads(run_dock(data_dir, "ls", "--status", "running", "--json").stdout)
    assert [job["id"] for job in only] == [running_id]

    shown = run_dock(data_dir, "show", str(done_id), "--json")
    job = json.loads(shown.stdout)
    assert set(REQUIRED) <= set(job)
    assert (job["id"], job["status"], job["progress"]) == (done_id, "completed", 100)
    assert [(e["from"], e["to"]) for e in job["history"]] == [(None, "pending"), ("pending", "running"),
                                                              ("running", "completed")]
    text = run_dock(data_dir, "show", str(done_id))
    assert text.returncode == 0
    assert text.stdout.startswith(f"job {done_id}: in.txt\n")
    assert "status:       completed" in text.stdout
    assert "running -> completed by test-worker: handler returned" in text.stdout


def test_show_of_a_missing_job_exits_1(data_dir: Path) -> None:
    done = run_dock(data_dir, "show", "99")
    assert (done.returncode, done.stdout, done.stderr) == (1, "", "dock: job 99 does not exist\n")


def test_actions_act_on_each_id_and_report_each(data_dir: Path, store: Store) -> None:
    done_id, _ = job_in(store, C)
    running_id, _ = job_in(store, R)
    pending_id, _ = job_in(store, P)

    done = run_dock(data_dir, "cancel", str(pending_id), str(done_id), "404", str(running_id))
    assert done.returncode == 1
    assert lines(done.stdout) == [f"job {pending_id} cancelled", f"job {running_id} cancelled"]
    assert lines(done.stderr) == [
        f"dock: cannot cancel job {done_id}: it is completed; cancel is allowed only when it is pending, "
        "running or cancelled",
        "dock: job 404 does not exist",
    ]
    again = run_dock(data_dir, "cancel", str(pending_id))
    assert (again.returncode, again.stdout) == (0, f"job {pending_id} was already cancelled\n")

    retried = run_dock(data_dir, "retry", str(pending_id), str(running_id))
    assert (retried.returncode, retried.stderr) == (0, "")
    assert store.get(running_id).status is P

    failed = run_dock(data_dir, "fail", str(pending_id), str(done_id))
    assert failed.returncode == 1
    assert lines(failed.stdout) == [f"job {pending_id} force-failed; it is now pending"]
    assert "fail is allowed only when it is pending or running" in failed.stderr
    assert store.get(pending_id).error == "force-failed by user"

    refused = run_dock(data_dir, "retry", str(done_id))
    assert refused.returncode == 1
    assert "retry is allowed only when it is failed or cancelled" in refused.stderr

    gone = run_dock(data_dir, "delete", str(done_id), str(running_id))
    assert gone.returncode == 0
    assert lines(gone.stdout) == [f"job {done_id} removed", f"job {running_id} cancelled and deleted"]
    assert not store.data.job_dir(done_id).exists()
    missing = run_dock(data_dir, "delete", str(done_id))
    assert (missing.returncode, missing.stderr) == (1, f"dock: job {done_id} does not exist\n")
    assert [j.id for j in store.list_jobs()] == [pending_id]


def test_ids_past_64_bits_do_not_exist_and_the_other_ids_are_still_acted_on(data_dir: Path, store: Store) -> None:
    first, _ = job_in(store, P)
    second, _ = job_in(store, P)
    huge = str(2**64 + 5)
    done = run_dock(data_dir, "cancel", str(first), huge, f"#{second}")
    assert done.returncode == 1
    assert lines(done.stdout) == [f"job {first} cancelled", f"job {second} cancelled"]
    assert lines(done.stderr) == [f"dock: job {huge} does not exist"]
    shown = run_dock(data_dir, "show", huge)
    assert (shown.returncode, shown.stderr) == (1, f"dock: job {huge} does not exist\n")
    assert run_dock(data_dir, "ls", "--search", f"#{huge}").returncode == 0


def test_a_repeated_id_is_acted_on_and_reported_once(data_dir: Path, store: Store) -> None:
    job_id, _ = job_in(store, P)
    done = run_dock(data_dir, "fail", str(job_id), str(job_id), f"#{job_id}")
    assert (done.returncode, lines(done.stdout)) == (0, [f"job {job_id} force-failed; it is now pending"])
    assert store.get(job_id).attempts == 1  # one failed attempt, not three


def test_the_history_names_the_command_line_in_every_entry(data_dir: Path, sample_file: Path, store: Store) -> None:
    (job_id,) = [int(line) for line in lines(run_dock(data_dir, "add", str(sample_file), check=True).stdout)]
    run_dock(data_dir, "cancel", str(job_id), check=True)
    run_dock(data_dir, "retry", str(job_id), check=True)
    assert [e.actor for e in store.history(job_id)] == ["cli", "cli", "cli"]


def test_retry_with_a_param_sets_it_for_the_new_attempts_and_keeps_it_out_of_the_history(
        data_dir: Path, store: Store) -> None:
    (job_id,) = store.add([NewJob("pdf", "locked.pdf", None, "locked.pdf", 0, {"keep": "1"}, 3)])
    store.cancel(job_id)
    done = run_dock(data_dir, "retry", str(job_id), "--param", "password=s3cret")
    assert (done.returncode, done.stdout) == (0, f"job {job_id} queued again with new password\n")
    job = store.get(job_id)
    assert (job.status, job.params) == (P, {"keep": "1", "password": "s3cret"})
    assert "s3cret" not in json.dumps([e.to_json() for e in store.history(job_id)])
    refused = run_dock(data_dir, "cancel", str(job_id), "--param", "x=y")
    assert refused.returncode == 2  # only a retry takes parameters


def test_workers_lists_each_live_worker_with_its_own_lease(data_dir: Path, store: Store) -> None:
    assert "no live workers" in run_dock(data_dir, "workers").stdout
    store.register_worker(pid=41, host="box", concurrency=2, worker_id="box:41:a", lease_s=60, grace_s=3)
    (shown,) = json.loads(run_dock(data_dir, "workers", "--json", check=True).stdout)
    assert (shown["id"], shown["lease_s"], shown["grace_s"], shown["concurrency"]) == ("box:41:a", 60, 3, 2)
    assert "lease 60 s" in run_dock(data_dir, "workers").stdout


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["cancel"],
        ["cancel", "abc"],
        ["frobnicate"],
        ["ls", "--status", "paused"],
        ["add"],
        ["add", "x", "--param", "novalue"],
        ["add", "x", "--max-attempts", "0"],
        ["add", "x", "--max-attempts", "99999999999999999999"],
        ["add", "x", "--max-attempts", "\uff13"],  # a fullwidth 3: int() reads it, no script means it
        ["cancel", "\u0661\u0662"],  # Arabic-Indic 12
        ["show", "-1"],
        ["retry", "1", "--param", "novalue"],
        ["add", "x", "--handler", "no-such-handler"],
        ["show", "1", "2"],
    ],
    ids=lambda a: " ".join(a) or "no-subcommand-with-bad-flag",
)
def test_usage_errors_exit_2(data_dir: Path, args: list[str]) -> None:
    if not args:  # `dock` alone opens the window; a bad flag is still a usage error and opens nothing
        args = ["--no-such-flag"]
    done = run_dock(data_dir, *args)
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    assert done.stderr


def test_handlers(data_dir: Path) -> None:
    text = run_dock(data_dir, "handlers")
    assert text.returncode == 0
    names = [line.split()[0] for line in lines(text.stdout)]
    assert {"checksum", "sleep"} <= set(names)
    data = json.loads(run_dock(data_dir, "handlers", "--json").stdout)
    assert {"checksum", "sleep"} <= {h["name"] for h in data["handlers"]}
    assert all({"name", "source", "extensions", "description"} <= set(h) for h in data["handlers"])
    assert isinstance(data["errors"], dict)


def test_odd_names_are_stored_exactly_and_shown_escaped(data_dir: Path, tmp_path: Path) -> None:
    folder = tmp_path / "odd"
    folder.mkdir()
    raw_name = b"bad\xffname.txt"
    with open(os.path.join(os.fsencode(folder), raw_name), "wb") as f:
        f.write(b"bytes")
    newline = folder / "two\nlines.txt"
    newline.write_text("text")
    done = run_dock(data_dir, "add", os.fsdecode(os.path.join(os.fsencode(folder), raw_name)), str(newline))
    assert (done.returncode, lines(done.stdout)) == (0, ["1", "2"])

    database = sqlite3.connect(data_dir / "dock.sqlite3")
    stored = dict(database.execute("SELECT id, filename_raw FROM jobs").fetchall())
    names = dict(database.execute("SELECT id, filename FROM jobs").fetchall())
    database.close()
    assert stored == {1: raw_name, 2: None}  # the exact bytes, kept because they are not UTF-8
    assert names[2] == "two\nlines.txt"  # valid UTF-8 is stored exactly as text

    table = lines(run_dock(data_dir, "ls").stdout)
    assert len(table) == 3  # a newline in a name never breaks a row in two
    assert table[1].endswith("two\\nlines.txt")
    assert table[2].endswith("bad\\xffname.txt")
    shown = run_dock(data_dir, "show", "2").stdout
    assert shown.startswith("job 2: two\\nlines.txt\n")
    assert json.loads(run_dock(data_dir, "show", "2", "--json").stdout)["filename"] == "two\nlines.txt"
    with Store(data_dir) as store:
        assert (store.data.job_dir(1) / store.get(1).input_path).read_bytes() == b"bytes"
        assert (store.data.job_dir(2) / store.get(2).input_path).read_text() == "text"


NO_QT = """
import sys
from dock.main import main
code = main(sys.argv[1:])
assert "PySide6" not in sys.modules, sorted(m for m in sys.modules if "PySide6" in m or "shiboken" in m)
assert "shiboken6" not in sys.modules
sys.exit(code)
"""


@pytest.mark.parametrize("args", [["ls", "--json"], ["add", "FILE"], ["show", "1"], ["handlers"], ["--help"]])
def test_cli_never_imports_qt(data_dir: Path, sample_file: Path, args: list[str]) -> None:
    if args[0] in ("ls", "show"):
        run_dock(data_dir, "add", str(sample_file), check=True)
    args = [str(sample_file) if a == "FILE" else a for a in args]
    done = subprocess.run([sys.executable, "-c", NO_QT, "--data-dir", str(data_dir), *args],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("module", ["dock", "worker"])
def test_python_dash_m(module: str) -> None:
    done = subprocess.run([sys.executable, "-m", module, "--help"], capture_output=True, text=True, timeout=60,
                          check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: ")
    version = subprocess.run([sys.executable, "-m", module, "--version"], capture_output=True, text=True,
                             timeout=60, check=False)
    assert version.returncode == 0


def test_ls_into_a_closed_pipe_is_not_an_error(data_dir: Path, store: Store) -> None:
    store.add([new_job(f"f{i}") for i in range(5000)])  # more than a pipe buffer holds
    reader = subprocess.Popen([sys.executable, "-m", "dock", "--data-dir", str(data_dir), "ls"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert reader.stdout is not None and reader.stderr is not None
    assert reader.stdout.readline().split()[0] == b"ID"
    reader.stdout.close()  # as `dock ls | head -1` does
    error = reader.stderr.read().decode()
    assert reader.wait(timeout=60) == 0, error
    assert error == ""
