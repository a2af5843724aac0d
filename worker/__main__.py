"""`python -m worker` is the `dock-worker` command."""

import sys

from worker.cli import main

sys.exit(main())
