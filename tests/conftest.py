"""Shared fixtures: a real data folder with a real SQLite file, and the real command-line programs."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from worker.store import Backoff, Store
from worker.store.rows import NewJob
from worker.store.states import JobStatus

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def store(data_dir: Path) -> Iterator[Store]:
    with Store(data_dir, backoff=Backoff(base=0.05, cap=0.2)) as s:
        yield s


def run_dock(data_dir: Path, *args: str, check: bool = False) -> subprocess.CompletedProcess[str]:
    """Run the real `dock` command line (python -m dock) against `data_dir`."""
    return subprocess.run(
        [sys.executable, "-m", "dock", "--data-dir", str(data_dir), *args],
        capture_output=True, text=True, check=check, timeout=60,
    )


@pytest.fixture
def sample_file(tmp_path: Path) -> Path:
    path = tmp_path / "sample.txt"
    path.write_text("hello dock\n")
    return path


def new_job(name: str = "in.txt", max_attempts: int = 3, handler: str = "checksum") -> NewJob:
    """A job description with no uploaded file (for tests of the state machine alone)."""
    return NewJob(handler, name, None, name, 0, {}, max_attempts)


def job_in(store: Store, status: JobStatus, max_attempts: int = 3) -> tuple[int, str | None]:
    """A job brought to `status` through the store's real transitions; returns its id and claim token.

    It claims the oldest due job, so make running, completed and failed jobs before any pending ones.
    """
    (job_id,) = store.add([new_job(max_attempts=max_attempts)])
    if status is JobStatus.PENDING:
        return job_id, None
    if status is JobStatus.CANCELLED:
        store.cancel(job_id)
        return job_id, None
    (claim,) = store.claim("test-worker")
    assert claim.job_id == job_id
    if status is JobStatus.COMPLETED:
        assert store.complete(job_id, claim.token, {"ok": True}, "test-worker")
    elif status is JobStatus.FAILED:
        outcome = store.fail(job_id, claim.token, "boom", "Traceback: boom", "test-worker")
        while outcome != "failed":  # spend the remaining attempts the way a user would
            outcome = store.force_fail(job_id).rsplit(" ", 1)[-1]
    return job_id, claim.token
