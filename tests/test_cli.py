import numpy as np

from gramops.bundle import save_bundle
from gramops.cli import main
from gramops.identity import canonical_sha
from gramops.jsonio import write_json


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
