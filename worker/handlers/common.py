"""What the built-in handlers share: their errors, safe output files and plain-text statistics."""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from typing import IO

from worker.api import JobContext, PermanentError


class BadFile(PermanentError, ValueError):
    """The input is not what the handler reads (truncated, garbage, the wrong kind): the job fails, not retried."""


class UnsafeFile(BadFile):
    """The input is hostile or exceeds a safety limit (a bomb, an escaping name, an entity): refused."""


_WORD = re.compile(r"\S+")


def require_content(ctx: JobContext, kind: str) -> int:
    """The input's size; an empty file fails at once with a message saying so."""
    size = ctx.input_path.stat().st_size
    if size == 0:
        raise BadFile(f"the file is empty (0 bytes): there is no {kind} to read")
    return size


def quoted(name: str, limit: int = 120) -> str:
    """A member or file name for a message: escaped (no control characters, no surrogates) and short."""
    text = ascii(name) if not name.isprintable() else repr(name)
    return text if len(text) <= limit else text[: limit - 4] + "...'"


@contextlib.contextmanager
def output_file(ctx: JobContext, name: str) -> Iterator[IO[str]]:
    """A UTF-8 text output; see output_stream."""
    with output_stream(ctx, name) as raw, open(raw.fileno(), "w", encoding="utf-8", newline="\n",
                                              closefd=False) as text:
        yield text


@contextlib.contextmanager
def output_stream(ctx: JobContext, name: str) -> Iterator[IO[bytes]]:
    """Write ctx.output_dir/<name> whole or not at all.

    The name is always one of the handler's own constants (never taken from the input), the partial file is
    created exclusively without following links, and it replaces the final name only on success.
    """
    if "/" in name or name in ("", ".", ".."):
        raise ValueError(f"output names are plain file names, got {name!r}")
    final = ctx.output_dir / name
    partial = ctx.output_dir / f".{name}.part"
    with contextlib.suppress(FileNotFoundError):
        partial.unlink()  # left by an attempt that was killed; unlink removes a planted link, not its target
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        with open(fd, "wb") as stream:
            yield stream
        os.replace(partial, final)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            partial.unlink()
        raise


class TextStats:
    """Counts lines, words and characters of text fed in pieces (a word may straddle two pieces)."""

    def __init__(self) -> None:
        self.characters = 0
        self.words = 0
        self.newlines = 0
        self._ended_in_word = False
        self._last = ""

    def feed(self, text: str) -> None:
        if not text:
            return
        self.characters += len(text)
        self.newlines += text.count("\n")
        words = len(_WORD.findall(text))
        if self._ended_in_word and not text[0].isspace():
            words -= 1  # the first word here continues the last one of the previous piece
        self.words += words
        self._ended_in_word = not text[-1].isspace()
        self._last = text[-1]

    @property
    def lines(self) -> int:
        """Lines as an editor counts them: a last line without a newline still counts."""
        return self.newlines + (1 if self._last not in ("", "\n") else 0)

    def to_json(self) -> dict[str, int]:
        return {"lines": self.lines, "words": self.words, "characters": self.characters}


def count_words(text: str) -> int:
    return len(_WORD.findall(text))
