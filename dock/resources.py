"""The packaged assets (SVG icons, the .desktop file), found next to this module wherever it is installed."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from PySide6.QtGui import QIcon, QPixmap

ASSETS = Path(__file__).with_name("assets")


def asset_path(name: str) -> Path:
    """The path of one asset; a missing asset is a packaging bug, so it fails loudly."""
    path = ASSETS / name
    if not path.is_file():
        raise FileNotFoundError(f"asset {name!r} is missing from {ASSETS} (check the package data)")
    return path


@cache
def icon(name: str) -> QIcon:
    """An SVG icon by its file stem ("retry" for assets/retry.svg), loaded once."""
    return QIcon(str(asset_path(f"{name}.svg")))


def pixmap(name: str, size: int) -> QPixmap:
    """An icon rendered at `size` logical pixels (sharp on high-DPI screens too)."""
    return icon(name).pixmap(size, size)
