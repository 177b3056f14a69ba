#!/usr/bin/env bash
# Writes the gpt2 sample model (GPT-2 small's sizes, random weights) once,
# then shows it with `mlopt inspect` and times it with `mlopt run`.
# (The workbench GUI will open here once it exists.)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${MLOPT_BUILD_DIR:-$root/build}
mlopt="$build/app/mlopt"
model="$root/samples/gpt2.pt"
device=${MLOPT_DEVICE:-cpu}

if [ ! -f "$model" ]; then
  mkdir -p "$root/samples"
  "$mlopt" make-model gpt2 --preset gpt2 -o "$model"
fi
"$mlopt" inspect "$model" --depth 3
echo
"$mlopt" run "$model" --input 'ids:int64[1,128]' --device "$device" --iters 10
