// SPDX-License-Identifier: Apache-2.0
#pragma once
/// Network in Network as in Dive into Deep Learning's Gluon chapter (nin_block and the
/// Fashion-MNIST NiN): blocks of a convolution and two 1x1 convolutions, no Dense layer.
#include <cstddef>
#include <memory>

#include "gluino/detail/precompiled.hpp"
#include "gluino/model_zoo/model_sequential.hpp"
#include "gluino/nn/basic_layers.hpp"
#include "gluino/nn/conv2d.hpp"
#include "gluino/nn/dropout.hpp"
#include "gluino/nn/hybrid_block.hpp"
#include "gluino/nn/pooling.hpp"
#include "gluino/nn/sequential.hpp"

namespace gluino::model_zoo {

/// One NiN block (d2l's nin_block(num_channels, kernel_size, strides, padding)):
/// Conv2D(num_channels, kernel_size, strides, padding, relu) then two Conv2D(num_channels, 1,
/// relu), a per-pixel MLP over the channels.  A Sequential whose layers are created in the
/// current name scope.  ValueError for 0 channels (from Conv2D).
template <class T = float>
std::shared_ptr<nn::BasicSequential<T>> nin_block(std::size_t num_channels, nn::Size2 kernel_size, nn::Size2 strides,
                                                  nn::Size2 padding) {
  auto blk = std::make_shared<nn::BasicHybridSequential<T>>();
  blk->add(nn::BasicConv2D<T>{num_channels, kernel_size, {.strides = strides, .padding = padding, .activation = "relu"}},
           nn::BasicConv2D<T>{num_channels, 1, {.activation = "relu"}},
           nn::BasicConv2D<T>{num_channels, 1, {.activation = "relu"}});
  return blk;
}

/// Options of nin(): nin({.classes = 10, .dropout = 0.5}).
struct NiNOptions {
  std::size_t classes = 10;  ///< channels of the last block, one per class
  double dropout = 0.5;      ///< rate of the Dropout before the last block
};

/// d2l's NiN for (N, 1, 224, 224) Fashion-MNIST images resized to 224x224 (Lin et al. 2013):
///   nin_block(96, 11, 4, 0) MaxPool2D(3, 2) nin_block(256, 5, 1, 2) MaxPool2D(3, 2)
///   nin_block(384, 3, 1, 1) MaxPool2D(3, 2) Dropout nin_block(classes, 3, 1, 1)
///   GlobalAvgPool2D Flatten
/// -> (N, classes) logits; 1,992,166 parameters with 10 classes on one input channel (inferred
/// at the first forward).  Any input of at least 67x67 (conv 15, pool 7, pool 3, pool 1).  Printed
/// "NiN(...)", parameters "nin0_conv0_weight", ...  ValueError for 0 classes or a dropout rate
/// outside [0, 1].
template <class T = float>
std::shared_ptr<nn::BasicSequential<T>> nin(NiNOptions opt = {}) {
  GLUINO_CHECK(ValueError, opt.classes > 0, "nin: classes must be > 0");
  auto net = std::make_shared<detail::ModelSequential<T>>("NiN");
  auto scope = net->name_scope();
  // One statement per block: nin_block numbers its convolutions when it runs, and the
  // arguments of one add() call may run in any order.
  net->add(nin_block<T>(96, 11, 4, 0), nn::BasicMaxPool2D<T>{3, 2});
  net->add(nin_block<T>(256, 5, 1, 2), nn::BasicMaxPool2D<T>{3, 2});
  net->add(nin_block<T>(384, 3, 1, 1), nn::BasicMaxPool2D<T>{3, 2}, nn::BasicDropout<T>{opt.dropout});
  net->add(nin_block<T>(opt.classes, 3, 1, 1), nn::BasicGlobalAvgPool2D<T>{}, nn::BasicFlatten<T>{});
  return net;
}

}  // namespace gluino::model_zoo

// Precompiled mode (detail/precompiled.hpp): this header's float and double instantiations.
#define GLUINO_MODEL_ZOO_NIN_INSTANTIATIONS(X, T) \
  X std::shared_ptr<nn::BasicSequential<T>> nin_block<T>(std::size_t, nn::Size2, nn::Size2, nn::Size2); \
  X std::shared_ptr<nn::BasicSequential<T>> nin<T>(NiNOptions);
namespace gluino::model_zoo {
GLUINO_EXTERN_INSTANTIATIONS(GLUINO_MODEL_ZOO_NIN_INSTANTIATIONS)
}  // namespace gluino::model_zoo
