#!/usr/bin/env bash
# Checks the header layering, the precompiled mode's lists and that the docs' C++ blocks compile,
# then builds and runs gluino's tests (docs/building.md says what each pass is for and how long
# it takes):
#   1. Release, against the precompiled library (gluino::precompiled), with OpenBLAS under Eigen's
#      matrix products and warnings as errors: the doctest suite, the compile-fail programs, the
#      install/find_package consumer (header-only and precompiled), each example on small data
#      and each benchmark once, briefly; then a program using the whole public API compiled (syntax
#      only) by clang with a user's strict warnings as errors (tests/clang_warnings);
#   2. AddressSanitizer + UBSan, against the precompiled library built with them, with Eigen's own
#      kernels (so both GEMM paths are tested): the suite and every example;
#   3. header-only (gluino::gluino), at -O0, for AVX2 (x86-64-v3): the suite again;
#   4. libFuzzer (clang, ASan + UBSan, header-only): each fuzz target for 10 s
#      (GLUINO_FUZZ_SECONDS), two at a time;
#   5. ThreadSanitizer, header-only: the thread tests.
# The suites compile into one executable, test_suites, of two translation units
# (GLUINO_UNITY_TESTS).  Installs what it needs first (scripts/setup.sh).  Prints the time of
# each step.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
step() { echo "test.sh: $1 done at $(( $(date +%s) - start )) s"; }
bash scripts/setup.sh
step setup
source scripts/blas_env.sh  # OpenBLAS kernels for this CPU when it is newer than OpenBLAS
# Headers include only what lies below them (docs/architecture.md), and the precompiled mode's
# instantiation lists are each declared in their header and defined once in src/
# (docs/building.md).
bash scripts/check_layering.sh
bash scripts/check_instantiations.sh
# Every ```cpp block of README.md and docs/*.md compiles against the headers (docs/building.md).
/usr/bin/python3 scripts/check_doc_snippets.py
jobs=${GLUINO_JOBS:-$(nproc)}

# 1. Warnings are errors here (-Wall -Wextra -Wpedantic -Wshadow -Wconversion); Eigen's own are
# silenced where it is included (kernels/gemm.hpp).  The library, examples and benchmarks at -O3,
# the test files' own code at -O0 (a third of the compile time; the work is in the library).
cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=Release -DGLUINO_PRECOMPILED=ON -DGLUINO_UNITY_TESTS=ON \
  -DGLUINO_TEST_FLAGS=-O0 -DGLUINO_BUILD_EXAMPLES=ON -DGLUINO_BUILD_BENCH=ON -DGLUINO_WERROR=ON >/dev/null
cmake --build build/release -j "$jobs"
step "release build"
ctest --test-dir build/release --output-on-failure -j "$jobs"
step "release tests"
# Users build with clang too: its -Wconversion includes -Wsign-conversion, which gcc's lacks, so
# a user's strict flags with -Werror must pass on the headers (tests/clang_warnings, ~20 s of one
# core: it runs beside pass 2's build, and is waited for after it).
bash scripts/setup.sh clang libomp-14-dev
mpi_include=()
for d in $(mpicxx --showme:incdirs); do mpi_include+=(-isystem "$d"); done
clang_log=$(mktemp)
clang++ -std=c++20 -fsyntax-only -march=native -fopenmp -Iinclude -isystem /usr/include/eigen3 "${mpi_include[@]}" \
  -DONNX_NAMESPACE=onnx -DONNX_ML=1 -Wall -Wextra -Wpedantic -Wshadow -Wconversion -Werror \
  tests/clang_warnings/strict_flags.cpp >"$clang_log" 2>&1 &
clang_pid=$!

# 2. ASan + UBSan: the suite and the examples on the fixture (examples/CMakeLists.txt registers
# them; their exit, with arrays at namespace scope, is checked too).  The library and the
# examples at -Og (src/nd.cpp compiles in 115 s of CPU against 181 at -O1; the tests run about 10%
# slower), the test files' own code at -O0 (quicker to compile; the work is in the library).
cmake -S . -B build/sanitize -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG="-Og -g0" -DGLUINO_SANITIZE=ON \
  -DGLUINO_PRECOMPILED=ON -DGLUINO_UNITY_TESTS=ON -DGLUINO_TEST_FLAGS=-O0 -DGLUINO_COMPILE_FAIL_TESTS=OFF -DGLUINO_USE_OPENBLAS=OFF \
  -DGLUINO_BUILD_EXAMPLES=ON -DGLUINO_BUILD_BENCH=OFF -DGLUINO_INSTALL=OFF >/dev/null
cmake --build build/sanitize -j "$jobs"
step "sanitize build"
if ! wait "$clang_pid"; then
  cat "$clang_log"
  echo "test.sh: clang++ with a user's strict warnings failed on tests/clang_warnings/strict_flags.cpp"
  exit 1
fi
step "clang strict warnings (beside the sanitize build)"
ctest --test-dir build/sanitize --output-on-failure -j "$jobs"
step "sanitize tests"

# 3. Header-only: every test file compiles and passes without the precompiled library (-O0: the
# instantiations are what is tested here, not speed); the ONNX and MPI tests ran in passes 1 and 2.
# Compiled for AVX2 (x86-64-v3) rather than this CPU, so that on an AVX-512 machine the kernels'
# AVX2 and generic paths are tested too (passes 1 and 2 test the AVX-512 ones).
isa=(-DGLUINO_NATIVE=ON)
if grep -qw avx2 /proc/cpuinfo && grep -qw fma /proc/cpuinfo; then
  isa=(-DGLUINO_NATIVE=OFF -DCMAKE_CXX_FLAGS=-march=x86-64-v3)
fi
cmake -S . -B build/header-only -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG="-O0 -g0" "${isa[@]}" \
  -DGLUINO_PRECOMPILED=OFF -DGLUINO_UNITY_TESTS=ON -DGLUINO_COMPILE_FAIL_TESTS=OFF -DGLUINO_BUILD_EXAMPLES=OFF \
  -DGLUINO_BUILD_BENCH=OFF -DGLUINO_INSTALL=OFF -DGLUINO_ONNX=OFF -DGLUINO_MPI=OFF >/dev/null
cmake --build build/header-only -j "$jobs"
ctest --test-dir build/header-only --output-on-failure -j "$jobs"
step "header-only build and tests"

# 4. libFuzzer (clang, ASan + UBSan): every target briefly over its committed corpus (tests/fuzz).
GLUINO_FUZZ_BUILD_DIR=build/fuzz bash scripts/fuzz.sh "${GLUINO_FUZZ_SECONDS:-10}"
step fuzz

# 5. ThreadSanitizer: only the thread tests (two models trained at once, DataLoaders with a
# prefetch worker, first calls of blocks from several threads), without OpenMP (libgomp is not
# instrumented) and with Eigen's own kernels.
cmake -S . -B build/tsan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG="-O1 -g1" -DGLUINO_SANITIZE_THREAD=ON -DGLUINO_NATIVE=OFF \
  -DGLUINO_PRECOMPILED=OFF -DGLUINO_COMPILE_FAIL_TESTS=OFF -DGLUINO_USE_OPENMP=OFF -DGLUINO_USE_OPENBLAS=OFF -DGLUINO_BUILD_EXAMPLES=OFF -DGLUINO_BUILD_BENCH=OFF -DGLUINO_INSTALL=OFF >/dev/null
cmake --build build/tsan -j "$jobs" --target test_threads
TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" build/tsan/tests/test_threads
step tsan
