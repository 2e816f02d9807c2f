// SPDX-License-Identifier: Apache-2.0
#pragma once
/// VGG: vgg_block, vgg over a (num_convs, channels) table, and VGG-11/13/16/19 with or without
/// batch normalisation.  Gluon: the tutorial's vgg_block / vgg, and gluon.model_zoo.vision.vgg*.
#include <cstddef>
#include <memory>
#include <utility>
#include <vector>

#include "gluino/detail/precompiled.hpp"
#include "gluino/model_zoo/model_sequential.hpp"
#include "gluino/nn/activations.hpp"
#include "gluino/nn/batch_norm.hpp"
#include "gluino/nn/conv2d.hpp"
#include "gluino/nn/dense.hpp"
#include "gluino/nn/dropout.hpp"
#include "gluino/nn/pooling.hpp"
#include "gluino/nn/sequential.hpp"

namespace gluino::model_zoo {

/// A VGG architecture: (number of 3x3 convolutions, channels) per block.
using VGGArch = std::vector<std::pair<std::size_t, std::size_t>>;

/// Options of vgg_block().
struct VGGBlockOptions {
  /// Conv2D (no activation) -> BatchNorm -> Activation(relu) instead of Conv2D(relu), as
  /// Gluon's VGG with batch_norm=True.
  bool batch_norm = false;
};

/// Options of vgg() and vgg11() ... vgg19(): vgg11({.classes = 10, .channel_divisor = 4}).
struct VGGOptions {
  std::size_t classes = 10;        ///< outputs of the last Dense
  bool batch_norm = false;         ///< see VGGBlockOptions
  std::size_t dense_units = 4096;  ///< units of the two hidden Dense layers
  double dropout = 0.5;            ///< rate of the two Dropout layers
  /// Divides every block's channels (d2l's ratio: VGG-11 with channels / 4 is
  /// vgg11({.channel_divisor = 4})); results below 1 are ValueErrors.
  std::size_t channel_divisor = 1;
};

/// One VGG block: num_convs x Conv2D(channels, 3, padding 1, relu), then MaxPool2D(2, 2),
/// halving H and W.  With batch_norm each convolution is Conv2D -> BatchNorm -> Activation(relu).
/// A Sequential whose children are created in the current name scope (the tutorial's vgg_block;
/// at top level they are "conv0_", "pool0_", ...).  ValueError for 0 convolutions or channels.
template <class T = float>
std::shared_ptr<nn::BasicSequential<T>> vgg_block(std::size_t num_convs, std::size_t channels,
                                                  VGGBlockOptions opt = {}) {
  GLUINO_CHECK(ValueError, num_convs > 0, "vgg_block: num_convs must be > 0");
  GLUINO_CHECK(ValueError, channels > 0, "vgg_block: channels must be > 0");
  auto blk = std::make_shared<nn::BasicSequential<T>>();
  for (std::size_t i = 0; i < num_convs; ++i) {
    if (opt.batch_norm)
      blk->add(nn::BasicConv2D<T>{channels, 3, {.padding = 1}}, nn::BasicBatchNorm<T>{},
               nn::BasicActivation<T>{"relu"});
    else
      blk->add(nn::BasicConv2D<T>{channels, 3, {.padding = 1, .activation = "relu"}});
  }
  blk->add(nn::BasicMaxPool2D<T>{2, 2});
  return blk;
}

/// VGG over a table of blocks: vgg_block(num_convs, channels / channel_divisor) for each entry,
/// then Dense(dense_units, relu) Dropout Dense(dense_units, relu) Dropout Dense(classes).
/// (N, C, H, W) -> (N, classes); with 5 blocks H and W shrink 32 times (224 -> 7), and the first
/// Dense's input size is inferred at the first forward.  Printed "VGG(...)", parameters
/// "vgg0_conv0_weight", ...  ValueError for an empty table, 0 classes, dense units or divisor,
/// or a divisor leaving a block without channels.
template <class T = float>
std::shared_ptr<nn::BasicSequential<T>> vgg(const VGGArch& conv_arch, VGGOptions opt = {}) {
  GLUINO_CHECK(ValueError, !conv_arch.empty(), "vgg: conv_arch is empty");
  GLUINO_CHECK(ValueError, opt.classes > 0, "vgg: classes must be > 0");
  GLUINO_CHECK(ValueError, opt.dense_units > 0, "vgg: dense_units must be > 0");
  GLUINO_CHECK(ValueError, opt.channel_divisor > 0, "vgg: channel_divisor must be > 0");
  auto net = std::make_shared<detail::ModelSequential<T>>("VGG");
  auto scope = net->name_scope();
  for (const auto& [num_convs, channels] : conv_arch) {
    GLUINO_CHECK(ValueError, channels >= opt.channel_divisor, "vgg: channels ", channels, " divided by ",
                 opt.channel_divisor, " leave no channel");
    net->add(vgg_block<T>(num_convs, channels / opt.channel_divisor, {.batch_norm = opt.batch_norm}));
  }
  net->add(nn::BasicDense<T>{opt.dense_units, {.activation = "relu"}}, nn::BasicDropout<T>{opt.dropout},
           nn::BasicDense<T>{opt.dense_units, {.activation = "relu"}}, nn::BasicDropout<T>{opt.dropout},
           nn::BasicDense<T>{opt.classes});
  return net;
}

/// The standard tables (Simonyan and Zisserman, configurations A, B, D, E; Gluon's vgg_spec):
/// depth 11: (1, 64) (1, 128) (2, 256) (2, 512) (2, 512); 13: two convolutions in every block;
/// 16: (2, 64) (2, 128) (3, 256) (3, 512) (3, 512); 19: (2, 64) (2, 128) (4, 256) (4, 512) (4, 512).
/// ValueError for another depth.
inline VGGArch vgg_arch(int depth) {
  switch (depth) {
    case 11:
      return {{1, 64}, {1, 128}, {2, 256}, {2, 512}, {2, 512}};
    case 13:
      return {{2, 64}, {2, 128}, {2, 256}, {2, 512}, {2, 512}};
    case 16:
      return {{2, 64}, {2, 128}, {3, 256}, {3, 512}, {3, 512}};
    case 19:
      return {{2, 64}, {2, 128}, {4, 256}, {4, 512}, {4, 512}};
    default:
      break;
  }
  detail::raise<ValueError>("vgg_arch: depth must be 11, 13, 16 or 19, got ", depth);
}

/// VGG-11 (8 convolutions, 3 dense layers).  Gluon: model_zoo.vision.vgg11 (batch_norm: vgg11_bn).
template <class T = float>
std::shared_ptr<nn::BasicSequential<T>> vgg11(VGGOptions opt = {}) {
  return vgg<T>(vgg_arch(11), opt);
}
/// VGG-13.  Gluon: vgg13.
template <class T = float>
std::shared_ptr<nn::BasicSequential<T>> vgg13(VGGOptions opt = {}) {
  return vgg<T>(vgg_arch(13), opt);
}
/// VGG-16.  Gluon: vgg16.
template <class T = float>
std::shared_ptr<nn::BasicSequential<T>> vgg16(VGGOptions opt = {}) {
  return vgg<T>(vgg_arch(16), opt);
}
/// VGG-19.  Gluon: vgg19.
template <class T = float>
std::shared_ptr<nn::BasicSequential<T>> vgg19(VGGOptions opt = {}) {
  return vgg<T>(vgg_arch(19), opt);
}

}  // namespace gluino::model_zoo

// Precompiled mode (detail/precompiled.hpp): this header's float and double instantiations.
#define GLUINO_MODEL_ZOO_VGG_INSTANTIATIONS(X, T) \
  X std::shared_ptr<nn::BasicSequential<T>> vgg_block<T>(std::size_t, std::size_t, VGGBlockOptions); \
  X std::shared_ptr<nn::BasicSequential<T>> vgg<T>(const VGGArch&, VGGOptions); \
  X std::shared_ptr<nn::BasicSequential<T>> vgg11<T>(VGGOptions); \
  X std::shared_ptr<nn::BasicSequential<T>> vgg13<T>(VGGOptions); \
  X std::shared_ptr<nn::BasicSequential<T>> vgg16<T>(VGGOptions); \
  X std::shared_ptr<nn::BasicSequential<T>> vgg19<T>(VGGOptions);
namespace gluino::model_zoo {
GLUINO_EXTERN_INSTANTIATIONS(GLUINO_MODEL_ZOO_VGG_INSTANTIATIONS)
}  // namespace gluino::model_zoo
