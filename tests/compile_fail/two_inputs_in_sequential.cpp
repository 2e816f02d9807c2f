// SPDX-License-Identifier: Apache-2.0
// A block whose forward takes two arrays cannot be a Sequential's child, which feeds one array
// through each child; call it on its own type instead.
// expect: only single-input, single-output blocks chain in a Sequential
#include <gluino/nd/elementwise.hpp>
#include <gluino/nn/custom_block.hpp>
#include <gluino/nn/sequential.hpp>

namespace {
class Add : public gluino::nn::CustomBlock<Add> {
 public:
  gluino::NDArray<float> forward(const gluino::NDArray<float>& a, const gluino::NDArray<float>& b) { return a + b; }
};
}  // namespace

void build(gluino::nn::Sequential& net, const gluino::NDArray<float>& x) {
#ifdef GLUINO_COMPILE_FAIL_CONTROL
  Add add;
  (void)net;
  (void)add(x, x);
#else
  (void)x;
  net.add(Add{});
#endif
}
