// SPDX-License-Identifier: Apache-2.0
#include <gluino/nn/conv1d.hpp>

#include <doctest/doctest.h>

#include <gluino/graph/graph.hpp>
#include <gluino/init/xavier.hpp>
#include <gluino/nd/creation.hpp>
#include <gluino/nd/random.hpp>
#include <gluino/nd/reduce.hpp>
#include <gluino/nn/hybrid_block.hpp>
#include <gluino/nn/pooling1d.hpp>
#include <gluino/nn/sequential.hpp>
#include "support/gradcheck.hpp"
#include "support/repr.hpp"

using namespace gluino;
using test::gradcheck;
using test::rand_array;
using test::repr;
using V = std::vector<NDArray<double>>;

TEST_SUITE("nn/conv1d") {
TEST_CASE("Conv1D{16, 3, relu}: names, shapes, deferred in_channels, repr") {
  nn::reset_name_counters();
  nn::Conv1D c{16, 3, {.activation = "relu"}};
  CHECK(c.prefix() == "conv0_");
  CHECK(c.params().keys() == std::vector<std::string>{"conv0_weight", "conv0_bias"});
  CHECK(c.weight()->shape() == Shape{16, 0, 3});
  CHECK(repr(c) == "Conv1D(None -> 16, kernel_size=(3,), stride=(1,), Activation(relu))");
  c.initialize();
  CHECK(c(nd::zeros<float>({2, 4, 10})).shape() == Shape{2, 16, 8});
  CHECK(c.weight()->shape() == Shape{16, 4, 3});
  CHECK(c.in_channels() == 4);
  CHECK(repr(c) == "Conv1D(4 -> 16, kernel_size=(3,), stride=(1,), Activation(relu))");
  CHECK(repr(nn::Conv1D{8, 5, {.strides = 2, .padding = 2, .dilation = 2, .groups = 2, .use_bias = false,
                               .in_channels = 4}}) ==
        "Conv1D(2 -> 8, kernel_size=(5,), stride=(2,), padding=(2,), dilation=(2,), groups=2, bias=False)");
}
TEST_CASE("Conv1D forward equals nd::convolution1d then the activation") {
  nn::Conv1D c{4, 3, {.strides = 2, .padding = 1, .groups = 2, .activation = "tanh"}};
  c.initialize(init::Xavier{});
  const auto x = nd::random::uniform<float>({2, 6, 9}, -1.0f, 1.0f);
  const auto y = c(x);
  CHECK(y.shape() == Shape{2, 4, 5});
  CHECK(c.weight()->shape() == Shape{4, 3, 3});
  const auto ref = nd::tanh(nd::convolution1d(x, c.weight()->data(), c.bias()->data(),
                                              {.stride = 2, .pad = 1, .num_group = 2}));
  CHECK(y.to_vector() == ref.to_vector());
  nn::Conv1D r{4, 3, {.activation = "relu", .in_channels = 6}};
  r.initialize(init::Xavier{});
  CHECK(r(x).to_vector() == nd::relu(nd::convolution1d(x, r.weight()->data(), r.bias()->data())).to_vector());
}
TEST_CASE("Conv1D: gradients of x, weight and bias match central differences (double)") {
  nn::BasicConv1D<double> c{4, 3, {.strides = 2, .padding = 1, .dilation = 2, .groups = 2, .activation = "softrelu"}};
  c.initialize(init::Xavier{});
  const auto x = rand_array({2, 2, 9});
  c(x);
  CHECK(gradcheck([&](const V& in) { return c(in[0]); }, {x, c.weight()->data(), c.bias()->data()}));
}
TEST_CASE("Conv1D: a dilated span whose product wraps around 2^64 is refused at construction") {
  // (k - 1) dilation = 2^24 * 2^40 = 2^64 was computed modulo 2^64 as 0 and passed the check
  const std::size_t k = (std::size_t(1) << 24) + 1, d = std::size_t(1) << 40;
  CHECK_THROWS_WITH_AS((nn::Conv1D{2, k, {.dilation = d}}),
                       doctest::Contains("Conv1D: dilation 1099511627776 times kernel_size 16777217"), ValueError);
}
TEST_CASE("Conv1D: errors name the block, the input and the argument") {
  CHECK_THROWS_WITH_AS(nn::Conv1D(0, 3), "Conv1D: channels must be > 0 and at most 2^40, got 0", ValueError);
  CHECK_THROWS_WITH_AS(nn::Conv1D(4, 0), "Conv1D: kernel_size must be > 0, got (0,)", ValueError);
  CHECK_THROWS_WITH_AS(nn::Conv1D(4, 3, {.padding = std::size_t(-1)}), "Conv1D: padding must be >= 0, got (-1,)",
                       ValueError);
  CHECK_THROWS_WITH_AS(nn::Conv1D(5, 3, {.groups = 2}), "Conv1D: channels (5) must be a multiple of groups (2)",
                       ValueError);
  CHECK_THROWS_WITH_AS(nn::Conv1D(4, 3, {.activation = "gelu"}), doctest::Contains("Conv1D: unknown activation"),
                       ValueError);
  nn::Conv1D c{4, 3, {.in_channels = 2}, "c_"};
  c.initialize();
  CHECK_THROWS_WITH_AS(c(nd::zeros<float>({2, 2, 5, 5})), "c_: input must be 3-D (N, C, W), got shape (2, 2, 5, 5)",
                       ShapeError);
  CHECK_THROWS_WITH_AS(c(nd::zeros<float>({2, 3, 5})),
                       "c_: input of shape (2, 3, 5) has 3 channels but weight 'c_weight' has shape (4, 2, 3) "
                       "(in_channels 2)",
                       ShapeError);
  CHECK_THROWS_WITH_AS(c(nd::zeros<float>({2, 2, 2})), doctest::Contains("convolution1d: kernel (dilated to 3"),
                       ShapeError);
}
TEST_CASE("a HybridSequential of Conv1D and 1-D pooling hybridizes and gives the imperative output and gradients") {
  nn::reset_name_counters();
  nn::BasicHybridSequential<double> net;
  net.add(nn::BasicConv1D<double>{6, 3, {.padding = 1, .activation = "relu"}}, nn::BasicMaxPool1D<double>{2},
          nn::BasicConv1D<double>{4, 3, {.strides = 2}}, nn::BasicGlobalAvgPool1D<double>{});
  net.initialize(init::Xavier{});
  const auto x = rand_array({3, 2, 16}, 5);
  const auto imperative = net(x);
  CHECK(imperative.shape() == Shape{3, 4, 1});
  net.hybridize();
  const auto traced = net(x);   // the trace runs imperatively
  const auto replayed = net(x); // the graph
  REQUIRE(net.cached_graphs().size() == 1);
  std::size_t convs = 0, pools = 0;
  for (const auto& node : net.cached_graphs()[0]->nodes) {
    convs += std::string(node.op->name()) == "convolution";
    pools += std::string(node.op->name()) == "pooling";
  }
  CHECK(convs == 2);
  CHECK(pools == 2);
  CHECK(traced.to_vector() == imperative.to_vector());
  CHECK(replayed.to_vector() == imperative.to_vector());
  // gradients through the graph equal the imperative ones
  const auto grads = [&](bool hybrid) {
    net.hybridize(hybrid);
    std::vector<std::vector<double>> g;
    for (const auto& [n, p] : net.collect_params()) p->zero_grad();
    {
      autograd::record rec;
      auto y = net(x);
      (y * y).sum().backward();
    }
    for (const auto& [n, p] : net.collect_params()) g.push_back(p->grad().to_vector());
    return g;
  };
  const auto plain = grads(false);
  CHECK(grads(true) == plain);
}
}
