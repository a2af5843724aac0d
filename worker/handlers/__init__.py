"""The built-in handlers, by name (the order matters: the first whose sniffer matches a file wins)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from worker.handlers.checksum import checksum
from worker.handlers.docx import docx
from worker.handlers.epub import epub
from worker.handlers.image import image
from worker.handlers.odt import odt
from worker.handlers.pdf import pdf
from worker.handlers.sleep import sleep
from worker.handlers.text import text

if TYPE_CHECKING:
    from worker.api import HandlerFunc

BUILTINS: dict[str, HandlerFunc] = {
    "epub": epub,
    "docx": docx,
    "odt": odt,
    "pdf": pdf,
    "image": image,
    "text": text,
    "checksum": checksum,
    "sleep": sleep,
}
