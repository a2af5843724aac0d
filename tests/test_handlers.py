"""The built-in handlers on good files, in-process: what they find, what they write, how they stop."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from tests import docmaker, officemaker, pdfmaker
from tests.handlerkit import make_job, run
from worker.api import JobCancelled, PermanentError
from worker.handlers import BUILTINS
from worker.registry import load_registry

CHAPTERS = [
    ("The Beginning", "<p>It was a <em>dark</em> night.</p><script>document.write('SCRIPTED')</script>"),
    ("The Middle", "<p>Things happened &amp; more things.</p><p>Then a second paragraph.</p>"),
    ("The End", "<p>And that was all.</p><style>.x { content: 'STYLED' }</style>"),
]


def test_epub_gives_metadata_toc_and_chapter_text_in_reading_order(tmp_path: Path) -> None:
    job = make_job(tmp_path, "book.epub", docmaker.epub_bytes(CHAPTERS))
    result = run(job, "epub")
    assert result == {"title": "A Test Book", "authors": ["Ada Author", "Bo Writer"], "language": "en",
                      "chapters": 3, "words": result["words"], "characters": result["characters"],
                      "toc_entries": 4, "skipped": 0, "images": 0, "image_pages": 0, "svg_pages": 0}
    assert job.outputs() == ["chapters.json", "text.txt"]
    text = (job.out / "text.txt").read_text(encoding="utf-8")
    assert text.index("dark night") < text.index("Things happened & more things") < text.index("that was all")
    assert "SCRIPTED" not in text and "STYLED" not in text and "color: red" not in text
    assert result["words"] == len(text.split()) and result["characters"] == len(text)
    book = json.loads((job.out / "chapters.json").read_text(encoding="utf-8"))
    assert book["metadata"]["identifier"] == "urn:uuid:12345678-1234-5678-1234-567812345678"
    assert book["metadata"]["publisher"] == "Dock Press" and book["metadata"]["date"] == "2024-05-01"
    assert [c["title"] for c in book["chapters"]] == ["The Beginning", "The Middle", "The End"]
    assert [e["title"] for e in book["toc"]] == ["The Beginning", "The Middle", "The End"]
    assert book["toc"][0]["children"][0] == {"title": "Section two", "href": "OEBPS/text/ch1.xhtml#s2",
                                             "children": []}
    second = book["chapters"][1]
    assert text[second["start"]: second["end"]].startswith("The Middle\nThings happened")
    assert [m for _, m in job.progress if m.startswith("chapter")] == [f"chapter {i} of 3" for i in (1, 2, 3)]
    assert job.progress[-1][0] == 100


def test_epub2_with_an_ncx_table_of_contents_and_its_dtd(tmp_path: Path) -> None:
    job = make_job(tmp_path, "old.epub", docmaker.epub_bytes(CHAPTERS, nav=False, ncx=True))
    result = run(job, "epub")
    assert result["chapters"] == 3 and result["toc_entries"] == 3
    book = json.loads((job.out / "chapters.json").read_text(encoding="utf-8"))
    assert book["toc"][2] == {"title": "The End", "href": "OEBPS/text/ch3.xhtml", "children": []}


def test_epub_spine_item_missing_from_the_book_is_skipped_and_reported(tmp_path: Path) -> None:
    data = docmaker.epub_bytes(CHAPTERS)
    opf = docmaker.opf(3, "Gaps", ["A"], nav=True, ncx=False).replace('<itemref idref="c2"/>',
                                                                       '<itemref idref="nope"/>')
    job = make_job(tmp_path, "gaps.epub", docmaker.epub_bytes(CHAPTERS, replace={"OEBPS/content.opf": opf}))
    assert data != job.input.read_bytes()
    result = run(job, "epub")
    assert result["chapters"] == 2 and result["skipped"] == 1
    book = json.loads((job.out / "chapters.json").read_text(encoding="utf-8"))
    assert book["skipped"] == [{"id": "nope", "why": "the spine names 'nope', which is not in the manifest"}]


def test_html_loses_scripts_and_styles_and_keeps_its_blocks(tmp_path: Path) -> None:
    page = ("<!DOCTYPE html><html><head><title>My  Page</title><style>body { color: red }</style>"
            "<script>var secret = 'SCRIPTED';</script></head><body><h1>Hello</h1><p>One <b>two</b>\n three"
            "</p><noscript>enable js</noscript><pre>  indented\n    code</pre><ul><li>a</li><li>b</li></ul>"
            "<p>caf&eacute; &lt;tag&gt;</p></body></html>")
    job = make_job(tmp_path, "page.html", page.encode())
    result = run(job, "text")
    text = (job.out / "text.txt").read_text(encoding="utf-8")
    assert text == "Hello\nOne two three\n  indented\n    code\na\nb\ncafé <tag>\n"
    assert result == {"format": "html", "encoding": "utf-8", "encoding_detected_by": "ASCII (valid UTF-8)",
                      "lines": 7, "words": 10, "characters": len(text), "title": "My Page"}


@pytest.mark.parametrize(("data", "codec", "how"), [
    ("naïve café\n".encode(), "utf-8", "valid UTF-8"),
    (b"plain ascii", "utf-8", "ASCII (valid UTF-8)"),
    ("\ufeffBOM’d text\n".encode(), "utf-8-sig", "byte-order mark"),
    ("wide text\n".encode("utf-16"), "utf-16", "byte-order mark"),
    ("smart “quotes” – €5\n".encode("cp1252"), "cp1252", "fallback to Windows-1252 (not valid UTF-8 at byte 6)"),
    (b"undefined in 1252: \x81\x8d and \xe9\n", "latin-1",
     "fallback to Latin-1 (not valid UTF-8 at byte 19, nor Windows-1252)"),
])
def test_text_detects_its_encoding_and_says_how(tmp_path: Path, data: bytes, codec: str, how: str) -> None:
    job = make_job(tmp_path, "notes.txt", data)
    result = run(job, "text")
    assert (result["encoding"], result["encoding_detected_by"]) == (codec, how)
    assert (job.out / "text.txt").read_text(encoding="utf-8") == data.decode(codec)


def test_html_with_a_declared_charset_that_is_not_utf8(tmp_path: Path) -> None:
    page = '<html><head><meta charset="iso-8859-7"></head><body><p>Καλημέρα</p></body></html>'
    job = make_job(tmp_path, "greek.htm", page.encode("iso-8859-7"))
    result = run(job, "text")
    assert result["encoding"] == "iso8859-7" and result["encoding_detected_by"].startswith("declared by")
    assert (job.out / "text.txt").read_text(encoding="utf-8") == "Καλημέρα\n"


def test_text_counts_across_chunk_boundaries_and_normalises_newlines(tmp_path: Path) -> None:
    line = "word " * 20 + "end\r\n"  # 106 bytes: lines and words straddle the 1 MiB read chunks
    data = (line * 20_000).encode()
    job = make_job(tmp_path, "big.md", data)
    result = run(job, "text")
    assert result["format"] == "markdown"
    assert (result["lines"], result["words"]) == (20_000, 21 * 20_000)
    assert result["characters"] == len(data) - 20_000  # every \r\n became \n
    assert len([m for _, m in job.progress if "MiB" in m]) == 3


def test_jpeg_exif_orientation_is_applied_to_the_preview(tmp_path: Path) -> None:
    job = make_job(tmp_path, "photo.jpg", docmaker.jpeg_bytes(600, 300, orientation=6))
    result = run(job, "image")
    assert result == {"format": "JPEG", "width": 600, "height": 300, "mode": "RGB", "animated": False,
                      "orientation": 6, "display_width": 300, "display_height": 600,
                      "preview": {"file": "preview.png", "width": 128, "height": 256}}
    with Image.open(job.out / "preview.png") as thumb:
        assert thumb.format == "PNG" and thumb.size == (128, 256)
        rgb = thumb.convert("RGB")
        # Orientation 6 means "rotate 90° clockwise to show": the red left half ends up on top.
        top, bottom = rgb.getpixel((64, 10)), rgb.getpixel((64, 245))
        assert isinstance(top, tuple) and isinstance(bottom, tuple)
        assert top[0] > 200 > top[2] and bottom[2] > 200 > bottom[0]


@pytest.mark.parametrize(("size", "thumbnail"), [((1000, 500), (256, 128)), ((40, 20), (40, 20))])
def test_png_preview_fits_256_px_keeps_alpha_and_never_enlarges(
        tmp_path: Path, size: tuple[int, int], thumbnail: tuple[int, int]) -> None:
    job = make_job(tmp_path, "icon.png", docmaker.png_bytes(*size))
    result = run(job, "image")
    assert (result["format"], result["mode"], result["orientation"]) == ("PNG", "RGBA", 1)
    assert result["preview"] == {"file": "preview.png", "width": thumbnail[0], "height": thumbnail[1]}
    with Image.open(job.out / "preview.png") as thumb:
        assert (thumb.mode, thumb.size) == ("RGBA", thumbnail)


@pytest.mark.parametrize(("kind", "mode"), [("GIF", "P"), ("WEBP", "RGB"), ("BMP", "RGB"), ("TIFF", "CMYK")])
def test_other_image_formats_get_a_png_preview(tmp_path: Path, kind: str, mode: str) -> None:
    picture = Image.new(mode, (512, 300))
    path = tmp_path / f"picture.{kind.lower()}"
    picture.save(path, kind)
    job = make_job(tmp_path, path.name, path.read_bytes())
    result = run(job, "image")
    assert (result["format"], result["mode"]) == (kind, mode)
    assert result["preview"] == {"file": "preview.png", "width": 256, "height": 150}
    assert load_registry(include_plugins=False).choose(job.input) == "image"


def test_checksum_reports_size_sha256_and_detected_type(tmp_path: Path) -> None:
    data = b"\x7fELF" + bytes(range(256)) * 8192  # 2 MiB and a bit: several chunks
    job = make_job(tmp_path, "program", data)
    assert run(job, "checksum") == {"size": len(data), "sha256": hashlib.sha256(data).hexdigest(),
                                    "type": "application/x-elf"}
    assert job.outputs() == []


@pytest.mark.parametrize(("head", "kind"), [
    (b"", "application/x-empty"),
    (b"\x1f\x8b\x08\x00rest", "application/gzip"),
    (b"SQLite format 3\x00" + bytes(84), "application/vnd.sqlite3"),
    (b"\x00\x00\x00\x18ftypisom" + bytes(16), "video/mp4"),
    (b"\x00\x00\x00\x1cftypavif" + bytes(16), "image/avif"),
    (b"RIFF\x24\x00\x00\x00WAVEfmt ", "audio/wav"),
    (bytes(257) + b"ustar\x0000", "application/x-tar"),
    (b"MZ\x90\x00\x03\x00\x00\x00", "application/vnd.microsoft.portable-executable"),
    (b"MZ is how this text starts", "text/plain"),
    (b"BMW drivers, a text file", "text/plain"),
    (b"junk first\n%PDF-1.4\n", "application/pdf"),
    (b'  {"a": 1}', "application/json"),
    (b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"/>', "image/svg+xml"),
    (b"<!-- c --><html><body>hi</body></html>", "text/html"),
    (bytes(range(256)), "application/octet-stream"),
])
def test_detected_type_comes_from_the_first_bytes(head: bytes, kind: str) -> None:
    from worker.handlers.sniff import detect_type

    assert detect_type(head) == kind


def test_detected_type_of_zips_tells_an_epub_from_a_plain_zip() -> None:
    from worker.handlers.sniff import detect_type

    assert detect_type(docmaker.epub_bytes(CHAPTERS[:1])[:8192]) == "application/epub+zip"
    assert detect_type(docmaker.raw_zip([], epub_first=False)) == "application/zip"


@pytest.mark.parametrize("name", ["spaces and ünïcödé ✓.txt", "quotes 'single' \"double\" $(rm -rf).txt",
                                  "new\nline.txt", "-starts-with-dash.txt", b"not-utf8-\xff\xfe.txt", ".hidden"])
def test_odd_file_names_are_just_names(tmp_path: Path, name: str | bytes) -> None:
    job = make_job(tmp_path, name, b"some words here\n")
    assert run(job, "text")["words"] == 3
    assert job.outputs() == ["text.txt"]


@pytest.mark.parametrize(("name", "data", "expected"), [
    ("really-a-png.pdf", docmaker.png_bytes(4, 4), "image"),
    ("really-an-epub.txt", docmaker.epub_bytes(CHAPTERS[:1]), "epub"),
    ("really-an-epub.zip", docmaker.epub_bytes(CHAPTERS[:1]), "epub"),
    ("really-a-pdf.jpg", pdfmaker.pdf_bytes(["x"]), "pdf"),
    ("ascii-pdf-named.txt", pdfmaker.pdf_bytes(["x"]), "pdf"),
    ("really-text.pdf", b"just some words\n", "text"),
    ("really-a-jpeg.epub", docmaker.jpeg_bytes(8, 8), "image"),
    ("noext", b"<!DOCTYPE html><p>hi</p>", "text"),
    ("binary.epub", bytes(range(256)) * 8, "checksum"),
    ("plain.zip", docmaker.raw_zip([docmaker.RawMember("a.txt", b"a")], epub_first=False), "checksum"),
    ("empty.txt", b"", "checksum"),
])
def test_content_decides_over_the_extension(tmp_path: Path, name: str, data: bytes, expected: str) -> None:
    path = docmaker.make_file(tmp_path / name, data)
    assert load_registry(include_plugins=False).choose(path) == expected


def test_a_wrongly_named_file_is_read_by_its_content_handler(tmp_path: Path) -> None:
    job = make_job(tmp_path, "scan.pdf", docmaker.png_bytes(30, 10))
    assert run(job, "image")["format"] == "PNG"


def test_every_builtin_declares_a_time_limit_but_the_demo(tmp_path: Path) -> None:
    registry = load_registry(include_plugins=False)
    assert list(registry.handlers) == ["epub", "docx", "odt", "pdf", "image", "text", "checksum", "sleep"]
    for name, spec in registry.handlers.items():
        assert spec.description
        if name != "sleep":
            assert spec.timeout is not None and 60 <= spec.timeout <= 600, name


def test_importing_the_handlers_leaves_the_heavy_libraries_unloaded() -> None:
    code = "import sys, worker.handlers; print(sorted({'PIL', 'pypdfium2', 'pypdf', 'defusedxml'} & set(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert done.stdout.strip() == "[]"


GOOD_INPUTS = {
    "epub": ("book.epub", lambda: docmaker.epub_bytes(CHAPTERS)),
    "pdf": ("paper.pdf", lambda: pdfmaker.pdf_bytes(["one", "two", "three"])),
    "docx": ("report.docx", lambda: officemaker.docx_bytes(officemaker.w_p("words"))),
    "odt": ("notes.odt", lambda: officemaker.odt_bytes("<text:p>words</text:p>")),
    "text": ("notes.txt", lambda: b"hello\n" * 300_000),
    "image": ("photo.jpg", lambda: docmaker.jpeg_bytes(64, 64)),
    "checksum": ("blob.bin", lambda: bytes(3 << 20)),
    "sleep": ("any.txt", lambda: b"x"),
}


@pytest.mark.parametrize("handler", sorted(BUILTINS))
def test_a_cancelled_job_stops_at_the_first_check_and_leaves_no_outputs(tmp_path: Path, handler: str) -> None:
    name, make = GOOD_INPUTS[handler]
    job = make_job(tmp_path, name, make())
    job.cancel.set()
    with pytest.raises(JobCancelled, match="job 1 was cancelled"):
        run(job, handler, {"seconds": "5"})
    assert job.outputs() == [] and job.progress == []


@pytest.mark.parametrize(("handler", "after"), [("epub", "chapter 2 of 3"), ("pdf", "page 2 of 3"),
                                                ("text", "1 of 1 MiB"), ("checksum", "1 of 3 MiB")])
def test_a_cancel_mid_job_stops_at_the_next_check(tmp_path: Path, handler: str, after: str) -> None:
    name, make = GOOD_INPUTS[handler]
    job = make_job(tmp_path, name, make())
    job.cancel_on = after
    with pytest.raises(JobCancelled):
        run(job, handler)
    assert job.progress[-1][1] == after  # nothing was reported after the cancel
    assert job.outputs() == []  # the partial text.txt was removed, not left half-written


@pytest.mark.parametrize("seconds", ["soon", "nan", "-1", "inf"])
def test_the_demo_handler_refuses_a_bad_param_once(tmp_path: Path, seconds: str) -> None:
    job = make_job(tmp_path, "any.txt", b"x")
    with pytest.raises(PermanentError, match=r"^the param `seconds` must be a number of seconds \(0 or more\)"):
        run(job, "sleep", {"seconds": seconds})
