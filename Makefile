# The two commands a newcomer needs:  make run   and   make test
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
export PYTHONWARNINGS := ignore

.PHONY: install run demo test test-unit test-fast clean

$(VENV)/.installed: requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed

# Start the services (logs prefixed), run the demo, serve until Ctrl-C.
# ONCE=1: stop after the demo, exit non-zero if it failed.
run: install
	$(PY) -m devtools.run $(if $(ONCE),--once)

# The demo alone, against services already running.
demo: install
	$(PY) -m demo

# Every test, against the RabbitMQ and PostgreSQL on this machine.
test: install
	$(PY) -m pytest -q

# Domain rules and pure helpers only: no broker, no database.
test-unit: install
	$(PY) -m pytest -q tests/unit

clean:
	rm -rf $(VENV) var .pytest_cache
