"""The `odt` handler: an OpenDocument text's text in reading order, its headings, counts and metadata."""

from __future__ import annotations

import re
from typing import Any

from worker.api import JobContext, handler
from worker.handlers.common import BadFile, output_file, require_content
from worker.handlers.office import PART_LIMIT, SMALL_PART_LIMIT, Body, properties, small_int
from worker.handlers.safexml import local, parse_xml, stream_xml
from worker.handlers.safezip import SafeZip
from worker.handlers.sniff import ODF_MIMETYPE, ODT_MIMETYPE, is_odt

META_FIELDS = {"title": "title", "subject": "subject", "description": "description", "language": "language",
               "initial-creator": "author", "creator": "last_modified_by", "creation-date": "created",
               "date": "modified", "generator": "application"}
MAX_SPACES = 1_000  # one <text:s c="..."> may ask for any number
_TO_SPACE = str.maketrans("\t\r\n", "   ")  # ODF's collapsible whitespace; a no-break space is not
_SPACES = re.compile(r"  +")


@handler(extensions=(".odt", ".ott"), sniff=is_odt, timeout=300,
         description="OpenDocument text (.odt): text in reading order (text.txt), headings, counts and metadata")
def odt(ctx: JobContext) -> dict[str, Any]:
    require_content(ctx, "document")
    ctx.progress(0, "reading the archive")
    with SafeZip(ctx.input_path) as package:
        _check_kind(package)
        _refuse_encrypted(package)
        metadata = _metadata(package)
        ctx.check()
        with output_file(ctx, "text.txt") as out:
            body = OdfBody("content.xml", out, ctx.check)
            stream_xml(package.read("content.xml", PART_LIMIT), body,
                       lambda done: ctx.progress(95 * done, "reading the document body"))
    ctx.progress(100, f"{body.paragraphs:,} paragraphs")
    return {**metadata, **body.summary()}


def _check_kind(package: SafeZip) -> None:
    kind = package.read("mimetype", 1024).strip() if "mimetype" in package else b""
    if kind and not kind.startswith(ODT_MIMETYPE):
        what = "another OpenDocument kind" if kind.startswith(ODF_MIMETYPE) else "not an OpenDocument file"
        raise BadFile(f"not an OpenDocument text: its mimetype member says {kind[:80]!r} ({what})")
    if "content.xml" not in package:
        raise BadFile("not an OpenDocument text: it has no content.xml")


def _refuse_encrypted(package: SafeZip) -> None:
    """ODF encrypts members in place and says so in its manifest; content.xml is then not XML at all."""
    manifest = "META-INF/manifest.xml"
    if manifest not in package:
        return
    for entry in parse_xml(package.read(manifest, SMALL_PART_LIMIT), manifest):
        if local(entry.tag) != "file-entry":
            continue
        path = next((value for key, value in entry.attrib.items() if local(key) == "full-path"), "")
        if path == "content.xml" and any(local(child.tag) == "encryption-data" for child in entry):
            raise BadFile("the document is encrypted (password-protected): this handler cannot decrypt "
                          "OpenDocument files; save it without a password and add it again")


def _metadata(package: SafeZip) -> dict[str, Any]:
    if "meta.xml" not in package:
        return {}
    root = parse_xml(package.read("meta.xml", SMALL_PART_LIMIT), "meta.xml")
    found = properties(root, META_FIELDS, {"keyword": "keywords"})
    if "author" in found:
        found["authors"] = [found.pop("author")]
    statistic = next((e for e in root.iter() if local(e.tag) == "document-statistic"), None)
    pages = next((v for k, v in statistic.attrib.items() if local(k) == "page-count"), "") if statistic is not None \
        else ""
    count = small_int(pages)
    if count is not None:
        found["pages_by_application"] = count
    return found


class OdfBody(Body):
    """The text of office:text: paragraphs and headings (also in lists, tables and frames), whitespace as ODF
    says (runs of spaces collapse; text:s, text:tab and text:line-break are kept)."""

    # note: footnotes and endnotes, in the text where they are cited; annotation: comments; tracked-changes: the
    # deleted text of revisions; title/desc: a drawing's alternative text.
    skipped = frozenset({"note", "annotation", "tracked-changes", "title", "desc", "sequence-decls",
                         "variable-decls", "user-field-decls"})

    def element(self, name: str, attrs: dict[str, str]) -> None:
        if name in ("p", "h"):
            self.begin_paragraph(small_int(attrs.get("outline-level", "1"), 1, 10) if name == "h" else None)
        elif name == "s":
            self.add(" " * min(small_int(attrs.get("c", "1"), 1) or 1, MAX_SPACES))
        elif name == "tab":
            self.add("\t")
        elif name == "line-break":
            self.add("\n")
        elif name == "table":
            self.tables += 1
        elif name == "image":
            self.images += 1

    def element_end(self, name: str) -> None:
        if name in ("p", "h"):
            self.end_paragraph()

    def data(self, content: str) -> None:
        piece = content.translate(_TO_SPACE)
        if "  " in piece:  # rare in real text: the regex only when there is something to collapse
            piece = _SPACES.sub(" ", piece)
        if piece.startswith(" ") and self.last_piece().endswith(" "):
            piece = piece[1:]  # a run of spaces across two pieces is still one space
        if piece:
            self.add(piece)
