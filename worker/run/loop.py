"""The worker: claims due jobs, runs each in a supervised handler process, and stops them for sure.

One thread, one loop. Each tick reacts to its handler processes, then runs the chores that are due (the table in
worker/run/chores.py), then records completions and claims more in one transaction. It sleeps in select() on
the handlers' event pipes and a signal wake-up pipe, until the nearest due chore or job deadline.
"""

from __future__ import annotations

import math
import os
import select
import socket
import time
from typing import Any

from worker.registry import Registry
from worker.run.ahead import ClaimAhead
from worker.run.chores import Chore, Periodic, Schedule
from worker.run.config import PROGRESS_WRITE_INTERVAL_S, RECORD_BATCH, RECORD_DELAY_S, SWEEP_INTERVAL_S, WorkerConfig
from worker.run.logs import EventLog
from worker.run.outcomes import Outcomes
from worker.run.platform import become_subreaper
from worker.run.pool import Pool
from worker.run.process import HandlerProcess, Running
from worker.run.protocol import ENDINGS, Ending, Ev, Shutdown, StopReason
from worker.run.signals import Signals
from worker.store import Store
from worker.store.errors import DatabaseReplaced, DockError
from worker.store.rows import Claim, Completion
from worker.store.watch import ChangeWatcher

EXIT_OK, EXIT_STORE_GONE = 0, 1


class Worker:
    """A worker process's main loop. `run()` returns the exit code."""

    def __init__(self, store: Store, config: WorkerConfig, registry: Registry, log: EventLog) -> None:
        self.store = store
        self.config = config
        self.registry = registry
        self.log = log
        self.worker_id = ""
        self.pool = Pool(config.concurrency, config.memory_limit)
        self.ahead = ClaimAhead()
        self.signals = Signals(config.parent_pid)
        self.outcomes = Outcomes(store, log)
        self.completed: list[tuple[Running, Completion]] = []  # handler returned; not recorded yet
        self.backlog = False  # the last claim got all it asked for: claim again without looking first
        self.stopping: Shutdown | None = None
        self.exit_code = EXIT_OK
        self.watcher: ChangeWatcher | None = None
        self.periodic = [
            Periodic(Chore.CHANGE_CHECK, config.change_check, self._check_changes, self._holding_claims),
            Periodic(Chore.POLL, config.poll_interval, self._poll_running),
            Periodic(Chore.HEARTBEAT, config.lease / 3, self._heartbeat),
            Periodic(Chore.RESCUE, config.lease / 2, self._rescue),
            Periodic(Chore.SWEEP, SWEEP_INTERVAL_S, self._sweep),
        ]
        self.schedule = Schedule.starting(time.monotonic(), {
            Chore.HEARTBEAT: config.lease / 3, Chore.RESCUE: config.lease / 2, Chore.SWEEP: SWEEP_INTERVAL_S})
        self.schedule.never(Chore.RECORD)

    # ---- life cycle ---------------------------------------------------------------------------------------

    def run(self) -> int:
        self.signals.install()
        # What a handler process leaves when it dies (killed after its grace or its time limit) comes back to us,
        # not to init, so that the pool can kill it: nothing a handler starts outlives its job.
        become_subreaper()
        self.worker_id = self._register()
        self.outcomes.worker_id = self.worker_id
        for name, error in self.registry.errors.items():
            self.log.error("plugin failed to load", plugin=name, error=error)
        self.log.info("worker started", worker=self.worker_id, pid=os.getpid(), concurrency=self.config.concurrency,
                      lease=self.config.lease, grace=self.config.grace, handlers=sorted(self.registry.handlers),
                      data_dir=str(self.store.data.root))
        now = time.monotonic()
        self._guarded(lambda: self._rescue(now))
        self._guarded(lambda: self._sweep(now))
        self._guarded(self._open_watcher)
        try:
            while True:
                self._guarded(self._tick)
                if self._finished():  # checked before waiting: the last job put back ends the loop at once
                    break
                self._wait()
        finally:
            self.pool.stop()
            if self.stopping is not Shutdown.STORE_GONE:
                self._guarded(lambda: self.store.unregister_worker(self.worker_id))
            if self.watcher is not None:
                self.watcher.close()
            self.log.info("worker stopped", worker=self.worker_id, reason=self.stopping or Shutdown.IDLE)
            self.log.flush()
        return self.exit_code

    def _register(self, worker_id: str | None = None) -> str:
        return self.store.register_worker(os.getpid(), socket.gethostname(), self.config.concurrency, worker_id,
                                          lease_s=self.config.lease, grace_s=self.config.grace)

    def _open_watcher(self) -> None:
        self.watcher = ChangeWatcher(self.store, ignore_own_writes=True)

    def _on_signals(self) -> None:
        if self.signals.parent_gone:
            self._begin_stop(Shutdown.PARENT_GONE)
        if self.signals.received:
            self._begin_stop(self.signals.received[0])
        if len(self.signals.received) > 1:  # a second signal: stop at once
            for _process, job in self.pool.busy():
                job.kill_at = 0.0

    def _begin_stop(self, reason: Shutdown) -> None:
        if self.stopping is not None:
            return
        self.stopping = reason
        self.log.info("stopping", reason=reason, running=[job.claim.job_id for _p, job in self.pool.busy()])
        deadline = time.monotonic() + self.config.grace
        for process, job in self.pool.busy():
            if job.stop_reason is None:
                job.stop_reason = StopReason.SHUTDOWN
                job.kill_at = deadline
                process.cancel()
            if process.queued is not None and process.queued.stop_reason is None:
                process.queued.stop_reason = StopReason.SHUTDOWN  # reported cancelled unrun, then put back
                process.cancel(process.queued)

    def _finished(self) -> bool:
        # Outcomes not yet recorded keep us going, unless a second signal asked us to stop at once.
        unrecorded = self.outcomes.unsettled or self.completed or self.ahead
        return (self.stopping is not None and not self.pool.busy()
                and (not unrecorded or len(self.signals.received) > 1 or self.stopping is Shutdown.STORE_GONE))

    def _guarded(self, step: Any) -> None:
        """Run one step; an error is logged and the loop goes on: nothing a store or handler does is fatal."""
        try:
            step()
        except DatabaseReplaced as error:  # working on a deleted file would lose everything from now on
            self.log.error("the database is gone: stopping", error=str(error))
            self.exit_code = EXIT_STORE_GONE
            self._begin_stop(Shutdown.STORE_GONE)
        except DockError as error:
            self.log.error("store error", error=str(error))
        except Exception as error:  # a bug of ours must not stop every job: log it whole and go on
            self.log.error("unexpected error in the worker loop", exc_info=True, error=repr(error))

    # ---- the loop -----------------------------------------------------------------------------------------

    def _holding_claims(self) -> bool:
        return bool(self.ahead or self.pool.busy())

    def _wait(self) -> None:
        schedule, deadlines = self.schedule, [self.schedule.due[Chore.RECORD]]
        if self.stopping is None and self.pool.free_slots() > 0:
            deadlines.append(max(schedule.due[Chore.CLAIM], schedule.due[Chore.START]))
        holds = [d for d in [self.ahead.hold_deadline(), *self.pool.hold_deadlines()] if d is not None]
        deadlines += [max(hold, schedule.due[Chore.GIVE_BACK]) for hold in holds]
        for _process, job in self.pool.busy():
            if job.kill_at is not None:
                deadlines.append(job.kill_at)
            if job.timeout:
                deadlines.append(job.started + job.timeout)
            if job.pending_progress:
                deadlines.append(job.last_progress_write + PROGRESS_WRITE_INTERVAL_S)
        timeout = max(0.0, schedule.nearest(self.periodic, *deadlines) - time.monotonic())
        self.log.flush()  # what happened this tick is in the log before we sleep
        readable, _, _ = select.select([self.signals.wake_fd, *self.pool.event_fds()], [], [], timeout)
        if self.signals.wake_fd in readable:
            self.signals.drain_wakeups()

    def _tick(self) -> None:
        self._on_signals()
        self.outcomes.retry(self.stopping)
        now = time.monotonic()
        for process in list(self.pool.processes):
            if process.events_fd >= 0:
                for event in process.read_events():
                    self._on_event(process, event)
            if process.exited is not None or (self.schedule.is_due(Chore.POLL, now) and process.poll_exit()):
                self._on_exit(process)
        self._flush_progress(now)
        self.schedule.run_due(self.periodic, now)
        self._enforce_deadlines(now)
        self._give_back_held(now)
        self._cycle(now)

    # ---- chores -------------------------------------------------------------------------------------------

    def _check_changes(self, _now: float) -> None:
        if self.watcher is not None and self.watcher.changed():
            self.schedule.now(Chore.POLL)  # someone committed: it may be a cancel or delete of one of ours

    def _heartbeat(self, _now: float) -> None:
        self.store.check_identity()
        if not self.store.heartbeat(self.worker_id):
            # Another worker presumed us dead (we were paused past the lease) and rescued our jobs; our
            # late writes are refused by their claim tokens. Come back as a live worker.
            self.log.warning("heartbeat row was gone: re-registering", worker=self.worker_id)
            self._register(self.worker_id)

    def _rescue(self, _now: float) -> None:
        for job_id in self.store.rescue(actor=self.worker_id):
            self.log.warning("rescued job of a dead worker", job=job_id)

    def _sweep(self, _now: float) -> None:
        for job_id in self.store.sweep_orphans():
            self.log.info("removed files of a deleted job", job=job_id)

    def _poll_running(self, now: float) -> None:
        """Once a second, or as soon as someone commits: one query for all our claims; stop those lost."""
        if self.signals.check_parent():
            self._on_signals()
        sent = self.pool.sent()
        watched = {job.claim.job_id: job.claim.token for _p, job in sent if job.stop_reason is None}
        watched.update(self.ahead.tokens())
        lost = self.store.lost_claims(watched)
        for process, job in sent:
            if job.claim.job_id in lost:
                self._ask_to_stop(process, job, now)
        for claim in self.ahead.drop(lost):  # cancelled or deleted before it started: nothing to stop
            self.outcomes.after_lost(claim.job_id, claim.token)

    def _ask_to_stop(self, process: HandlerProcess, job: Running, now: float) -> None:
        job.stop_reason = StopReason.LOST
        if job is process.job:  # a queued job gets its grace once it runs
            job.kill_at = now + self.config.grace
        process.cancel(job)
        self.log.info("stopping handler: job cancelled, deleted or failed elsewhere", job=job.claim.job_id,
                      pid=process.pid)

    def _enforce_deadlines(self, now: float) -> None:
        for process, job in self.pool.busy():
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

    def _flush_progress(self, now: float) -> None:
        for _process, job in self.pool.busy():
            if now - job.last_progress_write >= PROGRESS_WRITE_INTERVAL_S and not self.outcomes.flush_progress(job):
                self.schedule.now(Chore.POLL)  # our claim is gone: find out why on this very tick

    # ---- claiming and starting ----------------------------------------------------------------------------

    def _wanted(self, now: float) -> int:
        """How many jobs to claim now: enough for the free slots plus the claim-ahead, when it runs low."""
        if (self.stopping is not None or not self.schedule.is_due(Chore.CLAIM, now)
                or not self.schedule.is_due(Chore.START, now)):
            return 0
        return self.ahead.wanted(self.pool.free_slots(), self.config.concurrency)

    def _cycle(self, now: float) -> None:
        """Record completed attempts and claim the next jobs, in one transaction when both are due."""
        self._start_ready()  # a slot may have freed without an event (its process died)
        wanted = self._wanted(now)
        # While a backlog flows (the last claim got all it asked for), claim straight away; otherwise a
        # cheap read first, so an idle worker never takes the write lock.
        if wanted and not self.backlog and not self.store.has_due_work():
            wanted = 0
            self.schedule.after(Chore.CLAIM, now, self.config.claim_interval)
            idle = not (self.pool.busy() or self.ahead or self.completed)
            if self.config.exit_when_idle and idle and self.store.unfinished() == 0:
                self._begin_stop(Shutdown.IDLE)
        record = bool(self.completed) and (
            wanted > 0 or self.schedule.is_due(Chore.RECORD, now) or len(self.completed) >= RECORD_BATCH
            or self.stopping is not None or not self.pool.busy())
        if not (wanted or record):
            return
        completed = self.completed if record else []
        try:
            recorded, unpublished, claims = self.store.complete_and_claim(
                self.worker_id, [completion for _job, completion in completed], wanted)
        except Exception as error:  # a locked or full database: keep every outcome and try again shortly
            self.log.error("could not record completed jobs or claim new ones; will retry",
                           jobs=[job.claim.job_id for job, _c in completed], error=repr(error))
            self.schedule.after(Chore.RECORD, now, self.config.claim_interval)
            self.schedule.after(Chore.CLAIM, now, self.config.claim_interval)
            return
        # Committed: hold the new claims and forget the recorded outcomes before anything else can fail.
        self.ahead.hold(claims, now)
        if record:
            self.completed = []
            self.schedule.never(Chore.RECORD)
        if wanted:
            self.backlog = len(claims) == wanted
            if not self.backlog:
                self.schedule.after(Chore.CLAIM, now, self.config.claim_interval)
        self._start_ready()
        self._report_recorded(completed, recorded, unpublished)

    def _report_recorded(self, completed: list[tuple[Running, Completion]], recorded: set[int],
                         unpublished: dict[int, str]) -> None:
        for job, _completion in completed:
            why = unpublished.get(job.claim.job_id)
            if job.claim.job_id in recorded:
                self.log.info("job completed", job=job.claim.job_id)
            elif why is not None:  # its outputs could not be moved into place: that attempt failed
                job.stop_reason = None  # even while stopping: a failure of its own, not an interruption
                self._settle(job, Ending.FAILED, {"error": f"could not publish the job's outputs: {why}"})
            else:
                self.log.info("job finished but its claim was lost", job=job.claim.job_id)
                self._guarded(lambda job=job: self.outcomes.after_lost(job.claim.job_id, job.claim.token))

    def _start_ready(self) -> None:
        """Hand jobs claimed ahead to handler processes: free slots first, then one queued behind each job."""
        while self.ahead and self.stopping is None and self.schedule.is_due(Chore.START, time.monotonic()):
            try:
                process = self.pool.process_for_next(self.ahead.pace)
            except OSError as error:  # no process could start (out of memory, file descriptors): try shortly
                self.log.error("could not start a handler process; will retry", error=repr(error))
                self.schedule.after(Chore.START, time.monotonic(), self.config.claim_interval)
                return
            if process is None:
                return
            claim = self.ahead.next()
            try:
                self._start(claim, process)
            except Exception as error:  # a full disk, say: fail this attempt rather than hold the claim forever
                self.log.error("could not start job", job=claim.job_id, error=repr(error))
                self._settle(Running(claim, time.monotonic(), None), Ending.FAILED,
                             {"error": f"could not start the handler: {error}"})

    def _give_back_held(self, now: float) -> None:
        """Put jobs claimed ahead back to pending when we stop, or when a slow job holds up their slot."""
        held_in_process = self.pool.held_back(now)
        held = bool(self.ahead) and (self.stopping is not None or self.ahead.held_too_long(now))
        if not (held or held_in_process) or not self.schedule.is_due(Chore.GIVE_BACK, now):
            return
        for _process, job in self.pool.busy():
            self.ahead.pace.still_running(now - job.started)  # claim no further ahead while this pace lasts
        for process in held_in_process:
            assert process.queued is not None
            # Only its process knows whether it has begun: it answers WITHDRAWN if not (_on_withdrawn puts
            # the job back then), and otherwise runs it as usual.
            process.withdraw(process.queued)
        reason = (f"worker stopping ({self.stopping})" if self.stopping is not None
                  else "claimed ahead, but its slot is busy with a slow job")
        while held and self.ahead:
            claim = self.ahead.oldest()
            try:
                released = self.store.release(claim.job_id, claim.token, self.worker_id, reason)
            except Exception as error:  # kept, and tried again shortly: never started, never lost
                self.log.error("could not give back a job claimed ahead; will retry", job=claim.job_id,
                               error=repr(error))
                self.schedule.after(Chore.GIVE_BACK, now, self.config.claim_interval)
                return
            self.ahead.next()
            if released:
                self.log.info("job put back", job=claim.job_id, reason=reason)
            else:  # cancelled or deleted meanwhile
                self.outcomes.after_lost(claim.job_id, claim.token)

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
        job_dir, attempt_dir, log_path = self.store.data.attempt_paths(claim.job_id, claim.token)
        header = f"--- attempt {claim.attempts} of {claim.max_attempts} by {self.worker_id} ---"
        job = Running(claim, time.monotonic(), self._timeout_for(claim), started_at=self.store.clock(),
                      log_path=log_path, log_header=header)
        # The handler makes the attempt's folder when it first asks for it (published as output/ by a fenced
        # complete()), and its process opens the log at the first byte written, on its own core.
        process.run(job, {
            "job_id": claim.job_id, "token": claim.token, "handler": claim.handler, "params": claim.params,
            "input_path": f"{job_dir}/{claim.input_path}", "output_dir": attempt_dir, "log_path": log_path,
            "attempt": claim.attempts, "header": header,
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
        if kind == Ev.WITHDRAWN:
            self._on_withdrawn(process, event)
            return
        job = process.job
        if job is None or event.get("job_id") != job.claim.job_id:
            return  # READY, UNUSABLE (the exit reports it), or news about a job we already settled
        if job.withdrawing:  # we asked for it back too late: it is running after all
            job.withdrawing = False
            self._log_start(process, job)
        if kind == Ev.PROGRESS:
            job.pending_progress = (int(event["percent"]), str(event.get("message", "")))
        elif kind in ENDINGS:
            self._on_ending(process, job, Ev(kind), event)

    def _on_ending(self, process: HandlerProcess, job: Running, kind: Ev, event: dict[str, Any]) -> None:
        now = time.monotonic()
        if job.stop_reason is None:
            self.ahead.pace.finished(now - job.started)
        self._advance(process, now)
        if kind is Ev.DONE and job.stop_reason in (None, StopReason.SHUTDOWN):
            # Recorded with others in one transaction (_cycle): the claim still fences it, and until then the
            # job is `running`, so a crash here re-runs it, as any crash before a commit does.
            self.completed.append((job, Completion(job.claim.job_id, job.claim.token, event.get("result"),
                                                   job.started_at, bool(event.get("outputs", True)))))
            self.schedule.at(Chore.RECORD, min(self.schedule.due[Chore.RECORD], now + RECORD_DELAY_S))
        else:
            self._settle(job, Ending(kind.value), event)
        self._start_ready()  # the freed slot takes its next job before anything is written

    def _advance(self, process: HandlerProcess, now: float) -> None:
        """The process's current job ended: the one queued behind it (sent already) runs from now."""
        following = process.advance()
        self.schedule.now(Chore.CLAIM)
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
        job.stop_reason = job.stop_reason or StopReason.GIVEN_BACK
        self._settle(job, Ending.CANCELLED, {})

    def _on_exit(self, process: HandlerProcess) -> None:
        if not self.pool.retire(process):  # already retired (recycled) earlier in this tick
            return
        job, queued = process.job, process.queued
        process.job = process.queued = None
        process.salvage_output(job)
        if queued is not None:
            self._put_back_unrun(queued)
        if job is None:
            return
        how = process.describe_exit()
        self.log.warning("handler process ended", job=job.claim.job_id, pid=process.pid, exit=how)
        error = job.killed_for or process.death_notice()
        self._settle(job, Ending.DIED, {"error": error})

    def _settle(self, job: Running, ending: Ending, event: dict[str, Any]) -> None:
        self.schedule.now(Chore.CLAIM)  # a slot is free: take the next job at once
        self.outcomes.settle(job, ending, event, self.stopping)
