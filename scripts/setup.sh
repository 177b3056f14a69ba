#!/usr/bin/env bash
# mlopt set-up on Debian 12: installs the packages it needs (only those
# missing), configures and builds. Safe to run again: it does only what is
# left to do.
#
#   bash scripts/setup.sh            # packages + build into ./build
#   MLOPT_BUILD_DIR=/tmp/b bash scripts/setup.sh
#   MLOPT_CMAKE_ARGS="-DTorch_DIR=/opt/libtorch/share/cmake/Torch" bash scripts/setup.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${MLOPT_BUILD_DIR:-$root/build}

packages=(
  build-essential cmake ninja-build ccache pkg-config
  libtorch-dev                        # libtorch 1.13 (CPU)
  libopenblas0-pthread                # without it libtorch's CPU matmuls use the
                                      # reference BLAS: gpt2 1x128 in 5 s instead of 0.2 s
  qt6-base-dev libqt6svg6 qt6-svg-dev  # qt6-svg-dev: the PDF report draws its SVG charts
  libqcustomplot-dev libqcustomplot2.1-qt6
  nlohmann-json3-dev libcli11-dev libgtest-dev
  xvfb xauth                          # headless GUI tests and screenshots
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  echo "setup: installing ${missing[*]}"
  $sudo apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# The CUDA toolkit is optional: with it the CUDA engine compiles (and runs
# where there is a GPU); without it mlopt builds CPU-only.
cuda_args=()
if ! command -v nvcc >/dev/null && [ -x /usr/local/cuda/bin/nvcc ]; then
  cuda_args+=("-DCMAKE_CUDA_COMPILER=/usr/local/cuda/bin/nvcc")
fi

# shellcheck disable=SC2086
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release "${cuda_args[@]}" ${MLOPT_CMAKE_ARGS:-}
cmake --build "$build" -j "$(nproc)"
echo "setup: built into $build"
