# Two commands for newcomers: `make run` and `make test`. Only Python 3.11+ and make needed.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: run test lint install dev clean-data chromium

$(BIN)/python:
	$(PYTHON) -c 'import sys; sys.exit("Python 3.11+ is required") if sys.version_info < (3, 11) else None'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e .
	@touch $@

$(VENV)/.dev-installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[dev]'
	@touch $@ $(VENV)/.installed

install: $(VENV)/.installed

dev: $(VENV)/.dev-installed

## Serve the web chat, API and webhooks on http://127.0.0.1:8000 (embedded PostgreSQL if DATABASE_URL is unset)
run: $(VENV)/.installed
	@echo "Starting the bot: open http://$${HOST:-127.0.0.1}:$${PORT:-8000} (Ctrl-C stops it)"
	@echo "Dashboard: http://$${HOST:-127.0.0.1}:$${PORT:-8000}/admin (set ADMIN_TOKEN to a long random string to turn it on, then sign in with it)"
	LOG_JSON=$${LOG_JSON:-false} $(BIN)/bot serve

## Run the test suite against real PostgreSQL (DATABASE_URL, or the embedded server)
test: $(VENV)/.dev-installed
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

## ruff, mypy --strict (the platform, the example bot's plugin, the fakes) and the import
## contracts (layers, no circles; pyproject.toml)
lint: $(VENV)/.dev-installed
	$(BIN)/ruff check bot adapters bots testing research bench tests
	$(BIN)/mypy
	PYTHONPATH=bots/studio $(BIN)/lint-imports

## Forget the embedded database (all local conversations)
clean-data:
	rm -rf .data

## Debian's chromium for the dashboard's browser tests (the tests also try this once)
chromium:
	command -v chromium >/dev/null || (apt-get update -q && apt-get install -y -q chromium)
