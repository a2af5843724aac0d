"""Start-up: a store that cannot be opened gets a clear message and is left exactly as it was."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from dock.app import APPLICATION, ORGANIZATION, configure, open_store, startup_error
from dock.resources import asset_path
from tests.window_support import open_window
from worker.store import Store
from worker.store.errors import DatabaseLocked


class Shown:
    def __init__(self) -> None:
        self.messages: list[tuple[str, str]] = []

    def __call__(self, title: str, text: str) -> None:
        self.messages.append((title, text))


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file's bytes, but SQLite's shared-memory index (-shm), which any reader may touch."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and not p.name.endswith("-shm")}


def test_a_file_that_is_not_a_database(data_dir: Path) -> None:
    data_dir.mkdir(parents=True)
    (data_dir / "dock.sqlite3").write_bytes(b"these are my holiday notes, not a database\n" * 10)
    before = snapshot(data_dir)
    shown = Shown()
    assert open_store(str(data_dir), shown) is None
    (title, text), = shown.messages
    assert title == "The job store cannot be opened"
    assert "is not a SQLite database" in text and text.endswith("Nothing was deleted or changed.")
    assert snapshot(data_dir) == before


def test_a_database_from_a_newer_version(data_dir: Path) -> None:
    Store(data_dir).close()
    with sqlite3.connect(data_dir / "dock.sqlite3") as db:  # the test plays the newer version
        db.execute("UPDATE alembic_version SET version_num = '9999'")
    before = snapshot(data_dir)
    shown = Shown()
    assert open_store(str(data_dir), shown) is None
    (title, text), = shown.messages
    assert title == "The job store is from a newer version"
    assert "upgrade Processing Dock" in text
    assert snapshot(data_dir) == before


def test_a_locked_database_is_explained() -> None:
    title, text = startup_error(DatabaseLocked("the database x is locked by another program"))
    assert title == "The job store is busy"
    assert "locked by another program" in text and "Nothing was deleted" in text


def test_a_good_store_opens_without_a_message(data_dir: Path) -> None:
    shown = Shown()
    store = open_store(str(data_dir), shown)
    assert store is not None and not shown.messages
    store.close()


def test_application_names_place_the_settings(qtbot: QtBot) -> None:
    app = QApplication.instance()
    assert isinstance(app, QApplication)
    old = (app.organizationName(), app.applicationName(), app.applicationVersion(), app.desktopFileName())
    try:
        configure(app)
        assert (app.organizationName(), app.applicationName()) == (ORGANIZATION, APPLICATION)
        assert app.desktopFileName() == "processing-dock"
        assert not app.windowIcon().isNull()
    finally:
        app.setOrganizationName(old[0])
        app.setApplicationName(old[1])
        app.setApplicationVersion(old[2])
        app.setDesktopFileName(old[3])


def test_the_desktop_file_names_the_command_and_icon() -> None:
    entries = dict(line.split("=", 1) for line in asset_path("processing-dock.desktop").read_text().splitlines()
                   if "=" in line)
    assert entries["Exec"] == "dock" and entries["Type"] == "Application"
    assert entries["Icon"] == "processing-dock"


def test_a_window_whose_database_is_deleted_says_so_and_closes(qtbot: QtBot, store: Store, tmp_path: Path) -> None:
    window = open_window(qtbot, store, tmp_path / "settings.ini")
    told: list[tuple[str, str]] = []
    window.present_fatal = lambda title, text: told.append((title, text))
    for suffix in ("", "-wal", "-shm"):
        Path(f"{store.data.database}{suffix}").unlink(missing_ok=True)
    qtbot.waitUntil(lambda: window.is_shut_down, timeout=10000)
    ((title, text),) = told
    assert title == "The job store is gone"
    assert text.startswith(f"The database {store.data.database} was deleted while this process had it open")
    assert not store.data.database.exists()  # the window wrote nothing more: no new store took its place
