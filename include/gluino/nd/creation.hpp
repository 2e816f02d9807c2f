// SPDX-License-Identifier: Apache-2.0
#pragma once
/// Creating arrays: zeros, ones, full, arange, array (values plus shape), and the *_like forms.
/// Gluon: nd.zeros, nd.ones, nd.full, nd.arange, nd.array, nd.zeros_like, ...
#include <vector>

#include "gluino/core/ndarray.hpp"

namespace gluino::nd {

/// An array of `shape` filled with v.  Gluon: nd.full.
template <class T = float>
NDArray<T> full(const Shape& shape, T v) {
  NDArray<T> x(shape);
  x.fill(v);
  return x;
}
/// Gluon: nd.zeros(shape).
template <class T = float>
NDArray<T> zeros(const Shape& shape) { return full<T>(shape, T(0)); }
/// Gluon: nd.ones(shape).
template <class T = float>
NDArray<T> ones(const Shape& shape) { return full<T>(shape, T(1)); }
template <class T> NDArray<T> zeros_like(const NDArray<T>& x) { return zeros<T>(x.shape()); }
template <class T> NDArray<T> ones_like(const NDArray<T>& x) { return ones<T>(x.shape()); }
template <class T> NDArray<T> full_like(const NDArray<T>& x, T v) { return full<T>(x.shape(), v); }

/// start, start + step, ... below stop (1-D).  Gluon: nd.arange(start, stop, step).
template <class T = float>
NDArray<T> arange(double start, double stop, double step = 1.0) {
  GLUINO_CHECK(ValueError, step != 0.0, "arange: step must not be 0");
  const double span = (stop - start) / step;
  const std::size_t n = span > 0 ? static_cast<std::size_t>(std::ceil(span)) : 0;
  NDArray<T> x(Shape{n});
  for (std::size_t i = 0; i < n; ++i) x.data()[i] = static_cast<T>(start + step * double(i));
  return x;
}
/// 0, 1, ..., stop - 1.
template <class T = float>
NDArray<T> arange(double stop) { return arange<T>(0.0, stop); }

/// An array from row-major values and a shape; without a shape, a 1-D array.
/// ShapeError when the count of values differs from the shape's size.  Gluon: nd.array.
template <class T = float>
NDArray<T> array(const std::vector<T>& values, const Shape& shape) {
  GLUINO_CHECK(ShapeError, values.size() == shape.size(), "array: ", values.size(), " values do not fill shape ",
               shape, " (", shape.size(), " elements)");
  NDArray<T> x(shape);
  std::copy(values.begin(), values.end(), x.begin());
  return x;
}
template <class T = float>
NDArray<T> array(const std::vector<T>& values) { return array<T>(values, Shape{values.size()}); }

}  // namespace gluino::nd
