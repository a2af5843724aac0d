"""`python -m worker` is the `dock-worker` command."""

import sys

from worker.run.cli import main

sys.exit(main())
