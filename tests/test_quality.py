"""ruff, the import contract (the engine never imports Qt or the window) and mypy, run as CI runs them."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent  # the tools installed beside this interpreter, as in the venv CI builds


def tool(name: str, *args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / name), *args], cwd=cwd, capture_output=True, text=True, timeout=300,
                          check=False)


def test_ruff() -> None:
    done = tool("ruff", "check", ".")
    assert done.returncode == 0, done.stdout + done.stderr


def test_import_contracts() -> None:
    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    done = tool("lint-imports", "--no-cache")
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{len(contracts)} kept, 0 broken" in done.stdout


@pytest.mark.skipif(not (BIN / "mypy").exists(), reason="mypy is not installed beside this Python")
def test_mypy() -> None:
    done = tool("mypy")
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.fixture
def project_copy(tmp_path: Path) -> Path:
    """The two packages and their configuration, copied, so a test can break them safely."""
    for package in ("worker", "dock"):
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    return tmp_path


@pytest.mark.parametrize("forbidden", ["PySide6.QtCore", "shiboken6", "dock.cli"])
def test_import_contract_fails_when_the_engine_imports_qt_or_the_window(project_copy: Path, forbidden: str) -> None:
    assert tool("lint-imports", "--no-cache", cwd=project_copy).returncode == 0  # the copy itself is clean
    (project_copy / "worker" / "qt_leak.py").write_text(f'"""A leak."""\n\nimport {forbidden}  # noqa: F401\n')
    done = tool("lint-imports", "--no-cache", cwd=project_copy)
    assert done.returncode == 1, done.stdout
    assert "BROKEN" in done.stdout
    assert f"worker.qt_leak -> {forbidden.partition('.')[0]}" in done.stdout  # externals are named by package


LEAKS = {  # (module that gains the import, what it imports, how lint-imports names the leak)
    "a handler reaching into the store": ("worker/handlers/sleep.py", "worker.store",
                                          "worker.handlers.sleep -> worker.store"),
    "the store reaching into the worker process": ("worker/store/rows.py", "worker.run.loop",
                                                   "worker.store.rows -> worker.run.loop"),
    "the handler API reaching into the registry": ("worker/api.py", "worker.registry", "worker.api -> worker.registry"),
    "the command line importing Qt": ("dock/cli.py", "PySide6.QtCore", "dock.cli -> PySide6"),
}


@pytest.mark.parametrize("module, imported, shown", LEAKS.values(), ids=LEAKS.keys())
def test_layer_contracts_fail_when_a_layer_imports_upwards(project_copy: Path, module: str, imported: str,
                                                           shown: str) -> None:
    leaking = project_copy / module
    leaking.write_text(leaking.read_text() + f"\nimport {imported}  # noqa: E402, F401\n")
    done = tool("lint-imports", "--no-cache", cwd=project_copy)
    assert done.returncode == 1, done.stdout
    assert "BROKEN" in done.stdout
    assert shown in done.stdout
