# Two entry points: `make demo` (the main job on digits) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# TensorFlow build for .venv: the `cpu` extra (tensorflow-cpu) or, on a GPU machine, `make TF_EXTRA=gpu ...`.
TF_EXTRA ?= cpu

.PHONY: demo test test-fast venv docs clean

# how to reach the installed commands, printed after `make venv` and `make demo`
ACTIVATE_HINT = @echo "commands such as im-train are in $(BIN): run \`. $(BIN)/activate\` (or call $(BIN)/im-train ...)"

venv: $(STAMP)
	$(ACTIVATE_HINT)

$(STAMP): pyproject.toml setup.py
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[$(TF_EXTRA),test]"
	touch $(STAMP)

# everything (tests/integration too: subprocesses, kill/resume, launchers, Ray, the wheel)
test: $(STAMP)
	$(BIN)/python -m pytest -q -n 2 --dist worksteal tests

# the quick in-process unit tests only (not the `slow` ones that train or export models, nor integration)
test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not integration and not slow" tests

# The main job on the embedded digits data: train subset trials (packed), aggregate them into the
# released formats, write the report (about a minute on 2 CPU cores from a clean clone; 400 trials).
# Override e.g. `make demo TRIALS=0-999 PACK=50 OUT=/tmp/digits`.
OUT ?= demo_out
TRIALS ?= 0-399
PACK ?= 100
demo: $(STAMP)
	$(BIN)/python -m influence_mem.train --flagfile=configs/digits_mlp.cfg --trials=$(TRIALS) \
	    --workdir=$(OUT)/trials --pack_trials=$(PACK) --save_model=false --log_every_epochs=20
	$(BIN)/python -m influence_mem.aggregate --workdir=$(OUT)/trials --subset_ratio=0.7 --name=digits \
	    --output_dir=$(OUT)/estimates
	$(BIN)/python -m influence_mem.analysis.report --estimates=$(OUT)/estimates --dataset=digits \
	    --output_dir=$(OUT)/report
	$(ACTIVATE_HINT)

# The API reference from the docstrings (pdoc, offline; fails on any pdoc warning): open build/api/index.html
API_DIR ?= build/api
docs: $(STAMP)
	$(BIN)/python docs/build_api.py $(API_DIR)

clean:
	rm -rf $(VENV) demo_out
