"""The `docx` handler: a Word document's text in reading order, its headings, counts and metadata."""

from __future__ import annotations

import posixpath
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from typing import IO, Any

from worker.api import JobContext, handler
from worker.handlers.common import BadFile, output_file, require_content
from worker.handlers.office import PART_LIMIT, SMALL_PART_LIMIT, Body, properties, small_int
from worker.handlers.safexml import local, parse_xml, stream_xml
from worker.handlers.safezip import SafeZip
from worker.handlers.sniff import is_docx

OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
ENCRYPTED_PACKAGE = "EncryptedPackage".encode("utf-16-le")  # the stream an encrypted OOXML file keeps inside OLE
DOCUMENT_REL = "/officeDocument"
CORE_REL = "/core-properties"
STYLES_REL = "/styles"
CORE_FIELDS = {"title": "title", "subject": "subject", "keywords": "keywords", "description": "description",
               "lastModifiedBy": "last_modified_by", "created": "created", "modified": "modified",
               "language": "language", "category": "category"}
WORD_CHARACTERS = {"tab": "\t", "br": "\n", "cr": "\n", "noBreakHyphen": "-"}  # elements that stand for one
_HEADING_NAME = re.compile(r"heading\s*([1-9])", re.IGNORECASE)


@handler(extensions=(".docx", ".docm", ".dotx", ".dotm"), sniff=is_docx, timeout=300,
         description="Word document (.docx): text in reading order (text.txt), headings, counts and metadata")
def docx(ctx: JobContext) -> dict[str, Any]:
    require_content(ctx, "document")
    _refuse_ole(ctx)
    ctx.progress(0, "reading the archive")
    with SafeZip(ctx.input_path) as package:
        main = _main_part(package)
        levels = _heading_levels(package, _styles_part(package, main))
        metadata = _metadata(package)
        ctx.check()
        with output_file(ctx, "text.txt") as out:
            body = WordBody(main, out, ctx.check, levels)
            stream_xml(package.read(main, PART_LIMIT), body,
                       lambda done: ctx.progress(95 * done, "reading the document body"))
    ctx.progress(100, f"{body.paragraphs:,} paragraphs")
    return {**metadata, **body.summary()}


def _refuse_ole(ctx: JobContext) -> None:
    """An OLE file is an encrypted .docx (Office encrypts into one) or a Word 97-2003 .doc: neither is a zip."""
    with ctx.input_path.open("rb") as f:
        head = f.read(1 << 20)
    if not head.startswith(OLE_MAGIC):
        return
    if ENCRYPTED_PACKAGE in head:
        raise BadFile("the document is encrypted (password-protected): this handler cannot decrypt Office files; "
                      "save it without a password and add it again")
    raise BadFile("a Word 97-2003 document (.doc) or another OLE file, not a .docx")


def _main_part(package: SafeZip) -> str:
    """The main document's member: the package relationship to it, else word/document.xml."""
    for target in _targets(package, "_rels/.rels", DOCUMENT_REL):
        if target in package:
            return target
    if "word/document.xml" in package:
        return "word/document.xml"
    raise BadFile("not a Word document: it has no word/document.xml (an Excel or PowerPoint file, or another zip?)")


def _styles_part(package: SafeZip, main: str) -> str:
    folder, name = posixpath.split(main)
    found = _targets(package, posixpath.join(folder, "_rels", f"{name}.rels"), STYLES_REL)
    return found[0] if found else posixpath.join(folder, "styles.xml")


def _targets(package: SafeZip, rels: str, kind: str) -> list[str]:
    """Members that a relationships part points at with a relationship type ending in `kind`."""
    if rels not in package:
        return []
    base = posixpath.dirname(posixpath.dirname(rels))  # _rels/x.rels describes x's folder
    found = []
    for element in parse_xml(package.read(rels, SMALL_PART_LIMIT), rels).iter():
        if local(element.tag) == "Relationship" and element.get("Type", "").endswith(kind):
            target = element.get("Target", "")
            path = target.lstrip("/") if target.startswith("/") else posixpath.join(base, target)
            found.append(posixpath.normpath(path))
    return found


def _metadata(package: SafeZip) -> dict[str, Any]:
    found: dict[str, Any] = {}
    core = next(iter(_targets(package, "_rels/.rels", CORE_REL)), "docProps/core.xml")
    if core in package:
        found = properties(parse_xml(package.read(core, SMALL_PART_LIMIT), core), CORE_FIELDS,
                           {"creator": "authors"})
    if "docProps/app.xml" in package:
        app = properties(parse_xml(package.read("docProps/app.xml", SMALL_PART_LIMIT), "docProps/app.xml"),
                         {"Application": "application", "Pages": "pages_by_application"}, {})
        pages = small_int(app.pop("pages_by_application", ""))
        found.update(app, **({"pages_by_application": pages} if pages is not None else {}))
    return found


def _heading_levels(package: SafeZip, styles: str) -> dict[str, int]:
    """Paragraph style id -> heading level (0 for Title), from the styles' names and outline levels.

    Style ids are translated in other languages' Word ("berschrift1"), their names and outline levels are not.
    """
    if styles not in package:
        return {}
    declared: dict[str, tuple[int | None, str]] = {}  # id -> (level, the style it is based on)
    for style in parse_xml(package.read(styles, SMALL_PART_LIMIT), styles):
        if local(style.tag) != "style" or _attr(style, "type") != "paragraph":
            continue
        level, based_on = None, ""
        for child in style.iter():
            name, value = local(child.tag), _attr(child, "val")
            if name == "name":
                match = _HEADING_NAME.fullmatch(value.strip())
                level = int(match.group(1)) if match else 0 if value.strip().lower() == "title" else level
            elif name == "outlineLvl" and small_int(value, limit=8) is not None:
                level = (small_int(value) or 0) + 1
            elif name == "basedOn":
                based_on = value
        declared[_attr(style, "styleId")] = (level, based_on)
    return {style: level for style in declared if (level := _inherited(declared, style)) is not None}


def _inherited(declared: dict[str, tuple[int | None, str]], style: str) -> int | None:
    for _ in range(16):  # a chain of basedOn; a loop in it ends here
        level, based_on = declared.get(style, (None, ""))
        if level is not None or not based_on:
            return level
        style = based_on
    return None


def _attr(element: ET.Element, name: str) -> str:
    """An attribute by local name (w:val, in whichever namespace: transitional or strict OOXML)."""
    return next((value for key, value in element.attrib.items() if local(key) == name), "")


class WordBody(Body):
    """The text of w:body: paragraphs (also in tables and text boxes), without deleted or field-code text."""

    # del/moveFrom: deleted revisions; instrText: field codes; Fallback: the same content again for old Word.
    skipped = frozenset({"del", "moveFrom", "instrText", "delText", "Fallback", "footnoteReference",
                         "endnoteReference", "commentReference"})

    def __init__(self, what: str, out: IO[str], check: Callable[[], None], levels: dict[str, int]) -> None:
        super().__init__(what, out, check)
        self._levels = levels
        self._in_t = 0

    def element(self, name: str, attrs: dict[str, str]) -> None:
        if name == "p":
            self.begin_paragraph()
        elif name == "t":
            self._in_t += 1
        elif name in WORD_CHARACTERS:
            self.add(WORD_CHARACTERS[name])
        elif name == "pStyle" and attrs.get("val") in self._levels:
            self.set_level(self._levels[attrs["val"]])
        elif name == "outlineLvl":  # 0-8 are heading levels; 9 (or anything else) is body text
            outline = small_int(attrs.get("val", ""), limit=8)
            self.set_level(None if outline is None else outline + 1)
        elif name == "tbl":
            self.tables += 1
        elif name in ("drawing", "pict"):
            self.images += 1

    def element_end(self, name: str) -> None:
        if name == "p":
            self.end_paragraph()
        elif name == "t" and self._in_t:
            self._in_t -= 1

    def data(self, content: str) -> None:
        if self._in_t:
            self.add(content)

