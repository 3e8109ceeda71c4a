# The two commands of the README: `make up` runs the stack, `make test` runs the tests.
PY := .venv/bin/python
export PYTHONPATH := $(CURDIR)

.PHONY: install up down status test lint typecheck schema bench clean

install: .venv/.installed
	$(PY) -m infra install

.venv/.installed: requirements.lock pyproject.toml
	python3.11 -m venv .venv || python3 -m venv .venv
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.lock
	touch $@

up: install
	$(PY) -m infra up

down:
	$(PY) -m infra down

status:
	$(PY) -m infra status

lint: .venv/.installed
	$(PY) -m ruff check .

typecheck: .venv/.installed
	$(PY) -m mypy

schema: .venv/.installed
	$(PY) -m schemas

test: install lint typecheck
	$(PY) -m pytest -q

clean: down
	rm -rf .stack

bench: install
	$(PY) -m bench.first_token
	$(PY) -m bench.pipeline
