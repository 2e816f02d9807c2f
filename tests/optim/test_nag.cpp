// SPDX-License-Identifier: Apache-2.0
#include <gluino/optim/nag.hpp>

#include <doctest/doctest.h>

#include "support/optimizer_references.hpp"
#include "support/optimizer_steps.hpp"

#include <algorithm>
#include <gluino/nd/creation.hpp>

using namespace gluino;

using gluino::test::clip;
using gluino::test::grads;

TEST_SUITE("optim/nag") {
TEST_CASE("momentum, wd, rescale, clipping, multipliers: three steps by hand") {
  const double lr = 0.1, mom = 0.9, wd = 0.05, rescale = 2, c = 1.5, lr_mult = 0.5, wd_mult = 2;
  optim::BasicNAG<double> opt({.learning_rate = lr, .momentum = mom, .wd = wd, .rescale_grad = rescale, .clip_gradient = c});
  auto w = nd::array<double>({1.0, -1.0, 0.5});
  std::vector<double> ew = {1.0, -1.0, 0.5}, em = {0, 0, 0};
  for (int step = 0; step < 3; ++step) {
    opt.update(0, w, nd::array<double>(grads[step]), lr_mult, wd_mult);
    for (int i = 0; i < 3; ++i) {
      // g = clip(rescale * grad) + wd * w; mom = momentum * mom - lr * g; w += momentum * mom - lr * g
      const double l = lr * lr_mult, g = clip(rescale * grads[step][i], c) + wd * wd_mult * ew[i];
      em[i] = mom * em[i] - l * g;
      ew[i] += mom * em[i] - l * g;
      CHECK(w.at(i) == doctest::Approx(ew[i]).epsilon(1e-12));
      CHECK(opt.state(0)[0].at(i) == doctest::Approx(em[i]).epsilon(1e-12));
    }
  }
}
TEST_CASE("no momentum: plain SGD step w -= lr * (g + wd * w)") {
  optim::BasicNAG<double> opt({.learning_rate = 0.1, .wd = 0.1});
  auto w = nd::array<double>({1.0, -1.0, 0.5});
  opt.update(0, w, nd::array<double>(grads[0]));
  CHECK(w.at(0) == doctest::Approx(1.0 - 0.1 * (0.5 + 0.1)));
  CHECK(opt.state(0).empty());
}
TEST_CASE("5 steps match torch.optim or MXNet's rule in NumPy, options at their edges (optimizers.json)") {
  CHECK(test::check_optimizer_references("nag") == 3);
}
}
