"""How far ahead a worker claims: enough jobs to keep its slots busy for a moment, never more.

Claiming one job at a time costs a transaction per job, and a slot idles while it commits. For handlers that
take milliseconds that is most of the time, so a worker claims the next jobs ahead, in one transaction, and
starts each the moment a slot frees. A job claimed ahead is `running` (claimed) in the store, so the ahead is
kept to what the slots finish within CLAIM_AHEAD_WINDOW_S at the pace seen so far: nothing for jobs that take
a second, a few dozen for jobs that take a fraction of a millisecond.
"""

from __future__ import annotations

from dataclasses import dataclass

CLAIM_AHEAD_WINDOW_S = 0.05  # a job claimed ahead starts within about this long
MAX_CLAIM_AHEAD = 64
HOLD_LIMIT_S = 0.5  # a job claimed ahead that waited this long is given back: its slot met a slow job
WEIGHT = 0.2  # of the newest run time in the moving average


@dataclass
class Pace:
    """A moving average of how long handlers run, and the claim-ahead it allows."""

    job_seconds: float | None = None

    def finished(self, seconds: float) -> None:
        """A handler ran `seconds`."""
        seconds = max(seconds, 0.0)
        if self.job_seconds is None:
            self.job_seconds = seconds
        else:
            self.job_seconds += WEIGHT * (seconds - self.job_seconds)

    def still_running(self, seconds: float) -> None:
        """A handler has run `seconds` and is not done: the pace is at most that fast."""
        if self.job_seconds is not None and seconds > self.job_seconds:
            self.job_seconds = seconds

    def ahead(self, slots: int) -> int:
        """How many jobs to hold claimed beyond those running, for `slots` slots."""
        if self.job_seconds is None:  # nothing seen yet: claim only what runs now
            return 0
        return min(MAX_CLAIM_AHEAD, int(CLAIM_AHEAD_WINDOW_S * slots / max(self.job_seconds, 1e-6)))
