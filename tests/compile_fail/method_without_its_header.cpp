// SPDX-License-Identifier: Apache-2.0
// core/ndarray.hpp is the class alone: a method that calls an op is defined with that op, and
// calling it without the op's header is a compile error that names the header (not a link error).
// expect: NDArray::sum needs #include <gluino/nd/reduce.hpp>
#include <gluino/core/ndarray.hpp>
#ifdef GLUINO_COMPILE_FAIL_CONTROL
#include <gluino/nd/reduce.hpp>
#endif

gluino::NDArray<float> total(const gluino::NDArray<float>& x) { return x.sum(); }
