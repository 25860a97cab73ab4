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
