"""Test kit for the real worker: a real plugin package of test handlers, and a worker subprocess to drive."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

PLUGIN_MODULE = '''
"""Handlers that misbehave on purpose, installed as a real plugin (entry points) for the tests."""
import ctypes
import os
import subprocess
import sys
import threading

from worker.api import PermanentError, handler


@handler()
def noop(ctx):
    return {"ok": True}


@handler()
def stubborn(ctx):
    """Never checks for cancellation."""
    (ctx.output_dir / "pid").write_text(str(os.getpid()))
    pause = threading.Event()
    for _ in range(int(float(ctx.params.get("seconds", "60")) * 20)):
        pause.wait(0.05)  # sleep-ok: simulated work that ignores cancellation
    return {"finished": True}


@handler()
def forking(ctx):
    """Starts a grandchild, then ignores cancellation: killing the group must take both."""
    child = subprocess.Popen(["sleep", "300"])
    (ctx.output_dir / "pids").write_text(f"{os.getpid()} {child.pid}")
    threading.Event().wait(300)  # sleep-ok: simulated work that ignores cancellation
    return None


@handler()
def crash(ctx):
    how = ctx.params.get("how", "exit")
    print("about to crash:", how, flush=True)
    if how == "exit":
        os._exit(7)
    if how == "segfault":
        ctypes.string_at(0)
    if how == "abort":
        os.abort()
    if how == "memory":
        hog = [bytearray(64 << 20) for _ in range(64)]
        return {"allocated": len(hog)}
    if how == "badresult":
        return {"not json": object()}
    raise RuntimeError("boom: " + how)


@handler()
def writer(ctx):
    """Keeps writing into its output folder, checking for cancellation, until stopped."""
    (ctx.output_dir / "pid").write_text(str(os.getpid()))
    pause = threading.Event()
    i = 0
    while True:
        (ctx.output_dir / f"part{i}.txt").write_text("x" * 100)
        i += 1
        ctx.progress(min(99, i), f"wrote {i} files")
        pause.wait(0.01)  # sleep-ok: simulated work


@handler()
def stamp(ctx):
    """Writes files named after its attempt for `seconds`, ignoring cancellation, so attempts overlap."""
    pause = threading.Event()
    for i in range(int(float(ctx.params.get("seconds", "2")) * 20)):
        (ctx.output_dir / f"attempt{ctx.attempt}-{i}.txt").write_text("x")
        pause.wait(0.05)  # sleep-ok: simulated work that ignores cancellation
    return {"attempt": ctx.attempt}


@handler()
def chatty(ctx):
    calls = int(ctx.params.get("calls", "200000"))
    for i in range(calls):
        ctx.progress(i * 100 // calls, "tick")
    ctx.log.info("made %d progress calls", calls)
    print("printed by the handler")
    return {"calls": calls}


@handler()
def squatter(ctx):
    """Writes its result, then puts a file where the job's output/ folder goes: it cannot be published."""
    (ctx.output_dir / "result.txt").write_text("done")
    output = ctx.output_dir.parent.parent / "output"
    output.rmdir()
    output.write_text("not a folder")
    return {"ok": True}


ESCAPE = """
import os, sys, threading
if os.fork():
    os._exit(0)
os.setsid()  # a new session and group: killing the handler's process group no longer reaches it
if os.fork():
    os._exit(0)
with open(sys.argv[1] + ".part", "w") as f:
    f.write(str(os.getpid()))
os.rename(sys.argv[1] + ".part", sys.argv[1])
threading.Event().wait(300)
"""


@handler()
def escaper(ctx):
    """Starts a process that escapes with setsid and a double fork, as a daemon does, then returns, or with
    `wait` set, ignores cancellation until killed."""
    pidfile = ctx.params["pidfile"]
    subprocess.run([sys.executable, "-c", ESCAPE, pidfile], check=True)
    pause = threading.Event()
    for _ in range(2000):
        if os.path.exists(pidfile):
            break
        pause.wait(0.01)  # sleep-ok: waiting, with a deadline, for the escaped process to say its pid
    while ctx.params.get("wait"):
        pause.wait(0.05)  # sleep-ok: simulated work that ignores cancellation
    return {"escaped": int(open(pidfile).read())}


@handler()
def flood(ctx):
    """Writes `mib` MiB to its stdout, from itself and from a subprocess."""
    mib = int(ctx.params.get("mib", "30"))
    line = b"x" * 1023 + b"\\n"
    for _ in range(mib * 512):
        os.write(1, line)
    subprocess.run(["head", "-c", str(mib << 19), "/dev/zero"], check=True)
    return {"wrote_mib": mib}


@handler()
def big_result(ctx):
    return {"blob": "x" * int(ctx.params["chars"])}


@handler()
def refuse(ctx):
    """Fails every attempt: with PermanentError when `permanent` is set, else with a plain error."""
    if ctx.params.get("permanent"):
        raise PermanentError("this input can never succeed: " + ctx.params["permanent"])
    raise RuntimeError("a transient failure")
'''

ENTRY_POINTS = """[dock.handlers]
noop = dock_test_plugins:noop
stubborn = dock_test_plugins:stubborn
forking = dock_test_plugins:forking
crash = dock_test_plugins:crash
writer = dock_test_plugins:writer
chatty = dock_test_plugins:chatty
stamp = dock_test_plugins:stamp
squatter = dock_test_plugins:squatter
refuse = dock_test_plugins:refuse
escaper = dock_test_plugins:escaper
flood = dock_test_plugins:flood
big_result = dock_test_plugins:big_result
"""
BROKEN_ENTRY_POINT = "broken = dock_missing_module_for_tests:handler\n"


def install_test_plugins(site: Path, with_broken: bool = False) -> dict[str, str]:
    """Install the test handlers as a real distribution with entry points; returns the env to use it.

    with_broken adds a plugin whose module does not exist, as a user's broken install would.
    """
    site.mkdir(parents=True, exist_ok=True)
    (site / "dock_test_plugins.py").write_text(PLUGIN_MODULE)
    info = site / "dock_test_plugins-1.0.dist-info"
    info.mkdir(exist_ok=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: dock-test-plugins\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(ENTRY_POINTS + (BROKEN_ENTRY_POINT if with_broken else ""))
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(site), env.get("PYTHONPATH", "")]))
    return env


def wait_until(condition: Callable[[], T], timeout: float = 20.0, what: str = "condition") -> T:
    """Poll `condition` until it returns something truthy, or fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)  # sleep-ok: the pause between polls of a condition that has a deadline


class WorkerProcess:
    """A real `python -m worker` subprocess whose JSON log lines are collected from a file."""

    def __init__(self, data_dir: Path, env: dict[str, str], *args: str, log_path: Path | None = None) -> None:
        self.log_path = log_path or data_dir.parent / f"worker-{time.monotonic_ns()}.log"
        self._log_file = self.log_path.open("w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "worker", "--data-dir", str(data_dir), *args],
            stderr=self._log_file, stdout=subprocess.DEVNULL, env=env,
        )
        self.pid = self.proc.pid
        self.wait_for_event("worker started")

    def events(self) -> list[dict[str, Any]]:
        lines = self.log_path.read_text().splitlines()
        parsed = []
        for line in lines:
            try:
                parsed.append(json.loads(line))
            except ValueError:
                parsed.append({"event": "unparsed", "line": line, "level": "error"})
        return parsed

    def find(self, event: str, **fields: Any) -> list[dict[str, Any]]:
        return [e for e in self.events() if e.get("event") == event and all(e.get(k) == v for k, v in fields.items())]

    def wait_for_event(self, event: str, timeout: float = 20.0, **fields: Any) -> dict[str, Any]:
        def seen() -> dict[str, Any]:
            if self.proc.poll() is not None and not self.find(event, **fields):
                raise AssertionError(f"worker exited ({self.proc.returncode}) before {event!r}: {self.events()}")
            found = self.find(event, **fields)
            return found[0] if found else {}

        return wait_until(seen, timeout, f"worker log event {event!r} {fields}")

    def errors(self, allowed: tuple[str, ...] = ()) -> list[dict[str, Any]]:
        return [e for e in self.events() if e.get("level") == "error" and e.get("event") not in allowed]

    def signal(self, sig: int) -> None:
        os.kill(self.pid, sig)

    def stop(self, timeout: float = 20.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=timeout)
        self._log_file.close()
        return code

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)
        self._log_file.close()


def pid_alive(pid: int) -> bool:
    """True while `pid` exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def attempt_file(job_dir: Path, name: str) -> Path | None:
    """A file the running attempt's handler wrote (each attempt writes into jobs/<id>/attempts/<token>/)."""
    return next(iter(sorted(job_dir.glob(f"attempts/*/{name}"))), None)
