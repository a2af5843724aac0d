"""`python -m dock` is the `dock` command."""

import sys

from dock.cli import main

sys.exit(main())
