// SPDX-License-Identifier: Apache-2.0
// Assigning to a parameter's data() handle, a temporary, would rebind a copy that is then
// destroyed: the parameter would stay as it was, with no error.  NDArray's assignment to a
// temporary is deleted, and its declaration says what to write instead.
// expect: a temporary handle would change nothing: set_data(x), assign(x)
#include <gluino/nn/dense.hpp>

#include <gluino/nd/creation.hpp>

void set_weight() {
  gluino::nn::Dense dense{2, {.in_units = 3}};
  dense.initialize();
  auto w = gluino::nd::ones<float>({2, 3});
#ifdef GLUINO_COMPILE_FAIL_CONTROL
  dense.collect_params().nth(0)->set_data(w);
#else
  dense.collect_params().nth(0)->data() = w;
#endif
}
