// SPDX-License-Identifier: Apache-2.0
#include <gluino/loss/loss.hpp>

#include <doctest/doctest.h>

#include <cmath>

#include <gluino/nd/creation.hpp>

using namespace gluino;

namespace {
/// The smallest loss: the prediction itself (to test the shared weighting and reduction).
struct Identity : loss::BasicLoss<float> {
  explicit Identity(double weight = 1, int batch_axis = 0) : BasicLoss("Identity", weight, batch_axis) {}
  NDArray<float> compute(const NDArray<float>& pred, const NDArray<float>&) const override { return pred; }
};
/// The same with three inputs: their sum.
struct Sum3 : loss::BasicThreeInputLoss<float> {
  explicit Sum3(double weight = 1, int batch_axis = 0)
      : BasicThreeInputLoss("Sum3", {"a", "b", "c"}, weight, batch_axis) {}
  NDArray<float> compute3(const NDArray<float>& a, const NDArray<float>& b, const NDArray<float>& c) const override {
    return a + b + c;
  }
};
}  // namespace

TEST_SUITE("loss/loss") {
TEST_CASE("mean over every axis but the batch axis") {
  auto x = nd::arange<float>(0, 12).reshape({2, 3, 2});
  CHECK(Identity{}(x, x).to_vector() == std::vector<float>{2.5f, 8.5f});
  CHECK(Identity(1, 1)(x, x).to_vector() == std::vector<float>{3.5f, 5.5f, 7.5f});
  CHECK(Identity(1, -1)(x, x).to_vector() == std::vector<float>{5.0f, 6.0f});
}
TEST_CASE("a (N,) sample weight is per sample; weights broadcast to the loss") {
  auto x = nd::ones<float>({2, 3});
  CHECK(Identity{}(x, x, nd::array<float>({2, 3})).to_vector() == std::vector<float>{2, 3});
  CHECK(Identity{}(x, x, nd::array<float>({0, 3, 0})).to_vector() == std::vector<float>{1, 1});
  CHECK(Identity(0.5)(x, x, nd::array<float>({2}, Shape{})).to_vector() == std::vector<float>{1, 1});
}
TEST_CASE("a (N,) sample weight that could also be read along the last axis is a ValueError") {
  // (10, 10): per sample (gluino) and along the last axis (NumPy/Gluon broadcasting) would differ.
  auto x = nd::arange<float>(0, 100).reshape({10, 10});
  auto w = nd::arange<float>(0, 10);
  CHECK_THROWS_WITH_AS(Identity{}(x, x, w),
                       doctest::Contains("sample_weight of shape (10,) is ambiguous for the loss of shape (10, 10)"),
                       ValueError);
  CHECK_THROWS_WITH_AS(Identity{}(x, x, w), doctest::Contains("pass (10, 1) to weigh samples or (1, 10)"),
                       ValueError);
  // batch_axis 1 of (3, 4, 4): per sample (1, 4, 1), along the last axis (1, 1, 4).
  auto y = nd::arange<float>(0, 48).reshape({3, 4, 4});
  CHECK_THROWS_WITH_AS(Identity(1, 1)(y, y, nd::ones<float>({4})),
                       doctest::Contains("pass (1, 4, 1) to weigh samples or (1, 1, 4)"), ValueError);
  CHECK_THROWS_AS(Identity(1, -2)(y, y, nd::ones<float>({4})), ValueError);
  // The explicit shapes work, and mean what they say.
  const std::vector<float> per_sample = Identity{}(x, x, w.reshape({10, 1})).to_vector();
  const std::vector<float> per_column = Identity{}(x, x, w.reshape({1, 10})).to_vector();
  for (std::size_t n = 0; n < 10; ++n) {
    double ps = 0, pc = 0;  // naive loops
    for (std::size_t c = 0; c < 10; ++c) {
      ps += double(n * 10 + c) * double(n) / 10;
      pc += double(n * 10 + c) * double(c) / 10;
    }
    CHECK(per_sample[n] == doctest::Approx(ps));
    CHECK(per_column[n] == doctest::Approx(pc));
  }
  // Unambiguous 1-D weights keep working: the batch axis is the last axis (both readings agree),
  // or the last axis has another length.
  CHECK(Identity(1, -1)(x, x, w).to_vector() == Identity(1, -1)(x, x, w.reshape({1, 10})).to_vector());
  auto z = nd::ones<float>({10, 3});
  CHECK(Identity{}(z, z, w).to_vector() == w.to_vector());
  auto v = nd::arange<float>(0, 36).reshape({3, 4, 3});
  auto w4 = nd::arange<float>(1, 5);
  CHECK(Identity(1, 1)(v, v, w4).to_vector() == Identity(1, 1)(v, v, w4.reshape({1, 4, 1})).to_vector());
}
TEST_CASE("three inputs: the same weighting and mean") {
  auto x = nd::arange<float>(0, 6).reshape({2, 3});
  auto one = nd::ones<float>({2, 3});
  CHECK(Sum3{}(x, one, one).to_vector() == std::vector<float>{3, 6});
  CHECK(Sum3(2, 1)(x, one, one, nd::array<float>({1, 0, 1})).to_vector() == std::vector<float>{7, 0, 11});
  CHECK_THROWS_WITH_AS(Sum3{}(x, NDArray<float>{}, x), doctest::Contains("Sum3: a, b and c must be defined arrays"),
                       StateError);
  const loss::BasicLoss<float>& two = Sum3{};
  CHECK_THROWS_WITH_AS(two(x, x), doctest::Contains("Sum3: takes three inputs (a, b, c), not two"), ValueError);
}
TEST_CASE("errors: sample weight that would grow the loss, undefined inputs") {
  auto x = nd::ones<float>({2, 3});
  CHECK_THROWS_WITH_AS(Identity{}(x, x, nd::ones<float>({4, 2, 3})),
                       doctest::Contains("sample_weight of shape (4, 2, 3) does not broadcast to the loss of shape (2, 3)"),
                       ShapeError);
  CHECK_THROWS_AS(Identity{}(NDArray<float>{}, x), StateError);
}
TEST_CASE("an empty batch: sample weights of its shape give an empty loss, as Gluon's broadcast_mul") {
  auto x = nd::ones<float>({0, 3});
  for (const Shape& w : {Shape{0}, Shape{0, 1}, Shape{0, 3}}) {
    CAPTURE(w);
    CHECK(Identity{}(x, x, nd::ones<float>(w)).shape() == Shape{0});
  }
  // A weight with no elements does not fit a loss that has some.
  CHECK_THROWS_WITH_AS(Identity{}(nd::ones<float>({2, 3}), x, nd::ones<float>({0})),
                       doctest::Contains("sample_weight of shape (0,) does not broadcast to the loss of shape (2, 3)"),
                       ShapeError);
}
TEST_CASE("a weight that is not a finite number is a ValueError at construction") {
  for (double w : {std::nan(""), HUGE_VAL, -HUGE_VAL}) {
    CAPTURE(w);
    CHECK_THROWS_WITH_AS(Identity{w}, doctest::Contains("Identity: weight must be a finite number, got "), ValueError);
    CHECK_THROWS_WITH_AS(Sum3{w}, doctest::Contains("Sum3: weight must be a finite number"), ValueError);
  }
  CHECK(Identity{-2}(nd::ones<float>({1, 2}), nd::ones<float>({1, 2})).to_vector() == std::vector<float>{-2});
}
}
