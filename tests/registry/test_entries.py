import json
import struct

import pytest

from gramops.core.fileio import canonical_bytes
from gramops.core.hashing import sha256_bytes
from gramops.registry.entries import (
    checked_files,
    fact_errors,
    file_record,
    files_sha,
    identity_digest,
    json_or_none,
    safetensors_parameters,
    summary_metrics,
)
from gramops.registry.layout import RegistryError

OBJ = "0" * 64


def _entry(files, parent=None):
    return {"sha": files_sha(files, parent), "files": files, "parent_sha": parent}


def test_safetensors_parameters_count_elements_from_the_header(tmp_path):
    header = {"__metadata__": {"x": "y"}, "w": {"shape": [3, 4]}, "b": {"shape": [4]}}
    raw = json.dumps(header).encode()
    path = tmp_path / "model.safetensors"
    path.write_bytes(struct.pack("<Q", len(raw)) + raw)
    assert safetensors_parameters(path) == 16
    path.write_bytes(b"\x01\x02")
    with pytest.raises(RegistryError, match="not a readable safetensors header"):
        safetensors_parameters(path)


def test_summary_metrics_keep_the_compared_figures_per_domain():
    report = {"domains": {"b": {"strict_accuracy": 0.5, "loss": 3}, "a": {"count": 2}, "c": 1}}
    assert summary_metrics(report) == {"a": {"count": 2}, "b": {"strict_accuracy": 0.5}}
    assert summary_metrics({"domains": []}) == {}


def test_a_json_file_record_keys_its_object_by_raw_bytes_and_identity_by_canonical_form(tmp_path):
    path = tmp_path / "config.json"
    path.write_text('{"b": 1,  "a": 2}', encoding="utf-8")
    record = file_record(path)
    assert record["object"] == sha256_bytes(path.read_bytes())
    assert record["sha256"] == sha256_bytes(canonical_bytes({"a": 2, "b": 1}))
    assert record["size"] == path.stat().st_size and record["path"] == "config.json"


def test_identity_digest_of_json_bytes_ignores_layout_and_is_none_for_other_bytes():
    assert identity_digest(b'{"a": 1}', "x") == identity_digest(b'{\n "a":1}\n', "x")
    assert identity_digest(b"\xff\x00", "x") is None
    assert json_or_none(b"\xff") is None and json_or_none(b"[1]") == [1]


def test_checked_files_refuse_a_path_that_is_not_a_plain_file_name():
    files = [{"path": "../model.safetensors", "sha256": OBJ, "object": OBJ}]
    with pytest.raises(RegistryError, match="^e.json: malformed files list"):
        checked_files(files_sha(files, None), _entry(files), "e.json")


def test_checked_files_refuse_a_files_list_that_no_longer_hashes_to_the_sha():
    files = [{"path": "model.safetensors", "sha256": OBJ, "object": OBJ}]
    entry = _entry(files)
    assert checked_files(entry["sha"], entry, "e.json") == files
    edited = {**entry, "files": [{**files[0], "sha256": "1" * 64}]}
    with pytest.raises(RegistryError, match="the entry was edited"):
        checked_files(entry["sha"], edited, "e.json")


def test_fact_errors_name_each_field_the_verified_files_contradict():
    files = [{"path": "config.json", "size": 7}]
    docs = {
        "train_manifest.json": {"family": "int8", "corpus": {"dvc_hash": "abc"}},
        "eval_report.json": {"domains": {"news": {"pass_rate": 1.0}}},
    }
    entry = {
        "family": "int8",
        "corpus_dvc_hash": "abc",
        "metrics": {"news": {"pass_rate": 1.0}},
        "size_bytes": 7,
    }
    assert fact_errors("e.json", entry, files, docs) == []
    edited = {**entry, "family": "fp32", "size_bytes": 8}
    assert fact_errors("e.json", edited, files, docs) == [
        "e.json: family is 'fp32' but the registered files say 'int8'; the entry was edited, "
        "restore it from git",
        "e.json: size_bytes is 8 but the registered files say 7; the entry was edited, "
        "restore it from git",
    ]
