// SPDX-License-Identifier: Apache-2.0
#include <gluino/loss/softmax_cross_entropy_loss.hpp>

#include <doctest/doctest.h>

#include <cmath>
#include <gluino/nd/creation.hpp>
#include "support/gradcheck.hpp"
#include "support/loss_reference.hpp"

using namespace gluino;
using test::gradcheck;
using test::rand_array;
using V = std::vector<NDArray<double>>;

namespace {
// -log softmax(row)[k], straight from the definition.
double ce(const std::vector<double>& row, std::size_t k) {
  double s = 0;
  for (double v : row) s += std::exp(v);
  return -(row[k] - std::log(s));
}
}  // namespace

TEST_SUITE("loss/softmax_cross_entropy_loss") {
TEST_CASE("sparse labels: per-sample values from the definition") {
  loss::SoftmaxCrossEntropyLoss loss_fn;
  auto pred = nd::array<float>({1, 2, 3, 0.5f, -1, 2}, {2, 3});
  auto label = nd::array<float>({2, 0});
  auto l = loss_fn(pred, label);
  CHECK(l.shape() == Shape{2});
  CHECK(l.at(0) == doctest::Approx(ce({1, 2, 3}, 2)));
  CHECK(l.at(1) == doctest::Approx(ce({0.5, -1, 2}, 0)));
}
TEST_CASE("dense labels and from_logits agree with the sparse value") {
  auto pred = nd::array<double>({1, 2, 3, 0.5, -1, 2}, {2, 3});
  auto sparse = loss::BasicSoftmaxCrossEntropyLoss<double>{}(pred, nd::array<double>({2, 0}));
  auto onehot = nd::array<double>({0, 0, 1, 1, 0, 0}, {2, 3});
  auto dense = loss::BasicSoftmaxCrossEntropyLoss<double>({.sparse_label = false})(pred, onehot);
  auto logp = nd::log_softmax(pred, -1);
  auto from_logits = loss::BasicSoftmaxCrossEntropyLoss<double>({.from_logits = true})(logp, nd::array<double>({2, 0}));
  for (std::size_t i = 0; i < 2; ++i) {
    CHECK(dense.at(i) == doctest::Approx(sparse.at(i)));
    CHECK(from_logits.at(i) == doctest::Approx(sparse.at(i)));
  }
  SUBCASE("soft labels: -sum(p * log softmax)") {
    auto soft = nd::array<double>({0.2, 0.3, 0.5, 0.5, 0.5, 0}, {2, 3});
    auto l = loss::BasicSoftmaxCrossEntropyLoss<double>({.sparse_label = false})(pred, soft);
    CHECK(l.at(0) == doctest::Approx(0.2 * ce({1, 2, 3}, 0) + 0.3 * ce({1, 2, 3}, 1) + 0.5 * ce({1, 2, 3}, 2)));
  }
}
TEST_CASE("axis 1 of (N, C, L): the mean over the remaining positions") {
  // pred (1, 3, 2): position 0 has logits (1, 2, 3), position 1 has (0, 0, 1).
  auto pred = nd::array<double>({1, 0, 2, 0, 3, 1}, {1, 3, 2});
  auto label = nd::array<double>({2, 1}, {1, 2});
  auto l = loss::BasicSoftmaxCrossEntropyLoss<double>({.axis = 1})(pred, label);
  CHECK(l.shape() == Shape{1});
  CHECK(l.at(0) == doctest::Approx((ce({1, 2, 3}, 2) + ce({0, 0, 1}, 1)) / 2));
}
TEST_CASE("sample weights (N,) or (N, 1), and the global weight") {
  auto pred = nd::array<double>({1, 2, 3, 0.5, -1, 2}, {2, 3});
  auto label = nd::array<double>({2, 0});
  loss::BasicSoftmaxCrossEntropyLoss<double> plain, weighted({.weight = 3});
  auto base = plain(pred, label);
  auto a = plain(pred, label, nd::array<double>({2, 0.5}));
  auto b = plain(pred, label, nd::array<double>({2, 0.5}, {2, 1}));
  auto c = weighted(pred, label);
  CHECK(a.shape() == Shape{2});
  CHECK(a.at(0) == doctest::Approx(2 * base.at(0)));
  CHECK(a.at(1) == doctest::Approx(0.5 * base.at(1)));
  CHECK(b.to_vector() == a.to_vector());
  CHECK(c.at(1) == doctest::Approx(3 * base.at(1)));
}
TEST_CASE("stable for huge logits") {
  auto l = loss::SoftmaxCrossEntropyLoss{}(nd::array<float>({1e4f, 0, -1e4f}, {1, 3}), nd::array<float>({1}));
  CHECK(l.at(0) == doctest::Approx(1e4));
}
TEST_CASE("gradients match central differences (double)") {
  auto label = nd::array<double>({2, 0, 1});
  SUBCASE("sparse, (N, C) fused path") {
    loss::BasicSoftmaxCrossEntropyLoss<double> f;
    CHECK(gradcheck([&](const V& x) { return f(x[0], label); }, {rand_array({3, 4})}));
  }
  SUBCASE("sparse, class axis 0, with sample weights") {
    loss::BasicSoftmaxCrossEntropyLoss<double> f({.axis = 0, .batch_axis = 1});
    auto sw = nd::array<double>({1, 2, 0.5});
    CHECK(gradcheck([&](const V& x) { return f(x[0], label, sw); }, {rand_array({4, 3})}));
  }
  SUBCASE("from_logits") {
    loss::BasicSoftmaxCrossEntropyLoss<double> f({.from_logits = true});
    CHECK(gradcheck([&](const V& x) { return f(x[0], label); }, {rand_array({3, 4})}));
  }
  SUBCASE("dense labels: gradients for pred and label") {
    loss::BasicSoftmaxCrossEntropyLoss<double> f({.sparse_label = false, .weight = 0.5});
    CHECK(gradcheck([&](const V& x) { return f(x[0], x[1]); }, {rand_array({2, 3, 2}), rand_array({2, 3, 2}, 9, 0, 1)}));
  }
}
TEST_CASE("backward reaches the logits: softmax - onehot, over N") {
  auto pred = nd::array<float>({0, 0, 0, 0}, {2, 2});
  pred.attach_grad();
  {
    autograd::record rec;
    auto l = loss::SoftmaxCrossEntropyLoss{}(pred, nd::array<float>({1, 0}));
    l.backward();
  }
  CHECK(pred.grad().to_vector() == std::vector<float>{0.5f, -0.5f, -0.5f, 0.5f});
}
TEST_CASE("sparse labels: a label of pred's size but another shape is a ShapeError, as Gluon's pick") {
  // Gluon's pick takes the index with pred's shape without the class axis, or with it as 1; a
  // label of the same size in another layout (transposed, (1, N)) would pair labels with the
  // wrong rows if it were reshaped.
  loss::SoftmaxCrossEntropyLoss f;
  CHECK_THROWS_WITH_AS(f(nd::zeros<float>({2, 3, 4}), nd::zeros<float>({3, 2})),
                       doctest::Contains("sparse label of shape (3, 2) does not match pred of shape (2, 3, 4)"),
                       ShapeError);
  CHECK_THROWS_WITH_AS(f(nd::zeros<float>({2, 3}), nd::zeros<float>({1, 2})), doctest::Contains("(1, 2)"), ShapeError);
  // The accepted layouts: (N,), (N, 1), and for a 1-D pred () or (1,).
  auto pred = nd::array<double>({1, 2, 3, 0.5, -1, 2}, {2, 3});
  const std::vector<double> want{ce({1, 2, 3}, 2), ce({0.5, -1, 2}, 0)};
  for (const Shape& s : {Shape{2}, Shape{2, 1}}) {
    CAPTURE(s);
    auto l = loss::BasicSoftmaxCrossEntropyLoss<double>{}(pred, nd::array<double>({2, 0}, s));
    CHECK(l.at(0) == doctest::Approx(want[0]));
    CHECK(l.at(1) == doctest::Approx(want[1]));
  }
  for (const Shape& s : {Shape{}, Shape{1}}) {
    CAPTURE(s);
    auto l = loss::BasicSoftmaxCrossEntropyLoss<double>{}(nd::array<double>({1, 2, 3}, {3}), nd::array<double>({1}, s));
    CHECK(l.at(0) == doctest::Approx(ce({1, 2, 3}, 1)));
  }
  auto p3 = nd::array<double>({1, 0, 2, 0, 3, 1}, {1, 3, 2});
  CHECK_THROWS_AS(loss::BasicSoftmaxCrossEntropyLoss<double>({.axis = 1})(p3, nd::zeros<double>({2, 1})), ShapeError);
  CHECK(loss::BasicSoftmaxCrossEntropyLoss<double>({.axis = 1})(p3, nd::array<double>({2, 1}, {1, 1, 2})).at(0) ==
        doctest::Approx((ce({1, 2, 3}, 2) + ce({0, 0, 1}, 1)) / 2));
}
TEST_CASE("errors name the shapes and the bad label") {
  loss::SoftmaxCrossEntropyLoss f;
  CHECK_THROWS_WITH_AS(f(nd::zeros<float>({2, 3}), nd::zeros<float>({3})), doctest::Contains("(2, 3)"), ShapeError);
  CHECK_THROWS_WITH_AS(f(nd::zeros<float>({2, 3}), nd::zeros<float>({3})), doctest::Contains("(3,)"), ShapeError);
  CHECK_THROWS_WITH_AS(f(nd::zeros<float>({2, 3}), nd::array<float>({0, 3})), doctest::Contains("label 3"), ValueError);
  CHECK_THROWS_WITH_AS(f(nd::zeros<float>({2, 3}), nd::zeros<float>({2}), nd::zeros<float>({3})),
                       doctest::Contains("sample_weight of shape (3,)"), ShapeError);
  CHECK_THROWS_WITH_AS(loss::SoftmaxCrossEntropyLoss({.axis = 2})(nd::zeros<float>({2, 3}), nd::zeros<float>({2})),
                       doctest::Contains("axis 2"), ShapeError);
  CHECK_THROWS_WITH_AS(loss::SoftmaxCrossEntropyLoss({.sparse_label = false})(nd::zeros<float>({2, 3}), nd::zeros<float>({2})),
                       doctest::Contains("(2, 3)"), ShapeError);
}
TEST_CASE("matches PyTorch: sparse on axis -1, 1 and 0, from_logits, dense, batch_axis 1, sample weights") {
  const auto options = [](const nlohmann::json& o) {
    return loss::SoftmaxCrossEntropyLossOptions{.axis = o.value("axis", -1),
                                                .sparse_label = o.value("sparse_label", true),
                                                .from_logits = o.value("from_logits", false),
                                                .weight = o.value("weight", 1.0),
                                                .batch_axis = o.value("batch_axis", 0)};
  };
  test::check_loss_references<loss::BasicSoftmaxCrossEntropyLoss>("SoftmaxCrossEntropyLoss", options);
}
}
