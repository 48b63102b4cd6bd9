"""`python -m hololoom_core.cli` runs the `hololoom` command."""

from __future__ import annotations

import sys

from hololoom_core.cli.main import main

sys.exit(main())
