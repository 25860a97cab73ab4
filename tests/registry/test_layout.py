import pytest

from gramops.registry.backends import LocalMetadataFiles
from gramops.registry.layout import (
    default_actor,
    entry_name,
    open_metadata,
    registry_location,
    utc_now,
)
from gramops.registry.objects import ObjectStoreError


def test_entries_live_under_entries_by_sha():
    assert entry_name("ab" * 32) == f"entries/{'ab' * 32}.json"


def test_the_location_and_actor_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("GRAMOPS_REGISTRY", "  s3://bucket/reg ")
    monkeypatch.setenv("GRAMOPS_ACTOR", "stage:register")
    assert registry_location() == "s3://bucket/reg"
    assert default_actor() == "stage:register"
    monkeypatch.setenv("GRAMOPS_REGISTRY", " ")
    monkeypatch.delenv("GRAMOPS_ACTOR")
    assert registry_location() == "models/registry"
    assert "@" in default_actor()


def test_timestamps_are_utc_seconds():
    stamp = utc_now()
    assert len(stamp) == 20 and stamp[10] == "T" and stamp.endswith("Z")


def test_metadata_lives_on_local_disk_or_s3_only(tmp_path):
    assert isinstance(open_metadata(tmp_path), LocalMetadataFiles)
    assert open_metadata(f"file://{tmp_path}").root == tmp_path
    with pytest.raises(ObjectStoreError, match="local directory or on s3://"):
        open_metadata("gs://bucket/reg")
