"""The live list: model rules on the real window, filters with counts, search, sort, selection, details."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QPoint, Qt, QUrl
from PySide6.QtGui import QDesktopServices, QGuiApplication
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication
from pytestqt.modeltest import ModelTester
from pytestqt.qtbot import QtBot

from dock.filters import FILTERS
from dock.model import Column
from dock.window import MainWindow
from tests.window_support import (
    OFFSCREEN_NOISE,
    Seeded,
    close_window,
    new_job,
    open_window,
    seed_every_state,
    select,
    wait_shown,
    windows,
)
from worker import __version__
from worker.store import Store
from worker.store.states import JobStatus

pytestmark = OFFSCREEN_NOISE


@pytest.fixture
def seeded(store: Store) -> Seeded:
    return seed_every_state(store)


@pytest.fixture
def window(qtbot: QtBot, store: Store, tmp_path: Path, seeded: Seeded) -> Iterator[MainWindow]:
    yield from windows(qtbot, store, tmp_path / "dock.ini")


def wait_ids(qtbot: QtBot, window: MainWindow, ids: list[int]) -> None:
    qtbot.waitUntil(lambda: window.model.ids() == ids)


def test_the_live_model_obeys_qts_rules(qtbot: QtBot, qtmodeltester: ModelTester, window: MainWindow,
                                        store: Store, seeded: Seeded) -> None:
    qtbot.waitUntil(lambda: window.model.rowCount() == 6)
    qtmodeltester.check(window.model)  # the tester stays attached through the live changes below
    (new,) = store.add([new_job("late.txt")])
    store.delete(seeded.completed)
    claim = next(c for c in store.claim(seeded.worker_id, 5) if c.job_id == seeded.pending)
    store.report_progress(seeded.pending, claim.token, 30, "step 3 of 10")
    qtbot.waitUntil(lambda: window.model.rowCount() == 6 and new in window.model.ids())
    wait_shown(qtbot, window, seeded.pending, JobStatus.RUNNING)
    qtmodeltester.check(window.model)


def test_a_refresh_keeps_the_selection_and_the_details(qtbot: QtBot, window: MainWindow, store: Store,
                                                       seeded: Seeded) -> None:
    qtbot.waitUntil(lambda: window.model.rowCount() == 6)
    select(window, seeded.completed)
    qtbot.waitUntil(lambda: window.details.job_id == seeded.completed)
    resets: list[bool] = []
    window.model.modelAboutToBeReset.connect(lambda: resets.append(True))
    new_ids = store.add([new_job(f"more-{i}.txt") for i in range(5)])
    store.delete(seeded.cancelled)
    qtbot.waitUntil(lambda: window.model.ids()[:5] == new_ids[::-1] and seeded.cancelled not in window.model.ids())
    assert window.table.selected_ids() == [seeded.completed]
    assert window.table.current_id() == seeded.completed
    assert window.details.job_id == seeded.completed
    assert not resets, "a refresh is applied as row changes, never as a reset"


def test_state_filter_with_counts(qtbot: QtBot, window: MainWindow, seeded: Seeded) -> None:
    tabs = window.filters.tabs
    qtbot.waitUntil(lambda: tabs.tabText(0) == "All  6")
    texts = [tabs.tabText(i) for i in range(tabs.count())]
    assert texts == ["All  6", "Pending  2", "Running  1", "Completed  1", "Failed  1", "Cancelled  1"]
    tabs.setCurrentIndex(FILTERS.index(JobStatus.FAILED))
    wait_ids(qtbot, window, [seeded.failed])
    tabs.setCurrentIndex(FILTERS.index(JobStatus.PENDING))
    wait_ids(qtbot, window, [seeded.pending, seeded.retrying])
    tabs.setCurrentIndex(0)
    qtbot.waitUntil(lambda: window.model.rowCount() == 6)


def test_search_by_file_name_or_id(qtbot: QtBot, window: MainWindow, seeded: Seeded) -> None:
    qtbot.waitUntil(lambda: window.model.rowCount() == 6)
    QTest.keyClicks(window.filters.search, "INVOICE")
    wait_ids(qtbot, window, [seeded.retrying])
    window.filters.search.setText(f"#{seeded.cancelled}")
    wait_ids(qtbot, window, [seeded.cancelled])
    window.filters.search.setText("no such file")
    wait_ids(qtbot, window, [])
    assert window.table._empty[0] == "No matching jobs"
    window.filters.search.clear()
    qtbot.waitUntil(lambda: window.model.rowCount() == 6)


def test_selection_survives_a_new_filter(qtbot: QtBot, window: MainWindow, seeded: Seeded) -> None:
    qtbot.waitUntil(lambda: window.model.rowCount() == 6)
    select(window, seeded.failed)
    window.filters.search.setText("scan")
    wait_ids(qtbot, window, [seeded.failed])
    assert window.table.selected_ids() == [seeded.failed]


def test_sorting_is_done_by_the_store(qtbot: QtBot, window: MainWindow, store: Store) -> None:
    qtbot.waitUntil(lambda: window.model.rowCount() == 6)
    header = window.table.horizontalHeader()
    x = header.sectionViewportPosition(Column.FILE) + 20
    QTest.mouseClick(header.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                     QPoint(x, header.height() // 2))
    descending = header.sortIndicatorOrder() == Qt.SortOrder.DescendingOrder
    expected = [job.id for job in store.list_jobs(order_by="filename", descending=descending)]
    wait_ids(qtbot, window, expected)
    assert window.poller.query.order_by == "filename"


def test_details_show_every_part_of_a_failed_job(qtbot: QtBot, window: MainWindow, seeded: Seeded) -> None:
    qtbot.waitUntil(lambda: window.model.rowCount() == 6)
    with qtbot.waitSignal(window.details.loaded):
        select(window, seeded.failed)
    details = window.details
    assert details.title.text() == "scan-0042.tiff"
    assert details.fields["Status"].text() == "Failed"
    assert details.fields["Attempts"].text() == "1 of 1"
    assert details.error.text().startswith("ValueError: strip 7 is truncated")
    assert "Traceback" in details.traceback.toPlainText()
    assert details.history.topLevelItemCount() >= 2
    details.copy_error.click()
    copied = QGuiApplication.clipboard().text()
    assert copied.startswith("ValueError") and "Traceback (most recent call last)" in copied


def test_details_show_the_result_and_open_the_output_folder(qtbot: QtBot, window: MainWindow, store: Store,
                                                            seeded: Seeded,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    opened: list[QUrl] = []
    monkeypatch.setattr(QDesktopServices, "openUrl", lambda url: opened.append(url) or True)
    store.data.output_dir(seeded.completed).mkdir(parents=True, exist_ok=True)  # uploads make it at once
    qtbot.waitUntil(lambda: window.model.rowCount() == 6)
    select(window, seeded.completed)
    qtbot.waitUntil(lambda: window.details.title.text() == "quarterly-report.pdf")
    assert window.details.open_output.isEnabled()
    assert '"sha256"' in window.details.result.toPlainText()
    window.details.open_output.click()
    assert opened == [QUrl.fromLocalFile(str(store.data.output_dir(seeded.completed)))]


def test_details_tail_the_job_log_live(qtbot: QtBot, window: MainWindow, store: Store, seeded: Seeded) -> None:
    qtbot.waitUntil(lambda: window.model.rowCount() == 6)
    select(window, seeded.running)
    qtbot.waitUntil(lambda: window.details.title.text() == "annual-accounts-2024.xlsx")
    log = store.data.job_log(seeded.running)
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text("starting\n")
    qtbot.waitUntil(lambda: "starting" in window.details.log.toPlainText(), timeout=3000)
    with log.open("a") as f:
        f.write("page 31 of 50\n")
    qtbot.waitUntil(lambda: "page 31 of 50" in window.details.log.toPlainText(), timeout=3000)


def test_details_say_when_the_job_is_gone(qtbot: QtBot, window: MainWindow, store: Store,
                                          seeded: Seeded) -> None:
    qtbot.waitUntil(lambda: window.model.rowCount() == 6)
    select(window, seeded.completed)
    qtbot.waitUntil(lambda: window.details.title.text() == "quarterly-report.pdf")
    window.poller.pause()  # the list still shows it; the details pane finds out first
    store.delete(seeded.completed)
    qtbot.waitUntil(lambda: "no longer exists" in window.details._empty.text(), timeout=3000)


def test_layout_is_remembered(qtbot: QtBot, store: Store, tmp_path: Path) -> None:
    settings = tmp_path / "layout.ini"
    first = open_window(qtbot, store, settings)
    screen = first.screen().availableGeometry()  # restoreGeometry() keeps a window on its screen
    width, height = screen.width() - 61, screen.height() - 53
    first.resize(width, height)
    first.splitter.setSizes([400, 240])
    first.table.horizontalHeader().resizeSection(Column.HANDLER, 150)
    first.table.horizontalHeader().moveSection(Column.CREATED, 1)
    first.set_concurrency(4)
    sizes = first.splitter.sizes()
    close_window(qtbot, first)
    second = open_window(qtbot, store, settings, size=None)
    assert (second.width(), second.height()) == (width, height)
    assert second.splitter.sizes() == sizes
    assert second.table.horizontalHeader().sectionSize(Column.HANDLER) == 150
    assert second.table.horizontalHeader().visualIndex(Column.CREATED) == 1
    assert second.concurrency == 4
    close_window(qtbot, second)


def test_about_box_shows_the_version_and_does_not_block(qtbot: QtBot, window: MainWindow) -> None:
    box = window.show_about()
    qtbot.waitUntil(box.isVisible)
    assert __version__ in box.text()
    box.close()


def test_empty_store_shows_a_welcome(qtbot: QtBot, store: Store, tmp_path: Path) -> None:
    window = open_window(qtbot, store, tmp_path / "empty.ini")
    assert window.model.rowCount() == 0
    assert window.table._empty[0] == "No jobs yet"
    assert QApplication.activeModalWidget() is None
    close_window(qtbot, window)
