"""Bad input of every kind is refused with a message naming it, and nothing is written.

Covers the inputs a user or a damaged download can hand the pipeline: WordNet files with
malformed lines (fail or skip per ``prepare.malformed_lines``), a corrupt, truncated,
wrong-hash or booby-trapped corpus archive, malformed ``params.yaml`` values in every
section, and registry refs or entries that match nothing, several things, or escape the
object store. Each refusal is checked for its message and for leaving the output
directory or registry byte-identical.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import shutil
import subprocess
import sys
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from gramops import cli
from gramops.core.params import ParamsError, PrepareParams, read_params_file, validate_all
from gramops.corpus.build import build_corpus
from gramops.corpus.source import REQUIRED_FILES, SourceError, pull_corpus
from gramops.corpus.wordnet import CorpusError, read_exceptions, read_index_lemmas, read_synsets
from gramops.models.identity import manifest_sha
from gramops.registry.store import Registry, RegistryError
from helpers.bundles import tiny_bundle

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "wordnet"
BIN = Path(sys.executable).parent

# ---------------------------------------------------------------------------------------------
# WordNet files with malformed lines
# ---------------------------------------------------------------------------------------------

GOOD_LINE = '00000009 38 v 01 halt 0 000 | stop; "The bus halted"\n'
BAD_LINES = [
    "00000010 38 v 01 stop 0 000 no gloss\n",
    "0001 38 v 01 stop 0 000 | short offset\n",
    "00000011 38 x 01 stop 0 000 | bad type\n",
    "00000012 38 v zz stop 0 000 | bad count\n",
    "00000013 38 v 03 stop 0 000 | too few words\n",
    "00000014 38 v 01 stop 0 002 @ 00000002 v 0000 | missing pointers\n",
    "00000015 38 v 01 stop 0 0x1 | pointer count\n",
]


def _data_file(tmp_path: Path) -> tuple[Path, list[int]]:
    """A data.verb with a license header, good lines and the seven BAD_LINES interleaved."""
    lines = ["  1 header line\n", "  2 header line\n"]
    bad_numbers = []
    for bad in BAD_LINES:
        lines.append(GOOD_LINE)
        lines.append(bad)
        bad_numbers.append(len(lines))
    lines.append(GOOD_LINE)
    path = tmp_path / "data.verb"
    path.write_text("".join(lines), encoding="utf-8")
    return path, bad_numbers


def test_fail_names_the_file_first_lines_count_key_and_allowed_values(tmp_path):
    path, bad = _data_file(tmp_path)
    with pytest.raises(CorpusError) as info:
        read_synsets(path)
    message = str(info.value)
    shown = ", ".join(str(n) for n in bad[:5])
    assert message.startswith(
        f"{path}:{bad[0]}: malformed WordNet data line: no '|' before the gloss; "
        f"7 malformed line(s) at line(s) {shown} and 2 more."
    )
    assert "prepare.malformed_lines" in message and "fail, skip" in message


def test_skip_drops_exactly_the_malformed_lines_and_warns_with_their_numbers(tmp_path, caplog):
    path, bad = _data_file(tmp_path)
    with caplog.at_level(logging.WARNING, logger="gramops.corpus.wordnet"):
        synsets = read_synsets(path, "skip")
    assert [s.key for s in synsets] == ["00000009-v"] * (len(BAD_LINES) + 1)
    warning = " ".join(r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)
    assert f"{path}: skipped 7 malformed line(s) at line(s)" in warning
    assert ", ".join(str(n) for n in bad[:5]) in warning


def test_a_clean_file_logs_nothing_under_skip(tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="gramops.corpus.wordnet"):
        synsets = read_synsets(FIXTURES / "data.verb", "skip")
    assert synsets == read_synsets(FIXTURES / "data.verb")
    assert caplog.records == []


@pytest.mark.parametrize("policy", ["fail", "skip"])
def test_exception_list_lines_without_a_lemma_follow_the_policy(tmp_path, policy):
    path = tmp_path / "verb.exc"
    path.write_text("went go\nlonely\nran run\n\n  \nbroke\n", encoding="utf-8")
    if policy == "fail":
        with pytest.raises(
            CorpusError,
            match=r"verb\.exc:2: malformed exception line: expected 'form lemma'; "
            r"2 malformed line\(s\) at line\(s\) 2, 6\.",
        ):
            read_exceptions(path, policy)
    else:
        assert read_exceptions(path, policy) == {"go": ("went",), "run": ("ran",)}


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("car n 1 1 @ 1 0\n", "the counts announce 8 fields, the line has 7"),
        ("car x 1 0 1 0 00000100\n", "unknown part of speech 'x'"),
        ("car n one 0 1 0 00000100\n", "synset and pointer counts 'one' '0' are not numbers"),
        ("car n 2 0 1 0 00000100\n", "the counts announce 8 fields, the line has 7"),
        ("car n 1 0 1 0 0000010\n", "a synset offset is not 8 digits"),
        ("car\n", "expected at least 7 fields, got 1"),
    ],
)
def test_malformed_index_lines_follow_the_policy(tmp_path, line, reason):
    path = tmp_path / "index.noun"
    path.write_text("  1 header\nwater n 1 1 @ 1 0 00000101\n" + line, encoding="utf-8")
    with pytest.raises(
        CorpusError, match=rf"index\.noun:3: malformed WordNet index line: ({reason})"
    ):
        read_index_lemmas(path)
    assert read_index_lemmas(path, "skip") == frozenset({"water"})


@pytest.mark.parametrize("reader", [read_synsets, read_index_lemmas, read_exceptions])
def test_an_unknown_policy_is_refused_before_the_file_is_opened(tmp_path, reader):
    missing = tmp_path / "never-read"  # opening it would raise 'WordNet file not found'
    with pytest.raises(CorpusError, match=r"prepare\.malformed_lines: 'ignore' .*fail, skip"):
        reader(missing, "ignore")


def test_a_line_that_is_not_utf8_is_a_malformed_line(tmp_path):
    path = tmp_path / "data.verb"
    path.write_bytes(GOOD_LINE.encode() + "00000016 38 v 01 caf\xe9 0 000 | x\n".encode("latin-1"))
    with pytest.raises(
        CorpusError, match=r"data\.verb:2: .*not UTF-8 text \(byte 0xe9 at column 21\)"
    ):
        read_synsets(path)
    assert [s.key for s in read_synsets(path, "skip")] == ["00000009-v"]


def test_build_corpus_skips_only_when_asked(tmp_path):
    wn = tmp_path / "wn"
    shutil.copytree(FIXTURES, wn)
    with (wn / "data.verb").open("a", encoding="utf-8") as fh:
        fh.write(BAD_LINES[0])
    split = {"train": 0.5, "dev": 0.25, "test": 0.25}
    with pytest.raises(
        CorpusError, match=r"data\.verb:\d+: malformed WordNet data line: .*; 1 malformed line"
    ):
        build_corpus(wn, PrepareParams.model_validate({"split": split}))
    skipped = build_corpus(
        wn, PrepareParams.model_validate({"split": split, "malformed_lines": "skip"})
    )
    clean = build_corpus(FIXTURES, PrepareParams.model_validate({"split": split}))
    assert skipped.records == clean.records  # the bad line contributed nothing


def _stage_workspace(tmp_path: Path, params: dict[str, Any]) -> Path:
    work = tmp_path / "ws"
    shutil.copytree(
        FIXTURES, work / "data" / "raw" / "wordnet", ignore=shutil.ignore_patterns("malformed")
    )
    (work / "params.yaml").write_text(yaml.safe_dump(params), encoding="utf-8")
    return work


def _run_stage(stage: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(BIN / "python"), str(ROOT / "stages" / f"{stage}.py")],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )


def _project_params() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))


def test_prepare_stage_fails_on_a_malformed_line_and_writes_nothing(tmp_path, snap):
    work = _stage_workspace(tmp_path, _project_params())
    with (work / "data" / "raw" / "wordnet" / "data.noun").open("a", encoding="utf-8") as fh:
        fh.write(BAD_LINES[2])
    before = snap(work)
    result = _run_stage("prepare", work)
    assert result.returncode == 2, result.stderr
    assert "data.noun:" in result.stderr and "1 malformed line(s)" in result.stderr
    assert "Traceback" not in result.stderr
    assert snap(work) == before
    params = _project_params()
    params["prepare"]["malformed_lines"] = "skip"
    (work / "params.yaml").write_text(yaml.safe_dump(params), encoding="utf-8")
    result = _run_stage("prepare", work)
    assert result.returncode == 0, result.stderr
    assert "skipped 1 malformed line(s)" in result.stderr
    assert (work / "data" / "processed" / "train.jsonl").stat().st_size > 0


# ---------------------------------------------------------------------------------------------
# Corpus source: corrupt, truncated, wrong hash, links and escaping members
# ---------------------------------------------------------------------------------------------

MEMBER = "pkg-1.0/pkg/data/wordnet-3.0/"


def _tar(path: Path, extra: Callable[[tarfile.TarFile], None] | None = None) -> str:
    with tarfile.open(path, "w:gz") as tar:
        for name in (*REQUIRED_FILES, "LICENSE"):
            data = f"{name}\n".encode()
            info = tarfile.TarInfo(MEMBER + name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        if extra is not None:
            extra(tar)
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _link(name: str, target: str, kind: bytes) -> Callable[[tarfile.TarFile], None]:
    def add(tar: tarfile.TarFile) -> None:
        info = tarfile.TarInfo(MEMBER + name)
        info.type = kind
        info.linkname = target
        tar.addfile(info)

    return add


def _file(name: str) -> Callable[[tarfile.TarFile], None]:
    def add(tar: tarfile.TarFile) -> None:
        info = tarfile.TarInfo(name)
        info.size = 3
        tar.addfile(info, io.BytesIO(b"bad"))

    return add


def _url_params(archive: Path, sha256: str):
    from gramops.core.params import PullCorpusParams

    return PullCorpusParams(source="url", url=archive.as_uri(), member=MEMBER, sha256=sha256)


@pytest.fixture
def previous_output(tmp_path: Path) -> Path:
    out = tmp_path / "data" / "raw" / "wordnet"
    out.mkdir(parents=True)
    (out / "data.verb").write_text("previous corpus\n")
    (out / "SOURCE.json").write_text("{}\n")
    return out


TRAPS = {
    "dotdot-member": (_file(MEMBER + "../../escape"), r"refusing member .*escape'.*escapes"),
    "dotdot-inside": (_file(MEMBER + "sub/../../x"), r"refusing member .*escapes"),
    "symlink": (_link("data.verb2", "/etc/passwd", tarfile.SYMTYPE), r"link to '/etc/passwd'"),
    "symlink-required": (_link("verb.exc", "../../../../etc/shadow", tarfile.SYMTYPE), r"link to"),
    "hardlink": (_link("hard", MEMBER + "data.verb", tarfile.LNKTYPE), r"is a link to"),
    "fifo": (_link("pipe", "", tarfile.FIFOTYPE), r"device or FIFO"),
}


@pytest.mark.parametrize("trap", sorted(TRAPS))
def test_archive_with_links_or_escaping_members_is_refused(tmp_path, previous_output, snap, trap):
    add, message = TRAPS[trap]
    archive = tmp_path / "src.tar.gz"
    digest = _tar(archive, add)
    before = snap(tmp_path / "data")
    with pytest.raises(SourceError, match=message) as info:
        pull_corpus(_url_params(archive, digest), previous_output)
    assert archive.as_uri() in str(info.value)
    assert snap(tmp_path / "data") == before
    assert not (tmp_path / "escape").exists() and not (tmp_path / "data" / "escape").exists()


def _truncated(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


CORRUPTIONS = {
    "truncated-gzip": _truncated,
    "not-a-tarball": lambda p: p.write_bytes(b"PK\x03\x04 this is a zip, not a tarball" * 10),
    "empty": lambda p: p.write_bytes(b""),
    "garbage-gzip": lambda p: p.write_bytes(b"\x1f\x8b\x08\x00" + b"\xff" * 200),
}


@pytest.mark.parametrize("corruption", sorted(CORRUPTIONS))
def test_corrupt_archive_pinned_by_its_own_hash_is_a_clear_error(
    tmp_path, previous_output, snap, corruption
):
    """The hash matches (the pin was taken of the damaged file): unpacking must still fail."""
    archive = tmp_path / "src.tar.gz"
    _tar(archive)
    CORRUPTIONS[corruption](archive)
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    before = snap(tmp_path / "data")
    with pytest.raises(SourceError, match=r"not a readable tar archive|has no files under") as info:
        pull_corpus(_url_params(archive, digest), previous_output)
    assert archive.as_uri() in str(info.value)
    assert snap(tmp_path / "data") == before
    assert [p.name for p in (tmp_path / "data" / "raw").iterdir()] == ["wordnet"]


@pytest.mark.parametrize("corruption", ["truncated-gzip", "flipped-byte", "appended"])
def test_wrong_hash_names_file_expected_and_actual_hash(
    tmp_path, previous_output, snap, corruption
):
    archive = tmp_path / "src.tar.gz"
    pinned = _tar(archive)
    data = bytearray(archive.read_bytes())
    if corruption == "truncated-gzip":
        data = data[: len(data) // 2]
    elif corruption == "flipped-byte":
        data[len(data) // 2] ^= 0xFF
    else:
        data += b"\x00"
    archive.write_bytes(bytes(data))
    actual = hashlib.sha256(bytes(data)).hexdigest()
    before = snap(tmp_path / "data")
    with pytest.raises(SourceError) as info:
        pull_corpus(_url_params(archive, pinned), previous_output)
    message = str(info.value)
    assert archive.as_uri() in message and f"sha256 {actual}" in message
    assert f"pull_corpus.sha256 pins {pinned}" in message
    assert snap(tmp_path / "data") == before


def test_the_pull_corpus_stage_exits_non_zero_and_writes_nothing(tmp_path, snap):
    archive = tmp_path / "src.tar.gz"
    _tar(archive)
    params = _project_params()
    params["pull_corpus"].update(source="url", url=archive.as_uri(), member=MEMBER, sha256="a" * 64)
    work = tmp_path / "ws"
    work.mkdir()
    (work / "params.yaml").write_text(yaml.safe_dump(params), encoding="utf-8")
    result = _run_stage("pull_corpus", work)
    assert result.returncode == 2
    assert f"pins {'a' * 64}" in result.stderr and "Traceback" not in result.stderr
    assert [p.name for p in work.iterdir()] == ["params.yaml"]  # not even an empty data/


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
    "section-not-mapping": (_set("train", value=5), "train", "expected a mapping, got int"),
    "unknown-section": (_set("evalute", value={}), "evalute", "known: base, pull_corpus"),
}


@pytest.mark.parametrize("case", sorted(PARAM_CASES))
def test_malformed_params_name_the_dotted_key_and_what_is_allowed(tmp_path, case):
    edit, key, allowed = PARAM_CASES[case]
    data = _project_params()
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
    data = _project_params()
    value = _wrong_type(section, field)
    data.setdefault(section, {})[field] = value
    with pytest.raises(ParamsError) as info:
        validate_all(data)
    assert f"{section}.{field}: " in str(info.value)
    assert f"(got {value!r})" in str(info.value)


@pytest.mark.parametrize("section", sorted({s for s, _ in _every_field()}))
def test_an_unknown_key_in_any_section_lists_the_allowed_keys(section):
    from gramops.core.params import SECTIONS

    data = _project_params()
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
    data = _project_params()
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
    data = _project_params()
    edit(data)
    work = _stage_workspace(tmp_path, data)
    before = snap(work)
    result = _run_stage(stage, work)
    assert result.returncode == 2
    assert key in result.stderr and "Traceback" not in result.stderr
    assert snap(work) == before
    assert not (work / "data" / "processed").exists() and not (work / "metrics").exists()


# ---------------------------------------------------------------------------------------------
# Registry refs and entries
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        ("", r"empty ref"),
        ("   ", r"empty ref"),
        ("0123456789abcdef", r"no registered SHA starts with '0123456789abcdef'"),
        ("f" * 64, r"SHA f{64} is not registered"),
        ("abc", r"short SHA 'abc' has 3 hex digits; give at least 8"),
        ("v9.9.9", r"semver v9\.9\.9 is not tagged .*tagged: v0\.1\.0, v0\.2\.0, v0\.3\.0"),
        ("1.2", r"unknown ref '1\.2'"),
        ("v1.2", r"unknown ref 'v1\.2'"),
        ("v1.2.3.4", r"unknown ref 'v1\.2\.3\.4'"),
        ("01.2.3", r"unknown ref '01\.2\.3'"),
        ("v0.1.0-rc1", r"unknown ref 'v0\.1\.0-rc1'"),
        ("staging", r"unknown ref 'staging'.*aliases: production"),
        ("PRODUCTION", r"unknown ref 'PRODUCTION'"),
        ("../../etc/passwd", r"unknown ref '\.\./\.\./etc/passwd'"),
        ("g" * 12, r"unknown ref 'g{12}'"),
    ],
)
def test_refs_that_match_nothing_name_the_ref(populated_registry, snap, ref, message):
    before = snap(populated_registry.root)
    with pytest.raises(RegistryError, match=message):
        populated_registry.resolve(ref)
    assert snap(populated_registry.root) == before


def test_an_ambiguous_prefix_lists_every_candidate(tmp_path, snap):
    reg = Registry(tmp_path / "registry", actor="tester")
    reg.entries_dir.mkdir(parents=True)
    twins = ["deadbeef" + "0" * 56, "deadbeef" + "1" * 56, "deadbeef" + "2" * 56]
    for sha in twins:
        reg.entry_path(sha).write_text("{}")
    before = snap(reg.root)
    for prefix in ("deadbeef", "DEADBEEF"):
        with pytest.raises(RegistryError, match=r"ambiguous, it matches 3 entries") as info:
            reg.resolve(prefix)
        assert all(sha in str(info.value) for sha in twins)
    assert snap(reg.root) == before


SEMVER_OPS: dict[str, Callable[[Registry, str], Any]] = {
    "tag": lambda reg, v: reg.tag("v0.1.0", v),
    "retag": lambda reg, v: reg.retag("v0.1.0", v),
}
NOT_SEMVERS = ["1.2", "v1.2.3.4", "01.2.3", "v1.02.3", "v-1.0.0", "latest", "", "V1.2.3"]


@pytest.mark.parametrize("op", sorted(SEMVER_OPS))
@pytest.mark.parametrize("semver", NOT_SEMVERS)
def test_a_semver_that_is_not_semver_changes_nothing(populated_registry, snap, op, semver):
    before = snap(populated_registry.root)
    with pytest.raises(RegistryError, match=r"is not a semver: use vMAJOR\.MINOR\.PATCH") as info:
        SEMVER_OPS[op](populated_registry, semver)
    assert repr(semver) in str(info.value)
    assert snap(populated_registry.root) == before


@pytest.fixture(scope="module")
def untagged_registry(tmp_path_factory):
    """A registry with one registered fp32 entry and no semver yet (read-only)."""
    tmp = tmp_path_factory.mktemp("untagged")
    reg = Registry(tmp / "registry", actor="tester")
    reg.register(tiny_bundle(tmp / "fp32", "fp32", seed=1), family="fp32")
    return reg


@pytest.mark.parametrize("semver", NOT_SEMVERS)
def test_a_first_semver_that_is_not_semver_promotes_nothing(untagged_registry, snap, semver):
    """The family's first version comes from params (release.first_semver) at promotion."""
    reg = untagged_registry
    before = snap(reg.root)
    with pytest.raises(RegistryError, match=r"is not a semver: use vMAJOR\.MINOR\.PATCH") as info:
        reg.promote(reg.shas()[0], reason="first release", first_semver=semver)
    assert repr(semver) in str(info.value)
    assert snap(reg.root) == before


@pytest.mark.parametrize(
    "name", ["Production", "deadbeef", "v2", "v1.2.3", "prod uction", "-x", ""]
)
def test_an_alias_that_could_read_as_another_ref_changes_nothing(populated_registry, snap, name):
    before = snap(populated_registry.root)
    with pytest.raises(RegistryError, match=r"is not a valid alias"):
        populated_registry.set_alias(name, "v0.1.0")
    assert snap(populated_registry.root) == before


def _forged_entry(reg: Registry, make_bundle, tmp_path: Path, edit: Callable[[dict], None]) -> str:
    """Register a real bundle, then store an edited copy of its entry under the SHA the edit
    hashes to: a self-consistent forgery, so only the shape checks can refuse it."""
    sha = reg.register(make_bundle(tmp_path / "fp32", "fp32"), family="fp32").sha
    entry = json.loads(reg.entry_path(sha).read_text())
    edit(entry)
    forged = manifest_sha([(f["path"], f["sha256"]) for f in entry["files"]], entry["parent_sha"])
    entry["sha"] = forged
    reg.entry_path(forged).write_text(json.dumps(entry))
    return forged


ENTRY_EDITS = {
    "dotdot-path": lambda e: e["files"][0].update(path="../x"),
    "nested-dotdot": lambda e: e["files"][0].update(path="sub/../../x"),
    "absolute-path": lambda e: e["files"][0].update(path="/tmp/x"),
    "hidden-path": lambda e: e["files"][0].update(path=".bashrc"),
    "object-short": lambda e: e["files"][0].update(object="abc"),
    "object-traversal": lambda e: e["files"][0].update(object="../" + "a" * 61),
    "object-uppercase": lambda e: e["files"][0].update(object=e["files"][0]["object"].upper()),
    "files-not-a-list": lambda e: e.update(files={"path": "config.json"}),
}


@pytest.mark.parametrize("edit", sorted(ENTRY_EDITS))
def test_entries_whose_files_escape_the_store_are_refused_naming_the_entry(
    tmp_path, make_bundle, snap, monkeypatch, edit
):
    monkeypatch.delenv("GRAMOPS_REGISTRY_OBJECTS", raising=False)
    reg = Registry(tmp_path / "registry", actor="tester")
    if edit == "files-not-a-list":
        sha = reg.register(make_bundle(tmp_path / "fp32", "fp32"), family="fp32").sha
        entry = json.loads(reg.entry_path(sha).read_text())
        ENTRY_EDITS[edit](entry)
        reg.entry_path(sha).write_text(json.dumps(entry))
    else:
        sha = _forged_entry(reg, make_bundle, tmp_path, ENTRY_EDITS[edit])
    dest = tmp_path / "dest"
    before = snap(tmp_path)
    with pytest.raises(RegistryError, match=r"malformed files list") as info:
        reg.materialize(sha[:12], dest)
    assert sha in str(info.value)
    assert snap(tmp_path) == before
    assert not dest.exists()


@pytest.mark.parametrize("edit", ["files-not-a-list", "object-traversal", "dotdot-path"])
def test_objects_present_refuses_a_malformed_entry_naming_it(
    tmp_path, make_bundle, monkeypatch, edit
):
    """cpqu and mirror ask ``objects_present`` before materializing: it must check the entry's
    shape as strictly as ``materialize`` does, not crash or probe a key outside the store."""
    monkeypatch.delenv("GRAMOPS_REGISTRY_OBJECTS", raising=False)
    reg = Registry(tmp_path / "registry", actor="tester")
    sha = reg.register(make_bundle(tmp_path / "fp32", "fp32"), family="fp32").sha
    entry = json.loads(reg.entry_path(sha).read_text())
    ENTRY_EDITS[edit](entry)
    reg.entry_path(sha).write_text(json.dumps(entry))
    with pytest.raises(RegistryError, match=r"malformed files list") as info:
        reg.objects_present(sha)
    assert sha in str(info.value)
