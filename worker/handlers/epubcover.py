"""An EPUB's cover: which picture it is, and its 256 px preview."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

from worker.api import JobContext
from worker.handlers.common import BadFile, quoted
from worker.handlers.epubparse import Item, Package, resolve
from worker.handlers.epubspine import CHAPTER_LIMIT, HTML_TYPES, RASTER_TYPES, SVG_TYPE, markup_text
from worker.handlers.preview import open_picture, safe_pillow, shrink, write_preview
from worker.handlers.safezip import MiB, SafeZip

COVER_LIMIT = 32 * MiB
MAX_NAME_CHARS = 300  # member names in the result; a zip allows 65,535 bytes
RASTER_SUFFIXES = (".jpg", ".jpeg", ".png", ".gif", ".webp", ".bmp")


def find_cover(book: SafeZip, package: Package, shown: list[str]) -> tuple[str, str] | None:
    """The cover's member and how it was found: the manifest's cover-image, EPUB 2's cover meta (either may be
    an SVG or XHTML page: then the picture it shows), else the first picture in reading order, else in the
    manifest."""
    types = {item.path: item.media_type for item in package.manifest.values()}
    marked = [(item, "the manifest's cover-image") for item in package.manifest.values()
              if "cover-image" in item.properties]
    marked += [(item, "the package's cover meta") for item in [package.manifest.get(package.cover_id)] if item]
    for item, how in marked:
        found = _picture_of(book, item, types)
        if found:
            return found, how
    for path in shown:
        if _is_raster(path, types) and path in book:
            return path, "the first picture in reading order"
    for item in package.manifest.values():
        if item.media_type in RASTER_TYPES and item.path in book:
            return item.path, "the first picture in the manifest"
    return None


def _picture_of(book: SafeZip, item: Item, types: dict[str, str]) -> str:
    if not item.path or item.path not in book:
        return ""
    if _is_raster(item.path, types):
        return item.path
    if item.media_type in HTML_TYPES or item.media_type == SVG_TYPE:
        _, parser = markup_text(book.read(item.path, CHAPTER_LIMIT))
        return next(_rasters_in(book, item.path, parser.images, types), "")
    return ""


def _rasters_in(book: SafeZip, base: str, hrefs: list[str], types: dict[str, str]) -> Iterator[str]:
    for href in hrefs:
        member = resolve(base, href)[0]
        if member and member in book and _is_raster(member, types):
            yield member


def _is_raster(path: str, types: dict[str, str]) -> bool:
    kind = types.get(path)
    return kind in RASTER_TYPES if kind else path.lower().endswith(RASTER_SUFFIXES)


def cover_preview(ctx: JobContext, book: SafeZip, member: str) -> dict[str, Any]:
    """The cover shrunk to fit 256 px, written as preview.png; a cover that cannot be decoded raises BadFile."""
    data = book.read(member, COVER_LIMIT)
    with safe_pillow(), open_picture(io.BytesIO(data)) as picture:
        ctx.check()
        return write_preview(ctx, shrink(picture))


def describe_cover(ctx: JobContext, book: SafeZip, package: Package, shown: list[str],
                   notes: list[str]) -> dict[str, Any]:
    """The result's cover fields; a cover that cannot be shown is a note, not a failure of the book."""
    member = ""
    try:
        found = find_cover(book, package, shown)
        if found is None:  # no picture at all: nothing to say beyond the missing preview
            return {}
        member, how = found
        preview = cover_preview(ctx, book, member)
    except BadFile as error:  # a damaged or refused picture: the book's text is still good
        ctx.log.warning("cover %s not shown: %s", quoted(member), error)
        notes.append(f"the cover could not be shown: {error}")
        return {"cover": member[:MAX_NAME_CHARS]} if member else {}
    return {"cover": member[:MAX_NAME_CHARS], "cover_from": how, "preview": preview}
