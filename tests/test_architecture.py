"""The house as docs/architecture.md draws it: rooms, downward imports, rooms of a size.

A newcomer trusts the package map to say where a change belongs; these tests keep the map,
the layering and the size limits true as the code grows.
"""

import ast
import re
from pathlib import Path

from helpers.paths import ROOT

PACKAGE = ROOT / "src" / "gramops"
DOC = ROOT / "docs" / "architecture.md"
# Lowest first. A module imports from its own room or from rooms of a lower layer only, so
# there is no cycle and nothing runs back up (stages/ and scripts/ sit above them all).
LAYERS = (
    ("core",),
    ("corpus",),
    ("models",),
    ("inference", "registry"),
    ("monitoring", "release", "report", "tracking"),
    ("serving",),
    ("cli",),
)
MAX_MODULE_LINES = 500
MAX_CLASS_LINES = 400


def _layer(room: str) -> int:
    return next(i for i, rooms in enumerate(LAYERS) if room in rooms)


def _modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def _room(path: Path) -> str:
    return path.relative_to(PACKAGE).parts[0]


def _gramops_imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("gramops"):
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("gramops")}
    return found


def test_every_module_lives_in_a_room():
    loose = [p.name for p in PACKAGE.glob("*.py") if p.name != "__init__.py"]
    assert not loose, f"modules outside a subpackage: {loose}"
    rooms = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()}
    assert rooms == {room for layer in LAYERS for room in layer}


def test_imports_only_run_downward():
    upward = []
    for path in _modules():
        if path == PACKAGE / "__init__.py":
            continue
        room = _room(path)
        for module in _gramops_imports(path):
            parts = module.split(".")
            if len(parts) < 2 or parts[1] == room:
                continue
            if _layer(parts[1]) >= _layer(room):
                upward.append(f"{path.relative_to(ROOT)} imports {module}")
    assert not upward, "imports that do not run downward:\n" + "\n".join(upward)


def test_no_module_or_class_outgrows_a_room():
    too_big = []
    for path in _modules():
        text = path.read_text(encoding="utf-8")
        if (n := len(text.splitlines())) > MAX_MODULE_LINES:
            too_big.append(f"{path.relative_to(ROOT)}: {n} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.ClassDef):
                size = node.end_lineno - node.lineno + 1
                if size > MAX_CLASS_LINES:
                    too_big.append(f"{path.relative_to(ROOT)}: class {node.name} {size} lines")
    assert not too_big, "\n".join(too_big)


def test_every_stage_script_is_wiring():
    long = {
        p.name: n
        for p in sorted((ROOT / "stages").glob("*.py"))
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > 60
    }
    assert not long, f"stage scripts over 60 lines: {long}"


def test_every_stage_script_imports_the_stage_guard_first():
    # it installs the Ctrl-C handler and pins the CPU kernels, which only works before numpy
    # loads (gramops.core.kernels); the cost stage once went without it and ran unpinned
    late = {}
    for path in sorted((ROOT / "stages").glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        first = next(node for node in tree.body if isinstance(node, ast.Import | ast.ImportFrom))
        names = [alias.name for alias in first.names] if isinstance(first, ast.Import) else []
        if names != ["gramops.core.stage_guard"]:
            late[path.name] = ast.unparse(first)
    assert not late, f"stage scripts whose first import is not gramops.core.stage_guard: {late}"


def _documented_map() -> dict[str, set[str]]:
    """The package map: lines `room/  module, module, ...` in the doc's first code block
    under '## Package map'."""
    text = DOC.read_text(encoding="utf-8")
    section = text.split("## Package map", 1)[1]
    block = re.search(r"```[^\n]*\n(.*?)```", section, re.S).group(1)
    rooms: dict[str, set[str]] = {}
    for line in block.splitlines():
        if m := re.match(r"\s*(\w+)/\s+(.*)$", line):
            rooms[m.group(1)] = {name.strip() for name in m.group(2).split(",") if name.strip()}
    return rooms


def test_the_documented_package_map_matches_the_code():
    actual: dict[str, set[str]] = {}
    for path in _modules():
        if path.name != "__init__.py":
            actual.setdefault(_room(path), set()).add(path.stem)
    assert _documented_map() == actual


def test_every_module_path_the_docs_name_exists():
    docs = [ROOT / "README.md", ROOT / "benchmarks" / "README.md", *ROOT.glob("docs/**/*.md")]
    named = {
        (doc.relative_to(ROOT).as_posix(), path)
        for doc in docs
        for path in re.findall(r"src/gramops/[\w/]+\.py", doc.read_text(encoding="utf-8"))
    }
    missing = sorted(f"{doc}: {path}" for doc, path in named if not (ROOT / path).is_file())
    assert not missing, "docs name modules that do not exist:\n" + "\n".join(missing)
