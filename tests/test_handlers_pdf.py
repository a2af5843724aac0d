"""The `pdf` handler on PDFium: text, metadata and preview; encrypted, damaged and hostile PDFs, each made here."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from tests import pdfmaker
from tests.handlerkit import make_job, run, run_limited
from worker.handlers.common import BadFile

PASSWORD = "open sesame"


def refused(tmp_path: Path, data: bytes, params: dict[str, str] | None = None) -> str:
    """Run the pdf handler; it must fail permanently (BadFile) and leave no outputs."""
    job = make_job(tmp_path, "document.pdf", data)
    with pytest.raises(BadFile) as raised:
        run(job, "pdf", params)
    assert job.outputs() == []
    return str(raised.value)


def test_text_per_page_metadata_and_a_preview_of_page_one(tmp_path: Path) -> None:
    job = make_job(tmp_path, "paper.pdf", pdfmaker.pdf_bytes(["First page words", "Second (page) here", "Third"]))
    result = run(job, "pdf")
    assert result == {"title": "A Test PDF", "author": "Pat Writer", "producer": "docmaker",
                      "created": "2024-05-01T12:30:00+02:00", "pages": 3, "encrypted": False, "version": "1.4",
                      "words": 7, "characters": 42, "pages_without_text": 0, "failed_pages": [],
                      "preview": {"file": "preview.png", "width": 198, "height": 256}}
    assert job.outputs() == ["preview.png", "text.txt"]
    pages = (job.out / "text.txt").read_text(encoding="utf-8").split("\f")
    assert pages == ["First page words", "Second (page) here", "Third", ""]
    assert [m for _, m in job.progress if m.startswith("page")] == ["page 1 of 3", "page 2 of 3", "page 3 of 3"]
    with Image.open(job.out / "preview.png") as preview:
        assert (preview.format, preview.size) == ("PNG", (198, 256))
        grey = preview.convert("L")
        # A white page with a line of black text near its top: the top band has ink, the bottom is blank.
        assert grey.crop((0, 0, 198, 60)).getextrema()[0] < 100
        assert grey.crop((0, 128, 198, 256)).getextrema() == (255, 255)


def test_a_rotated_landscape_page_gives_a_landscape_preview(tmp_path: Path) -> None:
    data = pdfmaker.pdf_bytes(["sideways"]).replace(b"/MediaBox", b"/Rotate 90 /MediaBox")
    result = run(make_job(tmp_path, "rotated.pdf", data), "pdf")
    assert result["preview"] == {"file": "preview.png", "width": 256, "height": 198}


def test_a_page_that_cannot_be_loaded_is_skipped_and_counted(tmp_path: Path) -> None:
    # The page tree lists the font (object 3) where page 1 should be: PDFium cannot load it as a page.
    job = make_job(tmp_path, "half.pdf", pdfmaker.pdf_bytes(["never seen", "good page"], kids=[3, 6]))
    result = run(job, "pdf")
    assert (result["pages"], result["failed_pages"], result["pages_without_text"]) == (2, [1], 1)
    assert (job.out / "text.txt").read_text(encoding="utf-8") == "\fgood page\f"
    assert result["notes"] == ["no preview: page 1 could not be loaded (Failed to load page.)"]
    assert "preview" not in result and job.outputs() == ["text.txt"]


def test_encrypted_with_an_empty_user_password_opens_as_normal(tmp_path: Path) -> None:
    job = make_job(tmp_path, "protected.pdf", pdfmaker.encrypted_pdf_bytes(["Secret words"], user_password=""))
    result = run(job, "pdf")
    assert (result["encrypted"], result["title"], result["words"]) == (True, "A Test PDF", 2)
    assert (job.out / "text.txt").read_text(encoding="utf-8") == "Secret words\f"
    # A password the PDF does not need does not stop it either.
    assert run(job, "pdf", {"password": "not needed"})["words"] == 2


def test_encrypted_with_a_password_fails_once_saying_how_to_give_it(tmp_path: Path) -> None:
    data = pdfmaker.encrypted_pdf_bytes(["Secret words"], user_password=PASSWORD)
    assert refused(tmp_path, data) == (
        "the PDF is encrypted and needs a password (the param `password`): run it again with "
        "`dock retry 1 --param password=...` (or Retry with parameters in the window)")
    assert refused(tmp_path, data, {"password": "wrong"}).startswith(
        "the PDF is encrypted and the password given (param `password`) does not open it: run it again with the "
        "right one: `dock retry 1 --param password=...`")


@pytest.mark.parametrize("password", [PASSWORD, "the owner"])
def test_encrypted_opens_with_its_user_or_owner_password(tmp_path: Path, password: str) -> None:
    job = make_job(tmp_path, "locked.pdf", pdfmaker.encrypted_pdf_bytes(["Secret words"], user_password=PASSWORD))
    result = run(job, "pdf", {"password": password})
    assert (result["encrypted"], result["pages"], result["words"]) == (True, 1, 2)
    assert (job.out / "text.txt").read_text(encoding="utf-8") == "Secret words\f"


@pytest.mark.parametrize(("data", "message"), [
    (pdfmaker.pdf_bytes(["one", "two"])[:300], "not a readable PDF (truncated or damaged, or not a PDF at all): "
                                               "PDFium reports a data format error"),
    (b"%PDF-1.7\n" + bytes(range(256)) * 16, "not a readable PDF (truncated or damaged, or not a PDF at all): "
                                             "PDFium reports a data format error"),
    (pdfmaker.pdf_bytes([]), "not a readable PDF (truncated or damaged, or not a PDF at all): PDFium reports a "
                             "data format error"),
    (pdfmaker.pdf_bytes(["a", "b"], kids=[3, 3]), "no page of the PDF could be read (2 pages, all failed; page "
                                                  "1: PDFium: Failed to load page.)"),
])
def test_damaged_pdfs_fail_once_with_one_line_saying_what_is_wrong(tmp_path: Path, data: bytes,
                                                                   message: str) -> None:
    assert refused(tmp_path, data) == message


def test_the_page_cap_reads_the_first_pages_and_says_so(tmp_path: Path) -> None:
    job = make_job(tmp_path, "many.pdf", pdfmaker.many_pages_pdf_bytes(100_000))  # 600 KB
    result = run(job, "pdf")
    assert (result["pages"], result["pages_read"], result["words"]) == (100_000, 10_000, 20_000)
    assert result["notes"] == ["only the first 10,000 of 100,000 pages were read (the page cap)"]
    assert (job.out / "text.txt").read_text(encoding="utf-8") == "same page\f" * 10_000


def test_a_pdf_without_text_says_it_may_be_scanned(tmp_path: Path) -> None:
    result = run(make_job(tmp_path, "scan.pdf", pdfmaker.huge_image_pdf_bytes(side=64)), "pdf")
    assert (result["words"], result["pages_without_text"]) == (0, 1)
    assert result["notes"] == ["no text found: the pages may be scanned images (this handler does no OCR)"]


@pytest.mark.parametrize("memory_mib", [2048, 512])
@pytest.mark.parametrize("kind", ["huge page", "huge image"])
def test_hostile_sizes_render_a_256_px_preview_within_the_memory_limit(tmp_path: Path, memory_mib: int,
                                                                       kind: str) -> None:
    # A full-size bitmap of the page would be 4.7 TB, the image decoded whole 1.6 GB: neither fits in the limit.
    data = pdfmaker.huge_page_pdf_bytes() if kind == "huge page" else pdfmaker.huge_image_pdf_bytes()
    job = make_job(tmp_path, "big.pdf", data)
    result = run_limited(job, "pdf", memory_mib)
    assert result.get("error") is None, result
    assert max(result["preview"]["width"], result["preview"]["height"]) == 256
    assert result["maxrss_mib"] < 400
    with Image.open(job.out / "preview.png") as preview:
        assert max(preview.size) == 256


def test_metadata_that_is_not_valid_utf16_is_read_with_replacements(tmp_path: Path) -> None:
    # A lone surrogate made pypdfium2's own reader raise UnicodeDecodeError, which the worker retried.
    data = pdfmaker.pdf_bytes(["x"]).replace(b"/Title (A Test PDF)", b"/Title <FEFFD8000041DC00>")
    result = run(make_job(tmp_path, "odd.pdf", data), "pdf")
    assert result["title"] == "\ufffdA\ufffd" and result["pages"] == 1
