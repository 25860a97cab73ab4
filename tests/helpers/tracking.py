"""MLflow mirror helpers: throwaway SQLite stores and registry entries made the stages' way."""

import shutil
from pathlib import Path

from gramops.registry.store import Registry
from helpers.bundles import tiny_bundle


def store_uri(tmp_path: Path, migrated_db: Path, name: str = "store") -> str:
    """A fresh store: a copy of an already migrated empty database (migrating takes seconds)."""
    folder = tmp_path / name
    folder.mkdir()
    shutil.copyfile(migrated_db, folder / "mlflow.db")
    return f"sqlite:///{folder / 'mlflow.db'}"


def register_entry(
    reg: Registry, folder: Path, family: str, seed: int, parent: str | None = None
) -> str:
    """An entry added by SHA only (no semver, no alias): what the register stage does."""
    bundle = tiny_bundle(folder / f"{family}-{seed}", family, parent=parent, seed=seed)
    return reg.register(bundle, family=family).sha


def release(reg: Registry, sha: str, semver: str, alias: str = "production") -> None:
    """`gramops promote`: moves the alias and binds the semver if the entry has none."""
    reg.promote(sha, alias=alias, reason="test", forced=True, first_semver=semver)


def snapshot_bytes(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` by relative path: equal exactly when nothing was written."""
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}
