#!/usr/bin/env bash
# One Slurm array task = one block of trials: task k trains trials FIRST + k*PER_TASK .. (capped at LAST).
#
#   sbatch --array=0-399 launchers/slurm_array.sh 0 3999 10 -- \
#       --flagfile=configs/cifar100_resnet50.cfg --workdir=/shared/c100        # 4,000 trials, 400 tasks
#   sbatch --array=0-1999 --gres=gpu:8 launchers/slurm_array.sh 0 1999 1 -- \
#       --flagfile=configs/imagenet_resnet50.cfg --workdir=/shared/in --strategy=mirrored
#
# Everything after `--` goes to `python -m influence_mem.train` (its --trials is set here).  Slurm pins
# the GPUs of --gres with CUDA_VISIBLE_DEVICES.  With --requeue a pre-empted task is rerun and resumes
# from its trial's checkpoint; completed trials are skipped.  DRY_RUN=1 prints the command only.
# PROGRAM=reevaluate runs im-reevaluate instead (python -m influence_mem.reevaluate; the trials are then the
# run ids of its --runs, docs/reevaluate.md); PROGRAM=train.last_layer the last-layer mode.
#SBATCH --job-name=influence_mem
#SBATCH --gres=gpu:1
#SBATCH --cpus-per-task=8
#SBATCH --requeue
#SBATCH --output=slurm-%A_%a.out
set -euo pipefail

usage="usage: slurm_array.sh FIRST LAST PER_TASK -- <trainer flags>"
if (($# < 3)); then echo "error: $usage" >&2; exit 1; fi
first=$1 last=$2 per_task=$3
shift 3
if [[ "${1:-}" == "--" ]]; then shift; fi
for value in "$first" "$last" "$per_task"; do
  if ! [[ "$value" =~ ^[0-9]+$ ]]; then echo "error: '$value' is not a non-negative integer; $usage" >&2; exit 1; fi
done
first=$((10#$first)) last=$((10#$last)) per_task=$((10#$per_task))  # '08' is decimal, not bad octal
if ((per_task < 1 || last < first)); then echo "error: need PER_TASK >= 1 and LAST >= FIRST; $usage" >&2; exit 1; fi
task=${SLURM_ARRAY_TASK_ID:-}
if [[ -z "$task" ]]; then echo "error: SLURM_ARRAY_TASK_ID is unset: submit with sbatch --array=..." >&2; exit 1; fi
# only digits reach bash arithmetic (an expression there would be evaluated, command substitutions included)
if ! [[ "$task" =~ ^[0-9]+$ ]]; then
  echo "error: SLURM_ARRAY_TASK_ID='$task' is not a non-negative integer" >&2; exit 1
fi
task=$((10#$task))
program=${PROGRAM:-train}
case "$program" in
  train|train.last_layer|reevaluate) ;;
  *) echo "error: PROGRAM='$program': expected train, train.last_layer or reevaluate" >&2; exit 1 ;;
esac

lo=$((first + task * per_task))
hi=$((lo + per_task - 1))
if ((hi > last)); then hi=$last; fi
if ((lo > last)); then
  echo "array task $task: no trials left (the range $first-$last has $(((last - first) / per_task + 1)) tasks)"
  exit 0
fi
cmd=("${PYTHON:-python}" -m "influence_mem.$program" "$@" "--trials=$lo-$hi")
echo "array task $task: ${cmd[*]}"
if [[ -n "${DRY_RUN:-}" ]]; then exit 0; fi
exec "${cmd[@]}"
