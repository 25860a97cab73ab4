import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from gramops.core.fileio import write_json
from gramops.models.bundle import save_bundle
from gramops.models.identity import IdentityError, canonical_manifest, canonical_sha, manifest_sha


def _bundle(path: Path, parent: str | None = None) -> Path:
    tensors = {"W1": np.arange(12, dtype=np.float32).reshape(3, 4), "b1": np.ones(3, np.float32)}
    save_bundle(
        path,
        "model.safetensors",
        tensors,
        {"family": "fp32", "hidden": 3},
        {"seed": 1, "parent_sha": parent, "params": {"a": 1, "b": [1, 2]}},
    )
    write_json(path / "eval_report.json", {"strict_accuracy": 0.5, "per_class": {"VB": 1}})
    return path


def test_same_sha_from_another_process(tmp_path):
    bundle = _bundle(tmp_path / "b")
    code = (
        "import sys; from gramops.models.identity import canonical_sha;"
        "print(canonical_sha(sys.argv[1]))"
    )
    other = subprocess.run(
        [sys.executable, "-c", code, str(bundle)], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert other == canonical_sha(bundle)
    assert len(other) == 64


def test_json_key_order_and_whitespace_do_not_change_identity(tmp_path):
    bundle = _bundle(tmp_path / "b")
    before = canonical_sha(bundle)
    for name in ("config.json", "eval_report.json", "train_manifest.json"):
        data = json.loads((bundle / name).read_text())
        reordered = dict(reversed(list(data.items())))
        (bundle / name).write_text(json.dumps(reordered, indent=7) + "\n\n")
    assert canonical_sha(bundle) == before


def test_content_and_parent_change_identity(tmp_path):
    a = canonical_sha(_bundle(tmp_path / "a"))
    assert canonical_sha(_bundle(tmp_path / "b", parent="f" * 64)) != a
    c = _bundle(tmp_path / "c")
    report = json.loads((c / "eval_report.json").read_text())
    report["strict_accuracy"] = 0.51
    (c / "eval_report.json").write_text(json.dumps(report))
    assert canonical_sha(c) != a
    d = _bundle(tmp_path / "d")
    raw = bytearray((d / "model.safetensors").read_bytes())
    raw[-1] ^= 1
    (d / "model.safetensors").write_bytes(bytes(raw))
    assert canonical_sha(d) != a


def test_non_identity_files_are_ignored(tmp_path):
    bundle = _bundle(tmp_path / "b")
    before = canonical_sha(bundle)
    (bundle / "MLmodel").write_text("utc_time_created: '2026-11-23'\nmodel_uuid: abc\n")
    (bundle / "latency.json").write_text('{"ms": 3.2}')
    assert canonical_sha(bundle) == before
    assert [f for f, _ in canonical_manifest(bundle)["files"]] == [
        "config.json",
        "eval_report.json",
        "model.safetensors",
        "train_manifest.json",
    ]


def test_incomplete_bundle_is_refused(tmp_path):
    bundle = _bundle(tmp_path / "b")
    (bundle / "eval_report.json").unlink()
    with pytest.raises(IdentityError, match="missing eval_report.json"):
        canonical_sha(bundle)
    (bundle / "model.safetensors").unlink()
    with pytest.raises(IdentityError, match="exactly one weights file"):
        canonical_sha(bundle)


def test_manifest_sha_equals_canonical_sha_from_recorded_pairs(tmp_path):
    bundle = _bundle(tmp_path / "b", parent="e" * 64)
    manifest = canonical_manifest(bundle)
    assert manifest_sha(reversed(manifest["files"]), "e" * 64) == canonical_sha(bundle)


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("train_manifest.json", b"[1, 2]", r"expected a JSON object .* got list"),
        ("train_manifest.json", b'{"parent_sha": 5}', r"parent_sha 5"),
        ("train_manifest.json", b'{"parent_sha": "../x"}', r"parent_sha '\.\./x'"),
        ("config.json", b'{"family": "caf\xe9"}', r"config\.json: not valid JSON"),
        ("eval_report.json", b'{"a": 1', r"eval_report\.json: not valid JSON"),
    ],
)
def test_unreadable_identity_json_is_an_identity_error_naming_the_file(
    tmp_path, name, content, message
):
    bundle = _bundle(tmp_path / "b")
    (bundle / name).write_bytes(content)
    with pytest.raises(IdentityError, match=message) as info:
        canonical_sha(bundle)
    assert name in str(info.value)
