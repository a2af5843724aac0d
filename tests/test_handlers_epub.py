"""Books that are pictures, SVG pages or Japanese, and their covers: the `epub` handler reads every valid one."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from tests import docmaker
from tests.docmaker import book_bytes, svg_page
from tests.handlerkit import make_job, run
from worker.handlers.common import CJK_WORDS_NOTE, BadFile

FIXED_LAYOUT = '<meta property="rendition:layout">pre-paginated</meta>'


def read_book(tmp_path: Path, data: bytes) -> tuple[dict[str, Any], dict[str, Any], str]:
    """Run the epub handler: its result, its chapters.json and its text.txt."""
    job = make_job(tmp_path, "book.epub", data)
    result = run(job, "epub")
    chapters = json.loads((job.out / "chapters.json").read_text(encoding="utf-8"))
    return result, chapters, (job.out / "text.txt").read_text(encoding="utf-8")


def preview_size(tmp_path: Path) -> tuple[int, int]:
    with Image.open(tmp_path / "job" / "output" / "preview.png") as preview:
        assert preview.format == "PNG"
        return preview.size


def test_a_book_of_pictures_in_the_spine_completes_with_its_cover(tmp_path: Path) -> None:
    # As manga and picture books are made: every page a JPEG in the spine, right to left, fixed layout.
    pages = [(f"p{n}", f"images/{n:02}.jpg", "image/jpeg", "cover-image" if n == 1 else "") for n in (1, 2, 3)]
    files: dict[str, bytes | str] = {href: docmaker.jpeg_bytes(600, 800) for _, href, _, _ in pages}
    data = book_bytes(pages, ["p1", "p2", "p3"], files, language="ja", meta=FIXED_LAYOUT,
                      spine_attrs=' page-progression-direction="rtl"')
    result, chapters, text = read_book(tmp_path, data)
    assert result == {"title": "A Picture Book", "authors": [], "language": "ja", "chapters": 3, "words": 0,
                      "characters": 0, "toc_entries": 0, "skipped": 0, "images": 3, "image_pages": 3,
                      "svg_pages": 0, "layout": "pre-paginated", "page_direction": "rtl",
                      "cover": "OEBPS/images/01.jpg", "cover_from": "the manifest's cover-image",
                      "preview": {"file": "preview.png", "width": 192, "height": 256},
                      "notes": ["the book has no text: its 3 pages are pictures or drawings (3 pictures)"]}
    assert text == ""
    assert [(c["kind"], c["href"], c["words"], c["images"]) for c in chapters["chapters"]] == [
        ("image", f"OEBPS/images/{n:02}.jpg", 0, 1) for n in (1, 2, 3)]
    assert preview_size(tmp_path) == (192, 256)


def test_a_book_of_svg_pages_reads_their_text_and_shows_the_picture_its_cover_page_shows(tmp_path: Path) -> None:
    items = [("cover", "cover.svg", "image/svg+xml", "cover-image"), ("p2", "p2.svg", "image/svg+xml", ""),
             ("p3", "p3.svg", "image/svg+xml", ""), ("art", "art/crane.png", "image/png", "")]
    files: dict[str, bytes | str] = {"cover.svg": svg_page(picture="art/crane.png"),
                                     "p2.svg": svg_page(["The crane flew", "over the sea"]),
                                     "p3.svg": svg_page(picture="art/crane.png"),
                                     "art/crane.png": docmaker.png_bytes(512, 256)}
    result, chapters, text = read_book(tmp_path, book_bytes(items, ["cover", "p2", "p3"], files))
    assert text == "The crane flew\nover the sea\n"  # the <title> tooltip and the drawing are not text
    assert (result["chapters"], result["words"], result["svg_pages"], result["images"]) == (3, 6, 3, 2)
    assert (result["cover"], result["cover_from"]) == ("OEBPS/art/crane.png", "the manifest's cover-image")
    assert result["preview"] == {"file": "preview.png", "width": 256, "height": 128}
    assert "notes" not in result
    assert [c["kind"] for c in chapters["chapters"]] == ["svg", "svg", "svg"]


def test_fixed_layout_pages_that_wrap_a_picture_in_svg_count_it_and_use_the_first_as_cover(tmp_path: Path) -> None:
    page = ('<?xml version="1.0"?><html xmlns="http://www.w3.org/1999/xhtml"><head><title>p</title></head><body>'
            '<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink">'
            '<image xlink:href="../img/{n}.png"/></svg></body></html>')
    items = [(f"x{n}", f"xhtml/{n}.xhtml", "application/xhtml+xml", "") for n in (1, 2)]
    items += [(f"i{n}", f"img/{n}.png", "image/png", "") for n in (1, 2)]
    files: dict[str, bytes | str] = {f"xhtml/{n}.xhtml": page.format(n=n) for n in (1, 2)}
    files.update({"img/1.png": docmaker.png_bytes(100, 50), "img/2.png": docmaker.png_bytes(10, 10)})
    result, _, _ = read_book(tmp_path, book_bytes(items, ["x1", "x2"], files, meta=FIXED_LAYOUT))
    assert (result["words"], result["images"], result["image_pages"], result["svg_pages"]) == (0, 2, 0, 0)
    assert (result["cover"], result["cover_from"]) == ("OEBPS/img/1.png", "the first picture in reading order")
    assert result["preview"] == {"file": "preview.png", "width": 100, "height": 50}  # never enlarged


def test_an_epub2_cover_meta_names_the_cover(tmp_path: Path) -> None:
    items = [("c1", "c1.xhtml", "application/xhtml+xml", ""), ("first", "a.png", "image/png", ""),
             ("cov", "cover.jpg", "image/jpeg", "")]
    files: dict[str, bytes | str] = {"c1.xhtml": docmaker.chapter_xhtml("One", "<p>Words here.</p>"),
                                     "a.png": docmaker.png_bytes(20, 20), "cover.jpg": docmaker.jpeg_bytes(300, 600)}
    result, _, _ = read_book(tmp_path, book_bytes(items, ["c1"], files, meta='<meta name="cover" content="cov"/>'))
    assert (result["cover"], result["cover_from"]) == ("OEBPS/cover.jpg", "the package's cover meta")
    assert result["preview"] == {"file": "preview.png", "width": 128, "height": 256}


def test_a_japanese_book_counts_each_character_as_a_word_and_leaves_out_ruby_readings(tmp_path: Path) -> None:
    body = ('<p>吾輩は猫である。名前はまだ無い。</p>'
            '<p><ruby>漱石<rp>(</rp><rt>そうせき</rt><rp>)</rp></ruby>の小説 Soseki</p>')
    items = [("c1", "c1.xhtml", "application/xhtml+xml", "")]
    files: dict[str, bytes | str] = {"c1.xhtml": docmaker.chapter_xhtml("第一章", body)}
    result, chapters, text = read_book(tmp_path, book_bytes(items, ["c1"], files, title="吾輩は猫である",
                                                            language="ja",
                                                            spine_attrs=' page-progression-direction="rtl"'))
    assert text == "第一章\n吾輩は猫である。名前はまだ無い。\n漱石の小説 Soseki\n"
    # 3 + 14 + 5 characters of Han and kana, each a word, and one word in Latin letters.
    assert (result["words"], result["cjk_characters"], result["words_counted_as"]) == (23, 22, CJK_WORDS_NOTE)
    assert result["page_direction"] == "rtl" and chapters["chapters"][0]["words"] == 23


def test_a_cover_that_cannot_be_decoded_is_a_note_and_the_book_completes(tmp_path: Path) -> None:
    items = [("c1", "c1.xhtml", "application/xhtml+xml", ""), ("cov", "cover.png", "image/png", "cover-image")]
    files: dict[str, bytes | str] = {"c1.xhtml": docmaker.chapter_xhtml("One", "<p>Words.</p>"),
                                     "cover.png": docmaker.png_header_only(100_000, 100_000)}
    job = make_job(tmp_path, "book.epub", book_bytes(items, ["c1"], files))
    result = run(job, "epub")
    assert result["words"] == 2 and result["cover"] == "OEBPS/cover.png" and "preview" not in result
    assert result["notes"] == ["the cover could not be shown: refused as a decompression bomb: Image size "
                               "(10000000000 pixels) exceeds limit of 178956970 pixels, could be decompression "
                               "bomb DOS attack."]
    assert job.outputs() == ["chapters.json", "text.txt"]


def test_spine_items_of_other_kinds_are_skipped_with_why(tmp_path: Path) -> None:
    items = [("c1", "c1.xhtml", "application/xhtml+xml", ""), ("song", "song.mp3", "audio/mpeg", "")]
    files: dict[str, bytes | str] = {"c1.xhtml": docmaker.chapter_xhtml("One", "<p>Words.</p>"),
                                     "song.mp3": b"ID3"}
    result, chapters, _ = read_book(tmp_path, book_bytes(items, ["c1", "song"], files))
    assert (result["chapters"], result["skipped"]) == (1, 1)
    assert chapters["skipped"] == [{"id": "song", "why": "it is audio/mpeg, not XHTML, SVG or a picture"}]


def test_a_book_whose_spine_has_nothing_readable_fails_once(tmp_path: Path) -> None:
    items = [("song", "song.mp3", "audio/mpeg", "")]
    job = make_job(tmp_path, "book.epub", book_bytes(items, ["song"], {"song.mp3": b"ID3"}))
    with pytest.raises(BadFile, match=r"^the book has no readable chapters \(1 spine items, none readable\)$"):
        run(job, "epub")


def test_an_unknown_marked_section_in_a_chapter_is_skipped_as_browsers_do(tmp_path: Path) -> None:
    # The standard parser raises AssertionError on '<![bogus[', which the worker would have retried.
    chapters = [("One", "<p>before <![bogus[ hidden ]]> after</p>")]
    result, _, text = read_book(tmp_path, docmaker.epub_bytes(chapters))
    assert text == "One\nbefore after\n" and result["words"] == 3


@pytest.mark.parametrize("encoding", ["bogus", "base64"])
def test_a_package_declaring_an_unreadable_encoding_fails_once(tmp_path: Path, encoding: str) -> None:
    opf = docmaker.opf(1, "T", ["A"], nav=True, ncx=False).replace('encoding="UTF-8"', f'encoding="{encoding}"')
    job = make_job(tmp_path, "book.epub", docmaker.epub_bytes([("One", "<p>x</p>")],
                                                              replace={"OEBPS/content.opf": opf}))
    with pytest.raises(BadFile, match=r"^'OEBPS/content.opf' declares an encoding that cannot be read: "):
        run(job, "epub")
    assert job.outputs() == []


def test_the_text_handler_counts_chinese_the_same_way(tmp_path: Path) -> None:
    job = make_job(tmp_path, "poem.txt", "床前明月光，疑是地上霜。\nmoonlight\n".encode())
    result = run(job, "text")
    assert (result["words"], result["cjk_characters"], result["words_counted_as"]) == (11, 10, CJK_WORDS_NOTE)


def test_an_unknown_marked_section_in_the_navigation_document_is_skipped_too(tmp_path: Path) -> None:
    nav = docmaker.nav_xhtml(["One"]).replace("<h1>", "<![bogus[ x ]]><h1>")
    result, chapters, _ = read_book(tmp_path, docmaker.epub_bytes([("One", "<p>x</p>")],
                                                                  replace={"OEBPS/nav.xhtml": nav}))
    assert result["toc_entries"] == 2 and chapters["toc"][0]["title"] == "One"
