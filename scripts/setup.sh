#!/usr/bin/env bash
# Installs the Debian packages gluino's build, tests and main job need, when any is missing, and
# the npm packages of the ONNX Runtime checks (tools/onnx: onnxruntime-web, pinned by its lock file).
# Usage: scripts/setup.sh [extra-package ...]
set -euo pipefail
pkgs=(g++ cmake ninja-build libeigen3-dev libopenblas-dev doctest-dev libbenchmark-dev nlohmann-json3-dev zlib1g-dev libssl-dev libpng-dev libjpeg-dev
      libonnx-dev libprotobuf-dev libopenmpi-dev openmpi-bin python3 "$@")
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi
# Node.js runs ONNX Runtime's wasm backend in the ONNX tests (tests/CMakeLists.txt).
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "setup: installing nodejs npm"
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq nodejs npm >/dev/null
fi
onnx_tools="$(cd "$(dirname "$0")/../tools/onnx" && pwd)"
if [ ! -d "$onnx_tools/node_modules/onnxruntime-web" ]; then
  echo "setup: npm ci in tools/onnx (onnxruntime-web)"
  (cd "$onnx_tools" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
fi
