// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: data::vision::decode_image (libpng and libjpeg behind gluino's checks) on the
// bytes, in colour and in grey.  Either both fail with a gluino::Error or both give images of the
// same size, with height * width * channels bytes of pixels.  Images are limited to 2^20 pixels
// (as libjpeg-turbo's own fuzz targets do), so that one input stays within the time and memory limits.
#include <gluino/data/vision/image.hpp>

#include <cstdint>
#include <cstdlib>
#include <string>

// libpng and libjpeg are the system's, not instrumented: libFuzzer sees no coverage inside them.
// Each distinct outcome (an error's message, which names libpng's or libjpeg's reason; or a
// decoded image's channels and size class) counts as a feature instead, through libFuzzer's extra
// counters, so that inputs reaching new states of the decoders are kept.
__attribute__((used, section("__libfuzzer_extra_counters"))) static std::uint8_t outcome_counters[4096];
static void count_outcome(const std::string& what) {
  std::uint32_t h = 2166136261u;  // FNV-1a
  for (char ch : what) h = (h ^ static_cast<std::uint8_t>(ch)) * 16777619u;
  std::uint8_t& c = outcome_counters[h % sizeof outcome_counters];
  if (c < 255) ++c;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  namespace vision = gluino::data::vision;
  constexpr std::size_t max_pixels = std::size_t(1) << 20;
  vision::DecodedImage colour, grey;
  bool colour_ok = false, grey_ok = false;
  try {
    colour = vision::decode_image(data, size, {.flag = 1, .max_pixels = max_pixels});
    colour_ok = true;
    count_outcome(std::to_string(colour.height) + "x" + std::to_string(colour.width));
  } catch (const gluino::Error& e) {
    count_outcome(e.what());
  }
  try {
    grey = vision::decode_image(data, size, {.flag = 0, .max_pixels = max_pixels});
    grey_ok = true;
  } catch (const gluino::Error&) {
  }
  if (colour_ok != grey_ok) std::abort();
  if (colour_ok && (colour.channels != 3 || grey.channels != 1 || colour.height != grey.height ||
                    colour.width != grey.width || colour.height == 0 || colour.width == 0 ||
                    colour.height * colour.width > max_pixels ||
                    colour.pixels.size() != colour.height * colour.width * 3 ||
                    grey.pixels.size() != grey.height * grey.width))
    std::abort();
  return 0;
}
