from pathlib import Path

import pytest
import yaml

from gramops.core.params import ParamsError, load_section, read_params_file, validate_all

ROOT = Path(__file__).resolve().parents[2]


def _write(tmp_path: Path, data: dict) -> Path:
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _project_params() -> dict:
    return yaml.safe_load((ROOT / "params.yaml").read_text())


def test_project_params_are_valid():
    validated = validate_all(_project_params())
    assert (
        validated["train"].features.hash_bits == _project_params()["train"]["features"]["hash_bits"]
    )


def test_unknown_key_names_the_key_and_the_allowed_ones(tmp_path):
    data = _project_params()
    data["finetune"]["rnak"] = 4
    with pytest.raises(
        ParamsError, match=r"finetune\.rnak: unknown key .*allowed in finetune:.*rank"
    ):
        load_section(_write(tmp_path, data), "finetune")


def test_wrong_type_names_the_key(tmp_path):
    data = _project_params()
    data["train"]["hidden"] = "many"
    with pytest.raises(ParamsError, match=r"train\.hidden: .*'many'"):
        validate_all(data)


def test_out_of_range_names_the_key_and_bound(tmp_path):
    data = _project_params()
    data["finetune"]["rank"] = 0
    with pytest.raises(ParamsError, match=r"finetune\.rank: .*greater than or equal to 1"):
        validate_all(data)


def test_nested_key_is_named_with_its_path():
    data = _project_params()
    data["train"]["features"]["hash_bits"] = 40
    with pytest.raises(ParamsError, match=r"train\.features\.hash_bits"):
        validate_all(data)


def test_split_must_sum_to_one():
    data = _project_params()
    data["prepare"]["split"]["dev"] = 0.3
    with pytest.raises(ParamsError, match=r"prepare.split fractions must sum to 1"):
        validate_all(data)


def test_unknown_section_is_rejected():
    data = _project_params()
    data["trian"] = {}
    with pytest.raises(ParamsError, match=r"unknown params section.*trian"):
        validate_all(data)


def test_dir_source_requires_a_path():
    data = _project_params()
    data["pull_corpus"]["source"] = "dir"
    with pytest.raises(ParamsError, match=r"pull_corpus.path is required"):
        validate_all(data)


def test_malformed_yaml_and_missing_file_are_clear(tmp_path):
    bad = tmp_path / "params.yaml"
    bad.write_text("train: [unclosed\n")
    with pytest.raises(ParamsError, match="not valid YAML"):
        read_params_file(bad)
    with pytest.raises(ParamsError, match="params file not found"):
        read_params_file(tmp_path / "missing.yaml")
    bad.write_text("- a list\n")
    with pytest.raises(ParamsError, match="expected a mapping"):
        read_params_file(bad)


def test_release_gives_every_family_a_first_semver():
    release = validate_all(_project_params())["release"]
    assert set(release.first_semver) == {"fp32", "int8", "lora"}
    data = _project_params()
    del data["release"]["first_semver"]["int8"]
    with pytest.raises(ParamsError, match=r"release.first_semver needs a version for int8"):
        validate_all(data)
    data = _project_params()
    data["release"]["first_semver"]["lora"] = "0.3"
    with pytest.raises(ParamsError, match=r"release.first_semver.lora: '0.3' is not a semver"):
        validate_all(data)


def test_the_register_section_is_gone_semvers_are_bound_at_release():
    data = _project_params()
    assert "register" not in data
    data["register"] = {"semver": {"fp32": "v0.1.0"}, "strict": False}
    with pytest.raises(ParamsError, match=r"unknown params section.*register"):
        validate_all(data)
