# Entry points for people and CI. `make test` must work on a fresh machine as root:
# it creates .venv/, installs the project with its dev extra, installs the Debian
# packages the tests need (only those missing), then runs ruff, mypy and pytest.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: test lint typecheck unit demo deps clean

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

# The demo needs the sandbox (a VPC in a box), which is not built yet.
demo:
	@echo "make demo: the sandbox demo is not built yet (see issue 6: 'The sandbox: a VPC in a box')." >&2
	@echo "Nothing was started. Run 'make test' for the test suite." >&2
	@exit 2

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache .hypothesis
