// SPDX-License-Identifier: Apache-2.0
// An NDArray is not a bool (docs/ndarray-and-autograd.md): `if (loss < 0.01f)` tested only whether
// the handle was defined, so it was always true; it must not compile, and the error points at the
// two things to write instead.
// expect: write x.defined() or x.asscalar()
#include <gluino/nd/elementwise.hpp>

bool small(const gluino::NDArray<float>& loss) {
#ifdef GLUINO_COMPILE_FAIL_CONTROL
  return (loss < 0.01f).asscalar() != 0.0f;
#else
  if (loss < 0.01f) return true;
  return false;
#endif
}
