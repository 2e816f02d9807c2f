// SPDX-License-Identifier: Apache-2.0
// gluino::precompiled, when built with zlib, OpenSSL, libpng and libjpeg (GLUINO_PRECOMPILED_DATA):
// the data set readers' function bodies and their float and double instantiations
// (detail/precompiled.hpp).  Only this file parses their headers.
#define GLUINO_DEFINE_DATA_FUNCTIONS
#include "gluino/data/idx.hpp"
#include "gluino/data/sha256.hpp"
#include "gluino/data/vision/datasets.hpp"
#include "gluino/data/vision/image.hpp"
#include "gluino/data/vision/image_folder.hpp"

namespace gluino::data::vision {
GLUINO_INSTANTIATIONS(GLUINO_DATA_VISION_DATASETS_INSTANTIATIONS)
GLUINO_INSTANTIATIONS(GLUINO_DATA_VISION_IMAGE_INSTANTIATIONS)
GLUINO_INSTANTIATIONS(GLUINO_DATA_VISION_IMAGE_FOLDER_INSTANTIATIONS)
}  // namespace gluino::data::vision
