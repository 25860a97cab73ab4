"""Imported first by every stage script, for what it installs: a stage ends in plain words.

Its import is its work, because the work must begin before the script's other imports: a
Ctrl-C that lands while pydantic, MLflow or matplotlib load would otherwise print thirty
lines of import machinery. From here on Ctrl-C exits 130 with one line
(:mod:`gramops.core.exits`), and whenever the stage exits, for whatever reason, with any of
its declared outputs missing (``dvc repro`` deletes them before running it), stderr names
them and how to restore them (:mod:`gramops.core.stage_outputs`). It also pins the CPU
kernels numpy and OpenBLAS will load (:mod:`gramops.core.kernels`), which only works before
numpy is imported. Library code never imports this module; only ``stages/*.py`` do.
"""

import atexit
import sys

from gramops.core.exits import quiet_interrupts

# plain string work, not pathlib: nothing that takes time to import loads before the handler is in
STAGE = sys.argv[0].replace("\\", "/").rsplit("/", 1)[-1].removesuffix(".py")
quiet_interrupts(f"stage {STAGE}")

from gramops.core.kernels import pin_cpu_kernels  # noqa: E402  (after the handler, before numpy)

pin_cpu_kernels()


def _missing_report() -> str | None:
    from pathlib import Path

    from gramops.core.stage_outputs import missing_report

    script = Path(sys.argv[0])
    return missing_report(f"{script.parent.name}/{script.name}", sys.argv[1:], Path.cwd())


def _report_missing() -> None:
    try:
        report = _missing_report()
    except Exception:
        # Interrupted halfway through importing a module (yaml's C parser keeps a reference
        # to the half-built package): forget the half-imported modules and try once more.
        for name in [m for m in sys.modules if m.split(".")[0] in ("yaml", "_yaml")]:
            del sys.modules[name]
        sys.modules.pop("gramops.core.stage_outputs", None)
        try:
            report = _missing_report()
        except Exception:
            report = (
                f"stage {STAGE} did not finish; if DVC ran it, DVC removed its outputs first: "
                f"`dvc status {STAGE}` shows them, `dvc checkout {STAGE}` and `git checkout` "
                "restore saved copies"
            )
    if report:
        sys.stderr.write(report + "\n")


atexit.register(_report_missing)
