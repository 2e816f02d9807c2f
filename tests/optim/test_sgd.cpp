// SPDX-License-Identifier: Apache-2.0
#include <gluino/optim/sgd.hpp>

#include <doctest/doctest.h>

#include "support/optimizer_references.hpp"
#include "support/optimizer_steps.hpp"

#include <algorithm>
#include <gluino/nd/creation.hpp>

using namespace gluino;

using gluino::test::clip;
using gluino::test::grads;

TEST_SUITE("optim/sgd") {
TEST_CASE("momentum, wd, rescale, clipping, lr_mult and wd_mult: three steps by hand") {
  const double lr = 0.1, mom = 0.9, wd = 0.01, rescale = 0.5, c = 0.6, lr_mult = 2, wd_mult = 3;
  optim::BasicSGD<double> opt({.learning_rate = lr, .momentum = mom, .wd = wd, .rescale_grad = rescale, .clip_gradient = c});
  auto w = nd::array<double>({1.0, -1.0, 0.5});
  const double* before = w.data();
  std::vector<double> ew = {1.0, -1.0, 0.5}, em = {0, 0, 0};
  for (int step = 0; step < 3; ++step) {
    opt.update(0, w, nd::array<double>(grads[step]), lr_mult, wd_mult);
    for (int i = 0; i < 3; ++i) {
      // mom = momentum * mom - lr * wd * w - lr * clip(rescale * g); w += mom
      em[i] = mom * em[i] - (lr * lr_mult) * (wd * wd_mult) * ew[i] - (lr * lr_mult) * clip(rescale * grads[step][i], c);
      ew[i] += em[i];
      CHECK(w.at(i) == doctest::Approx(ew[i]).epsilon(1e-12));
      CHECK(opt.state(0)[0].at(i) == doctest::Approx(em[i]).epsilon(1e-12));
    }
  }
  CHECK(w.data() == before);  // updated in place
  CHECK(opt.num_update() == 3);
}
TEST_CASE("no momentum: w = (1 - lr * wd) * w - lr * g, no state") {
  const double lr = 0.2, wd = 0.1;
  optim::BasicSGD<double> opt({.learning_rate = lr, .wd = wd});
  CHECK(opt.state_names().empty());
  auto w = nd::array<double>({1.0, -1.0, 0.5});
  std::vector<double> ew = {1.0, -1.0, 0.5};
  for (int step = 0; step < 3; ++step) {
    opt.update(7, w, nd::array<double>(grads[step]));
    for (int i = 0; i < 3; ++i) {
      ew[i] = (1 - lr * wd) * ew[i] - lr * grads[step][i];
      CHECK(w.at(i) == doctest::Approx(ew[i]).epsilon(1e-12));
    }
  }
  CHECK(opt.state(7).empty());
}
TEST_CASE("float alias and defaults as Gluon") {
  optim::SGD opt;
  CHECK(opt.learning_rate() == 0.01);
  CHECK(opt.momentum() == 0);
  CHECK(opt.wd() == 0);
  CHECK(opt.clip_gradient() < 0);
  CHECK(opt.name() == "sgd");
}
TEST_CASE("5 steps match torch.optim or MXNet's rule in NumPy, options at their edges (optimizers.json)") {
  CHECK(test::check_optimizer_references("sgd") == 5);
}
}
