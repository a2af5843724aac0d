"""The `text` handler: plain text of .txt, .md and HTML files, its counts, and the encoding it was in."""

from __future__ import annotations

import codecs
import io
import re
from dataclasses import dataclass
from typing import Any

from worker.api import JobContext, handler
from worker.handlers.common import BadFile, TextStats, output_file, require_content
from worker.handlers.htmltext import HTMLText
from worker.handlers.sniff import is_plain_text, looks_like_html, text_bom

CHUNK = 1 << 20
HEAD = 8192
HTML_SUFFIXES = frozenset({".html", ".htm", ".xhtml"})
MARKDOWN_SUFFIXES = frozenset({".md", ".markdown"})
_CP1252_UNDEFINED = re.compile(rb"[\x81\x8d\x8f\x90\x9d]")
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9._:-]+)""", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Encoding:
    codec: str  # a Python codec name
    how: str  # how it was decided, for the user


@handler(extensions=(".txt", ".text", *sorted(MARKDOWN_SUFFIXES), *sorted(HTML_SUFFIXES)), sniff=is_plain_text,
         timeout=120, description="Text, Markdown or HTML: plain text, counts, and the encoding (text.txt)")
def text(ctx: JobContext) -> dict[str, Any]:
    size = require_content(ctx, "text")
    with ctx.input_path.open("rb") as f:
        head = f.read(HEAD)
    suffix = ctx.input_path.suffix.lower()
    kind = "html" if suffix in HTML_SUFFIXES or looks_like_html(head) else \
        "markdown" if suffix in MARKDOWN_SUFFIXES else "text"
    ctx.progress(0, "detecting the encoding")
    encoding = detect_encoding(ctx, head, kind == "html")
    stats, title = _convert(ctx, encoding, kind == "html", size)
    ctx.progress(100, f"{stats.lines:,} lines")
    result: dict[str, Any] = {"format": kind, "encoding": encoding.codec, "encoding_detected_by": encoding.how,
                              **stats.to_json(), **stats.word_notes()}
    if title:
        result["title"] = title
    return result


def detect_encoding(ctx: JobContext, head: bytes, html: bool) -> Encoding:
    """A byte-order mark; else UTF-8 if the whole file is valid; else the page's declared charset (HTML);
    else Windows-1252 if it defines every byte; else Latin-1, which decodes anything."""
    bom = text_bom(head)
    if bom:
        return Encoding(bom, "byte-order mark")
    if b"\x00" in head:
        raise BadFile("not text: it contains NUL bytes (a binary file, or UTF-16 without a byte-order mark)")
    bad_at, cp1252_ok = _scan(ctx)
    if bad_at is None:
        return Encoding("utf-8", "valid UTF-8" if max(head, default=0) > 0x7F else "ASCII (valid UTF-8)")
    why = f"not valid UTF-8 at byte {bad_at:,}"
    declared = _declared_charset(head) if html else None
    if declared:
        return Encoding(declared, f"declared by the page's <meta charset> ({why})")
    if cp1252_ok:
        return Encoding("cp1252", f"fallback to Windows-1252 ({why})")
    return Encoding("latin-1", f"fallback to Latin-1 ({why}, nor Windows-1252)")


def _scan(ctx: JobContext) -> tuple[int | None, bool]:
    """One pass: where UTF-8 first fails (None if never), and whether Windows-1252 defines every byte."""
    decoder = codecs.getincrementaldecoder("utf-8")("strict")
    offset, bad_at, cp1252_ok = 0, None, True
    with ctx.input_path.open("rb") as f:
        while chunk := f.read(CHUNK):
            if bad_at is None:
                pending = len(decoder.getstate()[0])
                try:
                    decoder.decode(chunk)
                except UnicodeDecodeError as error:
                    bad_at = offset - pending + error.start
            cp1252_ok = cp1252_ok and not _CP1252_UNDEFINED.search(chunk)
            offset += len(chunk)
            ctx.check()
    if bad_at is None:
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            bad_at = offset - len(decoder.getstate()[0])
    return bad_at, cp1252_ok


def _declared_charset(head: bytes) -> str | None:
    match = _META_CHARSET.search(head)
    if not match:
        return None
    name = match.group(1).decode("ascii").lower()
    try:
        info = codecs.lookup(name)
        "".encode(info.name)  # only text encodings: not base64_codec and the like
    except LookupError:
        return None
    return None if info.name.startswith(("utf-8", "utf-16", "utf-32")) else info.name


def _convert(ctx: JobContext, encoding: Encoding, html: bool, size: int) -> tuple[TextStats, str]:
    """Decode (newlines normalised), strip HTML, write text.txt as UTF-8, and count what was written."""
    decoder = io.IncrementalNewlineDecoder(codecs.getincrementaldecoder(encoding.codec)("replace"), translate=True)
    parser = HTMLText() if html else None
    stats = TextStats()
    done = 0
    with ctx.input_path.open("rb") as source, output_file(ctx, "text.txt") as out:
        while True:
            chunk = source.read(CHUNK)
            piece = decoder.decode(chunk, final=not chunk)
            if parser is not None:
                parser.feed(piece)
                piece = parser.finish() if not chunk else parser.take()
            out.write(piece)
            stats.feed(piece)
            if not chunk:
                break
            done += len(chunk)
            ctx.progress(100 * done / size, f"{done >> 20} of {size >> 20} MiB")
    return stats, (parser.title if parser else "")
