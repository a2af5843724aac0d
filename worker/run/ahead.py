"""Jobs claimed ahead: claimed in the same transaction as others, held until a slot takes them."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field

from worker.run.pacing import HOLD_LIMIT_S, Pace
from worker.store.rows import Claim


@dataclass
class ClaimAhead:
    """The claims waiting for a slot, oldest first, with when each was claimed; and the pace that sizes them.

    A job claimed ahead is `running` in the store (claimed) before its handler starts, so the worker holds only
    what its slots finish in a moment at the pace seen so far (worker/run/pacing.py), and gives a job back when
    it has waited HOLD_LIMIT_S behind an unexpectedly slow one.
    """

    pace: Pace = field(default_factory=Pace)
    ready: deque[tuple[Claim, float]] = field(default_factory=deque)

    def __bool__(self) -> bool:
        return bool(self.ready)

    def __len__(self) -> int:
        return len(self.ready)

    def wanted(self, free: int, slots: int) -> int:
        """How many jobs to claim now: enough for the free slots plus the claim-ahead, when it runs low."""
        ahead = self.pace.ahead(slots)
        if free > 0 or len(self.ready) <= ahead // 2:
            return max(0, free + ahead - len(self.ready))
        return 0

    def hold(self, claims: Iterable[Claim], now: float) -> None:
        self.ready.extend((claim, now) for claim in claims)

    def next(self) -> Claim:
        return self.ready.popleft()[0]

    def oldest(self) -> Claim:
        return self.ready[0][0]

    def held_too_long(self, now: float) -> bool:
        return bool(self.ready) and now - self.ready[0][1] >= HOLD_LIMIT_S

    def hold_deadline(self) -> float | None:
        return self.ready[0][1] + HOLD_LIMIT_S if self.ready else None

    def tokens(self) -> dict[int, str]:
        return {claim.job_id: claim.token for claim, _claimed in self.ready}

    def drop(self, job_ids: set[int]) -> list[Claim]:
        """Forget the claims of these jobs (cancelled or deleted before their turn); returns them."""
        dropped = [claim for claim, _claimed in self.ready if claim.job_id in job_ids]
        if dropped:
            self.ready = deque(entry for entry in self.ready if entry[0].job_id not in job_ids)
        return dropped
