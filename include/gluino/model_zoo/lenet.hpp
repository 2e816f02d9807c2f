// SPDX-License-Identifier: Apache-2.0
#pragma once
/// LeNet as in the Gluon tutorial this project grew from (two convolutions, two dense layers).
#include <memory>

#include "gluino/detail/precompiled.hpp"
#include "gluino/model_zoo/model_sequential.hpp"
#include "gluino/nn/basic_layers.hpp"
#include "gluino/nn/conv2d.hpp"
#include "gluino/nn/dense.hpp"
#include "gluino/nn/pooling.hpp"
#include "gluino/nn/sequential.hpp"

namespace gluino::model_zoo {

/// The tutorial's LeNet for 1x28x28 images and 10 classes:
///   Conv2D(20, 5, relu) MaxPool2D(2, 2) Conv2D(50, 3, relu) MaxPool2D(2, 2) Flatten
///   Dense(128, relu) Dense(10)
/// (N, 1, 28, 28) -> (N, 10) logits; 170,988 parameters on 1x28x28 inputs (the first Dense's
/// input size, 50 * 5 * 5, is inferred at the first forward, so other image sizes work too).
/// Returned as a shared Sequential, printed "LeNet(...)", with parameters named inside its
/// scope ("lenet0_conv0_weight").  Call net->initialize() (deferred shapes), then (*net)(x).
/// Gluon:
///   net = nn.Sequential()
///   net.add(nn.Conv2D(20, 5, activation='relu'), nn.MaxPool2D(2, 2), ..., nn.Dense(10))
template <class T = float>
std::shared_ptr<nn::BasicSequential<T>> lenet() {
  auto net = std::make_shared<detail::ModelSequential<T>>("LeNet");
  auto scope = net->name_scope();
  net->add(nn::BasicConv2D<T>{20, 5, {.activation = "relu"}}, nn::BasicMaxPool2D<T>{2, 2},
           nn::BasicConv2D<T>{50, 3, {.activation = "relu"}}, nn::BasicMaxPool2D<T>{2, 2}, nn::BasicFlatten<T>{},
           nn::BasicDense<T>{128, {.activation = "relu"}}, nn::BasicDense<T>{10});
  return net;
}

}  // namespace gluino::model_zoo

// Precompiled mode (detail/precompiled.hpp): this header's float and double instantiations.
#define GLUINO_MODEL_ZOO_LENET_INSTANTIATIONS(X, T) \
  X std::shared_ptr<nn::BasicSequential<T>> lenet<T>();
namespace gluino::model_zoo {
GLUINO_EXTERN_INSTANTIATIONS(GLUINO_MODEL_ZOO_LENET_INSTANTIATIONS)
}  // namespace gluino::model_zoo
