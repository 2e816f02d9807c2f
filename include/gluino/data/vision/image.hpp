// SPDX-License-Identifier: Apache-2.0
#pragma once
/// Decoding PNG and JPEG files into (H, W, C) arrays.  Mirrors mx.image.imread and imdecode.
/// Decodes PNG with libpng and JPEG with libjpeg(-turbo) (Debian: libpng-dev, libjpeg-dev; CMake
/// PNG::PNG, JPEG::JPEG, linked by gluino::data).  Their headers are parsed where this header's
/// function bodies are: once in gluino::precompiled when it was built with the data readers, else
/// in each translation unit that includes this header.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "gluino/core/ndarray.hpp"
#include "gluino/detail/precompiled.hpp"

namespace gluino::data::vision {

/// Options of imread and imdecode.
struct ImreadOptions {
  /// 1: colour, (H, W, 3) in RGB order (an alpha channel is dropped); 0: grey, (H, W, 1).
  /// Gluon: flag (its to_rgb=True).
  int flag = 1;
  /// Images of more pixels (height * width) are refused before anything is allocated; never more
  /// than 2^28, nor a side above 2^16 (GLUINO's limits; Gluon has none).
  std::size_t max_pixels = std::size_t(1) << 28;
};

/// A decoded image: height x width x channels bytes, row-major (HWC).
struct DecodedImage {
  std::size_t height = 0, width = 0, channels = 0;
  std::vector<std::uint8_t> pixels;
};

/// Decodes the PNG or JPEG held in data[0, size).  Colour images turned grey (flag 0) use
/// OpenCV's RGB-to-grey weights (0.299 R + 0.587 G + 0.114 B, rounded), as MXNet's imread.
/// ValueError naming `name` for anything but a whole PNG or JPEG: empty, unknown format, corrupt
/// (libpng's or libjpeg's reason), truncated, or of too many pixels.
GLUINO_DATA_FUNC DecodedImage decode_image(const std::uint8_t* data, std::size_t size, const ImreadOptions& opt = {},
                                           const std::string& name = "<memory>");
/// Reads the whole file at `path`; ValueError starting with `who` and naming it if it cannot be read,
/// is a directory, or holds more than max_bytes (by default the most decode_image accepts): a regular
/// file is refused by its size before anything is read, a device or pipe one byte past the limit.
GLUINO_DATA_FUNC std::vector<std::uint8_t> read_file_bytes(const std::string& path, const char* who,
                                                           std::size_t max_bytes = 0x7fffffff);

/// The decoded image as an (H, W, C) array of values 0..255.  Mirrors mx.image.imdecode.
template <class T = float>
NDArray<T> imdecode(const std::vector<std::uint8_t>& bytes, ImreadOptions opt = {}, const std::string& name = "<memory>") {
  const DecodedImage img = decode_image(bytes.data(), bytes.size(), opt, name);
  NDArray<T> x(Shape{img.height, img.width, img.channels});
  T* d = x.data();
  for (std::size_t k = 0; k < img.pixels.size(); ++k) d[k] = static_cast<T>(img.pixels[k]);
  return x;
}
/// The PNG or JPEG file at `path` as an (H, W, C) array of values 0..255; ValueError naming the
/// file when it cannot be read or decoded.  Mirrors mx.image.imread(filename, flag).
template <class T = float>
NDArray<T> imread(const std::string& path, ImreadOptions opt = {}) {
  return imdecode<T>(read_file_bytes(path, "imread"), opt, path);
}

}  // namespace gluino::data::vision

// Precompiled mode (detail/precompiled.hpp): this header's float and double instantiations.
#define GLUINO_DATA_VISION_IMAGE_INSTANTIATIONS(X, T) \
  X NDArray<T> imdecode<T>(const std::vector<std::uint8_t>&, ImreadOptions, const std::string&); \
  X NDArray<T> imread<T>(const std::string&, ImreadOptions);
namespace gluino::data::vision {
GLUINO_DATA_EXTERN_INSTANTIATIONS(GLUINO_DATA_VISION_IMAGE_INSTANTIATIONS)
}  // namespace gluino::data::vision

// The bodies, which use libpng and libjpeg: compiled where used, or once in the precompiled
// library (src/data_files.cpp).
#if GLUINO_DATA_FUNCTION_BODIES
#include <algorithm>
#include <csetjmp>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <new>

#include <jpeglib.h>
#include <jerror.h>  // the warning codes
#include <png.h>

namespace gluino::data::vision {

namespace detail {
// libpng and libjpeg report errors through callbacks that must not return.  Ours record the
// message and longjmp back to a setjmp in one of the small functions below, which call the C
// library and nothing else: the frames the longjmp leaves (the callback's, the library's, and
// that function's) hold no object with a destructor, so nothing is skipped.  The function returns
// false; its C++ caller, which owns the decoder's state (freed by a destructor), then throws.
// No C++ exception ever passes through libpng's or libjpeg's frames.
inline constexpr std::size_t max_image_side = std::size_t(1) << 16;
inline constexpr std::size_t max_image_pixels = std::size_t(1) << 28;
inline constexpr int max_jpeg_scans = 1000;  // a progressive JPEG has about 10

// ---- PNG
struct PngReader {
  png_structp png = nullptr;
  png_infop info = nullptr;
  const std::uint8_t* data = nullptr;
  std::size_t size = 0, pos = 0;
  bool truncated = false;
  char message[256] = {};
  PngReader() = default;
  PngReader(const PngReader&) = delete;
  PngReader& operator=(const PngReader&) = delete;
  ~PngReader() {
    if (png) png_destroy_read_struct(&png, info ? &info : nullptr, nullptr);
  }
};
inline PngReader& png_reader(png_structp png) { return *static_cast<PngReader*>(png_get_io_ptr(png)); }
// Error callback: libpng's reason, then back to the setjmp.
inline void png_on_error(png_structp png, png_const_charp msg) {
  PngReader& r = *static_cast<PngReader*>(png_get_error_ptr(png));
  if (!r.truncated) std::snprintf(r.message, sizeof r.message, "%s", msg ? msg : "error");
  png_longjmp(png, 1);
}
inline void png_on_warning(png_structp, png_const_charp) {}  // libpng's warnings: benign, ignored
// Read callback over the bytes in memory; running out is a truncated file.
inline void png_on_read(png_structp png, png_bytep out, std::size_t n) {
  PngReader& r = png_reader(png);
  if (n > r.size - r.pos) {
    r.truncated = true;
    png_error(png, "truncated");
  }
  std::memcpy(out, r.data + r.pos, n);
  r.pos += n;
}
// Reads the chunks up to the first IDAT (the header).
inline bool png_read_header(PngReader& r) {
  if (setjmp(png_jmpbuf(r.png))) return false;
  png_set_read_fn(r.png, &r, &png_on_read);
  png_set_user_limits(r.png, 0x7fffffff, 0x7fffffff);  // decode_image checks the size, saying why
  png_read_info(r.png, r.info);
  return true;
}
// Sets 8-bit samples, palettes expanded to RGB (or RGBA with a tRNS chunk), grey of 1, 2 or 4 bits
// expanded to 8, and interlaced images assembled.
inline bool png_set_transforms(PngReader& r) {
  if (setjmp(png_jmpbuf(r.png))) return false;
  png_set_strip_16(r.png);  // the high byte, as OpenCV's 8-bit reading
  png_set_expand(r.png);
  png_set_interlace_handling(r.png);
  png_read_update_info(r.png, r.info);
  return true;
}
// Decodes the image into `rows`, then reads (and checks the CRCs of) the chunks up to IEND.
inline bool png_read_pixels(PngReader& r, png_bytepp rows) {
  if (setjmp(png_jmpbuf(r.png))) return false;
  png_read_image(r.png, rows);
  png_read_end(r.png, nullptr);
  return true;
}

// ---- JPEG
struct JpegErrorManager {
  jpeg_error_mgr pub;  // first: libjpeg's pointer to it is a pointer to this
  std::jmp_buf jump;
  bool truncated;
  char message[JMSG_LENGTH_MAX];
};
inline JpegErrorManager& jpeg_errors(j_common_ptr c) { return *reinterpret_cast<JpegErrorManager*>(c->err); }
inline void jpeg_on_error(j_common_ptr c) {
  JpegErrorManager& e = jpeg_errors(c);
  (*c->err->format_message)(c, e.message);
  std::longjmp(e.jump, 1);
}
// libjpeg's warnings: those saying the data is corrupt or ends early are errors here (libjpeg
// would go on with grey or repeated pixels); the benign ones (unknown JFIF revision, bytes
// between markers, a bad ICC profile) are ignored.  Nothing is printed.
inline void jpeg_on_message(j_common_ptr c, int level) {
  if (level != -1) return;  // trace messages
  switch (c->err->msg_code) {
    case JWRN_JPEG_EOF: jpeg_errors(c).truncated = true; [[fallthrough]];
    case JWRN_ARITH_BAD_CODE: case JWRN_BOGUS_PROGRESSION: case JWRN_HIT_MARKER: case JWRN_HUFF_BAD_CODE:
    case JWRN_MUST_RESYNC: case JWRN_NOT_SEQUENTIAL: case JWRN_TOO_MUCH_DATA:
      jpeg_on_error(c);
    default: return;
  }
}
inline void jpeg_on_output(j_common_ptr) {}
// Bounds the work of a progressive JPEG: libjpeg decodes every scan over the whole image.
inline void jpeg_on_progress(j_common_ptr c) {
  if (c->is_decompressor && reinterpret_cast<j_decompress_ptr>(c)->input_scan_number > max_jpeg_scans) {
    std::snprintf(jpeg_errors(c).message, JMSG_LENGTH_MAX, "more than %d scans", max_jpeg_scans);
    std::longjmp(jpeg_errors(c).jump, 1);
  }
}
struct JpegReader {
  jpeg_decompress_struct cinfo{};
  JpegErrorManager err{};
  jpeg_progress_mgr progress{};
  bool created = false;
  JpegReader() = default;
  JpegReader(const JpegReader&) = delete;
  JpegReader& operator=(const JpegReader&) = delete;
  ~JpegReader() {
    if (created) jpeg_destroy_decompress(&cinfo);
  }
};
inline bool jpeg_read_header_of(JpegReader& r, const std::uint8_t* data, std::size_t size) {
  r.cinfo.err = jpeg_std_error(&r.err.pub);
  r.err.pub.error_exit = &jpeg_on_error;
  r.err.pub.emit_message = &jpeg_on_message;
  r.err.pub.output_message = &jpeg_on_output;
  if (setjmp(r.err.jump)) return false;
  jpeg_create_decompress(&r.cinfo);
  r.created = true;
  r.progress.progress_monitor = &jpeg_on_progress;
  r.cinfo.progress = &r.progress;
  jpeg_mem_src(&r.cinfo, data, static_cast<unsigned long>(size));
  jpeg_read_header(&r.cinfo, TRUE);
  return true;
}
inline bool jpeg_start(JpegReader& r) {
  if (setjmp(r.err.jump)) return false;
  jpeg_start_decompress(&r.cinfo);
  return true;
}
// Decodes the next rows into out (rows of row_bytes), as many as libjpeg gives at once.
inline bool jpeg_read_rows(JpegReader& r, std::uint8_t* out, std::size_t row_bytes, unsigned rows) {
  if (setjmp(r.err.jump)) return false;
  JSAMPROW ptrs[16];
  for (unsigned k = 0; k < rows && k < 16; ++k) ptrs[k] = out + k * row_bytes;
  const JDIMENSION want = rows < 16 ? rows : 16;
  for (JDIMENSION done = 0; done < want;) {
    const JDIMENSION got = jpeg_read_scanlines(&r.cinfo, ptrs + done, want - done);
    if (got == 0) {  // cannot happen with a source in memory, which never suspends
      std::snprintf(r.err.message, JMSG_LENGTH_MAX, "no rows decoded");
      return false;
    }
    done += got;
  }
  return true;
}
inline bool jpeg_finish(JpegReader& r) {
  if (setjmp(r.err.jump)) return false;
  jpeg_finish_decompress(&r.cinfo);
  return true;
}

// Refuses sizes above the limits, naming the file, before anything is allocated for them.
inline void check_image_size(std::size_t w, std::size_t h, std::size_t max_pixels, const char* format,
                             const std::string& name) {
  const std::size_t limit = std::min(max_pixels, max_image_pixels);
  GLUINO_CHECK(ValueError, w > 0 && h > 0, "imdecode: '", name, "' is a ", format, " of ", w, "x", h,
               " pixels (corrupt header)");
  GLUINO_CHECK(ValueError, w <= max_image_side && h <= max_image_side && w * h <= limit, "imdecode: '", name,
               "' is a ", format, " of ", w, "x", h, " pixels: more than imdecode accepts (", max_image_side,
               " a side, ", limit, " pixels)");
}

// The (H, W, channels) pixels of the file's `c` channels (1 grey, 2 grey + alpha, 3 RGB, 4 RGBA or
// CMYK) as flag asks: colour (H, W, 3), alpha dropped, grey repeated; or grey (H, W, 1), colour
// turned grey with OpenCV's fixed-point weights (0.299, 0.587, 0.114 times 2^14, rounded).
inline void convert_pixels(const std::uint8_t* s, std::size_t n, std::size_t c, bool cmyk, int flag,
                           std::vector<std::uint8_t>& out) {
  out.resize(n * (flag == 1 ? 3 : 1));
  std::uint8_t* d = out.data();
  for (std::size_t p = 0; p < n; ++p, s += c) {
    std::uint8_t rgb[3];
    if (c <= 2) {
      rgb[0] = rgb[1] = rgb[2] = s[0];
    } else if (cmyk) {  // Adobe's inverted CMYK (libjpeg's output): R = C * K / 255, rounded
      for (int k = 0; k < 3; ++k) rgb[k] = static_cast<std::uint8_t>((s[k] * s[3] + 127) / 255);
    } else {
      rgb[0] = s[0], rgb[1] = s[1], rgb[2] = s[2];
    }
    if (flag == 1) {
      d[3 * p] = rgb[0], d[3 * p + 1] = rgb[1], d[3 * p + 2] = rgb[2];
    } else {
      d[p] = c <= 2 ? s[0] : static_cast<std::uint8_t>((rgb[0] * 4899u + rgb[1] * 9617u + rgb[2] * 1868u + 8192u) >> 14);
    }
  }
}

inline DecodedImage decode_png(const std::uint8_t* data, std::size_t size, const ImreadOptions& opt,
                               const std::string& name) {
  PngReader r;
  r.data = data, r.size = size;
  r.png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &r, &png_on_error, &png_on_warning);
  if (r.png) r.info = png_create_info_struct(r.png);
  if (!r.png || !r.info) throw std::bad_alloc();
  auto fail = [&] {
    if (r.truncated) ::gluino::detail::raise<ValueError>("imdecode: '", name, "' is a truncated PNG (no IEND chunk)");
    ::gluino::detail::raise<ValueError>("imdecode: cannot decode '", name, "': corrupt PNG (libpng: ", r.message, ")");
  };
  if (!png_read_header(r)) fail();
  const std::size_t w = png_get_image_width(r.png, r.info), h = png_get_image_height(r.png, r.info);
  check_image_size(w, h, opt.max_pixels, "PNG", name);
  // Deflate packs at most 1032 bytes in one (a 258-byte match in two bits): an image whose
  // filtered rows cannot fit in the file is cut short, and is refused before its pixels are allocated.
  const std::size_t raw = h * (png_get_rowbytes(r.png, r.info) + 1);
  GLUINO_CHECK(ValueError, raw / 1032 <= size, "imdecode: '", name, "' is a truncated PNG: its ", w, "x", h,
               " pixels need ", raw, " bytes, more than deflate can pack in its ", size);
  if (!png_set_transforms(r)) fail();
  const std::size_t c = png_get_channels(r.png, r.info), row_bytes = png_get_rowbytes(r.png, r.info);
  GLUINO_CHECK(ValueError, c >= 1 && c <= 4 && row_bytes == w * c, "imdecode: cannot decode '", name,
               "': unexpected PNG layout (", c, " channels, ", row_bytes, " bytes a row)");
  std::vector<std::uint8_t> px(h * row_bytes);
  std::vector<png_bytep> rows(h);
  for (std::size_t y = 0; y < h; ++y) rows[y] = px.data() + y * row_bytes;
  if (!png_read_pixels(r, rows.data())) fail();
  DecodedImage out{.height = h, .width = w, .channels = opt.flag == 1 ? 3u : 1u, .pixels = {}};
  if ((c == 3 && opt.flag == 1) || (c == 1 && opt.flag == 0))
    out.pixels = std::move(px);
  else
    convert_pixels(px.data(), w * h, c, false, opt.flag, out.pixels);
  return out;
}

inline DecodedImage decode_jpeg(const std::uint8_t* data, std::size_t size, const ImreadOptions& opt,
                                const std::string& name) {
  JpegReader r;
  auto fail = [&] {
    if (r.err.truncated) ::gluino::detail::raise<ValueError>("imdecode: '", name, "' is a truncated JPEG (no EOI marker)");
    ::gluino::detail::raise<ValueError>("imdecode: cannot decode '", name, "': corrupt JPEG (libjpeg: ", r.err.message, ")");
  };
  if (!jpeg_read_header_of(r, data, size)) fail();
  check_image_size(r.cinfo.image_width, r.cinfo.image_height, opt.max_pixels, "JPEG", name);
  // Memory for a progressive JPEG's coefficients (2 bytes each, up to 4 components), and more.
  const std::size_t limit = std::min(opt.max_pixels, max_image_pixels);
  r.cinfo.mem->max_memory_to_use = static_cast<long>(limit * 8 + (std::size_t(64) << 20));
  const J_COLOR_SPACE in = r.cinfo.jpeg_color_space;
  const bool cmyk = in == JCS_CMYK || in == JCS_YCCK;
  r.cinfo.out_color_space = in == JCS_GRAYSCALE ? JCS_GRAYSCALE : cmyk ? JCS_CMYK : JCS_RGB;
  if (!jpeg_start(r)) fail();
  const std::size_t w = r.cinfo.output_width, h = r.cinfo.output_height;
  const std::size_t c = static_cast<std::size_t>(r.cinfo.output_components), row_bytes = w * c;
  GLUINO_CHECK(ValueError, w == r.cinfo.image_width && h == r.cinfo.image_height && (c == 1 || c == 3 || c == 4),
               "imdecode: cannot decode '", name, "': unexpected JPEG layout (", c, " channels)");
  // Grown as rows arrive: a file that announces many rows but holds few fails before they are allocated.
  std::vector<std::uint8_t> px;
  while (r.cinfo.output_scanline < h) {
    const std::size_t y = r.cinfo.output_scanline;
    const unsigned n = static_cast<unsigned>(std::min<std::size_t>(16, h - y));
    px.resize((y + n) * row_bytes);
    if (!jpeg_read_rows(r, px.data() + y * row_bytes, row_bytes, n)) fail();
  }
  if (!jpeg_finish(r)) fail();
  DecodedImage out{.height = h, .width = w, .channels = opt.flag == 1 ? 3u : 1u, .pixels = {}};
  if ((c == 3 && opt.flag == 1) || (c == 1 && opt.flag == 0))
    out.pixels = std::move(px);
  else
    convert_pixels(px.data(), w * h, c, cmyk, opt.flag, out.pixels);
  return out;
}
}  // namespace detail

GLUINO_DATA_FUNC std::vector<std::uint8_t> read_file_bytes(const std::string& path, const char* who,
                                                           std::size_t max_bytes) {
  namespace fs = std::filesystem;
  std::error_code ec;
  GLUINO_CHECK(ValueError, !fs::is_directory(path, ec), who, ": '", path, "' is a directory, not an image file");
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(std::fopen(path.c_str(), "rb"), &std::fclose);
  GLUINO_CHECK(ValueError, f != nullptr, who, ": cannot open '", path, "'");
  if (fs::is_regular_file(path, ec)) {
    const std::uintmax_t size = fs::file_size(path, ec);
    GLUINO_CHECK(ValueError, ec || size <= max_bytes, who, ": '", path, "' is too large: ", size, " bytes, more than ",
                 max_bytes);
  }
  std::vector<std::uint8_t> bytes;
  std::uint8_t buf[1 << 16];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f.get())) > 0) {
    GLUINO_CHECK(ValueError, n <= max_bytes - std::min(max_bytes, bytes.size()), who, ": '", path,
                 "' is too large: more than ", max_bytes, " bytes");
    bytes.insert(bytes.end(), buf, buf + n);
  }
  GLUINO_CHECK(ValueError, !std::ferror(f.get()), who, ": cannot read '", path, "'");
  return bytes;
}

GLUINO_DATA_FUNC DecodedImage decode_image(const std::uint8_t* data, std::size_t size, const ImreadOptions& opt,
                                           const std::string& name) {
  GLUINO_CHECK(ValueError, opt.flag == 0 || opt.flag == 1, "imdecode: flag must be 1 (colour) or 0 (grey), got ",
               opt.flag, " for '", name, "'");
  GLUINO_CHECK(ValueError, size > 0, "imdecode: '", name, "' is empty");
  GLUINO_CHECK(ValueError, size <= 0x7fffffff, "imdecode: '", name, "' is too large (", size, " bytes)");
  static const std::uint8_t png_sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  if (size >= 8 && std::equal(png_sig, png_sig + 8, data)) return detail::decode_png(data, size, opt, name);
  if (size >= 3 && data[0] == 0xff && data[1] == 0xd8 && data[2] == 0xff) return detail::decode_jpeg(data, size, opt, name);
  ::gluino::detail::raise<ValueError>("imdecode: '", name, "' is neither a PNG nor a JPEG file");
}

}  // namespace gluino::data::vision
#endif  // GLUINO_DATA_FUNCTION_BODIES
