"""How times, durations, sizes and attempts read in the window (pure functions, so they are easy to test)."""

from __future__ import annotations

import html
import re
import time
from datetime import datetime

from worker.store.states import JobStatus

STATUS_LABELS: dict[JobStatus, str] = {
    JobStatus.PENDING: "Pending",
    JobStatus.RUNNING: "Running",
    JobStatus.COMPLETED: "Completed",
    JobStatus.FAILED: "Failed",
    JobStatus.CANCELLED: "Cancelled",
}


def duration(seconds: float) -> str:
    """'850 ms', '42 s', '3 m 05 s', '2 h 04 m': short, and precise where precision matters."""
    seconds = max(0.0, seconds)
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s" if seconds < 10 else f"{seconds:.0f} s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} m {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} m"


def job_duration(started_at: float | None, finished_at: float | None, now: float | None = None) -> str:
    """How long the job ran (or has been running); empty if it never started."""
    if started_at is None:
        return ""
    end = finished_at if finished_at is not None else (time.time() if now is None else now)
    return duration(end - started_at)


def when(ts: float | None, now: float | None = None) -> str:
    """A local time: just the clock for today, the date too for older ones."""
    if ts is None:
        return ""
    moment = datetime.fromtimestamp(ts)
    today = datetime.fromtimestamp(time.time() if now is None else now).date()
    return moment.strftime("%H:%M:%S") if moment.date() == today else moment.strftime("%Y-%m-%d %H:%M")


def when_full(ts: float | None) -> str:
    return "" if ts is None else datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S")


def attempts(status: JobStatus, tried: int, allowed: int, run_after: float, now: float | None = None) -> str:
    """'2 of 3', or 'retrying in 8 s' while a failed attempt waits out its backoff."""
    now = time.time() if now is None else now
    if status is JobStatus.PENDING and tried > 0 and run_after > now:
        return f"retrying in {max(1, round(run_after - now))} s"
    return f"{tried} of {allowed}"


def size(nbytes: int) -> str:
    value = float(nbytes)
    for unit in ("bytes", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:,.0f} {unit}" if unit == "bytes" else f"{value:,.1f} {unit}"
        value /= 1024
    return f"{value:,.1f} GB"


def plural(count: int, noun: str) -> str:
    return f"{count:,} {noun}" if count == 1 else f"{count:,} {noun}s"


# C0 and C1 controls, lone surrogates (undecodable bytes smuggled into text) and the bidirectional overrides
# that can make a name read backwards: shown escaped, so a job's data always reads as what it is.
_UNSHOWN = re.compile("[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    code = ord(char)
    if char in _NAMED:
        return _NAMED[char]
    if 0xDC80 <= code <= 0xDCFF:  # surrogateescape: the undecodable byte itself
        return f"\\x{code - 0xDC00:02x}"
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def shown(text: str, multiline: bool = False) -> str:
    """Job data (a file name, an error) as a label shows it: control characters and undecodable bytes escaped.

    `multiline` keeps line breaks and tabs, for the error message under its own heading.
    """
    if multiline:
        return "\n".join("\t".join(_UNSHOWN.sub(_escape, part) for part in line.split("\t"))
                         for line in text.split("\n"))
    return _UNSHOWN.sub(_escape, text)


def plain_tip(text: str) -> str:
    """A tooltip that shows `text` literally: Qt guesses whether a tooltip is HTML, so give it escaped HTML."""
    if not text:
        return ""
    return "<p>" + html.escape(shown(text, multiline=True), quote=False).replace("\n", "<br>") + "</p>"
