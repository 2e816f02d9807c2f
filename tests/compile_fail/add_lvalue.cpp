// SPDX-License-Identifier: Apache-2.0
// Blocks are not copied: adding a named block needs std::move (or a shared_ptr).
// expect: pass a temporary
#include <gluino/nn/dense.hpp>
#include <gluino/nn/sequential.hpp>

void build(gluino::nn::Sequential& net) {
  gluino::nn::Dense d{3};
#ifdef GLUINO_COMPILE_FAIL_CONTROL
  net.add(std::move(d));
#else
  net.add(d);
#endif
}
