#!/usr/bin/env bash
# The data-parallel benchmarks (bench/dist) at 1, 2 and 4 ranks on this machine: allreduce
# bandwidth (gluino's buckets against a plain MPI_Allreduce) and LeNet / AlexNet step times with
# and without overlap.  One thread per rank; 4 ranks on 2 cores are oversubscribed (said in the
# output).  Needs the release build: cmake --build build/release.  docs/distributed.md.
# Usage: scripts/bench_dist.sh [build dir, default build/release] [rank counts, default "1 2 4"]
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build/release}
source scripts/blas_env.sh  # OpenBLAS kernels for this CPU when it is newer than OpenBLAS
for b in bench_allreduce bench_dist_step; do
  [ -x "$build/bench/$b" ] || { echo "bench_dist: no $build/bench/$b; build first (cmake --build $build)" >&2; exit 1; }
done
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(grep -o -m1 -w 'avx512f' /proc/cpuinfo || grep -o -m1 -w avx2 /proc/cpuinfo)"
for np in ${2:-1 2 4}; do
  # As root OpenMPI wants --allow-run-as-root; more ranks than cores need --oversubscribe.
  run=(mpirun --allow-run-as-root --oversubscribe --bind-to none -x OMP_NUM_THREADS=1 -np "$np")
  echo "== $np ranks"
  [ "$np" -gt 1 ] && "${run[@]}" "$build/bench/bench_allreduce"
  "${run[@]}" "$build/bench/bench_dist_step"
done
