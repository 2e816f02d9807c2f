// SPDX-License-Identifier: Apache-2.0
#pragma once
// Shared by train_lenet and train_lenet_dist: Fashion-MNIST as the main job feeds it.
#include <gluino/data/dataset.hpp>
#include <gluino/data/vision/datasets.hpp>
#include <gluino/data/vision/transforms.hpp>

#include <algorithm>

namespace example {

/// Images (N, 28, 28, 1) 0..255 -> (N, 1, 28, 28) normalised with Fashion-MNIST's training mean
/// and std (0.2860, 0.3530); labels as they are; the first `limit` samples (0 = all).  Done once
/// for the whole set rather than per sample.
inline gluino::data::ArrayDataset<float> normalised(const gluino::data::vision::FashionMNIST<float>& ds,
                                                    std::size_t limit) {
  namespace tf = gluino::data::vision::transforms;
  const std::size_t n = limit > 0 ? std::min(limit, ds.size()) : ds.size();
  tf::Compose pipeline({tf::ToTensor(), tf::Normalize(0.2860, 0.3530)});
  return gluino::data::ArrayDataset<float>(pipeline(ds.images().slice(0, n)), ds.labels().slice(0, n).copy());
}

}  // namespace example
