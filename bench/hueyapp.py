"""The other side of the comparison: a huey SqliteHuey queue with a no-op task, importable by huey's consumer.

huey's consumer imports `bench.hueyapp.huey`; the database file comes from $DOCK_BENCH_HUEY_DB.
"""

from __future__ import annotations

import os
from typing import Any

from huey import SqliteHuey

ENV_DB = "DOCK_BENCH_HUEY_DB"
ENV_RESULTS = "DOCK_BENCH_HUEY_RESULTS"  # "0": the task returns None, so huey stores no result at all
QUEUE = "bench"


def noop() -> dict[str, bool] | None:
    """The same work as the dock's `noop` handler: nothing, and a small result to store (or, with
    DOCK_BENCH_HUEY_RESULTS=0, nothing to store: huey then writes no result row, the dock always does)."""
    return {"ok": True} if os.environ.get(ENV_RESULTS, "1") == "1" else None


def make(filename: str) -> tuple[SqliteHuey, Any]:
    """A SqliteHuey with huey's defaults (WAL, SQLite's default synchronous=FULL) and the no-op task on it."""
    queue = SqliteHuey(QUEUE, filename=filename)
    return queue, queue.task()(noop)


huey: SqliteHuey | None = make(os.environ[ENV_DB])[0] if ENV_DB in os.environ else None
