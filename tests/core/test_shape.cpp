// SPDX-License-Identifier: Apache-2.0
#include <gluino/core/shape.hpp>

#include <doctest/doctest.h>

#include <sstream>

using gluino::Shape;
using gluino::ShapeError;

namespace {
std::string str(const Shape& s) {
  std::ostringstream os;
  os << s;
  return os.str();
}
}  // namespace

TEST_SUITE("core/shape") {
TEST_CASE("ndim, size and indexing") {
  Shape s{2, 3, 4};
  CHECK(s.ndim() == 3);
  CHECK(s.size() == 24);
  CHECK(s[1] == 3);
  CHECK(s.at(-1) == 4);
  CHECK(s.at(-3) == 2);
  s[1] = 5;
  CHECK(s.size() == 40);
  CHECK(Shape{}.ndim() == 0);
  CHECK(Shape{}.size() == 1);
  CHECK(Shape{3, 0}.size() == 0);
  CHECK(Shape(std::vector<std::size_t>{4, 5}) == Shape{4, 5});
  CHECK(Shape{4, 5}.vec() == std::vector<std::size_t>{4, 5});
}
TEST_CASE("normalize_axis maps negative axes and rejects out-of-range ones") {
  Shape s{2, 3};
  CHECK(s.normalize_axis(-1) == 1);
  CHECK(s.normalize_axis(0) == 0);
  CHECK_THROWS_WITH_AS(s.normalize_axis(2), "axis 2 out of range for shape (2, 3)", ShapeError);
  CHECK_THROWS_WITH_AS(s.at(-3), "axis -3 out of range for shape (2, 3)", ShapeError);
}
TEST_CASE("equality") {
  CHECK(Shape{2, 3} == Shape{2, 3});
  CHECK(Shape{2, 3} != Shape{3, 2});
  CHECK(Shape{2, 3} != Shape{2, 3, 1});
  CHECK(Shape{} == Shape{});
}
TEST_CASE("printing like NumPy") {
  CHECK(str(Shape{2, 3}) == "(2, 3)");
  CHECK(str(Shape{5}) == "(5,)");
  CHECK(str(Shape{}) == "()");
  CHECK(str(Shape{1, 3, 8, 8}) == "(1, 3, 8, 8)");
}
TEST_CASE("strides are row-major") {
  const auto st = Shape{2, 3, 4}.strides();
  CHECK(st[0] == 12);
  CHECK(st[1] == 4);
  CHECK(st[2] == 1);
}
TEST_CASE("is_complete: 0 marks an unknown dimension") {
  CHECK(Shape{2, 3}.is_complete());
  CHECK_FALSE(Shape{0, 3}.is_complete());
}
TEST_CASE("size: a product that overflows std::size_t is a ShapeError naming the shape") {
  const std::size_t big = std::size_t(1) << 32;
  CHECK_THROWS_WITH_AS(Shape({big, big}).size(),
                       "shape (4294967296, 4294967296): the number of elements overflows std::size_t", ShapeError);
  CHECK_THROWS_AS(Shape({big, 3, big}).size(), ShapeError);
  CHECK_THROWS_AS(Shape({std::size_t(-1), 2}).size(), ShapeError);
  // The largest product that fits: (2^32 - 1)(2^32 + 1) = 2^64 - 1.
  CHECK(Shape{big - 1, big + 1}.size() == std::size_t(-1));
  // A 0 (an empty axis, or an unknown one in a Parameter's shape) makes the product 0 whatever
  // the other dimensions, even when a partial product overflowed before it.
  CHECK(Shape{big, big, 0}.size() == 0);
  CHECK(Shape{0, big, big}.size() == 0);
  CHECK(Shape{big, 0, big}.size() == 0);
}
TEST_CASE("strides: overflow is a ShapeError; an empty shape's strides do not throw") {
  const std::size_t big = std::size_t(1) << 32;
  CHECK_THROWS_WITH_AS(Shape({2, big, big}).strides(), doctest::Contains("(2, 4294967296, 4294967296)"), ShapeError);
  CHECK(Shape{big, big}.strides()[0] == big);  // the full product is never a stride
  CHECK_NOTHROW(Shape({0, big, big, 2}).strides());
  const auto st = Shape{0, 3, 4}.strides();
  CHECK(st[0] == 12);
  CHECK(st[1] == 4);
}
TEST_CASE("checked_mul names what overflowed") {
  using gluino::detail::checked_mul;
  CHECK(checked_mul<ShapeError>(std::size_t(3), std::size_t(4), "x") == 12);
  CHECK(checked_mul<ShapeError>(std::size_t(-1), std::size_t(0), "x") == 0);
  CHECK_THROWS_WITH_AS(checked_mul<gluino::ValueError>(std::size_t(1) << 40, std::size_t(1) << 40, "op: ", 7, " bytes"),
                       "op: 7 bytes", gluino::ValueError);
}
TEST_CASE("at most six dimensions") {
  Shape s{1, 1, 1, 1, 1, 1};
  CHECK_THROWS_WITH_AS(s.push_back(1), "shape: more than 6 dimensions", ShapeError);
  CHECK_THROWS_AS((Shape{1, 2, 3, 4, 5, 6, 7}), ShapeError);
}
}
