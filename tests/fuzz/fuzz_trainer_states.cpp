// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: Trainer::load_states of the input into two trainers over model_zoo LeNet's
// parameters (built once): SGD with momentum and Adam.  After a load that succeeds, one step
// (the loaded states must fit the parameters).  Anything but a gluino::Error is a crash.  The
// work is in fuzz_lenet_checks.cpp.
#include "fuzz_common.hpp"
#include "fuzz_lenet_checks.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static gluino_fuzz::RemoveInputAtExit cleanup{".states"};
  gluino_fuzz::load_states_and_step(gluino_fuzz::write_input(data, size, ".states"));
  return 0;
}
