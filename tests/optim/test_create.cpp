// SPDX-License-Identifier: Apache-2.0
#include <gluino/optim/create.hpp>

#include <doctest/doctest.h>

using namespace gluino;

TEST_SUITE("optim/create") {
TEST_CASE("creates each optimizer by name with its options") {
  auto sgd = optim::create("sgd", {{"learning_rate", 0.1}, {"momentum", 0.9}, {"wd", 1e-4}});
  CHECK(sgd->name() == "sgd");
  CHECK(sgd->learning_rate() == 0.1);
  CHECK(sgd->wd() == 1e-4);
  CHECK(dynamic_cast<optim::SGD&>(*sgd).momentum() == 0.9);
  CHECK(optim::create("NAG", {{"momentum", 0.5}})->name() == "nag");
  auto adam = optim::create<double>("adam", {{"beta1", 0.8}, {"clip_gradient", 1}});
  CHECK(adam->clip_gradient() == 1);
  CHECK(adam->learning_rate() == 0.001);
  auto rms = optim::create("rmsprop", {{"centered", 1}, {"gamma2", 0.5}});
  CHECK(dynamic_cast<optim::RMSProp&>(*rms).centered());
  CHECK(rms->state_names().size() == 3);
}
TEST_CASE("unknown names and keys are ValueErrors") {
  CHECK_THROWS_WITH_AS(optim::create("adagrad"), doctest::Contains("unknown optimizer 'adagrad'"), ValueError);
  CHECK_THROWS_WITH_AS(optim::create("adam", {{"momentum", 0.9}}), doctest::Contains("unknown option 'momentum'"),
                       ValueError);
  CHECK_THROWS_WITH_AS(optim::create("sgd", {{"begin_num_update", 1.5}}), doctest::Contains("integer"), ValueError);
}
}
