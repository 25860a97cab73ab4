#!/usr/bin/env bash
# A separate environment for the baseline comparison in benchmarks/baseline.py.
# scikit-learn is not a project dependency: it lives in benchmarks/.venv-sklearn (git-
# ignored), and the benchmark imports gramops from src/ via PYTHONPATH. numpy and scipy
# are pinned to the project's versions, so both models see byte-identical feature matrices.
#
#   bash benchmarks/setup_sklearn.sh
#   PYTHONPATH=src benchmarks/.venv-sklearn/bin/python benchmarks/baseline.py
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="$here/.venv-sklearn"
python="${PYTHON:-python3.11}"
if [ ! -x "$venv/bin/python" ]; then
    "$python" -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --upgrade pip
"$venv/bin/python" -m pip install --quiet "scikit-learn==1.9.1" "numpy==2.4.6" "scipy==1.17.1" \
    "safetensors==0.8.0" "pydantic>=2" "lemminflect" "pyyaml"
"$venv/bin/python" -c "import sklearn, numpy, scipy; print('scikit-learn', sklearn.__version__, 'numpy', numpy.__version__, 'scipy', scipy.__version__)"
