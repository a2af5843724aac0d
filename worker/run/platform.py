"""Operating-system details kept in one place: parent-death signals, subreapers, and killing what a handler left."""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import signal
import sys

PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36
MAX_SWEEP_ROUNDS = 100  # a fork bomb could refill the tree while it is killed: give up after this many rounds


def _prctl(option: int, value: int) -> bool:
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        return int(libc.prctl(option, value, 0, 0, 0)) == 0
    except OSError:
        return False


def die_with_parent(sig: int = signal.SIGTERM) -> bool:
    """Ask Linux to send `sig` to this process when its parent dies; False where unsupported."""
    return _prctl(PR_SET_PDEATHSIG, int(sig))


def become_subreaper() -> bool:
    """Make orphaned descendants this process's children rather than init's (Linux 3.4+; False elsewhere), so a
    process that escaped its parent with setsid or a double fork can still be found and killed."""
    return _prctl(PR_SET_CHILD_SUBREAPER, 1)


def _parents() -> dict[int, int]:
    """Every process's parent, from /proc (pid -> ppid)."""
    found: dict[int, int] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                with open(f"/proc/{entry.name}/stat", "rb") as f:
                    # The name may hold spaces and parentheses: the fields after its last ')' are fixed.
                    found[int(entry.name)] = int(f.read().rsplit(b")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):  # it ended while we looked
                continue
    return found


def descendants(pid: int, parents: dict[int, int] | None = None) -> list[int]:
    """The processes below `pid`, children first."""
    parents = _parents() if parents is None else parents
    children: dict[int, list[int]] = {}
    for child, parent in parents.items():
        children.setdefault(parent, []).append(child)
    found, frontier = [], [pid]
    while frontier:
        frontier = [c for p in frontier for c in children.get(p, ())]
        found += frontier
    return found


def _has_children() -> bool:
    """Reap children that have ended; True if any is left. Cheap (one system call) when there are none, which
    is the common case after a job."""
    while True:
        try:
            pid, _status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return False
        if pid == 0:
            return True


def sweep_children() -> int:
    """Kill every descendant of this process and reap them; returns how many were killed.

    For a handler process between jobs, where every child is the job's. With this process a subreaper, a
    grandchild whose parent dies comes back to us as a child, so a new round finds it.
    """
    killed = 0
    for _round in range(MAX_SWEEP_ROUNDS):
        if not _has_children():
            return killed
        for pid in descendants(os.getpid()):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
                killed += 1
        with contextlib.suppress(ChildProcessError):
            os.waitpid(-1, 0)  # at least one of the killed ends now; the next round reaps the rest
    return killed


def sweep_strays(keep: set[int]) -> list[int]:
    """Kill the children of this process that are not in `keep`, with everything below them, and reap them.

    For the worker: its own children are its handler processes (`keep`, reaped by their Popen); anything else
    is a process that outlived a handler process which died, come back to us as a subreaper.
    """
    killed: list[int] = []
    for _round in range(MAX_SWEEP_ROUNDS):
        parents = _parents()
        strays = [pid for pid, parent in parents.items() if parent == os.getpid() and pid not in keep]
        if not strays:
            return killed
        for stray in strays:
            for pid in [stray, *descendants(stray, parents)]:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(stray, 0)
            killed.append(stray)
    return killed


def kill_group(pid: int) -> None:
    """SIGKILL a process and everything in its process group (it called setpgrp, so the group is its pid)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def describe_exit(returncode: int) -> str:
    """'signal 11 (SIGSEGV)' or 'exit code 3', for a dead handler process."""
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            return f"signal {-returncode}"
        return f"signal {-returncode} ({name})"
    return f"exit code {returncode}"
