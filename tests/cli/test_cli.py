import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from gramops.cli import main
from gramops.core.fileio import write_json
from gramops.models.bundle import save_bundle
from gramops.models.identity import canonical_sha
from gramops.registry.store import Registry
from gramops.release.policy import gate_digest

ROOT = Path(__file__).resolve().parents[2]


def test_sha_prints_the_canonical_sha(tmp_path, capsys):
    save_bundle(
        tmp_path,
        "model.safetensors",
        {"w": np.ones(3, np.float32)},
        {"family": "fp32"},
        {"parent_sha": None},
    )
    write_json(tmp_path / "eval_report.json", {"x": 1})
    assert main(["sha", str(tmp_path)]) == 0
    assert capsys.readouterr().out == f"{canonical_sha(tmp_path)}  {tmp_path}\n"
    assert main(["sha", "--manifest", str(tmp_path)]) == 0
    assert '"parent_sha": null' in capsys.readouterr().out


def test_errors_are_one_line_and_exit_2(tmp_path, capsys):
    assert main(["sha", str(tmp_path)]) == 2
    assert "exactly one weights file" in capsys.readouterr().err
    (tmp_path / "params.yaml").write_text("train: {hidden: x}\n")
    assert main(["check-params", str(tmp_path / "params.yaml")]) == 2
    assert "train.hidden" in capsys.readouterr().err


@pytest.fixture(autouse=True)
def _no_mlflow(tmp_path, monkeypatch):
    """promote and rollback sync an existing MLflow store: never the workspace's from here."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/no-mlflow/mlflow.db")


def _first_line(capsys) -> str:
    """What an act printed first (a line about MLflow follows it)."""
    return capsys.readouterr().out.splitlines()[0]


def _registered_bundle(path, seed=1.0):
    save_bundle(
        path,
        "model.safetensors",
        {"W1": np.full((2, 2), seed, np.float32)},
        {"family": "fp32"},
        {"family": "fp32", "parent_sha": None, "corpus": {"dvc_hash": "ab" * 16 + ".dir"}},
    )
    write_json(
        path / "eval_report.json", {"domains": {"verb": {"strict_accuracy": 0.8, "pass_rate": 0.9}}}
    )
    return path


def _register(reg: list[str], bundle, *extra: str) -> int:
    """`gramops registry register` of an FP32 bundle (by its SHA: it binds no semver)."""
    args = ["registry", "register", str(bundle), "--family", "fp32"]
    return main([*reg, *args, *extra])


def _parse_error(argv: list[str], capsys) -> str:
    """What argparse says about a command line it refuses (it exits with 2)."""
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    return capsys.readouterr().err


def test_registry_commands_end_to_end(tmp_path, capsys):
    reg = ["--registry", str(tmp_path / "reg")]
    bundle = _registered_bundle(tmp_path / "b")
    sha = canonical_sha(bundle)
    assert _register(reg, bundle, "--dry-run") == 0
    assert capsys.readouterr().out == f"would register: fp32 untagged {sha}\n"
    assert not (tmp_path / "reg" / "index.jsonl").exists()
    assert _register(reg, bundle) == 0
    assert capsys.readouterr().out == f"registered: fp32 untagged {sha}\n"
    assert not (tmp_path / "reg" / "tags.json").exists()  # registering binds no semver
    # the semver-binding command is `registry tag` now; the old options are gone
    assert "first-semver" in _parse_error(
        [*reg, "registry", "register", str(bundle), "--family", "fp32", "--first-semver", "v0.1.0"],
        capsys,
    )
    assert "invalid choice: 'promote'" in _parse_error(
        [*reg, "registry", "promote", sha, "v0.1.0"], capsys
    )
    assert main([*reg, "registry", "tag", sha[:12], "v0.1.0", "-m", "first build"]) == 0
    assert capsys.readouterr().out == f"v0.1.0 -> {sha[:12]}\n"
    assert _register(reg, bundle) == 0
    assert capsys.readouterr().out == f"already registered: fp32 v0.1.0 {sha}\n"
    other = _registered_bundle(tmp_path / "c", seed=2.0)
    assert _register(reg, other) == 0
    assert main([*reg, "registry", "tag", canonical_sha(other), "v0.1.1"]) == 0
    capsys.readouterr()
    # production and staging move only by a promotion; other aliases are labels
    for gated in ("production", "staging"):
        assert main([*reg, "registry", "alias", gated, "v0.1.0"]) == 2
        assert "moves only by a promotion" in capsys.readouterr().err
    assert main([*reg, "registry", "alias", "challenger", "v0.1.0"]) == 0
    assert main([*reg, "registry", "alias", "challenger", "v0.1.1"]) == 0
    capsys.readouterr()
    no_params = ["--params", str(tmp_path / "absent.yaml")]
    assert main([*reg, "rollback", "--alias", "challenger", *no_params]) == 2
    assert "a rollback needs a reason" in capsys.readouterr().err
    assert (
        main([*reg, "rollback", "--alias", "challenger", "-m", "v0.1.1 is worse", *no_params]) == 0
    )
    assert _first_line(capsys).endswith(f"-> {sha[:12]} (v0.1.0)")
    assert main([*reg, "lineage", "challenger"]) == 0
    assert capsys.readouterr().out.strip().endswith("corpus " + "ab" * 16 + ".dir")
    assert main([*reg, "registry", "tag", "v0.1.1", "v0.1.0"]) == 2
    assert "semver already mapped to a different SHA" in capsys.readouterr().err
    assert main([*reg, "registry", "verify"]) == 0
    capsys.readouterr()
    (tmp_path / "reg" / "objects").rename(tmp_path / "gone")
    assert main([*reg, "registry", "verify"]) == 0  # no bytes at all: what a fresh clone has
    out = capsys.readouterr().out
    assert f"NOT HERE  {sha[:12]} (v0.1.0, challenger) bytes not in this store" in out
    assert f"rebuild with: gramops reproduce {sha[:12]} --restore\n" in out
    assert out.endswith("ok: 8 objects checked, 2 entries not in this store\n")
    (tmp_path / "gone").rename(tmp_path / "reg" / "objects")
    registry = Registry(tmp_path / "reg")
    config = next(f for f in registry.entry(sha)["files"] if f["path"] == "config.json")
    Path(registry.objects.path_of(config["object"])).unlink()  # the weights are still here
    assert main([*reg, "registry", "verify"]) == 1
    assert f"MISSING   {sha[:12]} (v0.1.0, challenger) config.json" in capsys.readouterr().out
    assert main([*reg, "registry", "verify", "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    # the shape scripts parse: each problem an array [entry SHA, file path, object key]
    assert report["ok"] is False and report["tampered"] == []
    # both entries share the config object
    both = sorted([s, "config.json", config["object"]] for s in (sha, canonical_sha(other)))
    assert sorted(report["missing"]) == both
    assert main([*reg, "registry", "show", "nope"]) == 2


def _gate_file(path, registry: Registry, decision: str, candidate: str | None, rules=()) -> None:
    """A gate decision as the gate stage writes it, judged against the registry as it is."""
    write_json(
        path,
        {
            "decision": decision,
            "candidate": candidate,
            "production": registry.aliases().get("production"),
            "rules": list(rules),
            "reasons": [r["detail"] for r in rules if r["verdict"] == "fail"],
            "registry": registry.state(),
        },
    )


def test_promote_is_a_gated_signed_act_then_history_rollback_and_gate_check(
    tmp_path, capsys, monkeypatch
):
    monkeypatch.chdir(tmp_path)  # gate --check reads params.yaml and metrics/ here
    monkeypatch.setenv("GRAMOPS_ACTOR", "alice@example.org")
    monkeypatch.delenv("GRAMOPS_NOTIFY_URL", raising=False)
    shutil.copy(ROOT / "params.yaml", tmp_path / "params.yaml")  # release.first_semver
    reg = ["--registry", str(tmp_path / "reg")]
    registry = Registry(tmp_path / "reg")
    first, second = (
        canonical_sha(_registered_bundle(tmp_path / name, seed))
        for seed, name in ((1.0, "b"), (2.0, "c"))
    )
    for name in ("b", "c"):
        assert _register(reg, tmp_path / name) == 0
    gate = tmp_path / "gate.json"
    act = [*reg, "promote", "--gate", str(gate)]
    capsys.readouterr()
    # refused: no reason, no decision, a decision that is not promote or about another model
    assert main([*act, first]) == 2
    assert "promoting to production needs a reason" in capsys.readouterr().err
    assert main([*act, first, "-m", "first release"]) == 1  # refused: exit 1, not bad input
    assert "there is no gate decision" in capsys.readouterr().err
    _gate_file(gate, registry, "hold", first)
    assert main([*act, first, "-m", "first release"]) == 1
    assert "the gate's decision is 'hold', not 'promote'" in capsys.readouterr().err
    _gate_file(gate, registry, "promote", second)
    assert main([*act, first, "-m", "first release"]) == 1
    assert f"the gate judged {second[:12]}, not {first[:12]}" in capsys.readouterr().err
    assert registry.aliases() == {} and registry.tags() == {}  # refusals write nothing
    # the gate's fresh decision for this model: promoted, released as the family's first semver
    _gate_file(gate, registry, "promote", first)
    decision = json.loads(gate.read_text())
    assert main([*act, first, "-m", "first release"]) == 0
    assert _first_line(capsys) == f"production: unset -> {first[:12]} (v0.1.0)"
    record = registry.history()[-1]
    assert (record["op"], record["alias"], record["semver"], record["actor"]) == (
        "promote",
        "production",
        "v0.1.0",
        "alice@example.org",
    )
    assert (record["reason"], record["forced"]) == ("first release", False)
    assert record["gate"]["digest"] == gate_digest(decision)
    assert record["gate"]["decision"] == "promote" and record["gate"]["candidate"] == first
    # the same decision is stale once production moved
    assert main([*act, second, "-m", "stale"]) == 1
    assert "the decision is stale" in capsys.readouterr().err
    _gate_file(gate, registry, "promote", second)
    assert main([*act, second, "-m", "better verbs"]) == 0
    assert _first_line(capsys).endswith("(v0.1.1)")  # the family's next patch
    assert main([*reg, "registry", "history", "--json"]) == 0
    history = json.loads(capsys.readouterr().out)
    assert [row["semver"] for row in history] == ["v0.1.0", "v0.1.1"]
    assert history[0]["until"] == history[1]["from"] and history[1]["until"] is None
    assert main([*reg, "rollback"]) == 2  # a rollback needs a reason
    assert "needs a reason" in capsys.readouterr().err
    assert main([*reg, "rollback", "-m", "v0.1.1 breaks irregular verbs"]) == 0
    assert _first_line(capsys).endswith("(v0.1.0)")  # back to the first
    assert registry.history()[-1]["reason"] == "v0.1.1 breaks irregular verbs"
    # gate --check: a fresh decision, production there by an approved promotion
    rule = {"name": "quality floor", "verdict": "fail", "detail": "0.5 < 0.9"}
    _gate_file(gate, registry, "block", second, [rule])
    assert main([*reg, "gate", "--check", "--file", str(gate)]) == 1
    out = capsys.readouterr().out
    assert "FAIL  quality floor: 0.5 < 0.9" in out and "fails the gate" in out
    assert main([*reg, "gate", "--file", str(gate)]) == 0  # showing it is not checking it
    capsys.readouterr()
    _gate_file(gate, registry, "hold", None)
    assert main([*reg, "gate", "--check", "--file", str(gate)]) == 0, capsys.readouterr().out
    # forcing past the gate needs a reason, is recorded, and gate --check then refuses
    assert main([*act, second, "--force"]) == 2
    assert "needs a reason" in capsys.readouterr().err
    assert main([*act, second, "--force", "-m", "hotfix, the gate is down"]) == 0
    assert _first_line(capsys).endswith("FORCED")
    assert registry.history()[-1]["forced"] is True
    _gate_file(gate, registry, "hold", None)
    assert main([*reg, "gate", "--check", "--file", str(gate)]) == 1
    assert "forced past the gate" in capsys.readouterr().out


def test_promote_of_a_new_family_without_release_params_names_the_key(tmp_path, capsys):
    reg = ["--registry", str(tmp_path / "reg")]
    bundle = _registered_bundle(tmp_path / "b")
    assert _register(reg, bundle) == 0
    registry = Registry(tmp_path / "reg")
    gate = tmp_path / "gate.json"
    _gate_file(gate, registry, "promote", canonical_sha(bundle))
    argv = [*reg, "promote", canonical_sha(bundle), "-m", "first", "--gate", str(gate)]
    assert main([*argv, "--params", str(tmp_path / "absent.yaml")]) == 2
    assert "release.first_semver.fp32" in capsys.readouterr().err
    assert registry.aliases() == {}
    # staging is gated too, and takes the same first semver
    params = tmp_path / "params.yaml"
    shutil.copy(ROOT / "params.yaml", params)
    staging = [*reg, "promote", canonical_sha(bundle), "--alias", "staging", "--gate", str(gate)]
    assert main([*staging, "--params", str(params)]) == 0
    assert _first_line(capsys).endswith("(v0.1.0)")


def test_python_dash_m_runs_the_same_command_line(tmp_path):
    """`python -m gramops.cli` is what scripts/release.py falls back on without the script."""
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "gramops.cli",
            "--registry",
            str(tmp_path / "reg"),
            "registry",
            "list",
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"registry {tmp_path / 'reg'} is empty\n"
