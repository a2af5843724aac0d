"""The worker's log: one JSON object per line on stderr, easy to read for people and for tests."""

from __future__ import annotations

import json
import logging
import sys
import time
import traceback
from typing import Any, TextIO

LOGGER_NAME = "dock.worker"


def _line(level: str, event: str, fields: dict[str, Any], created: float) -> str:
    entry: dict[str, Any] = {"ts": round(created, 3), "level": level, "event": event}
    entry.update(fields)
    return json.dumps(entry, default=str) + "\n"


class EventLog:
    """`log.info("claimed", job=3)` writes {"ts": ..., "level": "info", "event": "claimed", "job": 3}.

    Written straight to a buffer that the loop flushes before each wait (and errors at once): the worker logs
    two lines per job, and logging's records, caller lookup and a write per line cost a fifth of the loop's
    time for jobs that take a millisecond. A kill -9 loses at most the lines of the tick it interrupts.
    """

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def _log(self, level: str, event: str, exc_info: bool = False, **fields: Any) -> None:
        if exc_info:
            fields["traceback"] = traceback.format_exc()
        try:
            self._stream.write(_line(level, event, fields, time.time()))
        except (OSError, ValueError):  # stderr closed (its reader gone): the worker goes on without a log
            return
        if level == "error":
            self.flush()

    def flush(self) -> None:
        try:
            self._stream.flush()
        except (OSError, ValueError):
            return

    def info(self, event: str, **fields: Any) -> None:
        self._log("info", event, **fields)

    def warning(self, event: str, **fields: Any) -> None:
        self._log("warning", event, **fields)

    def error(self, event: str, exc_info: bool = False, **fields: Any) -> None:
        self._log("error", event, exc_info=exc_info, **fields)


class JsonFormatter(logging.Formatter):
    """The same lines for what libraries log through `logging` (warnings, say)."""

    def format(self, record: logging.LogRecord) -> str:
        fields: dict[str, Any] = {}
        if record.exc_info:
            fields["traceback"] = self.formatException(record.exc_info)
        return _line(record.levelname.lower(), record.getMessage(), fields, record.created).rstrip("\n")


def setup(level: int = logging.INFO) -> EventLog:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)
    logging.getLogger(LOGGER_NAME).setLevel(level)
    # Its own buffer on fd 2: sys.stderr is line-buffered, a write per line.
    return EventLog(open(sys.stderr.fileno(), "w", buffering=1 << 16, encoding="utf-8", closefd=False))
