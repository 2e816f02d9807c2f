#!/usr/bin/env bash
# Builds the libFuzzer targets of tests/fuzz with clang (-fsanitize=fuzzer,address,undefined) and
# runs each for a bounded time over a copy of its committed seed corpus; fails on any crash, leak,
# timeout or out-of-memory.  Installs clang and libFuzzer first when missing (Debian).
#   scripts/fuzz.sh [seconds per target (30)] [target ...]
# Environment: GLUINO_FUZZ_BUILD_DIR (build/fuzz), GLUINO_JOBS (build jobs, and targets fuzzed at
# once: nproc), GLUINO_FUZZ_KEEP=1 keeps the working corpora (printed), GLUINO_FUZZ_ARGS adds
# libFuzzer flags.
# Crash reproducers are written to $build/artifacts/; rerun one with `$build/tests/fuzz/<target> <file>`.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-30}
shift $(( $# > 0 ? 1 : 0 ))
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(fuzz_safetensors_float fuzz_safetensors_double fuzz_idx_raw fuzz_idx_gzip
                                     fuzz_load_parameters fuzz_trainer_states fuzz_imdecode fuzz_cifar fuzz_onnx_import)
bash scripts/setup.sh clang libclang-rt-14-dev
build=${GLUINO_FUZZ_BUILD_DIR:-build/fuzz}
jobs=${GLUINO_JOBS:-$(nproc)}
CC=clang CXX=clang++ cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG="-O1 -gline-tables-only" \
  -DGLUINO_FUZZ=ON -DGLUINO_PRECOMPILED=OFF -DGLUINO_USE_OPENBLAS=OFF -DGLUINO_USE_OPENMP=OFF -DGLUINO_BUILD_TESTS=OFF \
  -DGLUINO_BUILD_EXAMPLES=OFF -DGLUINO_BUILD_BENCH=OFF -DGLUINO_INSTALL=OFF >/dev/null
cmake --build "$build" -j "$jobs" --target "${targets[@]}"

# Per target: its committed corpus, plus the shared safetensors crashes and seeds for the four
# targets that read safetensors files; and the longest input it may generate.
corpora() {
  case $1 in
    fuzz_safetensors_float) echo "safetensors_float safetensors" ;;
    fuzz_safetensors_double) echo "safetensors_double safetensors" ;;
    fuzz_idx_raw) echo "idx_raw" ;;
    fuzz_idx_gzip) echo "idx_gzip" ;;
    fuzz_load_parameters) echo "load_parameters safetensors" ;;
    fuzz_trainer_states) echo "trainer_states safetensors" ;;
    fuzz_onnx_import) echo "onnx_import" ;;
    fuzz_imdecode) echo "imdecode" ;;
    fuzz_cifar) echo "cifar" ;;
  esac
}
max_len() {
  case $1 in
    fuzz_safetensors_* | fuzz_cifar) echo 16384 ;;
    fuzz_idx_*) echo 100000 ;;
    fuzz_onnx_import | fuzz_imdecode) echo 65536 ;;
    *) echo 1500000 ;;  # LeNet's checkpoints: 684 KB of parameters, 1.4 MB of Adam states
  esac
}
work=$(mktemp -d "${TMPDIR:-/tmp}/gluino-fuzz.XXXXXX")
[ "${GLUINO_FUZZ_KEEP:-0}" = 1 ] || trap 'rm -rf "$work"' EXIT
mkdir -p "$build/artifacts"
export OMP_NUM_THREADS=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
# Runs one target over its working corpus; the exit status says whether it found nothing.
run_one() {
  local t=$1
  "$build/tests/fuzz/$t" "$work/$t" -max_total_time="$seconds" -max_len="$(max_len "$t")" \
    -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 -artifact_prefix="$build/artifacts/$t-" \
    ${GLUINO_FUZZ_ARGS:-} >"$work/$t.log" 2>&1
}
# Each target is one process on one thread: `jobs` of them run at once, each for the full time.
failed=()
for ((i = 0; i < ${#targets[@]}; i += jobs)); do
  batch=("${targets[@]:i:jobs}")
  pids=()
  for t in "${batch[@]}"; do
    mkdir -p "$work/$t"
    for c in $(corpora "$t"); do
      [ -d "tests/fuzz/corpus/$c" ] && cp -r "tests/fuzz/corpus/$c/." "$work/$t/"
    done
    echo "== $t: ${seconds}s over $(ls "$work/$t" | wc -l) seeds"
    run_one "$t" &
    pids+=($!)
  done
  for k in "${!batch[@]}"; do
    t=${batch[$k]}
    echo "-- $t:"
    if ! wait "${pids[$k]}"; then
      tail -n 60 "$work/$t.log"
      failed+=("$t")
    fi
    grep -E "^(stat::number_of_executed_units|stat::average_exec_per_sec|stat::peak_rss_mb)|^#[0-9]+ +DONE" "$work/$t.log" || true
  done
done
[ "${GLUINO_FUZZ_KEEP:-0}" = 1 ] && echo "working corpora and logs: $work"
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: FAILED: ${failed[*]} (reproducers in $build/artifacts/)"
  exit 1
fi
echo "fuzz: ${#targets[@]} targets, ${seconds}s each, no crash"
