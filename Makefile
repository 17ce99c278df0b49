# Two entry points: `make demo` (the main job on digits) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# TensorFlow build for .venv: the `cpu` extra (tensorflow-cpu) or, on a GPU machine, `make TF_EXTRA=gpu ...`.
TF_EXTRA ?= cpu

.PHONY: demo test test-fast venv clean

venv: $(STAMP)

$(STAMP): pyproject.toml setup.py
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[$(TF_EXTRA),test]"
	touch $(STAMP)

# everything (tests/integration too: subprocesses, kill/resume, launchers, Ray, the wheel)
test: $(STAMP)
	$(BIN)/python -m pytest -q tests

# the in-process unit tests only
test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not integration" tests

demo: $(STAMP)
	bash scripts/demo.sh

clean:
	rm -rf $(VENV) demo_out
