#!/usr/bin/env bash
# Reproduce an embedded default model: render the synthetic training set, then train the
# small 64x64 StyleGAN2 on it. Safe to rerun: the data set is only rendered when missing and
# training always continues from its last snapshot (--resume).
#
#   usage: scripts/train_default.sh face|car
#   long runs: nohup scripts/train_default.sh face >/dev/null 2>&1 &
#              tail -f runs/default-face/train.out      (progress bar, messages)
#              tail -f runs/default-face/log.jsonl      (losses and timings)
#
# Settings (environment variables):
#   N=10000        synthetic images, train seeds SEED..SEED+N-1 (test seeds are never used)
#   SEED=0         first seed; must stay in the train range of engine/synth/seeds.py
#   KIMG=150       training length in thousands of images (≈3 h at ≈1.3 s per step on 2 CPU
#                  cores); car: 250, the length its committed state (at 217.7) was planned for
#   CHANNELS=192,192,192,128,64   widths from 4 px up: G + D ≈ 6.1M parameters, a ≤ 25 MB model
#   DATA_ROOT=data RUN_ROOT=runs   where the data set and the run go
#   DEVICE=auto    passed to both commands
#   INIT_FROM=     start a new run from this trained model and its D (e.g. default-face), see
#                  train-gan --init-from; ignored once the run folder holds a training state
#   RUN_SEED=0     seed of the run's random streams (give a continuation its own)
#   SAMPLE_WEIGHTS=  draw the training images by these weights (written by
#                  `python -m engine coverage-weights`), see train-gan --sample-weights
#   THREADS=       CPU threads (OMP_NUM_THREADS); 1 is faster when other jobs share the cores
#   INSTALL=1      when training has reached KIMG, copy the model to assets/models/default-CATEGORY.*
set -euo pipefail

category="${1:-}"
if [[ "$category" != "face" && "$category" != "car" ]]; then
    echo "usage: $0 face|car" >&2
    exit 2
fi

cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-.venv/bin/python}"
N="${N:-10000}"
SEED="${SEED:-0}"
if [[ "$category" == "car" ]]; then
    KIMG="${KIMG:-250}"
else
    KIMG="${KIMG:-150}"
fi
if ! [[ "$KIMG" =~ ^[0-9]*\.?[0-9]+$ && "$KIMG" =~ [1-9] ]]; then
    echo "KIMG=$KIMG: give the training length as a number of thousands of images above 0" >&2
    exit 2  # now, not after rendering the data set
fi
if ! [[ "$N" =~ ^[0-9]+$ && "$N" =~ [1-9] ]]; then
    echo "N=$N: give the number of synthetic images as a whole number above 0" >&2
    exit 2
fi
CHANNELS="${CHANNELS:-192,192,192,128,64}"
DEVICE="${DEVICE:-auto}"
if [[ -n "${THREADS:-}" ]]; then
    export OMP_NUM_THREADS="$THREADS"
fi
data="${DATA_ROOT:-data}/synth-$category-64"
run="${RUN_ROOT:-runs}/default-$category"
mkdir -p "$run"
source scripts/log_to_file.sh
log_to_file "$run/train.out" train_default.sh
echo "== $(date -Is) train_default.sh $category (N=$N SEED=$SEED KIMG=$KIMG)"

rendered=0
if [[ -d "$data/images" ]]; then
    rendered=$(find "$data/images" -name '*.png' | wc -l)
fi
if [[ "$rendered" -ne "$N" ]]; then
    rm -rf "$data"  # a set cut short (or of another size) is rendered again whole
    "$PYTHON" -m engine synth --category "$category" --n "$N" --seed "$SEED" --size 64 \
        --out "$data" --device "$DEVICE"
fi

# A run committed part-way (compact state, see `python -m engine compact-state`) continues here.
committed="assets/training/default-$category.state.pt"
if [[ ! -f "$run/training-state.pt" && -f "$committed" ]]; then
    cp "$committed" "$run/training-state.pt"
    echo "continuing from $committed"
fi

options=()
if [[ -n "${INIT_FROM:-}" ]]; then
    options=(--init-from "$INIT_FROM")
fi
if [[ -n "${SAMPLE_WEIGHTS:-}" ]]; then
    options+=(--sample-weights "$SAMPLE_WEIGHTS")
fi
"$PYTHON" -m engine train-gan --data "$data/images" --out "$run" --size 64 --batch 16 \
    --channels "$CHANNELS" --kimg "$KIMG" --seed "${RUN_SEED:-0}" --device "$DEVICE" --resume \
    "${options[@]}"

if [[ "${INSTALL:-0}" == "1" ]]; then
    "$PYTHON" - "$run" "$KIMG" <<'EOF'
import json, sys
run, kimg = sys.argv[1], float(sys.argv[2])
trained = json.load(open(f"{run}/model.json"))["extra"]["kimg"]
sys.exit(0 if trained >= kimg else f"not installed: {run} is at {trained} kimg of {kimg}")
EOF
    mkdir -p assets/models
    cp "$run/model.safetensors" "assets/models/default-$category.safetensors"
    cp "$run/model.json" "assets/models/default-$category.json"
    echo "installed assets/models/default-$category.{safetensors,json}"
fi
