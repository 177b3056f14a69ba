#!/usr/bin/env bash
# Writes the gpt2 sample model (GPT-2 small's sizes, random weights) once,
# shows it with `mlopt inspect`, times it with `mlopt run`, then opens it in
# the workbench (mlopt-studio) when there is a display to open it on.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${MLOPT_BUILD_DIR:-$root/build}
mlopt="$build/app/mlopt"
studio="$build/app/studio/mlopt-studio"
model="$root/samples/gpt2.pt"
device=${MLOPT_DEVICE:-cpu}
input='ids:int64[1,128]'

if [ ! -f "$model" ]; then
  mkdir -p "$root/samples"
  "$mlopt" make-model gpt2 --preset gpt2 -o "$model"
fi
"$mlopt" inspect "$model" --depth 3
echo
"$mlopt" run "$model" --input "$input" --device "$device" --iters 10
echo

if [ ! -x "$studio" ]; then
  echo "demo: the workbench was not built (Qt 6 or QCustomPlot missing, or -DMLOPT_BUILD_GUI=OFF)"
  exit 0
fi
start="\"$studio\" \"$model\" --input '$input'"
if [ "${CI:-}" = "true" ]; then
  # CI has no one to look at a window.
  echo "demo: CI: not starting the workbench; start it with: $start"
elif [ -n "${DISPLAY:-}" ] || [ -n "${WAYLAND_DISPLAY:-}" ]; then
  echo "demo: opening the workbench: $start"
  exec "$studio" "$model" --input "$input"
else
  echo "demo: no display (DISPLAY and WAYLAND_DISPLAY are unset); on a desktop, start the workbench with:"
  echo "  $start"
fi
