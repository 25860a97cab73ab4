"""How a gramops process ends when its user stops it or stops reading: in one line, or silently.

Ctrl-C exits 130 (128 + SIGINT, what a shell reports for an interrupted command) with one
line on stderr, instead of a traceback from wherever the interrupt landed, most often deep
inside an import. The handler raises :class:`Interrupted`, a ``SystemExit``: the stack
unwinds as for any exception (``finally`` blocks run, locks and temporary files are
released), yet nothing prints a traceback for it.

A reader that closes the pipe early (``gramops gate | head -1``) ends the command with 141
(128 + SIGPIPE, what coreutils tools report when their output is cut) and nothing on
stderr. SIGPIPE itself stays ignored, Python's default, so that a closed *socket* (``gramops
serve``, an MLflow or S3 client) is still an ordinary error, as Python's ``signal`` docs
advise; only stdout's ``BrokenPipeError`` is quiet.
"""

from __future__ import annotations

# stdlib modules the interpreter has loaded already: this runs before anything else loads
import os
import signal
import sys

EXIT_INTERRUPTED = 128 + signal.SIGINT
EXIT_CLOSED_PIPE = 128 + signal.SIGPIPE


class Interrupted(SystemExit):
    """Ctrl-C, as an exit: code 130, no traceback; ``except Exception`` does not swallow it."""

    def __init__(self) -> None:
        super().__init__(EXIT_INTERRUPTED)


def quiet_interrupts(program: str) -> object:
    """Make Ctrl-C print ``<program>: interrupted`` once and exit 130; returns the handler
    it replaced (for :func:`restore_interrupts`). Outside the main thread, where Python
    delivers no signals, it changes nothing and returns None."""
    told = False

    def interrupted(signum: int, frame: object) -> None:
        nonlocal told
        if not told:  # a second Ctrl-C during cleanup still exits, without a second line
            told = True
            sys.stderr.write(f"{program}: interrupted\n")
            sys.stderr.flush()
        raise Interrupted

    try:
        return signal.signal(signal.SIGINT, interrupted)
    except ValueError:  # not the main thread
        return None


def restore_interrupts(previous: object) -> None:
    """Put back the Ctrl-C handler :func:`quiet_interrupts` replaced."""
    if previous is not None:
        signal.signal(signal.SIGINT, previous)


def silence_stdout() -> None:
    """After stdout's reader went away: point stdout at /dev/null, so the interpreter's
    final flush of what is still buffered cannot raise a second ``BrokenPipeError``."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, sys.stdout.fileno())
    finally:
        os.close(devnull)
