"""What a worker promises the others: how long it may stay silent (its lease) and how long its handlers get to
stop (its grace). Each worker stores its own in its row, so that every process judges it by its own terms;
the defaults live here, for the worker, the command line and the window alike."""

from __future__ import annotations

import math

DEFAULT_LEASE_S = 10.0  # a worker silent this long is presumed dead and its jobs rescued
DEFAULT_GRACE_S = 5.0  # a handler asked to stop has this long before its process group is killed
MAX_DURATION_S = 86_400.0  # a day: longer leases and graces are mistakes, not choices


def checked_duration(value: float, name: str) -> float:
    """`value` if it is a usable number of seconds (finite, above zero, at most a day), else ValueError."""
    if not math.isfinite(value) or value <= 0 or value > MAX_DURATION_S:
        raise ValueError(f"{name} must be a number of seconds above 0 and at most {MAX_DURATION_S:g}, got {value:g}")
    return value
