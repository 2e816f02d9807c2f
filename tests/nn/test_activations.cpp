// SPDX-License-Identifier: Apache-2.0
#include <gluino/nn/activations.hpp>

#include <doctest/doctest.h>

#include <cmath>
#include <sstream>

#include <gluino/nd/creation.hpp>
#include "support/gradcheck.hpp"

using namespace gluino;
using test::gradcheck;
using test::rand_array;
using V = std::vector<NDArray<double>>;

TEST_SUITE("nn/activations") {
TEST_CASE("Activation: each name computes its function") {
  auto x = nd::array<float>({-2, -0.5f, 0, 1.5f});
  auto check = [&](const char* name, auto f) {
    CAPTURE(name);
    nn::Activation a{name};
    auto y = a(x);
    CHECK(y.shape() == x.shape());
    for (std::size_t i = 0; i < x.size(); ++i) CHECK(y.data()[i] == doctest::Approx(f(x.data()[i])).epsilon(1e-6));
  };
  check("relu", [](float v) { return v > 0 ? v : 0.0f; });
  check("sigmoid", [](float v) { return 1 / (1 + std::exp(-v)); });
  check("tanh", [](float v) { return std::tanh(v); });
  check("softrelu", [](float v) { return std::log1p(std::exp(v)); });
  check("softsign", [](float v) { return v / (1 + std::abs(v)); });
}
TEST_CASE("Activation: named after its function, printed like Gluon, unknown names rejected") {
  nn::reset_name_counters();
  nn::Activation a{"relu"}, b{"relu"}, c{"tanh"};
  CHECK(a.prefix() == "relu0_");
  CHECK(b.prefix() == "relu1_");
  CHECK(c.prefix() == "tanh0_");
  std::ostringstream os;
  os << a;
  CHECK(os.str() == "Activation(relu)");
  CHECK(a.collect_params().size() == 0);
  CHECK_THROWS_WITH_AS(nn::Activation{"swish"}, doctest::Contains("'swish'"), ValueError);
  CHECK_THROWS_AS(nn::Activation{""}, ValueError);
}
TEST_CASE("LeakyReLU: values, printing, errors") {
  nn::reset_name_counters();
  nn::LeakyReLU l{0.1};
  CHECK(l.prefix() == "leakyrelu0_");
  auto y = l(nd::array<float>({-2, 3}));
  CHECK(y.data()[0] == doctest::Approx(-0.2f));
  CHECK(y.data()[1] == 3.0f);
  std::ostringstream os;
  os << l;
  CHECK(os.str() == "LeakyReLU(0.1)");
  CHECK_THROWS_WITH_AS(nn::LeakyReLU{-0.5}, doctest::Contains("-0.5"), ValueError);
}
TEST_CASE("gradients match central differences (double)") {
  for (const char* name : {"sigmoid", "tanh", "softrelu", "softsign"}) {
    CAPTURE(name);
    nn::BasicActivation<double> a{name};
    CHECK(gradcheck([&](const V& in) { return a(in[0]); }, {rand_array({2, 3})}));
  }
  nn::BasicActivation<double> relu{"relu"};
  CHECK(gradcheck([&](const V& in) { return relu(in[0]); }, {rand_array({2, 3}, 7, 0.1, 1.0)}));
  nn::BasicLeakyReLU<double> leaky{0.2};
  CHECK(gradcheck([&](const V& in) { return leaky(in[0]); }, {rand_array({2, 3}, 9, 0.1, 1.0) - 0.55}));
}
}
