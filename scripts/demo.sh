#!/usr/bin/env bash
# The main job on the embedded digits data: train subset trials, aggregate the
# estimates into the released formats, draw the figures, print a summary.
# 400 trials: about 1 minute on 2 CPU cores (train, aggregate, report; measured 1 m 11 s from a clean clone). Override with e.g. TRIALS=0-999 PACK=50 OUT=/tmp/digits bash scripts/demo.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
OUT=${OUT:-demo_out}
TRIALS=${TRIALS:-0-399}
PACK=${PACK:-100}  # trials trained together as one packed model (docs/performance.md)
export TF_CPP_MIN_LOG_LEVEL=${TF_CPP_MIN_LOG_LEVEL:-2}

step() { echo; echo "==> $*"; "$@"; }

step "$PY" -m influence_mem.train --flagfile=configs/digits_mlp.cfg --trials="$TRIALS" \
     --workdir="$OUT/trials" --pack_trials="$PACK" --save_model=false --log_every_epochs=20
step "$PY" -m influence_mem.aggregate --workdir="$OUT/trials" --subset_ratio=0.7 --name=digits \
     --output_dir="$OUT/estimates"
step "$PY" -m influence_mem.analysis.report --estimates="$OUT/estimates" --dataset=digits --output_dir="$OUT/report"
