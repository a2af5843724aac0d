"""An EPUB's package, read safely: container.xml, the OPF (metadata, manifest, spine), and its table of contents."""

from __future__ import annotations

import posixpath
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urldefrag

from worker.handlers.common import BadFile, UnsafeFile, quoted
from worker.handlers.htmltext import TolerantParser
from worker.handlers.safexml import local, parse_xml

MAX_TOC_DEPTH = 16
MAX_TOC_ENTRIES = 5_000
MAX_FIELD_CHARS = 2_000
MAX_LIST_ITEMS = 50
SINGLE_FIELDS = ("title", "language", "identifier", "publisher", "date", "description", "rights", "source")
LIST_FIELDS = {"creator": "authors", "contributor": "contributors", "subject": "subjects"}

TocEntry = dict[str, Any]  # {"title": str, "href": str | None, "children": [TocEntry, ...]}


@dataclass(frozen=True, slots=True)
class Item:
    """A manifest item; `path` is its member name in the zip ("" when the href leaves the book)."""

    id: str
    path: str
    media_type: str
    properties: frozenset[str]


@dataclass
class Package:
    """What the OPF says: the book's metadata, its files, and their reading order."""

    path: str
    version: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)
    manifest: dict[str, Item] = field(default_factory=dict)
    spine: list[str] = field(default_factory=list)  # manifest ids in reading order
    ncx_id: str = ""
    cover_id: str = ""  # EPUB 2's <meta name="cover" content="ID">
    layout: str = ""  # rendition:layout: "pre-paginated" for fixed-layout books
    direction: str = ""  # the spine's page-progression-direction: "rtl" for manga and vertical Japanese

    def nav(self) -> Item | None:
        return next((item for item in self.manifest.values() if "nav" in item.properties), None)


def resolve(base: str, href: str) -> tuple[str, str]:
    """A book-relative href to (member name, fragment); the name is "" when it would leave the book."""
    target, fragment = urldefrag(href.strip())
    if not target:
        return "", fragment
    if "://" in target or target.startswith(("/", "data:", "mailto:")):
        return "", fragment
    path = posixpath.normpath(posixpath.join(posixpath.dirname(base), unquote(target)))
    return ("" if path.startswith("../") or path == ".." else path), fragment


def package_path(container: bytes) -> str:
    """The OPF's member name, from META-INF/container.xml."""
    root = parse_xml(container, "META-INF/container.xml")
    for element in root.iter():
        if local(element.tag) == "rootfile" and element.get("full-path"):
            media = element.get("media-type", "application/oebps-package+xml")
            if media == "application/oebps-package+xml":
                path = posixpath.normpath(unquote(element.get("full-path", "")))
                if path.startswith(("../", "/")):
                    raise UnsafeFile(f"container.xml points outside the book: {quoted(path)}")
                return path
    raise BadFile("not an EPUB: META-INF/container.xml names no package (.opf) file")


def parse_package(data: bytes, path: str) -> Package:
    root = parse_xml(data, path)
    if local(root.tag) != "package":
        raise BadFile(f"{quoted(path)} is not an EPUB package document (its root is <{local(root.tag)}>)")
    package = Package(path=path, version=root.get("version", ""))
    for section in root:
        name = local(section.tag)
        if name == "metadata":
            package.metadata = _metadata(section, root.get("unique-identifier", ""))
            _rendition(section, package)
        elif name == "manifest":
            package.manifest = _manifest(section, path)
        elif name == "spine":
            package.ncx_id = section.get("toc", "")
            package.direction = section.get("page-progression-direction", "")[:20]
            package.spine = [ref.get("idref", "") for ref in section if local(ref.tag) == "itemref"]
    if not package.spine:
        raise BadFile(f"{quoted(path)} has an empty spine: the book has no chapters to read")
    return package


def _text(element: ET.Element) -> str:
    return " ".join("".join(element.itertext()).split())[:MAX_FIELD_CHARS]


def _metadata(section: ET.Element, unique_id: str) -> dict[str, Any]:
    found: dict[str, Any] = {key: [] for key in LIST_FIELDS.values()}
    for element in section:
        name = local(element.tag)
        if name not in LIST_FIELDS and name not in SINGLE_FIELDS and name != "identifier":
            continue
        text = _text(element)
        if not text:
            continue
        if name in LIST_FIELDS and len(found[LIST_FIELDS[name]]) < MAX_LIST_ITEMS:
            found[LIST_FIELDS[name]].append(text)
        elif name == "identifier" and unique_id and element.get("id") == unique_id:
            found["identifier"] = text  # the book's own identifier wins over ISBNs and the like
        elif name in SINGLE_FIELDS and name not in found:
            found[name] = text
    return {key: value for key, value in found.items() if value}


def _rendition(section: ET.Element, package: Package) -> None:
    """The <meta> elements that say how the book is shown: its cover (EPUB 2) and its layout (EPUB 3)."""
    for element in section:
        if local(element.tag) != "meta":
            continue
        if element.get("name") == "cover" and not package.cover_id:
            package.cover_id = element.get("content", "")
        elif element.get("property") == "rendition:layout" and not element.get("refines"):
            package.layout = _text(element)[:40]


def _manifest(section: ET.Element, opf_path: str) -> dict[str, Item]:
    items: dict[str, Item] = {}
    for element in section:
        if local(element.tag) != "item" or not element.get("id"):
            continue
        member, _ = resolve(opf_path, element.get("href", ""))
        items[element.get("id", "")] = Item(element.get("id", ""), member, element.get("media-type", ""),
                                            frozenset(element.get("properties", "").split()))
    return items


def ncx_toc(data: bytes, path: str) -> list[TocEntry]:
    """The table of contents of an EPUB 2 NCX file."""
    root = parse_xml(data, path)
    nav_map = next((e for e in root.iter() if local(e.tag) == "navMap"), None)
    counter = [0]
    return _nav_points(nav_map, path, 1, counter) if nav_map is not None else []


def _nav_points(parent: ET.Element, path: str, depth: int, counter: list[int]) -> list[TocEntry]:
    entries: list[TocEntry] = []
    for point in parent:
        if local(point.tag) != "navPoint" or counter[0] >= MAX_TOC_ENTRIES:
            continue
        counter[0] += 1
        label = next((e for e in point.iter() if local(e.tag) == "text"), None)
        content = next((e for e in point if local(e.tag) == "content"), None)
        entry: TocEntry = {"title": _text(label) if label is not None else "", "href": None, "children": []}
        if content is not None:
            entry["href"] = _book_href(path, content.get("src", ""))
        if depth < MAX_TOC_DEPTH:
            entry["children"] = _nav_points(point, path, depth + 1, counter)
        entries.append(entry)
    return entries


def _book_href(base: str, href: str) -> str | None:
    member, fragment = resolve(base, href)
    if not member:
        return None
    return f"{member}#{fragment}" if fragment else member


def nav_toc(html: str, path: str) -> list[TocEntry]:
    """The table of contents of an EPUB 3 navigation document (its <nav epub:type="toc">)."""
    parser = _NavParser(path)
    parser.feed(html)
    parser.close()
    return parser.toc


class _NavParser(TolerantParser):
    """Builds the nested list inside the toc <nav>, iteratively (a hostile nesting cannot recurse)."""

    def __init__(self, path: str) -> None:
        super().__init__(convert_charrefs=True)
        self.toc: list[TocEntry] = []
        self._path = path
        self._nav = 0  # nav elements open since the toc nav began (0: not inside it)
        self._lists: list[list[TocEntry] | None] = []  # open <ol>s: where their <li>s go (None: ignored)
        self._items: list[TocEntry | None] = []  # open <li>s
        self._label: list[str] | None = None
        self._count = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {key: value or "" for key, value in attrs}
        if tag == "nav":
            if self._nav or "toc" in values.get("epub:type", "").split():
                self._nav += 1
            return
        if not self._nav:
            return
        if tag in ("ol", "ul"):
            target: list[TocEntry] | None = None
            if len(self._lists) >= MAX_TOC_DEPTH:
                target = None  # too deep: its entries are left out
            elif not self._items:
                target = self.toc
            elif self._items[-1] is not None:
                target = self._items[-1]["children"]
            self._lists.append(target)
        elif tag == "li":
            target = self._lists[-1] if self._lists else None
            entry: TocEntry | None = None
            if target is not None and self._count < MAX_TOC_ENTRIES:
                entry = {"title": "", "href": None, "children": []}
                target.append(entry)
                self._count += 1
            self._items.append(entry)
        elif tag in ("a", "span") and self._items and self._items[-1] is not None:
            if tag == "a":
                self._items[-1]["href"] = _book_href(self._path, values.get("href", ""))
            self._label = []

    def handle_endtag(self, tag: str) -> None:
        if not self._nav:
            return
        if tag == "nav":
            self._nav -= 1
        elif tag in ("ol", "ul") and self._lists:
            self._lists.pop()
        elif tag == "li" and self._items:
            self._items.pop()
        elif tag in ("a", "span") and self._label is not None:
            if self._items and self._items[-1] is not None and not self._items[-1]["title"]:
                self._items[-1]["title"] = " ".join("".join(self._label).split())[:MAX_FIELD_CHARS]
            self._label = None

    def handle_data(self, data: str) -> None:
        if self._label is not None and len(self._label) < 1000:
            self._label.append(data)


def count_entries(toc: list[TocEntry]) -> int:
    stack, count = list(toc), 0
    while stack:
        entry = stack.pop()
        count += 1
        stack.extend(entry["children"])
    return count


def flat_titles(toc: list[TocEntry]) -> dict[str, str]:
    """Member name -> the first TOC title that points into it (in reading order of the TOC)."""
    titles: dict[str, str] = {}
    stack = list(reversed(toc))
    while stack:
        entry = stack.pop()
        if entry["href"] and entry["title"]:
            titles.setdefault(entry["href"].split("#", 1)[0], entry["title"])
        stack.extend(reversed(entry["children"]))
    return titles
