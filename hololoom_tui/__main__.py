"""`python -m hololoom_tui` runs the app."""

from __future__ import annotations

import sys

from hololoom_tui.main import main

sys.exit(main())
