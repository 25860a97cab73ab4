import hashlib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gramops.core.hashing import sha256_file
from gramops.registry.backends import (
    LocalMetadataFiles,
    LockTimeoutError,
    MetadataFiles,
    drop_torn_tail,
)
from gramops.registry.layout import open_metadata
from gramops.registry.objects import ObjectStore, ObjectStoreError, check_key
from gramops.registry.s3 import S3MetadataFiles


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


# ---------------------------------------------------------------------------------------------
# Metadata files
# ---------------------------------------------------------------------------------------------


def test_open_metadata_takes_paths_file_urls_and_s3_and_refuses_other_schemes(tmp_path):
    assert isinstance(open_metadata(tmp_path / "r"), LocalMetadataFiles)
    local = open_metadata((tmp_path / "r").as_uri())
    assert isinstance(local, LocalMetadataFiles) and local.root == tmp_path / "r"
    s3 = open_metadata("s3://bucket/team/registry")
    assert isinstance(s3, S3MetadataFiles)
    assert s3.where("tags.json") == "s3://bucket/team/registry/tags.json"
    with pytest.raises(ObjectStoreError, match=r"'memory://r'.*local directory or on s3://"):
        open_metadata("memory://r")


def test_local_documents_are_replaced_whole_and_listed(tmp_path):
    meta = LocalMetadataFiles(tmp_path / "r")
    assert meta.read("tags.json") is None and meta.names("entries") == []
    meta.write("entries/a.json", b"{}\n")
    meta.write("tags.json", b"{}\n")
    meta.write("tags.json", b'{"v0.1.0": "x"}\n')
    assert meta.read("tags.json") == b'{"v0.1.0": "x"}\n'
    assert meta.names("entries") == ["a.json"] and meta.exists("entries/a.json")
    assert not (tmp_path / "r" / "tags.json.tmp").exists()
    meta.delete("entries/a.json")
    meta.delete("entries/a.json")  # missing is fine
    assert meta.names("entries") == []


def test_jsonl_append_numbers_from_the_last_record_and_drops_a_torn_tail(tmp_path, caplog):
    meta = LocalMetadataFiles(tmp_path)
    for _ in range(2):
        meta.append_jsonl("log.jsonl", lambda last: {"seq": (last["seq"] if last else 0) + 1})
    assert meta.read("log.jsonl") == b'{"seq":1}\n{"seq":2}\n'
    with (tmp_path / "log.jsonl").open("ab") as fh:
        fh.write(b'{"seq":3,"op')
    meta.append_jsonl("log.jsonl", lambda last: {"seq": last["seq"] + 1, "é": "ü"})
    assert meta.read("log.jsonl") == b'{"seq":1}\n{"seq":2}\n{"seq":3,"\xc3\xa9":"\xc3\xbc"}\n'
    assert "torn" in caplog.text
    meta.truncate("log.jsonl", len(b'{"seq":1}\n'))
    assert meta.read("log.jsonl") == b'{"seq":1}\n'


@pytest.mark.parametrize(
    ("data", "clean"),
    [
        (b"", b""),
        (b'{"a":1}\n', b'{"a":1}\n'),
        (b'{"a":1}', b'{"a":1}'),
        (b'{"a":1}\n{"b"', b'{"a":1}\n'),
        (b'{"a":1}\n{"b"\n', b'{"a":1}\n'),
        (b"{torn", b""),
    ],
)
def test_drop_torn_tail_keeps_complete_records_only(data, clean):
    assert drop_torn_tail(data, "log") == clean


def test_a_held_local_lock_times_out_naming_the_lock_file(tmp_path):
    meta = LocalMetadataFiles(tmp_path)
    # a second open file description conflicts like another process would
    with (
        meta.lock("alice", 1.0),
        pytest.raises(LockTimeoutError, match=r"\.lock: another process has held"),
        LocalMetadataFiles(tmp_path).lock("bob", 0.1),
    ):
        pass
    with meta.lock("bob", 0.1):  # released on exit
        pass


def test_s3_lock_ttl_comes_from_the_environment_and_is_validated(monkeypatch):
    monkeypatch.setenv("GRAMOPS_REGISTRY_LOCK_TTL", "5")
    assert S3MetadataFiles("s3://bucket/r").ttl_s == 5.0
    monkeypatch.setenv("GRAMOPS_REGISTRY_LOCK_TTL", "-1")
    with pytest.raises(ObjectStoreError, match="GRAMOPS_REGISTRY_LOCK_TTL='-1'.*positive"):
        S3MetadataFiles("s3://bucket/r")


class _DictMetadataFiles(MetadataFiles):
    """The whole-document behaviour S3 relies on (read, write), kept in a dict."""

    def __init__(self) -> None:
        self.docs: dict[str, bytes] = {}
        self.url = "dict://"

    def where(self, name: str) -> str:
        return f"dict://{name}"

    def read(self, name: str) -> bytes | None:
        return self.docs.get(name)

    def write(self, name: str, data: bytes) -> None:
        self.docs[name] = data


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.dictionaries(st.sampled_from("abé"), st.integers() | st.text(max_size=5)),
            st.binary(max_size=12).filter(lambda b: b"\n" not in b),  # a torn tail
        ),
        max_size=8,
    )
)
def test_whole_document_appends_write_the_same_bytes_as_local_appends(tmp_path_factory, steps):
    """S3's read-modify-write append and the local in-place append agree byte for byte."""
    local = LocalMetadataFiles(tmp_path_factory.mktemp("log"))
    remote = _DictMetadataFiles()
    for step in steps:
        for meta in (local, remote):
            if isinstance(step, dict):
                meta.append_jsonl("log.jsonl", lambda last, s=step: {**s, "n": last})
            elif isinstance(meta, LocalMetadataFiles):
                with meta.path("log.jsonl").open("ab") as fh:
                    fh.write(step)
            else:
                meta.write("log.jsonl", (meta.read("log.jsonl") or b"") + step)
    if any(isinstance(step, dict) for step in steps):
        assert local.read("log.jsonl") == remote.read("log.jsonl")
