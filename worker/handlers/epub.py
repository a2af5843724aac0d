"""The `epub` handler: metadata, table of contents, the text of each chapter and the cover, read with limits."""

from __future__ import annotations

import json
from typing import Any

from worker.api import JobContext, handler
from worker.handlers.common import BadFile, output_file, quoted, require_content
from worker.handlers.epubcover import describe_cover
from worker.handlers.epubparse import Package, TocEntry, count_entries, nav_toc, ncx_toc, package_path, parse_package
from worker.handlers.epubspine import Spine, decode_markup, read_spine
from worker.handlers.safezip import MiB, SafeZip
from worker.handlers.sniff import EPUB_MIMETYPE, is_epub

XML_LIMIT = 16 * MiB  # container, package, NCX and nav documents


@handler(extensions=(".epub",), sniff=is_epub, timeout=300,
         description="E-book: metadata, table of contents, the text of each chapter (text.txt, chapters.json) "
                     "and the cover (preview.png)")
def epub(ctx: JobContext) -> dict[str, Any]:
    require_content(ctx, "e-book")
    ctx.progress(0, "reading the archive")
    notes: list[str] = []
    with SafeZip(ctx.input_path) as book:
        package = _package(book, ctx)
        toc = _table_of_contents(book, package, ctx)
        with output_file(ctx, "text.txt") as out:
            spine = read_spine(book, package, toc, out, ctx)
        ctx.progress(98, "the cover")
        cover = describe_cover(ctx, book, package, spine.images, notes)
    metadata = package.metadata
    with output_file(ctx, "chapters.json") as out:
        json.dump({"metadata": metadata, "version": package.version, "toc": toc, "chapters": spine.chapters,
                   "skipped": spine.skipped}, out, ensure_ascii=False, indent=1)
    ctx.progress(100, f"{len(spine.chapters)} chapters")
    result = {"title": metadata.get("title", ""), "authors": metadata.get("authors", []),
              "language": metadata.get("language", ""), "chapters": len(spine.chapters), "words": spine.stats.words,
              "characters": spine.stats.characters, **spine.stats.word_notes(), "toc_entries": count_entries(toc),
              "skipped": len(spine.skipped), **_pictures(spine, notes), **_rendition(package), **cover}
    if notes:
        result["notes"] = notes
    return result


def _package(book: SafeZip, ctx: JobContext) -> Package:
    _check_mimetype(book, ctx)
    if "META-INF/container.xml" not in book:
        raise BadFile("not an EPUB: it has no META-INF/container.xml")
    opf = package_path(book.read("META-INF/container.xml", XML_LIMIT))
    if opf not in book:
        raise BadFile(f"not an EPUB: its package file {quoted(opf)} is missing")
    package = parse_package(book.read(opf, XML_LIMIT), opf)
    ctx.check()
    return package


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


def _pictures(spine: Spine, notes: list[str]) -> dict[str, int]:
    """How many pictures the pages show, and how many pages are pictures or drawings; a note if that is all."""
    pictures, drawings = spine.pages_of("image"), spine.pages_of("svg")
    if spine.stats.words == 0:
        notes.append(f"the book has no text: its {len(spine.chapters)} pages are pictures or drawings "
                     f"({spine.image_count} pictures)" if spine.image_count or drawings else
                     "the book has no text")
    return {"images": spine.image_count, "image_pages": pictures, "svg_pages": drawings}


def _rendition(package: Package) -> dict[str, str]:
    """Fixed layout and the page direction (right to left for manga and vertical Japanese), when declared."""
    found = {"layout": package.layout, "page_direction": package.direction}
    return {key: value for key, value in found.items() if value}
