#!/usr/bin/env bash
# Copies the header-only libraries mlopt needs (nlohmann-json, CLI11) from
# this machine's Debian packages into .deps/include (git-ignored), so that
# they travel with the working tree to a machine without network access.
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
echo "vendor_deps: headers copied to $root/.deps/include"
