// SPDX-License-Identifier: Apache-2.0
// The compiler and flags the tests are built with keep a struct of 8 contiguous size_t fields
// intact when it is built from constants and passed through a call that is not inlined.  g++ 12
// with 512-bit vectors preferred (-march=native on AMD Zen 4, or -mavx512f) broadcasts one value
// to all 8 (SLP vectorization); CMakeLists.txt adds -mprefer-vector-width=256 for g++ < 13, and
// this test fails if that ever stops being enough (docs/building.md).
#include <doctest/doctest.h>

#include <cstddef>
#include <vector>

namespace {
struct Eight {
  std::size_t a = 1, b = 1, c = 1, d = 1, e = 0, f = 0, g = 0, h = 0;
};
__attribute__((noinline)) std::vector<std::size_t> fields(Eight x) { return {x.a, x.b, x.c, x.d, x.e, x.f, x.g, x.h}; }
}  // namespace

TEST_SUITE("core/compiler") {
TEST_CASE("8 contiguous size_t fields built from constants arrive intact") {
  CHECK(fields(Eight{}) == std::vector<std::size_t>{1, 1, 1, 1, 0, 0, 0, 0});
  CHECK(fields({.e = 1, .f = 1}) == std::vector<std::size_t>{1, 1, 1, 1, 1, 1, 0, 0});
  Eight x;
  x.e = 1;
  x.f = 1;
  CHECK(fields(x) == std::vector<std::size_t>{1, 1, 1, 1, 1, 1, 0, 0});
}
}
