// SPDX-License-Identifier: Apache-2.0
#include <gluino/loss/cosine_embedding_loss.hpp>

#include <doctest/doctest.h>

#include <cmath>

#include <gluino/nd/creation.hpp>
#include "support/check_close.hpp"
#include "support/gradcheck.hpp"
#include "support/loss_reference.hpp"

using namespace gluino;
using test::gradcheck;
using test::rand_array;
using V = std::vector<NDArray<double>>;

TEST_SUITE("loss/cosine_embedding_loss") {
TEST_CASE("1 - cos for label 1, max(0, cos - margin) for label -1") {
  // Rows with cosines 1, 0, -1 and 0.6 (3-4-5).
  auto a = nd::array<double>({1, 0, 1, 0, 1, 1, 3, 4}, {4, 2});
  auto b = nd::array<double>({2, 0, 0, 3, -1, -1, 1, 0}, {4, 2});
  loss::BasicCosineEmbeddingLoss<double> f, with_margin({.margin = 0.5});
  auto ones = nd::ones<double>({4});
  test::check_close(f(a, b, ones).to_vector(), {0, 1, 2, 0.4});
  test::check_close(f(a, b, -ones).to_vector(), {1, 0, 0, 0.6});
  test::check_close(with_margin(a, b, -ones).to_vector(), {0.5, 0, 0, 0.1});
  test::check_close(f(a, b, nd::array<double>({0, 2, -2, 0.5})).to_vector(), {0, 0, 0, 0});  // other labels
}
TEST_CASE("a zero vector has cosine 0 (the norms' product is at least 1e-12)") {
  auto l = loss::CosineEmbeddingLoss{}(nd::zeros<float>({1, 3}), nd::ones<float>({1, 3}), nd::array<float>({1}));
  CHECK(l.to_vector() == std::vector<float>{1});
}
TEST_CASE("weight, sample weights, input1 of input2's size, vectors along the last axis") {
  auto a = nd::array<double>({1, 0, 1, 0, 1, 1, 3, 4});
  auto b = nd::array<double>({2, 0, 0, 3, -1, -1, 1, 0}, {4, 2});
  auto y = nd::ones<double>({4, 1});
  loss::BasicCosineEmbeddingLoss<double> weighted({.weight = 2});
  test::check_close(weighted(a, b, y, nd::array<double>({1, 1, 0, 1})).to_vector(), {0, 2, 0, 0.8});
  // (2, 2, 2): four vectors, two per sample; labels (2, 2).  Gluon returns the four losses,
  // gluino their mean per sample.
  auto l = loss::BasicCosineEmbeddingLoss<double>{}(a.reshape({2, 2, 2}), b.reshape({2, 2, 2}), y.reshape({2, 2}));
  test::check_close(l.to_vector(), {0.5, 1.2});
}
TEST_CASE("gradients match central differences (double); none reach the label") {
  auto label = nd::array<double>({1, -1, -1, 1});
  loss::BasicCosineEmbeddingLoss<double> f({.weight = 0.5, .margin = -0.5});
  CHECK(gradcheck([&](const V& x) { return f(x[0], x[1], label); }, {rand_array({4, 3}), rand_array({4, 3}, 8)}));
  CHECK(gradcheck([&](const V& x) { return f(x[0], x[1], x[2], x[3]); },
                  {rand_array({2, 2, 3}), rand_array({2, 2, 3}, 8), label.reshape({2, 2}), rand_array({2}, 9)}, 1e-6,
                  1e-4, 1e-6, {2}));
  auto y = label.copy();
  y.attach_grad();
  {
    autograd::record rec;
    f(rand_array({4, 3}), rand_array({4, 3}, 8), y).backward();
  }
  CHECK(y.grad().to_vector() == std::vector<double>{0, 0, 0, 0});
}
TEST_CASE("matches PyTorch's cosine_embedding_loss") {
  test::check_loss_references<loss::BasicCosineEmbeddingLoss>("CosineEmbeddingLoss", [](const nlohmann::json& o) {
    return loss::CosineEmbeddingLossOptions{.weight = o.value("weight", 1.0), .batch_axis = o.value("batch_axis", 0),
                                            .margin = o.value("margin", 0.0)};
  });
}
TEST_CASE("errors: input sizes, label size, two inputs through BasicLoss") {
  loss::CosineEmbeddingLoss f;
  auto x = nd::zeros<float>({2, 3});
  CHECK_THROWS_WITH_AS(
      f(nd::zeros<float>({5}), x, nd::zeros<float>({2})),
      doctest::Contains("CosineEmbeddingLoss: input1 of shape (5,) does not match input2 of shape (2, 3)"), ShapeError);
  CHECK_THROWS_WITH_AS(
      f(x, x, nd::zeros<float>({3})),
      doctest::Contains("label of shape (3,) does not hold one value per vector of input2 of shape (2, 3) (2 values)"),
      ShapeError);
  const loss::BasicLoss<float>& base = f;
  CHECK_THROWS_WITH_AS(base(x, x, nd::zeros<float>({2})),
                       doctest::Contains("takes three inputs (input1, input2, label)"), ValueError);
}
TEST_CASE("a margin that is not a finite number is a ValueError (it would make every loss NaN)") {
  for (double m : {std::nan(""), HUGE_VAL, -HUGE_VAL}) {
    CAPTURE(m);
    CHECK_THROWS_WITH_AS(loss::CosineEmbeddingLoss({.margin = m}),
                         doctest::Contains("CosineEmbeddingLoss: margin must be a finite number, got "), ValueError);
  }
}
}
