// SPDX-License-Identifier: Apache-2.0
#pragma once
/// Reading and writing the safetensors format (huggingface/safetensors), which Python's
/// `safetensors` package and PyTorch read:
///   8 bytes   N, the header length, unsigned little-endian
///   N bytes   JSON: {"__metadata__": {"k": "v", ...},
///                    "<name>": {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}, ...}
///             padded with spaces so that N is a multiple of 8 (as the reference writer does)
///   the rest  the data section: each tensor's elements, row-major, little-endian, at
///             [begin, end) relative to the start of the data section; tensors are contiguous,
///             in order, do not overlap and cover the whole section.
/// Uses nlohmann-json (header-only) for the header; a program built against the precompiled
/// library (detail/precompiled.hpp) sees only the declarations of the reader and the writers,
/// and does not parse nlohmann-json.
#include <algorithm>
#include <bit>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <ostream>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "gluino/core/ndarray.hpp"
#include "gluino/detail/atomic_file.hpp"
#include "gluino/detail/precompiled.hpp"

#if GLUINO_FUNCTION_BODIES || !GLUINO_EXTERN_TEMPLATES
#include <nlohmann/json.hpp>
#endif

namespace gluino::io {

/// Largest header accepted, in bytes (the reference implementation's limit).
constexpr std::uint64_t safetensors_max_header_bytes = 100'000'000;

/// One tensor described by a safetensors header.
struct SafetensorsEntry {
  std::string name;
  std::string dtype;                // "F32", "F64", "F16", "I64", ...
  std::vector<std::size_t> shape;
  std::size_t begin = 0, end = 0;   // byte offsets in the data section
};

/// A validated safetensors header.
struct SafetensorsHeader {
  std::vector<SafetensorsEntry> tensors;        // in data order
  std::map<std::string, std::string> metadata;  // "__metadata__"
  std::size_t data_start = 0;                   // file offset of the data section: 8 + N
  std::size_t data_bytes = 0;                   // size of the data section
};

/// Tensors and metadata of a file, as load_safetensors_with_metadata returns them.
template <class T>
struct SafetensorsContents {
  std::vector<std::pair<std::string, NDArray<T>>> tensors;
  std::map<std::string, std::string> metadata;
};

}  // namespace gluino::io

namespace gluino::detail {
/// Bytes per element of a safetensors dtype; 0 when unknown.
inline std::size_t safetensors_dtype_size(const std::string& d) {
  static const std::map<std::string, std::size_t> sizes{
      {"BOOL", 1}, {"U8", 1},  {"I8", 1},  {"F8_E5M2", 1}, {"F8_E4M3", 1}, {"I16", 2}, {"U16", 2}, {"F16", 2},
      {"BF16", 2}, {"I32", 4}, {"U32", 4}, {"F32", 4},     {"F64", 8},     {"I64", 8}, {"U64", 8}};
  auto it = sizes.find(d);
  return it == sizes.end() ? 0 : it->second;
}
template <class T>
constexpr const char* safetensors_dtype() {
  return sizeof(T) == 4 ? "F32" : "F64";
}
/// Reverses the bytes of each element of size `width` (for big-endian hosts).
inline void safetensors_swap_bytes(void* p, std::size_t n_elems, std::size_t width) {
  auto* b = static_cast<unsigned char*>(p);
  for (std::size_t i = 0; i < n_elems; ++i) std::reverse(b + i * width, b + (i + 1) * width);
}
}  // namespace gluino::detail

namespace gluino::io {

/// Reads and validates the header of a safetensors file: length (at most 100 MB and within the
/// file), JSON syntax, the metadata (string values), each tensor's dtype (any dtype of the
/// format), shape and offsets (span = product(shape) * dtype size in checked 64-bit arithmetic;
/// tensors contiguous, not overlapping, covering the data section), no name given twice, none empty.
/// ValueError naming the file, the tensor and what was expected.
GLUINO_FUNC SafetensorsHeader read_safetensors_header(const std::string& path);

/// Writes named arrays to a safetensors file (dtype F32 for float, F64 for double), in the
/// given order, with optional string metadata.  Atomic (detail::write_file_atomically): writes a
/// temporary file beside `path`, checks and syncs it, and renames it over `path`, so a failed
/// save (full disk, crash) leaves an existing file whole and no temporary behind.  ValueError for an
/// empty, duplicate or reserved ("__metadata__") name, an undefined array, or an I/O failure.
/// Gluon: net.save_parameters / nd.save (in MXNet's own format).
template <class T>
void save_safetensors(const std::string& path, const std::vector<std::pair<std::string, NDArray<T>>>& tensors,
                      const std::map<std::string, std::string>& metadata = {});

/// Reads a safetensors file, with its metadata.  Tensors come in data order (the order they
/// were saved in).  Every check of read_safetensors_header applies; in addition each tensor must
/// be F32 or F64 with at most Shape::max_dims axes.  F32 loads into double exactly (widening);
/// F64 into float is rejected (use T = double) rather than rounded silently.
template <class T>
SafetensorsContents<T> load_safetensors_with_metadata(const std::string& path);

/// Reads the tensors of a safetensors file (see load_safetensors_with_metadata).
/// Gluon: nd.load / net.load_parameters (in MXNet's own format).
template <class T>
std::vector<std::pair<std::string, NDArray<T>>> load_safetensors(const std::string& path) {
  return load_safetensors_with_metadata<T>(path).tensors;
}

// The definitions, which use nlohmann-json: compiled once in the precompiled library, which
// programs built against it link instead (detail/precompiled.hpp).
#if GLUINO_FUNCTION_BODIES
GLUINO_FUNC SafetensorsHeader read_safetensors_header(const std::string& path) {
  using ::gluino::detail::raise;
  namespace fs = std::filesystem;
  const std::string where = "safetensors: '" + path + "': ";
  std::error_code ec;
  GLUINO_CHECK(ValueError, !fs::is_directory(path, ec), where, "is a directory, not a safetensors file");
  GLUINO_CHECK(ValueError, fs::is_regular_file(path, ec), where,
               fs::exists(path, ec) ? "not a regular file" : "no such file");
  const std::uint64_t file_size = fs::file_size(path, ec);
  GLUINO_CHECK(ValueError, !ec, where, "cannot read its size: ", ec.message());
  std::ifstream in(path, std::ios::binary);
  GLUINO_CHECK(ValueError, in.good(), where, "cannot open");
  GLUINO_CHECK(ValueError, file_size >= 8, where, "truncated: ", file_size,
               " bytes, shorter than the 8-byte header length field");
  unsigned char len_bytes[8];
  in.read(reinterpret_cast<char*>(len_bytes), 8);
  std::uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | len_bytes[i];
  GLUINO_CHECK(ValueError, n <= safetensors_max_header_bytes, where, "header length ", n, " exceeds the limit of ",
               safetensors_max_header_bytes, " bytes (not a safetensors file, or a corrupt one)");
  GLUINO_CHECK(ValueError, n <= file_size - 8, where, "header length ", n, " exceeds the ", file_size - 8,
               " bytes after the length field (truncated file)");
  std::string text(n, '\0');
  in.read(text.data(), static_cast<std::streamsize>(n));
  GLUINO_CHECK(ValueError, in.good(), where, "cannot read the ", n, "-byte header");
  GLUINO_CHECK(ValueError, n > 0 && text[0] == '{', where, "the header does not start with '{' (not a JSON object)");

  nlohmann::json j;
  // A name given twice would hide one of the two entries (the parser keeps the last): reject it.
  std::set<std::string> names;
  auto no_duplicates = [&](int depth, nlohmann::json::parse_event_t event, nlohmann::json& parsed) {
    if (depth == 1 && event == nlohmann::json::parse_event_t::key && !names.insert(parsed.get<std::string>()).second)
      raise<ValueError>(where, "the header names '", parsed.get<std::string>(), "' twice");
    return true;
  };
  try {
    j = nlohmann::json::parse(text, no_duplicates);
  } catch (const nlohmann::json::exception& e) {
    raise<ValueError>(where, "invalid JSON header: ", e.what());
  }
  GLUINO_CHECK(ValueError, j.is_object(), where, "the header is not a JSON object");

  SafetensorsHeader h;
  h.data_start = 8 + n;
  h.data_bytes = file_size - 8 - n;
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string& name = it.key();
    const nlohmann::json& v = it.value();
    if (name == "__metadata__") {
      GLUINO_CHECK(ValueError, v.is_object(), where, "__metadata__ must be an object of strings");
      for (auto m = v.begin(); m != v.end(); ++m) {
        GLUINO_CHECK(ValueError, m.value().is_string(), where, "__metadata__ value of '", m.key(), "' is not a string");
        h.metadata[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    GLUINO_CHECK(ValueError, !name.empty(), where, "a tensor has an empty name");  // the writer refuses one too
    const std::string at = where + "tensor '" + name + "': ";
    GLUINO_CHECK(ValueError, v.is_object(), at, "entry is not an object");
    GLUINO_CHECK(ValueError, v.contains("dtype") && v["dtype"].is_string(), at, "missing or non-string \"dtype\"");
    GLUINO_CHECK(ValueError, v.contains("shape") && v["shape"].is_array(), at, "missing or non-array \"shape\"");
    GLUINO_CHECK(ValueError, v.contains("data_offsets") && v["data_offsets"].is_array() && v["data_offsets"].size() == 2,
                 at, "\"data_offsets\" must be an array [begin, end]");
    SafetensorsEntry e;
    e.name = name;
    e.dtype = v["dtype"].get<std::string>();
    const std::size_t width = ::gluino::detail::safetensors_dtype_size(e.dtype);
    GLUINO_CHECK(ValueError, width > 0, at, "unknown dtype \"", e.dtype, "\"");
    // Checked arithmetic throughout: the element count and the byte span are computed so that
    // no product wraps (a shape of [2^62] F32 must not look like 0 bytes).
    std::uint64_t count = 1;
    bool overflow = false;
    for (const auto& d : v["shape"]) {
      GLUINO_CHECK(ValueError, d.is_number_unsigned(), at, "shape entries must be non-negative integers, got ", d.dump());
      const std::uint64_t dim = d.get<std::uint64_t>();
      overflow = overflow || __builtin_mul_overflow(count, dim, &count);
      e.shape.push_back(static_cast<std::size_t>(dim));
    }
    std::uint64_t span = 0;
    overflow = overflow || __builtin_mul_overflow(count, std::uint64_t(width), &span);
    GLUINO_CHECK(ValueError, !overflow, at, "shape ", v["shape"].dump(), " of ", e.dtype,
                 " is too large: its byte size does not fit in 64 bits");
    for (const auto& o : v["data_offsets"])
      GLUINO_CHECK(ValueError, o.is_number_unsigned(), at, "data_offsets must be non-negative integers, got ",
                   v["data_offsets"].dump());
    e.begin = v["data_offsets"][0].get<std::size_t>();
    e.end = v["data_offsets"][1].get<std::size_t>();
    GLUINO_CHECK(ValueError, e.begin <= e.end, at, "data_offsets [", e.begin, ", ", e.end, "] end before they begin");
    GLUINO_CHECK(ValueError, e.end <= h.data_bytes, at, "data_offsets [", e.begin, ", ", e.end,
                 "] out of range: the data section has ", h.data_bytes, " bytes");
    GLUINO_CHECK(ValueError, span == e.end - e.begin, at, "shape ", v["shape"].dump(), " of ", e.dtype, " needs ",
                 span, " bytes but data_offsets [", e.begin, ", ", e.end, "] span ", e.end - e.begin);
    h.tensors.push_back(std::move(e));
  }
  std::sort(h.tensors.begin(), h.tensors.end(),
            [](const SafetensorsEntry& a, const SafetensorsEntry& b) { return std::tie(a.begin, a.end) < std::tie(b.begin, b.end); });
  std::size_t pos = 0;
  const SafetensorsEntry* prev = nullptr;
  for (const SafetensorsEntry& e : h.tensors) {
    if (e.begin < pos)
      raise<ValueError>(where, "tensor '", e.name, "': data_offsets [", e.begin, ", ", e.end, "] overlap tensor '",
                        prev->name, "' [", prev->begin, ", ", prev->end, "]");
    if (e.begin > pos)
      raise<ValueError>(where, "tensor '", e.name, "': data_offsets [", e.begin, ", ", e.end, "] leave a gap of ",
                        e.begin - pos, " bytes before them (tensors must be contiguous)");
    pos = e.end;
    prev = &e;
  }
  GLUINO_CHECK(ValueError, pos == h.data_bytes, where, "the tensors cover ", pos, " bytes but the data section has ",
               h.data_bytes, " (", h.data_bytes - pos, " unaccounted bytes at the end)");
  return h;
}
#endif  // GLUINO_FUNCTION_BODIES

#if !GLUINO_EXTERN_TEMPLATES
template <class T>
void save_safetensors(const std::string& path, const std::vector<std::pair<std::string, NDArray<T>>>& tensors,
                      const std::map<std::string, std::string>& metadata) {
  const std::string where = "save_safetensors: '" + path + "': ";
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::set<std::string> seen;
  std::size_t offset = 0;
  for (const auto& [name, a] : tensors) {
    GLUINO_CHECK(ValueError, !name.empty(), where, "a tensor has an empty name");
    GLUINO_CHECK(ValueError, name != "__metadata__", where, "\"__metadata__\" is reserved and cannot name a tensor");
    GLUINO_CHECK(ValueError, seen.insert(name).second, where, "duplicate tensor name '", name, "'");
    GLUINO_CHECK(ValueError, a.defined(), where, "tensor '", name, "' is an empty (undefined) array");
    const std::size_t bytes = a.size() * sizeof(T);
    header[name] = {{"dtype", ::gluino::detail::safetensors_dtype<T>()},
                    {"shape", a.shape().vec()},
                    {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  std::string text;
  try {
    text = header.dump();
  } catch (const nlohmann::json::exception& e) {
    ::gluino::detail::raise<ValueError>(where, "cannot encode the header (names and metadata must be UTF-8): ", e.what());
  }
  text.append((8 - text.size() % 8) % 8, ' ');

  ::gluino::detail::write_file_atomically(path, where, [&](std::ostream& out) {
    unsigned char len[8];
    for (int i = 0; i < 8; ++i) len[i] = static_cast<unsigned char>(static_cast<std::uint64_t>(text.size()) >> (8 * i));
    out.write(reinterpret_cast<const char*>(len), 8);
    out.write(text.data(), static_cast<std::streamsize>(text.size()));
    for (const auto& [name, a] : tensors) {
      if constexpr (std::endian::native == std::endian::little) {
        out.write(reinterpret_cast<const char*>(a.data()), static_cast<std::streamsize>(a.size() * sizeof(T)));
      } else {
        std::vector<T> le(a.begin(), a.end());
        ::gluino::detail::safetensors_swap_bytes(le.data(), le.size(), sizeof(T));
        out.write(reinterpret_cast<const char*>(le.data()), static_cast<std::streamsize>(le.size() * sizeof(T)));
      }
    }
  });
}

template <class T>
SafetensorsContents<T> load_safetensors_with_metadata(const std::string& path) {
  const std::string where = "load_safetensors: '" + path + "': ";
  SafetensorsHeader h = read_safetensors_header(path);
  SafetensorsContents<T> out;
  out.metadata = std::move(h.metadata);
  std::ifstream in(path, std::ios::binary);
  GLUINO_CHECK(ValueError, in.good(), where, "cannot open");
  std::vector<unsigned char> buf;
  for (const SafetensorsEntry& e : h.tensors) {
    const std::string at = where + "tensor '" + e.name + "': ";
    GLUINO_CHECK(ValueError, e.dtype == "F32" || e.dtype == "F64", at, "dtype ", e.dtype,
                 " is not supported (only F32 and F64 load into NDArray)");
    GLUINO_CHECK(ValueError, !(sizeof(T) == 4 && e.dtype == "F64"), at,
                 "dtype F64 does not load into float without rounding; load the file with T = double");
    GLUINO_CHECK(ValueError, e.shape.size() <= Shape::max_dims, at, e.shape.size(), " axes, more than the ",
                 Shape::max_dims, " an NDArray holds");
    NDArray<T> a{Shape(e.shape)};
    const std::size_t width = e.dtype == "F32" ? 4 : 8, n = a.size();
    in.seekg(static_cast<std::streamoff>(h.data_start + e.begin));
    if (width == sizeof(T)) {
      in.read(reinterpret_cast<char*>(a.data()), static_cast<std::streamsize>(n * width));
      if constexpr (std::endian::native != std::endian::little)
        ::gluino::detail::safetensors_swap_bytes(a.data(), n, width);
    } else {  // F32 -> double
      buf.resize(n * 4);
      in.read(reinterpret_cast<char*>(buf.data()), static_cast<std::streamsize>(buf.size()));
      if constexpr (std::endian::native != std::endian::little) ::gluino::detail::safetensors_swap_bytes(buf.data(), n, 4);
      for (std::size_t i = 0; i < n; ++i) {
        float f;
        std::memcpy(&f, buf.data() + 4 * i, 4);
        a.data()[i] = static_cast<T>(f);
      }
    }
    GLUINO_CHECK(ValueError, in.good() || n == 0, at, "cannot read its ", n * width, " bytes (file changed or truncated?)");
    out.tensors.emplace_back(e.name, std::move(a));
  }
  return out;
}
#endif  // !GLUINO_EXTERN_TEMPLATES

}  // namespace gluino::io

// Precompiled mode (detail/precompiled.hpp): this header's float and double instantiations.
#define GLUINO_IO_SAFETENSORS_INSTANTIATIONS(X, T) \
  X void save_safetensors<T>(const std::string&, const std::vector<std::pair<std::string, NDArray<T>>>&, const std::map<std::string, std::string>&); \
  X SafetensorsContents<T> load_safetensors_with_metadata<T>(const std::string&); \
  X std::vector<std::pair<std::string, NDArray<T>>> load_safetensors<T>(const std::string&);
namespace gluino::io {
GLUINO_EXTERN_INSTANTIATIONS(GLUINO_IO_SAFETENSORS_INSTANTIATIONS)
}  // namespace gluino::io
