// SPDX-License-Identifier: Apache-2.0
#include <gluino/nn/conv3d.hpp>

#include <doctest/doctest.h>

#include <gluino/init/xavier.hpp>
#include <gluino/nd/creation.hpp>
#include "support/gradcheck.hpp"
#include "support/repr.hpp"

using namespace gluino;
using test::gradcheck;
using test::rand_array;
using test::repr;
using V = std::vector<NDArray<double>>;

TEST_SUITE("nn/conv3d") {
TEST_CASE("Conv3D{8, 3}: names, shapes, deferred in_channels, repr") {
  nn::reset_name_counters();
  nn::Conv3D c{8, 3, {.padding = 1}};
  CHECK(c.prefix() == "conv0_");
  CHECK(c.params().keys() == std::vector<std::string>{"conv0_weight", "conv0_bias"});
  CHECK(c.weight()->shape() == Shape{8, 0, 3, 3, 3});
  CHECK(repr(c) == "Conv3D(None -> 8, kernel_size=(3, 3, 3), stride=(1, 1, 1), padding=(1, 1, 1))");
  c.initialize();
  CHECK(c(nd::zeros<float>({2, 2, 4, 5, 6})).shape() == Shape{2, 8, 4, 5, 6});
  CHECK(c.weight()->shape() == Shape{8, 2, 3, 3, 3});
  CHECK(c.in_channels() == 2);
  CHECK(repr(c) == "Conv3D(2 -> 8, kernel_size=(3, 3, 3), stride=(1, 1, 1), padding=(1, 1, 1))");
  CHECK(repr(nn::Conv3D{4, {1, 3, 3}, {.strides = {1, 2, 2}, .dilation = {1, 2, 2}, .groups = 2, .activation = "relu",
                                       .use_bias = false, .in_channels = 2}}) ==
        "Conv3D(1 -> 4, kernel_size=(1, 3, 3), stride=(1, 2, 2), dilation=(1, 2, 2), groups=2, bias=False, "
        "Activation(relu))");
}
TEST_CASE("Conv3D forward equals nd::convolution3d then the activation") {
  nn::BasicConv3D<double> c{4, {2, 3, 2}, {.strides = {2, 1, 1}, .padding = {1, 1, 0}, .groups = 2,
                                          .activation = "relu"}};
  c.initialize(init::Xavier{});
  const auto x = rand_array({2, 4, 5, 4, 3});
  const auto y = c(x);
  CHECK(y.shape() == Shape{2, 4, 3, 4, 2});
  const auto ref = nd::relu(nd::convolution3d(x, c.weight()->data(), c.bias()->data(),
                                              {.stride = {2, 1, 1}, .pad = {1, 1, 0}, .num_group = 2}));
  CHECK(y.to_vector() == ref.to_vector());
}
TEST_CASE("Conv3D: gradients of x, weight and bias match central differences (double)") {
  nn::BasicConv3D<double> c{2, 2, {.strides = {1, 2, 1}, .padding = {0, 1, 1}, .activation = "tanh"}};
  c.initialize(init::Xavier{});
  const auto x = rand_array({2, 2, 3, 3, 3});
  c(x);
  CHECK(gradcheck([&](const V& in) { return c(in[0]); }, {x, c.weight()->data(), c.bias()->data()}));
}
TEST_CASE("Conv3D: a dilated span whose product wraps around 2^64 is refused at construction") {
  // (k - 1) dilation = 2^24 * 2^40 = 2^64 was computed modulo 2^64 as 0 and passed the check
  const std::size_t k = (std::size_t(1) << 24) + 1, d = std::size_t(1) << 40;
  CHECK_THROWS_WITH_AS((nn::Conv3D{2, {1, 1, k}, {.dilation = {1, 1, d}}}),
                       doctest::Contains("Conv3D: dilation (1, 1, 1099511627776) times kernel_size (1, 1, 16777217)"),
                       ValueError);
  CHECK_THROWS_AS((nn::Conv3D{2, {k, 1, 1}, {.dilation = {d, 1, 1}}}), ValueError);
}
TEST_CASE("Conv3D: errors name the block, the input and the argument") {
  CHECK_THROWS_WITH_AS(nn::Conv3D(4, {3, 0, 3}), "Conv3D: kernel_size must be > 0, got (3, 0, 3)", ValueError);
  CHECK_THROWS_WITH_AS(nn::Conv3D(4, 3, {.padding = {0, std::size_t(-1), 0}}),
                       "Conv3D: padding must be >= 0, got (0, -1, 0)", ValueError);
  CHECK_THROWS_WITH_AS(nn::Conv3D(4, 3, {.groups = 0}), "Conv3D: groups must be > 0, got 0", ValueError);
  nn::Conv3D c{4, 3, {.in_channels = 2}, "c3_"};
  c.initialize();
  CHECK_THROWS_WITH_AS(c(nd::zeros<float>({2, 2, 5, 5})),
                       "c3_: input must be 5-D (N, C, D, H, W), got shape (2, 2, 5, 5)", ShapeError);
  CHECK_THROWS_WITH_AS(c(nd::zeros<float>({1, 1, 5, 5, 5})),
                       "c3_: input of shape (1, 1, 5, 5, 5) has 1 channels but weight 'c3_weight' has shape (4, 2, 3, "
                       "3, 3) (in_channels 2)",
                       ShapeError);
  CHECK_THROWS_WITH_AS(c(nd::zeros<float>({1, 2, 2, 5, 5})),
                       doctest::Contains("convolution3d: kernel (dilated to 3 along axis 2) larger than the padded "
                                         "input (2): input (1, 2, 2, 5, 5)"),
                       ShapeError);
}
}
