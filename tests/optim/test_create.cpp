// SPDX-License-Identifier: Apache-2.0
#include <gluino/optim/create.hpp>

#include <doctest/doctest.h>

#include <limits>
#include <map>
#include <string>
#include <vector>

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
TEST_CASE("every registered name, with its state names") {
  const std::map<std::string, std::vector<std::string>> states = {
      {"sgd", {}}, {"nag", {}}, {"adam", {"mean", "var"}}, {"rmsprop", {"n"}},
      {"adagrad", {"history"}}, {"adadelta", {"acc_g", "acc_delta"}}, {"adamax", {"mean", "u"}},
      {"nadam", {"mean", "var"}}, {"signum", {"mom"}}, {"ftml", {"d", "v", "z"}},
      {"lamb", {"mean", "var"}}, {"adamw", {"mean", "var"}}};
  for (const auto& entry : states) {
    const std::string& name = entry.first;  // a named variable: clang 14 cannot capture a binding
    const std::vector<std::string>& names = entry.second;
    INFO(name);
    auto opt = optim::create<double>(name, {{"learning_rate", 0.5}, {"wd", 0.25}, {"clip_gradient", 2}});
    CHECK(opt->name() == name);
    CHECK(opt->learning_rate() == 0.5);
    CHECK(opt->wd() == 0.25);
    CHECK(opt->clip_gradient() == 2);
    CHECK(opt->state_names() == names);
  }
}
TEST_CASE("unknown names and keys are ValueErrors") {
  CHECK_THROWS_WITH_AS(optim::create("ftrl"), doctest::Contains("unknown optimizer 'ftrl'"), ValueError);
  CHECK_THROWS_WITH_AS(optim::create("adam", {{"momentum", 0.9}}), doctest::Contains("unknown option 'momentum'"),
                       ValueError);
  CHECK_THROWS_WITH_AS(optim::create("sgd", {{"begin_num_update", 1.5}}), doctest::Contains("integer"), ValueError);
}
TEST_CASE("option values of the wrong type are ValueErrors naming the option") {
  const double nan = std::numeric_limits<double>::quiet_NaN(), inf = std::numeric_limits<double>::infinity();
  // Booleans are 0 or 1, not "anything non-zero".
  CHECK_THROWS_WITH_AS(optim::create("rmsprop", {{"centered", 0.5}}),
                       "create: option 'centered' of optimizer 'rmsprop' must be 0 or 1 (a boolean), got 0.5",
                       ValueError);
  CHECK_THROWS_WITH_AS(optim::create("lamb", {{"bias_correction", nan}}), doctest::Contains("'bias_correction'"),
                       ValueError);
  CHECK_THROWS_WITH_AS(optim::create("adamw", {{"correct_bias", -1}}), doctest::Contains("'correct_bias'"), ValueError);
  CHECK_FALSE(dynamic_cast<optim::AdamW&>(*optim::create("adamw", {{"correct_bias", 0}})).correct_bias());
  // Integers out of range (converting them to std::size_t would be undefined).
  CHECK_THROWS_WITH_AS(optim::create("sgd", {{"begin_num_update", inf}}), doctest::Contains("'begin_num_update'"),
                       ValueError);
  CHECK_THROWS_WITH_AS(optim::create("sgd", {{"begin_num_update", 1e30}}), doctest::Contains("'begin_num_update'"),
                       ValueError);
  CHECK_THROWS_WITH_AS(optim::create("sgd", {{"begin_num_update", nan}}), doctest::Contains("'begin_num_update'"),
                       ValueError);
  CHECK(optim::create("sgd", {{"begin_num_update", 7}})->num_update() == 7);
}
}
