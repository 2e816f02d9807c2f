// SPDX-License-Identifier: Apache-2.0
#pragma once
/// Size2, the (height, width) pair that convolution and pooling layers take as "a number or a
/// pair" (Gluon's kernel_size=5 or kernel_size=(5, 3)), and the Python-style formatting of
/// layer hyper-parameters used by their printed forms ("(5, 5)", "1e-05", "False").
#include <array>
#include <charconv>
#include <cmath>
#include <cstddef>
#include <ostream>
#include <string>

#include "gluino/core/error.hpp"

namespace gluino::nn {

/// A (height, width) pair, constructible from one number (used for both) or from two:
/// `Conv2D{20, 5}`, `Conv2D{20, {5, 3}}`, `{.strides = 2}`, `{.padding = {1, 2}}`.
/// Printed as a Python tuple, "(5, 3)".  A negative int converts to a side above max_side
/// (`{.padding = -1}` compiles, as in C++ any int to size_t does); the layers reject such a
/// pair naming the argument (check_size2), and it prints as the negative number it was.
struct Size2 {
  /// The largest side a layer accepts; above it a side is a negative number converted.
  static constexpr std::size_t max_side = std::size_t(1) << 40;

  std::size_t h = 0;
  std::size_t w = 0;

  constexpr Size2() = default;
  /// Both sides n (Gluon: an int expands to (n, n)).
  constexpr Size2(std::size_t n) : h(n), w(n) {}  // NOLINT: implicit on purpose, like Gluon's ints
  constexpr Size2(std::size_t height, std::size_t width) : h(height), w(width) {}

  /// As the std::array the functional ops take (nd::ConvOptions, nd::PoolOptions).
  constexpr std::array<std::size_t, 2> array() const { return {h, w}; }
  friend constexpr bool operator==(const Size2&, const Size2&) = default;
  /// True when both sides are at most max_side.
  constexpr bool in_range() const { return h <= max_side && w <= max_side; }
  friend std::ostream& operator<<(std::ostream& os, const Size2& s) {
    const auto side = [&](std::size_t v) -> std::ostream& {
      return static_cast<long long>(v) < 0 ? os << static_cast<long long>(v) : os << v;
    };
    os << '(';
    side(s.h) << ", ";
    return side(s.w) << ')';
  }
};

/// Checks a layer's size argument: ValueError "<layer>: <what> must be > 0, got (0, 3)" (">= 0"
/// when zero is allowed, as for padding) for a zero or negative side, and "... must be at most
/// 2^40" for a larger one.  Every layer runs it on each of its Size2 arguments.
inline void check_size2(const char* layer, const char* what, const Size2& s, bool positive) {
  const auto negative = [](std::size_t v) { return static_cast<long long>(v) < 0; };
  GLUINO_CHECK(ValueError, !negative(s.h) && !negative(s.w) && (!positive || (s.h > 0 && s.w > 0)), layer, ": ",
               what, positive ? " must be > 0, got " : " must be >= 0, got ", s);
  GLUINO_CHECK(ValueError, s.in_range(), layer, ": ", what, " must be at most 2^40, got ", s);
}

}  // namespace gluino::nn

namespace gluino::detail {

/// v as Python's repr(float) prints it: the shortest round-trip digits, positional for
/// 1e-4 <= |v| < 1e16 with at least one decimal ("0.9", "1.0", "0.0001"), otherwise scientific
/// with a two-digit exponent ("1e-05", "1e+16").
inline std::string python_float(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  char buf[64];
  std::string s(buf, std::to_chars(buf, buf + sizeof buf, v, std::chars_format::scientific).ptr);
  const auto e = s.find('e');
  const int exp = std::stoi(s.substr(e + 1));
  if (exp < -4 || exp >= 16) return s;  // to_chars already writes "1e-05", "1.5e+16"
  std::string mant = s.substr(0, e), sign;
  if (mant[0] == '-') sign = "-", mant.erase(0, 1);
  std::string digits;
  for (char c : mant)
    if (c != '.') digits += c;
  std::string int_part, frac;
  if (exp >= 0) {
    if (digits.size() < static_cast<std::size_t>(exp) + 1)
      digits.append(static_cast<std::size_t>(exp) + 1 - digits.size(), '0');
    int_part = digits.substr(0, static_cast<std::size_t>(exp) + 1);
    frac = digits.substr(static_cast<std::size_t>(exp) + 1);
  } else {
    int_part.push_back('0');
    frac = std::string(static_cast<std::size_t>(-exp - 1), '0') + digits;
  }
  if (frac.empty()) frac.push_back('0');  // (not `= "0"`: g++ 12 -O3 warns falsely on it)
  return sign + int_part + "." + frac;
}

/// "True" / "False", as Python prints a bool.
inline const char* python_bool(bool b) { return b ? "True" : "False"; }
/// A size as Gluon prints it: "None" while unknown (0), else the number.
inline std::string python_size(std::size_t n) { return n == 0 ? std::string("None") : std::to_string(n); }

}  // namespace gluino::detail
