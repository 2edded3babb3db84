"""``python -m transferkit`` runs the command-line tool."""

import sys

from transferkit.cli import main

sys.exit(main())
