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
    if head[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        return "application/epub+zip" if is_epub(head) else "application/zip"
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


def is_epub(head: bytes) -> bool:
    """A zip whose first member is the stored file `mimetype` saying application/epub+zip (OCF 3.0, 4.3)."""
    if len(head) < 30 or head[:4] != b"PK\x03\x04":
        return False
    name_len, extra_len = struct.unpack_from("<HH", head, 26)
    start = 30 + name_len + extra_len
    return head[30: 30 + name_len] == b"mimetype" and head[start: start + len(EPUB_MIMETYPE)] == EPUB_MIMETYPE


def is_pdf(head: bytes) -> bool:
    return b"%PDF-" in head[:1024]


def is_image(head: bytes) -> bool:
    return detect_type(head) in IMAGE_TYPES


def is_plain_text(head: bytes) -> bool:
    """Text that no more specific handler claims (an all-ASCII PDF is still a PDF)."""
    return is_text(head) and not is_pdf(head)
