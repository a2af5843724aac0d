"""Shared fixtures: a real data folder with a real SQLite file, and the real command-line programs."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from worker.store import Backoff, Store

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
