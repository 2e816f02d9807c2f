// SPDX-License-Identifier: Apache-2.0
#pragma once
/// AnomalyError and the checks that autograd::detect_anomaly (autograd/mode.hpp) turns on: apply()
/// checks each op's output, backward() each gradient an op returns, for NaN and infinity.
#include <cmath>
#include <cstddef>
#include <sstream>
#include <string>

#include "gluino/autograd/mode.hpp"
#include "gluino/core/error.hpp"
#include "gluino/core/ndarray.hpp"

namespace gluino {

/// A NaN or an infinity made from finite values, found inside autograd::detect_anomaly.  The
/// message names the op, forward or backward, and the shapes.  PyTorch raises RuntimeError.
class AnomalyError : public Error {
 public:
  using Error::Error;
};

namespace autograd::detail {

/// The index of x's first NaN or infinity, or x.size() when every element is finite (or x is
/// undefined).  One vectorisable pass; the position is looked up only when there is one.
template <class T>
std::size_t first_non_finite(const NDArray<T>& x) {
  if (!x.defined()) return 0;
  const T* p = x.data();
  const std::size_t n = x.size();
  bool finite = true;
  for (std::size_t i = 0; i < n; ++i) finite &= std::isfinite(p[i]);
  if (finite) return n;
  std::size_t i = 0;
  while (std::isfinite(p[i])) ++i;
  return i;
}

template <class T>
bool all_finite(const NDArray<T>& x) {
  return !x.defined() || first_non_finite(x) == x.size();
}

template <class T>
std::string describe_non_finite(const NDArray<T>& x, std::size_t at) {
  const T v = x.data()[at];
  return std::string(std::isnan(v) ? "nan" : (v > 0 ? "inf" : "-inf")) + " at flat index " + std::to_string(at);
}

/// Under detect_anomaly: AnomalyError when out holds a NaN or infinity while every input is finite.
template <class T>
void check_forward(const char* op, const NDArray<T>* const* inputs, std::size_t n, const NDArray<T>& out) {
  const std::size_t at = first_non_finite(out);
  if (!out.defined() || at == out.size()) return;
  std::string shapes;
  for (std::size_t i = 0; i < n; ++i) {
    if (!all_finite(*inputs[i])) return;  // not this op's doing: the non-finite value came in
    std::ostringstream os;
    if (inputs[i]->defined()) os << inputs[i]->shape(); else os << "none";
    shapes += (i ? ", " : "") + os.str();
  }
  ::gluino::detail::raise<AnomalyError>("detect_anomaly: forward of '", op, "' produced a non-finite value (",
                                        describe_non_finite(out, at), ") in its output of shape ", out.shape(),
                                        " from finite inputs of shapes ", shapes);
}

/// Under detect_anomaly: AnomalyError when the gradient g of input i is not finite while dy is.
template <class T>
void check_backward(const char* op, const NDArray<T>& dy, std::size_t i, const NDArray<T>& g) {
  const std::size_t at = first_non_finite(g);
  if (!g.defined() || at == g.size() || !all_finite(dy)) return;
  ::gluino::detail::raise<AnomalyError>("detect_anomaly: backward of '", op,
                                        "' produced a non-finite gradient (", describe_non_finite(g, at),
                                        ") for input ", i, " of shape ", g.shape(),
                                        " from a finite output gradient of shape ", dy.shape());
}

}  // namespace autograd::detail
}  // namespace gluino
