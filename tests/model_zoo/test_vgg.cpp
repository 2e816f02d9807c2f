// SPDX-License-Identifier: Apache-2.0
#include <gluino/model_zoo/vgg.hpp>

#include <doctest/doctest.h>

#include "support/count_params.hpp"

#include "support/repr.hpp"

#include <sstream>

#include <gluino/init/xavier.hpp>
#include <gluino/nd/creation.hpp>
#include <gluino/nd/random.hpp>

using namespace gluino;
using gluino::test::count_params;
using test::repr;


TEST_SUITE("model_zoo/vgg") {
TEST_CASE("vgg_block: the tutorial's block, named in the current scope") {
  nn::reset_name_counters();
  auto blk = model_zoo::vgg_block(2, 8);
  CHECK(blk->size() == 3);
  CHECK(repr(*blk) ==
        "Sequential(\n"
        "  (0): Conv2D(None -> 8, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1), Activation(relu))\n"
        "  (1): Conv2D(None -> 8, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1), Activation(relu))\n"
        "  (2): MaxPool2D(size=(2, 2), stride=(2, 2), padding=(0, 0), ceil_mode=False, global_pool=False, "
        "pool_type=max, layout=NCHW)\n"
        ")");
  blk->initialize();
  CHECK((*blk)(nd::zeros<float>({2, 3, 6, 6})).shape() == Shape{2, 8, 3, 3});
  CHECK(blk->collect_params().keys() ==
        std::vector<std::string>{"conv0_weight", "conv0_bias", "conv1_weight", "conv1_bias"});
  auto bn = model_zoo::vgg_block(1, 4, {.batch_norm = true});
  CHECK(bn->size() == 4);
  CHECK((*bn)[1].type_name() == "BatchNorm");
  CHECK(repr((*bn)[0]) == "Conv2D(None -> 4, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))");
  CHECK(repr((*bn)[2]) == "Activation(relu)");
}
TEST_CASE("VGG-11 with a divisor of 8 on 1x32x32: output shape for a batch of 2, exact parameter count") {
  nn::reset_name_counters();
  auto net = model_zoo::vgg11({.dense_units = 32, .channel_divisor = 8});
  CHECK(net->size() == 10);  // 5 blocks, then Dense Dropout Dense Dropout Dense
  net->initialize(init::Xavier{});
  CHECK((*net)(nd::random::uniform<float>({2, 1, 32, 32})).shape() == Shape{2, 10});
  // channels 8, 16, 32, 32, 64, 64, 64, 64; conv params c_out * c_in * 9 + c_out:
  const std::size_t conv = (8 * 1 * 9 + 8) + (16 * 8 * 9 + 16) + (32 * 16 * 9 + 32) + (32 * 32 * 9 + 32) +
                           (64 * 32 * 9 + 64) + 3 * (64 * 64 * 9 + 64);
  // 32 / 2^5 = 1: the first Dense sees 64 * 1 * 1 features.
  const std::size_t dense = (64 * 32 + 32) + (32 * 32 + 32) + (32 * 10 + 10);
  CHECK(conv == 144416);
  CHECK(count_params(*net) == conv + dense);
  CHECK(count_params(*net) == 147882);
  CHECK(count_params(*net, ".*conv.*") == conv);
  CHECK(net->collect_params().contains("vgg0_conv7_weight"));
  CHECK(net->collect_params()["vgg0_dense0_weight"]->shape() == Shape{32, 64});
  std::ostringstream os;
  net->summary(nd::zeros<float>({2, 1, 32, 32}), os);
  const std::string s = os.str();
  for (const char* row : {"Conv2D-1", "(2, 8, 32, 32)", "MaxPool2D-2", "(2, 8, 16, 16)", "(2, 16, 8, 8)",
                          "(2, 64, 1, 1)", "Dense-14", "(2, 32)", "Dropout-15", "Dense-18", "(2, 10)",
                          "Total params: 147882"}) {
    CAPTURE(row);
    CHECK(s.find(row) != std::string::npos);
  }
}
TEST_CASE("the standard VGG-11 convolutions (full channels): exact parameter count") {
  // Standard channels on a 32x32 input with small dense layers, so that the test stays fast; on
  // 1x224x224 with the default 4096 units the dense layers add 25088*4096 + 4096 +
  // 4096*4096 + 4096 + 4096*10 + 10 = 119,586,826, for 128,806,154 in all (Gluon's vgg11 with
  // one input channel and 10 classes).
  auto net = model_zoo::vgg11({.dense_units = 16});
  net->initialize(init::Constant{0.001});
  CHECK((*net)(nd::zeros<float>({1, 1, 32, 32})).shape() == Shape{1, 10});
  const std::size_t conv = (64 * 1 * 9 + 64) + (128 * 64 * 9 + 128) + (256 * 128 * 9 + 256) + (256 * 256 * 9 + 256) +
                           (512 * 256 * 9 + 512) + 3 * (512 * 512 * 9 + 512);
  CHECK(conv == 9219328);
  CHECK(count_params(*net, ".*conv.*") == conv);
  CHECK(count_params(*net) == conv + (512 * 16 + 16) + (16 * 16 + 16) + (16 * 10 + 10));
}
TEST_CASE("batch_norm: Conv2D -> BatchNorm -> Activation(relu); running statistics are non-trainable") {
  auto net = model_zoo::vgg11({.batch_norm = true, .dense_units = 32, .channel_divisor = 8});
  net->initialize();
  std::ostringstream os;
  net->summary(nd::random::uniform<float>({2, 1, 32, 32}), os);
  const std::string s = os.str();
  // Each BatchNorm adds 4 * channels (gamma, beta, running_mean, running_var), 2 * channels trainable.
  const std::size_t bn_channels = 8 + 16 + 32 + 32 + 64 + 64 + 64 + 64;
  CHECK(count_params(*net) == 147882 + 4 * bn_channels);
  for (const char* row : {"Conv2D-1", "BatchNorm-2", "Activation-3", "MaxPool2D-4", "Total params: 149258",
                          "Non-trainable params: 688"}) {
    CAPTURE(row);
    CHECK(s.find(row) != std::string::npos);
  }
  // Train mode updates the running statistics; predict mode uses them.
  auto rm = net->collect_params()[net->prefix() + "batchnorm0_running_mean"];
  CHECK(rm->data().to_vector() == std::vector<float>(8, 0.0f));
  {
    autograd::record rec;
    (*net)(nd::random::uniform<float>({2, 1, 32, 32}, 1.0f, 2.0f));
  }
  CHECK(rm->data().to_vector() != std::vector<float>(8, 0.0f));
}
TEST_CASE("vgg_arch tables and vgg13/16/19: numbers of convolutions") {
  CHECK(model_zoo::vgg_arch(11) == model_zoo::VGGArch{{1, 64}, {1, 128}, {2, 256}, {2, 512}, {2, 512}});
  CHECK(model_zoo::vgg_arch(16) == model_zoo::VGGArch{{2, 64}, {2, 128}, {3, 256}, {3, 512}, {3, 512}});
  auto convs = [](const std::shared_ptr<nn::Sequential>& net) { return net->collect_params(".*conv.*weight").size(); };
  const model_zoo::VGGOptions small{.dense_units = 8, .channel_divisor = 16};
  CHECK(convs(model_zoo::vgg11(small)) == 8);
  CHECK(convs(model_zoo::vgg13(small)) == 10);
  CHECK(convs(model_zoo::vgg16(small)) == 13);
  CHECK(convs(model_zoo::vgg19(small)) == 16);
  // A custom table, as the tutorial's vgg(conv_arch).
  auto net = model_zoo::vgg({{1, 4}, {2, 8}}, {.classes = 5, .dense_units = 6});
  net->initialize();
  CHECK((*net)(nd::zeros<float>({2, 3, 8, 8})).shape() == Shape{2, 5});
  CHECK(net->collect_params(".*dense0_weight").begin()->second->shape() == Shape{6, 8 * 2 * 2});
}
TEST_CASE("errors") {
  CHECK_THROWS_WITH_AS(model_zoo::vgg_arch(12), doctest::Contains("vgg_arch: depth must be 11, 13, 16 or 19, got 12"),
                       ValueError);
  CHECK_THROWS_WITH_AS(model_zoo::vgg11({.channel_divisor = 128}), doctest::Contains("vgg: channels 64"), ValueError);
  CHECK_THROWS_WITH_AS(model_zoo::vgg11({.channel_divisor = 0}), doctest::Contains("channel_divisor"), ValueError);
  CHECK_THROWS_WITH_AS(model_zoo::vgg({}), doctest::Contains("vgg: conv_arch is empty"), ValueError);
  CHECK_THROWS_WITH_AS(model_zoo::vgg_block(0, 4), doctest::Contains("vgg_block: num_convs"), ValueError);
}
}
