# AIaaS Academy. Every target sets up what it needs; see README.md.
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
STAMP  := $(VENV)/.setup-done
MODE   ?= smoke
DEVICE ?= auto
HOST   ?= 127.0.0.1
PORT   ?= 8000
APP_PORT ?= 8501
GRADER_HOST ?= 127.0.0.1
GRADER_PORT ?= 8100
GRADER_DATA ?= ./var/grader
export HOST PORT APP_PORT GRADER_HOST GRADER_PORT GRADER_DATA DEVICE

.PHONY: setup test test-unit notebooks models lab serve app grader demo bench lint system clean

setup: $(STAMP)

# torch==2.13.0 first (the CPU build on local disk), then the project with torch pinned by constraints.txt
# so no later install can swap it for a CUDA build.
$(STAMP): pyproject.toml constraints.txt
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON) (set PYTHON=... to another 3.11 interpreter)"; exit 1; }
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -c constraints.txt -e '.[dev]'
	$(VENV)/bin/jupyter labextension list 2>&1 | grep -q nbgrader || echo "note: nbgrader's lab extension is not listed"
	@touch $(STAMP)

system:
	@bash scripts/system_deps.sh

test: setup system
	$(VENV)/bin/ruff check .
	PATH=$(CURDIR)/$(VENV)/bin:$$PATH $(PY) -m pytest -q -ra

test-unit: setup
	$(PY) -m pytest -q -m "not notebooks and not browser and not services and not slow"

lint: setup
	$(VENV)/bin/ruff check .

notebooks: setup
	$(PY) -m academy notebooks --mode $(MODE)

models: setup
	$(PY) -m academy notebooks --mode full $(wildcard notebooks/*/*export*.ipynb)
	$(PY) -m academy models

lab: setup
	PATH=$(CURDIR)/$(VENV)/bin:$$PATH $(VENV)/bin/jupyter lab --ServerApp.root_dir=$(CURDIR) $(if $(filter 0,$(shell id -u)),--allow-root,)

serve: setup
	$(PY) -m app.api --host $(HOST) --port $(PORT)

app: setup
	$(PY) -m app.ui --port $(APP_PORT)

grader: setup system
	$(PY) -m grader run --data $(GRADER_DATA) --host $(GRADER_HOST) --port $(GRADER_PORT)

demo: setup
	$(PY) -m app.demo --host $(HOST) --port $(PORT) --app-port $(APP_PORT)

bench: setup system
	$(PY) -m benchmarks

clean:
	rm -rf build .pytest_cache .ruff_cache
