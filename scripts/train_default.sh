#!/usr/bin/env bash
# The default training recipe (`make train-default`): synthetic corpus + FACEGOOD takes -> stages
# 1, 2, 3 -> src/umo/models/weights/default.safetensors. Resumable: run it again to continue.
#
#   scripts/train_default.sh                 # 2 CPU cores, ~50 min (the sizing is in umo/training/recipe.py)
#   HOURS=4 scripts/train_default.sh         # a larger synthetic corpus
#   SCALE=20 GPU=1 scripts/train_default.sh  # a GPU machine: 20x steps and hours, 4x batch, all GPUs
#   NPROC=2 scripts/train_default.sh         # two CPU processes under torchrun (DDP, gloo)
#
# Extra arguments go to `python -m umo.training.recipe` (see its --help).
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-.venv/bin/python}"
args=(--hours "${HOURS:-3}" --scale "${SCALE:-1}" --out "${OUT:-runs/default}")
if [[ -n "${GPU:-}" ]]; then args+=(--gpu); fi
if [[ -n "${NPROC:-}" ]]; then args+=(--nproc "$NPROC"); fi
exec "$PY" -m umo.training.recipe "${args[@]}" "$@"
