"""Hostile files, each made here: every one fails its job with a specific message and writes nothing outside."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import docmaker
from tests.docmaker import RawMember, deflated, raw_zip
from tests.handlerkit import make_job, run
from worker.handlers.common import BadFile, UnsafeFile
from worker.handlers.safezip import MiB

CHAPTERS = [("One", "<p>one</p>"), ("Two", "<p>two</p>"), ("Three", "<p>three</p>")]
MEMBER_CAP = "67,108,864"  # ZipLimits.max_member_bytes, as the messages print it


def refused(tmp_path: Path, name: str, data: bytes, handler: str, error: type[Exception] = UnsafeFile,
            params: dict[str, str] | None = None) -> str:
    """Run the handler on the file; it must raise `error`, leave no outputs, and write nothing elsewhere."""
    job = make_job(tmp_path, name, data)
    with pytest.raises(error) as raised:
        run(job, handler, params)
    assert job.outputs() == []
    return str(raised.value)


def epub_with(*members: RawMember) -> bytes:
    """A raw zip that starts like an EPUB (stored mimetype first) and then holds these members."""
    return raw_zip(members)


# --- zip bombs ---------------------------------------------------------------------------------------------

def test_member_declaring_a_huge_size_is_refused_before_reading(tmp_path: Path) -> None:
    bomb = epub_with(RawMember("META-INF/container.xml", deflated(b"<x/>"), method=8, size=1 << 30))
    message = refused(tmp_path, "declared.epub", bomb, "epub")
    assert message == (f"zip member 'META-INF/container.xml' declares 1,073,741,824 bytes, over the limit of "
                       f"{MEMBER_CAP} per member (a zip bomb?)")


def test_member_inflating_past_its_declared_size_is_cut_off(tmp_path: Path) -> None:
    payload = deflated(bytes(50 * MiB))  # 50 KiB that inflate to 50 MiB, declared as 1,000 bytes
    bomb = epub_with(RawMember("META-INF/container.xml", payload, method=8, size=1000))
    started = time.monotonic()
    message = refused(tmp_path, "actual.epub", bomb, "epub")
    assert message == ("zip member 'META-INF/container.xml' inflates past the 1,000 bytes it declares "
                       "(a zip bomb?)")
    assert time.monotonic() - started < 1.0  # it stopped at byte 1,001, not after 50 MiB


def test_members_declaring_too_much_in_total_are_refused(tmp_path: Path) -> None:
    filler = os.urandom(700 * 1024)  # never read: 60 MiB declared over 0.7 MiB keeps each under the ratio cap
    members = [RawMember(f"OEBPS/part{i}.xhtml", filler, method=8, size=60 * MiB) for i in range(5)]
    message = refused(tmp_path, "total.epub", epub_with(*members), "epub")
    assert message == ("the zip's members declare 314,572,820+ bytes in all, over the limit of 268,435,456 "
                       "(a zip bomb?)")


def test_member_with_a_huge_compression_ratio_is_refused(tmp_path: Path) -> None:
    payload = deflated(bytes(10 * MiB))
    bomb = epub_with(RawMember("OEBPS/zeros.xhtml", payload, method=8, size=10 * MiB))
    message = refused(tmp_path, "ratio.epub", bomb, "epub")
    assert message.startswith("zip member 'OEBPS/zeros.xhtml' would expand 1,0")
    assert message.endswith(f"({len(payload):,} to 10,485,760 bytes), over the limit of 100 (a zip bomb?)")


def test_overlapping_members_are_refused(tmp_path: Path) -> None:
    # Two directory entries sharing one local header and its data: the "overlapped entries" bomb.
    bomb = epub_with(RawMember("META-INF/container.xml", deflated(docmaker.CONTAINER), method=8,
                               size=len(docmaker.CONTAINER), crc=None),
                     RawMember("OEBPS/content.opf", offset=1))
    message = refused(tmp_path, "overlap.epub", bomb, "epub")
    assert message == "zip members 'META-INF/container.xml' and 'OEBPS/content.opf' overlap (a zip bomb?)"


def test_duplicate_member_names_are_refused(tmp_path: Path) -> None:
    bomb = epub_with(RawMember("META-INF/container.xml", docmaker.CONTAINER),
                     RawMember("META-INF/container.xml", b"<other/>"))
    assert refused(tmp_path, "twice.epub", bomb, "epub") == "the zip has two members named 'META-INF/container.xml'"


def test_a_hundred_thousand_members_are_refused_quickly(tmp_path: Path) -> None:
    crowd = epub_with(*(RawMember(f"OEBPS/f{i}.xhtml", b"x") for i in range(100_000)))
    started = time.monotonic()
    message = refused(tmp_path, "crowd.epub", crowd, "epub")
    assert message == "the zip has 100,001 members, over the limit of 10,000"
    assert time.monotonic() - started < 1.0  # counted from the end record, before zipfile reads them all


# --- names that would escape, and links ------------------------------------------------------------------

@pytest.mark.parametrize(("name", "why"), [
    ("../../escaped.txt", "it climbs out of the archive with '..'"),
    ("OEBPS/../../escaped.txt", "it climbs out of the archive with '..'"),
    ("OEBPS\\..\\..\\escaped.txt", "it climbs out of the archive with '..'"),
    ("/etc/passwd", "it is an absolute path"),
    ("\\windows\\evil.dll", "it is an absolute path"),
    ("C:/evil.txt", "it is an absolute path"),
])
def test_member_names_that_climb_out_or_are_absolute_are_refused(tmp_path: Path, name: str, why: str) -> None:
    bomb = epub_with(RawMember("META-INF/container.xml", docmaker.CONTAINER), RawMember(name, b"owned"))
    message = refused(tmp_path, "names.epub", bomb, "epub")
    assert message == f"zip member {name!r} has an unsafe name: {why}"
    assert not (tmp_path / "escaped.txt").exists() and not (tmp_path / "job" / "escaped.txt").exists()


def test_symlink_members_are_refused(tmp_path: Path) -> None:
    link = RawMember("OEBPS/text/ch1.xhtml", b"/etc/passwd", unix_mode=0o120777)
    bomb = epub_with(RawMember("META-INF/container.xml", docmaker.CONTAINER), link)
    assert refused(tmp_path, "link.epub", bomb, "epub") == "zip member 'OEBPS/text/ch1.xhtml' is a symbolic link"


# --- XML: external entities, billion laughs ------------------------------------------------------------------

@pytest.fixture
def listener() -> Iterator[socket.socket]:
    """A local TCP port nobody should ever connect to (an XXE fetch would)."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        server.setblocking(False)
        yield server


def xxe_container(url: str) -> bytes:
    return (f'<?xml version="1.0"?>\n<!DOCTYPE container [<!ENTITY xxe SYSTEM "{url}">]>\n'
            '<container xmlns="urn:oasis:names:tc:opendocument:xmlns:container"><rootfiles>'
            '<rootfile full-path="&xxe;" media-type="application/oebps-package+xml"/></rootfiles></container>'
            ).encode()


def test_external_entity_with_a_file_url_is_refused(tmp_path: Path) -> None:
    secret = docmaker.make_file(tmp_path / "secret.txt", b"TOPSECRET")
    data = docmaker.epub_bytes(CHAPTERS, replace={"META-INF/container.xml": xxe_container(secret.as_uri())})
    message = refused(tmp_path, "xxe-file.epub", data, "epub")
    assert message.startswith("'META-INF/container.xml' declares XML entities or external references, which "
                              "are refused (XXE / billion laughs): EntitiesForbidden(name='xxe', system_id='file:")
    assert "TOPSECRET" not in message


def test_external_entity_with_an_http_url_is_refused_without_a_connection(tmp_path: Path,
                                                                          listener: socket.socket) -> None:
    url = f"http://127.0.0.1:{listener.getsockname()[1]}/evil.dtd"
    opf = docmaker.opf(3, "&xxe;", ["A"], nav=True, ncx=False).replace(
        "<package", f'<!DOCTYPE package [<!ENTITY xxe SYSTEM "{url}">]>\n<package', 1)
    data = docmaker.epub_bytes(CHAPTERS, replace={"OEBPS/content.opf": opf})
    message = refused(tmp_path, "xxe-http.epub", data, "epub")
    assert message.startswith("'OEBPS/content.opf' declares XML entities or external references")
    assert f"system_id='{url}'" in message
    with pytest.raises(BlockingIOError):
        listener.accept()  # nothing ever connected


def test_external_dtd_is_never_fetched(tmp_path: Path, listener: socket.socket) -> None:
    url = f"http://127.0.0.1:{listener.getsockname()[1]}/ncx.dtd"
    ncx = docmaker.ncx_xml(["One", "Two", "Three"]).replace("http://www.daisy.org/z3986/2005/ncx-2005-1.dtd", url)
    data = docmaker.epub_bytes(CHAPTERS, nav=False, ncx=True, replace={"OEBPS/toc.ncx": ncx})
    job = make_job(tmp_path, "dtd.epub", data)
    assert run(job, "epub")["toc_entries"] == 3
    with pytest.raises(BlockingIOError):
        listener.accept()


BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE package [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<package xmlns="http://www.idpf.org/2007/opf" version="3.0"><metadata><title>&lol9;</title></metadata>
<manifest/><spine/></package>"""


@pytest.mark.parametrize("member", ["OEBPS/content.opf", "OEBPS/toc.ncx"])
def test_billion_laughs_is_refused_in_under_a_second(tmp_path: Path, member: str) -> None:
    data = docmaker.epub_bytes(CHAPTERS, nav=False, ncx=True, replace={member: BILLION_LAUGHS})
    started = time.monotonic()
    message = refused(tmp_path, "laughs.epub", data, "epub")
    assert time.monotonic() - started < 1.0
    assert message.startswith(f"{member!r} declares XML entities or external references, which are refused")
    assert "EntitiesForbidden(name='lol'" in message


def test_entities_in_a_chapter_are_never_expanded(tmp_path: Path) -> None:
    secret = docmaker.make_file(tmp_path / "secret.txt", b"TOPSECRET")
    chapter = (f'<?xml version="1.0"?><!DOCTYPE html [<!ENTITY xxe SYSTEM "{secret.as_uri()}">'
               f'<!ENTITY lol "lol"><!ENTITY lol1 "&lol;&lol;&lol;&lol;">]>'
               '<html xmlns="http://www.w3.org/1999/xhtml"><body><p>before &xxe; &lol1; after</p></body></html>')
    data = docmaker.epub_bytes(CHAPTERS, replace={"OEBPS/text/ch2.xhtml": chapter})
    job = make_job(tmp_path, "chapter-xxe.epub", data)
    assert run(job, "epub")["chapters"] == 3
    text = (job.out / "text.txt").read_text(encoding="utf-8")
    assert "TOPSECRET" not in text and "lollol" not in text
    assert "before &xxe; &lol1; after" in text  # html.parser leaves unknown entities as they are


def needs_zip_version(version: int) -> bytes:
    """An EPUB whose first directory entry says it needs a zip version that zipfile cannot read."""
    data = bytearray(epub_with(RawMember("META-INF/container.xml", docmaker.CONTAINER)))
    entry = data.index(b"PK\x01\x02")
    data[entry + 6: entry + 8] = version.to_bytes(2, "little")
    return bytes(data)


# --- not what it says it is ----------------------------------------------------------------------------------

@pytest.mark.parametrize(("name", "data", "handler", "message"), [
    ("garbage.epub", b"PK\x03\x04" + bytes(range(256)) * 4, "epub",
     "not a zip archive (no end-of-central-directory record; truncated?)"),
    ("truncated.epub", docmaker.epub_bytes(CHAPTERS)[:-300], "epub",
     "not a zip archive (no end-of-central-directory record; truncated?)"),
    ("plain.epub", raw_zip([RawMember("readme.txt", b"hi")], epub_first=False), "epub",
     "not an EPUB: it has no META-INF/container.xml"),
    ("mislabelled.epub", raw_zip([RawMember("mimetype", b"application/zip")], epub_first=False), "epub",
     "not an EPUB: its mimetype member says b'application/zip'"),
    ("bad-crc.epub", epub_with(RawMember("META-INF/container.xml", docmaker.CONTAINER, crc=1234)), "epub",
     "zip member 'META-INF/container.xml' fails its CRC check (corrupt)"),
    ("future.epub", needs_zip_version(75), "epub", "not a readable zip archive: zip file version 7.5"),
    ("truncated.jpg", docmaker.jpeg_bytes(600, 400)[:1500], "image",
     "the image is damaged or truncated: image file is truncated"),
    ("truncated.png", docmaker.png_bytes(300, 300, "RGB")[:-60], "image",
     "the image is damaged or truncated: "),
    ("script.eps", b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n", "image",
     "not an image this handler reads (PNG, JPEG, GIF, WEBP, BMP, TIFF), or damaged"),
    ("binary.txt", bytes(range(256)) * 4, "text",
     "not text: it contains NUL bytes (a binary file, or UTF-16 without a byte-order mark)"),
])
def test_truncated_garbage_and_wrong_kind_fail_clearly(tmp_path: Path, name: str, data: bytes, handler: str,
                                                       message: str) -> None:
    assert refused(tmp_path, name, data, handler, BadFile).startswith(message)


def test_image_decompression_bomb_is_refused_from_its_header(tmp_path: Path) -> None:
    message = refused(tmp_path, "bomb.png", docmaker.png_header_only(100_000, 100_000), "image")
    assert message == ("refused as a decompression bomb: Image size (10000000000 pixels) exceeds limit of "
                       "178956970 pixels, could be decompression bomb DOS attack.")


def test_image_over_the_limit_but_under_twice_it_is_refused_too(tmp_path: Path) -> None:
    # Pillow only warns between 1x and 2x its limit; the handler treats the warning as the error it is.
    message = refused(tmp_path, "big.png", docmaker.png_header_only(10_000, 10_000), "image")
    assert message == ("refused as a decompression bomb: Image size (100000000 pixels) exceeds limit of "
                       "89478485 pixels, could be decompression bomb DOS attack.")


@pytest.mark.parametrize("handler", ["epub", "docx", "odt", "pdf", "text", "image", "checksum"])
def test_an_empty_file_fails_with_a_message_saying_so(tmp_path: Path, handler: str) -> None:
    message = refused(tmp_path, "empty.bin", b"", handler, BadFile)
    assert message.startswith("the file is empty (0 bytes): there is no ")
