#!/usr/bin/env bash
# Installs the Debian packages gluino's build, tests and main job need, when any is missing.
# Usage: scripts/setup.sh [extra-package ...]
set -euo pipefail
pkgs=(g++ cmake ninja-build libeigen3-dev libopenblas-dev doctest-dev libbenchmark-dev nlohmann-json3-dev zlib1g-dev libssl-dev "$@")
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
