# Entry points for people and CI. `make test` must work on a fresh machine as root:
# it creates .venv/, installs the project with its dev extra, installs the Debian
# packages the tests need (only those missing), then runs ruff, mypy and pytest.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: test lint typecheck unit demo deps bench reliability clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --config-settings editable_mode=compat -e '.[dev]'
	touch $(STAMP)

deps: $(STAMP)
	bash scripts/debian-deps.sh

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest -q

test: deps lint typecheck unit

# The sandbox demo: 2 nodes running the real daemon, pods through the real plugin, checks.
# PROVIDER=gce runs it on the Compute Engine emulator (alias ranges) instead of EC2.
# KUBE=1 adds the Kubernetes API emulator: Node and pod objects, the daemons' Kubernetes layer.
PROVIDER ?= aws
KUBE ?=
demo: deps
	$(BIN)/vpc-ipam-sandbox demo --provider $(PROVIDER)$(if $(filter 1 true yes,$(KUBE)), --kube)

# Benchmarks (bench/): ratios against references measured in the same run; the Go reference
# plugins come from Debian's containernetworking-plugins. Prints every ratio; under 15 minutes.
bench: deps
	bash scripts/debian-deps.sh containernetworking-plugins
	$(BIN)/python -m bench

# The reliability suite's long versions (tests/reliability: crash storm with kill -9, cloud
# faults, DEL storms with the daemon down, disk full): bounded, about 10-15 minutes; sizes
# from RELIABILITY_* (tests/reliability/harness.py). Prints operations run, faults injected,
# duplicates and leaks per scenario and in total. The short versions run in `make test`.
reliability: deps
	RELIABILITY_LONG=1 $(BIN)/pytest -q -s -m reliability tests/reliability

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache .hypothesis
