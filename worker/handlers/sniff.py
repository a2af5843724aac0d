"""What a file is, from its first bytes: a small magic table of our own and the handlers' sniffers."""

from __future__ import annotations

import codecs
import struct

# (offset, magic, media type). Checked in order, so longer magics sharing a prefix come first.
MAGIC: tuple[tuple[int, bytes, str], ...] = (
    (0, b"%PDF-", "application/pdf"),
    (0, b"\x89PNG\r\n\x1a\n", "image/png"),
    (0, b"\xff\xd8\xff", "image/jpeg"),
    (0, b"GIF87a", "image/gif"),
    (0, b"GIF89a", "image/gif"),
    (0, b"II*\x00", "image/tiff"),
    (0, b"MM\x00*", "image/tiff"),
    (0, b"\x00\x00\x01\x00", "image/vnd.microsoft.icon"),
    (0, b"8BPS", "image/vnd.adobe.photoshop"),
    (0, b"\x1f\x8b", "application/gzip"),
    (0, b"\xfd7zXZ\x00", "application/x-xz"),
    (0, b"(\xb5/\xfd", "application/zstd"),
    (0, b"7z\xbc\xaf\x27\x1c", "application/x-7z-compressed"),
    (0, b"Rar!\x1a\x07", "application/vnd.rar"),
    (257, b"ustar", "application/x-tar"),
    (0, b"\x7fELF", "application/x-elf"),
    (0, b"\xcf\xfa\xed\xfe", "application/x-mach-binary"),
    (0, b"\xca\xfe\xba\xbe", "application/java-vm"),
    (0, b"\x00asm", "application/wasm"),
    (0, b"SQLite format 3\x00", "application/vnd.sqlite3"),
    (0, b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "application/x-ole-storage"),
    (0, b"{\\rtf", "application/rtf"),
    (0, b"OggS", "audio/ogg"),
    (0, b"fLaC", "audio/flac"),
    (0, b"ID3", "audio/mpeg"),
    (0, b"\x1aE\xdf\xa3", "video/webm"),
    (0, b"wOFF", "font/woff"),
    (0, b"wOF2", "font/woff2"),
    (0, b"\x00\x01\x00\x00\x00", "font/ttf"),
    (0, b"OTTO", "font/otf"),
)
RIFF_KINDS = {b"WEBP": "image/webp", b"WAVE": "audio/wav", b"AVI ": "video/x-msvideo"}
FTYP_BRANDS = {b"avif": "image/avif", b"heic": "image/heic", b"heix": "image/heic", b"mif1": "image/heif",
               b"qt  ": "video/quicktime", b"M4A ": "audio/mp4"}
IMAGE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp", "image/bmp", "image/tiff"})
EPUB_MIMETYPE = b"application/epub+zip"
ODT_MIMETYPE = b"application/vnd.oasis.opendocument.text"  # also the start of -template and -master
ODF_MIMETYPE = b"application/vnd.oasis.opendocument."
DOCX_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
ZIP_LOCAL_HEADER = b"PK\x03\x04"
MAX_SNIFFED_NAMES = 64
BOMS: tuple[tuple[bytes, str], ...] = (  # UTF-32 first: its little-endian BOM starts with UTF-16's
    (codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"), (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"),
)
# Bytes that plain text does not contain: C0 controls other than tab, newlines, form feed, backspace, escape.
_CONTROL = bytes(b for b in range(32) if b not in b"\t\n\r\f\v\b\x1b") + b"\x7f"
MAX_CONTROL_RATIO = 0.01


def detect_type(head: bytes) -> str:
    """The media type that the first bytes (a few KiB) say, or application/octet-stream."""
    if not head:
        return "application/x-empty"
    for offset, magic, kind in MAGIC:
        if head[offset: offset + len(magic)] == magic:
            return kind
    if head[:4] in (ZIP_LOCAL_HEADER, b"PK\x05\x06"):
        return _zip_type(head)
    if head[:4] == b"RIFF" and head[8:12] in RIFF_KINDS:
        return RIFF_KINDS[head[8:12]]
    if head[4:8] == b"ftyp":
        return FTYP_BRANDS.get(head[8:12], "video/mp4")
    if head[:2] == b"BM" and head[6:10] == b"\x00\x00\x00\x00":  # "BM" alone starts too many texts
        return "image/bmp"
    if head[:2] == b"MZ" and b"\x00" in head[:64]:
        return "application/vnd.microsoft.portable-executable"
    if b"%PDF-" in head[:1024]:  # readers accept junk before the header, so a sniffer must too
        return "application/pdf"
    if is_text(head):
        return _text_type(head)
    return "application/octet-stream"


def _text_type(head: bytes) -> str:
    start = head.lstrip(b"\xef\xbb\xbf \t\r\n")[:512].lower()
    if looks_like_html(head):
        return "text/html"
    if start.startswith(b"<?xml") or start.startswith(b"<svg"):
        return "image/svg+xml" if b"<svg" in head[:4096].lower() else "application/xml"
    if start[:1] in (b"{", b"["):
        return "application/json"
    return "text/plain"


def looks_like_html(head: bytes) -> bool:
    start = head.lstrip(b"\xef\xbb\xbf \t\r\n")[:1024].lower()
    return start.startswith((b"<!doctype html", b"<html")) or (
        start.startswith((b"<!--", b"<?xml")) and b"<html" in start)


def text_bom(head: bytes) -> str | None:
    """The codec a byte-order mark names, if the data starts with one."""
    for bom, codec in BOMS:
        if head.startswith(bom):
            return codec
    return None


def is_text(head: bytes) -> bool:
    """Plausible text: a BOM, or no NUL and (almost) no other control bytes in the first bytes."""
    if not head:
        return False
    if text_bom(head):
        return True
    if b"\x00" in head:
        return False
    controls = len(head) - len(head.translate(None, _CONTROL))
    return controls <= MAX_CONTROL_RATIO * len(head)


def _zip_type(head: bytes) -> str:
    declared = first_mimetype(head)
    if declared == EPUB_MIMETYPE:
        return "application/epub+zip"
    if declared.startswith(ODF_MIMETYPE) and declared[len(ODF_MIMETYPE):].replace(b"-", b"").isalpha():
        return declared.decode("ascii")
    return DOCX_TYPE if is_docx(head) else "application/zip"


def first_mimetype(head: bytes) -> bytes:
    """What a zip's first member says if it is the stored file `mimetype`, as EPUB (OCF 3.0, 4.3) and ODF
    (part 2, 3.3) put it, so that a file's first bytes tell its kind; else b''."""
    if len(head) < 30 or head[:4] != ZIP_LOCAL_HEADER:
        return b""
    size, name_len, extra_len = struct.unpack_from("<I2H", head, 22)
    start = 30 + name_len + extra_len
    if head[30: 30 + name_len] != b"mimetype":
        return b""
    data = head[start: start + (min(size, 100) if size else 100)]
    return data.split(ZIP_LOCAL_HEADER, 1)[0].split(b"PK\x07\x08", 1)[0]  # a size of 0: up to what follows


def zip_names(head: bytes) -> list[str]:
    """The member names of the local headers that begin within these first bytes of a zip."""
    names: list[str] = []
    at = head.find(ZIP_LOCAL_HEADER) if head[:4] == ZIP_LOCAL_HEADER else -1
    while 0 <= at <= len(head) - 30 and len(names) < MAX_SNIFFED_NAMES:
        (name_len,) = struct.unpack_from("<H", head, at + 26)
        names.append(head[at + 30: at + 30 + name_len].decode("utf-8", "replace"))
        at = head.find(ZIP_LOCAL_HEADER, at + 30)
    return names


def is_epub(head: bytes) -> bool:
    return first_mimetype(head) == EPUB_MIMETYPE


def is_odt(head: bytes) -> bool:
    """An OpenDocument text (or its template or master document), by its stored `mimetype` member."""
    return first_mimetype(head).startswith(ODT_MIMETYPE)


def is_docx(head: bytes) -> bool:
    """A Word document: a zip with members under word/ among its first ones (Word, LibreOffice and
    python-docx all write [Content_Types].xml and the package's relationships first, then word/)."""
    return head[:4] == ZIP_LOCAL_HEADER and any(name.startswith("word/") for name in zip_names(head))


def is_pdf(head: bytes) -> bool:
    return b"%PDF-" in head[:1024]


def is_image(head: bytes) -> bool:
    return detect_type(head) in IMAGE_TYPES


def is_plain_text(head: bytes) -> bool:
    """Text that no more specific handler claims (an all-ASCII PDF is still a PDF)."""
    return is_text(head) and not is_pdf(head)
