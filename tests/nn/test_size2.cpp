// SPDX-License-Identifier: Apache-2.0
#include <gluino/nn/size2.hpp>

#include <doctest/doctest.h>

#include <sstream>

using namespace gluino;

namespace {
std::string str(const nn::Size2& s) {
  std::ostringstream os;
  os << s;
  return os.str();
}
}  // namespace

TEST_SUITE("nn/size2") {
TEST_CASE("Size2: one number means both sides; printed as a Python tuple") {
  constexpr nn::Size2 a = 5, b{3, 7};
  static_assert(a.h == 5 && a.w == 5 && b.h == 3 && b.w == 7);
  CHECK(str(a) == "(5, 5)");
  CHECK(str(b) == "(3, 7)");
  CHECK(a == nn::Size2{5, 5});
  CHECK(b != nn::Size2{7, 3});
  CHECK(b.array() == std::array<std::size_t, 2>{3, 7});
}
TEST_CASE("python_float prints as Python's repr(float)") {
  using detail::python_float;
  CHECK(python_float(0.5) == "0.5");
  CHECK(python_float(0.9) == "0.9");
  CHECK(python_float(1e-5) == "1e-05");
  CHECK(python_float(0.001) == "0.001");
  CHECK(python_float(0.0001) == "0.0001");
  CHECK(python_float(1.5e-7) == "1.5e-07");
  CHECK(python_float(0.0) == "0.0");
  CHECK(python_float(1.0) == "1.0");
  CHECK(python_float(-2.5) == "-2.5");
  CHECK(python_float(100.0) == "100.0");
  CHECK(python_float(123456.789) == "123456.789");
  CHECK(python_float(0.1 + 0.2) == "0.30000000000000004");
  CHECK(python_float(1e16) == "1e+16");
  CHECK(python_float(1e15) == "1000000000000000.0");
  CHECK(detail::python_bool(true) == std::string("True"));
  CHECK(detail::python_bool(false) == std::string("False"));
}
TEST_CASE("Size2: a negative int prints as itself, and check_size2 names the layer and the argument") {
  const nn::Size2 neg = -1, mixed{std::size_t(3), static_cast<std::size_t>(-2)};
  CHECK(str(neg) == "(-1, -1)");
  CHECK(str(mixed) == "(3, -2)");
  CHECK_FALSE(neg.in_range());
  CHECK(nn::Size2{nn::Size2::max_side}.in_range());
  CHECK_THROWS_WITH_AS(nn::check_size2("Conv2D", "padding", neg, false),
                       doctest::Contains("Conv2D: padding must be >= 0, got (-1, -1)"), ValueError);
  CHECK_THROWS_WITH_AS(nn::check_size2("MaxPool2D", "strides", {2, 0}, true),
                       doctest::Contains("MaxPool2D: strides must be > 0, got (2, 0)"), ValueError);
  CHECK_THROWS_WITH_AS(nn::check_size2("Conv2D", "dilation", nn::Size2{nn::Size2::max_side + 1}, true),
                       doctest::Contains("Conv2D: dilation must be at most 2^40"), ValueError);
  CHECK_NOTHROW(nn::check_size2("Conv2D", "padding", 0, false));
  CHECK_NOTHROW(nn::check_size2("Conv2D", "kernel_size", {1, 7}, true));
}
}
