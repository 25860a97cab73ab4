"""Quiet ends: Ctrl-C anywhere in a stage or a command exits 130 with one line; a reader
that stops early gets no traceback. Interrupts are delivered deterministically: an import
hook sends SIGINT at the moment a named module starts importing, where a real Ctrl-C most
often lands (pydantic, the registry)."""

import os
import signal
import subprocess
import sys

import pytest

from gramops.core.exits import EXIT_CLOSED_PIPE, EXIT_INTERRUPTED
from helpers.paths import ROOT

# Runs a script as `python SCRIPT ARGS` would, after arranging a SIGINT when MODULE imports.
INTERRUPT_DURING_IMPORT = """
import os, runpy, signal, sys
module, script, *args = sys.argv[1:]

class Interrupt:
    def find_spec(self, name, path=None, target=None):
        if name == module:
            os.kill(os.getpid(), signal.SIGINT)
        return None

sys.meta_path.insert(0, Interrupt())
sys.argv = [script, *args]
if script == "-m":
    sys.argv = ["gramops", *args[1:]]
    runpy.run_module(args[0], run_name="__main__", alter_sys=True)
else:
    runpy.run_path(script, run_name="__main__")
"""


def _env():
    return {**os.environ, "PYTHONPATH": str(ROOT / "src")}


def _interrupted(module: str, *command: str, cwd=ROOT) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", INTERRUPT_DURING_IMPORT, module, *command],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        env=_env(),
    )


@pytest.mark.parametrize("module", ["pydantic", "gramops.registry.store"])
def test_ctrl_c_while_a_stage_imports_exits_130_in_one_line(tmp_path, module):
    done = _interrupted(module, str(ROOT / "stages" / "gate.py"), cwd=tmp_path)
    assert done.returncode == EXIT_INTERRUPTED, done.stderr
    assert done.stderr == "stage gate: interrupted\n"


@pytest.mark.parametrize("module", ["pydantic", "gramops.registry.store"])
def test_ctrl_c_while_the_cli_imports_exits_130_in_one_line(module):
    done = _interrupted(module, "-m", "gramops.cli", "registry", "list")
    assert done.returncode == EXIT_INTERRUPTED, done.stderr
    assert done.stderr == "gramops: interrupted\n"


def test_ctrl_c_while_a_command_runs_exits_130_in_one_line(monkeypatch, capsys):
    from gramops.cli import inspection, main

    def interrupted(args):
        os.kill(os.getpid(), signal.SIGINT)
        raise AssertionError("the interrupt should have ended the command")

    monkeypatch.setattr(inspection, "check_params", interrupted)
    assert main(["check-params"]) == EXIT_INTERRUPTED
    assert capsys.readouterr().err == "gramops: interrupted\n"
    # the handler is the caller's again afterwards
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


@pytest.mark.parametrize("command", [["gate"], ["registry", "list"]])
def test_a_closed_stdout_ends_quietly_with_141(command):
    read, write = os.pipe()
    os.close(read)  # the reader is gone before the first byte: `gramops gate | head -0`
    try:
        done = subprocess.run(
            [sys.executable, "-m", "gramops.cli", *command],
            cwd=ROOT,
            stdout=write,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
            env=_env(),
        )
    finally:
        os.close(write)
    assert (done.returncode, done.stderr) == (EXIT_CLOSED_PIPE, "")
