"""``python -m gramops.cli``: the command line where the console script is not installed."""

import sys

from gramops.cli import main

sys.exit(main())
