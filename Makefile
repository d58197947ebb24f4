# Sizhong: the two commands a person needs are `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed

.PHONY: run test lint bench lock clean

$(INSTALLED): requirements-dev.lock pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.lock
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $(INSTALLED)

## run: broker, every service (SQLite under var/), console at http://127.0.0.1:8000; Ctrl-C stops all
run: $(INSTALLED)
	exec $(PY) -m shared.launcher

## test: the whole suite against a real broker and the services as processes
test: $(INSTALLED)
	$(PY) -m pytest

## lint: ruff and mypy
lint: $(INSTALLED)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy .

## bench: event pipeline benchmark beside raw aiokafka (not part of make test)
bench: $(INSTALLED)
	$(PY) -m bench

## lock: re-resolve the pinned dependencies after changing pyproject.toml
lock: $(INSTALLED)
	$(VENV)/bin/uv pip compile pyproject.toml -o requirements.lock --python-version 3.11 -q
	$(VENV)/bin/uv pip compile pyproject.toml --extra dev -o requirements-dev.lock --python-version 3.11 -q

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
