"""`python -m app.cli`: the `huiliu` command."""

import sys

from app.cli import main

sys.exit(main())
