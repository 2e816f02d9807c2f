// SPDX-License-Identifier: Apache-2.0
// Built against gluino::precompiled (part of the normal build when GLUINO_PRECOMPILED is ON):
// every public header together must not bring in the third-party headers the precompiled mode
// keeps out of programs (docs/building.md), and must declare its instantiations extern.
#include <gluino/data/idx.hpp>
#include <gluino/data/sha256.hpp>
#include <gluino/data/vision/datasets.hpp>
#include <gluino/data/vision/image.hpp>
#include <gluino/data/vision/image_folder.hpp>
#include <gluino/gluino.hpp>

#if !GLUINO_EXTERN_TEMPLATES
#error "GLUINO_PRECOMPILED is defined but the headers do not declare their instantiations extern"
#endif
#ifdef EIGEN_WORLD_VERSION
#error "a program built against gluino::precompiled parses Eigen (kernels/gemm.hpp)"
#endif
#ifdef NLOHMANN_JSON_VERSION_MAJOR
#error "a program built against gluino::precompiled parses nlohmann-json (io/safetensors.hpp, optim/trainer.hpp)"
#endif
#ifdef _GLIBCXX_REGEX
#error "a program built against gluino::precompiled parses <regex> (nn/parameter_dict.hpp)"
#endif
#if defined(GLUINO_PRECOMPILED_DATA) && defined(ZLIB_VERSION)
#error "a program built against gluino::precompiled parses zlib (data/idx.hpp)"
#endif
#if defined(GLUINO_PRECOMPILED_DATA) && defined(OPENSSL_VERSION_NUMBER)
#error "a program built against gluino::precompiled parses OpenSSL (data/sha256.hpp)"
#endif

#if defined(GLUINO_PRECOMPILED_DATA) && defined(PNG_LIBPNG_VER)
#error "a program built against gluino::precompiled parses libpng (data/vision/image.hpp)"
#endif
#if defined(GLUINO_PRECOMPILED_DATA) && defined(JPEG_LIB_VERSION)
#error "a program built against gluino::precompiled parses libjpeg (data/vision/image.hpp)"
#endif

int main() { return 0; }
