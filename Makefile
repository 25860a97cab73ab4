# The README's two commands: `make repro` and `make test`. Both create .venv on first use
# and re-install only when requirements.lock or pyproject.toml changed.
PYTHON ?= python3.11
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
STAMP := $(VENV)/.installed

# Stages call `python`; make sure it is the project's interpreter.
export PATH := $(BIN):$(PATH)

.PHONY: install repro test lint clean-venv

install: $(STAMP)

$(STAMP): requirements.lock pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "Installing the pinned dependencies (requirements.lock) into $(VENV); ~1 minute the first time"
	@$(BIN)/python -m pip install -qq --disable-pip-version-check -r requirements.lock
	@$(BIN)/python -m pip install -qq --disable-pip-version-check --no-deps --no-build-isolation -e .
	@touch $(STAMP)

repro: install
	$(BIN)/dvc repro

test: install
	$(BIN)/python -m pytest

lint: install
	$(BIN)/ruff check src stages tests benchmarks
	$(BIN)/ruff format --check src stages tests benchmarks

clean-venv:
	rm -rf $(VENV)
