"""`python -m bench.pollonly [dock-worker args]`: a worker without its change check, polling once a second only.

What the worker did before it looked at `PRAGMA data_version` every 0.1 s: the cancel-latency figures run it
beside the default, to show what the change check buys and what it costs.
"""

from __future__ import annotations

import sys

from worker.run import cli, loop

if __name__ == "__main__":
    loop.CHANGE_CHECK_S = 3600.0  # one look when the first job starts, then only the 1 s poll
    sys.exit(cli.main(sys.argv[1:]))
