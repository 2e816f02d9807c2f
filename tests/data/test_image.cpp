// SPDX-License-Identifier: Apache-2.0
#include <gluino/data/vision/image.hpp>

#include <doctest/doctest.h>

#include "support/image_write.hpp"

#include <zlib.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <unistd.h>
#include <string>
#include <vector>

using namespace gluino;
using data::vision::decode_image;
using data::vision::imdecode;
using test::ImageBytes;

namespace {
// A w x h image of c channels, sample (y, x, k) = (y * 37 + x * 11 + k * 71) % 256.
ImageBytes sample_pattern(int w, int h, int c) {
  ImageBytes px;
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int k = 0; k < c; ++k) px.push_back(static_cast<std::uint8_t>((y * 37 + x * 11 + k * 71) % 256));
  return px;
}
std::uint32_t be32(const ImageBytes& b, std::size_t at) {
  return std::uint32_t(b[at]) << 24 | std::uint32_t(b[at + 1]) << 16 | std::uint32_t(b[at + 2]) << 8 | b[at + 3];
}
void put_be32(ImageBytes& b, std::size_t at, std::uint32_t v) {
  for (int k = 0; k < 4; ++k) b[at + static_cast<std::size_t>(k)] = static_cast<std::uint8_t>(v >> (24 - 8 * k));
}
// The offset of the first chunk of this type (its length field).
std::size_t png_chunk(const ImageBytes& png, const std::string& type) {
  for (std::size_t at = 8; at + 12 <= png.size(); at += 12 + be32(png, at))
    if (std::string(png.begin() + static_cast<std::ptrdiff_t>(at + 4), png.begin() + static_cast<std::ptrdiff_t>(at + 8)) == type)
      return at;
  FAIL("no chunk " << type);
  return 0;
}
// Recomputes the CRC of the chunk at `at`, after its data was changed on purpose.
void fix_crc(ImageBytes& png, std::size_t at) {
  const std::uint32_t len = be32(png, at);
  put_be32(png, at + 8 + len, static_cast<std::uint32_t>(crc32(0, png.data() + at + 4, len + 4)));
}
// The offset of the JPEG marker 0xFF `m`.
std::size_t jpeg_marker(const ImageBytes& jpg, std::uint8_t m) {
  for (std::size_t at = 2; at + 1 < jpg.size(); ++at)
    if (jpg[at] == 0xff && jpg[at + 1] == m) return at;
  FAIL("no marker " << int(m));
  return 0;
}
std::vector<float> floats(const ImageBytes& v) { return {v.begin(), v.end()}; }
// The OpenCV grey of each RGB(A) pixel.
ImageBytes opencv_grey(const ImageBytes& px, int c) {
  ImageBytes g;
  for (std::size_t p = 0; p < px.size(); p += static_cast<std::size_t>(c))
    g.push_back(static_cast<std::uint8_t>((px[p] * 4899u + px[p + 1] * 9617u + px[p + 2] * 1868u + 8192u) >> 14));
  return g;
}
ImageBytes drop_channel(const ImageBytes& px, int c) {  // the last of c channels
  ImageBytes out;
  for (std::size_t p = 0; p < px.size(); ++p)
    if (p % static_cast<std::size_t>(c) != static_cast<std::size_t>(c - 1)) out.push_back(px[p]);
  return out;
}
ImageBytes repeat3(const ImageBytes& grey) {
  ImageBytes out;
  for (std::uint8_t v : grey) out.insert(out.end(), {v, v, v});
  return out;
}
}  // namespace

TEST_SUITE("data/image") {
TEST_CASE("imdecode PNG: grey, grey + alpha, RGB, RGBA, 16-bit, palette and interlaced, in colour and grey") {
  const int w = 7, h = 5;
  const ImageBytes g = sample_pattern(w, h, 1), ga = sample_pattern(w, h, 2), rgb = sample_pattern(w, h, 3),
                   rgba = sample_pattern(w, h, 4);
  struct Case {
    const char* what;
    ImageBytes file, colour, grey;
  };
  const std::vector<Case> cases = {
      {"grey", test::encode_png(w, h, 1, g), repeat3(g), g},
      {"grey+alpha", test::encode_png(w, h, 2, ga), repeat3(drop_channel(ga, 2)), drop_channel(ga, 2)},
      {"rgb", test::encode_png(w, h, 3, rgb), rgb, opencv_grey(rgb, 3)},
      {"rgba", test::encode_png(w, h, 4, rgba), drop_channel(rgba, 4), opencv_grey(rgba, 4)},
      {"grey16", test::encode_png(w, h, 1, g, {.bit_depth = 16}), repeat3(g), g},
      {"rgba16", test::encode_png(w, h, 4, rgba, {.bit_depth = 16}), drop_channel(rgba, 4), opencv_grey(rgba, 4)},
      {"palette", test::encode_png(w, h, 3, rgb, {.palette = true}), rgb, opencv_grey(rgb, 3)},
      {"interlaced", test::encode_png(w, h, 3, rgb, {.interlace = true}), rgb, opencv_grey(rgb, 3)},
  };
  for (const Case& c : cases) {
    CAPTURE(c.what);
    const auto colour = decode_image(c.file.data(), c.file.size(), {.flag = 1});
    CHECK(colour.height == h);
    CHECK(colour.width == w);
    CHECK(colour.channels == 3);
    CHECK(colour.pixels == c.colour);
    const auto grey = decode_image(c.file.data(), c.file.size(), {.flag = 0});
    CHECK(grey.channels == 1);
    CHECK(grey.pixels == c.grey);
  }
  CHECK(imdecode<double>(cases[2].file).shape() == Shape{5, 7, 3});
  CHECK(imdecode<float>(cases[2].file, {.flag = 0}).to_vector() == floats(opencv_grey(rgb, 3)));
}
TEST_CASE("imdecode JPEG: baseline and progressive, colour and grey, close to the pixels written") {
  const int w = 24, h = 16;
  ImageBytes rgb;  // smooth, so that quality 100 keeps it within a few levels
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int v : {40 + 4 * x, 200 - 5 * y, 90 + 2 * x + 3 * y}) rgb.push_back(static_cast<std::uint8_t>(v));
  const ImageBytes grey = opencv_grey(rgb, 3);
  for (bool progressive : {false, true}) {
    CAPTURE(progressive);
    const ImageBytes jpg = test::encode_jpeg(w, h, 3, rgb, 100, progressive);
    const auto colour = decode_image(jpg.data(), jpg.size(), {.flag = 1});
    REQUIRE(colour.pixels.size() == rgb.size());
    CHECK(colour.height == h);
    CHECK(colour.width == w);
    for (std::size_t k = 0; k < rgb.size(); ++k) CHECK(std::abs(int(colour.pixels[k]) - int(rgb[k])) <= 6);
    const auto g = decode_image(jpg.data(), jpg.size(), {.flag = 0});
    CHECK(g.pixels == opencv_grey(colour.pixels, 3));  // the decoded colour turned grey, as MXNet's imread
    const ImageBytes gjpg = test::encode_jpeg(w, h, 1, grey, 100, progressive);
    const auto gg = decode_image(gjpg.data(), gjpg.size(), {.flag = 0});
    REQUIRE(gg.pixels.size() == grey.size());
    for (std::size_t k = 0; k < grey.size(); ++k) CHECK(std::abs(int(gg.pixels[k]) - int(grey[k])) <= 3);
    CHECK(decode_image(gjpg.data(), gjpg.size(), {.flag = 1}).pixels == repeat3(gg.pixels));
  }
}
TEST_CASE("imdecode JPEG: arithmetic coding, and Adobe CMYK turned RGB as R = C * K / 255") {
  const int w = 16, h = 8;
  ImageBytes rgb, cmyk;
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      for (int v : {30 + 8 * x, 220 - 10 * y, 100 + 3 * x + 4 * y}) rgb.push_back(static_cast<std::uint8_t>(v));
      for (int v : {200 + 3 * x, 120 + 5 * y, 60 + 4 * x, 180 + 2 * y}) cmyk.push_back(static_cast<std::uint8_t>(v));
    }
  const ImageBytes arith = test::encode_jpeg(w, h, 3, rgb, 100, false, true);
  const ImageBytes huff = test::encode_jpeg(w, h, 3, rgb, 100, false, false);
  CHECK(arith != huff);
  CHECK(decode_image(arith.data(), arith.size()).pixels == decode_image(huff.data(), huff.size()).pixels);
  const ImageBytes jpg = test::encode_jpeg(w, h, 4, cmyk, 100);
  const auto img = decode_image(jpg.data(), jpg.size(), {.flag = 1});
  REQUIRE(img.pixels.size() == std::size_t(w * h * 3));
  for (std::size_t p = 0; p < std::size_t(w * h); ++p)
    for (std::size_t k = 0; k < 3; ++k) {
      const int want = (cmyk[4 * p + k] * cmyk[4 * p + 3] + 127) / 255;
      CHECK(std::abs(int(img.pixels[3 * p + k]) - want) <= 4);
    }
  CHECK(decode_image(jpg.data(), jpg.size(), {.flag = 0}).pixels == opencv_grey(img.pixels, 3));
}
TEST_CASE("imdecode: a truncated PNG or JPEG, cut anywhere, is a ValueError naming the file") {
  const ImageBytes png = test::encode_png(9, 6, 3, sample_pattern(9, 6, 3), {.interlace = true});
  const ImageBytes jpg = test::encode_jpeg(9, 6, 3, sample_pattern(9, 6, 3), 90, true);
  for (const ImageBytes* file : {&png, &jpg}) {
    const std::string kind = file == &png ? "PNG" : "JPEG";
    for (std::size_t n = 1; n < file->size(); ++n) {
      CAPTURE(kind);
      CAPTURE(n);
      const ImageBytes cut(file->begin(), file->begin() + static_cast<std::ptrdiff_t>(n));
      CHECK_THROWS_WITH_AS(imdecode<float>(cut, {}, "cut.img"), doctest::Contains("'cut.img'"), ValueError);
    }
  }
  const ImageBytes png_cut(png.begin(), png.end() - 30), jpg_cut(jpg.begin(), jpg.end() - 30);
  CHECK_THROWS_WITH_AS(imdecode<float>(png_cut, {}, "a.png"), "imdecode: 'a.png' is a truncated PNG (no IEND chunk)",
                       ValueError);
  CHECK_THROWS_WITH_AS(imdecode<float>(jpg_cut, {}, "a.jpg"), "imdecode: 'a.jpg' is a truncated JPEG (no EOI marker)",
                       ValueError);
}
TEST_CASE("imdecode: a PNG with a bad CRC or corrupt compressed data is a ValueError naming the file") {
  const ImageBytes png = test::encode_png(16, 16, 3, sample_pattern(16, 16, 3));
  const std::size_t idat = png_chunk(png, "IDAT");
  ImageBytes bad_crc = png;
  bad_crc[idat + 8 + be32(png, idat) + 2] ^= 0x40;  // a byte of the CRC, the data left as it was
  CHECK_THROWS_WITH_AS(imdecode<float>(bad_crc, {}, "crc.png"),
                       "imdecode: cannot decode 'crc.png': corrupt PNG (libpng: IDAT: CRC error)", ValueError);
  ImageBytes bad_ihdr = png;
  bad_ihdr[png_chunk(png, "IHDR") + 8 + 9] ^= 0x01;  // colour type 2 -> 3, CRC left
  CHECK_THROWS_WITH_AS(imdecode<float>(bad_ihdr, {}, "ihdr.png"), doctest::Contains("'ihdr.png': corrupt PNG (libpng: IHDR"),
                       ValueError);
  // Deflate data spoilt, CRC recomputed: zlib's complaint.
  for (std::size_t at : {std::size_t(0), std::size_t(3), std::size_t(10)}) {
    CAPTURE(at);
    ImageBytes bad_zlib = png;
    for (std::size_t k = at; k < at + 8; ++k) bad_zlib[idat + 8 + k] = static_cast<std::uint8_t>(0xa5 ^ k * 29);
    fix_crc(bad_zlib, idat);
    CHECK_THROWS_WITH_AS(imdecode<float>(bad_zlib, {}, "z.png"), doctest::Contains("cannot decode 'z.png': corrupt PNG (libpng:"),
                         ValueError);
  }
}
TEST_CASE("imdecode: a JPEG with a bad Huffman table is a ValueError naming the file") {
  const ImageBytes jpg = test::encode_jpeg(16, 16, 3, sample_pattern(16, 16, 3), 90);
  const std::size_t dht = jpeg_marker(jpg, 0xc4);
  // Counts of codes of lengths 1..16: three codes of one bit, which cannot be.
  ImageBytes over = jpg;
  over[dht + 5] = 3;
  CHECK_THROWS_WITH_AS(imdecode<float>(over, {}, "over.jpg"),
                       "imdecode: cannot decode 'over.jpg': corrupt JPEG (libjpeg: Bogus Huffman table definition)",
                       ValueError);
  // A table whose codes are all gone: the scan's data decodes to bad codes.
  ImageBytes none = jpg;
  for (std::size_t k = 0; k < 16; ++k) none[dht + 5 + k] = 0;
  CHECK_THROWS_WITH_AS(imdecode<float>(none, {}, "none.jpg"), doctest::Contains("cannot decode 'none.jpg': corrupt JPEG"),
                       ValueError);
}
TEST_CASE("imdecode: headers announcing too many pixels are refused before decoding") {
  const ImageBytes png = test::encode_png(4, 4, 3, sample_pattern(4, 4, 3));
  const std::size_t ihdr = png_chunk(png, "IHDR");
  auto png_of = [&](std::uint32_t w, std::uint32_t h) {
    ImageBytes b = png;
    put_be32(b, ihdr + 8, w);
    put_be32(b, ihdr + 12, h);
    fix_crc(b, ihdr);
    return b;
  };
  CHECK_THROWS_WITH_AS(imdecode<float>(png_of(70000, 2), {}, "wide.png"),
                       "imdecode: 'wide.png' is a PNG of 70000x2 pixels: more than imdecode accepts (65536 a side, "
                       "268435456 pixels)",
                       ValueError);
  CHECK_THROWS_WITH_AS(imdecode<float>(png_of(20000, 20000), {}, "big.png"),
                       doctest::Contains("'big.png' is a PNG of 20000x20000 pixels: more than imdecode accepts"),
                       ValueError);
  CHECK_THROWS_WITH_AS(imdecode<float>(png_of(0x7fffffff, 0x7fffffff), {}, "huge.png"),
                       doctest::Contains("'huge.png' is a PNG of 2147483647x2147483647 pixels"), ValueError);
  // Within the limits, but far more than the file's compressed data can hold.
  CHECK_THROWS_WITH_AS(imdecode<float>(png_of(4000, 4000), {}, "short.png"),
                       doctest::Contains("'short.png' is a truncated PNG: its 4000x4000 pixels need"), ValueError);
  CHECK_THROWS_WITH_AS(imdecode<float>(png, {.max_pixels = 15}, "small.png"),
                       "imdecode: 'small.png' is a PNG of 4x4 pixels: more than imdecode accepts (65536 a side, 15 pixels)",
                       ValueError);
  CHECK(imdecode<float>(png, {.max_pixels = 16}).shape() == Shape{4, 4, 3});

  const ImageBytes jpg = test::encode_jpeg(8, 8, 3, sample_pattern(8, 8, 3), 90);
  ImageBytes big_jpg = jpg;
  const std::size_t sof = jpeg_marker(jpg, 0xc0);
  for (std::size_t k : {5, 6, 7, 8}) big_jpg[sof + k] = 0xfd;  // height, width 65021
  CHECK_THROWS_WITH_AS(imdecode<float>(big_jpg, {}, "big.jpg"),
                       doctest::Contains("'big.jpg' is a JPEG of 65021x65021 pixels: more than imdecode accepts"),
                       ValueError);
  ImageBytes tall_jpg = jpg;  // allowed, but the data ends long before its rows
  tall_jpg[sof + 5] = 0x20;
  CHECK_THROWS_WITH_AS(imdecode<float>(tall_jpg, {}, "tall.jpg"), doctest::Contains("'tall.jpg'"), ValueError);
  CHECK_THROWS_WITH_AS(imdecode<float>(jpg, {.max_pixels = 63}, "small.jpg"),
                       doctest::Contains("'small.jpg' is a JPEG of 8x8 pixels: more than imdecode accepts"), ValueError);
}
TEST_CASE("imdecode: files that are not PNG or JPEG are a ValueError naming them") {
  const std::vector<std::pair<std::string, ImageBytes>> foreign = {
      {"text", {'h', 'e', 'l', 'l', 'o', '\n'}},
      {"gif", {'G', 'I', 'F', '8', '9', 'a', 1, 0, 1, 0, 0x80, 0, 0}},
      {"bmp", {'B', 'M', 0x3a, 0, 0, 0, 0, 0, 0, 0, 0x36, 0, 0, 0}},
      {"two bytes of a JPEG", {0xff, 0xd8}},
      {"seven of a PNG", {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a}},
  };
  for (const auto& entry : foreign) {
    const std::string& what = entry.first;  // a named variable: clang 14 cannot capture a binding
    const ImageBytes& bytes = entry.second;
    CAPTURE(what);
    CHECK_THROWS_WITH_AS(imdecode<float>(bytes, {}, "f.bin"), "imdecode: 'f.bin' is neither a PNG nor a JPEG file",
                         ValueError);
  }
  CHECK_THROWS_WITH_AS(imdecode<float>({}, {}, "e.png"), "imdecode: 'e.png' is empty", ValueError);
  const ImageBytes sig = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  CHECK_THROWS_WITH_AS(imdecode<float>(sig, {}, "sig.png"), "imdecode: 'sig.png' is a truncated PNG (no IEND chunk)",
                       ValueError);
  CHECK_THROWS_WITH_AS(data::vision::imread<float>("/nonexistent/x.png"),
                       "imread: cannot open '/nonexistent/x.png'", ValueError);
}
TEST_CASE("imread: a file too large for imdecode is refused before it is read, a device after max_bytes") {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("gluino_test_image_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const std::string huge = (dir / "huge.png").string();
  std::ofstream(huge).put('\x89');
  fs::resize_file(huge, std::uintmax_t(3) << 30);  // sparse: 3 GiB announced, nothing on disk
  const std::string want = "imread: '" + huge + "' is too large: 3221225472 bytes, more than 2147483647";
  CHECK_THROWS_WITH_AS(data::vision::imread<float>(huge), want.c_str(), ValueError);
  fs::remove_all(dir);
  // A device never ends: reading stops one byte past the limit.
  CHECK_THROWS_WITH_AS(data::vision::read_file_bytes("/dev/zero", "imread", 1000),
                       "imread: '/dev/zero' is too large: more than 1000 bytes", ValueError);
  CHECK(data::vision::read_file_bytes("/dev/null", "imread", 1000).empty());
  CHECK_THROWS_WITH_AS(data::vision::imread<float>(dir.parent_path().string()),
                       doctest::Contains("is a directory, not an image file"), ValueError);
}
}
