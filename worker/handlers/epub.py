"""The `epub` handler: metadata, table of contents and the plain text of each chapter, read with limits."""

from __future__ import annotations

import json
import re
from typing import Any

from worker.api import JobContext, handler
from worker.handlers.common import BadFile, TextStats, output_file, quoted, require_content
from worker.handlers.epubparse import (
    Item,
    Package,
    TocEntry,
    count_entries,
    flat_titles,
    nav_toc,
    ncx_toc,
    package_path,
    parse_package,
)
from worker.handlers.htmltext import HTMLText
from worker.handlers.safezip import MiB, SafeZip
from worker.handlers.sniff import EPUB_MIMETYPE, is_epub, text_bom

XML_LIMIT = 16 * MiB  # container, package, NCX and nav documents
CHAPTER_LIMIT = 64 * MiB
HTML_TYPES = frozenset({"application/xhtml+xml", "text/html", "application/xml", "text/xml"})
_XML_ENCODING = re.compile(rb"""^<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._-]+)["']""")


@handler(extensions=(".epub",), sniff=is_epub, timeout=300,
         description="E-book: metadata, table of contents and the text of each chapter (text.txt, chapters.json)")
def epub(ctx: JobContext) -> dict[str, Any]:
    require_content(ctx, "e-book")
    ctx.progress(0, "reading the archive")
    with SafeZip(ctx.input_path) as book:
        _check_mimetype(book, ctx)
        if "META-INF/container.xml" not in book:
            raise BadFile("not an EPUB: it has no META-INF/container.xml")
        opf = package_path(book.read("META-INF/container.xml", XML_LIMIT))
        if opf not in book:
            raise BadFile(f"not an EPUB: its package file {quoted(opf)} is missing")
        package = parse_package(book.read(opf, XML_LIMIT), opf)
        ctx.check()
        toc = _table_of_contents(book, package, ctx)
        chapters, skipped, stats = _chapters(book, package, toc, ctx)
    metadata = package.metadata
    with output_file(ctx, "chapters.json") as out:
        json.dump({"metadata": metadata, "version": package.version, "toc": toc, "chapters": chapters,
                   "skipped": skipped}, out, ensure_ascii=False, indent=1)
    ctx.progress(100, f"{len(chapters)} chapters")
    return {"title": metadata.get("title", ""), "authors": metadata.get("authors", []),
            "language": metadata.get("language", ""), "chapters": len(chapters), "words": stats.words,
            "characters": stats.characters, "toc_entries": count_entries(toc), "skipped": len(skipped)}


def _check_mimetype(book: SafeZip, ctx: JobContext) -> None:
    if "mimetype" not in book:
        ctx.log.warning("no mimetype member; reading it as an EPUB anyway")
        return
    kind = book.read("mimetype", 1024).strip()
    if kind != EPUB_MIMETYPE:
        raise BadFile(f"not an EPUB: its mimetype member says {kind[:80]!r}")


def _table_of_contents(book: SafeZip, package: Package, ctx: JobContext) -> list[TocEntry]:
    """The EPUB 3 navigation document's toc, else the EPUB 2 NCX, else none."""
    nav = package.nav()
    if nav is not None and nav.path in book:
        toc = nav_toc(decode_markup(book.read(nav.path, XML_LIMIT)), nav.path)
        if toc:
            return toc
    ncx = package.manifest.get(package.ncx_id) or next(
        (i for i in package.manifest.values() if i.media_type == "application/x-dtbncx+xml"), None)
    if ncx is not None and ncx.path in book:
        return ncx_toc(book.read(ncx.path, XML_LIMIT), ncx.path)
    ctx.log.info("the book has no table of contents")
    return []


def _chapters(book: SafeZip, package: Package, toc: list[TocEntry],
              ctx: JobContext) -> tuple[list[dict[str, Any]], list[dict[str, str]], TextStats]:
    """Write each spine document's text to text.txt in reading order; describe each chapter."""
    titles = flat_titles(toc)
    chapters: list[dict[str, Any]] = []
    skipped: list[dict[str, str]] = []
    stats = TextStats()
    total = len(package.spine)
    with output_file(ctx, "text.txt") as out:
        for index, idref in enumerate(package.spine):
            ctx.progress(100 * index / total, f"chapter {index + 1} of {total}")
            item = package.manifest.get(idref)
            why = _unreadable(book, item, idref)
            if why or item is None:
                skipped.append({"id": idref, "why": why})
                ctx.log.warning("skipped spine item %s: %s", quoted(idref), why)
                continue
            text, parser = _chapter_text(book.read(item.path, CHAPTER_LIMIT))
            if chapters and text:
                out.write("\n")
                stats.feed("\n")
            start = stats.characters
            out.write(text)
            stats.feed(text)
            chapter = TextStats()
            chapter.feed(text)
            chapters.append({"index": len(chapters) + 1, "id": idref, "href": item.path,
                             "title": titles.get(item.path) or parser.heading or parser.title,
                             "words": chapter.words, "characters": chapter.characters,
                             "start": start, "end": stats.characters})
            ctx.check()
    if not chapters:
        raise BadFile(f"the book has no readable chapters ({len(skipped)} spine items, none readable)")
    return chapters, skipped, stats


def _unreadable(book: SafeZip, item: Item | None, idref: str) -> str:
    if item is None:
        return f"the spine names {quoted(idref)}, which is not in the manifest"
    if not item.path or item.path not in book:
        return "its file is not in the book"
    if item.media_type not in HTML_TYPES:
        return f"it is {item.media_type or 'of no declared type'}, not XHTML"
    return ""


def _chapter_text(data: bytes) -> tuple[str, HTMLText]:
    """Chapters go through html.parser, which never reads a DTD nor expands a declared entity."""
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
