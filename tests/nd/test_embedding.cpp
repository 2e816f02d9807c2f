// SPDX-License-Identifier: Apache-2.0
#include <gluino/nd/embedding.hpp>

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include <gluino/autograd/mode.hpp>
#include <gluino/nd/creation.hpp>
#include "support/check_close.hpp"
#include "support/gradcheck.hpp"
#include "support/op_reference.hpp"

using namespace gluino;
using test::check_values;
using test::gradcheck;
using test::rand_array;
using V = std::vector<NDArray<double>>;

TEST_SUITE("nd/embedding") {
TEST_CASE("embedding: rows of the weight, index shape + (output_dim,)") {
  const auto w = nd::array<double>({0, 1, 10, 11, 20, 21}, {3, 2});
  const auto y = nd::embedding(nd::array<double>({2, 0, 2, 1}, {2, 2}), w);
  CHECK(y.shape() == Shape{2, 2, 2});
  check_values(y, {20, 21, 0, 1, 20, 21, 10, 11}, 1e-15);
  CHECK(nd::embedding(nd::array<float>({1}), nd::array<float>({5, 6, 7, 8}, {2, 2})).shape() == Shape{1, 2});
  CHECK(nd::embedding(nd::zeros<float>({0}), nd::ones<float>({2, 3})).shape() == Shape{0, 3});
}
TEST_CASE("backward: the rows looked up more than once get the sum of their gradients; the index gets none") {
  auto w = nd::zeros<double>({3, 2});
  auto idx = nd::array<double>({2, 0, 2});
  w.attach_grad();
  idx.attach_grad();
  {
    autograd::record rec;
    auto y = nd::embedding(idx, w);
    y.backward(nd::array<double>({1, 2, 3, 4, 5, 6}, {3, 2}));
  }
  check_values(w.grad(), {3, 4, 0, 0, 6, 8}, 1e-15);  // row 2: (1, 2) + (5, 6)
  check_values(idx.grad(), {0, 0, 0}, 1e-15);
}
TEST_CASE("gradient in the weight matches central differences (double)") {
  const auto idx = nd::array<double>({1, 3, 1, 0, 3, 3}, {3, 2});
  CHECK(gradcheck([](const V& in) { return nd::embedding(in[0], in[1]); }, {idx, rand_array({4, 3})}, 1e-6, 1e-4, 1e-6,
                  {0}));
}
TEST_CASE("forward and gradients match PyTorch 1.13's F.embedding (tests/data/reference/norms.json)") {
  for (const auto& c : test::reference_cases("norms.json", "op", "embedding")) {
    test::check_op_reference<float>(c, [](const auto& in, const auto&) { return nd::embedding(in[0], in[1]); }, 1e-6);
    test::check_op_reference<double>(c, [](const auto& in, const auto&) { return nd::embedding(in[0], in[1]); }, 1e-6);
  }
}
TEST_CASE("an index out of range or not an integer is a ValueError naming it and input_dim") {
  const auto w = nd::ones<float>({5, 2});
  CHECK_THROWS_WITH_AS(nd::embedding(nd::array<float>({0, 5}), w),
                       doctest::Contains("embedding: index 5 at position 1 is out of range: not an integer in [0, input_dim = 5)"),
                       ValueError);
  CHECK_THROWS_WITH_AS(nd::embedding(nd::array<float>({-1}), w), doctest::Contains("index -1"), ValueError);
  CHECK_THROWS_WITH_AS(nd::embedding(nd::array<float>({1.5f}), w), doctest::Contains("index 1.5"), ValueError);
  CHECK_THROWS_WITH_AS(nd::embedding(nd::array<float>({1}), nd::ones<float>({5})),
                       doctest::Contains("weight must be (input_dim, output_dim), got shape (5,)"), ShapeError);
}
TEST_CASE("embedding: an index of six axes is a ShapeError naming the op (the result would need seven)") {
  CHECK_THROWS_WITH_AS(nd::embedding(nd::zeros<float>({1, 1, 1, 1, 1, 2}), nd::ones<float>({3, 4})),
                       doctest::Contains("embedding: index of shape (1, 1, 1, 1, 1, 2) has 6 axes"), ShapeError);
}
}
