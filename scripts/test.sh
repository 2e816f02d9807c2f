#!/usr/bin/env bash
# Checks the header layering, then builds and runs gluino's tests: the doctest suite (Release, with OpenBLAS under Eigen's matrix
# products; then again under AddressSanitizer + UBSan, with Eigen's own kernels, so that both
# GEMM paths are tested, and the examples; then the thread tests under ThreadSanitizer), the
# install/find_package consumer test, each example on small data, each benchmark once, briefly,
# and each fuzz target for 20 s (GLUINO_FUZZ_SECONDS).  Installs what it
# needs first (scripts/setup.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# Headers include only what lies below them (docs/architecture.md), and the precompiled mode's
# instantiation lists are each declared in their header and defined once in src/
# (docs/building.md).
bash scripts/check_layering.sh
bash scripts/check_instantiations.sh
jobs=${GLUINO_JOBS:-$(nproc)}
# Warnings are errors here (-Wall -Wextra -Wpedantic -Wshadow -Wconversion); Eigen's own are silenced
# where it is included (kernels/gemm.hpp).
cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=Release -DGLUINO_PRECOMPILED=ON -DGLUINO_BUILD_EXAMPLES=ON -DGLUINO_BUILD_BENCH=ON -DGLUINO_WERROR=ON >/dev/null
cmake --build build/release -j "$jobs"
ctest --test-dir build/release --output-on-failure -j "$jobs"
# ASan + UBSan: the suite and the examples on the fixture (examples/CMakeLists.txt registers them;
# their exit, with arrays at namespace scope, is checked too).
cmake -S . -B build/sanitize -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG="-O1 -g0" -DGLUINO_SANITIZE=ON \
  -DGLUINO_PRECOMPILED=ON -DGLUINO_USE_OPENBLAS=OFF -DGLUINO_BUILD_EXAMPLES=ON -DGLUINO_BUILD_BENCH=OFF -DGLUINO_INSTALL=OFF >/dev/null
cmake --build build/sanitize -j "$jobs"
ctest --test-dir build/sanitize --output-on-failure -j "$jobs"
# libFuzzer (clang, ASan + UBSan): every target briefly over its committed corpus (tests/fuzz).
GLUINO_FUZZ_BUILD_DIR=build/fuzz bash scripts/fuzz.sh "${GLUINO_FUZZ_SECONDS:-20}"
# ThreadSanitizer: only the thread tests (two models trained at once, DataLoaders with a prefetch
# worker), without OpenMP (libgomp is not instrumented) and with Eigen's own kernels.
cmake -S . -B build/tsan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG="-O1 -g" -DGLUINO_SANITIZE_THREAD=ON -DGLUINO_NATIVE=OFF \
  -DGLUINO_PRECOMPILED=OFF -DGLUINO_USE_OPENMP=OFF -DGLUINO_USE_OPENBLAS=OFF -DGLUINO_BUILD_EXAMPLES=OFF -DGLUINO_BUILD_BENCH=OFF -DGLUINO_INSTALL=OFF >/dev/null
cmake --build build/tsan -j "$jobs" --target test_threads
TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" build/tsan/tests/test_threads
