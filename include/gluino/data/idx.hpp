// SPDX-License-Identifier: Apache-2.0
#pragma once
/// Reading and writing IDX files, the format of the official MNIST and Fashion-MNIST files,
/// gzip-compressed or raw (zlib reads both transparently).  Link zlib: CMake `ZLIB::ZLIB`,
/// or `-lz`.
///
/// IDX layout: a big-endian uint32 magic 0x0000TTDD (TT = element type, 0x08 = unsigned byte;
/// DD = number of dimensions), one big-endian uint32 per dimension, then the elements in
/// row-major order.  Labels are 0x00000801 (N), images 0x00000803 (N, rows, cols).
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <functional>
#include <iomanip>
#include <limits>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "gluino/core/error.hpp"
#include "gluino/core/shape.hpp"

namespace gluino::data {

/// The contents of an IDX file of unsigned bytes: its dimensions and its row-major payload.
struct IdxArray {
  std::vector<std::size_t> dims;
  std::vector<std::uint8_t> data;
  /// Number of elements (the product of dims).
  std::size_t size() const { return data.size(); }
  /// The dimensions as a Shape (at most Shape::max_dims of them, which read_idx guarantees).
  Shape shape() const { return Shape(dims); }
};

/// Options of read_idx.
struct IdxReadOptions {
  /// The number of dimensions the file must have (1 for labels, 3 for images); 0 accepts 1 to 6.
  std::size_t expected_ndim = 0;
  /// Called with every decompressed byte of the file, header included, in order (for example
  /// to compute a checksum while reading; see data/sha256.hpp).  May be empty.
  std::function<void(const std::uint8_t*, std::size_t)> on_bytes{};
};

}  // namespace gluino::data

namespace gluino::detail {
inline std::string idx_hex32(std::uint32_t v) {
  std::ostringstream os;
  os << "0x" << std::hex << std::setw(8) << std::setfill('0') << v;
  return os.str();
}
inline std::string idx_dims_str(const std::vector<std::size_t>& d) {
  std::ostringstream os;
  os << '(';
  for (std::size_t i = 0; i < d.size(); ++i) os << (i ? ", " : "") << d[i];
  if (d.size() == 1) os << ',';
  os << ')';
  return os.str();
}
inline std::string idx_expected_magic(std::size_t ndim) {
  if (ndim == 0) return "0x00000801 (labels) or 0x00000803 (images)";
  return idx_hex32(0x0800u + static_cast<std::uint32_t>(ndim)) + " (unsigned bytes, " + std::to_string(ndim) +
         (ndim == 1 ? " dimension)" : " dimensions)");
}

/// A gzFile that closes itself, with reads that report zlib's errors with the file name.
class GzReader {
 public:
  explicit GzReader(const std::string& path) : path_(path) {
    namespace fs = std::filesystem;
    std::error_code ec;
    GLUINO_CHECK(ValueError, fs::exists(path, ec), "read_idx: '", path, "': no such file");
    GLUINO_CHECK(ValueError, !fs::is_directory(path, ec), "read_idx: '", path, "': is a directory, expected an IDX file");
    errno = 0;
    f_ = gzopen(path.c_str(), "rb");
    GLUINO_CHECK(ValueError, f_ != nullptr, "read_idx: '", path, "': cannot open: ",
                 errno ? std::strerror(errno) : "out of memory");
    gzbuffer(f_, 1u << 17);
  }
  GzReader(const GzReader&) = delete;
  GzReader& operator=(const GzReader&) = delete;
  ~GzReader() {
    if (f_) gzclose(f_);
  }
  /// Reads up to n bytes; returns the count (less than n only at the end of the data).
  /// ValueError on corrupt or truncated compressed data.
  std::size_t read(void* buf, std::size_t n) {
    std::size_t got = 0;
    auto* p = static_cast<unsigned char*>(buf);
    while (got < n) {
      const unsigned chunk = static_cast<unsigned>(std::min<std::size_t>(n - got, 1u << 20));
      const int r = gzread(f_, p + got, chunk);
      if (r < 0) fail("corrupt gzip data");
      got += static_cast<std::size_t>(r);
      if (static_cast<unsigned>(r) < chunk) {
        check_stream_end();
        break;
      }
    }
    return got;
  }
  const std::string& path() const { return path_; }

 private:
  // A short read is the end of the data; zlib reports a truncated or damaged stream there.
  void check_stream_end() {
    int err = Z_OK;
    gzerror(f_, &err);
    if (err == Z_BUF_ERROR) fail("truncated gzip stream (unexpected end of the compressed file)");
    if (err != Z_OK) fail("corrupt gzip data");
  }
  [[noreturn]] void fail(const char* what) {
    int err = Z_OK;
    const char* msg = gzerror(f_, &err);
    raise<ValueError>("read_idx: '", path_, "': ", what, " (zlib: ", msg ? msg : "?", ")");
  }
  std::string path_;
  gzFile f_ = nullptr;
};
}  // namespace gluino::detail

namespace gluino::data {


/// Reads an IDX file of unsigned bytes (.gz or raw), checking the magic number, the number and
/// sizes of the dimensions, and that the payload has exactly the announced length.  ValueError
/// naming the file and what was expected for a missing, truncated, foreign or corrupt file, or one
/// with bytes after the payload.  Gluon reads these files inside gluon.data.vision.MNIST.
inline IdxArray read_idx(const std::string& path, const IdxReadOptions& opt = {}) {
  detail::GzReader in(path);
  auto emit = [&](const std::uint8_t* p, std::size_t n) {
    if (opt.on_bytes && n > 0) opt.on_bytes(p, n);
  };
  std::uint8_t head[4];
  const std::size_t got = in.read(head, 4);
  GLUINO_CHECK(ValueError, got == 4, "read_idx: '", path, "': truncated: ", got,
               " bytes, expected at least 4 (the IDX magic ", detail::idx_expected_magic(opt.expected_ndim), ")");
  const std::uint32_t magic = (std::uint32_t(head[0]) << 24) | (std::uint32_t(head[1]) << 16) |
                              (std::uint32_t(head[2]) << 8) | std::uint32_t(head[3]);
  GLUINO_CHECK(ValueError, head[0] == 0 && head[1] == 0, "read_idx: '", path, "': not an IDX file: magic ",
               detail::idx_hex32(magic), ", expected ", detail::idx_expected_magic(opt.expected_ndim));
  GLUINO_CHECK(ValueError, head[2] == 0x08, "read_idx: '", path, "': unsupported IDX element type in magic ",
               detail::idx_hex32(magic), ": only unsigned bytes (0x08) are supported, expected ",
               detail::idx_expected_magic(opt.expected_ndim));
  const std::size_t ndim = head[3];
  if (opt.expected_ndim != 0)
    GLUINO_CHECK(ValueError, ndim == opt.expected_ndim, "read_idx: '", path, "': magic ", detail::idx_hex32(magic),
                 " has ", ndim, " dimensions, expected ", detail::idx_expected_magic(opt.expected_ndim));
  GLUINO_CHECK(ValueError, ndim >= 1 && ndim <= Shape::max_dims, "read_idx: '", path, "': magic ",
               detail::idx_hex32(magic), " announces ", ndim, " dimensions, expected 1 to ", Shape::max_dims);
  emit(head, 4);

  IdxArray out;
  std::uint8_t dbuf[4 * Shape::max_dims];
  const std::size_t dgot = in.read(dbuf, 4 * ndim);
  GLUINO_CHECK(ValueError, dgot == 4 * ndim, "read_idx: '", path, "': truncated header: ", 4 + dgot,
               " bytes, expected ", 4 + 4 * ndim, " (magic and ", ndim, " dimension sizes)");
  emit(dbuf, 4 * ndim);
  std::size_t total = 1;
  for (std::size_t d = 0; d < ndim; ++d) {
    const std::size_t v = (std::size_t(dbuf[4 * d]) << 24) | (std::size_t(dbuf[4 * d + 1]) << 16) |
                          (std::size_t(dbuf[4 * d + 2]) << 8) | std::size_t(dbuf[4 * d + 3]);
    out.dims.push_back(v);
    GLUINO_CHECK(ValueError, v == 0 || total <= (std::size_t(1) << 40) / v, "read_idx: '", path,
                 "': dimensions ", detail::idx_dims_str(out.dims), "... describe more than 2^40 bytes");
    total *= v;
  }

  // Grow the payload as data arrives, so that a damaged header cannot make us allocate blindly.
  constexpr std::size_t chunk = std::size_t(1) << 22;
  out.data.reserve(std::min(total, std::size_t(64) << 20));
  std::size_t have = 0;
  while (have < total) {
    const std::size_t want = std::min(chunk, total - have);
    out.data.resize(have + want);
    const std::size_t n = in.read(out.data.data() + have, want);
    emit(out.data.data() + have, n);
    have += n;
    GLUINO_CHECK(ValueError, n == want, "read_idx: '", path, "': truncated: ", have, " payload bytes, expected ",
                 total, " for dimensions ", detail::idx_dims_str(out.dims));
  }
  std::uint8_t extra[4096];
  std::size_t n_extra = 0;
  for (std::size_t n; (n = in.read(extra, sizeof extra)) > 0;) n_extra += n;
  GLUINO_CHECK(ValueError, n_extra == 0, "read_idx: '", path, "': ", n_extra,
               " extra bytes after the payload: expected exactly ", 4 + 4 * ndim + total, " bytes for dimensions ",
               detail::idx_dims_str(out.dims), ", got ", 4 + 4 * ndim + total + n_extra);
  return out;
}

/// Writes an IDX file of unsigned bytes: gzip-compressed when the path ends in ".gz", raw
/// otherwise.  ShapeError when data.size() differs from the product of dims; ValueError when the
/// file cannot be written.  Written in place (not atomically).
inline void write_idx(const std::string& path, const IdxArray& a) {
  std::size_t total = 1;
  for (std::size_t d : a.dims) {
    GLUINO_CHECK(ValueError, d <= 0xffffffffu, "write_idx: '", path, "': dimension ", d, " does not fit in 32 bits");
    total *= d;
  }
  GLUINO_CHECK(ValueError, !a.dims.empty() && a.dims.size() <= 255, "write_idx: '", path,
               "': needs 1 to 255 dimensions, got ", a.dims.size());
  GLUINO_CHECK(ShapeError, total == a.data.size(), "write_idx: '", path, "': ", a.data.size(),
               " bytes of data for dimensions ", detail::idx_dims_str(a.dims), " (", total, " elements)");
  const bool gz = path.size() >= 3 && path.compare(path.size() - 3, 3, ".gz") == 0;
  gzFile f = gzopen(path.c_str(), gz ? "wb9" : "wbT");
  GLUINO_CHECK(ValueError, f != nullptr, "write_idx: '", path, "': cannot open for writing");
  std::vector<std::uint8_t> head{0, 0, 0x08, static_cast<std::uint8_t>(a.dims.size())};
  for (std::size_t d : a.dims)
    for (int s = 24; s >= 0; s -= 8) head.push_back(static_cast<std::uint8_t>(d >> s));
  bool ok = gzwrite(f, head.data(), static_cast<unsigned>(head.size())) == static_cast<int>(head.size());
  for (std::size_t off = 0; ok && off < a.data.size();) {
    const unsigned n = static_cast<unsigned>(std::min<std::size_t>(a.data.size() - off, 1u << 20));
    ok = gzwrite(f, a.data.data() + off, n) == static_cast<int>(n);
    off += n;
  }
  ok = (gzclose(f) == Z_OK) && ok;
  GLUINO_CHECK(ValueError, ok, "write_idx: '", path, "': write failed");
}

}  // namespace gluino::data
