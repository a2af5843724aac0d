"""Hostile and good documents through the real `dock add` and the real worker, all in one worker run.

Every hostile file must end as a failed job with its own message, after one attempt when no retry can help
(and all three when one might: out of memory, out of time), every good one completed, the worker must exit 0
when idle (it survived them all), and nothing outside the job folders may change.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests import docmaker, officemaker, pdfmaker
from tests.conftest import run_dock
from tests.docmaker import RawMember, deflated, raw_zip
from tests.handlerkit import snapshot
from tests.workerkit import WorkerProcess
from worker.handlers.safezip import MiB

MEMORY_LIMIT_MIB = 256  # the 9,400 x 9,400 RGBA image below needs 337 MiB decoded
CHAPTERS = [("One", "<p>one</p>"), ("Two", "<p>two</p>"), ("Three", "<p>three</p>")]
CONTAINER = RawMember("META-INF/container.xml", docmaker.CONTAINER)
BILLION_LAUGHS = ('<?xml version="1.0"?><!DOCTYPE package [<!ENTITY a "lol">'
                  + "".join(f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">' for i in range(9))
                  + ']><package xmlns="http://www.idpf.org/2007/opf"><metadata><title>&j;</title></metadata>'
                  "</package>")


def xxe(url: str) -> bytes:
    return (f'<?xml version="1.0"?><!DOCTYPE c [<!ENTITY x SYSTEM "{url}">]><container><rootfiles>'
            '<rootfile full-path="&x;" media-type="application/oebps-package+xml"/></rootfiles></container>'
            ).encode()


def hostile_files(secret: Path, port: int) -> dict[str, tuple[bytes, str]]:
    """File name -> (content, the job's expected error, or its start when it ends with '...')."""
    ratio = deflated(bytes(10 * MiB))
    bomb = "(a zip bomb?)"
    return {
        "declared.epub": (raw_zip([RawMember("a.xhtml", deflated(b"x"), method=8, size=1 << 30)]),
                          f"zip member 'a.xhtml' declares 1,073,741,824 bytes, over the limit of "
                          f"67,108,864 per member {bomb}"),
        "actual.epub": (raw_zip([RawMember("META-INF/container.xml", deflated(bytes(20 * MiB)), method=8,
                                           size=500)]),
                        f"zip member 'META-INF/container.xml' inflates past the 500 bytes it declares "
                        f"{bomb}"),
        "total.epub": (raw_zip([RawMember(f"p{i}", os.urandom(700_000), method=8, size=60 * MiB)
                                for i in range(5)]),
                       f"the zip's members declare 314,572,820+ bytes in all, over the limit of "
                       f"268,435,456 {bomb}"),
        "ratio.epub": (raw_zip([RawMember("z.xhtml", ratio, method=8, size=10 * MiB)]),
                       "zip member 'z.xhtml' would expand ..."),
        "overlap.epub": (raw_zip([CONTAINER, RawMember("OEBPS/content.opf", offset=1)]),
                         f"zip members 'META-INF/container.xml' and 'OEBPS/content.opf' overlap {bomb}"),
        "climb.epub": (raw_zip([CONTAINER, RawMember("../../../escaped.txt", b"owned")]),
                       "zip member '../../../escaped.txt' has an unsafe name: it climbs out of the "
                       "archive with '..'"),
        "absolute.epub": (raw_zip([CONTAINER, RawMember("/tmp/escaped.txt", b"owned")]),
                          "zip member '/tmp/escaped.txt' has an unsafe name: it is an absolute path"),
        "link.epub": (raw_zip([CONTAINER, RawMember("OEBPS/x.xhtml", b"/etc/passwd", unix_mode=0o120777)]),
                      "zip member 'OEBPS/x.xhtml' is a symbolic link"),
        "crowd.epub": (raw_zip([RawMember(f"f{i}", b"x") for i in range(100_000)]),
                       "the zip has 100,001 members, over the limit of 10,000"),
        "xxe-file.epub": (docmaker.epub_bytes(CHAPTERS, replace={"META-INF/container.xml": xxe(secret.as_uri())}),
                          "'META-INF/container.xml' declares XML entities or external references, "
                          "which are refused (XXE / billion laughs): EntitiesForbidden(name='x', system_id='file:..."),
        "xxe-http.epub": (docmaker.epub_bytes(CHAPTERS, replace={
            "META-INF/container.xml": xxe(f"http://127.0.0.1:{port}/x")}),
                          "'META-INF/container.xml' declares XML entities or external references, "
                          "which are refused (XXE / billion laughs): EntitiesForbidden(name='x', system_id='http:..."),
        "laughs.epub": (docmaker.epub_bytes(CHAPTERS, replace={"OEBPS/content.opf": BILLION_LAUGHS}),
                        "'OEBPS/content.opf' declares XML entities or external references, which are "
                        "refused (XXE / billion laughs): EntitiesForbidden(name='a'..."),
        "truncated.pdf": (pdfmaker.pdf_bytes(["one", "two"])[:300],
                          "not a readable PDF (truncated or damaged, or not a PDF at all): PDFium reports a data "
                          "format error"),
        "garbage.pdf": (b"%PDF-1.7\n" + bytes(range(256)) * 16,
                        "not a readable PDF (truncated or damaged, or not a PDF at all): PDFium reports a data "
                        "format error"),
        "bomb.docx": (raw_zip([RawMember("word/document.xml", deflated(b"x"), method=8, size=1 << 30)],
                              epub_first=False),
                      f"zip member 'word/document.xml' declares 1,073,741,824 bytes, over the limit of 67,108,864 "
                      f"per member {bomb}"),
        "laughs.odt": (officemaker.odt_bytes("<text:p>x</text:p>", replace={"content.xml": BILLION_LAUGHS}),
                       "'content.xml' declares XML entities or external references, which are refused (XXE / "
                       "billion laughs): EntitiesForbidden(name='a'..."),
        "locked.pdf": (pdfmaker.encrypted_pdf_bytes(["secret"], user_password=PASSWORD),
                       "the PDF is encrypted and needs a password (the param `password`): run it again with "
                       "`dock retry ..."),
        "bomb.png": (docmaker.png_header_only(100_000, 100_000),
                     "refused as a decompression bomb: Image size (10000000000 pixels) exceeds limit of "
                     "178956970 pixels, could be decompression bomb DOS attack."),
        "truncated.jpg": (docmaker.jpeg_bytes(600, 400)[:1500],
                          "the image is damaged or truncated: image file is truncated..."),
        "empty.txt": (b"", "the file is empty (0 bytes): there is no data to read"),
        "hog.png": (docmaker.blank_png_bytes(9400, 9400), "out of memory (the handler hit the memory limit)"),
    }


HOSTILE = ("absolute.epub", "actual.epub", "bomb.docx", "bomb.png", "climb.epub", "crowd.epub", "declared.epub",
           "empty.txt", "garbage.pdf", "hog.png", "laughs.epub", "laughs.odt", "link.epub", "locked.pdf",
           "overlap.epub", "ratio.epub", "total.epub", "truncated.jpg", "truncated.pdf", "xxe-file.epub",
           "xxe-http.epub")
SLOW_PDF = "slow.pdf"  # added with --param timeout=1: PDFium takes about 10 s on it
UNLOCKED_PDF = "unlocked.pdf"  # encrypted, added with --param password=...
PASSWORD = "open sesame"
TRANSIENT = {"hog.png", SLOW_PDF}  # out of memory, out of time: the retry policy still applies
MAX_ATTEMPTS = "3"
GOOD: dict[str, tuple[str, dict[str, Any]]] = {  # name -> (handler chosen, part of the expected result)
    "book.epub": ("epub", {"chapters": 3, "title": "A Test Book", "toc_entries": 4}),
    "paper.pdf": ("pdf", {"pages": 2, "title": "A Test PDF"}),
    "page.html": ("text", {"format": "html", "words": 2}),
    "photo.jpg": ("image", {"orientation": 6, "display_width": 20, "display_height": 40}),
    "scan.pdf": ("image", {"format": "PNG"}),  # a PNG with the wrong extension: the content decides
    "latin1.txt": ("text", {"encoding": "cp1252", "words": 2}),
    "odd \udcff name ✓\n.txt": ("text", {"encoding": "utf-8", "words": 3}),  # not UTF-8, with a newline
    "report.docx": ("docx", {"paragraphs": 2, "headings": 1, "words": 4}),
    "notes.odt": ("odt", {"paragraphs": 1, "words": 3}),
    "manga.epub": ("epub", {"chapters": 2, "words": 0, "image_pages": 2, "cover": "OEBPS/1.jpg"}),
    UNLOCKED_PDF: ("pdf", {"encrypted": True, "words": 1}),
}


def good_files() -> dict[str, bytes]:
    return {
        "book.epub": docmaker.epub_bytes(CHAPTERS),
        "paper.pdf": pdfmaker.pdf_bytes(["page one", "page two"]),
        "page.html": b"<html><script>alert(1)</script><style>p{}</style><p>Hello world</p></html>",
        "photo.jpg": docmaker.jpeg_bytes(40, 20, orientation=6),
        "scan.pdf": docmaker.png_bytes(30, 10),
        "latin1.txt": "café crème".encode("cp1252"),
        "odd \udcff name ✓\n.txt": b"three plain words",
        "report.docx": officemaker.docx_bytes(officemaker.w_p("Title here", "berschrift1")
                                              + officemaker.w_p("two words")),
        "notes.odt": officemaker.odt_bytes("<text:p>three more words</text:p>"),
        "manga.epub": docmaker.book_bytes([(f"p{n}", f"{n}.jpg", "image/jpeg", "") for n in (1, 2)], ["p1", "p2"],
                                          {f"{n}.jpg": docmaker.jpeg_bytes(60, 80) for n in (1, 2)}),
    }


@dataclass
class DockRun:
    """The outcome of one worker run over every file."""

    jobs: dict[str, dict[str, Any]]  # file name -> the job as `dock ls --json` shows it
    expected_errors: dict[str, str]
    exit_code: int
    worker: WorkerProcess
    changed_outside: dict[str, Any]
    listener_connections: int


@pytest.fixture(scope="module")
def dock_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DockRun]:
    root = tmp_path_factory.mktemp("e2e")
    sources, data_dir = root / "sources", root / "data"
    sources.mkdir()
    secret = docmaker.make_file(root / "secret.txt", b"TOPSECRET")
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.setblocking(False)
        hostile = hostile_files(secret, listener.getsockname()[1])
        assert sorted(hostile) == sorted(HOSTILE)
        for name, data in [*((n, d) for n, (d, _) in hostile.items()), *good_files().items()]:
            (sources / name).write_bytes(data)
        (sources / SLOW_PDF).write_bytes(pdfmaker.slow_pdf_bytes())
        (sources / UNLOCKED_PDF).write_bytes(pdfmaker.encrypted_pdf_bytes(["secret"], user_password=PASSWORD))
        names = [n for n in sorted(os.listdir(sources)) if n not in (SLOW_PDF, UNLOCKED_PDF)]
        run_dock(data_dir, "add", "--max-attempts", MAX_ATTEMPTS, *(str(sources / n) for n in names), check=True)
        run_dock(data_dir, "add", "--max-attempts", MAX_ATTEMPTS, "--param", "timeout=1", str(sources / SLOW_PDF),
                 check=True)
        run_dock(data_dir, "add", "--param", f"password={PASSWORD}", str(sources / UNLOCKED_PDF), check=True)
        job_dirs = [data_dir / "jobs" / str(job["id"]) for job in _jobs(data_dir)]
        # Each job's input/ must stay as added: only its output/, its attempts' working folders (the one
        # that completes becomes output/) and its log may change.
        database = [data_dir / f"dock.sqlite3{suffix}" for suffix in ("", "-wal", "-shm", "-journal")]
        outside = {*(d / "output" for d in job_dirs), *(d / "attempts" for d in job_dirs),
                   *(d / "job.log" for d in job_dirs), *database,
                   data_dir / "worker.log"}
        before = snapshot(root, outside)
        # Retries at once, so that the transient failures spend their attempts within the test's time.
        env = {**os.environ, "DOCK_RETRY_BASE": "0.05", "DOCK_RETRY_CAP": "0.1"}
        worker = WorkerProcess(data_dir, env, "--exit-when-idle", "--memory-limit", str(MEMORY_LIMIT_MIB),
                               log_path=root / "worker-log.jsonl")
        exit_code = worker.proc.wait(timeout=90)
        after = snapshot(root, {*outside, root / "worker-log.jsonl"})
        changed = {path: (before.get(path), after.get(path)) for path in before.keys() | after.keys()
                   if before.get(path) != after.get(path)}
        try:
            listener.accept()[0].close()
            connections = 1
        except BlockingIOError:
            connections = 0
    expected = {name: error for name, (_, error) in hostile.items()}
    expected[SLOW_PDF] = "timed out after 1 s (the handler's time limit; the job's `timeout` param changes it)"
    yield DockRun({job["filename"]: job for job in _jobs(data_dir)}, {shown(n): e for n, e in expected.items()},
                  exit_code, worker, changed, connections)
    worker.kill()


def shown(name: str) -> str:
    """A file name as the dock shows it: bytes that are not UTF-8 escaped as \\xNN."""
    return os.fsencode(name).decode("utf-8", "backslashreplace")


def _jobs(data_dir: Path) -> list[dict[str, Any]]:
    listed = json.loads(run_dock(data_dir, "ls", "--json", check=True).stdout)
    assert isinstance(listed, list)
    return listed


def test_the_worker_survived_every_file_and_exited_0_when_idle(dock_run: DockRun) -> None:
    assert dock_run.exit_code == 0
    assert dock_run.worker.errors() == []
    assert len(dock_run.jobs) == len(dock_run.expected_errors) + len(GOOD)


def test_nothing_outside_the_job_folders_changed(dock_run: DockRun) -> None:
    assert dock_run.changed_outside == {}
    assert dock_run.listener_connections == 0  # the http: entity was never fetched


@pytest.mark.parametrize("name", [*HOSTILE, SLOW_PDF])
def test_each_hostile_file_failed_with_its_own_message(dock_run: DockRun, name: str) -> None:
    job, expected = dock_run.jobs[shown(name)], dock_run.expected_errors[shown(name)]
    assert job["status"] == "failed", job
    if expected.endswith("..."):
        assert job["error"].startswith(expected[:-3])
    else:
        assert job["error"] == expected
    assert job["attempts"] == (3 if name in TRANSIENT else 1) and job["result"] is None
    assert job["message"].startswith("failed: " if name in TRANSIENT else "not retried: ")


@pytest.mark.parametrize("name", sorted(GOOD))
def test_each_good_file_completed_with_its_handler(dock_run: DockRun, name: str) -> None:
    job = dock_run.jobs[shown(name)]
    handler, expected = GOOD[name]
    assert (job["status"], job["handler"]) == ("completed", handler), job
    assert {key: job["result"][key] for key in expected} == expected
