// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: data::read_idx on raw (uncompressed) IDX bytes, from memory and from a file
// (the two must agree).  An input starting with the gzip magic is read as gzip: fuzz_idx_gzip
// covers that.
#include "fuzz_idx.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  gluino_fuzz::fuzz_idx(data, size);
  return 0;
}
