// SPDX-License-Identifier: Apache-2.0
#pragma once
/// AlexNet as in the Gluon tutorial (d2l's Fashion-MNIST AlexNet: one input channel, 224x224).
#include <cstddef>
#include <memory>

#include "gluino/detail/precompiled.hpp"
#include "gluino/model_zoo/model_sequential.hpp"
#include "gluino/nn/conv2d.hpp"
#include "gluino/nn/dense.hpp"
#include "gluino/nn/dropout.hpp"
#include "gluino/nn/pooling.hpp"
#include "gluino/nn/sequential.hpp"

namespace gluino::model_zoo {

/// Options of alexnet(): alexnet({.classes = 10, .dropout = 0.5}).
struct AlexNetOptions {
  std::size_t classes = 10;  ///< outputs of the last Dense
  double dropout = 0.5;      ///< rate of the two Dropout layers
};

/// The tutorial's AlexNet for (N, 1, 224, 224) Fashion-MNIST images resized to 224x224:
///   Conv2D(96, 11, strides 4, relu) MaxPool2D(3, 2)
///   Conv2D(256, 5, padding 2, relu) MaxPool2D(3, 2)
///   Conv2D(384, 3, padding 1, relu) Conv2D(384, 3, padding 1, relu) Conv2D(256, 3, padding 1, relu)
///   MaxPool2D(3, 2) Dense(4096, relu) Dropout Dense(4096, relu) Dropout Dense(classes)
/// -> (N, classes) logits; 46,764,746 parameters with 10 classes on 1x224x224 inputs (the
/// first Dense flattens the (256, 5, 5) features).  Input channels are inferred at the first
/// forward, so 3-channel images work too.  Printed "AlexNet(...)", parameters
/// "alexnet0_conv0_weight", ...  ValueError for 0 classes or a dropout rate outside [0, 1].
template <class T = float>
std::shared_ptr<nn::BasicSequential<T>> alexnet(AlexNetOptions opt = {}) {
  GLUINO_CHECK(ValueError, opt.classes > 0, "alexnet: classes must be > 0");
  auto net = std::make_shared<detail::ModelSequential<T>>("AlexNet");
  auto scope = net->name_scope();
  net->add(nn::BasicConv2D<T>{96, 11, {.strides = 4, .activation = "relu"}}, nn::BasicMaxPool2D<T>{3, 2},
           nn::BasicConv2D<T>{256, 5, {.padding = 2, .activation = "relu"}}, nn::BasicMaxPool2D<T>{3, 2},
           nn::BasicConv2D<T>{384, 3, {.padding = 1, .activation = "relu"}},
           nn::BasicConv2D<T>{384, 3, {.padding = 1, .activation = "relu"}},
           nn::BasicConv2D<T>{256, 3, {.padding = 1, .activation = "relu"}}, nn::BasicMaxPool2D<T>{3, 2},
           nn::BasicDense<T>{4096, {.activation = "relu"}}, nn::BasicDropout<T>{opt.dropout},
           nn::BasicDense<T>{4096, {.activation = "relu"}}, nn::BasicDropout<T>{opt.dropout},
           nn::BasicDense<T>{opt.classes});
  return net;
}

}  // namespace gluino::model_zoo

// Precompiled mode (detail/precompiled.hpp): this header's float and double instantiations.
#define GLUINO_MODEL_ZOO_ALEXNET_INSTANTIATIONS(X, T) \
  X std::shared_ptr<nn::BasicSequential<T>> alexnet<T>(AlexNetOptions);
namespace gluino::model_zoo {
GLUINO_EXTERN_INSTANTIATIONS(GLUINO_MODEL_ZOO_ALEXNET_INSTANTIATIONS)
}  // namespace gluino::model_zoo
