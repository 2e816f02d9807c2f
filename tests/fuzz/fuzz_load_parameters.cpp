// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: load_parameters of the input into model_zoo LeNet (built once), with the
// load options drawn from the input's length (default, allow_missing, ignore_extra, both); after
// a load that succeeds, one forward pass (the loaded shapes must fit the layers).  Anything but a
// gluino::Error is a crash.  The work is in fuzz_lenet_checks.cpp.
#include "fuzz_common.hpp"
#include "fuzz_lenet_checks.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static gluino_fuzz::RemoveInputAtExit cleanup{".params"};
  gluino_fuzz::load_parameters_and_run(gluino_fuzz::write_input(data, size, ".params"), size);
  return 0;
}
