# csledger: `make run` serves the demo on http://127.0.0.1:8000/docs, `make test` checks everything.
# Both create .venv with python3.11 when it is missing and reinstall only when pyproject.toml or
# constraints.txt changed (the stamp file below is older than either).

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000
# Two xdist workers: measured on 2 CPUs, the suite took about 75 s instead of about 120 s
# serially (tests mostly wait on the databases). PYTEST_ARGS= runs it serially.
PYTEST_ARGS ?= -n 2

.PHONY: run test lint format openapi constraints clean bench screenshots

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml constraints.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/csledger migrate
	CSLEDGER_HOST=$(HOST) CSLEDGER_PORT=$(PORT) $(BIN)/csledger demo --print-tokens
	CSLEDGER_WORKER_IN_PROCESS=true $(BIN)/csledger serve --host $(HOST) --port $(PORT)

test: lint
	$(BIN)/pytest -q $(PYTEST_ARGS)

# lint-imports checks the layers of app/ (the contracts under [tool.importlinter] in
# pyproject.toml).
lint: $(STAMP)
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports --no-logo

# The benchmark (issue 3; not part of make test): the service against a bare ASGI floor under
# wrk, batch ingest and csledger verify, on PostgreSQL at BENCH_SERVER_URL (a database there is
# created and dropped). Needs wrk: apt-get install -y wrk. See bench/README.md.
BENCH_SERVER_URL ?= postgresql://postgres@127.0.0.1:5432/postgres
BENCH_DURATION ?= 20
BENCH_ARGS ?=
bench: $(STAMP)
	$(BIN)/python -m bench.run --server-url $(BENCH_SERVER_URL) --duration $(BENCH_DURATION) $(BENCH_ARGS)

# The console's pages as the README shows them, photographed by its browser tests (needs
# Debian's chromium: apt-get install -y chromium).
screenshots: $(STAMP)
	CSLEDGER_SCREENSHOTS=docs/console $(BIN)/pytest -q tests/console -k browser

# Rewrite the code in the house style, then fix what ruff can.
format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

openapi: $(STAMP)
	$(BIN)/csledger openapi --output openapi/openapi.json

# Pin what is installed now, for the next fresh machine (csledger itself is left out).
constraints: $(STAMP)
	$(BIN)/python -m pip freeze --exclude-editable > constraints.txt
	touch $(STAMP)

clean:
	rm -rf var .pytest_cache .mypy_cache .ruff_cache .import_linter_cache .hypothesis build dist \
		*.egg-info
	find . -name __pycache__ -type d -not -path './$(VENV)/*' -prune -exec rm -rf {} +
