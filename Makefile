# The two commands a newcomer needs:  make run   and   make test
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
export PYTHONWARNINGS := ignore

.PHONY: asyncapi settings bench bench-smoke coverage install run demo test test-unit test-usecases dead-letters replay clean

$(VENV)/.installed: requirements.txt requirements-dev.txt constraints.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $@

install: $(VENV)/.installed

# Start the services (logs prefixed), run the demo, serve until Ctrl-C.
# ONCE=1: stop after the demo, exit non-zero if it failed. (`ekraf --help` for more.)
run: install
	$(VENV)/bin/ekraf up --demo $(if $(ONCE),--once)

# The demo alone, against services already running.
demo: install
	$(VENV)/bin/ekraf demo

# Every test, against the RabbitMQ and PostgreSQL on this machine, on two workers in a
# random order (the fault tests, each on a stack of its own, first); then every
# benchmark at tiny sizes (it fails if one of them no longer runs).
test: install
	-devtools/ensure-chromium.sh
	$(PY) -m devtools.asyncapi --check
	$(PY) -m devtools.settings --check
	$(PY) -m pytest -q -n 2
	$(PY) -m bench --smoke --results var/bench-smoke.md

# Benchmarks (not tests): each against a baseline measured in the same run; the tables
# are printed and appended to bench/results.md. About 10 minutes. See docs/performance.md.
#   make bench                    (all)      make bench BENCH="rpc outbox"   (some)
bench: install
	$(PY) -m bench $(BENCH)

# Every benchmark at tiny sizes, to check they still run (`make test` does this too).
bench-smoke: install
	$(PY) -m bench --smoke --results var/bench-smoke.md

# Domain rules and pure helpers only: no broker, no database.
test-unit: install
	$(PY) -m pytest -q tests/unit

# The use cases in-process on a real PostgreSQL (no broker, no service started).
test-usecases: install
	$(PY) -m pytest -q tests/usecases

# Line and branch coverage of services/ and shared/ over the whole suite (the services
# started as subprocesses included); the report is printed and kept in var/coverage.txt.
coverage: install
	mkdir -p var && rm -f var/.coverage var/.coverage.*
	COVERAGE_RCFILE=.coveragerc $(PY) -m coverage run -m pytest -q -n 2
	COVERAGE_RCFILE=.coveragerc $(PY) -m coverage combine -q
	COVERAGE_RCFILE=.coveragerc $(PY) -m coverage report --precision=2 | tee var/coverage.txt

# Messages a service could not handle: list them; replay them once the cause is fixed.
#   make dead-letters SERVICE=notifications
#   make replay SERVICE=notifications            (all)   or   EVENT_ID=<uuid>  (one)
dead-letters: install
	$(VENV)/bin/ekraf dlq list $(SERVICE)

replay: install
	$(VENV)/bin/ekraf dlq replay $(SERVICE) $(if $(EVENT_ID),--event-id $(EVENT_ID),--all)

# The message catalog (docs/asyncapi.yaml), generated from the services' message schemas.
asyncapi: install
	$(PY) -m devtools.asyncapi

# The settings table in docs/operations.md, generated from shared/settings.py.
settings: install
	$(PY) -m devtools.settings

clean:
	rm -rf $(VENV) var .pytest_cache
