import hashlib
from pathlib import Path

import pytest

from gramops.objectstore import ObjectStore, ObjectStoreError, check_key, sha256_file


@pytest.fixture(params=["path", "file-url", "memory"])
def store(request, tmp_path: Path) -> ObjectStore:
    """The same behaviour on a local directory and on a non-local fsspec filesystem."""
    if request.param == "path":
        return ObjectStore(tmp_path / "objects")
    if request.param == "file-url":
        return ObjectStore((tmp_path / "objects").as_uri())
    return ObjectStore(f"memory://{tmp_path.name}/objects")


def test_put_file_stores_bytes_under_their_sha256(store, tmp_path):
    source = tmp_path / "weights.bin"
    source.write_bytes(b"\x00\x01weights" * 1000)
    key = store.put_file(source)
    assert key == hashlib.sha256(source.read_bytes()).hexdigest() == sha256_file(source)
    assert store.path_of(key).endswith(f"/objects/{key[:2]}/{key[2:]}")
    assert store.exists(key) and store.sha256(key) == key
    with store.open(key) as fh:
        assert fh.read() == source.read_bytes()
    assert store.put_file(source, key) == key  # idempotent
    assert store.list_keys() == [key]


def test_bytes_that_do_not_hash_to_the_key_are_never_stored(store, tmp_path):
    source = tmp_path / "changed.json"
    source.write_text('{"a": 1}')
    wrong = hashlib.sha256(b"what it was when hashed").hexdigest()
    with pytest.raises(ObjectStoreError, match=f"expected {wrong}"):
        store.put_file(source, wrong)
    with pytest.raises(ObjectStoreError, match="not to the expected key"):
        store.put_bytes(b"other", wrong)
    assert not store.exists(wrong)
    assert store.list_keys() == []
    # no temporary file of the refused write is left behind either
    assert not store.fs.exists(store.root) or store.fs.find(store.root) == []


def test_keys_and_delete(store):
    keys = sorted(store.put_bytes(data) for data in (b"a", b"b", b"c"))
    store.fs.pipe_file(f"{store.root}/{keys[0][:2]}/{keys[0][2:]}.1234.tmp", b"partial")
    assert store.list_keys() == keys
    store.delete(keys[1])
    store.delete(keys[1])  # already gone: not an error
    assert store.list_keys() == [keys[0], keys[2]]


def test_missing_objects_raise_a_clear_error(store):
    key = hashlib.sha256(b"never stored").hexdigest()
    with pytest.raises(ObjectStoreError, match=f"object {key} is missing"):
        store.open(key)


@pytest.mark.parametrize("key", ["../../etc/passwd", "ABC", "a" * 63, "A" * 64, "g" * 64, ""])
def test_keys_that_are_not_sha256_hex_are_refused(key):
    with pytest.raises(ObjectStoreError, match="not an object key"):
        check_key(key)


def test_an_unknown_protocol_names_the_url():
    with pytest.raises(ObjectStoreError, match="nosuchproto://bucket"):
        ObjectStore("nosuchproto://bucket/objects")
