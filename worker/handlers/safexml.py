"""Untrusted XML, parsed with defusedxml: whole small documents as trees, big ones streamed with a depth cap."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable
from typing import Any
from xml.sax.handler import ContentHandler

from worker.handlers.common import BadFile, UnsafeFile, quoted

MAX_DEPTH = 256  # real documents nest a few dozen elements deep; a million nested tags would fill the memory
FEED_BYTES = 1 << 20


def parse_xml(data: bytes, what: str) -> ET.Element:
    """Parse with defusedxml: any entity declaration (so XXE and billion laughs) is refused, nothing is fetched."""
    from defusedxml import DefusedXmlException
    from defusedxml.ElementTree import fromstring

    try:
        return fromstring(data, forbid_dtd=False, forbid_entities=True, forbid_external=True)  # type: ignore[no-any-return]
    except DefusedXmlException as error:
        raise UnsafeFile(f"{quoted(what)} declares XML entities or external references, which are refused "
                         f"(XXE / billion laughs): {error}") from error
    except ET.ParseError as error:
        raise BadFile(f"{quoted(what)} is not well-formed XML: {error}") from error
    except LookupError as error:  # an encoding the declaration names that Python lacks, or that is not text
        raise BadFile(f"{quoted(what)} declares an encoding that cannot be read: {error}") from error


def local(tag: object) -> str:
    """An element's name without its namespace ('{http://...}title' -> 'title')."""
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


class Reader(ContentHandler):
    """A streaming reader of one XML document: subclasses see elements by their local name, never a tree.

    Attributes:
        what: the member's name, for messages.
        depth: how many elements are open.
    """

    def __init__(self, what: str) -> None:
        super().__init__()
        self.what = what
        self.depth = 0

    def start(self, name: str, attrs: dict[str, str]) -> None:
        """An element opens; attrs are keyed by local name."""

    def end(self, name: str) -> None:
        """An element closes."""

    def text(self, content: str) -> None:
        """Character data, in pieces of any size."""

    def startElementNS(self, name: tuple[str | None, str], qname: str | None, attrs: Any) -> None:  # noqa: N802 (SAX names it)
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise UnsafeFile(f"{quoted(self.what)} nests elements over {MAX_DEPTH} deep (a nesting bomb?)")
        self.start(name[1], {key[1]: value for key, value in attrs.items()})

    def endElementNS(self, name: tuple[str | None, str], qname: str | None) -> None:  # noqa: N802 (SAX names it)
        self.depth -= 1
        self.end(name[1])

    def characters(self, content: str) -> None:
        self.text(content)


def stream_xml(data: bytes, reader: Reader, on_step: Callable[[float], None] | None = None) -> None:
    """Feed the document to the reader a MiB at a time (on_step gets the fraction done, and may cancel).

    Entity declarations and external references are refused, as in parse_xml; no tree is ever built.
    """
    from xml.sax import SAXParseException

    from defusedxml import DefusedXmlException
    from defusedxml.expatreader import create_parser

    parser = create_parser(namespaceHandling=1)
    parser.setContentHandler(reader)
    view = memoryview(data)
    try:
        for start in range(0, len(data), FEED_BYTES):
            parser.feed(view[start: start + FEED_BYTES])
            if on_step is not None:
                on_step(min(1.0, (start + FEED_BYTES) / len(data)))
        parser.close()
    except DefusedXmlException as error:
        raise UnsafeFile(f"{quoted(reader.what)} declares XML entities or external references, which are "
                         f"refused (XXE / billion laughs): {error}") from error
    except SAXParseException as error:
        raise BadFile(f"{quoted(reader.what)} is not well-formed XML: {error.getMessage()} (line "
                      f"{error.getLineNumber()}, column {error.getColumnNumber()})") from error
    except LookupError as error:
        raise BadFile(f"{quoted(reader.what)} declares an encoding that cannot be read: {error}") from error
