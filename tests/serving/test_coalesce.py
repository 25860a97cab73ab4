"""Calls answered together (one model call) get exactly what each would get alone, and
`--workers` processes open their own service from the environment."""

import asyncio
import json
from pathlib import Path

import pytest

from gramops.inference.requests import PredictRequest
from gramops.registry.store import Registry
from gramops.serving import app as app_module
from gramops.serving.coalesce import Coalescer
from gramops.serving.service import Served, Service

CALLS = [
    [PredictRequest(sentence="She ___ to school every day.", lemma="go")],
    [
        PredictRequest(id="a", sentence="Yesterday he ___ home.", lemma="walk"),
        PredictRequest(id="b", sentence="They have ___ the book.", lemma="read"),
    ],
    [PredictRequest(sentence="___ the door, please.", lemma="open")],
]


def _answers(served: Served) -> list[dict]:
    return [a.model_dump() for a in served.answers]


def test_calls_answered_together_equal_each_answered_alone(service: Service) -> None:
    alone = [service.answer(call, f"id-{k}") for k, call in enumerate(CALLS)]
    together = service.answer_calls([(call, f"id-{k}") for k, call in enumerate(CALLS)])
    for one, joint in zip(alone, together, strict=True):
        assert isinstance(joint, Served)
        for a, b in zip(_answers(joint), _answers(one), strict=True):
            # a batch may sum in another order: confidences agree to float32 rounding
            assert a == {**b, "confidence": pytest.approx(b["confidence"], rel=1e-5)}
        assert (joint.request_id, joint.model.sha) == (one.request_id, one.model.sha)
    counted = [
        float(line.rsplit(" ", 1)[1])
        for line in service.metrics.render([]).splitlines()
        if line.startswith("gramops_predictions_total{")
    ]
    assert sum(counted) == 8  # 4 sentences alone, the same 4 together: counted per call


def test_a_failing_call_fails_alone(service: Service, monkeypatch) -> None:
    predictor = service.primary.model.predictor
    real = type(predictor).predict

    def fussy(self, records):
        if any(r["lemma"] == "open" for r in records):
            raise ValueError("cannot answer open")
        return real(self, records)

    monkeypatch.setattr(type(predictor), "predict", fussy)
    results = service.answer_calls([(call, None) for call in CALLS])
    assert [type(r).__name__ for r in results] == ["Served", "Served", "ValueError"]


def test_the_coalescer_answers_concurrent_calls_in_one_turn(service: Service) -> None:
    coalescer = Coalescer(service)
    joint_calls: list[int] = []
    answer_calls = service.answer_calls

    def counting(calls):
        joint_calls.append(len(calls))
        return answer_calls(calls)

    service.answer_calls = counting  # type: ignore[method-assign]

    async def main() -> list[Served]:
        return await asyncio.gather(*(coalescer.answer(call, None) for call in CALLS))

    served = asyncio.run(main())
    assert joint_calls == [3]
    assert [len(s.answers) for s in served] == [1, 2, 1]


def test_a_worker_opens_its_own_service_with_its_own_log(
    registry: Registry, serve_params, monkeypatch, tmp_path: Path
) -> None:
    params = serve_params()
    monkeypatch.setenv(app_module.WORKER_CONFIG, app_module.worker_config(registry.url, params))
    opened: list[Service] = []
    real_open = Service.open

    def spy(reg, p):
        opened.append(real_open(reg, p))
        return opened[-1]

    monkeypatch.setattr(Service, "open", staticmethod(spy))
    app_module.worker_app()
    service = opened[0]
    try:
        assert service.primary.model.sha == registry.aliases()["production"]
        assert service.log is not None
        path = Path(params.request_log.path)
        assert service.log.path.parent == path.parent
        assert service.log.path.name.startswith("requests.") and service.log.path.name != path.name
        assert json.loads(app_module.worker_config("x", params))["params"]["poll_seconds"] == 0.05
    finally:
        service.stop()
