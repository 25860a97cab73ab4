"""Which gramops modules a script runs: its import closure, read from the source (no import)."""

import ast
from pathlib import Path

from helpers.paths import ROOT

PACKAGE = ROOT / "src" / "gramops"


def _module_file(parts: list[str]) -> Path | None:
    target = PACKAGE.joinpath(*parts)
    if target.with_suffix(".py").is_file():
        return target.with_suffix(".py")
    if (target / "__init__.py").is_file():
        return target / "__init__.py"
    return None


def _with_parents(module: Path) -> set[Path]:
    """A module and the package faces Python runs before it (``gramops/x/__init__.py``)."""
    found = {module}
    folder = module.parent
    while folder != PACKAGE.parent:
        found.add(folder / "__init__.py")
        folder = folder.parent
    return found


def imports(path: Path) -> set[Path]:
    """gramops modules a file imports, with the package faces Python runs for them."""
    found: set[Path] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names: list[list[str]] = []
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("gramops"):
            base = node.module.split(".")[1:]
            names.append(base)
            names.extend([*base, alias.name] for alias in node.names)
        elif isinstance(node, ast.Import):
            names.extend(
                alias.name.split(".")[1:]
                for alias in node.names
                if alias.name.startswith("gramops")
            )
        for parts in names:
            module = _module_file(parts) if parts else PACKAGE / "__init__.py"
            if module is not None:
                found |= _with_parents(module)
    return found


def closure(script: Path) -> set[Path]:
    """Every gramops module a script runs, transitively (the script itself not included)."""
    seen: set[Path] = set()
    todo = [script]
    while todo:
        current = todo.pop()
        for module in imports(current) - seen:
            seen.add(module)
            todo.append(module)
    return seen
