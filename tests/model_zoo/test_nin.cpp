// SPDX-License-Identifier: Apache-2.0
#include <gluino/model_zoo/nin.hpp>

#include <doctest/doctest.h>

#include <sstream>
#include <string>

#include <gluino/nn/parameter_dict.hpp>
#include "support/model_zoo_checks.hpp"

using namespace gluino;

TEST_SUITE("model_zoo/nin") {
TEST_CASE("d2l's NiN: output shape, parameter count on one channel and 10 classes") {
  nn::reset_name_counters();
  auto net = model_zoo::nin();
  CHECK(net->size() == 10);
  net->initialize();
  // The smallest input (67x67) resolves the same shapes as 224x224: the net ends with a global pool.
  CHECK((*net)(nd::random::uniform<float>({2, 1, 67, 67})).shape() == Shape{2, 10});
  // Reference: scripts/make_model_zoo_references.py's PyTorch NiN: 1,992,166 =
  // block 1: 96*1*11*11 + 96 + 2 * (96*96 + 96) = 30,336; block 2: 256*96*25 + 256 + 2 * (256*256 + 256)
  // = 746,240; block 3: 384*256*9 + 384 + 2 * (384*384 + 384) = 1,180,800; block 4: 10*384*9 + 10
  // + 2 * (10*10 + 10) = 34,790.
  test::check_counts(*net, "nin", R"({"classes": 10})");
  CHECK(test::param_counts(*net).total == 30336 + 746240 + 1180800 + 34790);
  const auto p = net->collect_params();
  CHECK(p["nin0_conv0_weight"]->shape() == Shape{96, 1, 11, 11});
  CHECK(p["nin0_conv11_weight"]->shape() == Shape{10, 10, 1, 1});
}
TEST_CASE("nin_block, listing, options") {
  auto blk = model_zoo::nin_block<float>(8, 3, 1, 1);
  blk->initialize();
  CHECK((*blk)(nd::random::uniform<float>({1, 2, 5, 5})).shape() == Shape{1, 8, 5, 5});
  auto net = model_zoo::nin({.classes = 4, .dropout = 0.2});
  std::ostringstream os;
  os << *net;
  CHECK(os.str().rfind("NiN(\n  (0): HybridSequential(\n    (0): Conv2D(None -> 96, kernel_size=(11, 11), "
                       "stride=(4, 4), Activation(relu))", 0) == 0);
  CHECK(os.str().find("(6): Dropout(p = 0.2, axes=())") != std::string::npos);
  CHECK(os.str().find("Conv2D(None -> 4, kernel_size=(3, 3)") != std::string::npos);
  CHECK_THROWS_WITH_AS(model_zoo::nin({.classes = 0}), doctest::Contains("nin: classes must be > 0"), ValueError);
  CHECK_THROWS_AS(model_zoo::nin({.dropout = -1}), ValueError);
}
TEST_CASE("one training step lowers the loss; hybridized equals imperative") {
  random::seed(7);
  auto net = model_zoo::nin({.classes = 3});
  net->initialize(init::Xavier{});
  const auto x = nd::random::uniform<float>({3, 1, 67, 67});
  test::check_training_step(*net, x, 3, 0.05);
  const auto a = (*net)(x);
  net->hybridize();
  CHECK((*net)(x).to_vector() == a.to_vector());
  CHECK((*net)(x).to_vector() == a.to_vector());
}
TEST_CASE("logits and gradients in double equal PyTorch's (model_zoo_numbers.json)") {
  test::check_numbers(*model_zoo::nin<double>({.classes = 10}), "nin", R"({"classes": 10})");
}
}
