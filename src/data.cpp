// SPDX-License-Identifier: Apache-2.0
// gluino::precompiled: the float and double instantiations of the data sets and the DataLoader
// (detail/precompiled.hpp).
#include "gluino/data/dataloader.hpp"
#include "gluino/data/dataset.hpp"
#include "gluino/data/vision/cifar.hpp"

namespace gluino::data {
GLUINO_INSTANTIATIONS(GLUINO_DATA_DATALOADER_INSTANTIATIONS)
GLUINO_INSTANTIATIONS(GLUINO_DATA_DATASET_INSTANTIATIONS)
}  // namespace gluino::data

namespace gluino::data::vision {
GLUINO_INSTANTIATIONS(GLUINO_DATA_VISION_CIFAR_INSTANTIATIONS)
}  // namespace gluino::data::vision
