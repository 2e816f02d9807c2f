// SPDX-License-Identifier: Apache-2.0
#pragma once
/// Creating arrays: zeros, ones, full, arange, array (values plus shape), and the *_like forms.
/// Gluon: nd.zeros, nd.ones, nd.full, nd.arange, nd.array, nd.zeros_like, ...
#include <cmath>
#include <cstddef>
#include <limits>
#include <vector>

#include "gluino/core/ndarray.hpp"
#include "gluino/detail/precompiled.hpp"

namespace gluino::detail {
/// An array of `shape` filled with v.  Before allocating: ShapeError naming the shape when its
/// element count overflows, ValueError naming `op` and the shape when its bytes pass PTRDIFF_MAX
/// or the machine's RAM and swap (detail::system_memory_bytes).
template <class T>
NDArray<T> filled(const char* op, const Shape& shape, T v) {
  const std::size_t n = shape.size();
  GLUINO_CHECK(ValueError, n <= Storage<T>::max_size(), op, ": shape ", shape, " of ", sizeof(T),
               "-byte elements needs more than ", std::numeric_limits<std::ptrdiff_t>::max(), " bytes");
  GLUINO_CHECK(ValueError, n * sizeof(T) <= system_memory_bytes(), op, ": shape ", shape, " of ", sizeof(T),
               "-byte elements needs ", n * sizeof(T), " bytes, more than this machine's memory (",
               system_memory_bytes(), " bytes of RAM and swap)");
  NDArray<T> x(shape);
  x.fill(v);
  return x;
}
}  // namespace gluino::detail

namespace gluino::nd {

/// An array of `shape` filled with v.  Gluon: nd.full.  ShapeError or ValueError (naming the
/// shape) when the shape has too many elements to allocate, as for zeros and ones.
template <class T = float>
NDArray<T> full(const Shape& shape, T v) { return detail::filled<T>("full", shape, v); }
/// Gluon: nd.zeros(shape).
template <class T = float>
NDArray<T> zeros(const Shape& shape) { return detail::filled<T>("zeros", shape, T(0)); }
/// Gluon: nd.ones(shape).
template <class T = float>
NDArray<T> ones(const Shape& shape) { return detail::filled<T>("ones", shape, T(1)); }
template <class T> NDArray<T> zeros_like(const NDArray<T>& x) { return zeros<T>(x.shape()); }
template <class T> NDArray<T> ones_like(const NDArray<T>& x) { return ones<T>(x.shape()); }
template <class T> NDArray<T> full_like(const NDArray<T>& x, T v) { return full<T>(x.shape(), v); }

/// start, start + step, ... below stop (1-D).  Gluon: nd.arange(start, stop, step).
/// ValueError for a zero or non-finite argument, or more elements than an array can hold or the
/// machine's memory.
template <class T = float>
NDArray<T> arange(double start, double stop, double step = 1.0) {
  GLUINO_CHECK(ValueError, step != 0.0, "arange: step must not be 0");
  GLUINO_CHECK(ValueError, std::isfinite(start) && std::isfinite(stop) && std::isfinite(step),
               "arange: start, stop and step must be finite, got ", start, ", ", stop, ", ", step);
  const double span = (stop - start) / step;
  GLUINO_CHECK(ValueError, span <= static_cast<double>(Storage<T>::max_size()), "arange: ", start, " to ", stop,
               " by ", step, " gives more elements than an array can hold");
  const std::size_t n = span > 0 ? static_cast<std::size_t>(std::ceil(span)) : 0;
  GLUINO_CHECK(ValueError, n <= Storage<T>::max_size() && n * sizeof(T) <= detail::system_memory_bytes(), "arange: ",
               start, " to ", stop, " by ", step, " gives ", n, " elements of ", sizeof(T),
               " bytes, more than this machine's memory (", detail::system_memory_bytes(), " bytes of RAM and swap)");
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

// Precompiled mode (detail/precompiled.hpp): this header's float and double instantiations.
#define GLUINO_ND_CREATION_INSTANTIATIONS(X, T) \
  X NDArray<T> arange<T>(double, double, double); \
  X NDArray<T> array<T>(const std::vector<T>&, const Shape&);
namespace gluino::nd {
GLUINO_EXTERN_INSTANTIATIONS(GLUINO_ND_CREATION_INSTANTIATIONS)
}  // namespace gluino::nd
