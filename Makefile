# The few commands people need. `make demo` and `make test` work on a fresh machine.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
VENDOR  = src/puhui/static/vendor
PYTEST_ARGS ?=

.PHONY: demo test lint format check static bench serve worker clean messages

demo: $(VENV)/.installed static                    ## set up and run the platform with demo data
	PUHUI_ENV=development $(BIN)/puhui demo

test: $(VENV)/.installed-dev static lint           ## install what the tests need and run the whole suite
	$(BIN)/pytest $(PYTEST_ARGS)

lint: $(VENV)/.installed-dev                       ## format check, lint, types, import layering
	$(BIN)/ruff format --check src tests bench tools
	$(BIN)/ruff check src tests bench tools
	$(BIN)/mypy src
	$(BIN)/lint-imports

format: $(VENV)/.installed-dev
	$(BIN)/ruff format src tests bench tools
	$(BIN)/ruff check --fix src tests bench tools

messages: $(VENV)/.installed-dev                   ## refresh the message catalogs from the sources
	$(BIN)/python tools/i18n.py update

bench: $(VENV)/.installed-dev static               ## run the benchmarks (figures as same-run ratios)
	$(BIN)/python -m bench

serve: $(VENV)/.installed static
	$(BIN)/puhui serve

worker: $(VENV)/.installed
	$(BIN)/puhui worker

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(VENV)/bin/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(VENV)/bin/python
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@ $(VENV)/.installed

static: $(VENDOR)/.installed

$(VENDOR)/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	mkdir -p $(VENDOR)
	cp node_modules/htmx.org/dist/htmx.min.js $(VENDOR)/
	cp node_modules/echarts/dist/echarts.min.js $(VENDOR)/
	touch $@

clean:
	rm -rf $(VENV) node_modules $(VENDOR) .pytest_cache .mypy_cache .ruff_cache
