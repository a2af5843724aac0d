"""The plain text of HTML with the standard library's parser: no scripts, no styles, a line per block."""

from __future__ import annotations

import re
from html.parser import HTMLParser

# Elements whose content is not text a reader sees.
SKIPPED = frozenset({"script", "style", "template", "noscript", "svg", "math", "object", "iframe", "select"})
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


class HTMLText(HTMLParser):
    """Feed HTML in pieces; take() the finished text as it comes.

    Attributes:
        title: the text of the document's <title>, if any.
        heading: the text of its first heading (h1-h6), if any.
    """

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.title = ""
        self.heading = ""
        self._skip: list[str] = []  # open skipped elements, innermost last
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
        if self._skip:
            if tag == self._skip[-1] or tag in SKIPPED:
                self._skip.append(tag)
            return
        if tag in SKIPPED:
            if tag not in VOID:
                self._skip.append(tag)
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
        if not self._skip and tag in BLOCKS:  # <br/>, <hr/>, and a self-closed <p/> seen in XHTML
            self._break()

    def handle_endtag(self, tag: str) -> None:
        if self._skip:
            if tag in self._skip:  # close up to the matching element: tolerant of unclosed inner ones
                while self._skip and self._skip.pop() != tag:
                    pass
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
        if self._skip:
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
            self._line.append(_SPACE.sub(" ", data))

    def _break(self, keep_empty: bool = False) -> None:
        line = "".join(self._line)
        self._line.clear()
        line = line.rstrip() if self._pre else line.strip()
        if line or keep_empty:
            self._done.append(line + "\n")


def html_to_text(html: str) -> tuple[str, HTMLText]:
    """The whole text of an HTML document, and the parser (for its title and first heading)."""
    parser = HTMLText()
    parser.feed(html)
    return parser.take() + parser.finish(), parser
