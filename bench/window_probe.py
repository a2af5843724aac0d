"""`python -m bench.window_probe DATA SETTINGS REFRESHES IDLE_S`: the real window over a big store, measured.

Runs in its own process (offscreen Qt) so that its memory and CPU are its own; prints one JSON object.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from functools import partial
from typing import Any

SPAWNED = time.time()  # before Qt is imported: start-up costs count towards the first paint

from PySide6.QtCore import QEventLoop, QSettings, QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from bench.common import cpu_seconds, rss_mib  # noqa: E402
from dock.app import configure  # noqa: E402
from dock.poller import PollResult  # noqa: E402
from dock.window import MainWindow  # noqa: E402
from worker.store import Store  # noqa: E402
from worker.store.states import Action  # noqa: E402


class Probe:
    """Times every poll result the window applies on the GUI thread, plus the repaint it causes."""

    def __init__(self) -> None:
        self.applied: list[tuple[float, int, float]] = []  # (wall time, rows changed, GUI seconds)

    def saw_change_since(self, seen: int, rows: int) -> bool:
        return any(n >= rows for _, n, _ in self.applied[seen:])

    def install(self) -> None:
        original = MainWindow._on_poller_polled
        probe = self

        def timed(window: MainWindow, result: PollResult) -> None:
            started = time.perf_counter()
            original(window, result)
            if result.change is not None:
                window.table.viewport().repaint()  # the frame it causes, painted now rather than later
                changed = len(result.change.rows)
                probe.applied.append((time.time(), changed, time.perf_counter() - started))

        MainWindow._on_poller_polled = timed  # type: ignore[method-assign, assignment]


def wait_for(app: QApplication, condition: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("the window did not get there in time")
        app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 10)
        time.sleep(0.002)  # the probe's own poll of the event loop while it waits


def idle(app: QApplication, seconds: float) -> float:
    """CPU % of this whole process (GUI thread and the poll thread) while the window sits idle."""
    before, started = cpu_seconds(os.getpid()), time.perf_counter()
    QTimer.singleShot(int(seconds * 1000), app.quit)
    app.exec()
    return 100 * (cpu_seconds(os.getpid()) - before) / (time.perf_counter() - started)


def main(data: str, settings_path: str, refreshes: int, idle_seconds: float) -> dict[str, Any]:
    probe = Probe()
    probe.install()
    app = QApplication([])
    configure(app)
    store = Store(data)
    expected = sum(store.counts().values())
    window = MainWindow(store, QSettings(settings_path, QSettings.Format.IniFormat))
    window.resize(1280, 800)
    window.show()
    shown = time.time()
    wait_for(app, lambda: window.model.rowCount() == expected and bool(probe.applied), 120)
    first_paint = probe.applied[0][0]
    rss_loaded = rss_mib(os.getpid())
    top = window.model.ids()[:100]  # the rows on screen, so the repaint has real work
    refresh_ms: list[float] = []
    latency_ms: list[float] = []
    with Store(data) as changer:
        for i in range(refreshes):
            seen = len(probe.applied)
            changer.apply(Action.CANCEL if i % 2 == 0 else Action.RETRY, top, by="bench")
            committed = time.time()
            wait_for(app, partial(probe.saw_change_since, seen, len(top)), 30)
            at, _, gui_s = next(a for a in probe.applied[seen:] if a[1] >= len(top))
            refresh_ms.append(gui_s * 1000)
            latency_ms.append((at - committed) * 1000)
    wait_for(app, lambda: True, 1)
    cpu = idle(app, idle_seconds)
    result = {"shown_s": shown - SPAWNED, "first_paint_s": first_paint - SPAWNED, "rows": window.model.rowCount(),
              "rss_mib": rss_loaded, "refresh_ms": refresh_ms, "latency_ms": latency_ms, "idle_cpu": cpu,
              "first_apply_ms": probe.applied[0][2] * 1000}
    window.shut_down()
    store.close()
    return result


if __name__ == "__main__":
    data_dir, settings_file, count, seconds = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
    print(json.dumps(main(data_dir, settings_file, count, seconds)))
