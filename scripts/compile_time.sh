#!/usr/bin/env bash
# Measures what docs/building.md reports: the compile time of examples/train_lenet.cpp at -O2,
# header-only and against the precompiled library (whole compile and front end only, best of
# `runs`), its preprocessed size in both modes, and the library's own build from clean.  Run it
# with nothing else running: the machine is shared and the numbers are wall time.
#   scripts/compile_time.sh [runs (2)]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-2}
flags=(-std=c++20 -O2 -march=native -fopenmp -Iinclude -isystem /usr/include/eigen3)
if dpkg-query -W -f='${Status}' libopenblas-dev 2>/dev/null | grep -q "install ok installed"; then
  flags+=(-DEIGEN_USE_BLAS -DGLUINO_USE_OPENBLAS)
fi
precompiled=(-DGLUINO_PRECOMPILED -DGLUINO_PRECOMPILED_DATA)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
best() {  # best wall time of `runs` runs of the command, in seconds
  local b=""
  for ((i = 0; i < runs; ++i)); do
    local s e t
    s=$(date +%s.%N)
    "$@" >/dev/null
    e=$(date +%s.%N)
    t=$(awk -v s="$s" -v e="$e" 'BEGIN { printf "%.1f", e - s }')
    if [[ -z $b ]] || awk -v t="$t" -v b="$b" 'BEGIN { exit !(t < b) }'; then b=$t; fi
  done
  echo "$b"
}
src=examples/train_lenet.cpp
echo "$(g++ --version | head -1); $(nproc) cores; $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "whole compile, header-only:    $(best g++ "${flags[@]}" -c $src -o "$out/h.o") s"
echo "whole compile, precompiled:    $(best g++ "${flags[@]}" "${precompiled[@]}" -c $src -o "$out/p.o") s"
echo "front end only, header-only:   $(best g++ "${flags[@]}" -fsyntax-only $src) s"
echo "front end only, precompiled:   $(best g++ "${flags[@]}" "${precompiled[@]}" -fsyntax-only $src) s"
echo "preprocessed lines, header-only: $(g++ "${flags[@]}" -E $src | wc -l)"
echo "preprocessed lines, precompiled: $(g++ "${flags[@]}" "${precompiled[@]}" -E $src | wc -l)"
cmake -S . -B "$out/lib" -G Ninja -DCMAKE_BUILD_TYPE=Release -DGLUINO_BUILD_TESTS=OFF -DGLUINO_BUILD_EXAMPLES=OFF \
  -DGLUINO_INSTALL=OFF >/dev/null
s=$(date +%s.%N)
cmake --build "$out/lib" -j "$(nproc)" --target gluino_precompiled >/dev/null
e=$(date +%s.%N)
cpu=$(awk 'NR > 1 && $4 ~ /\.o$/ { s += ($2 - $1) / 1000 } END { printf "%.0f", s }' "$out/lib/.ninja_log")
echo "the library from clean (Release, -j $(nproc)): $(awk -v s="$s" -v e="$e" 'BEGIN { printf "%.1f", e - s }') s, ${cpu} s of CPU"
