// SPDX-License-Identifier: Apache-2.0
// Arrays and a model with static storage duration, as a tutorial keeps its weights at module
// level.  They are built before their storage is first allocated, so they are destroyed after
// anything the first allocation created: the memory pool must outlive them (it is never
// destroyed).  A crash or an AddressSanitizer report at exit would lose the buffered line below,
// so CTest checks that it reaches stdout (tests/CMakeLists.txt).
#include <gluino/core/ndarray.hpp>
#include <gluino/nd/creation.hpp>
#include <gluino/nn/dense.hpp>

#include <iostream>

namespace {
gluino::NDArray<float> weights;  // assigned in main
gluino::nn::Dense layer{4};      // parameters allocated at the first forward
}  // namespace

int main() {
  weights = gluino::nd::ones<float>({16, 16});
  layer.initialize();
  auto y = layer(weights);
  { gluino::NDArray<float> freed = gluino::nd::zeros<float>({16, 16}); }  // leaves a cached block
  std::cout << "global arrays: " << y.shape() << ", freed at exit\n";  // no flush: exit flushes
  return 0;
}
