"""How a worker behaves: its settings (the `dock-worker` flags) and the timings of its loop."""

from __future__ import annotations

from dataclasses import dataclass

from worker.store.leases import DEFAULT_GRACE_S, DEFAULT_LEASE_S

DEFAULT_MEMORY_LIMIT = 2 << 30
PROGRESS_WRITE_INTERVAL_S = 0.25
# Completed attempts are recorded together, in one commit with the next claim, or after at most this long:
# one commit per job would cost more than a job that takes a millisecond.
RECORD_DELAY_S = 0.02
RECORD_BATCH = 64
# While it holds claims, the worker looks this often whether anyone else committed (PRAGMA data_version,
# ~10 µs) and if so checks its claims at once: a cancel reaches a handler in ~0.1 s, not at the next 1 s poll.
CHANGE_CHECK_S = 0.1
SWEEP_INTERVAL_S = 60.0  # files of jobs deleted while their worker was dead, and crashed uploads


@dataclass(frozen=True)
class WorkerConfig:
    """How a worker behaves; the defaults are the `dock-worker` defaults."""

    concurrency: int = 1
    grace: float = DEFAULT_GRACE_S  # seconds a handler has to stop after being told, before its group is killed
    lease: float = DEFAULT_LEASE_S  # a worker whose heartbeat is older than this is presumed dead
    poll_interval: float = 1.0  # how often the status of running jobs is checked (one query for all)
    claim_interval: float = 0.5  # how often an idle slot looks for new work
    change_check: float = CHANGE_CHECK_S
    exit_when_idle: bool = False
    parent_pid: int | None = None
    memory_limit: int = DEFAULT_MEMORY_LIMIT  # bytes of address space per handler process; 0 for none
