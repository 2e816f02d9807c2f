// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: io::load_safetensors_with_metadata<float> on the input, then every element
// of every tensor is read.  Anything but a gluino::Error is a crash.
#include "fuzz_safetensors.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  return gluino_fuzz::fuzz_safetensors<float>(data, size);
}
