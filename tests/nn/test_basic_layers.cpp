// SPDX-License-Identifier: Apache-2.0
#include <gluino/nn/basic_layers.hpp>

#include <doctest/doctest.h>

#include <cmath>
#include <sstream>

#include <gluino/nd/creation.hpp>
#include <gluino/nn/conv2d.hpp>
#include <gluino/nn/dense.hpp>
#include <gluino/nn/pooling.hpp>
#include <gluino/nn/sequential.hpp>
#include "support/gradcheck.hpp"
#include "support/repr.hpp"

using namespace gluino;
using test::repr;
using test::gradcheck;
using test::rand_array;
using V = std::vector<NDArray<double>>;

TEST_SUITE("nn/basic_layers") {
TEST_CASE("Flatten: (N, C, H, W) -> (N, C*H*W), same data") {
  nn::reset_name_counters();
  nn::Flatten f;
  auto x = nd::arange<float>(24).reshape({2, 3, 2, 2});
  auto y = f(x);
  CHECK(y.shape() == Shape{2, 12});
  CHECK(y.to_vector() == x.to_vector());
  CHECK(f(nd::zeros<float>({4})).shape() == Shape{4, 1});
  CHECK(f.prefix() == "flatten0_");
  CHECK(repr(f) == "Flatten");
  CHECK_THROWS_WITH_AS(f(nd::zeros<float>({})), doctest::Contains("flatten0_"), ShapeError);
  nn::BasicFlatten<double> fd;
  CHECK(gradcheck([&](const V& in) { return fd(in[0]) * 2.0; }, {rand_array({2, 2, 3})}));
}
TEST_CASE("an empty batch flows through Flatten and a LeNet-shaped network: (0, 1, 28, 28) -> (0, 10)") {
  nn::reset_name_counters();
  nn::Flatten f;
  CHECK(f(nd::zeros<float>({0, 50, 5, 5})).shape() == Shape{0, 1250});
  CHECK(f(nd::zeros<float>({0})).shape() == Shape{0, 1});
  nn::Sequential net;  // model_zoo::lenet()'s layers
  net.add(nn::Conv2D{20, 5, {.activation = "relu"}}, nn::MaxPool2D{2, 2}, nn::Conv2D{50, 3, {.activation = "relu"}},
          nn::MaxPool2D{2, 2}, nn::Flatten{}, nn::Dense{128, {.activation = "relu"}}, nn::Dense{10});
  net.initialize();
  auto x = nd::zeros<float>({0, 1, 28, 28});
  NDArray<float> y;
  {
    autograd::record rec;
    y = net(x);  // the first forward: deferred shapes are inferred from the empty batch too
  }
  CHECK(y.shape() == Shape{0, 10});
  y.backward();
  for (const auto& [name, p] : net.collect_params()) {
    CHECK(p->data().size() > 0);
    CHECK(p->grad().shape() == p->data().shape());
    for (float g : p->grad()) CHECK(g == 0.0f);  // nothing contributed
  }
  CHECK(net.at<nn::Dense>(-2).weight()->shape() == Shape{128, 1250});
  CHECK(net(nd::zeros<float>({2, 1, 28, 28})).shape() == Shape{2, 10});  // and a real batch after it
}
TEST_CASE("Lambda: a callable or an nd function's name") {
  nn::reset_name_counters();
  nn::Lambda twice{[](const NDArray<float>& x) { return x * 2.0f; }};
  CHECK(twice(nd::array<float>({1, 2})).to_vector() == std::vector<float>{2, 4});
  CHECK(twice.prefix() == "lambda0_");
  CHECK(repr(twice) == "Lambda(<lambda>)");
  nn::Lambda th{"tanh"};
  CHECK(th(nd::array<float>({0.5f})).asscalar() == doctest::Approx(std::tanh(0.5f)));
  CHECK(repr(th) == "Lambda(tanh)");
  for (const char* name : {"relu", "sigmoid", "softrelu", "softsign", "exp", "log", "sqrt", "square", "abs",
                           "negative", "flatten"}) {
    CAPTURE(name);
    nn::Lambda l{name};
    CHECK(l(nd::ones<float>({1, 2})).size() == 2);
  }
  nn::Lambda sq{"square"};
  CHECK(sq(nd::array<float>({3})).asscalar() == 9.0f);
  CHECK_THROWS_WITH_AS(nn::Lambda{"cube"}, doctest::Contains("'cube'"), ValueError);
  CHECK_THROWS_AS(nn::Lambda{nn::Lambda::Function{}}, ValueError);
  nn::BasicLambda<double> ld{[](const NDArray<double>& x) { return x * x; }};
  CHECK(gradcheck([&](const V& in) { return ld(in[0]); }, {rand_array({3})}));
}
}
