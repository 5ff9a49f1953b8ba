#!/usr/bin/env bash
# Reproduce the embedded StyleGAN-R model of default-car (assets/models/default-car-styleganr.pt
# and the view labeller beside it). Every step resumes from its state file, so the script can
# be stopped and run again; finished steps are skipped.
#
#   usage: scripts/train_styleganr_car.sh            (after the default-car GAN is installed)
#   long runs: nohup scripts/train_styleganr_car.sh >/dev/null 2>&1 &
#              tail -f runs/styleganr-car/train.out
#
# Settings (environment variables):
#   CHECKPOINT=default-car   the StyleGAN2 the model drives (a bundled name or a file)
#   LABELLER_STEPS=8000      view labeller on synthetic cars (cameras + silhouettes), then
#   TUNE_STEPS=1500          more at a lower rate on augmented renders (mirrored, recoloured,
#                            blurred, noisy), so that it reads GAN samples too
#   SYNTH_STEPS=5000         inverse graphics on synthetic car pairs (known cameras)
#   GAN_STEPS=800            then on GAN pairs: same content under two labelled view codes
#   VIEWS=24 LAYERS=4        view codes and the W+ rows they replace (see the view-layers figure)
#   CANDIDATES=480           view codes sampled and labelled, of which VIEWS spread evenly over
#                            the azimuth circle are kept (the GAN draws some views far more often)
#   MAPPING_STEPS=900 WARMUP=300   mapping network: warm-up, then cycle consistency
#   RUN=runs/styleganr-car   where the states go
#   THREADS=                 CPU threads (OMP_NUM_THREADS)
#   INSTALL=1                copy the model and the labeller into assets/models/
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-.venv/bin/python}"
CHECKPOINT="${CHECKPOINT:-default-car}"
LABELLER_STEPS="${LABELLER_STEPS:-8000}"
TUNE_STEPS="${TUNE_STEPS:-1500}"
SYNTH_STEPS="${SYNTH_STEPS:-5000}"
GAN_STEPS="${GAN_STEPS:-800}"
VIEWS="${VIEWS:-24}"
CANDIDATES="${CANDIDATES:-480}"
LAYERS="${LAYERS:-4}"
MAPPING_STEPS="${MAPPING_STEPS:-900}"
WARMUP="${WARMUP:-300}"
RUN="${RUN:-runs/styleganr-car}"
if [[ -n "${THREADS:-}" ]]; then
    export OMP_NUM_THREADS="$THREADS"
fi
if [[ ! -f "$CHECKPOINT" && ! -f "assets/models/$CHECKPOINT.safetensors" ]]; then
    echo "train_styleganr_car.sh: CHECKPOINT=$CHECKPOINT is neither a file nor a bundled model;" \
        "give the path of the StyleGAN2 checkpoint" >&2
    exit 2
fi
# The view codes decide every later stage's data, so a run continues only with the LAYERS and
# CANDIDATES its codes were drawn with (read from the codes themselves, so older runs are held
# too) and the CHECKPOINT and VIEWS recorded beside them.
if [[ -f "$RUN/candidates.safetensors" ]]; then
    drawn=$("$PYTHON" - "$RUN/candidates.safetensors" <<'EOF'
import sys
from engine.errors import GANliftError
from engine.styleganr.view_codes import load_view_codes
try:
    count, layers, _ = load_view_codes(sys.argv[1]).codes.shape
except GANliftError as error:
    sys.exit(f"train_styleganr_car.sh: {error}")
print(f"LAYERS={layers} CANDIDATES={count}")
EOF
) || exit 2
    recorded=$(cat "$RUN/drawn-with.txt" 2>/dev/null || echo "CHECKPOINT=$CHECKPOINT VIEWS=$VIEWS")
    asked="LAYERS=$LAYERS CANDIDATES=$CANDIDATES CHECKPOINT=$CHECKPOINT VIEWS=$VIEWS"
    if [[ "$drawn $recorded" != "$asked" ]]; then
        echo "train_styleganr_car.sh: $RUN holds view codes drawn with $drawn $recorded, not" \
            "$asked; give those to continue it, or another RUN=" >&2
        exit 2
    fi
fi
mkdir -p "$RUN"
source scripts/log_to_file.sh
log_to_file "$RUN/train.out" train_styleganr_car.sh
echo "== $(date -Is) train_styleganr_car.sh (CHECKPOINT=$CHECKPOINT LAYERS=$LAYERS CANDIDATES=$CANDIDATES)"
styleganr() { "$PYTHON" -m engine styleganr --device cpu "$@"; }

# The steps the state file $1 (of format $2) holds, 0 before it exists. A first stage the file
# has passed (the labeller's plain renders, the synthetic pairs) is skipped: its trainer refuses
# a state holding more steps than it asks for, which stopped a rerun, or a RUN given the shipped
# labeller, there.
steps_done() {
    if [[ ! -f "$1" ]]; then
        echo 0
        return
    fi
    "$PYTHON" - "$1" "$2" <<'EOF'
import sys
from engine.errors import GANliftError
from engine.styleganr.config_io import read_state, state_step
try:
    print(state_step(read_state(sys.argv[1], sys.argv[2]), sys.argv[1]))
except GANliftError as error:
    sys.exit(f"train_styleganr_car.sh: {error}")
EOF
}

labelled=$(steps_done "$RUN/labeller.pt" ganlift-styleganr-view-labeller)
if ((labelled < LABELLER_STEPS)); then
    styleganr train-labeller --out "$RUN/labeller.pt" --steps "$LABELLER_STEPS" --no-augment
fi
styleganr train-labeller --out "$RUN/labeller.pt" --steps $((LABELLER_STEPS + TUNE_STEPS)) \
    --augment --learning-rate 3e-4
inverted=$(steps_done "$RUN/inverse.pt" ganlift-styleganr-inverse-graphics)
if ((inverted < SYNTH_STEPS)); then
    styleganr train-inverse --synthetic --out "$RUN/inverse.pt" --steps "$SYNTH_STEPS"
fi
styleganr view-layers --checkpoint "$CHECKPOINT" --labeller "$RUN/labeller.pt" \
    --out "$RUN/view_layers.png" | tee "$RUN/view_layers.txt"
if [[ ! -f "$RUN/candidates.safetensors" ]]; then
    styleganr view-codes --checkpoint "$CHECKPOINT" --layers "$LAYERS" --count "$CANDIDATES" \
        --out "$RUN/candidates.safetensors"
    echo "CHECKPOINT=$CHECKPOINT VIEWS=$VIEWS" >"$RUN/drawn-with.txt"
fi
styleganr auto-label --checkpoint "$CHECKPOINT" --views "$RUN/candidates.safetensors" \
    --labeller "$RUN/labeller.pt" --keep "$VIEWS" --out "$RUN/labelled.safetensors"
styleganr train-inverse --checkpoint "$CHECKPOINT" --views "$RUN/labelled.safetensors" \
    --labeller "$RUN/labeller.pt" --out "$RUN/inverse.pt" --steps $((SYNTH_STEPS + GAN_STEPS))
styleganr train-mapping --checkpoint "$CHECKPOINT" --views "$RUN/labelled.safetensors" \
    --inverse "$RUN/inverse.pt" --out "$RUN/model.pt" --steps "$MAPPING_STEPS" --warmup "$WARMUP"

if [[ "${INSTALL:-0}" == "1" ]]; then
    styleganr export --model "$RUN/model.pt" --segmenter "$RUN/labeller.pt" \
        --out assets/models/default-car-styleganr.pt
    cp "$RUN/labeller.pt" assets/models/default-car-labeller.pt
    echo "installed assets/models/default-car-styleganr.pt and default-car-labeller.pt"
fi
