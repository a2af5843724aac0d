"""The `pdf` handler: metadata, page count, the text of each page and a preview of the first, with PDFium."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from worker.api import JobContext, handler
from worker.handlers.common import BadFile, TextStats, output_file, require_content
from worker.handlers.preview import PREVIEW_PX, write_preview
from worker.handlers.sniff import is_pdf

if TYPE_CHECKING:
    from pathlib import Path

    from pypdfium2 import PdfDocument

PAGE_SEPARATOR = "\f"  # as pdftotext does: a form feed ends each page
MAX_PAGES = 10_000  # pages whose text is read; a PDF of a million pages costs a few KiB to make
MAX_FIELD_CHARS = 2_000
MAX_META_BYTES = 1 << 20
MAX_LISTED_PAGES = 50
INFO_FIELDS = {"Title": "title", "Author": "author", "Subject": "subject", "Keywords": "keywords",
               "Creator": "creator", "Producer": "producer", "CreationDate": "created", "ModDate": "modified"}
_PDF_DATE = re.compile(r"D:(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?(Z|[+-]\d{2}'?\d{2}'?)?")


@dataclass
class PageText:
    """What reading the pages found: counts, and the pages that had no text or could not be read."""

    stats: TextStats = field(default_factory=TextStats)
    read: int = 0
    empty: int = 0
    failed: list[tuple[int, str]] = field(default_factory=list)


@handler(extensions=(".pdf",), sniff=is_pdf, timeout=600,
         description="PDF: metadata, page count, the text of each page (text.txt) and a preview (preview.png)")
def pdf(ctx: JobContext) -> dict[str, Any]:
    require_content(ctx, "PDF")
    ctx.progress(0, "reading the document")
    notes: list[str] = []
    with _open(ctx) as document:
        total = len(document)
        result: dict[str, Any] = {**_metadata(document), "pages": total, "encrypted": _encrypted(document),
                                  "version": _version(document)}
        if total > MAX_PAGES:
            notes.append(f"only the first {MAX_PAGES:,} of {total:,} pages were read (the page cap)")
            result["pages_read"] = MAX_PAGES
        pages = _read_pages(ctx, document, min(total, MAX_PAGES))
        ctx.progress(99, "rendering the preview")
        preview = _preview(ctx, document, notes)
    ctx.progress(100, f"{total} pages")
    if pages.stats.words == 0:
        notes.append("no text found: the pages may be scanned images (this handler does no OCR)")
    result.update(words=pages.stats.words, characters=pages.stats.characters, **pages.stats.word_notes(),
                  pages_without_text=pages.empty,
                  failed_pages=[number for number, _ in pages.failed[:MAX_LISTED_PAGES]])
    if preview is not None:
        result["preview"] = preview
    if notes:
        result["notes"] = notes
    return result


def _open(ctx: JobContext) -> PdfDocument:
    import pypdfium2 as pdfium
    import pypdfium2.raw as codes

    password = ctx.params.get("password") or None
    try:
        return _load(ctx.input_path, password)
    except pdfium.PdfiumError as error:
        retry = f"`dock retry {ctx.job_id} --param password=...` (or Retry with parameters in the window)"
        if error.err_code == codes.FPDF_ERR_PASSWORD and password:
            raise BadFile(f"the PDF is encrypted and the password given (param `password`) does not open it: "
                          f"run it again with the right one: {retry}") from error
        if error.err_code == codes.FPDF_ERR_PASSWORD:
            raise BadFile(f"the PDF is encrypted and needs a password (the param `password`): run it again with "
                          f"{retry}") from error
        if error.err_code == codes.FPDF_ERR_SECURITY:
            raise BadFile("the PDF is encrypted with a security handler that PDFium does not support") from error
        if error.err_code == codes.FPDF_ERR_SUCCESS:  # it loaded, and pypdfium2 refused it for having no page
            raise BadFile("the PDF has no pages (its page tree is empty or damaged)") from error
        raise BadFile("not a readable PDF (truncated or damaged, or not a PDF at all): PDFium reports "
                      f"{_reason(error.err_code)}") from error


def _load(path: Path, password: str | None) -> PdfDocument:
    import pypdfium2 as pdfium
    import pypdfium2.raw as codes

    try:
        return pdfium.PdfDocument(path, password=password)
    except pdfium.PdfiumError as error:
        if error.err_code != codes.FPDF_ERR_PASSWORD or not password:
            raise
    # PDFium refuses any password for a PDF whose user password is empty: such a PDF opens without one
    return pdfium.PdfDocument(path)


def _reason(code: int | None) -> str:
    import pypdfium2.raw as codes

    return {codes.FPDF_ERR_FORMAT: "a data format error", codes.FPDF_ERR_FILE: "a file access error",
            codes.FPDF_ERR_PAGE: "a page error"}.get(code or -1, f"error {code}")


def _encrypted(document: PdfDocument) -> bool:
    import pypdfium2.raw as codes

    return bool(codes.FPDF_GetSecurityHandlerRevision(document) != -1)


def _version(document: PdfDocument) -> str:
    number = document.get_version()
    return f"{number // 10}.{number % 10}" if number else ""


def _metadata(document: PdfDocument) -> dict[str, str]:
    found = {}
    for name, key in INFO_FIELDS.items():
        value = " ".join(_meta_text(document, name).split())[:MAX_FIELD_CHARS]
        if value:
            found[key] = _iso_date(value) if key in ("created", "modified") else value
    return found


def _meta_text(document: PdfDocument, name: str) -> str:
    """An /Info field as PDFium gives it (UTF-16), with what is not text replaced: pypdfium2's own reader
    raises UnicodeDecodeError on a lone surrogate, which a hostile title can hold."""
    import ctypes

    import pypdfium2.raw as codes

    key = name.encode("ascii") + b"\0"
    size = codes.FPDF_GetMetaText(document, key, None, 0)
    if size > MAX_META_BYTES:  # a title of megabytes says nothing a reader needs
        return ""
    buffer = ctypes.create_string_buffer(size)
    codes.FPDF_GetMetaText(document, key, buffer, size)
    return buffer.raw[: max(size - 2, 0)].decode("utf-16-le", errors="replace")


def _iso_date(value: str) -> str:
    """A PDF date (D:20240501123000+02'00') as ISO 8601; anything else as it was written."""
    match = _PDF_DATE.fullmatch(value.strip())
    if not match:
        return value
    year, month, day, hour, minute, second, zone = match.groups()
    text = f"{year}-{month or '01'}-{day or '01'}"
    if hour:
        text += f"T{hour}:{minute or '00'}:{second or '00'}"
        if zone:
            text += "Z" if zone == "Z" else f"{zone[:3]}:{zone.replace(chr(39), '')[3:5] or '00'}"
    return text


def _read_pages(ctx: JobContext, document: PdfDocument, count: int) -> PageText:
    """Write each page's text to text.txt, a form feed after each; a page that fails is counted and skipped."""
    pages = PageText()
    with output_file(ctx, "text.txt") as out:
        for number in range(1, count + 1):
            ctx.progress(99 * (number - 1) / count, f"page {number} of {count}")
            text = _page_text(document, number, ctx, pages.failed)
            pages.empty += not text.strip()
            out.write(text + PAGE_SEPARATOR)
            pages.stats.feed(text + PAGE_SEPARATOR)
        if len(pages.failed) == count:  # inside the with: the empty text.txt is not kept
            raise BadFile(f"no page of the PDF could be read ({count} pages, all failed; page 1: "
                          f"{pages.failed[0][1]})")
    return pages


def _page_text(document: PdfDocument, number: int, ctx: JobContext, failed: list[tuple[int, str]]) -> str:
    import pypdfium2 as pdfium

    try:
        page = document[number - 1]
    except pdfium.PdfiumError as error:  # a page object that is missing or not a page: the others still count
        ctx.log.warning("page %d: not loaded: %s", number, error)
        failed.append((number, f"PDFium: {error}"))
        return ""
    try:
        textpage = page.get_textpage()
        try:
            text: str = textpage.get_text_range()
        finally:
            textpage.close()
    except pdfium.PdfiumError as error:
        ctx.log.warning("page %d: text not extracted: %s", number, error)
        failed.append((number, f"PDFium: {error}"))
        return ""
    finally:
        page.close()
    # PDFium ends lines with \r\n; a form feed inside a page would read as a page break
    return text.replace("\r\n", "\n").replace("\r", "\n").replace(PAGE_SEPARATOR, " ")


def _preview(ctx: JobContext, document: PdfDocument, notes: list[str]) -> dict[str, Any] | None:
    """Page 1 rendered to fit 256 px: PDFium draws straight into a bitmap of that size, whatever the page's."""
    import pypdfium2 as pdfium

    try:
        page = document[0]
    except pdfium.PdfiumError as error:
        notes.append(f"no preview: page 1 could not be loaded ({error})")
        return None
    try:
        width, height = page.get_size()
        if not (math.isfinite(width) and math.isfinite(height) and width > 0 and height > 0):
            notes.append(f"no preview: page 1 has no usable size ({width} x {height} pt)")
            return None
        # A hair under the exact scale: the bitmap's sides are rounded up, and 256.0000001 would be 257 px.
        scale = PREVIEW_PX / max(width, height) * (1 - 1e-9)
        picture = page.render(scale=scale, may_draw_forms=False).to_pil()
    except (pdfium.PdfiumError, ValueError) as error:  # the text is what the job is for: a note, not a failure
        notes.append(f"no preview: page 1 could not be rendered ({error})")
        return None
    finally:
        page.close()
    return write_preview(ctx, picture)
