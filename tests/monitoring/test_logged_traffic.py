"""A captured `gramops serve` request log as live traffic: its records, weeks, bad lines,
the agreement report on it, and what the gate and the drift report make of it."""

import json

import numpy as np
import pytest

from gramops.core.params import ParamsError, ShiftParams
from gramops.inference.predictor import Prediction
from gramops.monitoring import drift_weekly, gate_rules, traffic
from gramops.monitoring.logged_traffic import LogError, log_traffic, read_log
from gramops.monitoring.traffic_agreement import NEEDS_GOLD, answers_of
from gramops.serving.requestlog import RequestLog

PROD, CAND, OTHER = "p" * 64, "c" * 64, "o" * 64
SHIFT = {"kind": "mix", "intensity": 0.0, "size": 50, "weeks": 4, "seed": 7}


def _answer(request, form, tag="VBD", confidence=0.9):
    filled = request["sentence"].replace("___", form)
    return {"id": request.get("id"), "form": form, "tag": tag, "confidence": confidence,
            "sentence": filled}  # fmt: skip


def _call(time, requests, forms, sha=PROD, shadow=None, request_id=None):
    """A line as Service.record writes it: the call, the served answers, maybe the shadow's."""
    line = {
        "time": time,
        "request_id": request_id or f"call-{time}",
        "endpoint": "/v1/predict",
        "status": 200,
        "latency_ms": 1.5,
        "model": {"alias": "production", "sha": sha, "semver": "v0.2.4", "family": "int8"},
        "requests": requests,
        "answers": [_answer(r, f) for r, f in zip(requests, forms, strict=True)],
        "shadow": None,
    }
    if shadow is not None:
        shadow_sha, shadow_forms = shadow
        line["shadow"] = {
            "alias": "shadow",
            "sha": shadow_sha,
            "semver": None,
            "family": "lora",
            "answers": [
                _answer(r, f, confidence=0.6) for r, f in zip(requests, shadow_forms, strict=True)
            ],
            "disagreements": sum(a != b for a, b in zip(forms, shadow_forms, strict=True)),
            "latency_ms": 2.0,
        }
    return line


def _write(path, lines):
    """The fixture log, written by the server's own writer."""
    log = RequestLog(path, max_bytes=10**6, backups=1)
    log.start()
    for line in lines:
        log.write(line)
    log.close()
    return path


WALK = {"id": "a", "sentence": "Yesterday she ___ home.", "lemma": "walk"}
GO = {"id": None, "sentence": "___ to bed now.", "lemma": "go"}
REFUSED = {
    "time": "2026-11-03T10:00:00.000Z",
    "request_id": "bad",
    "endpoint": "/v1/predict",
    "status": 400,
    "latency_ms": 0.2,
    "model": {"alias": "production", "sha": PROD, "semver": "v0.2.4", "family": "int8"},
    "error": "lemma: 'Go' is not a single lowercase word",
    "body": "{}",
}


@pytest.fixture
def log_path(tmp_path):
    return _write(
        tmp_path / "requests.jsonl",
        [
            # Tue 2026-11-10 (week 2), logged before an earlier call (completion order)
            _call("2026-11-10T09:00:00.000Z", [WALK], ["walked"], shadow=(CAND, ["walks"])),
            # Mon 2026-11-02 (week 1): a batch of two
            _call("2026-11-02T23:59:59.999Z", [WALK, GO], ["walked", "Go"]),
            REFUSED,
            # Sun 2026-11-22, the last day of week 3 (16-22 Nov), answered by a canary
            _call("2026-11-22T23:00:00.000+00:00", [GO], ["go"], sha=CAND),
        ],
    )


def test_every_answered_request_becomes_a_record_parsed_as_the_server_parsed_it(log_path):
    records, refused = log_traffic(read_log(log_path), str(log_path))
    assert refused == 1 and len(records) == 4
    first = records[0]  # time order, not log order
    assert first["request_id"] == "call-2026-11-02T23:59:59.999Z/0"
    assert first["tokens"] == ["Yesterday", "she", "___", "home", "."]
    assert first["verb_index"] == 2 and first["lemma"] == "walk" and first["id"] == "a"
    assert first["served"] == {
        "alias": "production", "sha": PROD, "semver": "v0.2.4",
        "form": "walked", "tag": "VBD", "confidence": 0.9,
    }  # fmt: skip
    assert first["tag"] == "VBD"  # the served model's tag: no gold tag is known
    assert first["shadow"] is None and "form" not in first and "acceptable" not in first
    shadowed = records[2]
    assert shadowed["request_id"] == "call-2026-11-10T09:00:00.000Z"  # a single request
    assert shadowed["shadow"]["sha"] == CAND and shadowed["shadow"]["form"] == "walks"
    assert json.loads(json.dumps(records)) == records


def test_weeks_are_utc_calendar_weeks_counted_from_the_earliest_request(log_path):
    records, _ = log_traffic(read_log(log_path), "log")
    assert [r["week"] for r in records] == [1, 1, 2, 3]
    # an offset is converted to UTC before the week is taken
    late = _call("2026-11-09T00:30:00.000+02:00", [GO], ["go"])  # Sun 8 Nov 22:30 UTC
    early = _call("2026-11-02T00:00:00.000Z", [GO], ["go"])
    records, _ = log_traffic([(1, early), (2, late)], "log")
    assert [r["week"] for r in records] == [1, 1]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"time": "2026-11-02T10:00:00Z"', r"x\.jsonl:2: not JSON"),
        ("[1, 2]", r"x\.jsonl:2: a log line must be a JSON object"),
    ],
)
def test_a_line_that_is_not_a_json_object_is_named_by_file_and_line(tmp_path, text, message):
    path = tmp_path / "x.jsonl"
    good = json.dumps(_call("2026-11-02T10:00:00.000Z", [GO], ["go"]))
    path.write_text(f"{good}\n{text}\n")
    with pytest.raises(LogError, match=message):
        read_log(path)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"time": "last tuesday"}, r"log:7: time 'last tuesday' is not an ISO 8601"),
        ({"time": "2026-11-02T10:00:00"}, r"log:7: .*has no time zone"),
        ({"answers": []}, r"log:7: 1 requests but 0 answers"),
        ({"model": {"alias": "production"}}, r"log:7: `model` must name .*`sha`"),
        ({"requests": [{"sentence": "no slot", "lemma": "go"}]}, r"log:7: requests\[0\]\.sentence"),
        ({"answers": [{"form": "go"}]}, r"log:7: answers\[0\] needs form, tag, confidence"),
    ],
)
def test_a_bad_call_is_named_by_file_line_and_field(change, message):
    line = {**_call("2026-11-02T10:00:00.000Z", [GO], ["go"]), **change}
    with pytest.raises(LogError, match=message):
        log_traffic([(7, line)], "log")


def test_a_missing_or_refusals_only_log_says_what_to_do(tmp_path):
    with pytest.raises(LogError, match=r"no request log there.*shift.source: synthetic"):
        read_log(tmp_path / "none.jsonl")
    with pytest.raises(LogError, match=r"no answered requests \(1 refused calls\)"):
        log_traffic([(1, REFUSED)], "log")


def test_the_log_must_lie_in_the_declared_dependency_directory():
    assert ShiftParams(**SHIFT).source == "synthetic"
    ShiftParams(**SHIFT, source="log", log="data/requests/week48.jsonl")
    for bad in ("logs/requests.jsonl", "data/requests/../x.jsonl", "data/requests"):
        with pytest.raises(ValueError, match="under data/requests/"):
            ShiftParams(**SHIFT, source="log", log=bad)
    with pytest.raises((ValueError, ParamsError)):
        ShiftParams(**SHIFT, source="kafka")


# --------------------------------------------------------------------------- agreement


class _Fixed:
    """A model answering every record with one form, counting what it was asked."""

    def __init__(self, form):
        self.form, self.asked = form, 0

    def predict(self, records):
        self.asked += len(records)
        n = len(records)
        return Prediction(tags=["VB"] * n, forms=[self.form] * n, confidence=np.full(n, 0.5))


REFERENCE = [
    {"tokens": ["x", "walk", "y"], "verb_index": 1, "lemma": "walk", "tag": "VBD",
     "form": "walked", "acceptable": ["walked"], "domain": "verb"},
]  # fmt: skip


def test_logged_answers_are_used_where_present_and_only_the_rest_computed(log_path):
    records, _ = log_traffic(read_log(log_path), "log")
    model = _Fixed("walk")
    answers, logged = answers_of(records, CAND, traffic._answering(CAND, model))
    # CAND shadowed one request and served one (a canary); the two others are computed
    assert logged == 2 and model.asked == 2
    assert [a["form"] for a in answers] == ["walk", "walk", "walks", "go"]


def test_the_agreement_report_puts_both_answers_side_by_side_and_lists_disagreements(log_path):
    records, _ = log_traffic(read_log(log_path), "log")
    production, candidate = _Fixed("unused"), _Fixed("walked")
    result = traffic.logged_comparison(records, REFERENCE, (PROD, CAND), (production, candidate))
    a = result["agreement"]
    assert result["gold"] is False and set(result["needs_gold"]) == set(NEEDS_GOLD)
    assert "replay" not in result and "ab" not in result and "canary" not in result
    # production: 3 served answers logged, 1 (the canary's request) computed = "unused"
    assert a["answers_logged"] == {"production": 3, "candidate": 2}
    # candidate: computed "walked" x2, logged shadow "walks", logged canary "go"
    assert a["n_requests"] == 4 and a["disagreements"] == 3 and a["agreements"] == 1
    assert a["both_logged"] == {"n": 1, "disagreements": 1}
    listed = {(r["sentence"], r["production"], r["candidate"]) for r in a["listed"]}
    assert listed == {
        ("___ to bed now.", "Go", "walked"),
        ("Yesterday she ___ home.", "walked", "walks"),
        ("___ to bed now.", "unused", "go"),
    }
    assert a["confidence"]["production"]["mean_when_agreeing"] == 0.9
    assert set(result["slices"]) >= {"tag:VBD", "domain:verb"}  # quality: the labelled split

    metrics, text = traffic.report(
        traffic.Model(PROD, "int8", ["v0.2.4"]), traffic.Model(CAND, "lora", []), lambda: result
    )
    assert metrics["agreement"] == a and "A/B" not in text
    assert "| Yesterday she ___ home. | walk | walked (0.90) | walks (0.60) | yes |" in text
    assert "## Not computed: needs gold answers" in text and "pass_rate" in text
    assert "## Slices of the reference test split" in text
    assert "on logged traffic: 3/4 answers differ" in traffic.summary_line(metrics)


def test_the_gate_does_not_judge_pass_rates_on_a_log_it_cannot_score():
    inputs = gate_rules.GateInputs(
        production=PROD, production_reference=(90, 100), candidate=CAND,
        candidate_reference=(95, 100), traffic_gold=False, candidate_evaluated_on_current=True,
    )  # fmt: skip
    rules, _ = gate_rules.rules(inputs, _GateParams())
    rule = next(r for r in rules if r.name == "noninferiority_traffic")
    assert rule.passed and rule.value is None and "request log" in rule.detail
    with_gold = gate_rules.rules(
        gate_rules.GateInputs(PROD, (90, 100), CAND, (95, 100)), _GateParams()
    )[0]
    assert not next(r for r in with_gold if r.name == "noninferiority_traffic").passed


class _GateParams:
    quality_floor, margin, alpha, cpqu_ceiling, slice_min_n, slice_margin = (
        0.9, 0.02, 0.05, 1.5, 30, 0.05
    )  # fmt: skip


def test_drift_skips_weeks_without_requests_and_has_no_intensity_on_a_log():
    traffic_records = [{"week": 1}, {"week": 3}]
    assert drift_weekly.week_count(traffic_records) == 3
    weeks = [drift_weekly.Week(n, 1, {"status": "none", "retrain": False, "features": {}})
             for n in (1, 3)]  # fmt: skip
    rows = drift_weekly.week_rows(weeks, ShiftParams(**SHIFT, source="log"))
    assert list(rows) == ["week_01", "week_03"] and rows["week_03"]["intensity"] is None
    synthetic = drift_weekly.week_rows(weeks, ShiftParams(**SHIFT))
    assert synthetic["week_03"]["intensity"] == 0.0
