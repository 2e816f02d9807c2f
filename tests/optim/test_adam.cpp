// SPDX-License-Identifier: Apache-2.0
#include <gluino/optim/adam.hpp>

#include <doctest/doctest.h>

#include "support/optimizer_references.hpp"
#include "support/optimizer_steps.hpp"

#include <algorithm>
#include <cmath>
#include <gluino/nd/creation.hpp>

using namespace gluino;

using gluino::test::clip;
using gluino::test::grads;

TEST_SUITE("optim/adam") {
TEST_CASE("bias-corrected rate, wd inside the clip, multipliers: three steps by hand") {
  const double lr = 0.01, b1 = 0.9, b2 = 0.999, eps = 1e-8, wd = 0.1, rescale = 0.5, c = 1.2, lr_mult = 3, wd_mult = 0.5;
  optim::BasicAdam<double> opt({.learning_rate = lr, .wd = wd, .rescale_grad = rescale, .clip_gradient = c});
  auto w = nd::array<double>({1.0, -1.0, 0.5});
  std::vector<double> ew = {1.0, -1.0, 0.5}, m = {0, 0, 0}, v = {0, 0, 0};
  for (int t = 1; t <= 3; ++t) {
    opt.update(4, w, nd::array<double>(grads[t - 1]), lr_mult, wd_mult);
    const double lr_t = lr * lr_mult * std::sqrt(1 - std::pow(b2, t)) / (1 - std::pow(b1, t));
    for (int i = 0; i < 3; ++i) {
      const double g = clip(rescale * grads[t - 1][i] + wd * wd_mult * ew[i], c);
      m[i] = b1 * m[i] + (1 - b1) * g;
      v[i] = b2 * v[i] + (1 - b2) * g * g;
      ew[i] -= lr_t * m[i] / (std::sqrt(v[i]) + eps);
      CHECK(w.at(i) == doctest::Approx(ew[i]).epsilon(1e-12));
      CHECK(opt.state(4)[0].at(i) == doctest::Approx(m[i]).epsilon(1e-12));
      CHECK(opt.state(4)[1].at(i) == doctest::Approx(v[i]).epsilon(1e-12));
    }
  }
  CHECK(opt.index_update_count().at(4) == 3);
}
TEST_CASE("defaults as Gluon; bad betas") {
  optim::Adam opt;
  CHECK(opt.learning_rate() == 0.001);
  CHECK(opt.state_names() == std::vector<std::string>{"mean", "var"});
  CHECK_THROWS_WITH_AS(optim::Adam({.beta1 = 1.0}), doctest::Contains("beta1"), ValueError);
}
TEST_CASE("5 steps match torch.optim or MXNet's rule in NumPy, options at their edges (optimizers.json)") {
  CHECK(test::check_optimizer_references("adam") == 3);
}
}
