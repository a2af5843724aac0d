"""The documents the `documents` section times: a folder the user names, or a small set made here; and the bare
library loops the handlers are measured against."""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path

from tests import docmaker, officemaker, pdfmaker
from worker.registry import load_registry

ENV_FOLDER = "DOCK_BENCH_DOCUMENTS"  # a folder of documents (searched recursively) instead of the generated set
KINDS = ("pdf", "epub", "docx", "odt")
WORDS = ("the quick brown fox jumps over a lazy dog while seven busy writers fill another long page of "  # noqa: SIM905
         "plain sentences for the benchmark to read").split()


def sentence(n: int, words: int = 12) -> str:
    return " ".join(WORDS[(n + i) % len(WORDS)] for i in range(words)).capitalize() + "."


def paragraphs(count: int, start: int = 0) -> list[str]:
    return [" ".join(sentence(start + p * 7 + s) for s in range(5)) for p in range(count)]


def generate(folder: Path, per_kind: int) -> Path:
    """per_kind documents of each kind: 40-page PDFs, 12-chapter EPUBs, 60-paragraph DOCX and ODT files."""
    folder.mkdir(parents=True, exist_ok=True)
    for n in range(per_kind):
        pages = ["\n".join(sentence(n + page * 31 + line, 9) for line in range(30)) for page in range(40)]
        (folder / f"report-{n}.pdf").write_bytes(pdfmaker.pdf_bytes(pages, title=f"Report {n}"))
        chapters = [(f"Chapter {c}", "".join(f"<p>{text}</p>" for text in paragraphs(40, n + c)))
                    for c in range(1, 13)]
        (folder / f"book-{n}.epub").write_bytes(docmaker.epub_bytes(chapters, title=f"Book {n}"))
        body = officemaker.w_p(f"Document {n}", "berschrift1") + "".join(
            officemaker.w_p(text) for text in paragraphs(60, n))
        (folder / f"letter-{n}.docx").write_bytes(officemaker.docx_bytes(body))
        (folder / f"notes-{n}.odt").write_bytes(officemaker.odt_bytes(
            f"<text:h>Notes {n}</text:h>" + "".join(f"<text:p>{text}</text:p>" for text in paragraphs(60, n))))
    return folder


def documents() -> tuple[str, dict[str, list[Path]]]:
    """Where the documents come from, and the files of each kind, as the dock would route them."""
    folder = os.environ.get(ENV_FOLDER)
    if not folder:
        return "", {}
    return folder, by_kind(Path(folder))


def by_kind(folder: Path) -> dict[str, list[Path]]:
    registry = load_registry(include_plugins=False)
    found: dict[str, list[Path]] = {kind: [] for kind in KINDS}
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and not p.is_symlink()):
        kind = registry.choose(path)
        if kind in found:
            found[kind].append(path)
    return {kind: paths for kind, paths in found.items() if paths}


# --- the bare libraries: the least each format's text costs with the library the handler builds on -----------

def pdfium_text(path: Path) -> int:
    import pypdfium2 as pdfium

    characters = 0
    with pdfium.PdfDocument(path) as document:
        for index in range(len(document)):
            page = document[index]
            textpage = page.get_textpage()
            characters += len(textpage.get_text_range())
            textpage.close()
            page.close()
    return characters


def pypdf_text(path: Path) -> int:
    from pypdf import PdfReader

    return sum(len(page.extract_text() or "") for page in PdfReader(path).pages)


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.characters = 0

    def handle_data(self, data: str) -> None:
        self.characters += len(data)


def epub_text(path: Path) -> int:
    """zipfile and html.parser over every XHTML member: no limits, no package, no table of contents."""
    characters = 0
    with zipfile.ZipFile(path) as book:
        for name in book.namelist():
            if name.endswith((".xhtml", ".html", ".htm")):
                parser = _Text()
                parser.feed(book.read(name).decode("utf-8", "replace"))
                characters += parser.characters
    return characters


def xml_text(member: str) -> Callable[[Path], int]:
    """zipfile and ElementTree's iterparse over one member: the text of every element, no limits."""
    def read(path: Path) -> int:
        characters = 0
        with zipfile.ZipFile(path) as package, package.open(member) as stream:
            for _, element in ET.iterparse(stream):
                characters += len(element.text or "")
                element.clear()
        return characters
    return read


BARE: dict[str, list[tuple[str, Callable[[Path], int]]]] = {
    "pdf": [("pypdfium2", pdfium_text), ("pypdf (the engine before)", pypdf_text)],
    "epub": [("zipfile + html.parser", epub_text)],
    "docx": [("zipfile + ElementTree", xml_text("word/document.xml"))],
    "odt": [("zipfile + ElementTree", xml_text("content.xml"))],
}
