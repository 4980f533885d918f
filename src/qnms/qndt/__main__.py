"""``python -m qnms.qndt``: the QNDT command line until ``qnms qndt`` is wired."""

import sys

from .cli import main

sys.exit(main())
