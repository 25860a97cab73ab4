"""Live routing: shares within tolerance, sticky by request id, shadow independent of canary."""

import pytest

from gramops.inference.requests import PredictRequest
from gramops.serving.routing import Routing, decide
from gramops.serving.service import Service

KEYS = [f"user-{i}" for i in range(20_000)]
REQUEST = PredictRequest(sentence="She ___ home.", lemma="go")


def test_shares_are_within_tolerance_and_independent():
    routing = Routing("shadow", 0.1, "canary", 0.05)
    decisions = [decide(k, routing) for k in KEYS]
    shadow = sum(d.shadow for d in decisions) / len(KEYS)
    canary = sum(d.canary for d in decisions) / len(KEYS)
    both = sum(d.shadow and d.canary for d in decisions) / len(KEYS)
    # binomial sd at n=20,000 is 0.0021 (p=0.1) and 0.0015 (p=0.05): 4 sd tolerances
    assert abs(shadow - 0.1) < 0.009 and abs(canary - 0.05) < 0.006
    assert abs(both - 0.005) < 0.003  # separate salts: being in one says nothing of the other


def test_routing_is_sticky_and_a_larger_share_only_adds_ids():
    small, large = (
        Routing(canary_alias="canary", canary_fraction=0.05),
        Routing(canary_alias="canary", canary_fraction=0.25),
    )
    in_small = {k for k in KEYS if decide(k, small).canary}
    assert in_small == {k for k in KEYS if decide(k, small).canary}  # same ids every time
    in_large = {k for k in KEYS if decide(k, large).canary}
    assert in_small < in_large


def test_no_alias_or_zero_share_routes_nothing_and_fractions_are_checked():
    assert not any(
        decide(k, Routing(None, 1.0, None, 1.0)) != decide(k, Routing()) for k in KEYS[:100]
    )
    assert not any(decide(k, Routing("s", 0.0, "c", 0.0)).shadow for k in KEYS[:1000])
    with pytest.raises(ValueError, match="canary_fraction is 1.5"):
        Routing(canary_alias="c", canary_fraction=1.5)


def test_the_service_answers_canary_ids_with_the_canary_model_every_time(registry, serve_params):
    svc = Service.open(registry, serve_params(canary={"alias": "canary", "fraction": 0.3}))
    try:
        first = {key: svc.answer([REQUEST], key).alias for key in KEYS[:1000]}
        again = {key: svc.answer([REQUEST], key).alias for key in KEYS[:1000]}
        assert first == again
        share = sum(alias == "canary" for alias in first.values()) / len(first)
        assert abs(share - 0.3) < 0.06  # sd 0.0145 at n=1,000
        served = svc.answer([REQUEST], next(k for k, a in first.items() if a == "canary"))
        assert served.model.semver == "v0.1.1"
        # without a header, the request's own id routes it
        keyed = PredictRequest(id=KEYS[0], sentence="She ___ home.", lemma="go")
        assert svc.answer([keyed], None).alias == first[KEYS[0]]
    finally:
        svc.stop()
