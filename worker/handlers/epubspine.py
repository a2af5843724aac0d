"""An EPUB's spine in reading order: the text of XHTML and SVG pages, and the pictures every page shows."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import IO, Any

from worker.api import JobContext
from worker.handlers.common import BadFile, TextStats, quoted
from worker.handlers.epubparse import Item, Package, TocEntry, flat_titles, resolve
from worker.handlers.htmltext import HTMLText
from worker.handlers.safezip import MiB, SafeZip
from worker.handlers.sniff import text_bom

CHAPTER_LIMIT = 64 * MiB
HTML_TYPES = frozenset({"application/xhtml+xml", "text/html", "application/xml", "text/xml"})
SVG_TYPE = "image/svg+xml"
# Pictures a spine may hold directly (EPUB 3 allows any with a fallback; readers show these): manga and
# picture books are often nothing else.
RASTER_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp", "image/bmp"})
_XML_ENCODING = re.compile(rb"""^<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._-]+)["']""")


@dataclass
class Spine:
    """What reading the spine found.

    Attributes:
        chapters: one description per readable spine item, in reading order.
        skipped: the spine items that could not be read, with why.
        stats: counts over the whole text.
        images: the members the pages show (pictures in the spine, <img> and SVG <image>), in reading order.
        image_count: how many pictures the pages show, counting repeats and those outside the book.
    """

    chapters: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)
    stats: TextStats = field(default_factory=TextStats)
    images: list[str] = field(default_factory=list)
    image_count: int = 0

    def pages_of(self, kind: str) -> int:
        return sum(1 for chapter in self.chapters if chapter["kind"] == kind)


def read_spine(book: SafeZip, package: Package, toc: list[TocEntry], out: IO[str], ctx: JobContext) -> Spine:
    """Write each spine item's text to `out` in reading order; describe each one."""
    titles = flat_titles(toc)
    spine = Spine()
    total = len(package.spine)
    for index, idref in enumerate(package.spine):
        ctx.progress(98 * index / total, f"chapter {index + 1} of {total}")
        item = package.manifest.get(idref)
        why = _unreadable(book, item, idref)
        if why or item is None:
            spine.skipped.append({"id": idref, "why": why})
            ctx.log.warning("skipped spine item %s: %s", quoted(idref), why)
            continue
        text, parser, images = _page(book, item)
        if spine.stats.characters and text:  # a blank line between chapters, none before the first text
            out.write("\n")
            spine.stats.feed("\n")
        start = spine.stats.characters
        out.write(text)
        spine.stats.feed(text)
        chapter = TextStats()
        chapter.feed(text)
        spine.images += images
        spine.image_count += parser.image_count if parser else 1
        spine.chapters.append({
            "index": len(spine.chapters) + 1, "id": idref, "href": item.path, "kind": _kind(item),
            "title": titles.get(item.path) or (parser.heading or parser.title if parser else ""),
            "words": chapter.words, "characters": chapter.characters, "images": parser.image_count if parser else 1,
            "start": start, "end": spine.stats.characters})
        ctx.check()
    if not spine.chapters:
        raise BadFile(f"the book has no readable chapters ({len(spine.skipped)} spine items, none readable)")
    return spine


def _kind(item: Item) -> str:
    return "svg" if item.media_type == SVG_TYPE else "image" if item.media_type in RASTER_TYPES else "xhtml"


def _unreadable(book: SafeZip, item: Item | None, idref: str) -> str:
    if item is None:
        return f"the spine names {quoted(idref)}, which is not in the manifest"
    if not item.path or item.path not in book:
        return "its file is not in the book"
    if item.media_type not in HTML_TYPES and item.media_type != SVG_TYPE and item.media_type not in RASTER_TYPES:
        return f"it is {item.media_type or 'of no declared type'}, not XHTML, SVG or a picture"
    return ""


def _page(book: SafeZip, item: Item) -> tuple[str, HTMLText | None, list[str]]:
    """A spine item's text, its parser (None for a picture) and the members of the pictures it shows."""
    if item.media_type in RASTER_TYPES:
        return "", None, [item.path]
    text, parser = markup_text(book.read(item.path, CHAPTER_LIMIT))
    images = [member for member in (resolve(item.path, href)[0] for href in parser.images) if member]
    return text, parser, images


def markup_text(data: bytes) -> tuple[str, HTMLText]:
    """XHTML or SVG through html.parser, which never reads a DTD nor expands a declared entity."""
    parser = HTMLText()
    parser.feed(decode_markup(data))
    return parser.take() + parser.finish(), parser


def decode_markup(data: bytes) -> str:
    """XHTML bytes to text: a BOM, else the XML declaration's encoding, else UTF-8 (bad bytes replaced)."""
    codec = text_bom(data)
    if codec is None:
        match = _XML_ENCODING.match(data.lstrip()[:200])
        codec = match.group(1).decode("ascii") if match else "utf-8"
    try:
        return data.decode(codec, errors="replace")
    except LookupError:  # an unknown name, or not a text encoding at all (base64_codec, zlib_codec)
        return data.decode("utf-8", errors="replace")
