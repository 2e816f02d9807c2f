#!/usr/bin/env bash
# The main job: builds the examples (Release, -march=native) and trains LeNet on Fashion-MNIST.
# Installs the compiler, libraries and Debian's dataset-fashion-mnist package when missing.
# Extra arguments go to train_lenet (see `build/release/examples/train_lenet --help`).  Builds the
# two programs header-only: for two programs that is quicker than compiling the precompiled
# library first (docs/building.md); scripts/test.sh reconfigures the same folder with it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh dataset-fashion-mnist
source scripts/blas_env.sh  # OpenBLAS kernels for this CPU when it is newer than OpenBLAS
cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=Release -DGLUINO_BUILD_EXAMPLES=ON -DGLUINO_PRECOMPILED=OFF >/dev/null
cmake --build build/release --target train_lenet predict -j "$(nproc)"
exec build/release/examples/train_lenet "$@"
