"""A service over an S3 registry (moto) follows its alias like a local one: two replicas
(two services over one bucket) both switch after a promotion and after a rollback."""

import time

import pytest

from gramops.core.params import ServeParams
from gramops.inference.requests import PredictRequest
from gramops.registry.store import Registry
from gramops.serving.service import Service
from helpers.bundles import tiny_bundle

pytestmark = pytest.mark.reliability

REQUEST = PredictRequest(sentence="She ___ home.", lemma="go")


def test_two_replicas_on_one_s3_registry_both_follow_promote_and_rollback(s3_bucket, tmp_path):
    reg = Registry(f"{s3_bucket}/registry", actor="tester")
    first = reg.register(tiny_bundle(tmp_path / "a", seed=1), family="fp32")
    second = reg.register(tiny_bundle(tmp_path / "b", seed=2), family="fp32")
    reg.promote(first.sha, reason="first", first_semver="v0.1.0")
    params = ServeParams(poll_seconds=0.1, request_log={"path": None})
    replicas = [Service.open(Registry(reg.url), params) for _ in range(2)]
    for replica in replicas:
        replica.start()
    try:
        moves = (
            lambda: reg.promote(second.sha, reason="up").sha,
            lambda: reg.rollback(reason="back")[0],
        )
        for move in moves:
            sha = move()
            start = time.monotonic()
            while any(r.answer([REQUEST], None).model.sha != sha for r in replicas):
                assert time.monotonic() - start < 2, "a replica still serves the old model"
                time.sleep(0.02)
    finally:
        for replica in replicas:
            replica.stop()
