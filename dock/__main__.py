"""`python -m dock` is the `dock` command."""

import sys

from dock.main import main

sys.exit(main())
