#!/usr/bin/env bash
# Builds and runs gluino's tests: the doctest suite (Release, with OpenBLAS under Eigen's matrix
# products; then again under AddressSanitizer + UBSan, with Eigen's own kernels, so that both
# GEMM paths are tested), the install/find_package consumer test, each example on small data and
# each benchmark once, briefly.  Installs what it needs first (scripts/setup.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
jobs=${GLUINO_JOBS:-$(nproc)}
cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=Release -DGLUINO_BUILD_EXAMPLES=ON -DGLUINO_BUILD_BENCH=ON >/dev/null
cmake --build build/release -j "$jobs"
ctest --test-dir build/release --output-on-failure -j "$jobs"
cmake -S . -B build/sanitize -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG="-O1 -g0" -DGLUINO_SANITIZE=ON \
  -DGLUINO_USE_OPENBLAS=OFF -DGLUINO_BUILD_EXAMPLES=OFF -DGLUINO_BUILD_BENCH=OFF -DGLUINO_INSTALL=OFF >/dev/null
cmake --build build/sanitize -j "$jobs"
ctest --test-dir build/sanitize --output-on-failure -j "$jobs"
