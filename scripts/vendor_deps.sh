#!/usr/bin/env bash
# Copies the header-only libraries mlopt needs into .deps/include
# (git-ignored), so that they travel with the working tree to a machine
# without network access:
#   nlohmann-json, CLI11  from this machine's Debian packages;
#   CUTLASS + CuTe        from the nvidia-cutlass wheel on PyPI (headers
#                         only; the Hopper kernels' mainloops are built on CuTe).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$root/.deps/include"
for dir in /usr/include/nlohmann /usr/include/CLI; do
  if [ ! -d "$dir" ]; then
    echo "vendor_deps: $dir is missing: run scripts/setup.sh first" >&2
    exit 1
  fi
  rm -rf "$root/.deps/include/$(basename "$dir")"
  cp -r "$dir" "$root/.deps/include/"
done

cutlass_version=4.2.0.0
stamp="$root/.deps/include/cutlass/.mlopt-version"
if [ "$(cat "$stamp" 2>/dev/null)" != "$cutlass_version" ]; then
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  python3 -m pip download --quiet --no-deps --dest "$tmp" "nvidia-cutlass==$cutlass_version"
  python3 - "$tmp"/nvidia_cutlass-*.whl "$tmp/x" <<'PY'
import sys, zipfile
wheel, dest = sys.argv[1], sys.argv[2]
prefix = "cutlass_library/source/include/"
with zipfile.ZipFile(wheel) as z:
    for name in z.namelist():
        if name.startswith(prefix + "cute/") or name.startswith(prefix + "cutlass/"):
            z.extract(name, dest)
PY
  rm -rf "$root/.deps/include/cute" "$root/.deps/include/cutlass"
  mv "$tmp/x/cutlass_library/source/include/cute" "$tmp/x/cutlass_library/source/include/cutlass" "$root/.deps/include/"
  echo "$cutlass_version" > "$stamp"
fi
echo "vendor_deps: headers copied to $root/.deps/include"
