"""The built-in handlers, by name."""

from __future__ import annotations

from typing import TYPE_CHECKING

from worker.handlers.checksum import checksum
from worker.handlers.sleep import sleep

if TYPE_CHECKING:
    from worker.registry import HandlerFunc

BUILTINS: dict[str, HandlerFunc] = {
    "sleep": sleep,
    "checksum": checksum,
}
