import subprocess

import pytest
import yaml

from gramops.core import __version__
from gramops.core.errors import GramopsError
from gramops.models.provenance import code_fingerprint, code_record, corpus_record, dvc_dir_hash
from helpers.paths import DVC


def test_dvc_dir_hash_matches_what_dvc_records(tmp_path):
    repo = tmp_path / "repo"
    (repo / "data" / "sub").mkdir(parents=True)
    (repo / "data" / "b.jsonl").write_text('{"x": 1}\n')
    (repo / "data" / "sub" / "a.txt").write_text("hello\r\nworld\n")
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    subprocess.run([DVC, "init", "-q"], cwd=repo, check=True)
    subprocess.run([DVC, "add", "-q", "data"], cwd=repo, check=True)
    recorded = yaml.safe_load((repo / "data.dvc").read_text())["outs"][0]["md5"]
    assert dvc_dir_hash(repo / "data") == recorded


def test_code_fingerprint_hashes_declared_python_deps(tmp_path):
    (tmp_path / "s.py").write_text("x = 1\n")
    (tmp_path / "lib.py").write_text("y = 2\n")
    (tmp_path / "dvc.yaml").write_text(
        yaml.safe_dump(
            {"stages": {"train": {"cmd": "python s.py", "deps": ["s.py", "lib.py", "data"]}}}
        )
    )
    first = code_fingerprint(tmp_path / "dvc.yaml", "train")
    assert sorted(first) == ["lib.py", "s.py"]
    (tmp_path / "lib.py").write_text("y = 3\n")
    assert code_fingerprint(tmp_path / "dvc.yaml", "train")["lib.py"] != first["lib.py"]
    with pytest.raises(GramopsError, match="no stage 'nope'"):
        code_fingerprint(tmp_path / "dvc.yaml", "nope")


def test_records_for_manifests(tmp_path):
    (tmp_path / "corpus").mkdir()
    (tmp_path / "corpus" / "train.jsonl").write_text("{}\n")
    record = corpus_record(tmp_path / "corpus", "verb", {"train": 1})
    assert record["dvc_hash"] == dvc_dir_hash(tmp_path / "corpus")
    assert record["domain"] == "verb" and record["records"] == {"train": 1}
    (tmp_path / "s.py").write_text("x = 1\n")
    (tmp_path / "dvc.yaml").write_text("stages: {s: {cmd: python s.py, deps: [s.py]}}\n")
    code = code_record("s", tmp_path / "dvc.yaml")
    assert code["gramops"] == __version__ and list(code["files"]) == ["s.py"]
