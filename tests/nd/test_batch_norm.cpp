// SPDX-License-Identifier: Apache-2.0
#include <gluino/nd/batch_norm.hpp>

#include <doctest/doctest.h>

#include "support/check_close.hpp"

#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>
#include <gluino/autograd/engine.hpp>
#include <gluino/autograd/mode.hpp>
#include <gluino/nd/creation.hpp>
#include <gluino/nd/elementwise.hpp>
#include <gluino/nd/reduce.hpp>
#include <gluino/nd/random.hpp>
#include "support/gradcheck.hpp"

using namespace gluino;
using gluino::test::check_close;
using test::gradcheck;
using test::rand_array;
using V = std::vector<NDArray<double>>;

namespace {
struct Stats {
  std::vector<double> mean, var;
};

// Per-channel mean and biased variance of x along `axis`, by the definition.
Stats stats_of(const NDArray<double>& x, std::size_t axis) {
  const Shape& s = x.shape();
  const auto st = s.strides();
  const std::size_t C = s[axis];
  Stats r{std::vector<double>(C, 0.0), std::vector<double>(C, 0.0)};
  std::vector<double> count(C, 0.0);
  for (std::size_t k = 0; k < x.size(); ++k) {
    const std::size_t c = (k / st[axis]) % C;
    r.mean[c] += x.data()[k];
    count[c] += 1;
  }
  for (std::size_t c = 0; c < C; ++c) r.mean[c] /= count[c];
  for (std::size_t k = 0; k < x.size(); ++k) {
    const std::size_t c = (k / st[axis]) % C;
    const double d = x.data()[k] - r.mean[c];
    r.var[c] += d * d;
  }
  for (std::size_t c = 0; c < C; ++c) r.var[c] /= count[c];
  return r;
}

// gamma * (x - mean) / sqrt(var + eps) + beta, channel along `axis`.
std::vector<double> normalise(const NDArray<double>& x, std::size_t axis, const std::vector<double>& mean,
                              const std::vector<double>& var, const std::vector<double>& gamma,
                              const std::vector<double>& beta, double eps) {
  const auto st = x.shape().strides();
  const std::size_t C = x.shape()[axis];
  std::vector<double> y(x.size());
  for (std::size_t k = 0; k < x.size(); ++k) {
    const std::size_t c = (k / st[axis]) % C;
    y[k] = gamma[c] * (x.data()[k] - mean[c]) / std::sqrt(var[c] + eps) + beta[c];
  }
  return y;
}
}  // namespace

TEST_SUITE("nd/batch_norm") {
TEST_CASE("batch_norm: train mode normalises with batch statistics and updates running stats") {
  auto x = rand_array({2, 3, 2, 2}, 1, -2.0, 3.0);
  auto gamma = nd::array<double>({1.5, -0.5, 2.0});
  auto beta = nd::array<double>({0.1, 0.2, -0.3});
  auto rm = nd::array<double>({0.5, -1.0, 2.0});
  auto rv = nd::array<double>({1.0, 2.0, 0.5});
  const auto rm0 = rm.to_vector(), rv0 = rv.to_vector();
  const Stats s = stats_of(x, 1);
  NDArray<double> y;
  {
    autograd::train_mode tm;
    y = nd::batch_norm(x, gamma, beta, rm, rv);
  }
  CHECK(y.shape() == x.shape());
  check_close(y.to_vector(), normalise(x, 1, s.mean, s.var, gamma.to_vector(), beta.to_vector(), 1e-5));
  std::vector<double> rm1(3), rv1(3);
  for (int c = 0; c < 3; ++c) {
    rm1[c] = 0.9 * rm0[c] + 0.1 * s.mean[c];
    rv1[c] = 0.9 * rv0[c] + 0.1 * s.var[c];
  }
  check_close(rm.to_vector(), rm1, 1e-10);
  check_close(rv.to_vector(), rv1, 1e-10);
  SUBCASE("a second call moves the running stats again") {
    autograd::record rec;  // record implies train mode
    nd::batch_norm(x, gamma, beta, rm, rv, {.momentum = 0.8});
    for (int c = 0; c < 3; ++c) {
      CHECK(rm.data()[c] == doctest::Approx(0.8 * rm1[c] + 0.2 * s.mean[c]).epsilon(1e-12));
      CHECK(rv.data()[c] == doctest::Approx(0.8 * rv1[c] + 0.2 * s.var[c]).epsilon(1e-12));
    }
  }
}
TEST_CASE("batch_norm: predict mode uses running stats and leaves them unchanged") {
  auto x = rand_array({2, 3, 2, 2}, 2);
  auto gamma = nd::array<double>({1.5, -0.5, 2.0});
  auto beta = nd::array<double>({0.1, 0.2, -0.3});
  auto rm = nd::array<double>({0.5, -1.0, 2.0});
  auto rv = nd::array<double>({1.0, 2.0, 0.5});
  auto y = nd::batch_norm(x, gamma, beta, rm, rv, {.eps = 1e-3});
  check_close(y.to_vector(), normalise(x, 1, rm.to_vector(), rv.to_vector(), gamma.to_vector(), beta.to_vector(), 1e-3));
  CHECK(rm.to_vector() == std::vector<double>{0.5, -1.0, 2.0});
  CHECK(rv.to_vector() == std::vector<double>{1.0, 2.0, 0.5});
  SUBCASE("use_global_stats: running stats even in train mode, no update") {
    autograd::record rec;
    auto y2 = nd::batch_norm(x, gamma, beta, rm, rv, {.eps = 1e-3, .use_global_stats = true});
    check_close(y2.to_vector(), y.to_vector(), 1e-10);
    CHECK(rm.to_vector() == std::vector<double>{0.5, -1.0, 2.0});
    CHECK(rv.to_vector() == std::vector<double>{1.0, 2.0, 0.5});
  }
}
TEST_CASE("batch_norm: the train-mode update of the running statistics is counted as an in-place change") {
  auto x = rand_array({4, 3}, 3);
  auto gamma = nd::ones<double>({3}), beta = nd::zeros<double>({3});
  auto rm = nd::zeros<double>({3}), rv = nd::ones<double>({3});
  const std::uint64_t m0 = rm.version(), v0 = rv.version();
  (void)nd::batch_norm(x, gamma, beta, rm, rv);  // predict mode: no update, no change counted
  CHECK(rm.version() == m0);
  CHECK(rv.version() == v0);
  auto w = nd::ones<double>({3});
  w.attach_grad();
  autograd::record rec;  // train mode
  auto loss = nd::sum(w * rm);  // multiply saves rm
  (void)nd::batch_norm(x, gamma, beta, rm, rv);
  CHECK(rm.version() == m0 + 1);
  CHECK(rv.version() == v0 + 1);
  CHECK_THROWS_WITH_AS(loss.backward(), doctest::Contains("modified by an in-place operation"), StateError);
}
TEST_CASE("batch_norm: 2-D input, axis 1 and axis -1 agree; other axes") {
  autograd::train_mode tm;
  auto x = rand_array({5, 3}, 3, -1.0, 4.0);
  auto g = nd::array<double>({1.0, 2.0, 3.0}), b = nd::zeros<double>({3});
  auto rm = nd::zeros<double>({3}), rv = nd::ones<double>({3});
  auto y1 = nd::batch_norm(x, g, b, rm, rv);
  auto y2 = nd::batch_norm(x, g, b, rm, rv, {.axis = -1});
  const Stats s = stats_of(x, 1);
  check_close(y1.to_vector(), normalise(x, 1, s.mean, s.var, g.to_vector(), b.to_vector(), 1e-5));
  check_close(y2.to_vector(), y1.to_vector(), 1e-10);
  SUBCASE("axis 0 of a matrix: channels are rows") {
    auto r0 = nd::zeros<double>({5}), v0 = nd::ones<double>({5}), g5 = nd::ones<double>({5}), b5 = nd::zeros<double>({5});
    auto y = nd::batch_norm(x, g5, b5, r0, v0, {.axis = 0});
    const Stats s0 = stats_of(x, 0);
    check_close(y.to_vector(), normalise(x, 0, s0.mean, s0.var, g5.to_vector(), b5.to_vector(), 1e-5));
  }
  SUBCASE("channels last on 4-D (axis -1)") {
    auto x4 = rand_array({2, 2, 2, 3}, 4);
    auto y = nd::batch_norm(x4, g, b, rm, rv, {.axis = -1});
    const Stats s4 = stats_of(x4, 3);
    check_close(y.to_vector(), normalise(x4, 3, s4.mean, s4.var, g.to_vector(), b.to_vector(), 1e-5));
  }
}
TEST_CASE("batch_norm: fix_gamma treats gamma as 1 and gives it a zero gradient") {
  auto x = rand_array({4, 2, 3}, 5);
  auto gamma = nd::array<double>({7.0, -3.0}), beta = nd::array<double>({0.5, 1.0});
  auto rm = nd::zeros<double>({2}), rv = nd::ones<double>({2});
  gamma.attach_grad();
  x.attach_grad();
  NDArray<double> y;
  {
    autograd::record rec;
    y = nd::batch_norm(x, gamma, beta, rm, rv, {.fix_gamma = true});
  }
  const Stats s = stats_of(x, 1);
  check_close(y.to_vector(), normalise(x, 1, s.mean, s.var, {1.0, 1.0}, beta.to_vector(), 1e-5));
  y.backward(rand_array(y.shape(), 9));
  CHECK(gamma.grad().to_vector() == std::vector<double>{0.0, 0.0});
}
TEST_CASE("batch_norm: gradients match central differences (double)") {
  auto bn = [](nd::BatchNormOptions opt, bool predict) {
    return [opt, predict](const V& in) {
      // Fixed running stats (momentum 1 keeps them put even in train mode).
      auto rm = nd::array<double>(std::vector<double>(in[1].size(), 0.2));
      auto rv = nd::array<double>(std::vector<double>(in[1].size(), 0.7));
      if (predict) {
        autograd::predict_mode pm;
        return nd::batch_norm(in[0], in[1], in[2], rm, rv, opt);
      }
      return nd::batch_norm(in[0], in[1], in[2], rm, rv, opt);
    };
  };
  const auto g3 = rand_array({3}, 11, 0.5, 2.0), b3 = rand_array({3}, 12);
  SUBCASE("train, 4-D, axis 1") {
    CHECK(gradcheck(bn({.momentum = 1.0}, false), {rand_array({2, 3, 2, 2}, 13), g3.copy(), b3.copy()}));
  }
  SUBCASE("train, 2-D, axis -1") {
    CHECK(gradcheck(bn({.axis = -1}, false), {rand_array({4, 3}, 14), g3.copy(), b3.copy()}));
  }
  SUBCASE("train, 3-D, axis 2 (channels last)") {
    CHECK(gradcheck(bn({.axis = 2}, false), {rand_array({2, 2, 3}, 15), g3.copy(), b3.copy()}));
  }
  SUBCASE("train, fix_gamma") {
    CHECK(gradcheck(bn({.fix_gamma = true}, false), {rand_array({3, 3, 2}, 16), g3.copy(), b3.copy()}));
  }
  SUBCASE("predict mode") {
    CHECK(gradcheck(bn({}, true), {rand_array({2, 3, 2, 2}, 17), g3.copy(), b3.copy()}));
  }
  SUBCASE("use_global_stats in train mode") {
    CHECK(gradcheck(bn({.use_global_stats = true}, false), {rand_array({3, 3}, 18), g3.copy(), b3.copy()}));
  }
  SUBCASE("train, 3-D (N, C, L), axis -2") {
    CHECK(gradcheck(bn({.axis = -2}, false), {rand_array({3, 3, 4}, 19), g3.copy(), b3.copy()}));
  }
  SUBCASE("predict, 4-D channels last, fix_gamma") {
    CHECK(gradcheck(bn({.fix_gamma = true, .axis = -1}, true), {rand_array({2, 2, 2, 3}, 20), g3.copy(), b3.copy()}));
  }
}
TEST_CASE("batch_norm: float input on a larger batch (parallel channel path)") {
  autograd::train_mode tm;
  // A large mean next to a small spread: normalisation must not lose float precision.
  auto x = nd::random::uniform<float>({8, 4, 32, 32}, 999.0f, 1001.0f);
  auto g = nd::ones<float>({4}), b = nd::zeros<float>({4}), rm = nd::zeros<float>({4}), rv = nd::ones<float>({4});
  auto y = nd::batch_norm(x, g, b, rm, rv);
  auto m = y.mean({0, 2, 3});
  auto v = (y * y).mean({0, 2, 3});
  for (int c = 0; c < 4; ++c) {
    CHECK(std::abs(m.data()[c]) < 1e-4f);
    CHECK(v.data()[c] == doctest::Approx(1.0f).epsilon(1e-3));
  }
}
TEST_CASE("batch_norm: an empty batch is recorded, gamma and beta get zero gradients, the statistics stay") {
  auto g = nd::ones<double>({3}), b = nd::zeros<double>({3});
  auto rm = nd::array<double>({1, 2, 3}, {3}), rv = nd::array<double>({4, 5, 6}, {3});
  g.attach_grad(), b.attach_grad();
  g.grad().fill(5.0), b.grad().fill(5.0);
  auto x = nd::zeros<double>({0, 3, 2, 2});
  x.attach_grad();
  NDArray<double> loss;
  {
    autograd::record rec;
    autograd::train_mode train;
    const auto y = nd::batch_norm(x, g, b, rm, rv);
    CHECK(y.shape() == x.shape());
    loss = nd::sum(y);
  }
  loss.backward();
  CHECK(g.grad().to_vector() == std::vector<double>{0, 0, 0});
  CHECK(b.grad().to_vector() == std::vector<double>{0, 0, 0});
  CHECK(rm.to_vector() == std::vector<double>{1, 2, 3});
  CHECK(rv.to_vector() == std::vector<double>{4, 5, 6});
}
TEST_CASE("batch_norm: errors name the shapes and values") {
  auto x = nd::zeros<float>({2, 3, 4, 4});
  auto c3 = nd::ones<float>({3}), c4 = nd::ones<float>({4});
  CHECK_THROWS_WITH_AS(nd::batch_norm(x, c4, c3, c3, c3), doctest::Contains("gamma must have shape (3,)"), ShapeError);
  CHECK_THROWS_WITH_AS(nd::batch_norm(x, c4, c3, c3, c3), doctest::Contains("(2, 3, 4, 4)"), ShapeError);
  CHECK_THROWS_WITH_AS(nd::batch_norm(x, c3, c4, c3, c3), doctest::Contains("beta"), ShapeError);
  CHECK_THROWS_WITH_AS(nd::batch_norm(x, c3, c3, c4, c3), doctest::Contains("running_mean must have shape (3,)"),
                       ShapeError);
  CHECK_THROWS_WITH_AS(nd::batch_norm(x, c3, c3, c3, c4), doctest::Contains("got (4,)"), ShapeError);
  CHECK_THROWS_WITH_AS(nd::batch_norm(x, c3, c3, c3, c3, {.axis = 4}), doctest::Contains("axis 4 out of range"),
                       ShapeError);
  CHECK_THROWS_WITH_AS(nd::batch_norm(x, c3, c3, c3, c3, {.eps = 0.0}), doctest::Contains("eps must be > 0"),
                       ValueError);
  CHECK_THROWS_WITH_AS(nd::batch_norm(x, c3, c3, c3, c3, {.momentum = 1.5}), doctest::Contains("momentum"),
                       ValueError);
}
TEST_CASE("batch_norm: eps must be finite, momentum a number in [0, 1]; messages name x's shape") {
  auto x = nd::zeros<float>({2, 3, 4, 4}), c3 = nd::zeros<float>({3});
  const double nan = std::nan(""), inf = std::numeric_limits<double>::infinity();
  CHECK_THROWS_WITH_AS(nd::batch_norm(x, c3, c3, c3, c3, {.eps = inf}),
                       doctest::Contains("batch_norm: eps must be > 0 and finite, got inf for x of shape (2, 3, 4, 4)"),
                       ValueError);
  CHECK_THROWS_WITH_AS(nd::batch_norm(x, c3, c3, c3, c3, {.eps = nan}), doctest::Contains("eps must be > 0"), ValueError);
  CHECK_THROWS_WITH_AS(nd::batch_norm(x, c3, c3, c3, c3, {.momentum = nan}),
                       doctest::Contains("momentum must be in [0, 1], got nan for x of shape (2, 3, 4, 4)"), ValueError);
  CHECK_THROWS_WITH_AS(nd::batch_norm(x, c3, c3, c3, c3, {.axis = -5}), doctest::Contains("axis -5 out of range"),
                       ShapeError);
}
}
