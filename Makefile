# The README's two commands: `make repro` and `make test`. Both create .venv on first use
# and re-install only when requirements.lock or pyproject.toml changed.
PYTHON ?= python3.11
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
STAMP := $(VENV)/.installed

# Stages call `python`; make sure it is the project's interpreter.
export PATH := $(BIN):$(PATH)

PLOTS_TEMPLATE := .dvc/plots/offline.html

.PHONY: install system-deps repro test test-fast test-scale lint bench clean-venv

install: $(STAMP) $(PLOTS_TEMPLATE)

$(STAMP): requirements.lock pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "Installing the pinned dependencies (requirements.lock) into $(VENV); ~1 minute the first time"
	@$(BIN)/python -m pip install -qq --disable-pip-version-check -r requirements.lock
	@$(BIN)/python -m pip install -qq --disable-pip-version-check --no-deps --no-build-isolation -e .
	@touch $(STAMP)

# `dvc plots show` pages load vega from a CDN by default; this template inlines local copies
# (pinned in tools/vega/package-lock.json) so the page renders offline.
$(PLOTS_TEMPLATE): tools/vega/package.json tools/vega/package-lock.json tools/offline_plots_template.py $(STAMP)
	@echo "Installing vega, vega-lite and vega-embed for offline plot pages"
	@npm ci --prefix tools/vega --no-audit --no-fund --loglevel=error
	@$(BIN)/python tools/offline_plots_template.py tools/vega/node_modules $@

repro: install
	$(BIN)/dvc repro

# PostgreSQL (the team-scale tests start their own server) and Chromium (status page test):
# Debian packages, one apt-get, skipped at once when both are installed.
system-deps:
	@scripts/install_system_deps.sh

test: install system-deps
	$(BIN)/python -m pytest

# The unit tier (tiny fixtures, no pipeline run, no services): about a minute. The tiers
# (unit, e2e, reliability, scale) are pytest markers; see tests/conftest.py.
test-fast: install
	$(BIN)/python -m pytest -m unit

# Only the team deployment: PostgreSQL + S3 + MLflow server, two clones (a few minutes).
test-scale: install system-deps
	$(BIN)/python -m pytest tests/scale

lint: install
	$(BIN)/ruff check src stages tests benchmarks scripts
	$(BIN)/ruff format --check src stages tests benchmarks scripts

# Every benchmark in benchmarks/ (README there): each prints a table of measured figures with
# PASS/FAIL against its target; all run even when one misses a target, and `make bench`
# then exits non-zero. The model and mirror benchmarks read this workspace's pipeline
# outputs, hence `dvc repro` first (a no-op when they are up to date); the drift benchmark
# runs in its own Evidently environment and the baseline in its own scikit-learn one, each
# set up on first use.
bench: install
	$(BIN)/dvc repro
	@failed=""; \
	for name in pipeline registry models mirror serve; do \
		$(BIN)/python benchmarks/$$name.py || failed="$$failed $$name"; \
	done; \
	bash benchmarks/setup_evidently.sh && \
		PYTHONPATH=src benchmarks/.venv-evidently/bin/python benchmarks/drift.py \
		|| failed="$$failed drift"; \
	bash benchmarks/setup_sklearn.sh && \
		PYTHONPATH=src benchmarks/.venv-sklearn/bin/python benchmarks/baseline.py \
		|| failed="$$failed baseline"; \
	test -z "$$failed" || { echo "benchmarks that missed a target or failed:$$failed"; exit 1; }

clean-venv:
	rm -rf $(VENV)
