// SPDX-License-Identifier: Apache-2.0
#include "fuzz_lenet_checks.hpp"

#include <gluino/optim/trainer.hpp>

#include <cstdlib>

#include "fuzz_lenet.hpp"

namespace gluino_fuzz {

namespace {
const std::shared_ptr<gluino::nn::Sequential>& lenet() {
  static const auto net = make_lenet();
  return net;
}
void load_and_step(gluino::Trainer& trainer, const std::string& path) {
  try {
    trainer.load_states(path);
  } catch (const gluino::Error&) {
    return;
  }
  trainer.step(1);
}
}  // namespace

void load_parameters_and_run(const std::string& path, std::size_t size) {
  const auto& net = lenet();
  static const auto x = gluino::nd::ones<float>({2, 1, 28, 28});
  gluino::nn::LoadOptions opt;
  opt.allow_missing = (size & 1) != 0;
  opt.ignore_extra = (size & 2) != 0;
  try {
    net->load_parameters(path, opt);
  } catch (const gluino::Error&) {
    return;
  }
  const auto y = (*net)(x);
  if (y.shape() != gluino::Shape{2, 10}) std::abort();
}

void load_states_and_step(const std::string& path) {
  const auto& net = lenet();
  static gluino::Trainer sgd(net->collect_params(), "sgd", {{"learning_rate", 0.1}, {"momentum", 0.9}});
  static gluino::Trainer adam(net->collect_params(), "adam", {{"learning_rate", 0.001}});
  load_and_step(sgd, path);
  load_and_step(adam, path);
}

}  // namespace gluino_fuzz
