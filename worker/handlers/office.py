"""What the `docx` and `odt` handlers share: a streaming reader of paragraphs, and the result they give."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable
from typing import IO, Any

from worker.handlers.common import TextStats
from worker.handlers.safexml import Reader, local
from worker.handlers.safezip import MiB

PART_LIMIT = 64 * MiB  # the document body; the zip's own per-member cap
SMALL_PART_LIMIT = 16 * MiB  # metadata, styles, relationships, manifests
MAX_OUTLINE = 200  # headings listed in the result; all are counted
MAX_HEADING_CHARS = 200
MAX_FIELD_CHARS = 2_000
MAX_LIST_ITEMS = 50


class Body(Reader):
    """Streams a document body into text.txt, one line per paragraph, counting as it goes.

    Subclasses say which elements are paragraphs and what text they hold; elements named in `skipped` are
    left out with everything inside them (deleted revisions, comments, notes, alternative renderings).

    Attributes:
        stats: counts over the text written.
        paragraphs: paragraphs with text; headings: how many of those are headings; outline: the first ones.
        tables, images: how many the body has.
    """

    skipped: frozenset[str] = frozenset()

    def __init__(self, what: str, out: IO[str], check: Callable[[], None]) -> None:
        super().__init__(what)
        self.stats = TextStats()
        self.paragraphs = 0
        self.headings = 0
        self.outline: list[dict[str, Any]] = []
        self.tables = 0
        self.images = 0
        self._out = out
        self._check = check
        self._skip = 0  # open elements inside a skipped one
        self._open: list[tuple[list[str], int | None]] = []  # paragraphs open (a text box nests one): text, level

    # --- what subclasses implement ----------------------------------------------------------------------------
    def element(self, name: str, attrs: dict[str, str]) -> None:
        """An element opens, outside any skipped one."""

    def element_end(self, name: str) -> None:
        """An element closes, outside any skipped one."""

    def data(self, content: str) -> None:
        """Character data outside any skipped element."""

    # --- paragraphs -------------------------------------------------------------------------------------------
    def begin_paragraph(self, level: int | None = None) -> None:
        self._open.append(([], level))

    def set_level(self, level: int | None) -> None:
        if self._open:
            self._open[-1] = (self._open[-1][0], level)

    def add(self, piece: str) -> None:
        if self._open:
            self._open[-1][0].append(piece)

    def last_piece(self) -> str:
        return self._open[-1][0][-1] if self._open and self._open[-1][0] else ""

    def end_paragraph(self) -> None:
        if not self._open:
            return
        pieces, level = self._open.pop()
        text = "".join(pieces).strip()
        if not text:
            return
        self.paragraphs += 1
        if level is not None:
            self.headings += 1
            if len(self.outline) < MAX_OUTLINE:
                self.outline.append({"level": level, "text": " ".join(text.split())[:MAX_HEADING_CHARS]})
        self._out.write(text + "\n")
        self.stats.feed(text + "\n")
        if self.paragraphs % 1000 == 0:
            self._check()

    # --- the SAX side -----------------------------------------------------------------------------------------
    def start(self, name: str, attrs: dict[str, str]) -> None:
        if self._skip or name in self.skipped:
            self._skip += 1
            return
        self.element(name, attrs)

    def end(self, name: str) -> None:
        if self._skip:
            self._skip -= 1
            return
        self.element_end(name)

    def text(self, content: str) -> None:
        if not self._skip:
            self.data(content)

    def summary(self) -> dict[str, Any]:
        """The body's part of the result."""
        return {"paragraphs": self.paragraphs, "headings": self.headings, "words": self.stats.words,
                "characters": self.stats.characters, **self.stats.word_notes(), "tables": self.tables,
                "images": self.images, "outline": self.outline}


def small_int(value: str, default: int | None = None, limit: int = 1_000_000) -> int | None:
    """A count or level written in the document, if it is one: int() refuses '²' (which isdigit() accepts) and
    numbers of over 4,300 digits, and an attribute may hold either."""
    text = value.strip()
    return int(text) if text.isdecimal() and len(text) <= 7 and int(text) <= limit else default


def properties(root: ET.Element, names: dict[str, str], lists: dict[str, str]) -> dict[str, Any]:
    """Metadata from a flat properties document (OOXML core.xml, ODF meta.xml), by element local name.

    names: element -> result key for single values (the first wins); lists: element -> key for repeated ones.
    """
    found: dict[str, Any] = {}
    for element in root.iter():
        name = local(element.tag)
        value = " ".join("".join(element.itertext()).split())[:MAX_FIELD_CHARS]
        if not value:
            continue
        if name in lists:
            values = found.setdefault(lists[name], [])
            if len(values) < MAX_LIST_ITEMS:
                values.append(value)
        elif name in names and names[name] not in found:
            found[names[name]] = value
    return found
