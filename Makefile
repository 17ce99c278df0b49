# Two entry points: `make demo` (the main job on digits) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# TensorFlow build for .venv: the `cpu` extra (tensorflow-cpu) or, on a GPU machine, `make TF_EXTRA=gpu ...`.
TF_EXTRA ?= cpu

.PHONY: demo test venv clean

venv: $(STAMP)

$(STAMP): pyproject.toml setup.py
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[$(TF_EXTRA),test]"
	touch $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest -q tests

demo: $(STAMP)
	bash scripts/demo.sh

clean:
	rm -rf $(VENV) demo_out
