"""`gramops serve`'s settings: the params file's serve: section, overridden by flags."""

import pytest

from gramops.cli.commands import build_parser
from gramops.cli.serve import serve_params
from gramops.core.params import ParamsError


def test_flags_override_the_params_file_and_none_turns_a_route_off(tmp_path):
    params = tmp_path / "params.yaml"
    params.write_text("serve:\n  port: 9000\n  shadow: {alias: shadow, fraction: 0.2}\n")
    args = build_parser().parse_args(
        ["serve", "--params", str(params), "--canary-alias", "canary", "--shadow-alias", "none"]
    )
    got = serve_params(args)
    assert (got.port, got.shadow.alias, got.shadow.fraction) == (9000, None, 0.2)
    assert (got.canary.alias, got.canary.fraction) == ("canary", 0.05)
    bad = build_parser().parse_args(["serve", "--params", str(params), "--shadow-fraction", "2"])
    with pytest.raises(ParamsError, match=r"serve\.shadow\.fraction: .*\(got 2\.0\)"):
        serve_params(bad)
