"""Registering one pipeline run's bundles: every family, in FAMILIES order, and its summary."""

import logging
from pathlib import Path

from gramops.core.vocab import FAMILIES, short
from gramops.models.identity import canonical_sha
from gramops.registry.builds import register_builds, registration_records, registry_metrics
from gramops.registry.store import Registry
from helpers.bundles import CORPUS, tiny_bundle

TUTOR_CORPUS = "0123456789abcdef0123456789abcdef.dir"


def _built(models: Path) -> dict[str, str]:
    """A run's three bundles under ``models/<family>``; the SHA of each."""
    fp32 = canonical_sha(tiny_bundle(models / "fp32", "fp32", seed=1))
    tiny_bundle(models / "int8", "int8", parent=fp32, seed=2)
    tiny_bundle(models / "lora", "lora", parent=fp32, seed=3, corpus=TUTOR_CORPUS)
    return {family: canonical_sha(models / family) for family in FAMILIES}


def test_every_family_is_registered_in_order_once(tmp_path: Path, caplog) -> None:
    shas = _built(tmp_path / "models")
    registry = Registry(tmp_path / "registry", actor="stage:register")
    with caplog.at_level(logging.INFO, logger="gramops.registry.builds"):
        first = register_builds(registry, tmp_path / "models")
    assert first.shas == shas and list(first.shas) == list(FAMILIES)
    assert first.created == [registry.entry_path(shas[f]) for f in FAMILIES]
    assert all(path.is_file() for path in first.created)
    assert [r.getMessage() for r in caplog.records] == [
        f"{f} untagged {short(shas[f])} (new)" for f in FAMILIES
    ]
    assert [r["sha"] for r in registry.history() if r["op"] == "register"] == list(shas.values())

    caplog.clear()
    with caplog.at_level(logging.INFO, logger="gramops.registry.builds"):
        again = register_builds(registry, tmp_path / "models")
    assert again.shas == shas and again.created == []
    assert (
        caplog.records[0].getMessage()
        == f"fp32 untagged {short(shas['fp32'])} (already registered)"
    )


def test_registry_metrics_say_where_and_what(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("GRAMOPS_REGISTRY", str(tmp_path / "team"))
    shas = _built(tmp_path / "models")
    registry = Registry(tmp_path / "registry", actor="stage:register")
    registered = register_builds(registry, tmp_path / "models")
    metrics = registry_metrics(registry, registered.shas)
    assert metrics["registry"] == str(tmp_path / "team")
    assert metrics["shas"] == shas
    assert sorted(metrics["families"]) == sorted(FAMILIES)
    fp32 = metrics["families"]["fp32"]
    assert fp32["sha"] == short(shas["fp32"]) and "semver" not in fp32
    assert fp32["verb_pass_rate"] == 0.9


def test_registration_records_name_each_sha_with_its_parent_and_corpus(tmp_path: Path) -> None:
    # models/manifest.json's per-family record: lineage read from the entries themselves
    shas = _built(tmp_path / "models")
    registry = Registry(tmp_path / "registry", actor="stage:register")
    registered = register_builds(registry, tmp_path / "models")
    records = registration_records(registry, registered.shas)
    assert list(records) == list(FAMILIES)
    assert records["fp32"] == {"sha": shas["fp32"], "parent_sha": None, "corpus_dvc_hash": CORPUS}
    assert records["int8"] == {
        "sha": shas["int8"],
        "parent_sha": shas["fp32"],
        "corpus_dvc_hash": CORPUS,
    }
    # each entry's own corpus, not the run's: an adapter trained on another split says so
    assert records["lora"]["corpus_dvc_hash"] == TUTOR_CORPUS
    assert records["lora"]["corpus_dvc_hash"] == registry.entry(shas["lora"])["corpus_dvc_hash"]
