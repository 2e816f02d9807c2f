// SPDX-License-Identifier: Apache-2.0
#include <gluino/nn/conv2d_transpose.hpp>

#include <doctest/doctest.h>

#include <gluino/graph/graph.hpp>
#include <gluino/init/xavier.hpp>
#include <gluino/nd/creation.hpp>
#include <gluino/nd/random.hpp>
#include <gluino/nn/conv2d.hpp>
#include <gluino/nn/hybrid_block.hpp>
#include "support/gradcheck.hpp"
#include "support/repr.hpp"

using namespace gluino;
using test::gradcheck;
using test::rand_array;
using test::repr;
using V = std::vector<NDArray<double>>;

TEST_SUITE("nn/conv2d_transpose") {
TEST_CASE("Conv2DTranspose{16, 3, strides 2}: names, weight (in, channels / groups, kh, kw), deferred, repr") {
  nn::reset_name_counters();
  nn::Conv2DTranspose up{16, 3, {.strides = 2, .padding = 1, .output_padding = 1}};
  CHECK(up.prefix() == "conv0_");
  CHECK(up.params().keys() == std::vector<std::string>{"conv0_weight", "conv0_bias"});
  CHECK(up.weight()->shape() == Shape{0, 16, 3, 3});
  CHECK(repr(up) ==
        "Conv2DTranspose(None -> 16, kernel_size=(3, 3), stride=(2, 2), padding=(1, 1), output_padding=(1, 1))");
  up.initialize();
  // (5 - 1) 2 - 2 + 3 + 1 = 10: the stride-2 upsampling that doubles the size
  CHECK(up(nd::zeros<float>({2, 8, 5, 5})).shape() == Shape{2, 16, 10, 10});
  CHECK(up.weight()->shape() == Shape{8, 16, 3, 3});
  CHECK(up.in_channels() == 8);
  CHECK(repr(up) ==
        "Conv2DTranspose(8 -> 16, kernel_size=(3, 3), stride=(2, 2), padding=(1, 1), output_padding=(1, 1))");
  nn::Conv2DTranspose g{6, {2, 3}, {.dilation = 2, .groups = 3, .activation = "relu", .use_bias = false,
                                    .in_channels = 3}};
  CHECK(g.weight()->shape() == Shape{3, 2, 2, 3});
  CHECK(g.bias() == nullptr);
  CHECK(repr(g) == "Conv2DTranspose(3 -> 6, kernel_size=(2, 3), stride=(1, 1), dilation=(2, 2), groups=3, bias=False, "
                   "Activation(relu))");
}
TEST_CASE("Conv2DTranspose forward equals nd::deconvolution then the activation") {
  nn::Conv2DTranspose up{4, {3, 2}, {.strides = {2, 1}, .padding = {1, 0}, .output_padding = {1, 0}, .groups = 2,
                                     .activation = "sigmoid"}};
  up.initialize(init::Xavier{});
  const auto x = nd::random::uniform<float>({2, 6, 4, 5}, -1.0f, 1.0f);
  const auto y = up(x);
  CHECK(y.shape() == Shape{2, 4, 8, 6});
  const auto ref = nd::sigmoid(nd::deconvolution(x, up.weight()->data(), up.bias()->data(),
                                                 {.stride = {2, 1}, .pad = {1, 0}, .adj = {1, 0}, .num_group = 2}));
  CHECK(y.to_vector() == ref.to_vector());
}
TEST_CASE("Conv2DTranspose undoes the shape of the Conv2D with the same options") {
  nn::Conv2D down{8, 3, {.strides = 2, .padding = 1}};
  nn::Conv2DTranspose up{3, 3, {.strides = 2, .padding = 1, .output_padding = 1}};
  down.initialize();
  up.initialize();
  const auto x = nd::zeros<float>({1, 3, 12, 12});
  CHECK(up(down(x)).shape() == x.shape());
}
TEST_CASE("Conv2DTranspose: gradients of x, weight and bias match central differences (double)") {
  nn::BasicConv2DTranspose<double> up{4, {2, 3}, {.strides = 2, .padding = {1, 0}, .output_padding = {1, 0},
                                                  .dilation = {1, 2}, .groups = 2, .activation = "tanh"}};
  up.initialize(init::Xavier{});
  const auto x = rand_array({2, 2, 3, 3});
  up(x);
  CHECK(gradcheck([&](const V& in) { return up(in[0]); }, {x, up.weight()->data(), up.bias()->data()}));
}
TEST_CASE("Conv2DTranspose: a dilated span whose product wraps around 2^64 is refused at construction") {
  // (k - 1) dilation = 2^24 * 2^40 = 2^64 was computed modulo 2^64 as 0 and passed the check
  const std::size_t k = (std::size_t(1) << 24) + 1, d = std::size_t(1) << 40;
  CHECK_THROWS_WITH_AS((nn::Conv2DTranspose{2, {k, 1}, {.dilation = {d, 1}}}),
                       doctest::Contains("Conv2DTranspose: dilation (1099511627776, 1) times kernel_size (16777217, "),
                       ValueError);
  CHECK_THROWS_AS((nn::Conv2DTranspose{2, {1, k}, {.dilation = {1, d}}}), ValueError);
}
TEST_CASE("Conv2DTranspose: errors name the block, the input and the argument") {
  CHECK_THROWS_WITH_AS(nn::Conv2DTranspose(4, 3, {.strides = 2, .output_padding = 2}),
                       "Conv2DTranspose: output_padding (2, 2) must be smaller than strides (2, 2)", ValueError);
  CHECK_THROWS_WITH_AS(nn::Conv2DTranspose(4, {3, 0}), "Conv2DTranspose: kernel_size must be > 0, got (3, 0)",
                       ValueError);
  CHECK_THROWS_WITH_AS(nn::Conv2DTranspose(4, 3, {.groups = 3}),
                       "Conv2DTranspose: channels (4) must be a multiple of groups (3)", ValueError);
  CHECK_THROWS_WITH_AS(nn::Conv2DTranspose(4, 3, {.in_channels = std::size_t(-2)}),
                       "Conv2DTranspose: in_channels must be >= 0 and at most 2^40, got -2", ValueError);
  nn::Conv2DTranspose up{4, 3, {.in_channels = 2}, "up_"};
  up.initialize();
  CHECK_THROWS_WITH_AS(up(nd::zeros<float>({2, 2, 5})), "up_: input must be 4-D (N, C, H, W), got shape (2, 2, 5)",
                       ShapeError);
  CHECK_THROWS_WITH_AS(up(nd::zeros<float>({1, 3, 5, 5})),
                       "up_: input of shape (1, 3, 5, 5) has 3 channels but weight 'up_weight' has shape (2, 4, 3, 3) "
                       "(in_channels 2)",
                       ShapeError);
}
TEST_CASE("a HybridSequential of Conv2D and Conv2DTranspose hybridizes and gives the imperative output") {
  nn::BasicHybridSequential<double> net;
  net.add(nn::BasicConv2D<double>{4, 3, {.strides = 2, .padding = 1, .activation = "relu"}},
          nn::BasicConv2DTranspose<double>{2, 3, {.strides = 2, .padding = 1, .output_padding = 1}});
  net.initialize(init::Xavier{});
  const auto x = rand_array({2, 2, 8, 8}, 3);
  const auto imperative = net(x);
  CHECK(imperative.shape() == x.shape());
  net.hybridize();
  (void)net(x);  // traces
  const auto replayed = net(x);
  REQUIRE(net.cached_graphs().size() == 1);
  std::size_t deconvs = 0;
  for (const auto& node : net.cached_graphs()[0]->nodes) deconvs += std::string(node.op->name()) == "deconvolution";
  CHECK(deconvs == 1);
  CHECK(replayed.to_vector() == imperative.to_vector());
}
}
