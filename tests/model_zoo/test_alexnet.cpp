// SPDX-License-Identifier: Apache-2.0
#include <gluino/model_zoo/alexnet.hpp>

#include <doctest/doctest.h>

#include "support/count_params.hpp"

#include <sstream>

#include <gluino/nd/creation.hpp>
#include <gluino/nd/random.hpp>

using namespace gluino;
using gluino::test::count_params;


TEST_SUITE("model_zoo/alexnet") {
TEST_CASE("the tutorial's AlexNet on 1x224x224: output shape for a batch of 2, summary, parameter count") {
  nn::reset_name_counters();
  auto net = model_zoo::alexnet();
  CHECK(net->size() == 13);
  // A constant initializer: cheaper than random draws for 46.8 million parameters.
  net->initialize(init::Constant{0.001});
  std::ostringstream os;
  net->summary(nd::random::uniform<float>({2, 1, 224, 224}), os);
  const std::string s = os.str();
  // conv0 96*1*11*11 + 96 = 11,712; conv1 256*96*5*5 + 256 = 614,656; conv2 384*256*3*3 + 384 = 885,120;
  // conv3 384*384*3*3 + 384 = 1,327,488; conv4 256*384*3*3 + 256 = 884,992;
  // dense0 (256*5*5)*4096 + 4096 = 26,218,496; dense1 4096*4096 + 4096 = 16,781,312; dense2 4096*10 + 10 = 40,970.
  const std::size_t total = 11712 + 614656 + 885120 + 1327488 + 884992 + 26218496 + 16781312 + 40970;
  CHECK(total == 46764746);
  CHECK(count_params(*net) == total);
  for (const char* row : {"Conv2D-1", "(2, 96, 54, 54)", "MaxPool2D-2", "(2, 96, 26, 26)", "(2, 256, 26, 26)",
                          "(2, 256, 12, 12)", "(2, 384, 12, 12)", "Conv2D-7", "MaxPool2D-8", "(2, 256, 5, 5)",
                          "Dense-9", "(2, 4096)", "Dropout-10", "Dense-13", "(2, 10)", "Total params: 46764746"}) {
    CAPTURE(row);
    CHECK(s.find(row) != std::string::npos);
  }
  const auto params = net->collect_params();
  CHECK(params["alexnet0_conv0_weight"]->shape() == Shape{96, 1, 11, 11});
  CHECK(params["alexnet0_conv4_weight"]->shape() == Shape{256, 384, 3, 3});
  CHECK(params["alexnet0_dense0_weight"]->shape() == Shape{4096, 6400});
  CHECK(params["alexnet0_dense2_weight"]->shape() == Shape{10, 4096});
}
TEST_CASE("options: classes and dropout; Dropout acts in train mode only (small 67x67 input)") {
  // 67x67 is the smallest square input: conv 15, pool 7, conv 7, pool 3, convs 3, pool 1.
  auto net = model_zoo::alexnet({.classes = 3, .dropout = 0.5});
  net->initialize();
  const auto x = nd::random::uniform<float>({2, 1, 67, 67});
  const auto a = (*net)(x), b = (*net)(x);
  CHECK(a.shape() == Shape{2, 3});
  CHECK(a.to_vector() == b.to_vector());  // predict mode: Dropout is the identity
  {
    autograd::train_mode tm;
    CHECK((*net)(x).to_vector() != a.to_vector());
  }
  std::ostringstream os;
  os << (*net)[9];
  CHECK(os.str() == "Dropout(p = 0.5, axes=())");
  CHECK_THROWS_WITH_AS(model_zoo::alexnet({.classes = 0}), doctest::Contains("alexnet: classes must be > 0"),
                       ValueError);
  CHECK_THROWS_AS(model_zoo::alexnet({.dropout = 2.0}), ValueError);
}
}
