// SPDX-License-Identifier: Apache-2.0
// A block with a user-declared destructor has no move constructor, so it cannot be added by
// value; the error names the fix instead of 61 lines from stl_construct.h.
// expect: this block type cannot be moved
#include <gluino/nn/custom_block.hpp>
#include <gluino/nn/sequential.hpp>

namespace {
class Logged : public gluino::nn::CustomBlock<Logged> {
 public:
  ~Logged() override {}
  gluino::NDArray<float> forward(const gluino::NDArray<float>& x) override { return x; }
};
}  // namespace

void build(gluino::nn::Sequential& net) {
#ifdef GLUINO_COMPILE_FAIL_CONTROL
  net.add(std::make_shared<Logged>());
#else
  net.add(Logged{});
#endif
}
