from gramops.summary import entry_summary, registry_metrics

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


def test_registry_metrics_keyed_by_family_and_alias():
    metrics = registry_metrics(
        {"int8": ENTRY["sha"]},
        {"production": ENTRY["sha"]},
        lambda sha: ENTRY,
        lambda sha: ["v0.2.0"],
    )
    assert set(metrics) == {"families", "aliases"}
    assert metrics["families"]["int8"]["semver"] == "v0.2.0"
    assert metrics["aliases"]["production"]["sha"] == "abababababab"
