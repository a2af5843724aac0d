"""The `docx` and `odt` handlers on documents made here: text in reading order, headings, counts, metadata."""

from __future__ import annotations

import random
import string
import time
from pathlib import Path

import pytest

from tests import docmaker, officemaker
from tests.docmaker import RawMember, deflated, raw_zip
from tests.handlerkit import make_job, run
from tests.officemaker import docx_bytes, odt_bytes, w_p, w_table, w_textbox
from worker.api import JobCancelled
from worker.handlers.common import CJK_WORDS_NOTE, BadFile, UnsafeFile
from worker.handlers.safezip import MiB
from worker.registry import load_registry

WORD_BODY = "".join([
    w_p("The Report", "Titel"),
    w_p("Introduction", "berschrift1"),
    w_p("First\tparagraph of text.", inner='<w:r><w:fldChar w:fldCharType="begin"/></w:r><w:r><w:instrText>'
                                          'PAGE \\* MERGEFORMAT</w:instrText></w:r><w:r><w:fldChar '
                                          'w:fldCharType="end"/></w:r>'),
    w_p("", inner="<w:del><w:r><w:delText>removed words</w:delText></w:r></w:del>"
                  "<w:ins><w:r><w:t>inserted words</w:t></w:r></w:ins>"),
    w_table([["cell one", "cell two"], ["cell three", ""]]),
    w_p("Details", "berschrift2"),
    w_p("Before the box.", inner=w_textbox("Text in a box")),
    w_p("A chapter", "Kapitel"),
    w_p(""),
])


def test_docx_text_in_reading_order_with_headings_counts_and_metadata(tmp_path: Path) -> None:
    job = make_job(tmp_path, "report.docx", docx_bytes(WORD_BODY))
    result = run(job, "docx")
    text = (job.out / "text.txt").read_text(encoding="utf-8")
    # Field codes and deleted revisions are not text; the text box is read once, not again from its fallback.
    assert text == ("The Report\nIntroduction\nFirst\tparagraph of text.\ninserted words\ncell one\ncell two\n"
                    "cell three\nDetails\nText in a box\nBefore the box.\nA chapter\n")
    assert result == {"title": "A Test Document", "authors": ["Ada Author"], "last_modified_by": "Bo Editor",
                      "language": "de-DE", "created": "2024-05-01T10:00:00Z", "application": "Microsoft Office Word",
                      "pages_by_application": 2, "paragraphs": 11, "headings": 4, "words": 25,
                      "characters": len(text), "tables": 1, "images": 1,
                      "outline": [{"level": 0, "text": "The Report"}, {"level": 1, "text": "Introduction"},
                                  {"level": 2, "text": "Details"}, {"level": 1, "text": "A chapter"}]}
    assert job.outputs() == ["text.txt"]


def test_odt_text_in_reading_order_with_headings_counts_and_metadata(tmp_path: Path) -> None:
    body = ('<text:h text:outline-level="1">Chapter   One</text:h>'
            '<text:p>Spaces  <text:s text:c="3"/>kept,\n   runs collapsed<text:tab/>tab'
            '<text:note text:note-class="footnote"><text:note-citation>1</text:note-citation><text:note-body>'
            '<text:p>A footnote.</text:p></text:note-body></text:note>.</text:p>'
            '<text:list><text:list-item><text:p>item <text:span>one</text:span></text:p></text:list-item></text:list>'
            '<table:table><table:table-row><table:table-cell><text:p>cell</text:p></table:table-cell>'
            "</table:table-row></table:table>"
            '<text:p><draw:frame><draw:image/><svg:title>alt text</svg:title></draw:frame>'
            '<office:annotation><text:p>a comment</text:p></office:annotation>after</text:p>'
            '<text:h text:outline-level="2">Part two</text:h><text:p/>')
    job = make_job(tmp_path, "notes.odt", odt_bytes(body))
    result = run(job, "odt")
    text = (job.out / "text.txt").read_text(encoding="utf-8")
    assert text == "Chapter One\nSpaces    kept, runs collapsed\ttab.\nitem one\ncell\nafter\nPart two\n"
    assert result == {"title": "A Test Text", "authors": ["Ada Author"], "last_modified_by": "Bo Editor",
                      "keywords": ["alpha", "beta"], "application": "LibreOffice/7.6", "pages_by_application": 3,
                      "paragraphs": 6, "headings": 2, "words": 13, "characters": len(text), "tables": 1,
                      "images": 1, "outline": [{"level": 1, "text": "Chapter One"}, {"level": 2, "text": "Part two"}]}


@pytest.mark.parametrize("handler", ["docx", "odt"])
def test_chinese_text_is_counted_a_character_a_word(tmp_path: Path, handler: str) -> None:
    data = docx_bytes(w_p("我们的报告。")) if handler == "docx" else odt_bytes("<text:p>我们的报告。</text:p>")
    result = run(make_job(tmp_path, f"cn.{handler}", data), handler)
    assert (result["words"], result["cjk_characters"], result["words_counted_as"]) == (5, 5, CJK_WORDS_NOTE)


@pytest.mark.parametrize(("name", "data", "handler"), [
    ("report.docx", docx_bytes(w_p("x")), "docx"),
    ("report.bin", docx_bytes(w_p("x")), "docx"),  # the content decides: a word/ member among the first
    ("notes.odt", odt_bytes("<text:p>x</text:p>"), "odt"),
    ("notes.zip", odt_bytes("<text:p>x</text:p>"), "odt"),
    ("sheet.ods", odt_bytes("", mimetype="application/vnd.oasis.opendocument.spreadsheet"), "checksum"),
    ("book.docx", docmaker.epub_bytes([("One", "<p>x</p>")]), "epub"),
])
def test_dropped_office_files_find_their_handler(tmp_path: Path, name: str, data: bytes, handler: str) -> None:
    assert load_registry(include_plugins=False).choose(docmaker.make_file(tmp_path / name, data)) == handler


@pytest.mark.parametrize(("data", "kind"), [
    (docx_bytes(w_p("x")), "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
    (odt_bytes("<text:p>x</text:p>"), "application/vnd.oasis.opendocument.text"),
    (odt_bytes("", mimetype="application/vnd.oasis.opendocument.spreadsheet"),
     "application/vnd.oasis.opendocument.spreadsheet"),
    (officemaker.encrypted_office_bytes(), "application/x-ole-storage"),
])
def test_detected_type_of_office_files(data: bytes, kind: str) -> None:
    from worker.handlers.sniff import detect_type

    assert detect_type(data[:8192]) == kind


@pytest.mark.parametrize("handler", ["docx", "odt"])
def test_a_cancelled_office_job_stops_and_leaves_no_outputs(tmp_path: Path, handler: str) -> None:
    paragraphs = 40_000  # over 1 MiB of XML: fed in two pieces, with a cancel check every 1,000 paragraphs
    data = (docx_bytes("".join(w_p(f"paragraph {n}") for n in range(paragraphs))) if handler == "docx" else
            odt_bytes("".join(f"<text:p>paragraph {n}</text:p>" for n in range(paragraphs))))
    job = make_job(tmp_path, f"long.{handler}", data)
    job.cancel_on = "reading the document body"
    with pytest.raises(JobCancelled):
        run(job, handler)
    assert job.outputs() == []
    assert [m for _, m in job.progress] == ["reading the archive", "reading the document body"]


# --- hostile and damaged documents: each fails once (a PermanentError), writes nothing, says why in one line ---

BODY = {"docx": "word/document.xml", "odt": "content.xml"}
LAUGHS = ('<?xml version="1.0"?><!DOCTYPE d [<!ENTITY a "lol">'
          + "".join(f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">' for i in range(9))
          + "]><d>&j;</d>")


def office(handler: str, member: str, data: bytes | str) -> bytes:
    """A valid document of this kind with one member replaced."""
    if handler == "docx":
        return docx_bytes(w_p("x"), replace={member: data})
    return odt_bytes("<text:p>x</text:p>", replace={member: data})


def raw_office(handler: str, *members: RawMember) -> bytes:
    """A zip written byte by byte, starting as this kind starts (an ODF mimetype member, or none)."""
    first = [RawMember("mimetype", officemaker.ODT_TYPE.encode())] if handler == "odt" else []
    return raw_zip([*first, *members], epub_first=False)


def refused(tmp_path: Path, handler: str, data: bytes, error: type[Exception] = UnsafeFile) -> str:
    job = make_job(tmp_path, f"document.{handler}", data)
    with pytest.raises(error) as raised:
        run(job, handler)
    assert job.outputs() == []
    return str(raised.value)


@pytest.mark.parametrize("handler", ["docx", "odt"])
def test_zip_bombs_and_escaping_names_are_refused(tmp_path: Path, handler: str) -> None:
    body = BODY[handler]
    declared = raw_office(handler, RawMember(body, deflated(b"<x/>"), method=8, size=1 << 30))
    assert refused(tmp_path, handler, declared) == (f"zip member {body!r} declares 1,073,741,824 bytes, over the "
                                                     "limit of 67,108,864 per member (a zip bomb?)")
    lying = raw_office(handler, RawMember(body, deflated(bytes(20 * MiB)), method=8, size=500))
    assert refused(tmp_path, handler, lying) == f"zip member {body!r} inflates past the 500 bytes it declares " \
                                                "(a zip bomb?)"
    climbing = raw_office(handler, RawMember(body, b"<x/>"), RawMember("../../evil.txt", b"owned"))
    assert refused(tmp_path, handler, climbing) == ("zip member '../../evil.txt' has an unsafe name: it climbs "
                                                    "out of the archive with '..'")


@pytest.mark.parametrize("handler", ["docx", "odt"])
def test_entities_are_refused_in_the_body_and_the_metadata(tmp_path: Path, handler: str) -> None:
    secret = docmaker.make_file(tmp_path / "secret.txt", b"TOPSECRET")
    xxe = f'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "{secret.as_uri()}">]><d>&x;</d>'
    started = time.monotonic()
    message = refused(tmp_path, handler, office(handler, BODY[handler], LAUGHS))
    assert time.monotonic() - started < 1.0
    assert message.startswith(f"{BODY[handler]!r} declares XML entities or external references, which are "
                              "refused (XXE / billion laughs): EntitiesForbidden(name='a'")
    metadata = "docProps/core.xml" if handler == "docx" else "meta.xml"
    message = refused(tmp_path, handler, office(handler, metadata, xxe))
    assert message.startswith(f"{metadata!r} declares XML entities") and "TOPSECRET" not in message


@pytest.mark.parametrize("handler", ["docx", "odt"])
def test_a_nesting_bomb_is_refused_before_it_fills_the_memory(tmp_path: Path, handler: str) -> None:
    # Random tag names, so that it compresses no better than text and passes the zip's ratio cap: 100,000
    # elements deep in 1.3 MB. Streamed, it is refused at the 257th; a tree of it would hold them all at once.
    names = ["".join(random.Random(n).choices(string.ascii_letters, k=5)) for n in range(100_000)]
    bomb = "<d>" + "".join(f"<{n}>" for n in names) + "".join(f"</{n}>" for n in reversed(names)) + "</d>"
    message = refused(tmp_path, handler, office(handler, BODY[handler], bomb))
    assert message == f"{BODY[handler]!r} nests elements over 256 deep (a nesting bomb?)"


@pytest.mark.parametrize(("handler", "data", "message"), [
    ("docx", docx_bytes(w_p("x"))[:-200], "not a zip archive (no end-of-central-directory record; truncated?)"),
    ("odt", b"PK\x03\x04" + bytes(range(256)) * 4, "not a zip archive (no end-of-central-directory record; "
                                                  "truncated?)"),
    ("docx", office("docx", "word/document.xml", "<document><body><p>"),
     "'word/document.xml' is not well-formed XML: no element found (line 1, column 19)"),
    ("odt", office("odt", "content.xml", b"\x00\x01 not xml"),
     "'content.xml' is not well-formed XML: not well-formed (invalid token) (line 1, column 0)"),
    ("docx", docmaker.zip_bytes({"xl/workbook.xml": "<workbook/>"}, mimetype=None),
     "not a Word document: it has no word/document.xml (an Excel or PowerPoint file, or another zip?)"),
    ("docx", officemaker.encrypted_office_bytes(),
     "the document is encrypted (password-protected): this handler cannot decrypt Office files; save it without "
     "a password and add it again"),
    ("docx", officemaker.encrypted_office_bytes().replace("EncryptedPackage".encode("utf-16-le"),
                                                          "WordDocument\0\0\0\0".encode("utf-16-le")),
     "a Word 97-2003 document (.doc) or another OLE file, not a .docx"),
    ("odt", odt_bytes("<text:p>x</text:p>", encrypted=True),
     "the document is encrypted (password-protected): this handler cannot decrypt OpenDocument files; save it "
     "without a password and add it again"),
    ("odt", odt_bytes("", mimetype="application/vnd.oasis.opendocument.spreadsheet"),
     "not an OpenDocument text: its mimetype member says b'application/vnd.oasis.opendocument.spreadsheet' "
     "(another OpenDocument kind)"),
    ("odt", docmaker.epub_bytes([("One", "<p>x</p>")]),
     "not an OpenDocument text: its mimetype member says b'application/epub+zip' (not an OpenDocument file)"),
])
def test_damaged_encrypted_and_wrong_kinds_fail_once_saying_why(tmp_path: Path, handler: str, data: bytes,
                                                                message: str) -> None:
    assert refused(tmp_path, handler, data, BadFile) == message


@pytest.mark.parametrize("number", ["9" * 5000, "²", "٣", "-1"])
def test_numbers_in_attributes_that_int_refuses_are_ignored(tmp_path: Path, number: str) -> None:
    # int() raises on 5,000 digits and on '²' (which isdigit() accepts): that was a retried ValueError.
    word = docx_bytes(f'<w:p><w:pPr><w:outlineLvl w:val="{number}"/></w:pPr><w:r><w:t>x</w:t></w:r></w:p>')
    odf = odt_bytes(f'<text:h text:outline-level="{number}">x<text:s text:c="{number}"/>y</text:h>')
    assert run(make_job(tmp_path / "w", "a.docx", word), "docx")["headings"] == (1 if number == "٣" else 0)
    job = make_job(tmp_path / "o", "a.odt", odf)
    arabic_three = number == "٣"  # a decimal digit int() reads: a real level and count
    assert run(job, "odt")["outline"][0]["level"] == (3 if arabic_three else 1)
    assert (job.out / "text.txt").read_text(encoding="utf-8") == ("x   y\n" if arabic_three else "x y\n")
