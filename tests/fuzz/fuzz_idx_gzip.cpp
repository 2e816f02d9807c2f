// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: data::read_idx on gzip input, from memory and from a file (the two must agree).
//   - An input starting with the gzip magic (1f 8b) is read as it is: damaged deflate data,
//     truncations, several members, trailing garbage, bombs.
//   - Any other input is taken as raw IDX bytes, gzip-compressed here, and read both ways: the
//     gzip reading must give exactly what the raw reading gives (so mutations of the IDX header
//     and payload reach the gzip path too).
#include <zlib.h>

#include <cstdlib>
#include <vector>

#include "fuzz_idx.hpp"

namespace {
std::vector<std::uint8_t> gzip(const std::uint8_t* data, std::size_t size) {
  z_stream zs{};
  if (deflateInit2(&zs, 1, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK) std::abort();
  std::vector<std::uint8_t> out(deflateBound(&zs, size) + 32);
  zs.next_in = const_cast<Bytef*>(data);
  zs.avail_in = static_cast<uInt>(size);
  zs.next_out = out.data();
  zs.avail_out = static_cast<uInt>(out.size());
  if (deflate(&zs, Z_FINISH) != Z_STREAM_END) std::abort();
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size >= 2 && data[0] == 0x1f && data[1] == 0x8b) {
    gluino_fuzz::fuzz_idx(data, size);
    return 0;
  }
  const auto raw = gluino_fuzz::fuzz_idx(data, size);
  const auto gz = gzip(data, size);
  const auto zipped = gluino_fuzz::fuzz_idx(gz.data(), gz.size());
  // Same outcome; the errors may differ only where raw input knows its size up front (extra
  // bytes are counted there) or has a different read path (truncated lengths match).
  if (raw.ok != zipped.ok || (raw.ok && (raw.array.dims != zipped.array.dims || raw.array.data != zipped.array.data)))
    std::abort();
  return 0;
}
