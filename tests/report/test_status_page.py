"""The status stage's page around the view: inputs checked first, links relative to the page."""

from pathlib import Path

import pytest

from gramops.core.errors import GramopsError
from gramops.report.status import StatusView
from gramops.report.status_page import (
    IMAGES,
    INPUTS,
    LINKS,
    check_inputs,
    page_html,
    relative_to_page,
)


def _view() -> StatusView:
    return StatusView(
        aliases=(),
        production_history=(),
        entries=(),
        drift={},
        gate={},
        usd_per_cpu_hour=None,
    )


def test_every_missing_input_is_named_with_the_stage_that_writes_it(tmp_path):
    (tmp_path / "metrics").mkdir()
    (tmp_path / "metrics" / "gate.json").write_text("{}")
    with pytest.raises(GramopsError) as raised:
        check_inputs(tmp_path)
    assert str(raised.value) == (
        "status page: missing input metrics/drift.json (stage drift), metrics/cpqu.json "
        "(stage cpqu); run `dvc repro` first"
    )
    for path in INPUTS:
        (tmp_path / path).write_text("{}")
    check_inputs(tmp_path)  # all there: no error


def test_links_are_relative_to_the_page_directory():
    items = [("costs", Path("metrics/COSTS.md")), ("top", Path("README.md"))]
    assert relative_to_page(items, Path("status/index.html")) == [
        ("costs", "../metrics/COSTS.md"),
        ("top", "../README.md"),
    ]
    assert relative_to_page(items, Path("index.html")) == [
        ("costs", "metrics/COSTS.md"),
        ("top", "README.md"),
    ]


def test_page_links_every_report_and_shows_every_image_in_order():
    page = page_html(_view())
    hrefs = [f'href="{href}"' for _text, href in relative_to_page(LINKS)]
    srcs = [f'src="{src}"' for _alt, src in relative_to_page(IMAGES)]
    positions = [page.index(item) for item in (*hrefs, *srcs)]
    assert positions == sorted(positions)
    assert 'href="../metrics/COSTS.md"' in page and 'src="../plots/lineage.png"' in page
