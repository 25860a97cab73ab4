"""Malformed ``params.yaml`` values in every section are refused naming the dotted key and
what is allowed, before a stage writes anything.

Part of the reliability tier (bad input of every kind), split by the module it attacks.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from gramops import cli
from gramops.core.params import ParamsError, read_params_file, validate_all
from helpers.stages import project_params, run_stage, stage_workspace

pytestmark = pytest.mark.reliability

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "wordnet"
BIN = Path(sys.executable).parent


# ---------------------------------------------------------------------------------------------
# Malformed params.yaml values, every section
# ---------------------------------------------------------------------------------------------


def _set(*path: str, value: Any) -> Callable[[dict], None]:
    def edit(data: dict) -> None:
        node = data
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value

    return edit


def _drop(*path: str) -> Callable[[dict], None]:
    def edit(data: dict) -> None:
        node = data
        for key in path[:-1]:
            node = node[key]
        del node[path[-1]]

    return edit


# (edit, the dotted key the message must name, what is allowed, as the message says it)
PARAM_CASES: dict[str, tuple[Callable[[dict], None], str, str]] = {
    "base-seed-type": (_set("base", "seed", value="abc"), "base.seed", "valid integer"),
    "base-seed-range": (_set("base", "seed", value=-1), "base.seed", "greater than or equal to 0"),
    "base-unknown": (_set("base", "sede", value=1), "base.sede", "allowed in base: seed"),
    "pull-source": (
        _set("pull_corpus", "source", value="ftp"),
        "pull_corpus.source",
        "'pypi', 'dir' or 'url'",
    ),
    "pull-sha-pattern": (
        _set("pull_corpus", "sha256", value="XYZ"),
        "pull_corpus.sha256",
        "^[0-9a-f]{64}$",
    ),
    "pull-member-empty": (
        _set("pull_corpus", "member", value=""),
        "pull_corpus.member",
        "at least 1 character",
    ),
    "pull-dir-needs-path": (
        _set("pull_corpus", "source", value="dir"),
        "pull_corpus.path",
        "required when pull_corpus.source is 'dir'",
    ),
    "pull-sha-missing": (_drop("pull_corpus", "sha256"), "pull_corpus.sha256", "Field required"),
    "prepare-split-range": (
        _set("prepare", "split", "train", value=1.5),
        "prepare.split.train",
        "less than 1",
    ),
    "prepare-split-sum": (
        _set("prepare", "split", "dev", value=0.3),
        "prepare.split",
        "must sum to 1",
    ),
    "prepare-max-tokens": (
        _set("prepare", "max_tokens", value=2),
        "prepare.max_tokens",
        "greater than or equal to 3",
    ),
    "prepare-bool": (
        _set("prepare", "tutor_domain", value="maybe"),
        "prepare.tutor_domain",
        "valid boolean",
    ),
    "prepare-malformed-lines": (
        _set("prepare", "malformed_lines", value="ignore"),
        "prepare.malformed_lines",
        "'fail' or 'skip'",
    ),
    "prepare-unknown": (
        _set("prepare", "max_token", value=5),
        "prepare.max_token",
        "allowed in prepare: malformed_lines, max_tokens, split, tutor_domain",
    ),
    "train-hidden": (
        _set("train", "hidden", value=0),
        "train.hidden",
        "greater than or equal to 1",
    ),
    "train-hash-bits": (
        _set("train", "features", "hash_bits", value=30),
        "train.features.hash_bits",
        "less than or equal to 22",
    ),
    "train-lr-type": (
        _set("train", "learning_rate", value="fast"),
        "train.learning_rate",
        "valid number",
    ),
    "train-nested-unknown": (
        _set("train", "features", "bits", value=3),
        "train.features.bits",
        "unknown key",
    ),
    "quantize-bits": (_set("quantize", "bits", value=4), "quantize.bits", "Input should be 8"),
    "finetune-domain": (
        _set("finetune", "domain", value="verb"),
        "finetune.domain",
        "Input should be 'tutor'",
    ),
    "finetune-rank": (
        _set("finetune", "rank", value=0),
        "finetune.rank",
        "greater than or equal to 1",
    ),
    "evaluate-domain": (
        _set("evaluate", "domains", value=["verb", "news"]),
        "evaluate.domains.1",
        "'verb' or 'tutor'",
    ),
    "evaluate-empty": (
        _set("evaluate", "domains", value=[]),
        "evaluate.domains",
        "at least 1 item",
    ),
    "release-semver": (
        _set("release", "first_semver", "fp32", value="0.1"),
        "release.first_semver.fp32",
        "not a semver like v0.1.0",
    ),
    "release-semver-4-parts": (
        _set("release", "first_semver", "int8", value="v1.2.3.4"),
        "release.first_semver.int8",
        "not a semver like v0.1.0",
    ),
    "release-semver-leading-zero": (
        _set("release", "first_semver", "lora", value="01.2.3"),
        "release.first_semver.lora",
        "not a semver like v0.1.0",
    ),
    "release-family": (
        _set("release", "first_semver", "fp16", value="v0.4.0"),
        "release.first_semver.fp16",
        "'fp32', 'int8' or 'lora'",
    ),
    "release-family-missing": (
        _drop("release", "first_semver", "lora"),
        "release.first_semver",
        "needs a version for lora",
    ),
    "release-notify-url": (
        _set("release", "notify_url", value=["http://hook"]),
        "release.notify_url",
        "valid string",
    ),
    "release-strict": (
        _set("release", "strict", value=True),
        "release.strict",
        "unknown key",
    ),
    "serve-port": (_set("serve", "port", value=70000), "serve.port", "less than or equal to 65535"),
    "serve-shadow-fraction": (
        _set("serve", "shadow", "fraction", value=1.5),
        "serve.shadow.fraction",
        "less than or equal to 1",
    ),
    "serve-canary-alias": (
        _set("serve", "canary", "alias", value="Prod!"),
        "serve.canary.alias",
        "should match pattern",
    ),
    "serve-shadow-is-served": (
        _set("serve", "shadow", "alias", value="production"),
        "serve.shadow.alias",
        "the served alias itself",
    ),
    "shift-kind": (
        _set("shift", "kind", value="sideways"),
        "shift.kind",
        "'tense', 'lemma', 'length', 'domain' or 'mix'",
    ),
    "shift-intensity": (
        _set("shift", "intensity", value=1.5),
        "shift.intensity",
        "less than or equal to 1",
    ),
    "shift-weeks": (_set("shift", "weeks", value=0), "shift.weeks", "greater than or equal to 1"),
    "drift-bins": (_set("drift", "bins", value=1), "drift.bins", "greater than or equal to 2"),
    "drift-epsilon": (_set("drift", "epsilon", value=0.5), "drift.epsilon", "less than 0.01"),
    "drift-order": (
        _set("drift", "psi_major", value=0.05),
        "drift.psi_major",
        "greater than drift.psi_moderate",
    ),
    "traffic-canary": (
        _set("traffic", "canary_steps", value=[0.5, 0.2]),
        "traffic.canary_steps",
        "increase within (0, 1] and end at 1",
    ),
    "traffic-alpha": (_set("traffic", "alpha", value=0.7), "traffic.alpha", "less than 0.5"),
    "traffic-challenger": (
        _set("traffic", "challenger", value=""),
        "traffic.challenger",
        "at least 1 character",
    ),
    "cost-repeats": (
        _set("cost", "repeats", value=0),
        "cost.repeats",
        "greater than or equal to 1",
    ),
    "cost-price": (
        _set("cost", "usd_per_cpu_hour", value=-1),
        "cost.usd_per_cpu_hour",
        "greater than 0",
    ),
    "gate-floor": (
        _set("gate", "quality_floor", value=2),
        "gate.quality_floor",
        "less than or equal to 1",
    ),
    "gate-margin-type": (_set("gate", "margin", value="wide"), "gate.margin", "valid number"),
    "status-url": (
        _set("status", "mlflow_url", value="http://127.0.0.1:5000/"),
        "status.mlflow_url",
        "without a trailing slash",
    ),
    "section-not-mapping": (_set("train", value=5), "train", "expected a mapping, got int"),
    "unknown-section": (_set("evalute", value={}), "evalute", "known: base, pull_corpus"),
}


@pytest.mark.parametrize("case", sorted(PARAM_CASES))
def test_malformed_params_name_the_dotted_key_and_what_is_allowed(tmp_path, case):
    edit, key, allowed = PARAM_CASES[case]
    data = project_params()
    edit(data)
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    with pytest.raises(ParamsError) as info:
        validate_all(read_params_file(path))
    message = str(info.value)
    assert key in message, message
    assert allowed in message, message


def _every_field() -> list[tuple[str, str]]:
    from gramops.core.params import SECTIONS

    return [(section, field) for section, model in SECTIONS.items() for field in model.model_fields]


def _wrong_type(section: str, field: str) -> Any:
    """A value of the wrong type for the field: a string for mappings, a mapping otherwise."""
    from typing import get_origin

    from pydantic import BaseModel

    from gramops.core.params import SECTIONS

    annotation = SECTIONS[section].model_fields[field].annotation
    nested = get_origin(annotation) is dict or (
        isinstance(annotation, type) and issubclass(annotation, BaseModel)
    )
    return "not-a-mapping" if nested else {"not": ["a", "value"]}


@pytest.mark.parametrize(("section", "field"), _every_field())
def test_every_field_of_every_section_refuses_a_wrong_type_by_name(section, field):
    """Every field, not just a sample: the message names it and echoes what was given."""
    data = project_params()
    value = _wrong_type(section, field)
    data.setdefault(section, {})[field] = value
    with pytest.raises(ParamsError) as info:
        validate_all(data)
    assert f"{section}.{field}: " in str(info.value)
    assert f"(got {value!r})" in str(info.value)


@pytest.mark.parametrize("section", sorted({s for s, _ in _every_field()}))
def test_an_unknown_key_in_any_section_lists_the_allowed_keys(section):
    from gramops.core.params import SECTIONS

    data = project_params()
    data.setdefault(section, {})["bogus_key"] = 1
    with pytest.raises(ParamsError) as info:
        validate_all(data)
    allowed = ", ".join(sorted(SECTIONS[section].model_fields))
    assert f"{section}.bogus_key: unknown key (allowed in {section}: {allowed})" in str(info.value)


def test_every_params_section_has_a_bad_value_case():
    from gramops.core.params import SECTIONS

    covered = {case.split("-")[0] for case in PARAM_CASES}
    aliases = {"pull": "pull_corpus"}
    assert {aliases.get(c, c) for c in covered} >= set(SECTIONS)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "base:\n  seed: [1, 2\n",
            r"params\.yaml:3:1: not valid YAML: while parsing a flow sequence, expected ',' or ']'",
        ),
        ("base: {seed: 1}\n\tprepare: 3\n", r"params\.yaml:2:1: not valid YAML: .*'\\t'"),
        ("- base\n- train\n", r"params\.yaml: expected a mapping of sections, got list"),
        ("just a string\n", r"params\.yaml: expected a mapping of sections, got str"),
        ("", r"params\.yaml: expected a mapping of sections, got NoneType"),
        (
            "base: !!python/object/apply:os.system ['true']\n",
            r"params\.yaml:1:7: not valid YAML: could not determine a constructor",
        ),
    ],
)
def test_unreadable_params_files_name_the_file(tmp_path, text, message):
    path = tmp_path / "params.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ParamsError, match=message):
        read_params_file(path)


def test_check_params_cli_exits_2_naming_the_key(tmp_path, capsys):
    data = project_params()
    data["drift"]["bins"] = "ten"
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    assert cli.main(["check-params", str(path)]) == cli.EXIT_USAGE
    assert "drift.bins" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("stage", "edit", "key"),
    [
        ("prepare", _set("prepare", "malformed_lines", value="ignore"), "prepare.malformed_lines"),
        ("prepare", _set("drift", "bins", value=1), "drift.bins"),  # another section stops it too
        ("pull_corpus", _set("pull_corpus", "sha256", value="short"), "pull_corpus.sha256"),
    ],
)
def test_stage_scripts_exit_non_zero_on_bad_params_before_writing(tmp_path, snap, stage, edit, key):
    data = project_params()
    edit(data)
    work = stage_workspace(tmp_path, data)
    before = snap(work)
    result = run_stage(stage, work)
    assert result.returncode == 2
    assert key in result.stderr and "Traceback" not in result.stderr
    assert snap(work) == before
    assert not (work / "data" / "processed").exists() and not (work / "metrics").exists()
