// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: load_parameters of the input into model_zoo LeNet (built once), with the
// load options drawn from the input's length (default, allow_missing, ignore_extra, both); after
// a load that succeeds, one forward pass (the loaded shapes must fit the layers).  Anything but a
// gluino::Error is a crash.
#include <cstdlib>

#include "fuzz_common.hpp"
#include "fuzz_lenet.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const auto net = gluino_fuzz::make_lenet();
  static const auto x = gluino::nd::ones<float>({2, 1, 28, 28});
  static gluino_fuzz::RemoveInputAtExit cleanup{".params"};
  const std::string& path = gluino_fuzz::write_input(data, size, ".params");
  gluino::nn::LoadOptions opt;
  opt.allow_missing = (size & 1) != 0;
  opt.ignore_extra = (size & 2) != 0;
  try {
    net->load_parameters(path, opt);
  } catch (const gluino::Error&) {
    return 0;
  }
  const auto y = (*net)(x);
  if (y.shape() != gluino::Shape{2, 10}) std::abort();
  return 0;
}
