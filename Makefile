# Flywheel: `make run` serves the site with a worker; `make test` runs every test. Both install what is missing.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PORT ?= 8000
export PORT
# Test processes (pytest-xdist), each with its own database, data folder and broker keys; 0 runs the suite in
# this process (TEST_PROCESSES=0 make test, for a debugger). Two take about half the time on 2 cores.
TEST_PROCESSES ?= 2

.PHONY: install run test lint format check bench demo worker

$(STAMP): requirements.txt requirements-dev.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@touch $(STAMP)

install: $(STAMP)

demo: install
	$(PY) manage.py migrate --noinput
	$(PY) manage.py load_demo

run: demo
	@echo "Starting the web server on http://127.0.0.1:$(PORT) and the Celery workers (Ctrl-C stops them all)"
	@FLYWHEEL_WEB_URL=http://127.0.0.1:$(PORT)/ $(VENV)/bin/honcho -f platform/Procfile.dev -d . start || [ $$? -eq 130 ]  # 130: stopped with Ctrl-C

test: install
	$(PY) -m pytest -n $(TEST_PROCESSES) $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

check: install
	$(PY) manage.py check
	$(PY) manage.py makemigrations --check --dry-run

bench: install
	$(PY) -m bench

worker: install
	$(VENV)/bin/celery -A config worker -Q default,inference,training --concurrency 1 --loglevel INFO
