// SPDX-License-Identifier: Apache-2.0
#pragma once
/// The model the checkpoint targets load into: model_zoo LeNet, built once, initialized with a
/// fixed seed, its deferred shapes resolved by one forward pass on a 1x1x28x28 batch.
#include <gluino/core/random.hpp>
#include <gluino/model_zoo/lenet.hpp>
#include <gluino/nn/parameter_io.hpp>
#include <gluino/nd/creation.hpp>

#include <memory>

namespace gluino_fuzz {

inline std::shared_ptr<gluino::nn::Sequential> make_lenet() {
  gluino::random::seed(42);
  auto net = gluino::model_zoo::lenet();
  net->initialize();
  (void)(*net)(gluino::nd::zeros<float>({1, 1, 28, 28}));
  return net;
}

}  // namespace gluino_fuzz
