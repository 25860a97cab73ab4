import json
from pathlib import Path

import numpy as np

from gramops.bundle import save_bundle
from gramops.cli import main
from gramops.identity import canonical_sha
from gramops.jsonio import write_json
from gramops.registry import Registry


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
    """`gramops registry register` of an FP32 bundle with the first version v0.1.0."""
    args = ["registry", "register", str(bundle), "--family", "fp32", "--first-semver", "v0.1.0"]
    return main([*reg, *args, *extra])


def test_registry_commands_end_to_end(tmp_path, capsys):
    reg = ["--registry", str(tmp_path / "reg")]
    bundle = _registered_bundle(tmp_path / "b")
    assert _register(reg, bundle, "--dry-run") == 0
    assert capsys.readouterr().out.startswith("would register: fp32 v0.1.0")
    assert not (tmp_path / "reg" / "tags.json").exists()
    assert _register(reg, bundle) == 0
    sha = canonical_sha(bundle)
    assert capsys.readouterr().out == f"registered: fp32 v0.1.0 {sha}\n"
    other = _registered_bundle(tmp_path / "c", seed=2.0)
    assert _register(reg, other) == 0
    capsys.readouterr()
    assert main([*reg, "registry", "alias", "production", "v0.1.0"]) == 0
    assert main([*reg, "registry", "alias", "production", "v0.1.1"]) == 0
    capsys.readouterr()
    assert main([*reg, "rollback"]) == 0
    assert capsys.readouterr().out.endswith(f"-> {sha[:12]} (v0.1.0)\n")
    assert main([*reg, "lineage", "production"]) == 0
    assert capsys.readouterr().out.strip().endswith("corpus " + "ab" * 16 + ".dir")
    assert main([*reg, "registry", "promote", "v0.1.1", "v0.1.0"]) == 2
    assert "semver already mapped to a different SHA" in capsys.readouterr().err
    assert main([*reg, "registry", "verify"]) == 0
    (tmp_path / "reg" / "objects").rename(tmp_path / "gone")
    assert main([*reg, "registry", "verify"]) == 0  # no bytes at all: what a fresh clone has
    out = capsys.readouterr().out
    assert f"NOT HERE  {sha[:12]} (v0.1.0, production) bytes not in this store" in out
    assert f"rebuild with: gramops reproduce {sha[:12]}\n" in out
    assert out.endswith("ok: 8 objects checked, 2 entries not in this store\n")
    (tmp_path / "gone").rename(tmp_path / "reg" / "objects")
    registry = Registry(tmp_path / "reg")
    config = next(f for f in registry.entry(sha)["files"] if f["path"] == "config.json")
    Path(registry.objects.path_of(config["object"])).unlink()  # the weights are still here
    assert main([*reg, "registry", "verify"]) == 1
    assert f"MISSING   {sha[:12]} (v0.1.0, production) config.json" in capsys.readouterr().out
    assert main([*reg, "registry", "show", "nope"]) == 2


def test_promote_history_and_gate_check(tmp_path, capsys):
    reg = ["--registry", str(tmp_path / "reg")]
    for seed, name in ((1.0, "b"), (2.0, "c")):
        _register(reg, _registered_bundle(tmp_path / name, seed))
    params = ["--params", str(tmp_path / "absent.yaml")]
    assert main([*reg, "promote", "v0.1.0", *params]) == 0
    assert main([*reg, "promote", "v0.1.1", *params]) == 0
    assert capsys.readouterr().out.splitlines()[-1].endswith("(v0.1.1)")
    assert main([*reg, "registry", "history", "--json"]) == 0
    history = json.loads(capsys.readouterr().out)
    assert [row["semver"] for row in history] == ["v0.1.0", "v0.1.1"]
    assert history[0]["until"] == history[1]["from"] and history[1]["until"] is None
    assert main([*reg, "rollback"]) == 0  # after two promotions: back to the first
    assert capsys.readouterr().out.strip().endswith("(v0.1.0)")
    gate = tmp_path / "gate.json"
    rule = {"name": "quality floor", "verdict": "fail", "detail": "0.5 < 0.9"}
    gate.write_text(
        json.dumps({"decision": "block", "challenger": "x", "champion": "y", "rules": [rule]})
    )
    assert main(["gate", "--check", "--file", str(gate)]) == 1
    assert "FAIL  quality floor: 0.5 < 0.9" in capsys.readouterr().out
    assert main(["gate", "--file", str(gate)]) == 0
    gate.write_text(
        json.dumps({"decision": "promote", "challenger": "x", "champion": "y", "rules": []})
    )
    assert main(["gate", "--check", "--file", str(gate)]) == 0
