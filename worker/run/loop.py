"""The worker: claims due jobs, runs each in a supervised handler process, and stops them for sure.

One thread, one loop. It sleeps in select() on the handlers' event pipes and a signal wake-up pipe, with a
timeout that is the nearest of its deadlines (status poll, claim check, heartbeat, grace, time limits).
"""

from __future__ import annotations

import math
import os
import select
import signal
import socket
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

from worker.registry import Registry
from worker.run.logs import EventLog
from worker.run.outcomes import Outcomes
from worker.run.pacing import HOLD_LIMIT_S, Pace
from worker.run.platform import die_with_parent
from worker.run.process import HandlerProcess, Running
from worker.store import Store
from worker.store.errors import DockError
from worker.store.leases import DEFAULT_GRACE_S, DEFAULT_LEASE_S
from worker.store.rows import Claim, Completion
from worker.store.watch import ChangeWatcher

PROGRESS_WRITE_INTERVAL_S = 0.25
# Completed attempts are recorded together, in one commit with the next claim, or after at most this long:
# one commit per job would cost more than a job that takes a millisecond.
RECORD_DELAY_S = 0.02
RECORD_BATCH = 64
# While it holds claims, the worker looks this often whether anyone else committed (PRAGMA data_version,
# ~10 µs) and if so checks its claims at once: a cancel reaches a handler in ~0.1 s, not at the next 1 s poll.
CHANGE_CHECK_S = 0.1
SWEEP_INTERVAL_S = 60.0  # files of jobs deleted while their worker was dead, and crashed uploads
DEFAULT_MEMORY_LIMIT = 2 << 30


@dataclass(frozen=True)
class WorkerConfig:
    """How a worker behaves; the defaults are the `dock-worker` defaults."""

    concurrency: int = 1
    grace: float = DEFAULT_GRACE_S  # seconds a handler has to stop after being told, before its group is killed
    lease: float = DEFAULT_LEASE_S  # a worker whose heartbeat is older than this is presumed dead
    poll_interval: float = 1.0  # how often the status of running jobs is checked (one query for all)
    claim_interval: float = 0.5  # how often an idle slot looks for new work
    exit_when_idle: bool = False
    parent_pid: int | None = None
    memory_limit: int = DEFAULT_MEMORY_LIMIT  # bytes of address space per handler process; 0 for none


class Worker:
    """A worker process's main loop. `run()` returns the exit code."""

    def __init__(self, store: Store, config: WorkerConfig, registry: Registry, log: EventLog) -> None:
        self.store = store
        self.config = config
        self.registry = registry
        self.log = log
        self.worker_id = ""
        self.processes: list[HandlerProcess] = []
        self.signals: list[str] = []
        self.parent_gone = False
        self.backlog = False
        self.outcomes = Outcomes(store, log)
        self.ready: deque[tuple[Claim, float]] = deque()  # claimed ahead, not started yet (with when claimed)
        self.completed: list[tuple[Running, Completion]] = []  # handler returned; not recorded yet
        self.record_by = math.inf  # monotonic deadline for recording self.completed
        self.pace = Pace()
        self.stopping: str | None = None
        now = time.monotonic()
        self.next_poll = now
        self.next_claim = now
        self.next_heartbeat = now + config.lease / 3
        self.next_rescue = now + config.lease / 2
        self.next_sweep = now + SWEEP_INTERVAL_S
        self.next_change_check = now
        self.give_back_after = 0.0  # after a failed give-back, when to try again
        self.start_after = 0.0  # after a handler process failed to start, when to try again
        self.watcher: ChangeWatcher | None = None
        self._wake_read, self._wake_write = os.pipe()

    # ---- life cycle ---------------------------------------------------------------------------------------

    def run(self) -> int:
        self._install_signals()
        self.worker_id = self._register()
        self.outcomes.worker_id = self.worker_id
        for name, error in self.registry.errors.items():
            self.log.error("plugin failed to load", plugin=name, error=error)
        self.log.info("worker started", worker=self.worker_id, pid=os.getpid(), concurrency=self.config.concurrency,
                      handlers=sorted(self.registry.handlers), data_dir=str(self.store.data.root))
        self._guarded(self._rescue)
        self._guarded(self._sweep)
        self._guarded(self._open_watcher)
        try:
            while True:
                self._guarded(self._tick)
                if self._finished():  # checked before waiting: the last job put back ends the loop at once
                    break
                self._wait()
        finally:
            for process in self.processes:
                process.stop()
            self._guarded(lambda: self.store.unregister_worker(self.worker_id))
            if self.watcher is not None:
                self.watcher.close()
            self.log.info("worker stopped", worker=self.worker_id, reason=self.stopping or "idle")
        return 0

    def _open_watcher(self) -> None:
        self.watcher = ChangeWatcher(self.store, ignore_own_writes=True)

    def _install_signals(self) -> None:
        os.set_blocking(self._wake_write, False)
        signal.set_wakeup_fd(self._wake_write)
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        if self.config.parent_pid is not None:
            # Its own signal: Linux sends it when the *thread* that started us ends, so a window killed with
            # -9 may send one per thread, and two SIGTERMs would mean "stop at once", skipping the grace.
            signal.signal(signal.SIGHUP, self._on_parent_signal)
            die_with_parent(signal.SIGHUP)
            self._on_parent_signal(signal.SIGHUP, None)  # the parent may have died before prctl took effect

    def _on_parent_signal(self, _signum: int, _frame: Any) -> None:
        if os.getppid() != self.config.parent_pid:  # a thread of a live parent ending is no reason to stop
            self.parent_gone = True

    def _on_signal(self, signum: int, _frame: Any) -> None:
        # Only note it: the loop acts on it at a safe point (a handler that ran _begin_stop between a claim
        # and the start of its job would miss that job, which would then run on unstopped).
        self.signals.append(signal.Signals(signum).name)

    def _on_signals(self) -> None:
        if self.parent_gone and self.stopping is None:
            self._begin_stop("parent gone")
        if self.signals and self.stopping is None:
            self._begin_stop(self.signals[0])
        if len(self.signals) > 1:  # a second signal: stop at once
            for _process, job in self._busy():
                job.kill_at = 0.0

    def _begin_stop(self, reason: str) -> None:
        if self.stopping is not None:
            return
        self.stopping = reason
        self.log.info("stopping", reason=reason, running=[job.claim.job_id for _p, job in self._busy()])
        deadline = time.monotonic() + self.config.grace
        for process, job in self._busy():
            if job.stop_reason is None:
                job.stop_reason = "shutdown"
                job.kill_at = deadline
                process.cancel()
            if process.queued is not None and process.queued.stop_reason is None:
                process.queued.stop_reason = "shutdown"  # reported cancelled without running, then put back
                process.cancel(process.queued)

    def _finished(self) -> bool:
        # Outcomes not yet recorded keep us going, unless a second signal asked us to stop at once.
        unrecorded = self.outcomes.unsettled or self.completed or self.ready
        return self.stopping is not None and not self._busy() and (not unrecorded or len(self.signals) > 1)

    def _guarded(self, step: Any) -> None:
        """Run one step; an error is logged and the loop goes on: nothing a store or handler does is fatal."""
        try:
            step()
        except DockError as error:
            self.log.error("store error", error=str(error))
        except Exception as error:  # a bug of ours must not stop every job: log it whole and go on
            self.log.error("unexpected error in the worker loop", exc_info=True, error=repr(error))

    # ---- the loop -----------------------------------------------------------------------------------------

    def _busy(self) -> list[tuple[HandlerProcess, Running]]:
        """The processes running a job, each with its job."""
        return [(p, p.job) for p in self.processes if p.job is not None]

    def _wait(self) -> None:
        now = time.monotonic()
        deadlines = [self.next_poll, self.next_heartbeat, self.record_by]
        if self.stopping is None and len(self._busy()) < self.config.concurrency:
            deadlines.append(max(self.next_claim, self.start_after))  # no handler process could start: wait
        if self.ready:
            deadlines.append(max(self.ready[0][1] + HOLD_LIMIT_S, self.give_back_after))
        if self.ready or self._busy():
            deadlines.append(self.next_change_check)
        deadlines += [max(p.queued.started + HOLD_LIMIT_S, self.give_back_after) for p in self.processes
                      if p.queued is not None and p.queued.stop_reason is None and not p.queued.withdrawing]
        for _process, job in self._busy():
            if job.kill_at is not None:
                deadlines.append(job.kill_at)
            if job.timeout:
                deadlines.append(job.started + job.timeout)
            if job.pending_progress:
                deadlines.append(job.last_progress_write + PROGRESS_WRITE_INTERVAL_S)
        timeout = max(0.0, min(deadlines) - now)
        fds = [self._wake_read] + [p.events_fd for p in self.processes if p.events_fd >= 0]
        readable, _, _ = select.select(fds, [], [], timeout)
        if self._wake_read in readable:
            os.read(self._wake_read, 4096)  # the signal handler already ran; this only woke us

    def _tick(self) -> None:
        self._on_signals()
        self.outcomes.retry(self.stopping)
        now = time.monotonic()
        for process in list(self.processes):
            if process.events_fd >= 0:
                for event in process.read_events():
                    self._on_event(process, event)
            if process.exited is not None or (now >= self.next_poll and process.poll_exit()):
                self._on_exit(process)
        self._flush_progress(now)
        if (self.ready or self._busy()) and now >= self.next_change_check:
            self.next_change_check = now + CHANGE_CHECK_S
            if self.watcher is not None and self.watcher.changed():
                self.next_poll = now  # someone committed: it may be a cancel or delete of one of ours
        if now >= self.next_poll:
            self.next_poll = now + self.config.poll_interval
            self._poll_running(now)
        self._enforce_deadlines(now)
        if now >= self.next_heartbeat:
            self.next_heartbeat = now + self.config.lease / 3
            self._heartbeat()
        if now >= self.next_rescue:
            self.next_rescue = now + self.config.lease / 2
            self._rescue()
        if now >= self.next_sweep:
            self.next_sweep = now + SWEEP_INTERVAL_S
            self._sweep()
        self._give_back_held(now)
        self._cycle(now)

    def _heartbeat(self) -> None:
        if not self.store.heartbeat(self.worker_id):
            # Another worker presumed us dead (we were paused past the lease) and rescued our jobs; our
            # late writes are refused by their claim tokens. Come back as a live worker.
            self.log.warning("heartbeat row was gone: re-registering", worker=self.worker_id)
            self._register(self.worker_id)

    def _register(self, worker_id: str | None = None) -> str:
        return self.store.register_worker(os.getpid(), socket.gethostname(), self.config.concurrency, worker_id,
                                          lease_s=self.config.lease, grace_s=self.config.grace)

    def _rescue(self) -> None:
        for job_id in self.store.rescue(actor=self.worker_id):
            self.log.warning("rescued job of a dead worker", job=job_id)

    def _sweep(self) -> None:
        for job_id in self.store.sweep_orphans():
            self.log.info("removed files of a deleted job", job=job_id)

    def _poll_running(self, now: float) -> None:
        """Once a second, or as soon as someone commits: one query for all our claims; stop those lost."""
        if self.config.parent_pid is not None and os.getppid() != self.config.parent_pid:
            self.parent_gone = True
            self._on_signals()
        sent = [(p, job) for p in self.processes for job in (p.job, p.queued) if job is not None]
        watched = {job.claim.job_id: job.claim.token for _p, job in sent if job.stop_reason is None}
        watched.update((claim.job_id, claim.token) for claim, _claimed in self.ready)
        lost = self.store.lost_claims(watched)
        for process, job in sent:
            if job.claim.job_id in lost:
                self._ask_to_stop(process, job, "lost", now)
        for claim, claimed in [entry for entry in self.ready if entry[0].job_id in lost]:
            self.ready.remove((claim, claimed))  # cancelled or deleted before it started: nothing to stop
            self._after_lost(claim.job_id, claim.token)

    def _ask_to_stop(self, process: HandlerProcess, job: Running, reason: str, now: float) -> None:
        job.stop_reason = reason
        if job is process.job:  # a queued job gets its grace once it runs
            job.kill_at = now + self.config.grace
        process.cancel(job)
        self.log.info("stopping handler: job cancelled, deleted or failed elsewhere", job=job.claim.job_id,
                      pid=process.pid)

    def _enforce_deadlines(self, now: float) -> None:
        for process, job in self._busy():
            if job.timeout and job.killed_for is None and now - job.started >= job.timeout:
                job.killed_for = (f"timed out after {job.timeout:g} s (the handler's time limit; "
                                  "the job's `timeout` param changes it)")
                self.log.warning("handler timed out: killing it", job=job.claim.job_id, pid=process.pid)
                process.kill()
            elif job.kill_at is not None and now >= job.kill_at and job.killed_for is None:
                job.killed_for = f"handler did not stop within {self.config.grace:g} s and was killed"
                self.log.warning("handler ignored the stop request: killing its process group",
                                 job=job.claim.job_id, pid=process.pid)
                process.kill()

    # ---- claiming and starting ----------------------------------------------------------------------------

    def _wanted(self, now: float) -> int:
        """How many jobs to claim now: enough for the free slots plus the claim-ahead, when it runs low."""
        if self.stopping is not None or now < self.next_claim or now < self.start_after:
            return 0
        free = self.config.concurrency - len(self._busy())
        ahead = self.pace.ahead(self.config.concurrency)
        if free > 0 or len(self.ready) <= ahead // 2:
            return max(0, free + ahead - len(self.ready))
        return 0

    def _cycle(self, now: float) -> None:
        """Record completed attempts and claim the next jobs, in one transaction when both are due."""
        self._start_ready()  # a slot may have freed without an event (its process died)
        wanted = self._wanted(now)
        # While a backlog flows (the last claim got all it asked for), claim straight away; otherwise a
        # cheap read first, so an idle worker never takes the write lock.
        if wanted and not self.backlog and not self.store.has_due_work():
            wanted = 0
            self.next_claim = now + self.config.claim_interval
            idle = not (self._busy() or self.ready or self.completed)
            if self.config.exit_when_idle and idle and self.store.unfinished() == 0:
                self._begin_stop("idle")
        record = bool(self.completed) and (
            wanted > 0 or now >= self.record_by or len(self.completed) >= RECORD_BATCH
            or self.stopping is not None or not self._busy())
        if not (wanted or record):
            return
        completed = self.completed if record else []
        try:
            recorded, unpublished, claims = self.store.complete_and_claim(
                self.worker_id, [completion for _job, completion in completed], wanted)
        except Exception as error:  # a locked or full database: keep every outcome and try again shortly
            self.log.error("could not record completed jobs or claim new ones; will retry",
                           jobs=[job.claim.job_id for job, _c in completed], error=repr(error))
            self.record_by = now + self.config.claim_interval
            self.next_claim = now + self.config.claim_interval
            return
        # Committed: hold the new claims and forget the recorded outcomes before anything else can fail.
        self.ready.extend((claim, now) for claim in claims)
        if record:
            self.completed, self.record_by = [], math.inf
        if wanted:
            self.backlog = len(claims) == wanted
            if not self.backlog:
                self.next_claim = now + self.config.claim_interval
        self._start_ready()
        for job, _completion in completed:
            why = unpublished.get(job.claim.job_id)
            if job.claim.job_id in recorded:
                self.log.info("job completed", job=job.claim.job_id)
            elif why is not None:  # its outputs could not be moved into place: that attempt failed
                job.stop_reason = None  # even while stopping: a failure of its own, not an interruption
                self._settle(job, "failed", {"error": f"could not publish the job's outputs: {why}"})
            else:
                self.log.info("job finished but its claim was lost", job=job.claim.job_id)
                self._guarded(lambda job=job: self._after_lost(job.claim.job_id, job.claim.token))

    def _start_ready(self) -> None:
        """Hand jobs claimed ahead to handler processes: free slots first, then one queued behind each job."""
        while self.ready and self.stopping is None and time.monotonic() >= self.start_after:
            try:
                process = self._process_for_next()
            except OSError as error:  # no process could start (out of memory, file descriptors): try shortly
                self.log.error("could not start a handler process; will retry", error=repr(error))
                self.start_after = time.monotonic() + self.config.claim_interval
                return
            if process is None:
                return
            claim, _claimed = self.ready.popleft()
            try:
                self._start(claim, process)
            except Exception as error:  # a full disk, say: fail this attempt rather than hold the claim forever
                self.log.error("could not start job", job=claim.job_id, error=repr(error))
                self._settle(Running(claim, time.monotonic(), None), "failed",
                             {"error": f"could not start the handler: {error}"})

    def _process_for_next(self) -> HandlerProcess | None:
        """An idle process (started if need be), or while jobs are short, a busy one with nothing queued."""
        for worn in [p for p in self.processes if p.job is None and not p.reusable]:
            worn.stop()  # recycled: see MAX_JOBS_PER_PROCESS
            self.processes.remove(worn)
        idle = next((p for p in self.processes if p.job is None and p.reusable), None)
        if idle is not None:
            return idle
        if len(self.processes) < self.config.concurrency:
            process = HandlerProcess(self.config.memory_limit)
            process.start()
            self.processes.append(process)
            return process
        if self.pace.ahead(1) < 1:  # jobs take long enough that a round trip does not matter
            return None
        return next((p for p in self.processes if p.queued is None and p.reusable and p.job is not None
                     and p.job.stop_reason is None), None)

    def _held_in_process(self, now: float) -> list[HandlerProcess]:
        """Processes whose queued job has waited HOLD_LIMIT_S behind a slow one and is not asked back yet."""
        return [p for p in self.processes if p.queued is not None and p.queued.stop_reason is None
                and not p.queued.withdrawing and now - p.queued.started >= HOLD_LIMIT_S]

    def _give_back_held(self, now: float) -> None:
        """Put jobs claimed ahead back to pending when we stop, or when a slow job holds up their slot."""
        held_in_process = self._held_in_process(now)
        held = self.ready and (self.stopping is not None or now - self.ready[0][1] >= HOLD_LIMIT_S)
        if not (held or held_in_process) or now < self.give_back_after:
            return
        for _process, job in self._busy():
            self.pace.still_running(now - job.started)  # claim no further ahead while this pace lasts
        for process in held_in_process:
            assert process.queued is not None
            # Only its process knows whether it has begun: it answers "withdrawn" if not (_on_withdrawn
            # puts the job back then), and otherwise runs it as usual.
            process.withdraw(process.queued)
        reason = (f"worker stopping ({self.stopping})" if self.stopping is not None
                  else "claimed ahead, but its slot is busy with a slow job")
        while held and self.ready:
            claim, _claimed = self.ready[0]
            try:
                released = self.store.release(claim.job_id, claim.token, self.worker_id, reason)
            except Exception as error:  # kept, and tried again shortly: never started, never lost
                self.log.error("could not give back a job claimed ahead; will retry", job=claim.job_id,
                               error=repr(error))
                self.give_back_after = now + self.config.claim_interval
                return
            self.ready.popleft()
            if released:
                self.log.info("job put back", job=claim.job_id, reason=reason)
            else:  # cancelled or deleted meanwhile
                self._after_lost(claim.job_id, claim.token)

    def _timeout_for(self, claim: Claim) -> float | None:
        given = claim.params.get("timeout")
        if given is not None:
            try:
                value = float(given)
            except (TypeError, ValueError):
                value = math.nan
            if math.isfinite(value) and value > 0:
                return value
            self.log.warning("ignored a timeout param that is not a positive number", job=claim.job_id,
                             value=given)
        spec = self.registry.get(claim.handler)
        return spec.timeout if spec else None

    def _start(self, claim: Claim, process: HandlerProcess) -> None:
        job = Running(claim, time.monotonic(), self._timeout_for(claim), started_at=self.store.clock())
        job_dir, attempt_dir, log_path = self.store.data.attempt_paths(claim.job_id, claim.token)
        # The handler makes the attempt's folder when it first asks for it (published as output/ by a fenced
        # complete()), and its process writes the log's header, on its own core while this loop goes on.
        process.run(job, {
            "job_id": claim.job_id, "token": claim.token, "handler": claim.handler, "params": claim.params,
            "input_path": f"{job_dir}/{claim.input_path}", "output_dir": attempt_dir, "log_path": log_path,
            "attempt": claim.attempts,
            "header": f"--- attempt {claim.attempts} of {claim.max_attempts} by {self.worker_id} ---",
        })
        if process.job is job:
            self._log_start(process, job)

    def _log_start(self, process: HandlerProcess, job: Running) -> None:
        self.log.info("job started", job=job.claim.job_id, handler=job.claim.handler, attempt=job.claim.attempts,
                      pid=process.pid)

    # ---- what handler processes tell us -------------------------------------------------------------------

    def _on_event(self, process: HandlerProcess, event: Any) -> None:
        if not isinstance(event, dict):
            return  # a line a misbehaving handler wrote over ours: the job still ends by event or exit
        kind = event.get("ev")
        if kind == "withdrawn":
            self._on_withdrawn(process, event)
            return
        job = process.job
        if job is None or event.get("job_id") != job.claim.job_id:
            return  # "ready", or news about a job we already settled
        if job.withdrawing:  # we asked for it back too late: it is running after all
            job.withdrawing = False
            self._log_start(process, job)
        if kind == "progress":
            job.pending_progress = (int(event["percent"]), str(event.get("message", "")))
        elif kind in ("done", "failed", "cancelled"):
            now = time.monotonic()
            if job.stop_reason is None:
                self.pace.finished(now - job.started)
            self._advance(process, now)
            if kind == "done" and job.stop_reason in (None, "shutdown"):
                # Recorded with others in one transaction (_cycle): the claim still fences it, and until
                # then the job is `running`, so a crash here re-runs it, as any crash before a commit does.
                self.completed.append((job, Completion(job.claim.job_id, job.claim.token, event.get("result"),
                                                       job.started_at)))
                self.record_by = min(self.record_by, time.monotonic() + RECORD_DELAY_S)
            else:
                self._settle(job, kind, event)
            self._start_ready()  # the freed slot takes its next job before anything is written

    def _advance(self, process: HandlerProcess, now: float) -> None:
        """The process's current job ended: the one queued behind it (sent already) runs from now."""
        following = process.advance()
        self.next_claim = 0.0
        if following is None:
            return
        following.started, following.started_at = now, self.store.clock()
        if following.stop_reason is not None:
            following.kill_at = now + self.config.grace
        elif not following.withdrawing:  # one being withdrawn is logged only if it turns out to run
            self._log_start(process, following)

    def _on_withdrawn(self, process: HandlerProcess, event: dict[str, Any]) -> None:
        """A queued job came back unrun: put it back to pending without counting an attempt."""
        token = event.get("token")
        if process.queued is not None and process.queued.claim.token == token:
            job, process.queued = process.queued, None
        elif process.job is not None and process.job.claim.token == token:
            job = process.job  # we took it for running when the job before it ended; it never began
            self._advance(process, time.monotonic())
            process.jobs_done -= 1
        else:
            return
        self._put_back_unrun(job)
        self._start_ready()

    def _put_back_unrun(self, job: Running) -> None:
        """A job sent to a process that never began it: back to pending without counting an attempt (or, if it
        was cancelled or deleted meanwhile, cleaned up as a lost claim)."""
        job.stop_reason = job.stop_reason or "given back"
        self._settle(job, "cancelled", {})

    def _on_exit(self, process: HandlerProcess) -> None:
        if process not in self.processes:  # already retired (recycled) earlier in this tick
            return
        self.processes.remove(process)
        job, queued = process.job, process.queued
        process.job = process.queued = None
        if queued is not None:
            self._put_back_unrun(queued)
        if job is None:
            return
        how = process.describe_exit()
        self.log.warning("handler process ended", job=job.claim.job_id, pid=process.pid, exit=how)
        self._settle(job, "died", {"error": job.killed_for or f"handler process died: {how}"})

    def _settle(self, job: Running, kind: str, event: dict[str, Any]) -> None:
        self.next_claim = 0.0  # a slot is free: take the next job at once
        self.outcomes.settle(job, kind, event, self.stopping)

    def _after_lost(self, job_id: int, token: str) -> None:
        self.outcomes.after_lost(job_id, token)

    def _flush_progress(self, now: float) -> None:
        for _process, job in self._busy():
            if now - job.last_progress_write >= PROGRESS_WRITE_INTERVAL_S and not self.outcomes.flush_progress(job):
                self.next_poll = 0.0  # our claim is gone: find out why on this very tick
