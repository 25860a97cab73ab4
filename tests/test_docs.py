"""The runbooks stay true: their gramops commands parse with the real CLI, their links resolve."""

import contextlib
import io
import re
import shlex
from pathlib import Path

import pytest

from gramops.cli import build_parser
from helpers.paths import ROOT

RUNBOOKS = ROOT / "docs" / "runbooks"
EXPECTED = {
    "rollback.md",
    "reproduce.md",
    "drift-alarm.md",
    "verify-failures.md",
    "server-serves-old-model.md",
    "reload-failed.md",
}
FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.S | re.M)
INLINE = re.compile(r"`(gramops [^`]+)`")
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def _runbooks() -> list[Path]:
    return sorted(RUNBOOKS.glob("*.md"))


def gramops_commands(markdown: str) -> list[str]:
    """Every gramops command line: in code blocks (with or without a `$ ` prompt) and inline."""
    commands = []
    for block in FENCE.findall(markdown):
        for line in block.splitlines():
            line = line.removeprefix("$ ").strip()
            if line.startswith("gramops "):
                commands.append(line)
    prose = FENCE.sub("", markdown)
    commands += INLINE.findall(prose)
    return commands


def _parse(command: str) -> None:
    """Parse with the real parser; argparse reports errors by SystemExit."""
    # the gramops part of a shell line: before a pipe, list, redirection or comment
    words = shlex.split(re.split(r";|\s(?:\|\|?|&&|2?>|#)", command)[0])[1:]
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr):
        try:
            build_parser().parse_args(words)
        except SystemExit as exc:
            pytest.fail(f"`{command}` does not parse: {stderr.getvalue().strip()} ({exc})")


def test_every_runbook_exists():
    assert {p.name for p in _runbooks()} >= EXPECTED


def test_the_extractor_finds_prompted_bare_and_inline_commands():
    text = "Run `gramops rollback`.\n```console\n$ gramops registry verify; echo $?\nok\n```\n"
    text += "```sh\ngramops lineage v0.2.0\n```\n"
    assert gramops_commands(text) == [
        "gramops registry verify; echo $?",
        "gramops lineage v0.2.0",
        "gramops rollback",
    ]


@pytest.mark.parametrize("runbook", _runbooks(), ids=lambda p: p.name)
def test_gramops_commands_parse(runbook):
    commands = gramops_commands(runbook.read_text(encoding="utf-8"))
    assert commands, f"{runbook.name} shows no gramops command"
    for command in commands:
        _parse(command)


def test_shell_around_a_command_is_ignored_but_a_wrong_command_is_caught():
    _parse("gramops gate --check; echo $?")
    _parse("gramops registry verify --json | jq .ok  # comment")
    with pytest.raises(pytest.fail.Exception, match="does not parse"):
        _parse("gramops registry rollback")
    with pytest.raises(pytest.fail.Exception, match="does not parse"):
        _parse("gramops reproduce && echo done")


@pytest.mark.parametrize("runbook", _runbooks(), ids=lambda p: p.name)
def test_relative_links_resolve(runbook):
    for target in LINK.findall(runbook.read_text(encoding="utf-8")):
        if re.match(r"[a-z]+:", target) or target.startswith("#"):
            continue
        path = (runbook.parent / target.split("#")[0]).resolve()
        assert path.exists(), f"{runbook.name}: link {target} does not resolve"
        assert ROOT in path.parents, f"{runbook.name}: link {target} leaves the repository"
