"""Releasing: promotion is a gated, signed act; the deploy check sees the whole state.

Unit tests on a tiny registry; the real pipeline's sequence is in tests/e2e/test_release.py.
"""

import json
from pathlib import Path

import pytest

from gramops.registry import auditlog
from gramops.registry.store import Registry
from gramops.release.policy import (
    decision_record,
    deploy_problems,
    promotion_refusals,
    staleness,
    standing_problem,
)
from helpers.bundles import tiny_bundle


@pytest.fixture
def reg(tmp_path: Path) -> Registry:
    return Registry(tmp_path / "registry", actor="alice@example.com")


@pytest.fixture
def models(reg, tmp_path) -> dict[str, str]:
    base = reg.register(tiny_bundle(tmp_path / "fp32"), family="fp32").sha
    first = reg.register(tiny_bundle(tmp_path / "a", "int8", parent=base, seed=2), family="int8")
    second = reg.register(tiny_bundle(tmp_path / "b", "int8", parent=base, seed=3), family="int8")
    return {"fp32": base, "old": first.sha, "new": second.sha}


def _gate(reg: Registry, candidate: str | None, decision: str = "promote") -> dict:
    return {
        "decision": decision,
        "candidate": candidate,
        "production": reg.aliases().get("production"),
        "rules": [],
        "reasons": [] if decision == "promote" else ["quality_floor: too low"],
        "registry": reg.state(),
    }


def test_registering_binds_no_semver_and_moves_no_alias(reg, models):
    assert reg.tags() == {}
    assert reg.aliases() == {}
    assert [r["op"] for r in reg.history()] == ["register"] * 3


def test_promote_binds_the_next_semver_in_one_signed_record(reg, models):
    gate = decision_record(_gate(reg, models["old"]))
    first = reg.promote(models["old"], reason="first release", gate=gate, first_semver="v0.2.0")
    assert (first.semver, first.previous, first.changed) == ("v0.2.0", None, True)
    second = reg.promote(models["new"], reason="better", gate=gate, first_semver="v0.2.0")
    assert second.semver == "v0.2.1"
    record = reg.history()[-1]
    assert record["op"] == "promote"
    assert (record["alias"], record["new"], record["previous"]) == (
        "production",
        models["new"],
        models["old"],
    )
    assert record["actor"] == "alice@example.com"
    assert record["reason"] == "better"
    assert record["gate"]["digest"] == gate["digest"]
    assert record["forced"] is False
    assert reg.tags() == {"v0.2.0": models["old"], "v0.2.1": models["new"]}
    assert reg.verify().ok


def test_a_family_without_a_version_needs_its_first_semver(reg, models):
    with pytest.raises(Exception, match="release.first_semver.int8"):
        reg.promote(models["old"], reason="no seed")


def test_gate_refuses_a_promotion_it_did_not_decide(reg, models):
    reg.promote(models["old"], reason="start", first_semver="v0.2.0")
    state = reg.state()
    assert promotion_refusals(_gate(reg, models["new"]), state, models["new"]) == []
    blocked = promotion_refusals(_gate(reg, models["new"], "block"), state, models["new"])
    assert any("'block'" in p for p in blocked)
    other = promotion_refusals(_gate(reg, models["fp32"]), state, models["new"])
    assert any("judged" in p for p in other)
    assert promotion_refusals(None, state, models["new"])


def test_a_decision_goes_stale_when_production_moves_but_not_on_staging_or_tags(reg, models):
    reg.promote(models["old"], reason="start", first_semver="v0.2.0")
    gate = _gate(reg, models["new"])
    reg.promote(models["new"], alias="staging", reason="CI")
    reg.tag(models["fp32"], "v0.1.0")
    assert staleness(gate, reg.state()) is None
    reg.promote(models["new"], reason="release")
    assert "run `dvc repro`" in staleness(gate, reg.state())


def test_standing_of_production_raw_moves_and_forced_promotions_are_not_approvals(reg, models):
    gate = decision_record(_gate(reg, models["old"]))
    reg.promote(models["old"], reason="ok", gate=gate, first_semver="v0.2.0")
    assert standing_problem(reg.history(), "production") is None
    reg.set_alias("production", models["new"])
    assert "without a promotion" in standing_problem(reg.history(), "production")
    reg.promote(models["fp32"], reason="hotfix", forced=True, first_semver="v0.1.0")
    assert "forced past the gate" in standing_problem(reg.history(), "production")
    # a rollback restores a holder with the standing of the move that put it there
    reg.rollback(reason="undo the forced one")
    assert "without a promotion" in standing_problem(reg.history(), "production")
    reg.rollback(reason="back to the approved one")
    assert standing_problem(reg.history(), "production") is None


def test_deploy_check_names_every_problem(reg, models, tmp_path):
    reg.promote(models["old"], reason="ok", first_semver="v0.2.0")
    gate = _gate(reg, models["new"], "block")
    metrics = {"metrics/registry.json": {"shas": {"int8": "ab" * 32}}}
    problems = deploy_problems(reg, gate, quality_floor=0.95, metrics=metrics)
    text = "\n".join(problems)
    assert "fails the gate" in text  # the candidate is blocked
    assert "below the gate's quality floor" in text  # tiny bundles pass 0.9 of reference
    assert "not in the registry" in text  # a metrics file names a missing entry
    # hand-edited aliases.json: production moved without a recorded promotion
    hold = _gate(reg, None, "hold")
    (reg.root / "aliases.json").write_text(json.dumps({"production": models["new"]}))
    problems = deploy_problems(reg, hold, 0.5, {})
    assert any("edited by hand" in p for p in problems)
    assert any("stale" in p for p in problems)


def test_deploy_check_passes_an_approved_fresh_state(reg, models):
    reg.promote(models["old"], reason="ok", gate={"decision": "promote"}, first_semver="v0.2.0")
    assert deploy_problems(reg, _gate(reg, None, "hold"), 0.5, {}) == []


def test_the_audit_log_is_hash_chained_and_verify_names_the_first_rewritten_line(reg, models):
    reg.promote(models["old"], reason="ok", first_semver="v0.2.0")
    lines = auditlog.split_lines((reg.root / "index.jsonl").read_bytes())
    records = [json.loads(line) for line in lines]
    assert auditlog.check_chain(lines, records) is None
    assert records[0]["prev"] == auditlog.GENESIS
    assert all(r["prev"] == auditlog.line_hash(p) for r, p in zip(records[1:], lines, strict=False))
    assert reg.state()["head"] == auditlog.line_hash(lines[-1])
    # rewrite history: the actor of the second record
    tampered = records[1] | {"actor": "mallory"}
    lines[1] = json.dumps(tampered, sort_keys=True, separators=(",", ":")).encode()
    (reg.root / "index.jsonl").write_bytes(b"".join(line + b"\n" for line in lines))
    report = reg.verify()
    assert not report.ok
    assert any(
        "hash chain breaks: line 3" in e and "line 2 was changed" in e for e in report.errors
    )


def test_a_legacy_log_is_sealed_once_by_an_audited_chain_record(reg, models, tmp_path):
    index = reg.root / "index.jsonl"
    # strip the links, as the log was written before the chain existed
    legacy = [
        {k: v for k, v in json.loads(line).items() if k not in ("prev", "reason", "gate", "forced")}
        for line in auditlog.split_lines(index.read_bytes())
    ]
    index.write_bytes(
        b"".join(
            json.dumps(r, sort_keys=True, separators=(",", ":")).encode() + b"\n" for r in legacy
        )
    )
    reg.promote(models["old"], reason="first act after the upgrade", first_semver="v0.2.0")
    ops = [r["op"] for r in reg.history()]
    assert ops == ["register"] * 3 + ["chain", "promote"]
    assert reg.history()[3]["new"]["legacy_records"] == 3
    assert reg.verify().ok
    # editing a sealed legacy line is detected too
    data = index.read_bytes().replace(b'"actor":"alice@example.com"', b'"actor":"mallory@x"', 1)
    index.write_bytes(data)
    assert any("does not seal lines 1-3" in e for e in reg.verify().errors)


def test_promoting_a_rolled_back_model_again_lifts_the_rollback_when_all_else_passes(reg, models):
    reg.promote(models["old"], reason="first", first_semver="v0.2.0")
    reg.promote(models["new"], reason="second")
    reg.rollback(reason="learners complain")
    rules = [
        {"name": "not_rolled_back", "verdict": "fail"},
        {"name": "quality_floor", "verdict": "pass"},
    ]
    gate = _gate(reg, models["new"], "block") | {"rules": rules}
    assert promotion_refusals(gate, reg.state(), models["new"]) == []
    # any other failing rule keeps it refused
    worse = gate | {"rules": [*rules[:1], {"name": "slices", "verdict": "fail"}]}
    assert promotion_refusals(worse, reg.state(), models["new"])
    reg.promote(
        models["new"],
        reason="fixed upstream: the complaints were a UI bug",
        gate=decision_record(gate),
    )
    assert auditlog.rolled_back(reg.history()) == {}
    assert standing_problem(reg.history(), "production") is None


def test_deploy_check_fails_on_a_rewritten_history(reg, models):
    reg.promote(models["old"], reason="ok", first_semver="v0.2.0")
    hold = _gate(reg, None, "hold")
    assert deploy_problems(reg, hold, 0.5, {}) == []
    index = reg.root / "index.jsonl"
    # the first record's actor rewritten (the last line is protected by the chain head that
    # metrics/aliases.json records, the earlier ones by the links after them)
    data = index.read_bytes().replace(b'"actor":"alice@example.com"', b'"actor":"mallory"', 1)
    index.write_bytes(data)
    assert any("hash chain breaks" in p for p in deploy_problems(reg, hold, 0.5, {}))
