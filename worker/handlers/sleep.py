"""The demo handler: simulates work in steps, reporting progress and honouring cancellation."""

from __future__ import annotations

import math
import threading
from typing import Any

from worker.api import JobContext, handler
from worker.handlers.common import BadParam

STEP_S = 0.1


@handler(description="Simulates work for `seconds` (default 10), with progress every 0.1 s")
def sleep(ctx: JobContext) -> dict[str, Any]:
    seconds = _seconds(ctx.param("seconds", "10"))
    steps = max(1, round(seconds / STEP_S))
    pause = threading.Event()  # never set: its timed wait is the simulated work, without time.sleep
    for step in range(1, steps + 1):
        pause.wait(seconds / steps)
        ctx.progress(100 * step / steps, f"step {step} of {steps}")
    ctx.log.info("slept %.1f s in %d steps", seconds, steps)
    return {"seconds": seconds, "steps": steps}


def _seconds(value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        seconds = math.nan
    if not (math.isfinite(seconds) and seconds >= 0):
        raise BadParam(f"the param `seconds` must be a number of seconds (0 or more), not {value[:40]!r}")
    return seconds
