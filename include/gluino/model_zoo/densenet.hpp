// SPDX-License-Identifier: Apache-2.0
#pragma once
/// DenseNet-BC: densenet() over (initial features, growth rate, block table) and DenseNet-121,
/// 161, 169, 201.  Gluon: gluon.model_zoo.vision.densenet (DenseNet, densenet121, ...).
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "gluino/detail/precompiled.hpp"
#include "gluino/model_zoo/model_sequential.hpp"
#include "gluino/nn/activations.hpp"
#include "gluino/nn/basic_layers.hpp"
#include "gluino/nn/batch_norm.hpp"
#include "gluino/nn/concatenate.hpp"
#include "gluino/nn/conv2d.hpp"
#include "gluino/nn/dense.hpp"
#include "gluino/nn/dropout.hpp"
#include "gluino/nn/hybrid_block.hpp"
#include "gluino/nn/pooling.hpp"

namespace gluino::model_zoo {

/// Options of densenet() and densenet121() ..., after Gluon's DenseNet keywords:
/// densenet121({.classes = 10}).
struct DenseNetOptions {
  std::size_t bn_size = 4;     ///< the bottleneck has bn_size * growth_rate channels
  double dropout = 0;          ///< rate of a Dropout after each dense layer; 0 = none
  std::size_t classes = 1000;  ///< outputs of the last Dense (Gluon's default)
  /// Image channels; 0 = inferred at the first forward.  Give it to have every shape known at
  /// initialize(), without a forward.
  std::size_t in_channels = 0;
};

/// One dense layer (Gluon's _make_dense_layer): HybridConcatenate(axis 1) of Identity and
/// BatchNorm relu Conv1x1(bn_size * growth_rate) BatchNorm relu Conv3x3(growth_rate) [Dropout],
/// so (N, C, H, W) -> (N, C + growth_rate, H, W): the input's channels, then the new ones.
/// in_channels: C (0 = inferred).  Layers created in the current name scope.
template <class T = float>
std::shared_ptr<nn::BasicHybridConcatenate<T>> dense_layer(std::size_t growth_rate, std::size_t bn_size,
                                                           double dropout, std::size_t in_channels = 0) {
  GLUINO_CHECK(ValueError, growth_rate > 0 && bn_size > 0, "dense_layer: growth_rate and bn_size must be > 0");
  const std::size_t mid = bn_size * growth_rate;
  auto new_features = std::make_shared<nn::BasicHybridSequential<T>>();
  new_features->add(nn::BasicBatchNorm<T>{{.in_channels = in_channels}}, nn::BasicActivation<T>{"relu"},
                    nn::BasicConv2D<T>{mid, 1, {.use_bias = false, .in_channels = in_channels}},
                    nn::BasicBatchNorm<T>{{.in_channels = mid}}, nn::BasicActivation<T>{"relu"},
                    nn::BasicConv2D<T>{growth_rate, 3, {.padding = 1, .use_bias = false, .in_channels = mid}});
  if (dropout > 0) new_features->add(nn::BasicDropout<T>{dropout});
  auto out = std::make_shared<nn::BasicHybridConcatenate<T>>(1);
  out->add(nn::BasicIdentity<T>{}, new_features);
  return out;
}

/// DenseNet-BC (Huang et al. 2017), Gluon's DenseNet(num_init_features, growth_rate,
/// block_config, bn_size, dropout, classes):
///   features: Conv7x7(num_init_features, stride 2, padding 3, no bias) BatchNorm relu
///             MaxPool2D(3, 2, padding 1); per entry of block_config a "stage<i>_"
///             HybridSequential of that many dense layers, and between stages a transition
///             BatchNorm relu Conv1x1(channels / 2, no bias) AvgPool2D(2, 2); then BatchNorm relu
///             GlobalAvgPool2D Flatten;
///   output:   Dense(classes).
/// (N, C, H, W) -> (N, classes); H, W shrink 32 times before the pool.  Gluon pools with
/// AvgPool2D(7), the same at 224x224 and an error below 193x193; the global pool here lets
/// smaller images through with the same parameters.  Printed "DenseNet", children "features"
/// and "output", parameters named as Gluon's ("densenet0_conv0_weight",
/// "densenet0_stage1_conv0_weight").  ValueError for an empty table or zero sizes.
template <class T = float>
std::shared_ptr<nn::BasicSequential<T>> densenet(std::size_t num_init_features, std::size_t growth_rate,
                                                 const std::vector<std::size_t>& block_config,
                                                 DenseNetOptions opt = {}) {
  GLUINO_CHECK(ValueError, !block_config.empty(), "densenet: block_config is empty");
  GLUINO_CHECK(ValueError, num_init_features > 0 && growth_rate > 0 && opt.bn_size > 0,
               "densenet: num_init_features, growth_rate and bn_size must be > 0");
  GLUINO_CHECK(ValueError, opt.classes > 0, "densenet: classes must be > 0");
  GLUINO_CHECK(ValueError, opt.dropout >= 0 && opt.dropout <= 1, "densenet: dropout must be in [0, 1], got ",
               opt.dropout);
  auto net = std::make_shared<detail::ModelSequential<T>>("DenseNet");
  auto scope = net->name_scope();  // layers named in it, as Gluon's prefix='' containers
  auto features = net->register_child(nn::BasicHybridSequential<T>{}, "features");
  features->add(nn::BasicConv2D<T>{num_init_features, 7,
                                   {.strides = 2, .padding = 3, .use_bias = false, .in_channels = opt.in_channels}},
                nn::BasicBatchNorm<T>{{.in_channels = num_init_features}}, nn::BasicActivation<T>{"relu"},
                nn::BasicMaxPool2D<T>{3, 2, {.padding = 1}});
  std::size_t channels = num_init_features;
  for (std::size_t i = 0; i < block_config.size(); ++i) {
    GLUINO_CHECK(ValueError, block_config[i] > 0, "densenet: block ", i, " has no layers");
    auto stage = std::make_shared<nn::BasicHybridSequential<T>>("stage" + std::to_string(i + 1) + "_");
    {
      auto stage_scope = stage->name_scope();
      for (std::size_t l = 0; l < block_config[i]; ++l, channels += growth_rate)
        stage->add(dense_layer<T>(growth_rate, opt.bn_size, opt.dropout, channels));
    }
    features->add(stage);
    if (i + 1 != block_config.size()) {
      auto transition = std::make_shared<nn::BasicHybridSequential<T>>();
      transition->add(nn::BasicBatchNorm<T>{{.in_channels = channels}}, nn::BasicActivation<T>{"relu"},
                      nn::BasicConv2D<T>{channels / 2, 1, {.use_bias = false, .in_channels = channels}},
                      nn::BasicAvgPool2D<T>{2, 2});
      features->add(transition);
      channels /= 2;
    }
  }
  features->add(nn::BasicBatchNorm<T>{{.in_channels = channels}}, nn::BasicActivation<T>{"relu"},
                nn::BasicGlobalAvgPool2D<T>{}, nn::BasicFlatten<T>{});
  net->register_child(nn::BasicDense<T>{opt.classes, {.in_units = channels}}, "output");
  return net;
}

/// Gluon's densenet_spec: (initial features, growth rate, block table) of DenseNet-121
/// (64, 32, 6 12 24 16), 161 (96, 48, 6 12 36 24), 169 (64, 32, 6 12 32 32) and 201
/// (64, 32, 6 12 48 32), and get_densenet(num_layers).  ValueError for another depth.
template <class T = float>
std::shared_ptr<nn::BasicSequential<T>> get_densenet(int num_layers, DenseNetOptions opt = {}) {
  switch (num_layers) {
    case 121:
      return densenet<T>(64, 32, {6, 12, 24, 16}, opt);
    case 161:
      return densenet<T>(96, 48, {6, 12, 36, 24}, opt);
    case 169:
      return densenet<T>(64, 32, {6, 12, 32, 32}, opt);
    case 201:
      return densenet<T>(64, 32, {6, 12, 48, 32}, opt);
    default:
      break;
  }
  detail::raise<ValueError>("get_densenet: num_layers must be 121, 161, 169 or 201, got ", num_layers);
}
/// DenseNet-121 (7,978,856 trainable parameters with 1000 classes, as torchvision's).  Gluon:
/// densenet121.
template <class T = float>
std::shared_ptr<nn::BasicSequential<T>> densenet121(DenseNetOptions opt = {}) {
  return get_densenet<T>(121, opt);
}
/// DenseNet-161.  Gluon: densenet161.
template <class T = float>
std::shared_ptr<nn::BasicSequential<T>> densenet161(DenseNetOptions opt = {}) {
  return get_densenet<T>(161, opt);
}
/// DenseNet-169.  Gluon: densenet169.
template <class T = float>
std::shared_ptr<nn::BasicSequential<T>> densenet169(DenseNetOptions opt = {}) {
  return get_densenet<T>(169, opt);
}
/// DenseNet-201.  Gluon: densenet201.
template <class T = float>
std::shared_ptr<nn::BasicSequential<T>> densenet201(DenseNetOptions opt = {}) {
  return get_densenet<T>(201, opt);
}

}  // namespace gluino::model_zoo

// Precompiled mode (detail/precompiled.hpp): this header's float and double instantiations.
#define GLUINO_MODEL_ZOO_DENSENET_INSTANTIATIONS(X, T) \
  X std::shared_ptr<nn::BasicHybridConcatenate<T>> dense_layer<T>(std::size_t, std::size_t, double, std::size_t); \
  X std::shared_ptr<nn::BasicSequential<T>> densenet<T>(std::size_t, std::size_t, const std::vector<std::size_t>&, DenseNetOptions); \
  X std::shared_ptr<nn::BasicSequential<T>> get_densenet<T>(int, DenseNetOptions); \
  X std::shared_ptr<nn::BasicSequential<T>> densenet121<T>(DenseNetOptions); \
  X std::shared_ptr<nn::BasicSequential<T>> densenet161<T>(DenseNetOptions); \
  X std::shared_ptr<nn::BasicSequential<T>> densenet169<T>(DenseNetOptions); \
  X std::shared_ptr<nn::BasicSequential<T>> densenet201<T>(DenseNetOptions);
namespace gluino::model_zoo {
GLUINO_EXTERN_INSTANTIATIONS(GLUINO_MODEL_ZOO_DENSENET_INSTANTIATIONS)
}  // namespace gluino::model_zoo
