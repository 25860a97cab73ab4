"""Headless Chromium (Debian's `chromium` package) for tests of the static status page.

The browser is a system package the project's test set-up installs. Outside CI a missing
browser skips the test with the reason; under CI (``CI`` set to true) it fails, so the
page is never silently left unchecked there.
"""

import os
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--hide-scrollbars",
    # any host name resolves to nothing: the page must not need the network
    "--host-resolver-rules=MAP * ~NOTFOUND",
)


def require_chromium() -> Path:
    """The browser, or a skip (fail under CI) naming what is missing and how to install it."""
    if CHROMIUM.exists():
        return CHROMIUM
    reason = f"{CHROMIUM} not found: install Debian's chromium package (apt-get install chromium)"
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"CI requires headless Chromium: {reason}")
    pytest.skip(reason)


def chromium(page: Path, profile: Path, *extra: str) -> subprocess.CompletedProcess:
    """Run headless Chromium on a local file with a throwaway profile directory."""
    browser = require_chromium()
    args = [str(browser), *FLAGS, f"--user-data-dir={profile}", *extra, page.resolve().as_uri()]
    return subprocess.run(args, capture_output=True, text=True, timeout=120, check=True)


def dump_dom(page: Path, profile: Path) -> str:
    """The DOM as Chromium built it (serialised), not the file's bytes."""
    return chromium(page, profile, "--dump-dom").stdout


def screenshot(page: Path, profile: Path, png: Path, size: str = "1280,2200") -> Path:
    chromium(page, profile, f"--screenshot={png}", f"--window-size={size}")
    return png


class Dom(HTMLParser):
    """Tables (by id, rows of cell texts), every src/href, and the text of the page."""

    def __init__(self, markup: str) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self.urls: list[str] = []
        self.ids: set[str] = set()
        self.tags: set[str] = set()
        self.text: list[str] = []
        self._table: str | None = None
        self._cell: list[str] | None = None
        self.feed(markup)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        self.tags.add(tag)
        if values.get("id"):
            self.ids.add(values["id"])
        self.urls += [value for name, value in attrs if name in ("src", "href") and value]
        if tag == "table":
            self._table = values.get("id") or f"table{len(self.tables)}"
            self.tables[self._table] = []
        elif tag == "tr" and self._table is not None:
            self.tables[self._table].append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None and self._table is not None:
            self.tables[self._table][-1].append("".join(self._cell).strip())
            self._cell = None
        elif tag == "table":
            self._table = None

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._cell is not None:
            self._cell.append(data)

    def rows(self, table: str) -> list[dict[str, str]]:
        """A table's body rows as {header: cell text}."""
        head, *body = self.tables[table]
        return [dict(zip(head, row, strict=True)) for row in body]

    def all_text(self) -> str:
        return " ".join(" ".join(self.text).split())
