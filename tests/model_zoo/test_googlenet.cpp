// SPDX-License-Identifier: Apache-2.0
#include <gluino/model_zoo/googlenet.hpp>

#include <doctest/doctest.h>

#include <sstream>
#include <string>

#include <gluino/nd/shape_ops.hpp>
#include <gluino/nn/parameter_dict.hpp>
#include "support/gradcheck.hpp"
#include "support/model_zoo_checks.hpp"

using namespace gluino;

TEST_SUITE("model_zoo/googlenet") {
TEST_CASE("d2l's GoogLeNet: output shape, parameter count on one channel and 10 classes") {
  nn::reset_name_counters();
  auto net = model_zoo::googlenet();
  CHECK(net->size() == 6);
  net->initialize();
  CHECK((*net)(nd::random::uniform<float>({2, 1, 32, 32})).shape() == Shape{2, 10});
  // Reference: scripts/make_model_zoo_references.py's PyTorch GoogLeNet (5,977,530).
  test::check_counts(*net, "googlenet", R"({"classes": 10})");
  const auto p = net->collect_params();
  CHECK(p["googlenet0_conv0_weight"]->shape() == Shape{64, 1, 7, 7});
  CHECK(p["googlenet0_inception0_conv0_weight"]->shape() == Shape{64, 192, 1, 1});
  CHECK(p["googlenet0_inception0_conv2_weight"]->shape() == Shape{128, 96, 3, 3});
  CHECK(p["googlenet0_inception8_conv5_weight"]->shape() == Shape{128, 832, 1, 1});
  CHECK(p["googlenet0_dense0_weight"]->shape() == Shape{10, 1024});
}
TEST_CASE("Inception: four paths concatenated along the channels") {
  model_zoo::BasicInception<double> inc{2, {3, 4}, {1, 2}, 3};
  inc.initialize();
  CHECK(inc.size() == 4);
  CHECK(inc.axis() == 1);
  const auto x = test::rand_array({2, 5, 6, 6}, 3);
  const auto y = inc(x);
  CHECK(y.shape() == Shape{2, 2 + 4 + 2 + 3, 6, 6});
  CHECK(y.to_vector() == nd::concat<double>({inc[0](x), inc[1](x), inc[2](x), inc[3](x)}, 1).to_vector());
  std::ostringstream os;
  os << inc;
  CHECK(os.str().rfind("Inception(\n  (0): HybridSequential(\n    (0): Conv2D(5 -> 2, kernel_size=(1, 1)", 0) == 0);
  CHECK(os.str().find("MaxPool2D(size=(3, 3), stride=(1, 1), padding=(1, 1)") != std::string::npos);
  CHECK(inc.is_hybridizable());
}
TEST_CASE("one training step lowers the loss") {
  random::seed(2);
  auto net = model_zoo::googlenet({.classes = 3});
  net->initialize(init::Xavier{});
  const auto x = nd::random::uniform<float>({3, 1, 32, 32});
  test::check_training_step(*net, x, 3, 0.05);
}
TEST_CASE("hybridized: one graph with a concat per Inception, the imperative output") {
  random::seed(3);
  auto net = model_zoo::googlenet({.classes = 3});
  net->initialize(init::Xavier{});
  const auto x = nd::random::uniform<float>({1, 1, 32, 32});
  const auto a = (*net)(x);
  net->hybridize();
  // Batch 1 on two threads runs as a team (graph/team.hpp): its dense layer's product is split
  // by units, which may round differently.
  for (int run = 0; run < 2; ++run) {
    const auto h = (*net)(x);
    for (std::size_t i = 0; i < a.size(); ++i) CHECK(h.data()[i] == doctest::Approx(a.data()[i]).epsilon(1e-5));
  }
  REQUIRE(net->cached_graphs().size() == 1);
  std::size_t concats = 0;
  for (const auto& node : net->cached_graphs()[0]->nodes) concats += std::string(node.op->name()) == "concat";
  CHECK(concats == 9);
  CHECK_THROWS_WITH_AS(model_zoo::googlenet({.classes = 0}), doctest::Contains("googlenet: classes must be > 0"),
                       ValueError);
}
TEST_CASE("logits and gradients in double equal PyTorch's (model_zoo_numbers.json)") {
  test::check_numbers(*model_zoo::googlenet<double>({.classes = 10}), "googlenet", R"({"classes": 10})");
}
}
