PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 3000
# The same import roots as pytest's pythonpath in pyproject.toml.
export PYTHONPATH := layers/ferry:functions/api:functions/worker:functions/sweeper:functions/notifier:functions/scheduler:local

.PHONY: run test bench lint clean trigger

# The virtualenv is rebuilt whenever a requirements file changes.
$(VENV)/.installed: requirements-dev.txt layers/ferry/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

run: $(VENV)/.installed
	PORT=$(PORT) $(BIN)/python -m ferry_local

# Fire one of the template's schedules on the running `make run`, e.g. make trigger SCHEDULE=SchedulerFunction.Tick AT=2026-11-24T02:00:00Z
trigger: $(VENV)/.installed
	PORT=$(PORT) $(BIN)/python -m ferry_local.trigger "$(SCHEDULE)" "$(AT)"

lint: $(VENV)/.installed
	$(BIN)/cfn-lint template.yaml

test: lint
	$(BIN)/python -m pytest -n 2

bench: $(VENV)/.installed
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .state .pytest_cache
