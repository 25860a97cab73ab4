"""`gramops status --check`: the page's stated audit log record against the registry's."""

from gramops.cli import main
from gramops.registry.store import Registry
from gramops.report.status import BuiltFrom, status_view
from gramops.report.status_page import render_html
from helpers.bundles import tiny_bundle


def _page(path, registry: Registry) -> None:
    state = registry.state()
    view = status_view(
        {}, registry.semvers_of, {}, [], {}, {}, {}, built=BuiltFrom(state["seq"], state["head"])
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_html(view, images=()), encoding="utf-8")


def test_check_exits_1_with_the_reason_once_the_registry_moves(tmp_path, capsys):
    registry = Registry(tmp_path / "registry", actor="test")
    sha = registry.register(tiny_bundle(tmp_path / "fp32"), family="fp32").sha
    page = tmp_path / "status" / "index.html"
    _page(page, registry)
    args = ["--registry", str(tmp_path / "registry"), "status", "--page", str(page)]
    assert main([*args, "--check"]) == 0
    assert "is current: it shows the registry at audit log record 1" in capsys.readouterr().out
    registry.set_alias("challenger", sha)
    assert main([*args, "--check"]) == 1
    out = capsys.readouterr().out
    assert out.count("\n") == 1
    assert "is stale: it shows audit log record 1, the registry is at record 2" in out
    assert "(1 registry operation since: alias); rebuild it with `dvc repro status`" in out
    # without --check it only reports
    assert main(args) == 0


def test_a_missing_page_is_bad_input(tmp_path, capsys):
    page = tmp_path / "index.html"
    args = ["--registry", str(tmp_path / "registry"), "status", "--check", "--page", str(page)]
    assert main(args) == 2
    assert "index.html not found: build it with `dvc repro status`" in capsys.readouterr().err
