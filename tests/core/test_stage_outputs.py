"""A stage that fails under `dvc repro` has had its outputs deleted first: it names what is
now missing and how to get it back, instead of leaving a workspace with results gone."""

import shutil
import subprocess
import sys

import yaml

from gramops.core.stage_outputs import Output, declared_outputs, missing_report
from helpers.paths import ROOT

DVC_YAML = yaml.safe_load((ROOT / "dvc.yaml").read_text(encoding="utf-8"))


def test_a_stage_and_a_foreach_entry_declare_their_outputs():
    assert declared_outputs(DVC_YAML, "stages/gate.py", []) == (
        "gate",
        [Output("metrics/gate.json", cached=False), Output("metrics/summary.json", cached=False)],
    )
    name, outputs = declared_outputs(DVC_YAML, "stages/evaluate.py", ["lora"])
    assert name == "evaluate@lora"
    assert Output("models/lora/eval_report.json", cached=True) in outputs
    assert Output("metrics/eval/lora.json", cached=False) in outputs
    assert declared_outputs(DVC_YAML, "stages/nothing.py", []) is None


def _git(cwd, *args):
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


def _workspace(tmp_path):
    """A git repository with the project's dvc.yaml and a committed gate decision."""
    shutil.copy(ROOT / "dvc.yaml", tmp_path / "dvc.yaml")
    (tmp_path / "metrics").mkdir()
    (tmp_path / "metrics" / "gate.json").write_text("{}\n")
    (tmp_path / "metrics" / "summary.json").write_text("{}\n")
    _git(tmp_path, "init", "-q")
    _git(tmp_path, "add", ".")
    _git(tmp_path, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "x")
    return tmp_path


def test_a_failed_stage_names_its_missing_outputs_and_the_restore_command(tmp_path):
    work = _workspace(tmp_path)
    (work / "metrics" / "gate.json").unlink()  # what `dvc repro` does before running gate
    done = subprocess.run(  # no params.yaml: the stage fails with a clear error, exit 2
        [sys.executable, str(ROOT / "stages" / "gate.py")],
        cwd=work,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PYTHONPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 2, done.stderr
    assert "stage gate did not finish" in done.stderr
    assert "now missing: metrics/gate.json" in done.stderr
    assert "git checkout -- metrics/gate.json" in done.stderr
    assert "Traceback" not in done.stderr


def test_cached_and_unsaved_outputs_get_their_own_advice(tmp_path):
    work = _workspace(tmp_path)
    report = missing_report("stages/evaluate.py", ["int8"], work)
    assert "dvc checkout evaluate@int8" in report  # models/int8/eval_report.json is cached
    # neither cached nor committed: only a re-run brings these back
    assert "only a re-run rebuilds: metrics/eval/int8.json, plots/confusion/int8.csv" in report
    assert missing_report("stages/gate.py", [], work) is None  # all there: nothing to say


def test_gate_names_how_to_restore_a_missing_decision(tmp_path, monkeypatch, capsys):
    from gramops.cli import main

    work = _workspace(tmp_path)
    (work / "metrics" / "gate.json").unlink()
    monkeypatch.chdir(work)
    assert main(["--registry", str(work / "registry"), "gate"]) == 2
    assert "git checkout -- metrics/gate.json" in capsys.readouterr().err
