"""The HTTP app: answers with the model named, 4xx that name the field, MLflow's formats,
health and readiness, Prometheus text, shadow off the response path, the request log."""

import re
import threading
import time
from pathlib import Path

import pytest

from gramops.serving.app import create_app
from gramops.serving.service import Service
from helpers.serving import call_app, log_lines, tamper

ONE = {"sentence": "She ___ to school yesterday.", "lemma": "go"}
TWO = [ONE, {"id": "b", "sentence": "They have ___ it.", "lemma": "do"}]


@pytest.fixture
def app(service):
    return create_app(service)


def _sha(registry, ref):
    return registry.resolve(ref)


def test_one_request_and_a_batch_are_answered_naming_the_model(app, registry):
    one = call_app(app, "POST", "/v1/predict", ONE, {"X-Request-Id": "req-1"})
    assert one.status == 200
    assert one.headers["x-gramops-model-sha"] == _sha(registry, "v0.1.0")
    assert one.headers["x-gramops-model-semver"] == "v0.1.0"
    assert one.headers["x-request-id"] == "req-1"
    body = one.json()
    assert body["model"] == {
        "alias": "production",
        "sha": _sha(registry, "v0.1.0"),
        "semver": "v0.1.0",
        "family": "fp32",
    }
    assert (
        body["prediction"]["sentence"].startswith("She ")
        and "___" not in body["prediction"]["sentence"]
    )
    batch = call_app(app, "POST", "/v1/predict", TWO).json()
    assert [p["id"] for p in batch["predictions"]] == [None, "b"]
    assert batch["predictions"][0] == body["prediction"]


@pytest.mark.parametrize(
    ("body", "status", "names"),
    [
        ({"sentence": "She ___ home.", "lemma": "Go!"}, 400, "lemma: 'Go!' is not a verb"),
        ({"sentence": "She went home.", "lemma": "go"}, 400, "sentence: must mark exactly one"),
        ({"lemma": "go"}, 400, "sentence: Field required"),
        ([ONE, {"sentence": "x ___", "lemma": 3}], 400, "request at index 1: lemma"),
        ({**ONE, "extra": 1}, 400, "extra: Extra inputs are not permitted"),
        ('{"sentence": ', 400, "invalid JSON"),
        (b"\xff\xfe", 400, "not UTF-8"),
        ("", 400, "the input is empty"),
        ([ONE] * 5, 413, "serve.max_batch"),
    ],
)
def test_bad_input_is_a_4xx_naming_the_field(registry, serve_params, body, status, names):
    service = Service.open(registry, serve_params(max_batch=4))
    reply = call_app(create_app(service), "POST", "/v1/predict", body)
    assert reply.status == status and names in reply.json()["error"]
    assert reply.headers["x-gramops-model-sha"] == _sha(registry, "v0.1.0")


def test_an_oversized_body_is_413_with_or_without_a_length(registry, serve_params):
    app = create_app(Service.open(registry, serve_params(max_body_bytes=1024)))
    big = [ONE] * 40
    declared = call_app(app, "POST", "/v1/predict", big, {"Content-Length": "2000"})
    streamed = call_app(app, "POST", "/v1/predict", big, chunks=8)  # no Content-Length
    for reply in (declared, streamed):
        assert reply.status == 413 and "serve.max_body_bytes" in reply.json()["error"]


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (
            {"dataframe_split": {"columns": ["sentence", "lemma"], "data": [list(ONE.values())]}},
            None,
        ),
        ({"dataframe_records": [ONE]}, None),
        ({"instances": [ONE]}, None),
        ({"inputs": {"sentence": [ONE["sentence"]], "lemma": ["go"]}}, None),
        ({"inputs": [ONE], "params": {}}, None),
        ('sentence,lemma\n"She ___ to school yesterday.",go\n', "text/csv"),
    ],
)
def test_mlflow_scoring_formats_answer_like_v1(app, body, content_type):
    headers = {"Content-Type": content_type or "application/json"}
    reply = call_app(app, "POST", "/invocations", body, headers)
    assert reply.status == 200, reply.body
    expected = call_app(app, "POST", "/v1/predict", ONE).json()["prediction"]
    assert reply.json()["predictions"] == [{k: expected[k] for k in ("form", "tag", "confidence")}]
    assert reply.headers["x-gramops-model-semver"] == "v0.1.0"


@pytest.mark.parametrize(
    ("body", "names"),
    [
        ({"data": [ONE]}, "expected exactly one of dataframe_split"),
        ({"dataframe_records": [ONE, {"sentence": "x ___", "lemma": "Bad!"}]}, "index 1: lemma"),
        ({"dataframe_split": {"columns": ["sentence"], "data": [["x ___", "go"]]}}, "data[0]"),
        ({"inputs": {"sentence": ["a ___"], "lemma": ["go", "do"]}}, "equal length"),
    ],
)
def test_mlflow_format_errors_are_bad_request(app, body, names):
    reply = call_app(app, "POST", "/invocations", body)
    assert reply.status == 400
    assert reply.json()["error_code"] == "BAD_REQUEST" and names in reply.json()["message"]


def test_health_readiness_and_a_failed_reload_shown_everywhere(app, service, registry):
    assert call_app(app, "GET", "/healthz").json()["status"] == "ok"
    ready = call_app(app, "GET", "/readyz").json()
    assert ready["status"] == "ready" and ready["models"]["production"]["semver"] == "v0.1.0"
    tamper(registry, "v0.1.1")
    target = registry.promote("v0.1.1", reason="bad bytes").sha
    deadline = time.monotonic() + 2
    while service.primary.failure is None and time.monotonic() < deadline:
        time.sleep(0.01)
    ready = call_app(app, "GET", "/readyz")
    assert ready.status == 200  # still serving: taking it out of rotation helps no one
    body = ready.json()
    assert body["status"] == "degraded" and body["reload_failing"] == ["production"]
    failure = body["models"]["production"]["reload_failure"]
    assert failure["target_sha"] == target and "tampered" in failure["error"]
    answer = call_app(app, "POST", "/v1/predict", ONE)
    assert answer.headers["x-gramops-model-semver"] == "v0.1.0"  # the old model answers
    metrics = call_app(app, "GET", "/metrics").body.decode()
    assert f'gramops_model_reload_failing{{alias="production",target_sha="{target}"}} 1' in metrics
    assert 'gramops_model_reloads_total{alias="production",result="failed"} 1' in metrics


SAMPLE = re.compile(r'^[a-z_]+(\{([a-z_]+="[^"]*",?)*\})? -?[0-9.e+-]+$')


def test_metrics_are_prometheus_text(app, registry):
    call_app(app, "POST", "/v1/predict", ONE)
    call_app(app, "POST", "/v1/predict", {"lemma": "go"})
    reply = call_app(app, "GET", "/metrics")
    assert reply.headers["content-type"].startswith("text/plain; version=0.0.4")
    text = reply.body.decode()
    typed = {}
    for line in text.splitlines():
        if line.startswith("# TYPE"):
            _, _, name, kind = line.split()
            assert name not in typed, f"{name} typed twice"
            typed[name] = kind
        elif not line.startswith("# HELP"):
            assert SAMPLE.match(line), line
    assert typed["gramops_requests_total"] == "counter"
    assert typed["gramops_request_duration_seconds"] == "histogram"
    sha = _sha(registry, "v0.1.0")
    info = f'alias="production",family="fp32",model_semver="v0.1.0",model_sha="{sha}"'
    assert f"gramops_model_info{{{info}}} 1" in text
    assert 'gramops_request_errors_total{code="400",endpoint="/v1/predict"} 1' in text
    buckets = [
        int(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith('gramops_request_duration_seconds_bucket{endpoint="/v1/predict"')
    ]
    assert buckets == sorted(buckets) and buckets[-1] == 2  # cumulative; +Inf is the count
    assert 'gramops_request_duration_seconds_count{endpoint="/v1/predict"} 2' in text


def test_every_call_is_logged_with_answers_and_shas_and_flushed_on_stop(registry, serve_params):
    params = serve_params()
    service = Service.open(registry, params)
    service.start()
    app = create_app(service)
    for _ in range(50):
        call_app(app, "POST", "/v1/predict", TWO)
    call_app(app, "POST", "/v1/predict", {"lemma": "go"})
    service.stop()
    lines = log_lines(Path(params.request_log.path))
    assert len(lines) == 51
    first = lines[0]
    assert first["model"]["sha"] == _sha(registry, "v0.1.0") and first["status"] == 200
    assert [r["lemma"] for r in first["requests"]] == ["go", "do"]
    assert [a["id"] for a in first["answers"]] == [None, "b"]
    assert {"time", "latency_ms", "request_id", "shadow"} <= set(first)
    assert lines[-1]["status"] == 400 and "sentence" in lines[-1]["error"]


def test_shadow_answers_are_logged_beside_and_never_delay_or_fail_the_user(registry, serve_params):
    params = serve_params(shadow={"alias": "shadow", "fraction": 1.0})
    service = Service.open(registry, params)
    service.start()
    app = create_app(service)
    shadow = service.holders["shadow"]
    real = shadow.model
    gate, calls = threading.Event(), []

    class Blocked:
        def predict(self, records):
            calls.append(len(records))
            gate.wait(10)
            raise RuntimeError("shadow model exploded")

    start = time.monotonic()
    first = call_app(app, "POST", "/v1/predict", ONE)
    assert first.status == 200  # the real shadow answers this one (asynchronously)
    deadline = time.monotonic() + 2
    while service.shadow_pending and time.monotonic() < deadline:
        time.sleep(0.01)
    shadow.model = type(real)(real.sha, real.semver, real.family, Blocked(), real.loaded_at)
    second = call_app(app, "POST", "/v1/predict", ONE)
    assert second.status == 200 and time.monotonic() - start < 1  # not waiting for the shadow
    assert second.headers["x-gramops-model-semver"] == "v0.1.0"
    gate.set()
    service.stop()  # waits for the shadow, then flushes
    lines = log_lines(Path(params.request_log.path))
    assert len(lines) == 2
    ok, failed = lines
    assert ok["model"]["semver"] == "v0.1.0" and ok["shadow"]["semver"] == "v0.3.0"
    assert ok["shadow"]["sha"] == _sha(registry, "v0.3.0") and len(ok["shadow"]["answers"]) == 1
    assert ok["shadow"]["disagreements"] in (0, 1)
    assert failed["shadow"]["error"] == "shadow model exploded" and failed["answers"]
    assert service.metrics.value("gramops_shadow_total", result="failed") == 1


def test_v1_reads_requests_as_predict_does_numeric_ids_any_case_and_warnings(app):
    batch = [
        {"id": 7, "sentence": "She ___ early.", "lemma": "Get Up"},
        {"id": 8, "sentence": "She ___ home.", "lemma": "went"},
    ]
    answers = call_app(app, "POST", "/v1/predict", batch).json()["predictions"]
    assert [a["id"] for a in answers] == ["7", "8"]
    assert answers[0]["form"].endswith(" up") and answers[0]["warnings"] == []
    assert "did you mean 'go'?" in answers[1]["warnings"][0]
