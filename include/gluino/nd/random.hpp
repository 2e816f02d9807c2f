// SPDX-License-Identifier: Apache-2.0
#pragma once
/// Random arrays: nd::random::uniform and normal, new or written into an existing array
/// (Gluon's out=).  They draw from the calling thread's gluino::random::default_generator() unless
/// given a Generator, one draw per element in row-major order.
#include <algorithm>
#include <cmath>

#include "gluino/core/ndarray.hpp"
#include "gluino/core/random.hpp"
#include "gluino/detail/precompiled.hpp"

namespace gluino::nd::random {

/// Fills out with U[low, high): a draw that rounds to high in T (float, or a range too narrow for
/// double's 53 bits) becomes the largest T below it.  Gluon: nd.random.uniform(low, high, out=out).
/// ValueError, before any draw, when low > high, a bound is not finite, or high - low overflows
/// double (numpy's OverflowError "Range exceeds valid bounds").
template <class T>
NDArray<T>& uniform(std::type_identity_t<T> low, std::type_identity_t<T> high, NDArray<T>& out,
                    gluino::random::Generator* gen = nullptr) {
  gluino::detail::check_not_tracing("draws random numbers (nd::random::uniform)");
  GLUINO_CHECK(ValueError, std::isfinite(low) && std::isfinite(high),
               "random.uniform: low and high must be finite, got ", low, " and ", high);
  GLUINO_CHECK(ValueError, low <= high, "random.uniform: low (", low, ") must not exceed high (", high, ")");
  GLUINO_CHECK(ValueError, std::isfinite(static_cast<double>(high) - static_cast<double>(low)),
               "random.uniform: the range [", low, ", ", high, ") is wider than the largest double");
  auto& g = gen ? *gen : gluino::random::default_generator();
  const T top = low < high ? std::nextafter(high, low) : high;
  for (T& v : out) v = std::min(static_cast<T>(g.uniform(low, high)), top);
  out.bump_version();  // an in-place change: a graph that saved `out` can no longer backward
  return out;
}
/// A new array of `shape` with U[low, high) entries.  Gluon: nd.random.uniform(low, high, shape).
template <class T = float>
NDArray<T> uniform(const Shape& shape, std::type_identity_t<T> low = T(0), std::type_identity_t<T> high = T(1),
                   gluino::random::Generator* gen = nullptr) {
  NDArray<T> x(shape);
  uniform<T>(low, high, x, gen);
  return x;
}
/// Fills out with N(loc, scale^2).  Gluon: nd.random.normal(loc, scale, out=out).
template <class T>
NDArray<T>& normal(std::type_identity_t<T> loc, std::type_identity_t<T> scale, NDArray<T>& out,
                   gluino::random::Generator* gen = nullptr) {
  gluino::detail::check_not_tracing("draws random numbers (nd::random::normal)");
  GLUINO_CHECK(ValueError, scale >= 0, "random.normal: scale must be >= 0, got ", scale);
  auto& g = gen ? *gen : gluino::random::default_generator();
  for (T& v : out) v = static_cast<T>(g.normal(loc, scale));
  out.bump_version();  // an in-place change: a graph that saved `out` can no longer backward
  return out;
}
/// A new array of `shape` with N(loc, scale^2) entries.  Gluon: nd.random.normal(loc, scale, shape).
template <class T = float>
NDArray<T> normal(const Shape& shape, std::type_identity_t<T> loc = T(0), std::type_identity_t<T> scale = T(1),
                  gluino::random::Generator* gen = nullptr) {
  NDArray<T> x(shape);
  normal<T>(loc, scale, x, gen);
  return x;
}

}  // namespace gluino::nd::random

// Precompiled mode (detail/precompiled.hpp): this header's float and double instantiations.
#define GLUINO_ND_RANDOM_INSTANTIATIONS(X, T) \
  X NDArray<T>& uniform<T>(T, T, NDArray<T>&, gluino::random::Generator*); \
  X NDArray<T> uniform<T>(const Shape&, T, T, gluino::random::Generator*); \
  X NDArray<T>& normal<T>(T, T, NDArray<T>&, gluino::random::Generator*); \
  X NDArray<T> normal<T>(const Shape&, T, T, gluino::random::Generator*);
namespace gluino::nd::random {
GLUINO_EXTERN_INSTANTIATIONS(GLUINO_ND_RANDOM_INSTANTIATIONS)
}  // namespace gluino::nd::random
