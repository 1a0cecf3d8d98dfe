# Two commands for a new user: `make run` (demo county at http://127.0.0.1:8000) and
# `make test` (the whole suite). `make setup` is what both start with, and is idempotent.
# The project pins Python 3.11: use python3.11 when the machine has it, else python3.
PYTHON ?= $(shell command -v python3.11 >/dev/null 2>&1 && echo python3.11 || echo python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: setup run test bench worker migrate demo clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	rm -f $(VENV)/.installed-*
	touch $@

migrate: setup
	$(PY) manage.py migrate --noinput

demo: migrate
	$(PY) manage.py load_demo

run: demo
	$(PY) manage.py runserver 127.0.0.1:8000

test: setup
	$(PY) -m pytest

bench: setup
	$(PY) benchmarks/run_all.py

worker: setup
	$(VENV)/bin/celery -A healthaid worker -l info --concurrency 2

clean:
	rm -rf $(VENV) db.sqlite3 media staticfiles *.egg-info
