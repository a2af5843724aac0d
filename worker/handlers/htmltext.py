"""The plain text of HTML (and SVG) with the standard library's parser: no scripts, no styles, a line per block."""

from __future__ import annotations

import re
from html.parser import HTMLParser

# Elements whose content is not text a reader sees. rt and rp are ruby's readings (furigana) and their brackets:
# the base text is what is read, and the readings would count every annotated word twice.
SKIPPED = frozenset({"script", "style", "template", "noscript", "math", "object", "iframe", "select", "rt", "rp"})
# In SVG only these hold text a reader sees; the rest is drawing (and <title>/<desc> are tooltips).
SVG_TEXT = frozenset({"text"})
SVG_IMAGE = "image"
MAX_IMAGES = 1_000  # image references kept per document; all are counted
BLOCKS = frozenset({
    "address", "article", "aside", "blockquote", "body", "br", "caption", "dd", "details", "dialog", "div", "dl",
    "dt", "fieldset", "figcaption", "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6", "header",
    "hr", "html", "legend", "li", "main", "nav", "ol", "p", "pre", "section", "summary", "table", "tbody", "td",
    "tfoot", "th", "thead", "tr", "ul",
})
HEADINGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6"})
VOID = frozenset({"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track",
                  "wbr"})
_SPACE = re.compile(r"\s+")


class TolerantParser(HTMLParser):
    """html.parser, but '<![foo[' with a keyword it does not know is skipped to its '>' as a bogus comment, as
    browsers do, instead of raising AssertionError out of feed() (a retry could never get past it)."""

    def parse_marked_section(self, i: int, report: bool = True) -> int:
        try:
            return super().parse_marked_section(i, report)
        except AssertionError:
            end = self.rawdata.find(">", i + 3)
            return -1 if end < 0 else end + 1


class HTMLText(TolerantParser):
    """Feed HTML in pieces; take() the finished text as it comes.

    Attributes:
        title: the text of the document's <title>, if any.
        heading: the text of its first heading (h1-h6), if any.
        images: where its <img> and SVG <image> elements point (the first MAX_IMAGES), as written.
        image_count: how many such elements it has.
    """

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.title = ""
        self.heading = ""
        self.images: list[str] = []
        self.image_count = 0
        self._skip: list[str] = []  # open skipped elements, innermost last
        self._svg = 0  # open <svg> elements
        self._svg_text = 0  # open SVG <text> elements
        self._pre = 0
        self._in_title = False
        self._in_heading = False
        self._line: list[str] = []  # pieces of the current line
        self._done: list[str] = []  # finished lines, each ending in a newline

    def take(self) -> str:
        """The lines finished since the last call."""
        text = "".join(self._done)
        self._done.clear()
        return text

    def finish(self) -> str:
        """Close the parser and return the rest of the text."""
        self.close()
        self._break()
        return self.take()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._note_image(tag, attrs)
        if self._skip:
            if tag == self._skip[-1] or tag in SKIPPED:
                self._skip.append(tag)
            return
        if tag in SKIPPED:
            if tag not in VOID:
                self._skip.append(tag)
            return
        if tag == "svg" or self._svg:
            self._svg_start(tag)
            return
        if tag == "title":
            self._in_title = True
        elif tag in HEADINGS:
            self._in_heading = not self.heading
        if tag in BLOCKS:
            self._break()
        if tag == "pre":
            self._pre += 1

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._note_image(tag, attrs)
        if not self._skip and not self._svg and tag in BLOCKS:  # <br/>, <hr/>, a self-closed <p/> in XHTML
            self._break()

    def handle_endtag(self, tag: str) -> None:
        if self._skip:
            if tag in self._skip:  # close up to the matching element: tolerant of unclosed inner ones
                while self._skip and self._skip.pop() != tag:
                    pass
            return
        if self._svg:
            self._svg_end(tag)
            return
        if tag == "title":
            self._in_title = False
        elif tag in HEADINGS:
            self._in_heading = False
        if tag in BLOCKS:
            self._break()
        if tag == "pre" and self._pre:
            self._pre -= 1

    def handle_data(self, data: str) -> None:
        if self._skip or (self._svg and not self._svg_text):
            return
        if self._in_title:
            self.title = _SPACE.sub(" ", self.title + data).strip()
            return
        if self._in_heading:
            self.heading = _SPACE.sub(" ", self.heading + " " + data).strip()
        if self._pre:
            lines = data.split("\n")
            for line in lines[:-1]:
                self._line.append(line)
                self._break(keep_empty=True)
            self._line.append(lines[-1])
        else:
            self._line.append(data)  # spaces are collapsed once, when the line ends

    def _note_image(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "img":
            target = dict(attrs).get("src")
        elif tag == SVG_IMAGE:
            values = dict(attrs)
            target = values.get("href") or values.get("xlink:href")
        else:
            return
        self.image_count += 1
        if target and len(self.images) < MAX_IMAGES:
            self.images.append(target)

    def _svg_start(self, tag: str) -> None:
        """Inside <svg>, only the content of <text> elements is text; each is a line of its own."""
        if tag == "svg":
            self._svg += 1
        elif tag in SVG_TEXT:
            self._svg_text += 1
            self._break()

    def _svg_end(self, tag: str) -> None:
        if tag == "svg":
            self._svg -= 1
            self._svg_text = 0 if not self._svg else self._svg_text
        elif tag in SVG_TEXT and self._svg_text:
            self._svg_text -= 1
            self._break()

    def _break(self, keep_empty: bool = False) -> None:
        line = "".join(self._line)
        self._line.clear()
        line = line.rstrip() if self._pre else " ".join(line.split())
        if line or keep_empty:
            self._done.append(line + "\n")
