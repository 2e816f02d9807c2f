// SPDX-License-Identifier: Apache-2.0
#include <gluino/nn/conv2d.hpp>

#include <doctest/doctest.h>

#include <sstream>

#include <gluino/init/xavier.hpp>
#include <gluino/nd/creation.hpp>
#include <gluino/nd/random.hpp>
#include <gluino/nn/basic_layers.hpp>
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

TEST_SUITE("nn/conv2d") {
TEST_CASE("the issue's Conv2D{20, 5, relu}: names, shapes, deferred in_channels, repr") {
  nn::reset_name_counters();
  nn::Conv2D c{20, 5, {.activation = "relu"}};
  CHECK(c.prefix() == "conv0_");
  CHECK(c.params().keys() == std::vector<std::string>{"conv0_weight", "conv0_bias"});
  CHECK(c.weight()->shape() == Shape{20, 0, 5, 5});
  CHECK(c.bias()->shape() == Shape{20});
  CHECK(repr(c) == "Conv2D(None -> 20, kernel_size=(5, 5), stride=(1, 1), Activation(relu))");
  c.initialize();
  CHECK(c.weight()->is_deferred());
  CHECK(c(nd::zeros<float>({2, 1, 28, 28})).shape() == Shape{2, 20, 24, 24});
  CHECK(c.weight()->shape() == Shape{20, 1, 5, 5});
  CHECK(c.in_channels() == 1);
  CHECK(repr(c) == "Conv2D(1 -> 20, kernel_size=(5, 5), stride=(1, 1), Activation(relu))");
  nn::Conv2D second{50, 3};
  CHECK(second.prefix() == "conv1_");
}
TEST_CASE("repr shows padding, dilation, groups and bias=False only when not the defaults (Gluon)") {
  CHECK(repr(nn::Conv2D{96, 11, {.strides = 4, .activation = "relu"}}) ==
        "Conv2D(None -> 96, kernel_size=(11, 11), stride=(4, 4), Activation(relu))");
  CHECK(repr(nn::Conv2D{256, 5, {.padding = 2, .activation = "relu"}}) ==
        "Conv2D(None -> 256, kernel_size=(5, 5), stride=(1, 1), padding=(2, 2), Activation(relu))");
  CHECK(repr(nn::Conv2D{8, {3, 5}, {.strides = {1, 2}, .padding = {1, 2}, .dilation = 2, .groups = 2,
                                    .use_bias = false, .in_channels = 4}}) ==
        "Conv2D(2 -> 8, kernel_size=(3, 5), stride=(1, 2), padding=(1, 2), dilation=(2, 2), groups=2, bias=False)");
}
TEST_CASE("output sizes follow (H + 2p - d (k - 1) - 1) / s + 1") {
  // The tutorial's AlexNet first layer: (224 - 11) / 4 + 1 = 54.
  nn::Conv2D a{4, 11, {.strides = 4}};
  a.initialize();
  CHECK(a(nd::zeros<float>({1, 1, 224, 224})).shape() == Shape{1, 4, 54, 54});
  nn::Conv2D p{3, 5, {.padding = 2}};
  p.initialize();
  CHECK(p(nd::zeros<float>({2, 2, 7, 9})).shape() == Shape{2, 3, 7, 9});
  nn::Conv2D r{3, {3, 1}, {.strides = {2, 1}, .dilation = {2, 1}}};
  r.initialize();
  // H: (9 - 2*2 - 1) / 2 + 1 = 3; W: (6 - 0 - 1) / 1 + 1 = 6.
  CHECK(r(nd::zeros<float>({1, 2, 9, 6})).shape() == Shape{1, 3, 3, 6});
  nn::Conv2D g{6, 3, {.groups = 3}};
  g.initialize();
  CHECK(g(nd::zeros<float>({1, 3, 5, 5})).shape() == Shape{1, 6, 3, 3});
  CHECK(g.weight()->shape() == Shape{6, 1, 3, 3});
  CHECK(g.in_channels() == 3);
}
TEST_CASE("forward equals nd::convolution (then the activation) with the same parameters") {
  nn::Conv2D c{4, 3, {.strides = 2, .padding = 1, .activation = "tanh"}};
  c.initialize(init::Xavier{});
  const auto x = nd::random::uniform<float>({2, 3, 7, 7}, -1.0f, 1.0f);
  const auto y = c(x);
  const auto ref = nd::activation(
      nd::convolution(x, c.weight()->data(), c.bias()->data(), {.stride = {2, 2}, .pad = {1, 1}}), "tanh");
  CHECK(y.shape() == Shape{2, 4, 4, 4});
  CHECK(y.to_vector() == ref.to_vector());
  // A hand-computed case: a 2x2 kernel of ones and bias 1 over arange(9) as 3x3.
  nn::Conv2D s{1, 2, {.in_channels = 1}};
  s.initialize();
  s.weight()->set_data(nd::ones<float>({1, 1, 2, 2}));
  s.bias()->set_data(nd::array<float>({1}));
  // windows: 0+1+3+4 = 8, 1+2+4+5 = 12, 3+4+6+7 = 20, 4+5+7+8 = 24; plus 1.
  CHECK(s(nd::arange<float>(9).reshape({1, 1, 3, 3})).to_vector() == std::vector<float>{9, 13, 21, 25});
}
TEST_CASE("gradients of x, weight and bias match central differences (double)") {
  SUBCASE("stride 1, relu") {
    nn::BasicConv2D<double> c{2, 3, {.activation = "softrelu"}};
    c.initialize(init::Xavier{});
    auto x = rand_array({2, 2, 5, 5});
    c(x);
    CHECK(gradcheck([&](const V& in) { return c(in[0]); }, {x, c.weight()->data(), c.bias()->data()}));
  }
  SUBCASE("stride 2, padding (1, 2), dilation 2, groups 2, no bias") {
    nn::BasicConv2D<double> c{4, {2, 3}, {.strides = 2, .padding = {1, 2}, .dilation = 2, .groups = 2,
                                          .use_bias = false}};
    c.initialize(init::Xavier{});
    auto x = rand_array({1, 2, 6, 6}, 3);
    c(x);
    CHECK(c.bias() == nullptr);
    CHECK(gradcheck([&](const V& in) { return c(in[0]); }, {x, c.weight()->data()}));
  }
}
TEST_CASE("initializers and shared parameters") {
  nn::Conv2D c{2, 3, {.weight_initializer = init::Constant{0.5}, .bias_initializer = init::One{}, .in_channels = 1}};
  c.initialize(init::Xavier{});
  CHECK_FALSE(c.weight()->is_deferred());
  CHECK(c.weight()->data().to_vector() == std::vector<float>(18, 0.5f));
  CHECK(c.bias()->data().to_vector() == std::vector<float>{1, 1});
  nn::Conv2D d{2, 3, {.params = c.params()}};
  CHECK(d.weight() == c.weight());
  CHECK(d(nd::ones<float>({1, 1, 3, 3})).to_vector() == std::vector<float>{5.5f, 5.5f});
}
TEST_CASE("inside a Sequential: names and listing") {
  nn::reset_name_counters();
  nn::Sequential net;
  net.add(nn::Conv2D{20, 5, {.activation = "relu"}});
  net.add(nn::Conv2D{50, 3, {.activation = "relu"}});
  CHECK(net.collect_params().keys() ==
        std::vector<std::string>{"conv0_weight", "conv0_bias", "conv1_weight", "conv1_bias"});
  net.initialize();
  CHECK(net(nd::zeros<float>({2, 1, 28, 28})).shape() == Shape{2, 50, 22, 22});
  CHECK(net.collect_params()["conv1_weight"]->shape() == Shape{50, 20, 3, 3});
  CHECK(repr(net) ==
        "Sequential(\n"
        "  (0): Conv2D(1 -> 20, kernel_size=(5, 5), stride=(1, 1), Activation(relu))\n"
        "  (1): Conv2D(20 -> 50, kernel_size=(3, 3), stride=(1, 1), Activation(relu))\n"
        ")");
}
TEST_CASE("the issue's LeNet snippet compiles as written and prints Gluon's listing") {
  nn::reset_name_counters();
  nn::Sequential lenet;
  lenet.add(nn::Conv2D{20, 5, {.activation = "relu"}},
            nn::MaxPool2D{2, 2},
            nn::Conv2D{50, 3, {.activation = "relu"}},
            nn::MaxPool2D{2, 2},
            nn::Flatten{},
            nn::Dense{128, {.activation = "relu"}},
            nn::Dense{10});
  const std::string listing = repr(lenet);
  CHECK(listing.rfind("Sequential(\n  (0): Conv2D(None -> 20, kernel_size=(5, 5), stride=(1, 1), Activation(relu))\n"
                      "  (1): MaxPool2D(size=(2, 2), stride=(2, 2), padding=(0, 0), ceil_mode=False",
                      0) == 0);
  lenet.initialize();
  CHECK(lenet(nd::zeros<float>({2, 1, 28, 28})).shape() == Shape{2, 10});
  // Made outside a name scope, the blocks were named when C++ made them, in an unspecified
  // order: reach them by position.
  CHECK(lenet.at<nn::Conv2D>(0).weight()->shape() == Shape{20, 1, 5, 5});
  CHECK(lenet.at<nn::Dense>(-2).weight()->shape() == Shape{128, 1250});
}
TEST_CASE("errors: hyper-parameters, rank, channel mismatch naming the prefix and shapes") {
  nn::reset_name_counters();
  CHECK_THROWS_WITH_AS(nn::Conv2D(0, 3), doctest::Contains("channels must be > 0"), ValueError);
  CHECK_THROWS_WITH_AS(nn::Conv2D(2, 0), doctest::Contains("kernel_size must be > 0, got (0, 0)"), ValueError);
  CHECK_THROWS_WITH_AS((nn::Conv2D{2, 3, {.strides = {1, 0}}}), doctest::Contains("strides"), ValueError);
  CHECK_THROWS_WITH_AS((nn::Conv2D{2, 3, {.dilation = 0}}), doctest::Contains("dilation"), ValueError);
  CHECK_THROWS_WITH_AS((nn::Conv2D{3, 3, {.groups = 2}}), doctest::Contains("multiple of groups"), ValueError);
  CHECK_THROWS_WITH_AS((nn::Conv2D{2, 3, {.groups = 0}}), doctest::Contains("groups must be > 0"), ValueError);
  CHECK_THROWS_WITH_AS((nn::Conv2D{2, 3, {.groups = 2, .in_channels = 3}}), doctest::Contains("in_channels (3)"),
                       ValueError);
  CHECK_THROWS_WITH_AS((nn::Conv2D{2, 3, {.activation = "gelu"}}), doctest::Contains("'gelu'"), ValueError);
  nn::reset_name_counters();  // the failed constructions above took numbers, as in Gluon
  nn::Conv2D c{4, 3};
  c.initialize();
  c(nd::zeros<float>({2, 1, 8, 8}));
  CHECK_THROWS_WITH_AS(c(nd::zeros<float>({2, 3, 8, 8})), doctest::Contains("conv0_: input of shape (2, 3, 8, 8)"),
                       ShapeError);
  CHECK_THROWS_WITH_AS(c(nd::zeros<float>({2, 3, 8, 8})), doctest::Contains("(4, 1, 3, 3)"), ShapeError);
  CHECK_THROWS_WITH_AS(c(nd::zeros<float>({2, 8, 8})), doctest::Contains("conv0_: input must be 4-D"), ShapeError);
  CHECK_THROWS_WITH_AS(c(nd::zeros<float>({2, 1, 2, 2})), doctest::Contains("(2, 1, 2, 2)"), ShapeError);
  nn::Conv2D g{4, 3, {.groups = 2}};
  g.initialize();
  CHECK_THROWS_WITH_AS(g(nd::zeros<float>({1, 3, 8, 8})), doctest::Contains("conv1_: input of shape (1, 3, 8, 8)"),
                       ShapeError);
  nn::Conv2D u{2, 3};
  CHECK_THROWS_WITH_AS(u(nd::zeros<float>({1, 1, 4, 4})), doctest::Contains("call initialize()"), StateError);
}
TEST_CASE("errors: a dilated span whose product wraps around 2^64 is refused at construction") {
  // (k - 1) dilation = 2^24 * 2^40 = 2^64 was computed modulo 2^64 as 0 and passed the check
  const std::size_t k = (std::size_t(1) << 24) + 1, d = std::size_t(1) << 40;
  CHECK_THROWS_WITH_AS((nn::Conv2D{2, {k, 1}, {.dilation = {d, 1}}}),
                       doctest::Contains("Conv2D: dilation (1099511627776, 1) times kernel_size (16777217, 1)"),
                       ValueError);
  CHECK_THROWS_AS((nn::Conv2D{2, {1, k}, {.dilation = {1, d}}}), ValueError);
}
TEST_CASE("errors: negative sizes (ints converted to size_t) and wrapping spans name the argument") {
  nn::reset_name_counters();
  // before: padding -1 became 2^64 - 1 and cropped the input silently
  CHECK_THROWS_WITH_AS((nn::Conv2D{2, 3, {.padding = -1}}), doctest::Contains("Conv2D: padding must be >= 0, got (-1, -1)"),
                       ValueError);
  int minus_two = -2;
  CHECK_THROWS_WITH_AS((nn::Conv2D{2, 3, {.padding = nn::Size2(1, minus_two)}}),
                       doctest::Contains("Conv2D: padding must be >= 0, got (1, -2)"), ValueError);
  CHECK_THROWS_WITH_AS((nn::Conv2D{2, 3, {.strides = -1}}), doctest::Contains("Conv2D: strides must be > 0, got (-1, -1)"),
                       ValueError);
  CHECK_THROWS_WITH_AS((nn::Conv2D(2, -3)), doctest::Contains("Conv2D: kernel_size must be > 0, got (-3, -3)"), ValueError);
  CHECK_THROWS_WITH_AS((nn::Conv2D{2, 3, {.dilation = -1}}), doctest::Contains("Conv2D: dilation must be > 0, got (-1, -1)"),
                       ValueError);
  CHECK_THROWS_WITH_AS((nn::Conv2D{2, 3, {.dilation = std::size_t(1) << 41}}),
                       doctest::Contains("Conv2D: dilation must be at most 2^40"), ValueError);
  // each factor allowed, their product not: dilation (k - 1) + 1 would pass 2^40
  CHECK_THROWS_WITH_AS((nn::Conv2D{2, 5, {.dilation = std::size_t(1) << 39}}),
                       doctest::Contains("Conv2D: dilation (549755813888, 549755813888) times kernel_size (5, 5)"),
                       ValueError);
  CHECK_THROWS_WITH_AS((nn::Conv2D{static_cast<std::size_t>(-1), 3}), doctest::Contains("Conv2D: channels must be > 0 and at most 2^40, got -1"),
                       ValueError);
  CHECK_THROWS_WITH_AS((nn::Conv2D{2, 3, {.groups = static_cast<std::size_t>(-1)}}),
                       doctest::Contains("Conv2D: groups must be > 0, got -1"), ValueError);
  CHECK_THROWS_WITH_AS((nn::Conv2D{2, 3, {.in_channels = static_cast<std::size_t>(-4)}}),
                       doctest::Contains("Conv2D: in_channels must be >= 0 and at most 2^40, got -4"), ValueError);
  // a kernel that fits only thanks to the padding, and one that does not fit at all
  nn::Conv2D ok{2, 5, {.padding = 1, .in_channels = 1}};
  ok.initialize();
  CHECK(ok(nd::zeros<float>({1, 1, 3, 3})).shape() == Shape{1, 2, 1, 1});
  nn::Conv2D big{2, 5, {.in_channels = 1}};
  big.initialize();
  CHECK_THROWS_WITH_AS(big(nd::zeros<float>({1, 1, 3, 3})), doctest::Contains("larger than the padded input"), ShapeError);
}
}
