import logging

import pytest

from gramops.core.fileio import canonical_bytes
from gramops.registry import auditlog
from gramops.registry.layout import RegistryError


def _line(record):
    return canonical_bytes(record) + b"\n"


def test_new_records_are_numbered_and_chained_to_the_last():
    extra = {"reason": "why", "gate": None, "forced": False}
    fields = dict(time="t", actor="me", sha="a", semver=None, alias=None, new="a", previous=None)
    first = auditlog.new_record(None, op="register", extra=extra, **fields)
    assert first["seq"] == 1 and first["prev"] == auditlog.GENESIS and first["reason"] == "why"
    second = auditlog.new_record(first, op="tag", extra=extra, **fields)
    assert second["seq"] == 2
    assert second["prev"] == auditlog.line_hash(canonical_bytes(first))
    lines = [canonical_bytes(first), canonical_bytes(second)]
    assert auditlog.check_chain(lines, [first, second]) is None


def test_parse_log_skips_a_torn_last_line_with_a_warning(caplog):
    raw = _line({"op": "register"}) + b'{"op": "ta'
    with caplog.at_level(logging.WARNING):
        records, torn = auditlog.parse_log(raw, "index.jsonl")
    assert records == [{"op": "register"}] and torn
    assert "index.jsonl: ignoring a torn last line" in caplog.text
    records, torn = auditlog.parse_log(raw + b"\n", "index.jsonl")  # torn, then terminated
    assert records == [{"op": "register"}] and torn


def test_parse_log_refuses_a_bad_line_before_the_last():
    raw = b"{bad\n" + _line({"op": "register"})
    with pytest.raises(RegistryError, match="index.jsonl: line 1 is not valid JSON"):
        auditlog.parse_log(raw, "index.jsonl")


def test_is_record_needs_the_whole_line_of_that_op():
    assert auditlog.is_record(_line({"op": "tag"}), "tag")
    assert not auditlog.is_record(_line({"op": "tag"}), "alias")
    assert not auditlog.is_record(b'{"op": "ta', "tag")
    assert not auditlog.is_record(b"[1]", "tag")


def test_only_a_log_whose_last_line_has_no_link_needs_a_seal():
    assert not auditlog.needs_seal([])
    assert auditlog.needs_seal([canonical_bytes({"op": "register"})])
    assert not auditlog.needs_seal([canonical_bytes({"op": "register", "prev": "0"})])


def test_chain_break_leaves_unparsable_lines_to_the_log_read():
    assert auditlog.chain_break([b"{bad"]) is None
    broken = [canonical_bytes({"op": "tag", "seq": 1, "prev": "f" * 64})]
    assert "links to" in auditlog.chain_break(broken)


def test_last_seq_falls_back_to_the_position_of_a_legacy_record():
    assert auditlog.last_seq([]) == 0
    assert auditlog.last_seq([{"op": "register"}, {"op": "tag"}]) == 2
    assert auditlog.last_seq([{"seq": 7}]) == 7


def test_alias_history_lists_every_holder_with_its_period():
    from gramops.registry.auditlog import alias_history

    log = [
        {"op": "register", "sha": "a", "alias": None, "time": "t0", "actor": "x", "new": "a"},
        {"op": "alias", "alias": "production", "new": "a", "time": "t1", "actor": "stage:register"},
        {"op": "alias", "alias": "challenger", "new": "b", "time": "t2", "actor": "me"},
        {"op": "alias", "alias": "production", "new": "b", "time": "t3", "actor": "stage:gate"},
        {
            "op": "rollback",
            "alias": "production",
            "new": "a",
            "time": "t4",
            "actor": "me",
            "reason": "bad",
        },
        {
            "op": "promote",
            "alias": "production",
            "new": "b",
            "time": "t5",
            "actor": "me",
            "reason": "fixed",
            "forced": True,
        },
    ]
    assert alias_history(log, "production") == [
        {
            "sha": "a",
            "from": "t1",
            "until": "t3",
            "moved_by": "stage:register",
            "how": "alias",
            "reason": None,
        },
        {
            "sha": "b",
            "from": "t3",
            "until": "t4",
            "moved_by": "stage:gate",
            "how": "alias",
            "reason": None,
        },
        {
            "sha": "a",
            "from": "t4",
            "until": "t5",
            "moved_by": "me",
            "how": "rollback",
            "reason": "bad",
        },
        {
            "sha": "b",
            "from": "t5",
            "until": None,
            "moved_by": "me",
            "how": "promote (forced)",
            "reason": "fixed",
        },
    ]
