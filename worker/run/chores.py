"""The worker loop's clock: one table of when each chore is next due, read by the tick (run what is due) and by
the wait (sleep until the nearest), instead of deadlines kept by hand in attributes of their own."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum


class Chore(StrEnum):
    """What the loop does on a clock, beside reacting to its handler processes."""

    CHANGE_CHECK = "change check"
    """While it holds claims: did anyone else commit (PRAGMA data_version, ~10 µs)? Then poll at once."""
    POLL = "poll"
    """Are our claims still ours? One query for all of them; a lost one's handler is stopped."""
    HEARTBEAT = "heartbeat"
    """Prove we are alive, within our lease; and check the database is still the file we opened."""
    RESCUE = "rescue"
    """Fail the attempts of workers silent past their own lease."""
    SWEEP = "sweep"
    """Remove the files of jobs deleted while their worker was dead, and uploads a crash left."""
    CLAIM = "claim"
    """Look for work: at once when a slot frees, on the claim interval while idle."""
    RECORD = "record"
    """Write the completions held back to share one commit; never due while none are held."""
    GIVE_BACK = "give back"
    """Not before: after a failed give-back of jobs claimed ahead, when to try again."""
    START = "start"
    """Not before: after a handler process failed to start, when to try again."""


@dataclass(frozen=True)
class Periodic:
    """A chore run every `every` seconds while `active()` says it matters."""

    chore: Chore
    every: float
    run: Callable[[float], None]
    active: Callable[[], bool] = lambda: True


@dataclass
class Schedule:
    """When each chore is next due, in monotonic seconds."""

    due: dict[Chore, float] = field(default_factory=dict)

    @classmethod
    def starting(cls, now: float, first: dict[Chore, float]) -> Schedule:
        """Everything due now, but the chores in `first`, due that many seconds from now."""
        return cls({chore: now + first.get(chore, 0.0) for chore in Chore})

    def is_due(self, chore: Chore, now: float) -> bool:
        return now >= self.due[chore]

    def after(self, chore: Chore, now: float, seconds: float) -> None:
        self.due[chore] = now + seconds

    def at(self, chore: Chore, when: float) -> None:
        self.due[chore] = when

    def now(self, chore: Chore) -> None:
        """Due on this very tick."""
        self.due[chore] = -math.inf

    def never(self, chore: Chore) -> None:
        self.due[chore] = math.inf

    def run_due(self, periodic: Iterable[Periodic], now: float) -> None:
        """The tick's part: each active periodic chore that is due runs, and is due again `every` from now."""
        for entry in periodic:
            if entry.active() and self.is_due(entry.chore, now):
                self.after(entry.chore, now, entry.every)
                entry.run(now)

    def nearest(self, periodic: Iterable[Periodic], *others: float) -> float:
        """The wait's part: the nearest due time of the active periodic chores and of `others`."""
        return min([self.due[e.chore] for e in periodic if e.active()] + list(others), default=math.inf)
