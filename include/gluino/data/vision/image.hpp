// SPDX-License-Identifier: Apache-2.0
#pragma once
/// Decoding PNG and JPEG files into (H, W, C) arrays.  Mirrors mx.image.imread and imdecode.
/// Decodes with stb_image, from Debian's libstb-dev (the header <stb/stb_image.h>; nothing to
/// link): its implementation is compiled, with internal linkage (STB_IMAGE_STATIC, PNG and JPEG
/// only), where this header's function bodies are, i.e. once in gluino::precompiled when it was
/// built with the data readers, else in each translation unit that includes this header.  A
/// translation unit that uses stb_image itself should not also include this header.
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
};

/// A decoded image: height x width x channels bytes, row-major (HWC).
struct DecodedImage {
  std::size_t height = 0, width = 0, channels = 0;
  std::vector<std::uint8_t> pixels;
};

/// Decodes the PNG or JPEG held in data[0, size).  Colour images turned grey (flag 0) use
/// OpenCV's RGB-to-grey weights (0.299 R + 0.587 G + 0.114 B, rounded), as MXNet's imread.
/// ValueError naming `name` for anything but a whole PNG or JPEG: empty, unknown format, corrupt
/// or truncated (stb_image's reason, or "truncated PNG" for one cut before its IEND chunk).
GLUINO_DATA_FUNC DecodedImage decode_image(const std::uint8_t* data, std::size_t size, const ImreadOptions& opt = {},
                                           const std::string& name = "<memory>");
/// Reads the whole file at `path` (ValueError naming it if it cannot be read).
GLUINO_DATA_FUNC std::vector<std::uint8_t> read_file_bytes(const std::string& path, const char* who);

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

// The bodies, which use stb_image: compiled where used, or once in the precompiled library
// (src/data_files.cpp).
#if GLUINO_DATA_FUNCTION_BODIES
#include <algorithm>
#include <cstdio>
#include <memory>

#define STB_IMAGE_STATIC
#define STB_IMAGE_IMPLEMENTATION
#define STBI_ONLY_PNG
#define STBI_ONLY_JPEG
#define STBI_NO_STDIO
#include <stb/stb_image.h>
#undef STB_IMAGE_STATIC  // a later #include <stb/stb_image.h> of this translation unit then adds nothing
#undef STB_IMAGE_IMPLEMENTATION
#undef STBI_ONLY_PNG
#undef STBI_ONLY_JPEG
#undef STBI_NO_STDIO

namespace gluino::data::vision {

namespace detail {
// Whether every Huffman table a JPEG's DHT segments define holds at most 256 codes.  stb_image
// 2.27 (Debian's libstb 0.0~git20220908) does not check it and writes past its tables when one
// holds more (up to 4 KB, into the decoder's other state): found by tests/fuzz/fuzz_imdecode.  Walks the
// segments as stb_image does: padding skipped, a scan's entropy-coded data up to the next marker
// other than a stuffed 0xFF00 or a restart marker.
GLUINO_DATA_FUNC bool jpeg_huffman_tables_fit(const std::uint8_t* data, std::size_t size) {
  std::size_t i = 2;  // after SOI
  while (i < size) {
    if (data[i] != 0xff) {  // padding between segments
      ++i;
      continue;
    }
    while (i < size && data[i] == 0xff) ++i;  // fill bytes
    if (i >= size) break;
    const std::uint8_t m = data[i++];
    if (m == 0xd9) break;                                                  // EOI
    if (m == 0x00 || m == 0x01 || m == 0xd8 || (m >= 0xd0 && m <= 0xd7)) continue;  // no length field
    if (i + 2 > size) break;
    const std::size_t len = std::size_t(data[i]) << 8 | data[i + 1];
    if (m == 0xc4) {  // DHT: tables of (class/id, 16 counts, the codes' values) while length remains
      for (std::size_t p = i + 2; p < i + len; ) {
        std::size_t n = 0;
        for (std::size_t k = 1; k <= 16 && p + k < size; ++k) n += data[p + k];
        if (n > 256) return false;
        p += 17 + n;
      }
    }
    i += len;
    if (m == 0xda)  // SOS: skip the entropy-coded data
      while (i + 1 < size && !(data[i] == 0xff && data[i + 1] != 0x00 && !(data[i + 1] >= 0xd0 && data[i + 1] <= 0xd7))) ++i;
  }
  return true;
}
}  // namespace detail

GLUINO_DATA_FUNC std::vector<std::uint8_t> read_file_bytes(const std::string& path, const char* who) {
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(std::fopen(path.c_str(), "rb"), &std::fclose);
  GLUINO_CHECK(ValueError, f != nullptr, who, ": cannot open '", path, "'");
  std::vector<std::uint8_t> bytes;
  std::uint8_t buf[1 << 16];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f.get())) > 0) bytes.insert(bytes.end(), buf, buf + n);
  GLUINO_CHECK(ValueError, !std::ferror(f.get()), who, ": cannot read '", path, "' (a folder?)");
  return bytes;
}

GLUINO_DATA_FUNC DecodedImage decode_image(const std::uint8_t* data, std::size_t size, const ImreadOptions& opt,
                                           const std::string& name) {
  GLUINO_CHECK(ValueError, opt.flag == 0 || opt.flag == 1, "imdecode: flag must be 1 (colour) or 0 (grey), got ",
               opt.flag, " for '", name, "'");
  GLUINO_CHECK(ValueError, size > 0, "imdecode: '", name, "' is empty");
  GLUINO_CHECK(ValueError, size <= 0x7fffffff, "imdecode: '", name, "' is too large (", size, " bytes)");
  const int len = static_cast<int>(size);
  static const std::uint8_t png_sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  const bool is_png = size >= 8 && std::equal(png_sig, png_sig + 8, data);
  const bool is_jpeg = size >= 3 && data[0] == 0xff && data[1] == 0xd8 && data[2] == 0xff;
  GLUINO_CHECK(ValueError, is_png || is_jpeg, "imdecode: '", name, "' is neither a PNG nor a JPEG file");
  // stb_image rejects a PNG cut before its IEND chunk without saying why: say it.
  static const std::uint8_t iend[4] = {'I', 'E', 'N', 'D'};
  GLUINO_CHECK(ValueError, !is_png || std::search(data, data + size, iend, iend + 4) != data + size, "imdecode: '",
               name, "' is a truncated PNG (no IEND chunk)");
  GLUINO_CHECK(ValueError, !is_jpeg || detail::jpeg_huffman_tables_fit(data, size), "imdecode: cannot decode '", name,
               "': a Huffman table of more than 256 codes (corrupt JPEG)");
  auto reason = [] {
    const char* r = stbi_failure_reason();
    return (r && *r) ? r : "corrupt or truncated data";
  };
  int w = 0, h = 0, comp = 0;
  GLUINO_CHECK(ValueError, stbi_info_from_memory(data, len, &w, &h, &comp), "imdecode: cannot decode '", name,
               "': ", reason());
  // Grey files (1 or 2 channels) decode to grey; colour ones to RGB, turned grey below if asked.
  const int want = (opt.flag == 0 && comp <= 2) ? 1 : 3;
  std::unique_ptr<stbi_uc, void (*)(void*)> px(stbi_load_from_memory(data, len, &w, &h, &comp, want), &stbi_image_free);
  GLUINO_CHECK(ValueError, px != nullptr, "imdecode: cannot decode '", name, "': ", reason());
  DecodedImage out;
  out.height = static_cast<std::size_t>(h);
  out.width = static_cast<std::size_t>(w);
  out.channels = opt.flag == 1 ? 3 : 1;
  const std::size_t n = out.height * out.width;
  const stbi_uc* s = px.get();
  if (opt.flag == 1 || want == 1) {
    out.pixels.assign(s, s + n * out.channels);
  } else {
    out.pixels.resize(n);
    for (std::size_t p = 0; p < n; ++p)  // OpenCV's fixed-point RGB2GRAY: the weights times 2^14
      out.pixels[p] =
          static_cast<std::uint8_t>((s[3 * p] * 4899u + s[3 * p + 1] * 9617u + s[3 * p + 2] * 1868u + 8192u) >> 14);
  }
  return out;
}

}  // namespace gluino::data::vision
#endif  // GLUINO_DATA_FUNCTION_BODIES
