// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: Trainer::load_states of the input into two trainers over model_zoo LeNet's
// parameters (built once): SGD with momentum and Adam.  After a load that succeeds, one step
// (the loaded states must fit the parameters).  Anything but a gluino::Error is a crash.
#include <gluino/optim/trainer.hpp>

#include "fuzz_common.hpp"
#include "fuzz_lenet.hpp"

namespace {
void load_and_step(gluino::Trainer& trainer, const std::string& path) {
  try {
    trainer.load_states(path);
  } catch (const gluino::Error&) {
    return;
  }
  trainer.step(1);
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const auto net = gluino_fuzz::make_lenet();
  static gluino::Trainer sgd(net->collect_params(), "sgd", {{"learning_rate", 0.1}, {"momentum", 0.9}});
  static gluino::Trainer adam(net->collect_params(), "adam", {{"learning_rate", 0.001}});
  static gluino_fuzz::RemoveInputAtExit cleanup{".states"};
  const std::string& path = gluino_fuzz::write_input(data, size, ".states");
  load_and_step(sgd, path);
  load_and_step(adam, path);
  return 0;
}
