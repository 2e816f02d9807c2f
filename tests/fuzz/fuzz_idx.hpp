// SPDX-License-Identifier: Apache-2.0
#pragma once
/// The body of the IDX targets: read_idx_bytes on a buffer and read_idx on the same bytes as a
/// file must agree (same dims and data, or the same error apart from the name), and the result
/// must be consistent (data.size() == product of dims <= max_bytes).
#include <gluino/data/idx.hpp>

#include <string>

#include "fuzz_common.hpp"

namespace gluino_fuzz {

struct IdxOutcome {
  bool ok = false;
  gluino::data::IdxArray array;
  std::string error;  // what(), with the file's name replaced by "<input>"
};

inline std::string without_name(std::string what, const std::string& name) {
  for (std::size_t at = 0; (at = what.find(name, at)) != std::string::npos; at += 7) what.replace(at, name.size(), "<input>");
  return what;
}

template <class Read>
IdxOutcome idx_outcome(Read read, const std::string& name) {
  IdxOutcome o;
  std::size_t seen = 0;
  gluino::data::IdxReadOptions opt;
  opt.max_bytes = std::size_t(64) << 20;  // within -rss_limit_mb, and well above -max_len's reach
  opt.on_bytes = [&](const std::uint8_t*, std::size_t n) { seen += n; };
  try {
    o.array = read(opt);
    o.ok = true;
  } catch (const gluino::Error& e) {
    o.error = without_name(e.what(), name);
  }
  if (o.ok) {  // the result is what the header announced, and on_bytes saw exactly the file
    std::size_t total = 1;
    for (std::size_t d : o.array.dims) total *= d;
    if (o.array.dims.empty() || o.array.dims.size() > gluino::Shape::max_dims || total != o.array.data.size() ||
        total > opt.max_bytes || seen != 4 + 4 * o.array.dims.size() + total)
      std::abort();
  } else if (seen > opt.max_bytes + 4 + 4 * 255) {
    std::abort();  // decompressed beyond what any header may announce
  }
  return o;
}

/// Reads `data` from memory and from a file; aborts when the two disagree.
inline IdxOutcome fuzz_idx(const std::uint8_t* data, std::size_t size) {
  static RemoveInputAtExit cleanup{".idx"};
  const auto mem = idx_outcome([&](const auto& opt) { return gluino::data::read_idx_bytes(data, size, opt, "<input>"); },
                               "<input>");
  const std::string& path = write_input(data, size, ".idx");
  const auto file = idx_outcome([&](const auto& opt) { return gluino::data::read_idx(path, opt); }, path);
  if (mem.ok != file.ok || mem.error != file.error ||
      (mem.ok && (mem.array.dims != file.array.dims || mem.array.data != file.array.data)))
    std::abort();
  return mem;
}

}  // namespace gluino_fuzz
