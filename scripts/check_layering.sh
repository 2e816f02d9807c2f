#!/usr/bin/env bash
# Checks that every #include "gluino/..." in a header under include/gluino points to a layer the
# header may use (docs/architecture.md).  Prints each violation and exits 1 if there is any.
set -euo pipefail
cd "$(dirname "$0")/../include"

# The layer of a header: its folder, except the detail/ helpers, each of which sits in the layer
# that uses it.
layer_of() {
  case "$1" in
    gluino/detail/asan.hpp | gluino/detail/broadcast.hpp | gluino/detail/precompiled.hpp) echo core ;;
    gluino/detail/atomic_file.hpp) echo core ;;
    gluino/detail/fold_lanes.hpp) echo kernels ;;
    gluino/detail/block_naming.hpp) echo nn ;;
    gluino/*/*) local d=${1#gluino/}; echo "${d%%/*}" ;;
    *) echo umbrella ;;  # gluino/gluino.hpp, gluino/nd.hpp, gluino/version.hpp
  esac
}
# What each layer may include (itself included), bottom to top.
declare -A allowed=(
  [core]="core"
  [kernels]="kernels core"
  [autograd]="autograd core"
  [io]="io core"
  [nd]="nd kernels autograd core"
  [init]="init nd autograd kernels core"
  [graph]="graph nd autograd kernels core"
  [nn]="nn graph init nd autograd kernels core"
  [loss]="loss nd autograd kernels core"
  [metric]="metric nd autograd kernels core"
  [optim]="optim nn graph init io nd autograd kernels core"
  [data]="data nd autograd kernels core"
  [model_zoo]="model_zoo nn graph init nd autograd kernels core"
  [onnx]="onnx nn graph init io nd autograd kernels core"
  [dist]="dist optim metric nn graph init io nd autograd kernels core"
  [utils]="utils nn graph init nd autograd kernels core"
)
# The one door from a layer to a higher one: nn's saving and loading uses the file format.
declare -A exceptions=(
  ["gluino/nn/parameter_io.hpp -> io"]=1
)

bad=0
while IFS= read -r header; do
  from=$(layer_of "$header")
  [[ $from == umbrella ]] && continue
  if [[ -z ${allowed[$from]+x} ]]; then
    echo "$header: layer '$from' is not in scripts/check_layering.sh (add it to the table and to docs/architecture.md)"
    bad=1
    continue
  fi
  while IFS= read -r target; do
    to=$(layer_of "$target")
    [[ " ${allowed[$from]} " == *" $to "* ]] && continue
    [[ -n ${exceptions["$header -> $to"]+x} ]] && continue
    echo "$header includes $target: layer '$from' may include only: ${allowed[$from]}"
    bad=1
  done < <(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\(gluino\/[^"]*\)".*/\1/p' "$header")
done < <(find gluino -name '*.hpp' | sort)

if [[ $bad == 0 ]]; then echo "layering: every include of gluino/ in include/gluino points downward"; fi
exit $bad
