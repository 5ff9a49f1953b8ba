#!/usr/bin/env bash
# Install torch's CPU build where there is no NVIDIA GPU: PyPI's torch for Linux brings CUDA
# libraries of several GB that such a machine never uses (the CPU build is about 200 MB). With
# an NVIDIA driver (nvidia-smi), or where the CPU build cannot be fetched, requirements.txt's
# plain pin lets pip take PyPI's build, which runs on either.
# usage: PY=.venv/bin/python bash scripts/install_torch.sh   (from the repository root)
set -u
PY=${PY:?the venv python}
INDEX=${TORCH_CPU_INDEX:-https://download.pytorch.org/whl/cpu}
if command -v nvidia-smi >/dev/null 2>&1; then
  exit 0
fi
version=$(sed -n 's/^torch==//p' requirements.txt)
if ! "$PY" -m pip install --quiet --disable-pip-version-check --retries 0 --timeout 20 \
    --index-url "$INDEX" "torch==$version"; then
  echo "install-torch: torch's CPU build was not found at $INDEX; pip takes PyPI's" \
    "(with CUDA libraries) instead." >&2
fi
exit 0
