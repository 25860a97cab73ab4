"""Where things are for the tests: the checkout, its fixtures, the venv's tools."""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures"
# The venv's executables, whatever PATH the test runner was started with.
BIN = Path(sys.executable).parent
DVC = str(BIN / "dvc")
