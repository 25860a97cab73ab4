#!/usr/bin/env bash
# A separate environment for the Evidently comparison in benchmarks/drift.py.
# Evidently is not a project dependency: it lives in benchmarks/.venv-evidently (git-
# ignored), and the benchmark imports gramops from src/ via PYTHONPATH. evidently 0.7.23
# declares pandas>=1.3.5 but imports a helper pandas 3 removed
# (pandas.core.dtypes.common.infer_dtype_from_object), hence pandas<3 here while the
# project itself is on pandas 3.
#
#   bash benchmarks/setup_evidently.sh
#   PYTHONPATH=src benchmarks/.venv-evidently/bin/python benchmarks/drift.py
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="$here/.venv-evidently"
python="${PYTHON:-python3.11}"
if [ ! -x "$venv/bin/python" ]; then
    "$python" -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --upgrade pip
"$venv/bin/python" -m pip install --quiet "evidently==0.7.23" "pandas>=2.2,<3" numpy scipy
"$venv/bin/python" -c "import evidently, numpy, pandas, scipy; print('evidently', evidently.__version__, 'numpy', numpy.__version__, 'pandas', pandas.__version__, 'scipy', scipy.__version__)"
