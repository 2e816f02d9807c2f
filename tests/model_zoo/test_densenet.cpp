// SPDX-License-Identifier: Apache-2.0
#include <gluino/model_zoo/densenet.hpp>

#include <doctest/doctest.h>

#include <sstream>
#include <string>

#include <gluino/nn/parameter_dict.hpp>
#include "support/model_zoo_checks.hpp"

using namespace gluino;
using test::check_counts;
using test::check_training_step;

TEST_SUITE("model_zoo/densenet") {
TEST_CASE("parameter counts for ImageNet (1000 classes, 3 channels) equal the PyTorch references") {
  // tests/data/reference/model_zoo.json (scripts/make_model_zoo_references.py): PyTorch modules
  // after Gluon's layer lists, whose trainable counts equal torchvision's published densenet121
  // (7,978,856), 161, 169 and 201; "total" adds BatchNorm's running statistics, as Gluon counts.
  for (int depth : {121, 161, 169, 201}) {
    auto net = model_zoo::get_densenet(depth, {.in_channels = 3});
    net->initialize(init::Zero{});
    check_counts(*net, "densenet" + std::to_string(depth), R"({"classes": 1000})");
  }
  auto net = model_zoo::densenet121({.in_channels = 3});
  net->initialize(init::Zero{});
  CHECK(test::param_counts(*net).trainable == 7978856);
}
TEST_CASE("DenseNet-121: output shape on a small input, deferred input channels") {
  auto net = model_zoo::densenet121({.classes = 10});
  net->initialize();
  // 32 -> 16 (conv) -> 8 (pool) -> 4, 2, 1 (transitions); 1024 channels into the Dense.
  CHECK((*net)(nd::random::uniform<float>({1, 1, 32, 32})).shape() == Shape{1, 10});
  CHECK(net->collect_params()[net->prefix() + "conv0_weight"]->shape() == Shape{64, 1, 7, 7});
}
TEST_CASE("dense layers concatenate the input with the new features; names and structure as Gluon's") {
  nn::reset_name_counters();
  auto net = model_zoo::densenet121();
  const auto p = net->collect_params();
  CHECK(net->prefix() == "densenet0_");
  CHECK(p["densenet0_conv0_weight"]->shape() == Shape{64, 0, 7, 7});
  // Stage 1's first layer: BatchNorm(64) Conv1x1(128) BatchNorm(128) Conv3x3(32).
  CHECK(p["densenet0_stage1_batchnorm0_gamma"]->shape() == Shape{64});
  CHECK(p["densenet0_stage1_conv0_weight"]->shape() == Shape{128, 64, 1, 1});
  CHECK(p["densenet0_stage1_conv1_weight"]->shape() == Shape{32, 128, 3, 3});
  CHECK(p["densenet0_stage1_batchnorm10_gamma"]->shape() == Shape{64 + 5 * 32});  // the 6th layer's first
  // The first transition (net's scope): 256 -> 128 channels.
  CHECK(p["densenet0_conv1_weight"]->shape() == Shape{128, 256, 1, 1});
  CHECK(p["densenet0_dense0_weight"]->shape() == Shape{1000, 1024});
  std::ostringstream os;
  os << *net;
  CHECK(os.str().find("(0): HybridConcatenate(\n        (0): Identity\n        (1): HybridSequential(") !=
        std::string::npos);
  model_zoo::dense_layer<float>(8, 2, 0)->initialize();
  auto layer = model_zoo::dense_layer<float>(8, 2, 0, 5);
  layer->initialize();
  const auto x = nd::random::uniform<float>({2, 5, 4, 4});
  const auto y = (*layer)(x);
  CHECK(y.shape() == Shape{2, 13, 4, 4});
  CHECK(y.at(1, 4, 3, 2) == x.at(1, 4, 3, 2));  // the input's channels first, unchanged
}
TEST_CASE("one training step on a tiny DenseNet lowers the loss") {
  random::seed(3);
  auto tiny = model_zoo::densenet<float>(8, 4, {2, 2}, {.classes = 3});
  tiny->initialize(init::Xavier{});
  check_training_step(*tiny, nd::random::uniform<float>({3, 1, 16, 16}), 3);
}
TEST_CASE("DenseNet-121 on a tiny batch: every parameter gets a nonzero gradient") {
  // Two 32x32 images reach the last stage as 1x1 maps, whose batch norms see two values per
  // channel: a step's effect on the loss is erratic there, so only the gradients are checked.
  random::seed(4);
  auto net = model_zoo::densenet121({.classes = 2});
  net->initialize(init::Xavier{});
  check_training_step(*net, nd::random::uniform<float>({2, 3, 32, 32}), 2, 0);
}
TEST_CASE("dropout after each dense layer in train mode only; hybridized equals imperative") {
  random::seed(9);
  auto net = model_zoo::densenet<float>(8, 4, {2, 2}, {.dropout = 0.5, .classes = 3});
  net->initialize(init::Xavier{});
  const auto x = nd::random::uniform<float>({2, 1, 16, 16});
  {
    autograd::train_mode tm;  // (also updates the batch norms' running statistics)
    CHECK((*net)(x).to_vector() != (*net)(x).to_vector());
  }
  const auto a = (*net)(x);
  CHECK((*net)(x).to_vector() == a.to_vector());
  net->hybridize();
  CHECK((*net)(x).to_vector() == a.to_vector());
  const auto g = (*net)(x);
  for (std::size_t i = 0; i < a.size(); ++i) CHECK(g.data()[i] == doctest::Approx(a.data()[i]).epsilon(1e-4));
}
TEST_CASE("errors") {
  CHECK_THROWS_WITH_AS(model_zoo::get_densenet(100), doctest::Contains("get_densenet: num_layers must be 121"),
                       ValueError);
  CHECK_THROWS_WITH_AS(model_zoo::densenet<float>(64, 32, {}), doctest::Contains("densenet: block_config is empty"),
                       ValueError);
  CHECK_THROWS_WITH_AS(model_zoo::densenet121({.classes = 0}), doctest::Contains("densenet: classes must be > 0"),
                       ValueError);
  CHECK_THROWS_AS(model_zoo::densenet121({.dropout = 1.5}), ValueError);
}
TEST_CASE("logits and gradients in double equal PyTorch's (model_zoo_numbers.json)") {
  test::check_numbers(*model_zoo::densenet121<double>({.classes = 10}), "densenet121", R"({"classes": 10})");
}
}
