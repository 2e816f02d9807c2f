// SPDX-License-Identifier: Apache-2.0
#include <gluino/nn/dense.hpp>

#include <doctest/doctest.h>

#include <sstream>

#include <gluino/init/xavier.hpp>
#include <gluino/nd/creation.hpp>
#include <gluino/nd/random.hpp>
#include "support/gradcheck.hpp"
#include "support/repr.hpp"

using namespace gluino;
using test::repr;
using test::gradcheck;
using test::rand_array;
using V = std::vector<NDArray<double>>;

TEST_SUITE("nn/dense") {
TEST_CASE("parameters: names, shapes, deferred in_units") {
  nn::reset_name_counters();
  nn::Dense d{256, {.activation = "relu"}};
  CHECK(d.prefix() == "dense0_");
  CHECK(d.params().keys() == std::vector<std::string>{"dense0_weight", "dense0_bias"});
  CHECK(d.weight()->shape() == Shape{256, 0});
  CHECK(d.bias()->shape() == Shape{256});
  CHECK(repr(d) == "Dense(None -> 256, Activation(relu))");
  d.initialize();
  CHECK(d.weight()->is_deferred());
  CHECK(d(nd::zeros<float>({3, 20})).shape() == Shape{3, 256});
  CHECK(d.weight()->shape() == Shape{256, 20});
  CHECK(d.in_units() == 20);
  CHECK(repr(d) == "Dense(20 -> 256, Activation(relu))");
  nn::Dense lin{4, {.in_units = 4}};
  CHECK(repr(lin) == "Dense(4 -> 4, linear)");
  nn::Dense nobias{3, {.use_bias = false}};
  CHECK(nobias.bias() == nullptr);
  CHECK(nobias.params().size() == 1);
}
TEST_CASE("forward equals x W^T + b, by hand") {
  nn::Dense d{2, {.in_units = 3}};
  d.initialize();
  d.weight()->set_data(nd::array<float>({1, 2, 3, 4, 5, 6}, {2, 3}));
  d.bias()->set_data(nd::array<float>({10, -10}));
  auto y = d(nd::array<float>({1, 0, -1, 2, 1, 0}, {2, 3}));
  // row 0: (1*1 + 2*0 + 3*-1) + 10 = 8, (4 - 6) - 10 = -12; row 1: (2 + 2) + 10 = 14, (8 + 5) - 10 = 3
  CHECK(y.to_vector() == std::vector<float>{8, -12, 14, 3});
  nn::Dense r{2, {.activation = "relu", .in_units = 3}};
  r.initialize();
  r.weight()->set_data(d.weight()->data());
  r.bias()->set_data(d.bias()->data());
  CHECK(r(nd::array<float>({1, 0, -1, 2, 1, 0}, {2, 3})).to_vector() == std::vector<float>{8, 0, 14, 3});
}
TEST_CASE("flatten: (N, 2, 3) inputs use 6 features; flatten=false keeps the leading axes") {
  nn::Dense f{4};
  f.initialize();
  CHECK(f(nd::zeros<float>({5, 2, 3})).shape() == Shape{5, 4});
  CHECK(f.weight()->shape() == Shape{4, 6});
  nn::Dense nf{4, {.flatten = false}};
  nf.initialize();
  CHECK(nf(nd::zeros<float>({5, 2, 3})).shape() == Shape{5, 2, 4});
  CHECK(nf.weight()->shape() == Shape{4, 3});
}
TEST_CASE("gradients of x, weight and bias match central differences (double)") {
  for (const char* act : {"", "tanh", "softrelu"}) {
    for (bool flatten : {true, false}) {
      CAPTURE(act);
      CAPTURE(flatten);
      nn::BasicDense<double> d{3, {.activation = act, .flatten = flatten}};
      d.initialize(init::Xavier{});
      auto x = rand_array({2, 2, 4});
      d(x);  // finish the deferred initialization
      CHECK(gradcheck([&](const V& in) { return d(in[0]); }, {x, d.weight()->data(), d.bias()->data()}));
    }
  }
  nn::BasicDense<double> nobias{2, {.use_bias = false, .in_units = 3}};
  nobias.initialize();
  CHECK(gradcheck([&](const V& in) { return nobias(in[0]); }, {rand_array({4, 3}), nobias.weight()->data()}));
}
TEST_CASE("initializers: weight_initializer and bias_initializer override the global one") {
  nn::Dense d{3, {.weight_initializer = init::Constant{0.5}, .bias_initializer = init::One{}, .in_units = 2}};
  d.initialize(init::Xavier{});
  CHECK(d.weight()->data().to_vector() == std::vector<float>(6, 0.5f));
  CHECK(d.bias()->data().to_vector() == std::vector<float>(3, 1.0f));
  nn::Dense z{3, {.in_units = 2}};
  z.initialize(init::Constant{7});
  CHECK(z.weight()->data().to_vector() == std::vector<float>(6, 7.0f));
  CHECK(z.bias()->data().to_vector() == std::vector<float>(3, 0.0f));  // bias: 'zeros' by default
}
TEST_CASE("errors: units, activation, input mismatch (prefix and shapes), rank") {
  nn::reset_name_counters();
  CHECK_THROWS_WITH_AS(nn::Dense{0}, doctest::Contains("units must be > 0"), ValueError);
  CHECK_THROWS_WITH_AS((nn::Dense{2, {.activation = "gelu"}}), doctest::Contains("'gelu'"), ValueError);
  nn::reset_name_counters();  // the failed constructions above took numbers, as in Gluon
  nn::Dense d{2, {.in_units = 3}};
  d.initialize();
  CHECK_THROWS_WITH_AS(d(nd::zeros<float>({4, 5})), doctest::Contains("dense0_: input of shape (4, 5)"), ShapeError);
  CHECK_THROWS_WITH_AS(d(nd::zeros<float>({4, 5})), doctest::Contains("(2, 3)"), ShapeError);
  CHECK_THROWS_WITH_AS(d(nd::zeros<float>({})), doctest::Contains("dense0_"), ShapeError);
  nn::Dense u{2};
  CHECK_THROWS_WITH_AS(u(nd::zeros<float>({1, 3})), doctest::Contains("call initialize()"), StateError);
}
TEST_CASE("errors: a weight or bias too large to allocate is a ValueError, never an allocation") {
  nn::reset_name_counters();
  CHECK_THROWS_WITH_AS(nn::Dense{std::size_t(-1)}, doctest::Contains("Dense: units = 18446744073709551615 is too large"),
                       ValueError);
  CHECK_THROWS_AS(nn::Dense{std::size_t(1) << 62}, ValueError);             // a bias of 2^64 bytes
  CHECK_THROWS_AS(nn::BasicDense<double>{std::size_t(1) << 61}, ValueError);  // likewise in double
  CHECK_THROWS_WITH_AS((nn::Dense{std::size_t(1) << 32, {.in_units = std::size_t(1) << 32}}),
                       doctest::Contains("(4294967296, 4294967296)"), ValueError);
  CHECK_THROWS_AS((nn::Dense{std::size_t(1) << 40, {.in_units = std::size_t(1) << 22}}), ValueError);  // 2^64 bytes
  // Deferred in_units: the first forward checks (units, in_units) before allocating.
  nn::reset_name_counters();  // the failed constructions above took numbers, as in Gluon
  nn::Dense d{std::size_t(1) << 60, {.use_bias = false}};  // 2^60 x 8 floats = 2^65 bytes
  d.initialize();
  CHECK_THROWS_WITH_AS(d(nd::zeros<float>({1, 8})), doctest::Contains("dense0_: input of shape (1, 8)"), ValueError);
  CHECK_THROWS_WITH_AS(d(nd::zeros<float>({1, 8})), doctest::Contains("(1152921504606846976, 8)"), ValueError);
  CHECK(d.weight()->is_deferred());
}
}
