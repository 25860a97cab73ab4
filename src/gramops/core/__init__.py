"""Shared ground every stage stands on: errors, atomic file I/O, params, stage wiring."""

# The code version every model manifest records (pyproject.toml carries the same number).
__version__ = "0.1.0"
