"""The release workflow's steps (.github/workflows/release.yml), runnable anywhere.

GitHub runs these jobs; the logic lives here so it is tested locally like any code:

  python scripts/release.py check                  # the deploy gate (`gramops gate --check`)
  python scripts/release.py staging [--commit]     # a passing gate moves staging, no human
  python scripts/release.py production -m "why" [--commit]
                                                   # after approval: staging's model -> production

`staging` promotes the gate's candidate when the decision is `promote` and does nothing
(exit 0, saying why) otherwise. `production` promotes the model `staging` holds, which
`gramops promote` refuses unless the gate's fresh decision approved exactly that model;
the workflow runs it in a protected environment, so a person approves it, and the reason
they give goes into the audit log. `--commit` commits the registry's git-tracked
metadata, so the promotion is reviewable as a commit. Exit codes: 0 done (or nothing to
do), 1 refused, 2 bad input.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

REGISTRY = Path("models/registry")
GATE = Path("metrics/gate.json")


def _gramops(*args: str) -> int:
    bin_dir = Path(sys.executable).parent
    exe = bin_dir / "gramops"
    command = [str(exe)] if exe.exists() else [sys.executable, "-m", "gramops.cli"]
    return subprocess.run([*command, *args], check=False).returncode


def _commit(message: str) -> None:
    subprocess.run(["git", "add", "--", str(REGISTRY)], check=True)
    staged = subprocess.run(["git", "diff", "--cached", "--quiet", "--", str(REGISTRY)])
    if staged.returncode == 0:
        sys.stdout.write("registry unchanged: nothing to commit\n")
        return
    subprocess.run(["git", "commit", "-q", "-m", message, "--", str(REGISTRY)], check=True)
    sys.stdout.write(f"committed: {message}\n")


def _commit_ref() -> str:
    sha = os.environ.get("GITHUB_SHA")
    if sha:
        return sha[:12]
    out = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], capture_output=True, text=True)
    return out.stdout.strip() or "unknown"


def check(_args: argparse.Namespace) -> int:
    return _gramops("gate", "--check")


def staging(args: argparse.Namespace) -> int:
    if not GATE.is_file():
        sys.stderr.write(f"{GATE} not found: run `dvc repro` first\n")
        return 2
    gate = json.loads(GATE.read_text(encoding="utf-8"))
    if gate.get("decision") != "promote":
        sys.stdout.write(
            f"staging unchanged: the gate's decision is {gate.get('decision')!r} "
            f"({'; '.join(gate.get('reasons') or [])})\n"
        )
        return 0
    candidate = gate["candidate"]
    reason = f"CI: the gate approved {candidate[:12]} at commit {_commit_ref()}"
    code = _gramops("promote", candidate, "--alias", "staging", "-m", reason)
    if code == 0 and args.commit:
        _commit(f"Release: staging -> {_released('staging')} ({reason})")
    return code


def production(args: argparse.Namespace) -> int:
    reason = (args.reason or "").strip()
    if not reason:
        sys.stderr.write('production needs a reason: -m "why" (the approver\'s words)\n')
        return 2
    code = _gramops("promote", "staging", "--alias", "production", "-m", reason)
    if code == 0 and args.commit:
        _commit(f"Release: production -> {_released('production')} ({reason})")
    return code


def _released(alias: str) -> str:
    """``family semver (sha12)`` of the model an alias holds, for commit messages."""
    aliases = json.loads((REGISTRY / "aliases.json").read_text(encoding="utf-8"))
    sha = aliases[alias]
    entry = json.loads((REGISTRY / "entries" / f"{sha}.json").read_text(encoding="utf-8"))
    tags = json.loads((REGISTRY / "tags.json").read_text(encoding="utf-8"))
    semvers = sorted(v for v, s in tags.items() if s == sha)
    return f"{entry['family']} {', '.join(semvers) or 'untagged'} ({sha[:12]})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="step", required=True)
    sub.add_parser("check", help="the deploy gate").set_defaults(func=check)
    p = sub.add_parser("staging", help="move staging to the gate's approved candidate")
    p.add_argument("--commit", action="store_true", help="commit the registry metadata")
    p.set_defaults(func=staging)
    p = sub.add_parser("production", help="promote staging's model to production")
    p.add_argument("-m", "--reason", required=True)
    p.add_argument("--commit", action="store_true", help="commit the registry metadata")
    p.set_defaults(func=production)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
