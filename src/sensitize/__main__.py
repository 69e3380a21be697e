"""``python -m sensitize`` runs the command line."""

import sys

from sensitize.cli.main import main

sys.exit(main())
