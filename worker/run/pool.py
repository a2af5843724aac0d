"""The worker's handler processes: started on demand up to its slots, reused, recycled, stopped together."""

from __future__ import annotations

from dataclasses import dataclass, field

from worker.run.pacing import HOLD_LIMIT_S, Pace
from worker.run.platform import sweep_strays
from worker.run.process import HandlerProcess, Running


@dataclass
class Pool:
    """Up to `slots` handler processes, each with at most one job running and one queued behind it.

    Attributes:
        processes: the live ones, in the order they started.
    """

    slots: int
    memory_limit: int
    processes: list[HandlerProcess] = field(default_factory=list)

    def busy(self) -> list[tuple[HandlerProcess, Running]]:
        """The processes running a job, each with its job."""
        return [(p, p.job) for p in self.processes if p.job is not None]

    def sent(self) -> list[tuple[HandlerProcess, Running]]:
        """Every job handed to a process, running or queued behind the running one."""
        return [(p, job) for p in self.processes for job in (p.job, p.queued) if job is not None]

    def free_slots(self) -> int:
        return self.slots - len(self.busy())

    def event_fds(self) -> list[int]:
        return [p.events_fd for p in self.processes if p.events_fd >= 0]

    def process_for_next(self, pace: Pace) -> HandlerProcess | None:
        """An idle process (started if need be), or while jobs are short, a busy one with nothing queued.

        Raises OSError when no process could be started (out of memory or file descriptors).
        """
        for worn in [p for p in self.processes if p.job is None and not p.reusable]:
            worn.stop()  # recycled: see MAX_JOBS_PER_PROCESS
            self.processes.remove(worn)
        idle = next((p for p in self.processes if p.job is None and p.reusable), None)
        if idle is not None:
            return idle
        if len(self.processes) < self.slots:
            process = HandlerProcess(self.memory_limit)
            process.start()
            self.processes.append(process)
            return process
        if pace.ahead(1) < 1:  # jobs take long enough that a round trip does not matter
            return None
        return next((p for p in self.processes if p.queued is None and p.reusable and p.job is not None
                     and p.job.stop_reason is None), None)

    def held_back(self, now: float) -> list[HandlerProcess]:
        """Processes whose queued job has waited HOLD_LIMIT_S behind a slow one and is not asked back yet."""
        return [p for p in self.processes if p.queued is not None and p.queued.stop_reason is None
                and not p.queued.withdrawing and now - p.queued.started >= HOLD_LIMIT_S]

    def hold_deadlines(self) -> list[float]:
        """When each queued job will have waited HOLD_LIMIT_S."""
        return [p.queued.started + HOLD_LIMIT_S for p in self.processes
                if p.queued is not None and p.queued.stop_reason is None and not p.queued.withdrawing]

    def retire(self, process: HandlerProcess) -> bool:
        """Forget a process that has exited, and kill what outlived it; False if it was already retired."""
        if process not in self.processes:
            return False
        self.processes.remove(process)
        self.sweep_strays()
        return True

    def sweep_strays(self) -> list[int]:
        """Kill what a dead handler process left behind: the worker is their subreaper, they are its children."""
        return sweep_strays({p.pid for p in self.processes})

    def stop(self) -> None:
        for process in self.processes:
            process.stop()
        self.sweep_strays()
