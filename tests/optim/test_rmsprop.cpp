// SPDX-License-Identifier: Apache-2.0
#include <gluino/optim/rmsprop.hpp>

#include <doctest/doctest.h>

#include "support/optimizer_references.hpp"
#include "support/optimizer_steps.hpp"

#include <algorithm>
#include <cmath>
#include <gluino/nd/creation.hpp>

using namespace gluino;

using gluino::test::clip;
using gluino::test::grads;

TEST_SUITE("optim/rmsprop") {
TEST_CASE("plain: three steps by hand, with wd, rescale, clipping and multipliers") {
  const double lr = 0.01, g1 = 0.9, eps = 1e-8, wd = 0.1, rescale = 0.5, c = 1.2, lr_mult = 2, wd_mult = 3;
  optim::BasicRMSProp<double> opt({.learning_rate = lr, .wd = wd, .rescale_grad = rescale, .clip_gradient = c});
  auto w = nd::array<double>({1.0, -1.0, 0.5});
  std::vector<double> ew = {1.0, -1.0, 0.5}, n = {0, 0, 0};
  for (int t = 0; t < 3; ++t) {
    opt.update(0, w, nd::array<double>(grads[t]), lr_mult, wd_mult);
    for (int i = 0; i < 3; ++i) {
      const double g = clip(rescale * grads[t][i] + wd * wd_mult * ew[i], c);
      n[i] = (1 - g1) * g * g + g1 * n[i];
      ew[i] -= lr * lr_mult * g / std::sqrt(n[i] + eps);
      CHECK(w.at(i) == doctest::Approx(ew[i]).epsilon(1e-12));
      CHECK(opt.state(0)[0].at(i) == doctest::Approx(n[i]).epsilon(1e-12));
    }
  }
}
TEST_CASE("centered, with clip_weights: three steps by hand") {
  const double lr = 0.05, g1 = 0.8, g2 = 0.7, eps = 1e-6, cw = 1.02;
  optim::BasicRMSProp<double> opt({.learning_rate = lr, .gamma1 = g1, .gamma2 = g2, .epsilon = eps, .centered = true,
                                   .clip_weights = cw});
  CHECK(opt.state_names() == std::vector<std::string>{"n", "g", "delta"});
  auto w = nd::array<double>({1.0, -1.0, 0.5});
  std::vector<double> ew = {1.0, -1.0, 0.5}, n = {0, 0, 0}, gm = {0, 0, 0}, d = {0, 0, 0};
  for (int t = 0; t < 3; ++t) {
    opt.update(0, w, nd::array<double>(grads[t]));
    for (int i = 0; i < 3; ++i) {
      const double g = grads[t][i];
      n[i] = (1 - g1) * g * g + g1 * n[i];
      gm[i] = (1 - g1) * g + g1 * gm[i];
      d[i] = g2 * d[i] - lr * g / std::sqrt(n[i] - gm[i] * gm[i] + eps);
      ew[i] = std::clamp(ew[i] + d[i], -cw, cw);
      CHECK(w.at(i) == doctest::Approx(ew[i]).epsilon(1e-12));
      CHECK(opt.state(0)[2].at(i) == doctest::Approx(d[i]).epsilon(1e-12));
    }
  }
}
TEST_CASE("defaults as Gluon") {
  optim::RMSProp opt;
  CHECK(opt.learning_rate() == 0.001);
  CHECK_FALSE(opt.centered());
}
TEST_CASE("5 steps match torch.optim or MXNet's rule in NumPy, options at their edges (optimizers.json)") {
  CHECK(test::check_optimizer_references("rmsprop") == 3);
}
}
