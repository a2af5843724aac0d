"""The PySide6 pin: 6.12.0 crashes Python 3.11 after a few thousand signal emissions, so 3.11 stays on 6.11."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from importlib.metadata import version
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

HAMMER = """
from PySide6.QtCore import QCoreApplication, QObject, QTimer, Signal


class Emitter(QObject):
    fired = Signal(int)
    bare = Signal()


app = QCoreApplication([])
emitter = Emitter()
seen = []
emitter.fired.connect(seen.append)
for i in range(50_000):
    emitter.fired.emit(i)  # each emit returned a reference to True that 6.12.0 dropped on 3.11
    emitter.bare.emit()
timer = QTimer()
for i in range(20_000):
    emitter.setObjectName("e")  # a Qt method that returns nothing: the None that 6.12.0 dropped
    timer.stop()
assert len(seen) == 50_000, len(seen)
print("survived")
"""


def test_fifty_thousand_signals_do_not_crash_the_interpreter() -> None:
    done = subprocess.run([sys.executable, "-c", HAMMER], capture_output=True, text=True, timeout=120, check=False,
                          env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    assert (done.returncode, done.stdout) == (0, "survived\n"), done.stderr[-2000:]


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="the crash is specific to Python 3.11")
def test_python_311_runs_pyside_6_11() -> None:
    import PySide6

    assert version("PySide6-Essentials").startswith("6.11.")
    assert PySide6.__version__.startswith("6.11.")


def test_the_pin_is_declared_per_python_version() -> None:
    dependencies = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    pyside = sorted(d.replace(" ", "") for d in dependencies if d.lower().startswith("pyside6"))
    assert pyside == ["PySide6-Essentials==6.11.3;python_version<'3.12'",
                      "PySide6-Essentials>=6.12.0,<6.13;python_version>='3.12'"]
