// SPDX-License-Identifier: Apache-2.0
#include <gluino/nn/activations.hpp>

#include <doctest/doctest.h>

#include <cmath>
#include <sstream>

#include <gluino/autograd/mode.hpp>
#include <gluino/graph/graph.hpp>
#include <gluino/nd/creation.hpp>
#include <gluino/nn/hybrid_block.hpp>
#include "support/check_close.hpp"
#include "support/gradcheck.hpp"
#include "support/repr.hpp"

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
TEST_CASE("ELU, SELU, GELU, Swish: Gluon's names, printing, the nd ops' values, shape kept") {
  nn::reset_name_counters();
  nn::ELU elu, elu_half{0.5};
  nn::SELU selu;
  nn::GELU gelu;
  nn::Swish swish, swish2{2.0};
  CHECK(elu.prefix() == "elu0_");
  CHECK(elu_half.prefix() == "elu1_");
  CHECK(selu.prefix() == "selu0_");
  CHECK(gelu.prefix() == "gelu0_");
  CHECK(swish.prefix() == "swish0_");
  CHECK(test::repr(elu) == "ELU(1)");
  CHECK(test::repr(elu_half) == "ELU(0.5)");
  CHECK(test::repr(selu) == "SELU()");
  CHECK(test::repr(gelu) == "GELU()");
  CHECK(test::repr(swish2) == "Swish(2)");
  CHECK(elu.collect_params().size() == 0);
  const auto x = nd::array<float>({-2, -0.5f, 0, 1.5f, 3, -1}, {2, 3});
  auto same = [&](const NDArray<float>& got, const NDArray<float>& want) {
    CHECK(got.shape() == Shape{2, 3});
    CHECK(got.to_vector() == want.to_vector());
  };
  same(elu(x), nd::elu(x));
  same(elu_half(x), nd::elu(x, 0.5f));
  same(selu(x), nd::selu(x));
  same(gelu(x), nd::gelu(x));
  same(swish(x), nd::swish(x));
  same(swish2(x), nd::swish(x, 2.0f));
}
TEST_CASE("PReLU: parameter alpha named like Gluon, initialised to 0.25, per channel along axis 1") {
  nn::reset_name_counters();
  nn::PReLU one;
  nn::PReLU per_channel{{.in_channels = 3}};
  CHECK(one.prefix() == "prelu0_");
  CHECK(one.alpha()->name() == "prelu0_alpha");
  CHECK(one.alpha()->shape() == Shape{1});
  CHECK(per_channel.alpha()->name() == "prelu1_alpha");
  CHECK(per_channel.alpha()->shape() == Shape{3});
  CHECK(per_channel.collect_params().size() == 1);
  CHECK(test::repr(per_channel) == "PReLU(3)");
  one.initialize();
  per_channel.initialize(init::Constant{0.7});  // alpha's own initializer wins, as in Gluon
  CHECK(one.alpha()->data().to_vector() == std::vector<float>{0.25f});
  CHECK(per_channel.alpha()->data().to_vector() == std::vector<float>{0.25f, 0.25f, 0.25f});
  per_channel.alpha()->set_data(nd::array<float>({0.1f, 0.2f, 0.3f}));
  const auto x = nd::array<float>({-1, -1, -1, 2, -2, 2, -1, -1, -1, 4, 4, 4}, {2, 3, 2});
  auto y = per_channel(x);
  CHECK(y.shape() == Shape{2, 3, 2});
  test::check_values(y, {-0.1, -0.1, -0.2, 2, -0.6, 2, -0.1, -0.1, -0.2, 4, 4, 4});
  test::check_values(one(x), {-0.25, -0.25, -0.25, 2, -0.5, 2, -0.25, -0.25, -0.25, 4, 4, 4});
  nn::PReLU custom{{.alpha_initializer = init::Constant{0.1}}};
  custom.initialize();
  CHECK(custom.alpha()->data().to_vector() == std::vector<float>{0.1f});
}
TEST_CASE("PReLU: errors name the block and the shapes") {
  nn::reset_name_counters();
  nn::PReLU p{{.in_channels = 3}};
  p.initialize();
  CHECK_THROWS_WITH_AS(p(nd::zeros<float>({2, 4})),
                       doctest::Contains("prelu0_: input of shape (2, 4) does not have 3 channels on axis 1"), ShapeError);
  CHECK_THROWS_AS(p(nd::zeros<float>({3})), ShapeError);
  CHECK_THROWS_WITH_AS(nn::PReLU{{.in_channels = 0}}, doctest::Contains("in_channels"), ValueError);
}
TEST_CASE("ELU, SELU, GELU, Swish, PReLU: gradients match central differences (double)") {
  const auto x = test::away_from_zero({2, 3, 2});
  nn::BasicELU<double> elu{0.8};
  nn::BasicSELU<double> selu;
  nn::BasicGELU<double> gelu;
  nn::BasicSwish<double> swish{1.3};
  CHECK(gradcheck([&](const V& in) { return elu(in[0]); }, {x}));
  CHECK(gradcheck([&](const V& in) { return selu(in[0]); }, {x}));
  CHECK(gradcheck([&](const V& in) { return gelu(in[0]); }, {x}));
  CHECK(gradcheck([&](const V& in) { return swish(in[0]); }, {x}));
  // PReLU: the gradient of alpha through the block's parameter.
  nn::BasicPReLU<double> prelu{{.in_channels = 3}};
  prelu.initialize();
  prelu.alpha()->set_data(nd::array<double>({0.1, 0.2, 0.3}));
  auto xg = x.copy();
  xg.attach_grad();
  {
    autograd::record rec;
    auto y = prelu(xg);
    y.backward();
  }
  // d sum(y) / d alpha[c] = sum of x over channel c's x <= 0
  std::vector<double> want(3, 0.0);
  for (std::size_t i = 0; i < x.size(); ++i)
    if (x.data()[i] <= 0) want[(i / 2) % 3] += x.data()[i];
  test::check_values(prelu.alpha()->grad(), want, 1e-12);
  CHECK(gradcheck([&](const V& in) { return nd::prelu(in[0], in[1]); }, {x, prelu.alpha()->data().copy()}));
}
TEST_CASE("a HybridSequential of the new activations hybridizes and gives the imperative outputs") {
  auto make = [] {
    nn::BasicHybridSequential<double> net;
    net.add(nn::BasicELU<double>{0.5}, nn::BasicSELU<double>{}, nn::BasicPReLU<double>{{.in_channels = 3}},
            nn::BasicGELU<double>{}, nn::BasicSwish<double>{1.5});
    net.initialize();
    return net;
  };
  auto net = make(), ref = make();
  net.at<nn::BasicPReLU<double>>(2).alpha()->set_data(nd::array<double>({0.1, 0.2, 0.3}));
  ref.at<nn::BasicPReLU<double>>(2).alpha()->set_data(nd::array<double>({0.1, 0.2, 0.3}));
  net.hybridize();
  const auto x = test::rand_array({2, 3, 4}, 11, -2, 2);
  const auto y_ref = ref(x);
  (void)net(x);            // traces
  const auto y = net(x);   // runs the graph
  REQUIRE(net.cached_graphs().size() == 1);
  test::check_close_arrays(y, y_ref, 0.0);
  net.at<nn::BasicPReLU<double>>(2).alpha()->set_data(nd::array<double>({0.4, 0.5, 0.6}));
  ref.at<nn::BasicPReLU<double>>(2).alpha()->set_data(nd::array<double>({0.4, 0.5, 0.6}));
  test::check_close_arrays(net(x), ref(x), 0.0);  // the graph reads alpha's current value
}
}
