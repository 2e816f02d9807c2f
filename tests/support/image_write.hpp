// SPDX-License-Identifier: Apache-2.0
#pragma once
// PNG and JPEG encoders for the tests and the fuzz seeds (libpng, libjpeg): the files that
// data::vision::imdecode must read.  Errors of the C libraries come back by longjmp to the small
// functions holding the setjmp (no object with a destructor in between), then throw.
#include <csetjmp>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <jpeglib.h>
#include <png.h>

namespace gluino::test {

using ImageBytes = std::vector<std::uint8_t>;

/// How encode_png writes: 8 or 16 bits a sample (16: sample v becomes v * 256 + (255 - v), so a
/// reader that keeps the high byte gets v back), a palette (RGB pixels, at most 256 colours), Adam7.
struct PngSpec {
  int bit_depth = 8;
  bool palette = false;
  bool interlace = false;
};

namespace detail {
inline void png_append(png_structp png, png_bytep d, std::size_t n) {
  auto* out = static_cast<ImageBytes*>(png_get_io_ptr(png));
  out->insert(out->end(), d, d + n);
}
inline void png_quiet(png_structp, png_const_charp) {}
inline bool png_encode(png_structp png, png_infop info, ImageBytes* out, png_bytepp rows, png_uint_32 w, png_uint_32 h,
                       int depth, int colour_type, int interlace, png_colorp palette, int colours) {
  if (setjmp(png_jmpbuf(png))) return false;
  png_set_write_fn(png, out, &png_append, nullptr);
  png_set_IHDR(png, info, w, h, depth, colour_type, interlace, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  if (colours > 0) png_set_PLTE(png, info, palette, colours);
  png_write_info(png, info);
  png_write_image(png, rows);
  png_write_end(png, nullptr);
  return true;
}
struct JpegError {
  jpeg_error_mgr pub;
  std::jmp_buf jump;
};
inline void jpeg_fail(j_common_ptr c) { std::longjmp(reinterpret_cast<JpegError*>(c->err)->jump, 1); }
inline bool jpeg_encode(jpeg_compress_struct* ci, unsigned char** buf, unsigned long* len, JSAMPROW* rows, int w,
                        int h, int c, int quality, bool progressive, bool arithmetic) {
  if (setjmp(reinterpret_cast<JpegError*>(ci->err)->jump)) return false;
  jpeg_create_compress(ci);
  jpeg_mem_dest(ci, buf, len);
  ci->image_width = static_cast<JDIMENSION>(w);
  ci->image_height = static_cast<JDIMENSION>(h);
  ci->input_components = c;
  ci->in_color_space = c == 1 ? JCS_GRAYSCALE : c == 4 ? JCS_CMYK : JCS_RGB;
  jpeg_set_defaults(ci);
  jpeg_set_quality(ci, quality, TRUE);
  if (progressive) jpeg_simple_progression(ci);
  ci->arith_code = arithmetic ? TRUE : FALSE;
  jpeg_start_compress(ci, TRUE);
  jpeg_write_scanlines(ci, rows, static_cast<JDIMENSION>(h));
  jpeg_finish_compress(ci);
  return true;
}
}  // namespace detail

/// The PNG of w x h pixels of c channels (1 grey, 2 grey + alpha, 3 RGB, 4 RGBA), row-major.
inline ImageBytes encode_png(int w, int h, int c, const ImageBytes& px, PngSpec spec = {}) {
  if (px.size() != static_cast<std::size_t>(w * h * c)) throw std::invalid_argument("encode_png: wrong pixel count");
  static const int types[5] = {0, PNG_COLOR_TYPE_GRAY, PNG_COLOR_TYPE_GRAY_ALPHA, PNG_COLOR_TYPE_RGB,
                               PNG_COLOR_TYPE_RGB_ALPHA};
  int colour_type = types[c], depth = spec.bit_depth;
  std::vector<png_color> palette;
  ImageBytes samples;  // the rows as written
  if (spec.palette) {
    if (c != 3) throw std::invalid_argument("encode_png: a palette image needs RGB pixels");
    colour_type = PNG_COLOR_TYPE_PALETTE, depth = 8;
    for (std::size_t p = 0; p < px.size(); p += 3) {
      std::size_t k = 0;
      while (k < palette.size() && !(palette[k].red == px[p] && palette[k].green == px[p + 1] && palette[k].blue == px[p + 2])) ++k;
      if (k == palette.size()) palette.push_back({px[p], px[p + 1], px[p + 2]});
      if (k > 255) throw std::invalid_argument("encode_png: more than 256 colours");
      samples.push_back(static_cast<std::uint8_t>(k));
    }
  } else if (depth == 16) {
    for (std::uint8_t v : px) samples.insert(samples.end(), {v, static_cast<std::uint8_t>(255 - v)});
  } else {
    samples = px;
  }
  const std::size_t row = samples.size() / static_cast<std::size_t>(h);
  std::vector<png_bytep> rows;
  for (int y = 0; y < h; ++y) rows.push_back(samples.data() + static_cast<std::size_t>(y) * row);
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, &detail::png_quiet);
  png_infop info = png ? png_create_info_struct(png) : nullptr;
  ImageBytes out;
  const bool ok = info && detail::png_encode(png, info, &out, rows.data(), static_cast<png_uint_32>(w),
                                             static_cast<png_uint_32>(h), depth, colour_type,
                                             spec.interlace ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE,
                                             palette.data(), static_cast<int>(palette.size()));
  png_destroy_write_struct(&png, info ? &info : nullptr);
  if (!ok) throw std::runtime_error("encode_png: libpng failed");
  return out;
}

/// The JPEG of w x h pixels of c channels (1 grey, 3 RGB, 4 CMYK with an Adobe marker: the values
/// stored as given, which readers take as Adobe's inverted CMYK), baseline or progressive, Huffman
/// or arithmetic coded.
inline ImageBytes encode_jpeg(int w, int h, int c, const ImageBytes& px, int quality = 100, bool progressive = false,
                              bool arithmetic = false) {
  if (px.size() != static_cast<std::size_t>(w * h * c)) throw std::invalid_argument("encode_jpeg: wrong pixel count");
  ImageBytes samples = px;
  std::vector<JSAMPROW> rows;
  for (int y = 0; y < h; ++y) rows.push_back(samples.data() + static_cast<std::size_t>(y * w * c));
  jpeg_compress_struct ci{};
  detail::JpegError err{};
  ci.err = jpeg_std_error(&err.pub);
  err.pub.error_exit = &detail::jpeg_fail;
  unsigned char* buf = nullptr;
  unsigned long len = 0;
  const bool ok = detail::jpeg_encode(&ci, &buf, &len, rows.data(), w, h, c, quality, progressive, arithmetic);
  ImageBytes out;
  if (ok) out.assign(buf, buf + len);
  jpeg_destroy_compress(&ci);
  std::free(buf);
  if (!ok) throw std::runtime_error("encode_jpeg: libjpeg failed");
  return out;
}

inline void write_image_file(const std::filesystem::path& p, const ImageBytes& bytes) {
  std::ofstream f(p, std::ios::binary);
  f.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  if (!f) throw std::runtime_error("cannot write " + p.string());
}

}  // namespace gluino::test
