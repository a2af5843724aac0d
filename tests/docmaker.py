"""Documents made in code for the handler tests: EPUBs, raw (hostile) zips and images (PDFs: pdfmaker.py)."""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from html import escape
from pathlib import Path

CONTAINER = b"""<?xml version="1.0" encoding="UTF-8"?>
<container version="1.0" xmlns="urn:oasis:names:tc:opendocument:xmlns:container">
  <rootfiles><rootfile full-path="OEBPS/content.opf" media-type="application/oebps-package+xml"/></rootfiles>
</container>"""


def chapter_xhtml(title: str, body: str) -> str:
    return (f'<?xml version="1.0" encoding="utf-8"?>\n<!DOCTYPE html>\n'
            f'<html xmlns="http://www.w3.org/1999/xhtml"><head><title>{escape(title)}</title>'
            f"<style>p {{ color: red; }}</style></head><body><h1>{escape(title)}</h1>{body}</body></html>")


def opf(chapters: int, title: str, authors: Sequence[str], nav: bool, ncx: bool) -> str:
    creators = "".join(f"<dc:creator>{escape(a)}</dc:creator>" for a in authors)
    items = "".join(f'<item id="c{i}" href="text/ch{i}.xhtml" media-type="application/xhtml+xml"/>'
                    for i in range(1, chapters + 1))
    if nav:
        items += '<item id="nav" href="nav.xhtml" media-type="application/xhtml+xml" properties="nav"/>'
    if ncx:
        items += '<item id="ncx" href="toc.ncx" media-type="application/x-dtbncx+xml"/>'
    spine = "".join(f'<itemref idref="c{i}"/>' for i in range(1, chapters + 1))
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<package xmlns="http://www.idpf.org/2007/opf" version="3.0" unique-identifier="bookid">
  <metadata xmlns:dc="http://purl.org/dc/elements/1.1/">
    <dc:identifier>isbn-not-this-one</dc:identifier>
    <dc:identifier id="bookid">urn:uuid:12345678-1234-5678-1234-567812345678</dc:identifier>
    <dc:title>{escape(title)}</dc:title>{creators}
    <dc:language>en</dc:language><dc:publisher>Dock Press</dc:publisher><dc:date>2024-05-01</dc:date>
  </metadata>
  <manifest>{items}</manifest>
  <spine{' toc="ncx"' if ncx else ''}>{spine}</spine>
</package>"""


def nav_xhtml(titles: Sequence[str]) -> str:
    """A navigation document: a landmarks nav first (to be ignored), then the toc, with one nested entry."""
    sub = '<ol><li><a href="text/ch1.xhtml#s2">Section&nbsp;two</a></li></ol>'
    entries = "".join(f'<li><a href="text/ch{i}.xhtml">{escape(t)}</a>{sub if i == 1 else ""}</li>'
                      for i, t in enumerate(titles, 1))
    return ('<?xml version="1.0" encoding="utf-8"?><html xmlns="http://www.w3.org/1999/xhtml" '
            'xmlns:epub="http://www.idpf.org/2007/ops"><body><nav epub:type="landmarks"><ol><li>'
            '<a href="text/ch1.xhtml">Not the toc</a></li></ol></nav>'
            f'<nav epub:type="toc"><h1>Contents</h1><ol>{entries}</ol></nav></body></html>')


def ncx_xml(titles: Sequence[str]) -> str:
    points = "".join(f'<navPoint id="n{i}"><navLabel><text>{escape(t)}</text></navLabel>'
                     f'<content src="text/ch{i}.xhtml"/></navPoint>' for i, t in enumerate(titles, 1))
    return ('<?xml version="1.0"?>\n<!DOCTYPE ncx PUBLIC "-//NISO//DTD ncx 2005-1//EN" '
            '"http://www.daisy.org/z3986/2005/ncx-2005-1.dtd">\n'
            f'<ncx xmlns="http://www.daisy.org/z3986/2005/ncx/" version="2005-1"><navMap>{points}</navMap></ncx>')


def epub_bytes(
    chapters: Sequence[tuple[str, str]],
    title: str = "A Test Book",
    authors: Sequence[str] = ("Ada Author", "Bo Writer"),
    nav: bool = True,
    ncx: bool = False,
    replace: dict[str, bytes | str] | None = None,
) -> bytes:
    """A valid EPUB 3 with these (title, body HTML) chapters; `replace` swaps or adds members by name."""
    titles = [t for t, _ in chapters]
    members: dict[str, bytes | str] = {
        "META-INF/container.xml": CONTAINER,
        "OEBPS/content.opf": opf(len(chapters), title, authors, nav, ncx),
    }
    for i, (name, body) in enumerate(chapters, 1):
        members[f"OEBPS/text/ch{i}.xhtml"] = chapter_xhtml(name, body)
    if nav:
        members["OEBPS/nav.xhtml"] = nav_xhtml(titles)
    if ncx:
        members["OEBPS/toc.ncx"] = ncx_xml(titles)
    members.update(replace or {})
    return zip_bytes(members)


def zip_bytes(members: dict[str, bytes | str], mimetype: str | None = "application/epub+zip") -> bytes:
    """A zip of these members, deflated, after a stored `mimetype` member (as EPUB and ODF begin) if given."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        if mimetype is not None:
            z.writestr(zipfile.ZipInfo("mimetype"), mimetype, compress_type=zipfile.ZIP_STORED)
        for name, data in members.items():
            z.writestr(name, data, compress_type=zipfile.ZIP_DEFLATED)
    return out.getvalue()


Item = tuple[str, str, str, str]  # a manifest item: id, href (under OEBPS/), media type, properties


def book_bytes(items: Sequence[Item], spine: Sequence[str], files: dict[str, bytes | str],
               title: str = "A Picture Book", language: str = "en", meta: str = "", spine_attrs: str = "") -> bytes:
    """An EPUB 3 of any manifest and spine: books of pictures, of SVG pages, with covers, in any language."""
    manifest = "".join(f'<item id="{i}" href="{h}" media-type="{t}"' + (f' properties="{p}"' if p else "") + "/>"
                       for i, h, t, p in items)
    refs = "".join(f'<itemref idref="{i}"/>' for i in spine)
    package = f"""<?xml version="1.0" encoding="UTF-8"?>
<package xmlns="http://www.idpf.org/2007/opf" version="3.0" unique-identifier="bookid">
  <metadata xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:identifier id="bookid">urn:uuid:1</dc:identifier>
    <dc:title>{escape(title)}</dc:title><dc:language>{language}</dc:language>{meta}</metadata>
  <manifest>{manifest}</manifest>
  <spine{spine_attrs}>{refs}</spine>
</package>"""
    members: dict[str, bytes | str] = {"META-INF/container.xml": CONTAINER, "OEBPS/content.opf": package}
    members.update({f"OEBPS/{href}": data for href, data in files.items()})
    return zip_bytes(members)


def svg_page(lines: Sequence[str] = (), picture: str | None = None) -> str:
    """An SVG page: a picture (an <image> pointing at `picture`), a title tooltip, and these lines as <text>."""
    image = f'<image width="600" height="800" xlink:href="{picture}"/>' if picture else ""
    texts = "".join(f'<text x="10" y="{20 * n}">{escape(line)}</text>' for n, line in enumerate(lines, 1))
    return ('<?xml version="1.0" encoding="UTF-8"?>\n<svg xmlns="http://www.w3.org/2000/svg" '
            'xmlns:xlink="http://www.w3.org/1999/xlink" viewBox="0 0 600 800"><title>not read</title>'
            f'<rect width="600" height="800" fill="white"/>{image}{texts}</svg>')


@dataclass
class RawMember:
    """One member of a zip written byte by byte, so that every field can lie."""

    name: str
    data: bytes = b""  # the stored bytes (already deflated when method is 8)
    method: int = 0
    size: int | None = None  # the declared uncompressed size (default: len(data) when stored)
    crc: int | None = None
    unix_mode: int | None = None  # e.g. 0o120777 for a symbolic link
    offset: int | None = None  # point the directory entry at another member's local header instead


def deflated(data: bytes) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    return compressor.compress(data) + compressor.flush()


def raw_zip(members: Iterable[RawMember], epub_first: bool = True) -> bytes:
    """A zip of these members (after a stored `mimetype` saying EPUB, by default)."""
    all_members = list(members)
    if epub_first:
        all_members.insert(0, RawMember("mimetype", b"application/epub+zip"))
    out = bytearray()
    directory = bytearray()
    offsets: list[int] = []
    for m in all_members:
        name = m.name.encode()
        size = len(m.data) if m.size is None else m.size
        crc = zlib.crc32(m.data) if m.crc is None else m.crc
        offsets.append(len(out))
        out += struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, 0x800, m.method, 0, 0, crc, len(m.data), size,
                           len(name), 0) + name + m.data
        offset = offsets[m.offset] if m.offset is not None else offsets[-1]
        system, attr = (3 << 8, m.unix_mode << 16) if m.unix_mode is not None else (0, 0)
        directory += struct.pack("<4s6H3L5H2L", b"PK\x01\x02", system | 20, 20, 0x800, m.method, 0, 0, crc,
                                 len(m.data), size, len(name), 0, 0, 0, 0, attr, offset) + name
    count = len(all_members)
    zip64 = b""
    if count > 0xFFFF:  # the classic end record cannot say it: a zip64 end record and its locator do
        at = len(out) + len(directory)
        zip64 = struct.pack("<4sQ2H2L4Q", b"PK\x06\x06", 44, 45, 45, 0, 0, count, count, len(directory),
                            len(out)) + struct.pack("<4sLQL", b"PK\x06\x07", 0, at, 1)
    small = min(count, 0xFFFF)
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, small, small, len(directory), len(out), 0)
    return bytes(out + directory + zip64 + end)


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims width x height (8-bit grey) with one tiny IDAT: a decompression bomb's header."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", zlib.compress(b"\x00" * 64))
            + png_chunk(b"IEND", b""))


def jpeg_bytes(width: int, height: int, orientation: int | None = None) -> bytes:
    """A JPEG, left half red and right half blue, with an EXIF orientation tag if given."""
    from PIL import Image

    picture = Image.new("RGB", (width, height), (255, 0, 0))
    picture.paste((0, 0, 255), (width // 2, 0, width, height))
    exif = Image.Exif()
    if orientation is not None:
        exif[0x0112] = orientation
    out = io.BytesIO()
    picture.save(out, "JPEG", exif=exif.tobytes(), quality=90)
    return out.getvalue()


def png_bytes(width: int, height: int, mode: str = "RGBA") -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new(mode, (width, height), "green").save(out, "PNG")
    return out.getvalue()


def make_file(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def blank_png_bytes(width: int, height: int) -> bytes:
    """A black RGBA PNG written row by row: a few hundred KiB on disk that decode to width*height*4 bytes."""
    compressor = zlib.compressobj(9)
    row = bytes(1 + 4 * width)  # filter byte 0, then the pixels
    idat = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b""))
