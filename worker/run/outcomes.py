"""How attempts end, written to the store: every write fenced by the claim token, and none ever dropped."""

from __future__ import annotations

import time
from typing import Any

from worker.run.logs import EventLog
from worker.run.process import Running
from worker.run.protocol import Ending, Shutdown, StopReason
from worker.store import Store
from worker.store.errors import JobNotFound


class Outcomes:
    """Records outcomes for one worker; one the store refuses for now (locked, full) is kept and tried again.

    Attributes:
        worker_id: who records them (set once the worker has registered).
        unsettled: outcomes not recorded yet, with their kind and event.
    """

    def __init__(self, store: Store, log: EventLog) -> None:
        self.store = store
        self.log = log
        self.worker_id = ""
        self.unsettled: list[tuple[Running, Ending, dict[str, Any]]] = []

    def settle(self, job: Running, kind: Ending, event: dict[str, Any], stopping: Shutdown | None) -> None:
        """Record how an attempt ended, or keep it to try again if the store refuses for now.

        stopping is why the worker is stopping, if it is.
        """
        try:
            self._record(job, kind, event, stopping)
        except Exception as error:  # a locked or full database: never drop an outcome, or the job stays running
            self.log.error("could not record how a job ended; will retry", job=job.claim.job_id, error=repr(error))
            self.unsettled.append((job, kind, event))

    def retry(self, stopping: Shutdown | None) -> None:
        """Try again to record the outcomes the store refused before."""
        pending, self.unsettled = self.unsettled, []
        for job, kind, event in pending:
            self.settle(job, kind, event, stopping)

    def _record(self, job: Running, kind: Ending, event: dict[str, Any], stopping: Shutdown | None) -> None:
        """Write how an attempt ended; every write is fenced by the claim token."""
        claim, actor = job.claim, self.worker_id
        if job.stop_reason is StopReason.LOST:
            self.after_lost(claim.job_id, claim.token)
            return
        if job.stop_reason in (StopReason.SHUTDOWN, StopReason.GIVEN_BACK) and kind is not Ending.DONE:
            # Interrupted by our own shutdown (stopped, or killed after the grace), or given back before it
            # started: not the job's fault.
            reason = (f"worker stopping ({stopping})" if job.stop_reason is StopReason.SHUTDOWN
                      else "claimed ahead, but its slot was busy")
            if self.store.release(claim.job_id, claim.token, actor, reason):
                self.store.data.discard_attempt(claim.job_id, claim.token)
                self.log.info("job put back", job=claim.job_id, reason=reason)
            else:  # cancelled or deleted meanwhile: clean up as for any lost claim
                self.after_lost(claim.job_id, claim.token)
            return
        if kind is Ending.DONE:
            self.flush_progress(job)
            recorded = self.store.complete(claim.job_id, claim.token, event.get("result"), actor)
            self.log.info("job completed" if recorded else "job finished but its claim was lost", job=claim.job_id)
        else:
            error = str(event.get("error") or "the handler raised JobCancelled without being cancelled")
            to = self.store.fail(claim.job_id, claim.token, error, event.get("traceback"), actor,
                                 permanent=bool(event.get("permanent")))
            self.store.data.discard_attempt(claim.job_id, claim.token)
            recorded = bool(to)
            self.log.info("job attempt failed", job=claim.job_id, error=error, status=to or "claim lost")
        if not recorded:
            self.after_lost(claim.job_id, claim.token)

    def after_lost(self, job_id: int, token: str) -> None:
        """The handler of a cancelled/deleted/failed job has stopped: clean up what it left."""
        try:
            self.store.get(job_id)
        except JobNotFound:
            self.store.data.remove_job_files(job_id)  # deleted: nothing of it may survive
            self.log.info("deleted job's files removed", job=job_id)
            return
        self.store.data.discard_attempt(job_id, token)
        self.log.info("handler stopped", job=job_id)

    def flush_progress(self, job: Running) -> bool:
        """Write the job's latest progress, if any; False if the store refused it (the claim is gone)."""
        if job.stop_reason is not None:
            job.pending_progress = None  # the job is ending: its progress no longer matters
        if job.pending_progress is None:
            return True
        percent, message = job.pending_progress
        job.pending_progress = None
        job.last_progress_write = time.monotonic()
        return self.store.report_progress(job.claim.job_id, job.claim.token, percent, message)
