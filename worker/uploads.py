"""Turning files on disk into staged uploads: safe opens, copies under a temporary name, clear refusals."""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from worker.registry import SNIFF_BYTES, Registry
from worker.store import DEFAULT_MAX_ATTEMPTS
from worker.store.errors import DockError
from worker.store.layout import DataDir
from worker.store.rows import NewJob

DEFAULT_MAX_UPLOAD_BYTES = 2 << 30
ENV_MAX_UPLOAD = "DOCK_MAX_UPLOAD_BYTES"
COPY_CHUNK = 1 << 20


@dataclass(frozen=True, slots=True)
class Refusal:
    """A path that did not become a job, and why (one line, for the user)."""

    path: str
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


class Refused(Exception):
    pass


def max_upload_bytes() -> int:
    """The size cap of one added file: $DOCK_MAX_UPLOAD_BYTES, else 2 GiB. A value that is not a whole number
    of bytes is an error, not silently the default: the user set it for a reason."""
    value = os.environ.get(ENV_MAX_UPLOAD)
    if value is None or value == "":
        return DEFAULT_MAX_UPLOAD_BYTES
    if not (value.isascii() and value.isdigit()) or int(value) < 1:
        raise DockError(f"{ENV_MAX_UPLOAD} must be a whole number of bytes above 0 (such as 1073741824 for "
                        f"1 GiB), got {value!r}; nothing was added")
    return int(value)


def display_name(name: str) -> tuple[str, bytes | None]:
    """The name to show and store as text, plus its exact bytes when they are not valid UTF-8."""
    raw = os.fsencode(name)
    try:
        return raw.decode("utf-8"), None
    except UnicodeDecodeError:
        return raw.decode("utf-8", "backslashreplace"), raw


INSIDE_DATA = "refused: it is inside the dock's own data folder (its jobs' inputs and outputs are not new files)"


def _inside(path: Path, folder: Path | None) -> bool:
    """Is `path` (by its real location, links in its parents followed) `folder` or inside it?"""
    if folder is None:
        return False
    real = Path(os.path.realpath(path.parent)) / path.name
    return real == folder or folder in real.parents


def expand(paths: Iterable[str | os.PathLike[str]], data_root: Path | None = None) -> tuple[list[Path], list[Refusal]]:
    """Files to add: folders are expanded to the files in them (symlinks are never followed). Nothing inside
    `data_root` (the dock's own folder) is taken, even from a folder that holds it (a home folder, say)."""
    files: list[Path] = []
    refused: list[Refusal] = []
    for given in paths:
        path = Path(given)
        try:
            mode = path.lstat().st_mode
        except OSError as error:
            refused.append(Refusal(str(path), error.strerror or str(error)))
            continue
        if _inside(path, data_root):
            refused.append(Refusal(str(path), INSIDE_DATA))
        elif stat.S_ISDIR(mode):
            _walk(path, files, refused, data_root)
        else:
            files.append(path)
    return files, refused


def _walk(folder: Path, files: list[Path], refused: list[Refusal], data_root: Path | None) -> None:
    """The files under `folder` in name order. A symlinked folder is listed, to be refused, never followed."""

    def on_error(error: OSError) -> None:
        refused.append(Refusal(str(error.filename), error.strerror or str(error)))

    for root, dirs, names in os.walk(folder, onerror=on_error):
        dirs.sort()
        for name in [d for d in dirs if _inside(Path(root) / d, data_root)]:
            dirs.remove(name)  # the dock's own folder, inside the one given: one line, not a line per file
            refused.append(Refusal(str(Path(root) / name), INSIDE_DATA))
        # os.walk lists links to folders among the folders and skips them silently; the user must hear why.
        links = [name for name in dirs if (Path(root) / name).is_symlink()]
        for name in links:
            dirs.remove(name)
        files.extend(Path(root) / name for name in sorted([*links, *names]))


def _kind(mode: int) -> str:
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISDIR(mode):
        return "a folder"
    return "not a regular file"


def _open_regular(path: Path, limit: int) -> tuple[int, int]:
    """Open without following symlinks or blocking on FIFOs, then check what was really opened."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as error:
        if path.is_symlink():
            raise Refused("refused: a symbolic link (add the file it points to instead)") from error
        raise Refused(f"cannot read it: {error.strerror}") from error
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        raise Refused(f"refused: {_kind(info.st_mode)}, not a regular file")
    if info.st_size > limit:
        os.close(fd)
        raise Refused(f"refused: {info.st_size:,} bytes is over the upload limit of {limit:,} bytes")
    os.set_blocking(fd, True)
    return fd, info.st_size


def stage_file(data: DataDir, path: Path, limit: int) -> tuple[Path, str, int, bytes]:
    """Copy one file into staging/<uuid>/input/ under a temporary name, then rename it.

    Returns the staging folder, the stored input name, the size and the first bytes (for choosing a
    handler from the copy, which cannot change under us).
    """
    fd, _ = _open_regular(path, limit)  # the size that counts is what was copied
    name, _ = display_name(path.name)
    staged = data.staging / uuid.uuid4().hex
    staged.mkdir(mode=0o700)
    (staged / "input").mkdir(mode=0o700)
    (staged / "output").mkdir(mode=0o700)
    (staged / "attempts").mkdir(mode=0o700)  # so starting each attempt is one mkdir
    partial = staged / "input" / ".upload.part"
    try:
        with os.fdopen(fd, "rb") as source, partial.open("wb") as target:
            head = source.read(SNIFF_BYTES)
            target.write(head)
            copied = len(head)
            while chunk := source.read(COPY_CHUNK):
                copied += len(chunk)
                if copied > limit:
                    raise Refused(f"refused: grew past the upload limit of {limit:,} bytes while copying")
                target.write(chunk)
            target.flush()
            os.fsync(target.fileno())
        partial.rename(staged / "input" / name)
    except BaseException:
        shutil.rmtree(staged, ignore_errors=True)
        raise
    return staged, name, copied, head


def prepare(
    data: DataDir,
    paths: Iterable[str | os.PathLike[str]],
    registry: Registry,
    handler: str | None = None,
    params: dict[str, str] | None = None,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    limit: int | None = None,
    on_file: Callable[[int, int], None] | None = None,
) -> tuple[list[NewJob], list[Refusal]]:
    """Stage every file and describe its job; what cannot be added is refused with a reason."""
    limit = max_upload_bytes() if limit is None else limit
    files, refused = expand(paths, data.root)
    new_jobs: list[NewJob] = []
    try:
        for index, path in enumerate(files, 1):
            try:
                staged, name, size, head = stage_file(data, path, limit)
            except Refused as why:
                refused.append(Refusal(str(path), str(why)))
                continue
            except OSError as error:
                refused.append(Refusal(str(path), f"cannot copy it: {error.strerror or error}"))
                continue
            chosen = handler or registry.choose(staged / "input" / name, head)
            filename, raw = display_name(path.name)
            new_jobs.append(NewJob(chosen, filename, raw, name, size, dict(params or {}), max_attempts,
                                   str(staged)))
            if on_file is not None:
                on_file(index, len(files))
    except BaseException:  # Ctrl-C or a failing callback: the copies made so far will never be jobs
        discard(new_jobs)
        raise
    return new_jobs, refused


def discard(new_jobs: Iterable[NewJob]) -> None:
    """Remove staged copies that will not become jobs (the add failed)."""
    for nj in new_jobs:
        if nj.staged:
            with contextlib.suppress(OSError):
                shutil.rmtree(nj.staged)
