"""The bench's own handler, installed as a real plugin distribution beside the tests' `noop` (tests/workerkit.py)."""

from __future__ import annotations

from pathlib import Path

from tests.workerkit import install_test_plugins

PLUGIN_MODULE = '''
"""A handler for the cancel-latency benchmark."""
import threading

from worker.api import handler


@handler()
def quiet(ctx):
    """Checks for cancellation every 20 ms and never reports progress: only the status poll can stop it."""
    pause = threading.Event()
    for _ in range(int(float(ctx.params.get("seconds", "60")) * 50)):
        ctx.check()
        pause.wait(0.02)  # sleep-ok: simulated work between checks
    return {"ok": True}
'''
ENTRY_POINTS = "[dock.handlers]\nquiet = dock_bench_plugins:quiet\n"


def install(site: Path) -> dict[str, str]:
    """The tests' plugins (noop, ...) plus `quiet`, in one site folder; returns the environment that sees them."""
    env = install_test_plugins(site)
    (site / "dock_bench_plugins.py").write_text(PLUGIN_MODULE)
    info = site / "dock_bench_plugins-1.0.dist-info"
    info.mkdir(exist_ok=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: dock-bench-plugins\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(ENTRY_POINTS)
    return env
