// SPDX-License-Identifier: Apache-2.0
// Moving a derived block into a Block object would slice it: Block's move constructor is
// protected, so this does not compile (hold blocks by shared_ptr<nn::Block> instead).
// expect: protected
#include <gluino/nn/dense.hpp>

#include <memory>

void hold() {
  gluino::nn::Dense dense{3};
#ifdef GLUINO_COMPILE_FAIL_CONTROL
  std::shared_ptr<gluino::nn::Block> held = std::make_shared<gluino::nn::Dense>(std::move(dense));
#else
  gluino::nn::Block held = std::move(dense);
#endif
  (void)held;
}
