// SPDX-License-Identifier: Apache-2.0
#include <gluino/nd/norm_grad.hpp>

#include <doctest/doctest.h>

#include <gluino/autograd/grad.hpp>
#include <gluino/autograd/mode.hpp>
#include <gluino/nd/batch_norm.hpp>
#include <gluino/nd/elementwise.hpp>
#include <gluino/nd/layer_norm.hpp>
#include "support/gradcheck.hpp"
#include "support/hessian_check.hpp"

#include <vector>

using namespace gluino;
using test::hessian_check;
using test::rand_array;
using V = std::vector<NDArray<double>>;

namespace {
/// batch_norm of v = {x, gamma, beta} with fresh running statistics (mean 0.1, variance 1.5),
/// in train mode (batch statistics) or predict mode (the running ones), passed through tanh so
/// that every input has a second derivative.
auto bn(nd::BatchNormOptions opt, bool train) {
  return [opt, train](const V& v) {
    const std::size_t c = v[1].size();
    auto rm = NDArray<double>(Shape{c}).fill(0.1), rv = NDArray<double>(Shape{c}).fill(1.5);
    const auto run = [&] { return nd::tanh(nd::batch_norm(v[0], v[1], v[2], rm, rv, opt)); };
    if (train) {
      autograd::train_mode mode;  // hessian_check records: keep recording, set the mode
      return run();
    }
    autograd::predict_mode mode;
    return run();
  };
}
}  // namespace

TEST_SUITE("nd/norm_grad") {

TEST_CASE("norm_grad: batch_norm's create_graph gradients match finite differences of its gradients (double)") {
  const V in{rand_array({3, 2, 2, 2}, 1), rand_array({2}, 2, 0.5, 1.5), rand_array({2}, 3)};
  SUBCASE("train mode: batch statistics") { CHECK(hessian_check(bn({}, true), in)); }
  SUBCASE("predict mode: running statistics") { CHECK(hessian_check(bn({}, false), in)); }
  SUBCASE("use_global_stats in train mode") { CHECK(hessian_check(bn({.use_global_stats = true}, true), in)); }
  SUBCASE("fix_gamma: gamma's gradient stays 0") { CHECK(hessian_check(bn({.fix_gamma = true}, true), in)); }
  SUBCASE("channels last, 2-D input") {
    CHECK(hessian_check(bn({.axis = -1}, true), {rand_array({4, 3}, 4), rand_array({3}, 5, 0.5, 1.5), rand_array({3}, 6)}));
  }
}

TEST_CASE("norm_grad: batch_norm with fix_gamma gives gamma zero gradients under create_graph") {
  auto x = rand_array({3, 2}, 7), gamma = rand_array({2}, 8), beta = rand_array({2}, 9);
  for (auto* a : {&x, &gamma, &beta}) a->attach_grad();
  autograd::record rec;
  const auto y = nd::batch_norm(x, gamma, beta, NDArray<double>(Shape{2}).fill(0.0),
                                NDArray<double>(Shape{2}).fill(1.0), {.fix_gamma = true});
  const auto g = autograd::grad(nd::sum(nd::square(y) * x), {gamma}, {.create_graph = true})[0];
  CHECK(g.to_vector() == std::vector<double>{0, 0});
}

TEST_CASE("norm_grad: layer, instance and group norm's create_graph gradients match finite differences (double)") {
  SUBCASE("layer_norm over the last axis and over axis 1") {
    CHECK(hessian_check([](const V& v) { return nd::tanh(nd::layer_norm(v[0], v[1], v[2])); },
                        {rand_array({2, 3, 4}, 10), rand_array({4}, 11, 0.5, 1.5), rand_array({4}, 12)}));
    CHECK(hessian_check([](const V& v) { return nd::tanh(nd::layer_norm(v[0], v[1], v[2], 1)); },
                        {rand_array({2, 3, 2}, 13), rand_array({3}, 14, 0.5, 1.5), rand_array({3}, 15)}));
  }
  SUBCASE("instance_norm") {
    CHECK(hessian_check([](const V& v) { return nd::tanh(nd::instance_norm(v[0], v[1], v[2])); },
                        {rand_array({2, 3, 4}, 16), rand_array({3}, 17, 0.5, 1.5), rand_array({3}, 18)}));
  }
  SUBCASE("group_norm") {
    CHECK(hessian_check([](const V& v) { return nd::tanh(nd::group_norm(v[0], v[1], v[2], 2)); },
                        {rand_array({2, 4, 3}, 19), rand_array({2}, 20, 0.5, 1.5), rand_array({2}, 21)}));
  }
}

}  // TEST_SUITE
