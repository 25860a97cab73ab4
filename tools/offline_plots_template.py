"""Write the HTML template `dvc plots show` uses, with vega, vega-lite and vega-embed inlined.

DVC's default page loads these libraries from a CDN, so it is blank offline. This
template has no ``{scripts}`` placeholder (where DVC would put the CDN tags) and carries
the libraries installed by `make` from tools/vega/ instead.

usage: python tools/offline_plots_template.py NODE_MODULES OUTPUT_HTML
"""

import sys
from pathlib import Path

LIBRARIES = (
    "vega/build/vega.min.js",
    "vega-lite/build/vega-lite.min.js",
    "vega-embed/build/vega-embed.min.js",
)

PAGE = """<!DOCTYPE html>
<html>
<head>
    {refresh_tag}
    <meta charset="utf-8">
    <title>gramops plots</title>
    %s
    <style>
        body { font-family: sans-serif; }
        table { border-spacing: 15px; }
    </style>
</head>
<body>
    {plot_divs}
</body>
</html>
"""


def main(node_modules: str, output: str) -> None:
    scripts = "\n".join(
        f"<script>\n{(Path(node_modules) / lib).read_text(encoding='utf-8')}\n</script>"
        for lib in LIBRARIES
    )
    out = Path(output)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    tmp.write_text(PAGE % scripts, encoding="utf-8")
    tmp.replace(out)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
