PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 3000
# The same import roots as pytest's pythonpath in pyproject.toml.
export PYTHONPATH := layers/ferry:functions/api:functions/authorizer:functions/worker:functions/sweeper:functions/notifier:functions/scheduler:local:admin

.PHONY: help run test bench lint clean trigger python-check deploy key keys revoke

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | expand -t 10

# One clear line, not a pip dump, when the Python is too old.
python-check:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null \
		|| { echo "Ferry needs Python 3.11 or newer; $(PYTHON) is $$($(PYTHON) -V 2>&1 | head -1). Try: make PYTHON=python3.12 ..."; exit 1; }

# The virtualenv is rebuilt whenever a requirements file changes, or when it was made by another Python
# (its marker names the Python's version).
PYTHON_VERSION := $(shell $(PYTHON) -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)

$(VENV)/.python-$(PYTHON_VERSION): | python-check
	rm -rf $(VENV)
	mkdir -p $(VENV)
	touch $@

$(VENV)/.installed: requirements-dev.txt layers/ferry/requirements.txt $(VENV)/.python-$(PYTHON_VERSION) | python-check
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

run: $(VENV)/.installed ## Start the local stack on 127.0.0.1 (demo data and keys printed)
	PORT=$(PORT) $(BIN)/python -m ferry_local

# Fire one of the template's schedules on the running `make run`, e.g. make trigger SCHEDULE=SchedulerFunction.Tick AT=2026-11-24T02:00:00Z
trigger: $(VENV)/.installed ## Fire a schedule on the running stack: SCHEDULE=... AT=...
	PORT=$(PORT) $(BIN)/python -m ferry_local.trigger "$(SCHEDULE)" "$(AT)"

# API keys on the running `make run`, or on a deployed stack with STACK=<name> (python -m ferry_admin keys ...).
ADMIN = $(BIN)/python -m ferry_admin $(if $(STACK),--stack "$(STACK)",--port $(PORT))

key: $(VENV)/.installed ## Create an API key, printed once: TENANT=acme NAME="acme ERP" [STACK=ferry]
	@test -n "$(TENANT)" -a -n "$(NAME)" || { echo 'usage: make key TENANT=acme NAME="acme ERP" [STACK=<deployed stack>]'; exit 2; }
	@$(ADMIN) keys create --tenant "$(TENANT)" --name "$(NAME)"

keys: $(VENV)/.installed ## List API keys (never the keys themselves): [TENANT=acme] [STACK=ferry]
	@$(ADMIN) keys list $(if $(TENANT),--tenant "$(TENANT)")

revoke: $(VENV)/.installed ## Revoke an API key: KEY_ID=key_... [STACK=ferry]
	@test -n "$(KEY_ID)" || { echo 'usage: make revoke KEY_ID=key_... [STACK=<deployed stack>] (make keys lists them)'; exit 2; }
	@$(ADMIN) keys revoke "$(KEY_ID)"

lint: $(VENV)/.installed ## cfn-lint the template
	$(BIN)/cfn-lint template.yaml

test: lint ## Run every test
	$(BIN)/python -m pytest -n 2

bench: $(VENV)/.installed ## Measure speed against floors of the same run
	$(BIN)/python -m bench

# sam build needs python3.12 on PATH (the functions' runtime; layers/ferry/Makefile compiles the layer with it) and make;
# without python3.12, `sam build --use-container` builds in Docker.
# Only the parameters given are passed: on an update the others keep their deployed values. The template refuses
# a stack with no MongoDB (its rule BusinessDataHasADatabase), naming MongoDbUri and MongoDbSecret.
# The sam deploy line is not echoed: MongoDbUri holds a password.
# Values are read from the environment by the shell ("$$NAME"), never pasted into the command by make, so ` " \
# arrive as they are; a $ does too when the value is given in the environment (MONGODB_URI='...' make deploy),
# while make itself would expand a $ given on its own command line.
DEPLOY_PARAMETERS = $(strip \
	$(if $(MONGODB_URI),MongoDbUri="$$MONGODB_URI") \
	$(if $(MONGODB_SECRET),MongoDbSecret="$$MONGODB_SECRET") \
	$(if $(MONGODB_SECRET_KEY),MongoDbSecretKey="$$MONGODB_SECRET_KEY") \
	$(if $(ALARM_EMAIL),AlarmEmail="$$ALARM_EMAIL") \
	$(if $(VPC_SUBNETS),VpcSubnetIds="$$VPC_SUBNETS") \
	$(if $(VPC_SECURITY_GROUPS),VpcSecurityGroupIds="$$VPC_SECURITY_GROUPS"))

deploy: ## sam build && sam deploy: MONGODB_URI=... (kept in a new secret) or MONGODB_SECRET=<name|ARN>; [ALARM_EMAIL= VPC_SUBNETS= VPC_SECURITY_GROUPS= MONGODB_SECRET_KEY=]
	sam build
	@sam deploy $(if $(DEPLOY_PARAMETERS),--parameter-overrides $(DEPLOY_PARAMETERS))

clean: ## Remove the virtualenv and local state
	rm -rf $(VENV) .state .pytest_cache
