"""`python -m bench.fastpoll SECONDS [dock-worker args]`: a worker whose status poll runs every SECONDS.

An experiment for the cancel-latency figures (what would a faster poll buy, and cost?), not a product option.
"""

from __future__ import annotations

import functools
import sys

from worker import cli, runner

if __name__ == "__main__":
    poll = float(sys.argv[1])
    cli.WorkerConfig = functools.partial(runner.WorkerConfig, poll_interval=poll)  # type: ignore[misc, assignment]
    sys.exit(cli.main(sys.argv[2:]))
