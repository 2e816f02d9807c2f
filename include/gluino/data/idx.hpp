// SPDX-License-Identifier: Apache-2.0
#pragma once
/// Reading and writing IDX files, the format of the official MNIST and Fashion-MNIST files,
/// gzip-compressed or raw (zlib inflates the gzip ones).  Link zlib: CMake `ZLIB::ZLIB`,
/// or `-lz`.
///
/// IDX layout: a big-endian uint32 magic 0x0000TTDD (TT = element type, 0x08 = unsigned byte;
/// DD = number of dimensions), one big-endian uint32 per dimension, then the elements in
/// row-major order.  Labels are 0x00000801 (N), images 0x00000803 (N, rows, cols).
#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <iomanip>
#include <limits>
#include <memory>
#include <new>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "gluino/core/error.hpp"
#include "gluino/core/shape.hpp"
#include "gluino/detail/precompiled.hpp"

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
  /// The largest payload accepted, in bytes (the product of the dimensions): a file announcing
  /// more is rejected before anything is allocated or decompressed.  The default, 1 GiB, is
  /// twice the largest MNIST-family file (EMNIST ByClass, 547 MB); raise it for larger files.
  std::size_t max_bytes = std::size_t(1) << 30;
};

}  // namespace gluino::data

namespace gluino::data {

/// Reads an IDX file of unsigned bytes (.gz or raw), checking the magic number, the number and
/// sizes of the dimensions, and that the payload has exactly the announced length.  ValueError
/// naming the file and what was expected for a missing, truncated, foreign or corrupt file, one
/// announcing more than opt.max_bytes, or one with bytes after the payload or after the gzip
/// stream.  Never decompresses more than the header announces plus one byte.  Gluon reads these
/// files inside gluon.data.vision.MNIST.
GLUINO_DATA_FUNC IdxArray read_idx(const std::string& path, const IdxReadOptions& opt = {});

/// read_idx on the bytes of an IDX file held in memory (gzip or raw); `name` stands for the
/// file in error messages.
GLUINO_DATA_FUNC IdxArray read_idx_bytes(const std::uint8_t* data, std::size_t size, const IdxReadOptions& opt = {},
                                         const std::string& name = "<memory>");

/// Writes an IDX file of unsigned bytes: gzip-compressed when the path ends in ".gz", raw
/// otherwise.  ShapeError when data.size() differs from the product of dims; ValueError when the
/// file cannot be written.  Written in place (not atomically).
GLUINO_DATA_FUNC void write_idx(const std::string& path, const IdxArray& a);

}  // namespace gluino::data

// The bodies, which use zlib: compiled where used, or once in the precompiled library
// (detail/precompiled.hpp).
#if GLUINO_DATA_FUNCTION_BODIES
#include <zlib.h>

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

/// The decompressed bytes of an IDX file, from a file or from memory: gzip (one or more
/// members, as gzip(1) writes them; anything else after a member is an error) or raw.
/// read() inflates no more than it is asked for, so a reader can stop at the first byte it does
/// not want.  Errors are ValueErrors naming the file.
class IdxSource {
 public:
  /// Reads the file at `path`.
  explicit IdxSource(const std::string& path) : name_(path) {
    namespace fs = std::filesystem;
    std::error_code ec;
    GLUINO_CHECK(ValueError, fs::exists(path, ec), "read_idx: '", path, "': no such file");
    GLUINO_CHECK(ValueError, !fs::is_directory(path, ec), "read_idx: '", path, "': is a directory, expected an IDX file");
    errno = 0;
    file_.reset(std::fopen(path.c_str(), "rb"));
    GLUINO_CHECK(ValueError, file_ != nullptr, "read_idx: '", path, "': cannot open: ",
                 errno ? std::strerror(errno) : "unknown error");
    const auto size = fs::file_size(path, ec);
    if (!ec) size_ = static_cast<std::size_t>(size);
    buf_.resize(std::min<std::size_t>(std::size_t(1) << 17, size_.value_or(SIZE_MAX - 2) + 2));  // >= 2 for the magic
    start();
  }
  /// Reads `n` bytes at `data` (not copied: they must outlive the source); `name` names them in errors.
  IdxSource(const std::uint8_t* data, std::size_t n, std::string name) : name_(std::move(name)), size_(n) {
    in_ = data;
    avail_ = n;
    start();
  }
  IdxSource(const IdxSource&) = delete;
  IdxSource& operator=(const IdxSource&) = delete;
  ~IdxSource() {
    if (gzip_) inflateEnd(&zs_);
  }
  /// Reads up to n decompressed bytes; returns the count (less than n only at the end of the data).
  std::size_t read(void* out, std::size_t n) { return gzip_ ? inflate_some(out, n) : copy_some(out, n); }
  bool gzip() const { return gzip_; }
  /// The size of the (compressed) input in bytes, when known.
  std::optional<std::size_t> input_size() const { return size_; }
  const std::string& name() const { return name_; }

 private:
  // Tops up the input to at least `want` bytes when the file has them (compacting the buffer);
  // returns whether that many are available.
  bool have_input(std::size_t want) {
    if (avail_ >= want || !file_) return avail_ >= want;
    if (avail_ > 0) std::memmove(buf_.data(), in_, avail_);
    in_ = buf_.data();
    while (avail_ < want && !std::feof(file_.get())) {
      const std::size_t got = std::fread(buf_.data() + avail_, 1, buf_.size() - avail_, file_.get());
      GLUINO_CHECK(ValueError, !std::ferror(file_.get()), "read_idx: '", name_, "': read error");
      avail_ += got;
      if (got == 0) break;
    }
    return avail_ >= want;
  }
  static bool gzip_magic(const std::uint8_t* p) { return p[0] == 0x1f && p[1] == 0x8b; }
  void start() {
    if (!have_input(2) || !gzip_magic(in_)) return;  // raw
    zs_ = {};
    const int r = inflateInit2(&zs_, 16 + MAX_WBITS);  // gzip wrapper only
    if (r == Z_MEM_ERROR) throw std::bad_alloc();
    GLUINO_CHECK(ValueError, r == Z_OK, "read_idx: '", name_, "': cannot start zlib (", r, ")");
    gzip_ = true;
  }
  std::size_t copy_some(void* out, std::size_t n) {
    auto* p = static_cast<std::uint8_t*>(out);
    std::size_t got = 0;
    while (got < n && have_input(1)) {
      const std::size_t k = std::min(n - got, avail_);
      std::memcpy(p + got, in_, k);
      in_ += k, avail_ -= k, got += k;
      if (file_ && got < n && avail_ == 0 && n - got >= buf_.size()) {  // large reads bypass the buffer
        got += std::fread(p + got, 1, n - got, file_.get());
        GLUINO_CHECK(ValueError, !std::ferror(file_.get()), "read_idx: '", name_, "': read error");
      }
    }
    return got;
  }
  std::size_t inflate_some(void* out, std::size_t n) {
    auto* p = static_cast<std::uint8_t*>(out);
    std::size_t got = 0;
    while (got < n && !done_) {
      if (avail_ == 0) have_input(1);
      const std::size_t in_chunk = std::min<std::size_t>(avail_, std::numeric_limits<uInt>::max());
      const std::size_t out_chunk = std::min<std::size_t>(n - got, std::numeric_limits<uInt>::max());
      zs_.next_in = const_cast<Bytef*>(in_);
      zs_.avail_in = static_cast<uInt>(in_chunk);
      zs_.next_out = p + got;
      zs_.avail_out = static_cast<uInt>(out_chunk);
      const int r = inflate(&zs_, Z_NO_FLUSH);
      const std::size_t used = in_chunk - zs_.avail_in;
      in_ += used, avail_ -= used;
      got += out_chunk - zs_.avail_out;
      if (r == Z_STREAM_END) {
        // The end of a member: the data ends here, or another member follows.
        if (!have_input(1)) {
          done_ = true;
        } else {
          GLUINO_CHECK(ValueError, have_input(2) && gzip_magic(in_), "read_idx: '", name_,
                       "': unexpected bytes after the end of the gzip stream (trailing garbage)");
          inflateReset(&zs_);
        }
      } else if (r == Z_OK || r == Z_BUF_ERROR) {
        if (used == 0 && out_chunk == zs_.avail_out) {  // no progress: the input has ended
          GLUINO_CHECK(ValueError, have_input(1), "read_idx: '", name_,
                       "': truncated gzip stream (unexpected end of the compressed file)");
          raise<ValueError>("read_idx: '", name_, "': corrupt gzip data (zlib made no progress)");
        }
      } else if (r == Z_MEM_ERROR) {
        throw std::bad_alloc();
      } else if (r != Z_OK) {
        raise<ValueError>("read_idx: '", name_, "': corrupt gzip data (zlib: ", zs_.msg ? zs_.msg : "?", ")");
      }
    }
    return got;
  }

  std::string name_;
  struct Close {
    void operator()(std::FILE* f) const { std::fclose(f); }
  };
  std::unique_ptr<std::FILE, Close> file_;
  std::vector<std::uint8_t> buf_;  // the file's input buffer
  const std::uint8_t* in_ = nullptr;
  std::size_t avail_ = 0;          // unread input bytes at in_
  std::optional<std::size_t> size_;
  bool gzip_ = false, done_ = false;
  z_stream zs_{};
};

/// The reader behind read_idx and read_idx_bytes.  Reads the header, checks the announced size
/// against opt.max_bytes (and, for raw input, against the input's size) before allocating
/// anything, then reads at most that many bytes plus one, to detect extra data.
inline data::IdxArray read_idx_from(IdxSource& in, const data::IdxReadOptions& opt) {
  const std::string& path = in.name();
  auto emit = [&](const std::uint8_t* p, std::size_t n) {
    if (opt.on_bytes && n > 0) opt.on_bytes(p, n);
  };
  std::uint8_t head[4];
  const std::size_t got = in.read(head, 4);
  GLUINO_CHECK(ValueError, got == 4, "read_idx: '", path, "': truncated: ", got,
               " bytes, expected at least 4 (the IDX magic ", idx_expected_magic(opt.expected_ndim), ")");
  const std::uint32_t magic = (std::uint32_t(head[0]) << 24) | (std::uint32_t(head[1]) << 16) |
                              (std::uint32_t(head[2]) << 8) | std::uint32_t(head[3]);
  GLUINO_CHECK(ValueError, head[0] == 0 && head[1] == 0, "read_idx: '", path, "': not an IDX file: magic ",
               idx_hex32(magic), ", expected ", idx_expected_magic(opt.expected_ndim));
  GLUINO_CHECK(ValueError, head[2] == 0x08, "read_idx: '", path, "': unsupported IDX element type in magic ",
               idx_hex32(magic), ": only unsigned bytes (0x08) are supported, expected ",
               idx_expected_magic(opt.expected_ndim));
  const std::size_t ndim = head[3];
  if (opt.expected_ndim != 0)
    GLUINO_CHECK(ValueError, ndim == opt.expected_ndim, "read_idx: '", path, "': magic ", idx_hex32(magic), " has ",
                 ndim, " dimensions, expected ", idx_expected_magic(opt.expected_ndim));
  GLUINO_CHECK(ValueError, ndim >= 1 && ndim <= Shape::max_dims, "read_idx: '", path, "': magic ", idx_hex32(magic),
               " announces ", ndim, " dimensions, expected 1 to ", Shape::max_dims);
  emit(head, 4);

  data::IdxArray out;
  std::uint8_t dbuf[4 * Shape::max_dims];
  const std::size_t dgot = in.read(dbuf, 4 * ndim);
  GLUINO_CHECK(ValueError, dgot == 4 * ndim, "read_idx: '", path, "': truncated header: ", 4 + dgot,
               " bytes, expected ", 4 + 4 * ndim, " (magic and ", ndim, " dimension sizes)");
  emit(dbuf, 4 * ndim);
  std::size_t total = 1;
  bool too_big = false;
  for (std::size_t d = 0; d < ndim; ++d) {
    const std::size_t v = (std::size_t(dbuf[4 * d]) << 24) | (std::size_t(dbuf[4 * d + 1]) << 16) |
                          (std::size_t(dbuf[4 * d + 2]) << 8) | std::size_t(dbuf[4 * d + 3]);
    out.dims.push_back(v);
    too_big = too_big || __builtin_mul_overflow(total, v, &total);
  }
  too_big = too_big || total > opt.max_bytes;
  GLUINO_CHECK(ValueError, !too_big, "read_idx: '", path, "': dimensions ", idx_dims_str(out.dims),
               " describe more than the limit of ", opt.max_bytes, " bytes (IdxReadOptions::max_bytes)");
  const std::size_t expected = 4 + 4 * ndim + total;
  if (!in.gzip() && in.input_size()) {  // raw input of known size: check it before reading
    const std::size_t size = *in.input_size();
    GLUINO_CHECK(ValueError, size >= expected, "read_idx: '", path, "': truncated: ", size - (4 + 4 * ndim),
                 " payload bytes, expected ", total, " for dimensions ", idx_dims_str(out.dims));
    GLUINO_CHECK(ValueError, size == expected, "read_idx: '", path, "': ", size - expected,
                 " extra bytes after the payload: expected exactly ", expected, " bytes for dimensions ",
                 idx_dims_str(out.dims), ", got ", size);
  }

  // Compressed input may hold less than announced: reserve no more than deflate's best ratio
  // (1032:1) lets the input hold, grow beyond that only as the data arrives (never beyond
  // `total`), and touch the memory chunk by chunk, so that a damaged header cannot make us
  // allocate blindly.
  std::size_t reserve = total;
  if (in.gzip()) {
    std::size_t bound = 0;
    reserve = in.input_size() && !__builtin_mul_overflow(*in.input_size(), std::size_t(1032), &bound)
                  ? std::min(total, bound + 4096)
                  : std::min(total, std::size_t(1) << 20);
  }
  out.data.reserve(reserve);
  constexpr std::size_t chunk = std::size_t(1) << 22;
  std::size_t have = 0;
  while (have < total) {
    if (have == out.data.capacity()) out.data.reserve(std::min(total, 2 * have));
    const std::size_t want = std::min(std::min(total, out.data.capacity()) - have, chunk);
    out.data.resize(have + want);
    const std::size_t n = in.read(out.data.data() + have, want);
    emit(out.data.data() + have, n);
    have += n;
    GLUINO_CHECK(ValueError, n == want, "read_idx: '", path, "': truncated: ", have, " payload bytes, expected ",
                 total, " for dimensions ", idx_dims_str(out.dims));
  }
  std::uint8_t extra;
  GLUINO_CHECK(ValueError, in.read(&extra, 1) == 0, "read_idx: '", path,
               "': extra bytes after the payload: expected exactly ", expected, " bytes for dimensions ",
               idx_dims_str(out.dims), ", got more");
  return out;
}
}  // namespace gluino::detail

namespace gluino::data {

GLUINO_DATA_FUNC IdxArray read_idx(const std::string& path, const IdxReadOptions& opt) {
  detail::IdxSource in(path);
  return detail::read_idx_from(in, opt);
}

GLUINO_DATA_FUNC IdxArray read_idx_bytes(const std::uint8_t* data, std::size_t size, const IdxReadOptions& opt,
                                         const std::string& name) {
  detail::IdxSource in(data, size, name);
  return detail::read_idx_from(in, opt);
}

GLUINO_DATA_FUNC void write_idx(const std::string& path, const IdxArray& a) {
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
#endif  // GLUINO_DATA_FUNCTION_BODIES
