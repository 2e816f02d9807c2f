// SPDX-License-Identifier: Apache-2.0
#pragma once
/// Shape: up to 6 dimensions, stored inline (no heap), printed like "(N, C, H, W)".
#include <array>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <ostream>
#include <vector>

#include "gluino/core/error.hpp"

namespace gluino {

namespace detail {
/// *out = a * b; true when the product does not fit in std::size_t (then *out is the product
/// modulo 2^64).  One instruction and a flag test with GCC and Clang.
inline bool mul_overflows(std::size_t a, std::size_t b, std::size_t* out) noexcept {
#if defined(__GNUC__) || defined(__clang__)
  return __builtin_mul_overflow(a, b, out);
#else
  *out = a * b;
  return a != 0 && *out / a != b;
#endif
}
/// *out = a + b; true when the sum does not fit in std::size_t.
inline bool add_overflows(std::size_t a, std::size_t b, std::size_t* out) noexcept {
  *out = a + b;
  return *out < a;
}
/// a * b, or throws E with the concatenated message `what` when the product overflows.
/// For sizes computed from user input (shapes, file headers, layer arguments).
template <class E, class... Args>
std::size_t checked_mul(std::size_t a, std::size_t b, const Args&... what) {
  std::size_t r;
  if (mul_overflows(a, b, &r)) [[unlikely]]
    raise<E>(what...);
  return r;
}
}  // namespace detail

/// The dimensions of an NDArray.  At most max_dims axes; a 0-d shape holds one element.
/// A dimension of 0 inside a Parameter's shape means "unknown, inferred later" (Gluon's 0).
class Shape {
 public:
  static constexpr std::size_t max_dims = 6;

  Shape() = default;
  Shape(std::initializer_list<std::size_t> dims) { assign(dims.begin(), dims.end()); }
  explicit Shape(const std::vector<std::size_t>& dims) { assign(dims.begin(), dims.end()); }

  /// Number of axes.
  std::size_t ndim() const { return ndim_; }
  /// Number of elements (product of the dimensions; 1 for a 0-d shape; 0 when any dimension is
  /// 0, however large the others).  ShapeError naming the shape when the product overflows
  /// std::size_t.
  std::size_t size() const {
    std::size_t n = 1;
    bool overflow = false;
    for (std::size_t i = 0; i < ndim_; ++i) overflow |= detail::mul_overflows(n, dims_[i], &n);
    if (overflow) [[unlikely]]
      return size_overflowed();
    return n;
  }
  std::size_t operator[](std::size_t i) const { return dims_[i]; }
  std::size_t& operator[](std::size_t i) { return dims_[i]; }
  /// Dimension of an axis counted from the back when negative (-1 = last).
  std::size_t at(int axis) const { return dims_[normalize_axis(axis)]; }
  /// Maps a possibly negative axis into [0, ndim); ShapeError when out of range.
  std::size_t normalize_axis(int axis) const {
    const int n = static_cast<int>(ndim_);
    GLUINO_CHECK(ShapeError, axis >= -n && axis < n, "axis ", axis, " out of range for shape ", *this);
    return static_cast<std::size_t>(axis < 0 ? axis + n : axis);
  }
  /// True when every dimension is known (non-zero).
  bool is_complete() const {
    for (std::size_t i = 0; i < ndim_; ++i)
      if (dims_[i] == 0) return false;
    return true;
  }
  const std::size_t* begin() const { return dims_.data(); }
  const std::size_t* end() const { return dims_.data() + ndim_; }
  std::vector<std::size_t> vec() const { return {begin(), end()}; }

  void push_back(std::size_t d) {
    GLUINO_CHECK(ShapeError, ndim_ < max_dims, "shape: more than ", max_dims, " dimensions");
    dims_[ndim_++] = d;
  }
  /// Row-major strides in elements.  ShapeError when one overflows; an empty shape (a 0
  /// dimension) never throws: its strides are never used to address an element.
  std::array<std::size_t, max_dims> strides() const {
    std::array<std::size_t, max_dims> s{};
    std::size_t acc = 1;
    bool overflow = false;
    for (std::size_t i = ndim_; i-- > 0;) {
      s[i] = acc;
      if (i > 0) overflow |= detail::mul_overflows(acc, dims_[i], &acc);  // the full product is no stride
    }
    if (overflow && is_complete()) [[unlikely]]
      size_overflowed();
    return s;
  }

  friend bool operator==(const Shape& a, const Shape& b) {
    if (a.ndim_ != b.ndim_) return false;
    for (std::size_t i = 0; i < a.ndim_; ++i)
      if (a.dims_[i] != b.dims_[i]) return false;
    return true;
  }
  friend bool operator!=(const Shape& a, const Shape& b) { return !(a == b); }
  /// Prints "(2, 3)", "(5,)" for one axis and "()" for none, like NumPy.
  friend std::ostream& operator<<(std::ostream& os, const Shape& s) {
    os << '(';
    for (std::size_t i = 0; i < s.ndim_; ++i) os << (i ? ", " : "") << s.dims_[i];
    if (s.ndim_ == 1) os << ',';
    return os << ')';
  }

 private:
  // The cold path of size(): a 0 dimension makes the product 0 even when a partial product
  // overflowed before it; otherwise the shape has too many elements.
  std::size_t size_overflowed() const {
    GLUINO_CHECK(ShapeError, !is_complete(), "shape ", *this, ": the number of elements overflows std::size_t");
    return 0;
  }
  template <class It>
  void assign(It b, It e) {
    for (; b != e; ++b) push_back(static_cast<std::size_t>(*b));
  }
  std::array<std::size_t, max_dims> dims_{};
  std::size_t ndim_ = 0;
};

}  // namespace gluino
