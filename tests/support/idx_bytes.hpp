// SPDX-License-Identifier: Apache-2.0
#pragma once
/// IDX test inputs built in memory: a header, and a gzip decompression bomb (shared by
/// tests/data/test_idx.cpp and tests/fuzz/make_seeds.cpp).
#include <zlib.h>

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <vector>

namespace gluino_test {

/// An IDX header of unsigned bytes (type 0x08) with the given dimensions, big-endian.
inline std::vector<std::uint8_t> idx_header(const std::vector<std::uint32_t>& dims) {
  std::vector<std::uint8_t> h{0, 0, 8, static_cast<std::uint8_t>(dims.size())};
  for (std::uint32_t d : dims)
    for (int s = 24; s >= 0; s -= 8) h.push_back(static_cast<std::uint8_t>(d >> s));
  return h;
}

/// A valid gzip file of `head` followed by `mib` MiB of zeros, about 1 KB per MiB: one MiB of
/// zeros deflated once (ending in a full flush, so it refers to nothing before it) and repeated,
/// then a trailer with the CRC-32 and length of the whole.  A decompression bomb.
inline std::vector<std::uint8_t> gzip_bomb(const std::vector<std::uint8_t>& head, std::size_t mib) {
  z_stream zs{};
  if (deflateInit2(&zs, 9, Z_DEFLATED, 16 + MAX_WBITS, 9, Z_DEFAULT_STRATEGY) != Z_OK)
    throw std::runtime_error("gzip_bomb: deflateInit2 failed");
  std::vector<std::uint8_t> buf(1 << 16);
  auto run = [&](const std::uint8_t* p, std::size_t n, int flush) {
    std::vector<std::uint8_t> o;
    zs.next_in = const_cast<Bytef*>(p);
    zs.avail_in = static_cast<uInt>(n);
    do {
      zs.next_out = buf.data();
      zs.avail_out = static_cast<uInt>(buf.size());
      deflate(&zs, flush);
      o.insert(o.end(), buf.begin(), buf.end() - zs.avail_out);
    } while (zs.avail_out == 0);
    return o;
  };
  const std::vector<std::uint8_t> zeros(1 << 20, 0);
  auto out = run(head.data(), head.size(), Z_FULL_FLUSH);
  const auto block = run(zeros.data(), zeros.size(), Z_FULL_FLUSH);
  auto tail = run(nullptr, 0, Z_FINISH);  // the last (empty) block and an 8-byte trailer
  deflateEnd(&zs);
  for (std::size_t i = 0; i < mib; ++i) out.insert(out.end(), block.begin(), block.end());
  out.insert(out.end(), tail.begin(), tail.end() - 8);
  uLong crc = crc32(0, head.data(), static_cast<uInt>(head.size()));
  const uLong crc_mib = crc32(0, zeros.data(), static_cast<uInt>(zeros.size()));
  for (std::size_t i = 0; i < mib; ++i) crc = crc32_combine(crc, crc_mib, 1 << 20);
  const std::uint64_t len = head.size() + (std::uint64_t(mib) << 20);
  for (std::uint64_t v : {std::uint64_t(crc), len})
    for (int i = 0; i < 4; ++i) out.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
  return out;
}

}  // namespace gluino_test
