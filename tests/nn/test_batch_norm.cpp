// SPDX-License-Identifier: Apache-2.0
#include <gluino/nn/batch_norm.hpp>

#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <sstream>

#include <gluino/nd.hpp>  // NDArray with all its methods and ops
#include <gluino/nd/creation.hpp>
#include <gluino/nd/random.hpp>
#include "support/gradcheck.hpp"
#include "support/repr.hpp"

using namespace gluino;
using test::repr;
using test::gradcheck;
using test::rand_array;
using V = std::vector<NDArray<double>>;

namespace {
void check_close(const std::vector<float>& a, const std::vector<float>& b) {
  REQUIRE(a.size() == b.size());
  for (std::size_t i = 0; i < a.size(); ++i) CHECK(a[i] == doctest::Approx(b[i]).epsilon(1e-5));
}
}  // namespace

TEST_SUITE("nn/batch_norm") {
TEST_CASE("parameters: Gluon's names, deferred channels, grad_req null for the running statistics, repr") {
  nn::reset_name_counters();
  nn::BatchNorm bn;
  CHECK(bn.prefix() == "batchnorm0_");
  CHECK(bn.params().keys() == std::vector<std::string>{"batchnorm0_gamma", "batchnorm0_beta",
                                                       "batchnorm0_running_mean", "batchnorm0_running_var"});
  for (const auto& [name, p] : bn.params()) CHECK(p->shape() == Shape{0});
  CHECK(bn.gamma()->grad_req() == GradReq::write);
  CHECK(bn.beta()->grad_req() == GradReq::write);
  CHECK(bn.running_mean()->grad_req() == GradReq::null);
  CHECK(bn.running_var()->grad_req() == GradReq::null);
  CHECK(repr(bn) ==
        "BatchNorm(axis=1, eps=1e-05, momentum=0.9, fix_gamma=False, use_global_stats=False, in_channels=None)");
  bn.initialize();
  CHECK(bn.gamma()->is_deferred());
  CHECK(bn(nd::random::uniform<float>({2, 3, 4, 4})).shape() == Shape{2, 3, 4, 4});
  for (const auto& [name, p] : bn.params()) CHECK(p->shape() == Shape{3});
  CHECK(bn.in_channels() == 3);
  CHECK(bn.gamma()->data().to_vector() == std::vector<float>{1, 1, 1});
  CHECK(bn.beta()->data().to_vector() == std::vector<float>{0, 0, 0});
  CHECK(repr(bn) ==
        "BatchNorm(axis=1, eps=1e-05, momentum=0.9, fix_gamma=False, use_global_stats=False, in_channels=3)");
  CHECK(repr(nn::BatchNorm{{.momentum = 0.99, .epsilon = 0.001, .scale = false, .use_global_stats = true}}) ==
        "BatchNorm(axis=1, eps=0.001, momentum=0.99, fix_gamma=True, use_global_stats=True, in_channels=None)");
}
TEST_CASE("train mode: batch statistics, running statistics updated; predict mode: running statistics, unchanged") {
  nn::BatchNorm bn{{.in_channels = 2}};
  bn.initialize();
  CHECK_FALSE(bn.gamma()->is_deferred());
  // Channel 0: 1, 3 (mean 2, biased var 1); channel 1: 2, 6 (mean 4, var 4).
  const auto x = nd::array<float>({1, 2, 3, 6}, {2, 2});
  // Predict mode (the default outside record): running statistics 0 and 1, nothing updated.
  const float s = 1.0f / std::sqrt(1.0f + 1e-5f);
  check_close(bn(x).to_vector(), {1 * s, 2 * s, 3 * s, 6 * s});
  CHECK(bn.running_mean()->data().to_vector() == std::vector<float>{0, 0});
  CHECK(bn.running_var()->data().to_vector() == std::vector<float>{1, 1});
  NDArray<float> y;
  {
    autograd::record rec;  // train mode
    y = bn(x);
  }
  const float a = 1.0f / std::sqrt(1.0f + 1e-5f), b = 2.0f / std::sqrt(4.0f + 1e-5f);
  check_close(y.to_vector(), {-a, -b, a, b});
  // running = 0.9 running + 0.1 batch
  check_close(bn.running_mean()->data().to_vector(), {0.2f, 0.4f});
  check_close(bn.running_var()->data().to_vector(), {1.0f, 1.3f});
  {
    autograd::train_mode tm;  // train mode without recording updates them too
    bn(x);
  }
  check_close(bn.running_mean()->data().to_vector(), {0.38f, 0.76f});
  // Predict mode now normalises with the running statistics.
  const auto rm = bn.running_mean()->data().to_vector(), rv = bn.running_var()->data().to_vector();
  const auto p = bn(x).to_vector();
  CHECK(p[0] == doctest::Approx((1 - rm[0]) / std::sqrt(rv[0] + 1e-5f)));
  CHECK(p[3] == doctest::Approx((6 - rm[1]) / std::sqrt(rv[1] + 1e-5f)));
  CHECK(bn.running_mean()->data().to_vector() == rm);
}
TEST_CASE("forward equals nd::batch_norm with the same parameters, in both modes") {
  nn::BatchNorm bn{{.momentum = 0.8, .epsilon = 1e-3}};
  bn.initialize();
  const auto x = nd::random::uniform<float>({4, 3, 2, 2}, -2.0f, 2.0f);
  bn(x);
  bn.gamma()->set_data(nd::array<float>({0.5f, 2.0f, -1.0f}));
  bn.beta()->set_data(nd::array<float>({1.0f, 0.0f, -3.0f}));
  for (bool train : {false, true}) {
    CAPTURE(train);
    auto rm = bn.running_mean()->data().copy(), rv = bn.running_var()->data().copy();
    autograd::pause mode(train);
    const auto ref = nd::batch_norm(x, bn.gamma()->data(), bn.beta()->data(), rm, rv, {.eps = 1e-3, .momentum = 0.8});
    CHECK(bn(x).to_vector() == ref.to_vector());
    CHECK(bn.running_mean()->data().to_vector() == rm.to_vector());
    CHECK(bn.running_var()->data().to_vector() == rv.to_vector());
  }
}
TEST_CASE("use_global_stats: running statistics in train mode too, and never updated") {
  nn::BatchNorm bn{{.use_global_stats = true, .in_channels = 2}};
  bn.initialize();
  bn.running_mean()->set_data(nd::array<float>({1, 2}));
  bn.running_var()->set_data(nd::array<float>({4, 9}));
  autograd::record rec;
  const auto y = bn(nd::array<float>({3, 5, 5, 8}, {2, 2}));
  check_close(y.to_vector(), {2 / std::sqrt(4 + 1e-5f), 3 / std::sqrt(9 + 1e-5f), 4 / std::sqrt(4 + 1e-5f),
                              6 / std::sqrt(9 + 1e-5f)});
  CHECK(bn.running_mean()->data().to_vector() == std::vector<float>{1, 2});
  CHECK(bn.running_var()->data().to_vector() == std::vector<float>{4, 9});
}
TEST_CASE("center=false: beta stays 0 (grad_req null); scale=false: gamma fixed to 1 (grad_req null)") {
  nn::BatchNorm bn{{.center = false, .scale = false, .in_channels = 2}};
  bn.initialize();
  CHECK(bn.params().size() == 4);  // as Gluon, the parameters exist
  CHECK(bn.gamma()->grad_req() == GradReq::null);
  CHECK(bn.beta()->grad_req() == GradReq::null);
  bn.gamma()->set_data(nd::array<float>({5, 5}));  // ignored: fix_gamma
  autograd::record rec;
  const auto y = bn(nd::array<float>({1, 2, 3, 6}, {2, 2}));
  const float a = 1.0f / std::sqrt(1.0f + 1e-5f), b = 2.0f / std::sqrt(4.0f + 1e-5f);
  check_close(y.to_vector(), {-a, -b, a, b});
}
TEST_CASE("axis: the last axis of (N, C) inputs, given channels") {
  nn::BatchNorm bn{{.axis = -1, .in_channels = 3}};
  bn.initialize();
  CHECK(bn(nd::zeros<float>({5, 3})).shape() == Shape{5, 3});
  nn::BatchNorm hw{{.axis = 3}};
  hw.initialize();
  hw(nd::zeros<float>({2, 4, 4, 6}));
  CHECK(hw.gamma()->shape() == Shape{6});
}
TEST_CASE("initialization: own initializers win (Gluon's defaults); force_reinit resets the running statistics") {
  nn::BatchNorm bn{{.in_channels = 2}};
  bn.initialize(init::Constant{7});
  CHECK(bn.gamma()->data().to_vector() == std::vector<float>{1, 1});
  {
    autograd::record rec;
    bn(nd::array<float>({1, 2, 3, 6}, {2, 2}));
  }
  CHECK(bn.running_mean()->data().to_vector() != std::vector<float>{0, 0});
  bn.initialize(init::Uniform{}, {.force_reinit = true});
  CHECK(bn.running_mean()->data().to_vector() == std::vector<float>{0, 0});
  CHECK(bn.running_var()->data().to_vector() == std::vector<float>{1, 1});
  // Without own initializers the global one decides by the names' suffixes.
  nn::BatchNorm g{{.beta_initializer = {}, .gamma_initializer = {}, .running_mean_initializer = {},
                   .running_variance_initializer = {}, .in_channels = 2}};
  g.initialize(init::Constant{7});
  CHECK(g.gamma()->data().to_vector() == std::vector<float>{1, 1});
  CHECK(g.running_var()->data().to_vector() == std::vector<float>{1, 1});
  nn::BatchNorm c{{.gamma_initializer = init::Constant{3}, .in_channels = 2}};
  c.initialize();
  CHECK(c.gamma()->data().to_vector() == std::vector<float>{3, 3});
}
TEST_CASE("gradients of x, gamma and beta match central differences (double)") {
  SUBCASE("batch statistics (train mode)") {
    nn::BasicBatchNorm<double> bn;
    bn.initialize();
    auto x = rand_array({3, 2, 2, 2});
    bn(x);
    bn.gamma()->set_data(rand_array({2}, 5, 0.5, 1.5));
    bn.beta()->set_data(rand_array({2}, 6));
    CHECK(gradcheck([&](const V& in) { return bn(in[0]); }, {x, bn.gamma()->data(), bn.beta()->data()}));
  }
  SUBCASE("use_global_stats, axis -1") {
    nn::BasicBatchNorm<double> bn{{.axis = -1, .use_global_stats = true, .in_channels = 3}};
    bn.initialize();
    bn.running_mean()->set_data(rand_array({3}, 8));
    bn.running_var()->set_data(rand_array({3}, 9, 0.5, 2.0));
    CHECK(gradcheck([&](const V& in) { return bn(in[0]); }, {rand_array({4, 3}), bn.gamma()->data(),
                                                             bn.beta()->data()}));
  }
}
TEST_CASE("errors: channel mismatch naming the prefix and shapes, axis, epsilon, momentum") {
  nn::reset_name_counters();
  CHECK_THROWS_WITH_AS(nn::BatchNorm({.epsilon = 0}), doctest::Contains("BatchNorm: epsilon must be > 0"), ValueError);
  CHECK_THROWS_WITH_AS(nn::BatchNorm({.momentum = 1.5}), doctest::Contains("BatchNorm: momentum"), ValueError);
  nn::reset_name_counters();  // the failed constructions above took numbers, as in Gluon
  nn::BatchNorm bn{{.in_channels = 3}};
  bn.initialize();
  CHECK_THROWS_WITH_AS(bn(nd::zeros<float>({2, 4})),
                       doctest::Contains("batchnorm0_: input of shape (2, 4) has 4 channels along axis 1"), ShapeError);
  CHECK_THROWS_WITH_AS(bn(nd::zeros<float>({2, 4})), doctest::Contains("(3,)"), ShapeError);
  nn::BatchNorm ax{{.axis = 2}};
  ax.initialize();
  CHECK_THROWS_WITH_AS(ax(nd::zeros<float>({2, 4})), doctest::Contains("batchnorm1_: axis 2 out of range"), ShapeError);
  nn::BatchNorm u;
  CHECK_THROWS_WITH_AS(u(nd::zeros<float>({2, 4})), doctest::Contains("call initialize()"), StateError);
}
TEST_CASE("errors: epsilon and momentum must be finite numbers in range; in_channels not negative") {
  const double nan = std::nan(""), inf = std::numeric_limits<double>::infinity();
  CHECK_THROWS_WITH_AS(nn::BatchNorm({.epsilon = nan}), doctest::Contains("BatchNorm: epsilon must be > 0 and finite, got nan"),
                       ValueError);
  CHECK_THROWS_WITH_AS(nn::BatchNorm({.epsilon = inf}), doctest::Contains("BatchNorm: epsilon"), ValueError);
  CHECK_THROWS_WITH_AS(nn::BatchNorm({.epsilon = -1e-5}), doctest::Contains("BatchNorm: epsilon"), ValueError);
  CHECK_THROWS_WITH_AS(nn::BatchNorm({.momentum = nan}), doctest::Contains("BatchNorm: momentum must be in [0, 1]"), ValueError);
  CHECK_THROWS_WITH_AS(nn::BatchNorm({.momentum = -0.1}), doctest::Contains("BatchNorm: momentum"), ValueError);
  CHECK_THROWS_WITH_AS(nn::BatchNorm({.in_channels = static_cast<std::size_t>(-1)}),
                       doctest::Contains("BatchNorm: in_channels must be >= 0 and at most 2^40, got -1"), ValueError);
  CHECK_NOTHROW(nn::BatchNorm({.momentum = 0.0}));
  CHECK_NOTHROW(nn::BatchNorm({.momentum = 1.0}));
}
// A naive reference: the batch statistics of channel c along `axis` of x, in double, the
// outputs y = gamma (x - mean) / sqrt(var + eps) + beta, and MXNet's running update.
namespace {
struct NaiveBatchNorm {
  std::vector<double> mean, var;  // running statistics
  void step(const NDArray<double>& x, std::size_t axis, double momentum, double eps, const std::vector<double>& gamma,
            const std::vector<double>& beta, std::vector<double>& y) {
    const Shape& s = x.shape();
    const std::size_t C = s[axis];
    std::size_t inner = 1;
    for (std::size_t d = axis + 1; d < s.ndim(); ++d) inner *= s[d];
    std::vector<double> sum(C, 0.0), sq(C, 0.0);
    const double m = static_cast<double>(x.size() / C);
    for (std::size_t i = 0; i < x.size(); ++i) sum[i / inner % C] += x.data()[i];
    for (std::size_t c = 0; c < C; ++c) sum[c] /= m;
    for (std::size_t i = 0; i < x.size(); ++i) {
      const double d = x.data()[i] - sum[i / inner % C];
      sq[i / inner % C] += d * d / m;
    }
    y.resize(x.size());
    for (std::size_t i = 0; i < x.size(); ++i) {
      const std::size_t c = i / inner % C;
      y[i] = gamma[c] * (x.data()[i] - sum[c]) / std::sqrt(sq[c] + eps) + beta[c];
    }
    for (std::size_t c = 0; c < C; ++c) {
      mean[c] = momentum * mean[c] + (1 - momentum) * sum[c];
      var[c] = momentum * var[c] + (1 - momentum) * sq[c];
    }
  }
};
}  // namespace

TEST_CASE("running statistics over several steps, any axis and momentum, match a naive loop (double)") {
  struct Case {
    Shape shape;
    int axis;
    double momentum;
  };
  for (const Case& k : {Case{{4, 3, 2, 2}, 1, 0.9}, Case{{5, 2, 3}, -1, 0.7}, Case{{3, 4}, 0, 0.5},
                        Case{{1, 3}, 1, 0.9} /* a batch of one: variance 0, y = beta */, Case{{6, 2}, 1, 0.0},
                        Case{{6, 2}, 1, 1.0} /* momentum 1: never updated */}) {
    CAPTURE(k.shape);
    CAPTURE(k.axis);
    CAPTURE(k.momentum);
    nn::BasicBatchNorm<double> bn{{.axis = k.axis, .momentum = k.momentum, .epsilon = 1e-3}};
    bn.initialize();
    const std::size_t axis = k.shape.normalize_axis(k.axis), C = k.shape[axis];
    bn(nd::zeros<double>(k.shape));  // predict mode: infers C, changes nothing
    bn.gamma()->set_data(rand_array({C}, 3, 0.5, 1.5));
    bn.beta()->set_data(rand_array({C}, 4));
    NaiveBatchNorm ref{std::vector<double>(C, 0.0), std::vector<double>(C, 1.0)};
    for (int step = 0; step < 4; ++step) {
      CAPTURE(step);
      const auto x = rand_array(k.shape, 10 + static_cast<std::uint64_t>(step), -2.0 + step, 3.0 + 2.0 * step);
      NDArray<double> y;
      {
        autograd::record rec;
        y = bn(x);
      }
      std::vector<double> want;
      ref.step(x, axis, k.momentum, 1e-3, bn.gamma()->data().to_vector(), bn.beta()->data().to_vector(), want);
      const auto got = y.to_vector();
      for (std::size_t i = 0; i < want.size(); ++i) CHECK(got[i] == doctest::Approx(want[i]).epsilon(1e-9));
      const auto rm = bn.running_mean()->data().to_vector(), rv = bn.running_var()->data().to_vector();
      for (std::size_t c = 0; c < C; ++c) {
        CHECK(rm[c] == doctest::Approx(ref.mean[c]).epsilon(1e-12));
        CHECK(rv[c] == doctest::Approx(ref.var[c]).epsilon(1e-12));
      }
    }
  }
}

TEST_CASE("BatchNorm: the running statistics' update counts as an in-place change") {
  nn::BatchNorm bn;
  bn.initialize();
  const auto x = nd::random::uniform<float>({4, 3});
  { autograd::predict_mode predict; bn(x); }  // initialized; predict mode reads the statistics
  const auto mean0 = bn.running_mean()->data().version(), var0 = bn.running_var()->data().version();
  { autograd::predict_mode predict; bn(x); }
  CHECK(bn.running_mean()->data().version() == mean0);
  auto w = nd::ones<float>({3});
  w.attach_grad();
  {
    autograd::record rec;
    auto loss = (bn.running_mean()->data() * w).sum();  // the product saves running_mean for w's gradient
    bn(x);                                                // train mode: running_mean changes in place
    CHECK(bn.running_mean()->data().version() > mean0);
    CHECK(bn.running_var()->data().version() > var0);
    CHECK_THROWS_WITH_AS(loss.backward(), doctest::Contains("modified by an in-place operation"), StateError);
  }
  nn::BatchNorm global({.use_global_stats = true});
  global.initialize();
  { autograd::predict_mode predict; global(x); }
  const auto before = global.running_mean()->data().version();
  {
    autograd::record rec;  // normalises with the running statistics and leaves them as they are
    global(x);
  }
  CHECK(global.running_mean()->data().version() == before);
}
}
