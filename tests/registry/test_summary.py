from gramops.registry.summary import entry_summary, keyed_summaries

ENTRY = {
    "sha": "ab" * 32,
    "family": "int8",
    "size_bytes": 1000,
    "parameters": 250,
    "metrics": {
        "verb": {"strict_accuracy": 0.85, "pass_rate": 0.95},
        "tutor": {"strict_accuracy": 0.8, "pass_rate": 0.9},
    },
}


def test_entry_summary_flattens_quality_per_domain():
    summary = entry_summary(ENTRY, ["v0.2.0", "v0.2.1"])
    assert summary == {
        "family": "int8",
        "semver": "v0.2.1",
        "sha": "abababababab",
        "size_bytes": 1000,
        "parameters": 250,
        "tutor_pass_rate": 0.9,
        "tutor_strict_accuracy": 0.8,
        "verb_pass_rate": 0.95,
        "verb_strict_accuracy": 0.85,
    }
    assert entry_summary(ENTRY, [])["semver"] == "untagged"


def test_keyed_summaries_are_sorted_by_key():
    metrics = keyed_summaries(
        {"production": ENTRY["sha"], "challenger": ENTRY["sha"]},
        lambda sha: ENTRY,
        lambda sha: ["v0.2.0"],
    )
    assert list(metrics) == ["challenger", "production"]
    assert metrics["production"]["sha"] == "abababababab"
    assert metrics["production"]["semver"] == "v0.2.0"


def test_alias_history_lists_every_holder_with_its_period():
    from gramops.registry.summary import alias_history

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
