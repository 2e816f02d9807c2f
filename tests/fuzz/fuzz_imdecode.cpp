// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: data::vision::decode_image (stb_image's PNG and JPEG decoders behind gluino's
// checks) on the bytes, in colour and in grey.  Either both fail with a gluino::Error or both give
// images of the same size, with height * width * channels bytes of pixels.
#include <gluino/data/vision/image.hpp>

#include <cstdint>
#include <cstdlib>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  namespace vision = gluino::data::vision;
  vision::DecodedImage colour, grey;
  bool colour_ok = false, grey_ok = false;
  try {
    colour = vision::decode_image(data, size, {.flag = 1});
    colour_ok = true;
  } catch (const gluino::Error&) {
  }
  try {
    grey = vision::decode_image(data, size, {.flag = 0});
    grey_ok = true;
  } catch (const gluino::Error&) {
  }
  if (colour_ok != grey_ok) std::abort();
  if (colour_ok && (colour.channels != 3 || grey.channels != 1 || colour.height != grey.height ||
                    colour.width != grey.width || colour.height == 0 || colour.width == 0 ||
                    colour.pixels.size() != colour.height * colour.width * 3 ||
                    grey.pixels.size() != grey.height * grey.width))
    std::abort();
  return 0;
}
