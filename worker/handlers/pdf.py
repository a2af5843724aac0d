"""The `pdf` handler: metadata, page count and the text of each page, with pypdf."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from worker.api import JobCancelled, JobContext, handler
from worker.handlers.common import BadFile, TextStats, output_file, require_content
from worker.handlers.sniff import is_pdf

if TYPE_CHECKING:
    from pypdf import PdfReader

PAGE_SEPARATOR = "\f"  # as pdftotext does: a form feed ends each page
MAX_FIELD_CHARS = 2_000
INFO_FIELDS = {"/Title": "title", "/Author": "author", "/Subject": "subject", "/Keywords": "keywords",
               "/Creator": "creator", "/Producer": "producer", "/CreationDate": "created",
               "/ModDate": "modified"}


@handler(extensions=(".pdf",), sniff=is_pdf, timeout=600,
         description="PDF: metadata, page count and the text of each page (text.txt)")
def pdf(ctx: JobContext) -> dict[str, Any]:
    require_content(ctx, "PDF")
    ctx.progress(0, "reading the document")
    reader = _open(ctx)
    metadata = _metadata(reader, ctx)
    pages = _page_count(reader)
    stats = TextStats()
    empty_pages = 0
    failed_pages: list[tuple[int, str]] = []
    with output_file(ctx, "text.txt") as out:
        for number in range(1, pages + 1):
            ctx.progress(100 * (number - 1) / pages, f"page {number} of {pages}")
            text = _page_text(reader, number, ctx, failed_pages)
            empty_pages += not text.strip()
            out.write(text + PAGE_SEPARATOR)
            stats.feed(text + PAGE_SEPARATOR)
        if len(failed_pages) == pages:  # inside the with: the empty text.txt is not kept
            raise BadFile(f"no page of the PDF could be read ({pages} pages, all failed; page 1: "
                          f"{failed_pages[0][1]})")
    ctx.progress(100, f"{pages} pages")
    return {**metadata, "pages": pages, "words": stats.words, "characters": stats.characters,
            "pages_without_text": empty_pages, "failed_pages": [number for number, _ in failed_pages[:50]],
            "encrypted": reader.is_encrypted, "version": reader.pdf_header.lstrip("%")[:16]}


def _open(ctx: JobContext) -> PdfReader:
    from pypdf import PdfReader

    try:
        reader = PdfReader(ctx.input_path, strict=False)
        if reader.is_encrypted and not reader.decrypt(ctx.params.get("password", "")):
            raise BadFile("the PDF is encrypted and needs a password (give it as the param `password`)")
    except (BadFile, JobCancelled, MemoryError):
        raise
    except Exception as error:  # pypdf raises many kinds on garbage: all of them mean "not a readable PDF"
        raise BadFile(f"not a readable PDF (truncated or damaged?): {type(error).__name__}: {error}") from error
    return reader


def _page_count(reader: PdfReader) -> int:
    try:
        pages = len(reader.pages)
    except MemoryError:
        raise
    except Exception as error:  # a broken page tree; pypdf's exception kinds vary with the damage
        raise BadFile(f"the PDF's page tree is damaged: {type(error).__name__}: {error}") from error
    if pages == 0:
        raise BadFile("the PDF has no pages (truncated or damaged?)")
    return pages


def _metadata(reader: PdfReader, ctx: JobContext) -> dict[str, str]:
    try:
        info = reader.metadata
        if info is None:
            return {}
        found = {key: str(info[name])[:MAX_FIELD_CHARS] for name, key in INFO_FIELDS.items() if info.get(name)}
    except MemoryError:
        raise
    except Exception as error:  # damaged metadata is not worth failing the text over: note it and go on
        ctx.log.warning("unreadable PDF metadata: %s: %s", type(error).__name__, error)
        return {}
    return found


def _page_text(reader: PdfReader, number: int, ctx: JobContext, failed: list[tuple[int, str]]) -> str:
    try:
        return reader.pages[number - 1].extract_text() or ""
    except (MemoryError, JobCancelled):
        raise
    except Exception as error:  # one damaged page should not lose the others: logged, counted, skipped
        why = f"{type(error).__name__}: {error}"
        ctx.log.warning("page %d: text not extracted: %s", number, why)
        failed.append((number, why))
        return ""
