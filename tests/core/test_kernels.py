"""Stages compute on pinned CPU kernels: the same bytes whichever kernels the CPU would pick.

The failure this guards against: the committed dvc.lock and production model were built on
an AVX-512 CPU; a fresh clone on an AVX2 CPU trained other weights (OpenBLAS chose other
sgemm kernels), registered other SHAs and could not load production.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from gramops.core.kernels import (
    NUMPY_DISABLED,
    OPENBLAS_CORE,
    cpu_flags,
    pin_cpu_kernels,
    pinnable,
)

AVX2 = frozenset({"sse2", "avx", "avx2", "fma"})

# a stage in miniature: stage_guard first, then numpy, then a float32 product as training does
PROBE = """\
import gramops.core.stage_guard  # noqa: F401
import hashlib
import numpy as np
from gramops.core.stage import run

def main():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((128, 3000), dtype=np.float32)
    b = rng.standard_normal((3000, 64), dtype=np.float32)
    print(hashlib.sha256((a @ b).tobytes()).hexdigest())

run(main)
"""


def test_x86_64_with_avx2_and_fma_pins_openblas_and_numpy_whatever_the_environment_said() -> None:
    environ = {"OPENBLAS_CORETYPE": "SkylakeX"}
    assert pin_cpu_kernels(environ, machine="x86_64", flags=AVX2) is True
    assert environ == {
        "OPENBLAS_CORETYPE": OPENBLAS_CORE,
        "NPY_DISABLE_CPU_FEATURES": NUMPY_DISABLED,
    }


@pytest.mark.parametrize(
    ("machine", "flags"),
    [("aarch64", AVX2), ("x86_64", frozenset({"sse2", "avx"})), ("x86_64", frozenset())],
)
def test_a_cpu_that_cannot_run_the_pinned_kernels_keeps_its_own(machine, flags) -> None:
    environ: dict[str, str] = {}
    assert pin_cpu_kernels(environ, machine=machine, flags=flags) is False
    assert environ == {}


def test_cpu_flags_are_read_from_cpuinfo(tmp_path: Path) -> None:
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx2 fma\nbugs\t\t: spectre\n")
    assert cpu_flags(cpuinfo) == {"fpu", "sse2", "avx2", "fma"}
    assert cpu_flags(tmp_path / "absent") == frozenset()


def _probe(tmp_path: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    script = tmp_path / "probe.py"
    script.write_text(PROBE)
    return subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True
    )


@pytest.mark.skipif(not pinnable(), reason="needs an x86-64 CPU with AVX2 and FMA")
def test_a_stage_computes_the_same_bytes_whichever_kernels_openblas_would_pick(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # OPENBLAS_CORETYPE stands in for other CPUs: without the pin, these three kernel sets
    # give three different products (they sum in other orders)
    digests = set()
    for core in ("", "Sandybridge", "Nehalem"):
        env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_CORETYPE"}
        if core:
            env["OPENBLAS_CORETYPE"] = core
        result = _probe(tmp_path, env)
        assert result.returncode == 0, result.stderr
        digests.add(result.stdout.strip())
    assert len(digests) == 1


@pytest.mark.skipif(not pinnable(), reason="needs an x86-64 CPU with AVX2 and FMA")
def test_numpy_loaded_before_the_pin_is_refused_by_the_stage_runner(tmp_path: Path) -> None:
    script = tmp_path / "late.py"
    script.write_text(
        "import numpy\n"  # OpenBLAS comes up on the kernels the environment names
        "import gramops.core.stage_guard  # noqa: F401\n"
        "from gramops.core.stage import run\n"
        "run(lambda: print('computed'))\n"
    )
    env = {**os.environ, "OPENBLAS_CORETYPE": "Sandybridge"}
    result = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert result.returncode == 2
    assert "computed" not in result.stdout
    assert "OpenBLAS runs Sandybridge kernels, not Haswell" in result.stderr
    assert "stage_guard" in result.stderr
