#!/usr/bin/env bash
# Packs what scripts/device/gpu-check.sh needs on a machine with no Node.js and no internet into
# device-bundle/bundle.tar.xz: this machine's Node.js binary, and exactly the files of dist/ and
# node_modules/ that the check opens, found by running the check here on torch-cpu under strace
# (the GPU path runs the same JavaScript). The device tool carries at most 64 MiB.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
command -v strace >/dev/null || { echo "pack.sh needs strace (apt-get install strace)" >&2; exit 2; }
npm run build --silent
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
echo "running the check on torch-cpu under strace to list the files it opens..." >&2
OUT=$stage/out strace -f -qq -e trace=openat -o "$stage/trace" bash scripts/device/gpu-check.sh --cpu >/dev/null 2>&1 ||
  { echo "the check failed on torch-cpu: see $stage/out/gpu-check.log" >&2; exit 1; }
grep -o "\"$ROOT/\(node_modules\|dist\)/[^\"]*\"" "$stage/trace" | tr -d '"' | sed "s#^$ROOT/##" | sort -u |
  while read -r f; do [ -f "$f" ] && echo "$f"; done >"$stage/files"
mkdir -p "$stage/device-bundle/bin" device-bundle
cp "$(readlink -f "$(command -v node)")" "$stage/device-bundle/bin/node"
rm -f device-bundle/bundle.tar.xz
XZ_OPT=-6 tar -cJf device-bundle/bundle.tar.xz -C "$stage" device-bundle/bin/node -C "$ROOT" -T "$stage/files"
echo "device-bundle/bundle.tar.xz: $(wc -l <"$stage/files") files and node $(node --version), $(du -h device-bundle/bundle.tar.xz | cut -f1)" >&2
