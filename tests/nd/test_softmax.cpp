// SPDX-License-Identifier: Apache-2.0
#include <gluino/nd/softmax.hpp>

#include <doctest/doctest.h>

#include "support/check_close.hpp"

#include <cmath>
#include <gluino/nd.hpp>  // NDArray with all its methods and ops
#include <gluino/nd/creation.hpp>
#include "support/gradcheck.hpp"
#include "support/hessian_check.hpp"

using namespace gluino;
using gluino::test::check_close;
using test::gradcheck;
using test::rand_array;
using V = std::vector<NDArray<double>>;

namespace {
// softmax along `axis` by the definition: exp(x) / sum(exp(x)) (inputs small, no shift needed).
std::vector<double> softmax_def(const NDArray<double>& x, std::size_t axis) {
  const auto st = x.shape().strides();
  const std::size_t n = x.shape()[axis];
  std::vector<double> y(x.size());
  for (std::size_t k = 0; k < x.size(); ++k) {
    const std::size_t pos = (k / st[axis]) % n, base = k - pos * st[axis];
    double s = 0;
    for (std::size_t j = 0; j < n; ++j) s += std::exp(x.data()[base + j * st[axis]]);
    y[k] = std::exp(x.data()[k]) / s;
  }
  return y;
}
}  // namespace

TEST_SUITE("nd/softmax") {
TEST_CASE("softmax: values by the definition; rows sum to 1") {
  auto x = nd::array<double>({1, 2, 3, -1, 0, 1}, {2, 3});
  auto y = nd::softmax(x);
  CHECK(y.shape() == Shape{2, 3});
  check_close(y.to_vector(), softmax_def(x, 1));
  const double e = std::exp(1.0);
  CHECK(y.at(0, 2) == doctest::Approx(e * e / (1 + e + e * e)));
  auto r = rand_array({4, 7}, 3, -3, 3);
  auto s = nd::softmax(r).sum({1});
  for (double v : s) CHECK(v == doctest::Approx(1.0));
}
TEST_CASE("softmax: axis 0 versus -1, and a middle axis") {
  auto x = rand_array({3, 4}, 5);
  check_close(nd::softmax(x, 0).to_vector(), softmax_def(x, 0));
  check_close(nd::softmax(x, -1).to_vector(), softmax_def(x, 1));
  check_close(nd::softmax(x, 0).to_vector(), nd::softmax(x.transpose(), -1).transpose().to_vector());
  auto x3 = rand_array({2, 3, 4}, 6);
  check_close(nd::softmax(x3, 1).to_vector(), softmax_def(x3, 1));
  check_close(nd::softmax(x3, -3).to_vector(), softmax_def(x3, 0));
}
TEST_CASE("log_softmax: equals log(softmax) and stays finite for huge logits") {
  auto x = rand_array({3, 5}, 7);
  auto ls = nd::log_softmax(x);
  auto ref = softmax_def(x, 1);
  for (double& v : ref) v = std::log(v);
  check_close(ls.to_vector(), ref);
  check_close(nd::log_softmax(x, 0).to_vector(), nd::log(nd::softmax(x, 0)).to_vector());
  auto big = nd::array<float>({1e4f, 0.0f, -1e4f, 1e4f, 1e4f, 0.0f}, {2, 3});
  auto lb = nd::log_softmax(big);
  for (float v : lb) CHECK(std::isfinite(v));
  CHECK(lb.at(0, 0) == doctest::Approx(0.0f));
  CHECK(lb.at(0, 1) == doctest::Approx(-1e4f));
  CHECK(lb.at(1, 0) == doctest::Approx(-std::log(2.0f)));
  auto sb = nd::softmax(big);
  CHECK(sb.to_vector() == std::vector<float>{1.0f, 0.0f, 0.0f, 0.5f, 0.5f, 0.0f});
}
TEST_CASE("softmax_cross_entropy: per-sample losses") {
  auto logits = nd::array<double>({1, 2, 3, 0.5, -0.5, 2, 0, 0, 0}, {3, 3});
  auto labels = nd::array<double>({2, 0, 1});
  auto loss = nd::softmax_cross_entropy(logits, labels);
  CHECK(loss.shape() == Shape{3});
  auto ls = nd::log_softmax(logits);
  CHECK(loss.at(0) == doctest::Approx(-ls.at(0, 2)));
  CHECK(loss.at(1) == doctest::Approx(-ls.at(1, 0)));
  CHECK(loss.at(2) == doctest::Approx(std::log(3.0)));
  SUBCASE("stable for huge logits") {
    auto big = nd::array<float>({1e4f, -1e4f, 0.0f, 1e4f}, {2, 2});
    auto l = nd::softmax_cross_entropy(big, nd::array<float>({1, 1}));
    CHECK(l.at(0) == doctest::Approx(2e4f));
    CHECK(l.at(1) == doctest::Approx(0.0f));
  }
  SUBCASE("gradient is softmax - onehot; labels get none") {
    logits.attach_grad();
    labels.attach_grad();
    {
      autograd::record rec;
      loss = nd::softmax_cross_entropy(logits, labels);
    }
    loss.backward();
    auto p = nd::softmax(logits);
    const double lab[3] = {2, 0, 1};
    for (std::size_t i = 0; i < 3; ++i)
      for (std::size_t k = 0; k < 3; ++k)
        CHECK(logits.grad().at(i, k) == doctest::Approx(p.at(i, k) - (static_cast<double>(k) == lab[i] ? 1.0 : 0.0)));
    CHECK(labels.grad().to_vector() == std::vector<double>{0, 0, 0});
  }
}
TEST_CASE("softmax family: gradients match central differences (double)") {
  SUBCASE("softmax, last axis") { CHECK(gradcheck([](const V& x) { return nd::softmax(x[0]); }, {rand_array({3, 4})})); }
  SUBCASE("softmax, middle axis") {
    CHECK(gradcheck([](const V& x) { return nd::softmax(x[0], 1); }, {rand_array({2, 3, 2})}));
  }
  SUBCASE("log_softmax, last and first axis") {
    CHECK(gradcheck([](const V& x) { return nd::log_softmax(x[0]); }, {rand_array({3, 4})}));
    CHECK(gradcheck([](const V& x) { return nd::log_softmax(x[0], 0); }, {rand_array({3, 2, 2}, 9)}));
  }
  SUBCASE("negative axes other than -1, 4-D; and their second derivatives") {
    const V x{rand_array({2, 3, 2, 2}, 11, -2, 2)};
    CHECK(gradcheck([](const V& v) { return nd::softmax(v[0], -2); }, x));
    CHECK(gradcheck([](const V& v) { return nd::log_softmax(v[0], -3); }, x));
    CHECK(test::hessian_check([](const V& v) { return nd::softmax(v[0], -2); }, x));
    CHECK(test::hessian_check([](const V& v) { return nd::log_softmax(v[0], -3); }, x));
  }
  SUBCASE("softmax_cross_entropy (labels skipped)") {
    CHECK(gradcheck([](const V& x) { return nd::softmax_cross_entropy(x[0], x[1]); },
                    {rand_array({4, 5}, 10, -2, 2), nd::array<double>({0, 4, 2, 2})}, 1e-6, 1e-4, 1e-6, {1}));
  }
}
TEST_CASE("softmax family: errors") {
  auto x = nd::zeros<float>({2, 3});
  CHECK_THROWS_WITH_AS(nd::softmax(x, 2), doctest::Contains("softmax: axis 2 out of range for shape (2, 3)"),
                       ShapeError);
  CHECK_THROWS_WITH_AS(nd::log_softmax(x, -3), doctest::Contains("log_softmax: axis -3"), ShapeError);
  CHECK_THROWS_WITH_AS(nd::softmax_cross_entropy(nd::zeros<float>({6}), nd::zeros<float>({6})),
                       doctest::Contains("logits must be 2-D (N, C), got shape (6,)"), ShapeError);
  CHECK_THROWS_WITH_AS(nd::softmax_cross_entropy(x, nd::zeros<float>({3})),
                       doctest::Contains("labels must have shape (2,) for logits of shape (2, 3), got (3,)"), ShapeError);
  CHECK_THROWS_WITH_AS(nd::softmax_cross_entropy(x, nd::array<float>({0, 3})),
                       doctest::Contains("label 3 at index 1 is not an integer class index in [0, 3)"), ValueError);
  CHECK_THROWS_WITH_AS(nd::softmax_cross_entropy(x, nd::array<float>({1.5f, 0})), doctest::Contains("label 1.5"),
                       ValueError);
  CHECK_THROWS_WITH_AS(nd::softmax_cross_entropy(x, nd::array<float>({-1, 0})), doctest::Contains("label -1"),
                       ValueError);
}
TEST_CASE("softmax_cross_entropy: logits without classes are a ValueError; an empty batch is recorded") {
  CHECK_THROWS_WITH_AS(nd::softmax_cross_entropy(nd::zeros<float>({2, 0}), nd::zeros<float>({2})),
                       doctest::Contains("softmax_cross_entropy: logits of shape (2, 0) have no classes"), ValueError);
  auto logits = nd::zeros<double>({0, 3});
  logits.attach_grad();
  {
    autograd::record rec;
    auto loss = nd::softmax_cross_entropy(logits, nd::zeros<double>({0}));
    CHECK(loss.shape() == Shape{0});
    nd::sum(loss).backward();  // no StateError: the empty batch has a graph like any other
  }
  CHECK(logits.grad().shape() == Shape{0, 3});
}
}
