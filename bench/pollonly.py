"""`python -m bench.pollonly [dock-worker args]`: a worker without its change check, polling once a second only.

What the worker did before it looked at `PRAGMA data_version` every 0.1 s: the cancel-latency figures run it
beside the default, to show what the change check buys and what it costs.
"""

from __future__ import annotations

import sys
from dataclasses import replace

from worker.run import cli

if __name__ == "__main__":
    args = cli.build_parser().parse_args(sys.argv[1:])
    # One look when the first job starts, then only the 1 s poll.
    sys.exit(cli.run(args, replace(cli.config_from(args), change_check=3600.0)))
