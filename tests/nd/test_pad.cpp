// SPDX-License-Identifier: Apache-2.0
#include <gluino/nd/pad.hpp>

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include <gluino/nd/creation.hpp>
#include <gluino/nd/elementwise.hpp>
#include "support/check_close.hpp"
#include "support/gradcheck.hpp"
#include "support/op_reference.hpp"

using namespace gluino;
using test::check_values;
using test::gradcheck;
using test::rand_array;
using V = std::vector<NDArray<double>>;

namespace {
template <class T>
NDArray<T> run_pad_case(const std::vector<NDArray<T>>& in, const nlohmann::json& o) {
  return nd::pad(in[0], o.at("mode").get<std::string>(), o.at("pad_width").get<std::vector<std::size_t>>(),
                 o.value("constant_value", 0.0));
}
}  // namespace

TEST_SUITE("nd/pad") {
TEST_CASE("pad: reflect, edge and constant along one axis") {
  const auto x = nd::array<double>({1, 2, 3});
  check_values(nd::pad(x, "reflect", {2, 2}), {3, 2, 1, 2, 3, 2, 1}, 1e-15);
  check_values(nd::pad(x, "edge", {2, 1}), {1, 1, 1, 2, 3, 3}, 1e-15);
  check_values(nd::pad(x, "constant", {1, 2}, 9), {9, 1, 2, 3, 9, 9}, 1e-15);
  check_values(nd::pad(x, "reflect", {0, 0}), {1, 2, 3}, 1e-15);
}
TEST_CASE("pad: reflect of a 3x3 image by 2 on H and W (PyTorch's ReflectionPad2d example)") {
  const auto x = nd::array<double>({0, 1, 2, 3, 4, 5, 6, 7, 8}, {1, 1, 3, 3});
  const auto y = nd::pad(x, "reflect", {0, 0, 0, 0, 2, 2, 2, 2});
  CHECK(y.shape() == Shape{1, 1, 7, 7});
  check_values(y, {8, 7, 6, 7, 8, 7, 6, 5, 4, 3, 4, 5, 4, 3, 2, 1, 0, 1, 2, 1, 0, 5, 4, 3, 4, 5, 4, 3,
                   8, 7, 6, 7, 8, 7, 6, 5, 4, 3, 4, 5, 4, 3, 2, 1, 0, 1, 2, 1, 0},
               1e-15);
}
TEST_CASE("gradients match central differences (double)") {
  for (const char* mode : {"reflect", "edge", "constant"}) {
    CAPTURE(mode);
    const std::string m = mode;
    CHECK(gradcheck([&](const V& in) { return nd::pad(in[0], m, {0, 1, 2, 2, 1, 0}, 0.5); }, {rand_array({2, 3, 2})}));
    // 4-D, the largest reflect padding on both sides of two axes (elements read several times),
    // an axis of one element padded (edge, constant) or not (reflect); squared, so that the
    // gradient depends on the values read.
    const bool reflect = m == "reflect";
    const std::vector<std::size_t> w{1, 0, 0, reflect ? 0u : 2u, 3, 3, 2, 2};
    CHECK(gradcheck([&](const V& in) { return nd::square(nd::pad(in[0], m, w, -0.25)); },
                    {rand_array({2, 1, 4, 3}, 9)}));
  }
}
TEST_CASE("forward and gradients match PyTorch 1.13's F.pad (tests/data/reference/norms.json)") {
  for (const auto& c : test::reference_cases("norms.json", "op", "pad")) {
    test::check_op_reference<float>(c, run_pad_case<float>, 1e-6);
    test::check_op_reference<double>(c, run_pad_case<double>, 1e-6);
  }
}
TEST_CASE("errors: unknown mode, pad_width of the wrong length, reflect padding not less than the axis") {
  const auto x = nd::zeros<float>({2, 3});
  CHECK_THROWS_WITH_AS(nd::pad(x, "wrap", {0, 0, 1, 1}), doctest::Contains("pad: unknown mode 'wrap'"), ValueError);
  CHECK_THROWS_WITH_AS(nd::pad(x, "reflect", {1, 1}),
                       doctest::Contains("pad_width has 2 numbers; x of shape (2, 3) needs 4"), ValueError);
  CHECK_THROWS_WITH_AS(nd::pad(x, "reflect", {0, 0, 3, 0}),
                       doctest::Contains("reflect padding (3, 0) of axis 1 must be less than its size 3"), ValueError);
  CHECK_THROWS_AS(nd::pad(x, "reflect", {2, 0, 0, 0}), ValueError);
  CHECK_THROWS_AS(nd::pad(nd::zeros<float>({0, 3}), "edge", {1, 0, 0, 0}), ValueError);
  CHECK(nd::pad(nd::zeros<float>({0, 3}), "constant", {1, 0, 0, 0}).shape() == Shape{1, 3});
  CHECK(nd::pad(x, "edge", {0, 0, 5, 5}).shape() == Shape{2, 13});
}
TEST_CASE("pad: a width from a negative number is a ValueError; an empty array's huge padding is not walked") {
  const auto x = nd::array<float>({1, 2, 3});
  const std::size_t minus_one = static_cast<std::size_t>(-1);  // before + after wrapped to 0: x came back shifted
  CHECK_THROWS_WITH_AS(nd::pad(x, "constant", {minus_one, 1}), doctest::Contains("pad: pad_width (-1, 1) of axis 0"),
                       ValueError);
  CHECK_THROWS_AS(nd::pad(x, "reflect", {minus_one, 1}), ValueError);
  CHECK_THROWS_AS(nd::pad(x, "edge", {1, minus_one}), ValueError);
  // 2^40 rows of nothing: an empty result at once (it used to list the 2^40 source rows first)
  auto e = nd::zeros<double>({3, 0});
  e.attach_grad();
  autograd::record rec;
  auto y = nd::pad(e, "constant", {std::size_t(1) << 40, 0, 0, 0});
  CHECK(y.shape() == Shape{(std::size_t(1) << 40) + 3, 0});
  y.backward();
  CHECK(e.grad().shape() == Shape{3, 0});
}
}
