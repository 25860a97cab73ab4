"""One set of CPU kernels for every stage, so a model's bytes do not depend on the CPU.

OpenBLAS picks its matrix kernels by the CPU it finds (Haswell, Zen, SkylakeX...) and numpy
sends its loops to the widest SIMD the CPU has. Kernels of another width add in another
order, so an MLP trained on an AVX-512 CPU differs in its last bits from the same MLP
trained on an AVX2 CPU: another canonical SHA, another ``dvc.lock``, and a production model
that a fresh clone on the other CPU cannot rebuild. Stages therefore pin both to AVX2 with
FMA (x86-64-v3), which every x86-64 CPU of the last decade has: OpenBLAS's ``Haswell``
kernels, and numpy without its AVX-512 loops.

The pin only works before numpy loads, so :mod:`gramops.core.stage_guard`, every stage
script's first import, calls :func:`pin_cpu_kernels`, and :func:`check_cpu_kernels` (run by
:func:`gramops.core.stage.run`) refuses to start a stage whose BLAS came up on other kernels.
A CPU without AVX2 and FMA, or another architecture, keeps its own kernels: its bytes may
differ from an x86-64-v3 machine's, and the stage log says so.
"""

from __future__ import annotations

import logging
import os
import platform
from collections.abc import MutableMapping
from pathlib import Path

log = logging.getLogger(__name__)

OPENBLAS_CORE = "Haswell"
# numpy 2.4's names for its AVX-512 targets (numpy._core._multiarray_umath.__cpu_dispatch__)
NUMPY_DISABLED = "X86_V4 AVX512_ICL AVX512_SPR"
REQUIRED_FLAGS = frozenset({"avx2", "fma"})
CPUINFO = Path("/proc/cpuinfo")


def cpu_flags(cpuinfo: Path = CPUINFO) -> frozenset[str]:
    """The CPU's feature flags from ``/proc/cpuinfo`` (empty where there is none)."""
    try:
        text = cpuinfo.read_text(encoding="ascii", errors="replace")
    except OSError:
        return frozenset()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "flags":
            return frozenset(value.split())
    return frozenset()


def pinnable(machine: str | None = None, flags: frozenset[str] | None = None) -> bool:
    """Whether this CPU can run the pinned kernels: x86-64 with AVX2 and FMA."""
    machine = platform.machine() if machine is None else machine
    if machine.lower() not in ("x86_64", "amd64"):
        return False
    return (cpu_flags() if flags is None else flags) >= REQUIRED_FLAGS


def pin_cpu_kernels(
    environ: MutableMapping[str, str] = os.environ,
    machine: str | None = None,
    flags: frozenset[str] | None = None,
) -> bool:
    """Set the variables that pin OpenBLAS and numpy to AVX2 kernels; False where it cannot.

    They override whatever the environment says: a stage's bytes are not the caller's choice.
    """
    if not pinnable(machine, flags):
        return False
    environ["OPENBLAS_CORETYPE"] = OPENBLAS_CORE
    environ["NPY_DISABLE_CPU_FEATURES"] = NUMPY_DISABLED
    return True


def blas_cores() -> list[str]:
    """The kernel set each loaded OpenBLAS runs (numpy's, and scipy's when scipy is loaded)."""
    from threadpoolctl import threadpool_info

    return [
        str(info.get("architecture"))
        for info in threadpool_info()
        if info.get("internal_api") == "openblas"
    ]


def check_cpu_kernels(environ: MutableMapping[str, str] = os.environ) -> None:
    """Refuse to compute on kernels other than the pinned ones (numpy loaded before the pin)."""
    from gramops.core.errors import GramopsError

    if environ.get("OPENBLAS_CORETYPE") != OPENBLAS_CORE:
        if pinnable():
            log.warning(
                "CPU kernels not pinned (gramops.core.stage_guard was not imported first): "
                "outputs may differ in their last bits from another CPU's"
            )
        else:
            log.warning(
                "CPU kernels not pinned (%s without AVX2 and FMA): outputs may differ in their "
                "last bits from an x86-64-v3 machine's",
                platform.machine(),
            )
        return
    import numpy  # noqa: F401  (loads OpenBLAS, so threadpoolctl can see it)

    cores = blas_cores()
    wrong = sorted({core for core in cores if core.lower() != OPENBLAS_CORE.lower()})
    if wrong:
        raise GramopsError(
            f"OpenBLAS runs {', '.join(wrong)} kernels, not {OPENBLAS_CORE}: numpy was loaded "
            "before gramops.core.stage_guard pinned them; import it first in the stage script"
        )
