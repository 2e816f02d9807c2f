// SPDX-License-Identifier: Apache-2.0
#pragma once
/// Size3, the (depth, height, width) triple that 3-D layers take as "a number or a triple"
/// (Gluon's kernel_size=3 or kernel_size=(3, 5, 5)).
#include <array>
#include <cstddef>
#include <ostream>

#include "gluino/core/error.hpp"
#include "gluino/nn/size2.hpp"

namespace gluino::nn {

/// A (depth, height, width) triple, constructible from one number (used for all three) or from
/// three: `Conv3D{8, 3}`, `Conv3D{8, {1, 3, 3}}`, `{.strides = 2}`.  Printed as a Python tuple,
/// "(1, 3, 3)".  As with Size2, a negative int converts to a side above max_side, which the
/// layers reject (check_size3) and which prints as the negative number it was.
struct Size3 {
  static constexpr std::size_t max_side = Size2::max_side;

  std::size_t d = 0, h = 0, w = 0;

  constexpr Size3() = default;
  /// All sides n (Gluon: an int expands to (n, n, n)).
  constexpr Size3(std::size_t n) : d(n), h(n), w(n) {}  // NOLINT: implicit on purpose, like Gluon's ints
  constexpr Size3(std::size_t depth, std::size_t height, std::size_t width) : d(depth), h(height), w(width) {}

  /// As the std::array nd::Conv3DOptions takes.
  constexpr std::array<std::size_t, 3> array() const { return {d, h, w}; }
  friend constexpr bool operator==(const Size3&, const Size3&) = default;
  /// True when every side is at most max_side.
  constexpr bool in_range() const { return d <= max_side && h <= max_side && w <= max_side; }
  friend std::ostream& operator<<(std::ostream& os, const Size3& s) {
    // as long long: a side above 2^63 prints as the negative number it came from
    return os << '(' << static_cast<long long>(s.d) << ", " << static_cast<long long>(s.h) << ", "
              << static_cast<long long>(s.w) << ')';
  }
};

/// Checks a 3-D layer's size argument as check_size2 does a 2-D one: ValueError
/// "<layer>: <what> must be > 0, got (0, 3, 3)" (">= 0" when zero is allowed), or "... must be at
/// most 2^40".
inline void check_size3(const char* layer, const char* what, const Size3& s, bool positive) {
  const auto negative = [](std::size_t v) { return static_cast<long long>(v) < 0; };
  GLUINO_CHECK(ValueError, !negative(s.d) && !negative(s.h) && !negative(s.w) &&
                               (!positive || (s.d > 0 && s.h > 0 && s.w > 0)),
               layer, ": ", what, positive ? " must be > 0, got " : " must be >= 0, got ", s);
  GLUINO_CHECK(ValueError, s.in_range(), layer, ": ", what, " must be at most 2^40, got ", s);
}

}  // namespace gluino::nn
