// SPDX-License-Identifier: Apache-2.0
#pragma once
/// ResNet V1 and V2: the residual blocks (BasicBlockV1/V2, BottleneckV1/V2) and the networks
/// resnet18_v1 ... resnet152_v2 through get_resnet.  Gluon: gluon.model_zoo.vision.resnet
/// (MXNet 1.x), with the same layer lists, options (classes, thumbnail) and parameter names.
#include <cstddef>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "gluino/detail/precompiled.hpp"
#include "gluino/model_zoo/model_sequential.hpp"
#include "gluino/nd/elementwise.hpp"
#include "gluino/nn/activations.hpp"
#include "gluino/nn/basic_layers.hpp"
#include "gluino/nn/batch_norm.hpp"
#include "gluino/nn/conv2d.hpp"
#include "gluino/nn/dense.hpp"
#include "gluino/nn/hybrid_block.hpp"
#include "gluino/nn/pooling.hpp"

namespace gluino::detail {
/// Gluon's _conv3x3: Conv2D(channels, 3, strides = stride, padding 1, no bias).
template <class T>
nn::BasicConv2D<T> zoo_conv3x3(std::size_t channels, std::size_t stride, std::size_t in_channels) {
  return nn::BasicConv2D<T>{channels, 3, {.strides = stride, .padding = 1, .use_bias = false, .in_channels = in_channels}};
}
/// Conv2D(channels, 1, strides = stride) with or without bias.
template <class T>
nn::BasicConv2D<T> zoo_conv1x1(std::size_t channels, std::size_t stride, std::size_t in_channels, bool use_bias) {
  return nn::BasicConv2D<T>{channels, 1, {.strides = stride, .use_bias = use_bias, .in_channels = in_channels}};
}
/// BatchNorm over `channels` (0 = inferred).
template <class T>
nn::BasicBatchNorm<T> zoo_batch_norm(std::size_t channels) {
  return nn::BasicBatchNorm<T>{{.in_channels = channels}};
}
}  // namespace gluino::detail

namespace gluino::model_zoo {

/// Options of the residual blocks after channels and stride, as Gluon's keyword arguments.
struct ResidualBlockOptions {
  /// Add the projection shortcut (a strided 1x1 convolution; with BatchNorm in V1), needed when
  /// the block changes the channels or the size.
  bool downsample = false;
  /// The block's input channels; 0 = inferred at the first forward.
  std::size_t in_channels = 0;
};

/// ResNet V1's block for 18 and 34 layers: relu(body(x) + shortcut(x)), body = Conv3x3(stride)
/// BatchNorm relu Conv3x3 BatchNorm, shortcut = x or Conv1x1(stride) BatchNorm (downsample).
/// (N, C, H, W) -> (N, channels, H / stride, W / stride).  Children "body" and "downsample", as
/// Gluon's attributes.  Mirrors gluon.model_zoo.vision.BasicBlockV1.
template <class T>
class BasicBasicBlockV1 : public nn::BasicHybridBlock<T> {
 public:
  BasicBasicBlockV1(std::size_t channels, std::size_t stride, ResidualBlockOptions opt = {}, std::string prefix = "")
      : nn::BasicHybridBlock<T>({.alias = "basicblockv1", .prefix = std::move(prefix)}),
        channels_(channels), stride_(stride), opt_(opt) {
    // No name scope of its own: the layers are named in the enclosing one, as Gluon's prefix=''.
    body_ = this->register_child(nn::BasicHybridSequential<T>{}, "body");
    body_->add(gluino::detail::zoo_conv3x3<T>(channels, stride, opt.in_channels),
               gluino::detail::zoo_batch_norm<T>(channels), nn::BasicActivation<T>{"relu"},
               gluino::detail::zoo_conv3x3<T>(channels, 1, channels), gluino::detail::zoo_batch_norm<T>(channels));
    if (opt.downsample) {
      downsample_ = this->register_child(nn::BasicHybridSequential<T>{}, "downsample");
      downsample_->add(gluino::detail::zoo_conv1x1<T>(channels, stride, opt.in_channels, false),
                       gluino::detail::zoo_batch_norm<T>(channels));
    }
  }
  std::string type_name() const override { return "BasicBlockV1"; }
  nn::AnyBlockPtr rebuild(nn::Dtype to) const override {
    return nn::rebuild_as(to, [&]<class U>() { return std::make_shared<BasicBasicBlockV1<U>>(channels_, stride_, opt_); });
  }
  NDArray<T> forward(const NDArray<T>& x) override {
    const NDArray<T> residual = downsample_ ? (*downsample_)(x) : x;
    return nd::relu((*body_)(x) + residual);
  }

 private:
  std::size_t channels_, stride_;
  ResidualBlockOptions opt_;
  std::shared_ptr<nn::BasicHybridSequential<T>> body_, downsample_;
};

/// ResNet V1's block for 50 layers and more: relu(body(x) + shortcut(x)), body =
/// Conv1x1(channels / 4, stride, with bias) BatchNorm relu Conv3x3(channels / 4) BatchNorm relu
/// Conv1x1(channels, with bias) BatchNorm; shortcut as BasicBlockV1.  The stride is on the
/// first 1x1 convolution and the 1x1 convolutions have biases, as in Gluon (torchvision strides
/// the 3x3 and has no biases).  Mirrors gluon.model_zoo.vision.BottleneckV1.
template <class T>
class BasicBottleneckV1 : public nn::BasicHybridBlock<T> {
 public:
  BasicBottleneckV1(std::size_t channels, std::size_t stride, ResidualBlockOptions opt = {}, std::string prefix = "")
      : nn::BasicHybridBlock<T>({.alias = "bottleneckv1", .prefix = std::move(prefix)}),
        channels_(channels), stride_(stride), opt_(opt) {
    const std::size_t mid = channels / 4;
    GLUINO_CHECK(ValueError, mid > 0, "BottleneckV1: channels must be at least 4, got ", channels);
    body_ = this->register_child(nn::BasicHybridSequential<T>{}, "body");
    body_->add(gluino::detail::zoo_conv1x1<T>(mid, stride, opt.in_channels, true),
               gluino::detail::zoo_batch_norm<T>(mid), nn::BasicActivation<T>{"relu"},
               gluino::detail::zoo_conv3x3<T>(mid, 1, mid), gluino::detail::zoo_batch_norm<T>(mid),
               nn::BasicActivation<T>{"relu"}, gluino::detail::zoo_conv1x1<T>(channels, 1, mid, true),
               gluino::detail::zoo_batch_norm<T>(channels));
    if (opt.downsample) {
      downsample_ = this->register_child(nn::BasicHybridSequential<T>{}, "downsample");
      downsample_->add(gluino::detail::zoo_conv1x1<T>(channels, stride, opt.in_channels, false),
                       gluino::detail::zoo_batch_norm<T>(channels));
    }
  }
  std::string type_name() const override { return "BottleneckV1"; }
  nn::AnyBlockPtr rebuild(nn::Dtype to) const override {
    return nn::rebuild_as(to, [&]<class U>() { return std::make_shared<BasicBottleneckV1<U>>(channels_, stride_, opt_); });
  }
  NDArray<T> forward(const NDArray<T>& x) override {
    const NDArray<T> residual = downsample_ ? (*downsample_)(x) : x;
    return nd::relu((*body_)(x) + residual);
  }

 private:
  std::size_t channels_, stride_;
  ResidualBlockOptions opt_;
  std::shared_ptr<nn::BasicHybridSequential<T>> body_, downsample_;
};

/// ResNet V2's (pre-activation) block for 18 and 34 layers: h = relu(bn1(x)); shortcut = x, or
/// Conv1x1(stride)(h) with downsample; out = conv2(relu(bn2(conv1(h)))) + shortcut, conv1 a
/// strided Conv3x3.  Children bn1, conv1, bn2, conv2, downsample (Gluon's attributes).
/// Mirrors gluon.model_zoo.vision.BasicBlockV2.
template <class T>
class BasicBasicBlockV2 : public nn::BasicHybridBlock<T> {
 public:
  BasicBasicBlockV2(std::size_t channels, std::size_t stride, ResidualBlockOptions opt = {}, std::string prefix = "")
      : nn::BasicHybridBlock<T>({.alias = "basicblockv2", .prefix = std::move(prefix)}),
        channels_(channels), stride_(stride), opt_(opt) {
    bn1_ = this->register_child(gluino::detail::zoo_batch_norm<T>(opt.in_channels), "bn1");
    conv1_ = this->register_child(gluino::detail::zoo_conv3x3<T>(channels, stride, opt.in_channels), "conv1");
    bn2_ = this->register_child(gluino::detail::zoo_batch_norm<T>(channels), "bn2");
    conv2_ = this->register_child(gluino::detail::zoo_conv3x3<T>(channels, 1, channels), "conv2");
    if (opt.downsample)
      downsample_ = this->register_child(gluino::detail::zoo_conv1x1<T>(channels, stride, opt.in_channels, false),
                                         "downsample");
  }
  std::string type_name() const override { return "BasicBlockV2"; }
  nn::AnyBlockPtr rebuild(nn::Dtype to) const override {
    return nn::rebuild_as(to, [&]<class U>() { return std::make_shared<BasicBasicBlockV2<U>>(channels_, stride_, opt_); });
  }
  NDArray<T> forward(const NDArray<T>& x) override {
    const NDArray<T> h = nd::relu((*bn1_)(x));
    const NDArray<T> residual = downsample_ ? (*downsample_)(h) : x;
    return (*conv2_)(nd::relu((*bn2_)((*conv1_)(h)))) + residual;
  }

 private:
  std::size_t channels_, stride_;
  ResidualBlockOptions opt_;
  std::shared_ptr<nn::BasicBatchNorm<T>> bn1_, bn2_;
  std::shared_ptr<nn::BasicConv2D<T>> conv1_, conv2_, downsample_;
};

/// ResNet V2's block for 50 layers and more: h = relu(bn1(x)); out = conv3(relu(bn3(conv2(
/// relu(bn2(conv1(h))))))) + shortcut, conv1 Conv1x1(channels / 4), conv2 Conv3x3(channels / 4,
/// stride), conv3 Conv1x1(channels), none with bias; shortcut as BasicBlockV2.  Mirrors
/// gluon.model_zoo.vision.BottleneckV2.
template <class T>
class BasicBottleneckV2 : public nn::BasicHybridBlock<T> {
 public:
  BasicBottleneckV2(std::size_t channels, std::size_t stride, ResidualBlockOptions opt = {}, std::string prefix = "")
      : nn::BasicHybridBlock<T>({.alias = "bottleneckv2", .prefix = std::move(prefix)}),
        channels_(channels), stride_(stride), opt_(opt) {
    const std::size_t mid = channels / 4;
    GLUINO_CHECK(ValueError, mid > 0, "BottleneckV2: channels must be at least 4, got ", channels);
    bn1_ = this->register_child(gluino::detail::zoo_batch_norm<T>(opt.in_channels), "bn1");
    conv1_ = this->register_child(gluino::detail::zoo_conv1x1<T>(mid, 1, opt.in_channels, false), "conv1");
    bn2_ = this->register_child(gluino::detail::zoo_batch_norm<T>(mid), "bn2");
    conv2_ = this->register_child(gluino::detail::zoo_conv3x3<T>(mid, stride, mid), "conv2");
    bn3_ = this->register_child(gluino::detail::zoo_batch_norm<T>(mid), "bn3");
    conv3_ = this->register_child(gluino::detail::zoo_conv1x1<T>(channels, 1, mid, false), "conv3");
    if (opt.downsample)
      downsample_ = this->register_child(gluino::detail::zoo_conv1x1<T>(channels, stride, opt.in_channels, false),
                                         "downsample");
  }
  std::string type_name() const override { return "BottleneckV2"; }
  nn::AnyBlockPtr rebuild(nn::Dtype to) const override {
    return nn::rebuild_as(to, [&]<class U>() { return std::make_shared<BasicBottleneckV2<U>>(channels_, stride_, opt_); });
  }
  NDArray<T> forward(const NDArray<T>& x) override {
    const NDArray<T> h = nd::relu((*bn1_)(x));
    const NDArray<T> residual = downsample_ ? (*downsample_)(h) : x;
    const NDArray<T> m = (*conv2_)(nd::relu((*bn2_)((*conv1_)(h))));
    return (*conv3_)(nd::relu((*bn3_)(m))) + residual;
  }

 private:
  std::size_t channels_, stride_;
  ResidualBlockOptions opt_;
  std::shared_ptr<nn::BasicBatchNorm<T>> bn1_, bn2_, bn3_;
  std::shared_ptr<nn::BasicConv2D<T>> conv1_, conv2_, conv3_, downsample_;
};

using BasicBlockV1 = BasicBasicBlockV1<float>;
using BottleneckV1 = BasicBottleneckV1<float>;
using BasicBlockV2 = BasicBasicBlockV2<float>;
using BottleneckV2 = BasicBottleneckV2<float>;

/// Options of get_resnet() and resnet18_v1() ...: resnet18_v1({.classes = 10, .thumbnail = true}).
struct ResNetOptions {
  std::size_t classes = 1000;  ///< outputs of the last Dense (Gluon's default: ImageNet's 1000)
  /// For small images (CIFAR, Fashion-MNIST): the stem is one Conv3x3(64, stride 1) instead of
  /// Conv7x7(64, stride 2) BatchNorm relu MaxPool2D(3, 2, padding 1), so the maps shrink 8
  /// times instead of 32.  Gluon's thumbnail.
  bool thumbnail = false;
  /// Image channels; 0 = inferred at the first forward (Gluon's stem infers them).  Give it to
  /// have every shape known at initialize(), without a forward.
  std::size_t in_channels = 0;
};

/// A ResNet's table (Gluon's resnet_spec): bottleneck blocks or basic ones, blocks per stage,
/// and the channels of the stem then of each stage.
struct ResNetSpec {
  bool bottleneck = false;
  std::vector<std::size_t> layers, channels;
};

/// Gluon's resnet_spec: 18 and 34 layers basic blocks (2, 2, 2, 2) and (3, 4, 6, 3) over
/// 64, 64, 128, 256, 512 channels; 50, 101 and 152 bottlenecks (3, 4, 6, 3), (3, 4, 23, 3) and
/// (3, 8, 36, 3) over 64, 256, 512, 1024, 2048.  ValueError for another depth.
inline ResNetSpec resnet_spec(int num_layers) {
  const std::vector<std::size_t> basic{64, 64, 128, 256, 512}, bottle{64, 256, 512, 1024, 2048};
  switch (num_layers) {
    case 18:
      return {false, {2, 2, 2, 2}, basic};
    case 34:
      return {false, {3, 4, 6, 3}, basic};
    case 50:
      return {true, {3, 4, 6, 3}, bottle};
    case 101:
      return {true, {3, 4, 23, 3}, bottle};
    case 152:
      return {true, {3, 8, 36, 3}, bottle};
    default:
      break;
  }
  detail::raise<ValueError>("get_resnet: num_layers must be 18, 34, 50, 101 or 152, got ", num_layers);
}

}  // namespace gluino::model_zoo

namespace gluino::detail {
/// Adds the stages "stage1_" ... of a ResNet to features, each a HybridSequential of Block
/// (Gluon's _make_layer): the first block of stage i strides by 2 (but in stage 1) and
/// downsamples when the channels change.
template <class T, template <class> class Block>
void add_resnet_stages(nn::BasicHybridSequential<T>& features, const model_zoo::ResNetSpec& spec) {
  for (std::size_t i = 0; i < spec.layers.size(); ++i) {
    const std::size_t in = spec.channels[i], out = spec.channels[i + 1], stride = i == 0 ? 1 : 2;
    auto stage = std::make_shared<nn::BasicHybridSequential<T>>("stage" + std::to_string(i + 1) + "_");
    {
      auto scope = stage->name_scope();
      stage->add(Block<T>{out, stride, {.downsample = out != in, .in_channels = in}});
      for (std::size_t b = 1; b < spec.layers[i]; ++b) stage->add(Block<T>{out, 1, {.in_channels = out}});
    }
    features.add(stage);
  }
}
}  // namespace gluino::detail

namespace gluino::model_zoo {

/// ResNet V1 (He et al. 2015) or V2 (pre-activation, He et al. 2016) of 18, 34, 50, 101 or 152
/// layers, as Gluon's get_resnet(version, num_layers, classes=, thumbnail=):
///  V1: features = stem, stage1 ... stage4 (of BasicBlockV1 or BottleneckV1), GlobalAvgPool2D;
///      output = Dense(classes).
///  V2: features = BatchNorm(scale=False, center=False), stem, stages (BasicBlockV2 or
///      BottleneckV2), BatchNorm, relu, GlobalAvgPool2D, Flatten; output = Dense(classes).
/// The stem is Conv7x7(64, stride 2, no bias) BatchNorm relu MaxPool2D(3, 2, padding 1), or
/// with thumbnail one Conv3x3(64).  (N, C, H, W) -> (N, classes), any H, W the stages can halve
/// (224 -> 7x7 before the pool; 32 with thumbnail -> 4x4).  A Sequential printed "ResNetV1" /
/// "ResNetV2" with the children "features" and "output" (checkpoint keys "features.0.weight",
/// ...), parameters named as Gluon's ("resnetv10_conv0_weight", "resnetv10_stage1_conv0_weight",
/// "resnetv10_dense0_weight").  Hybridizable.  Parameter counts (1000 classes, 3 channels):
/// tests/model_zoo/test_resnet.cpp.  ValueError for a version other than 1 or 2, another
/// depth, or 0 classes.
template <class T = float>
std::shared_ptr<nn::BasicSequential<T>> get_resnet(int version, int num_layers, ResNetOptions opt = {}) {
  GLUINO_CHECK(ValueError, version == 1 || version == 2, "get_resnet: version must be 1 or 2, got ", version);
  GLUINO_CHECK(ValueError, opt.classes > 0, "get_resnet: classes must be > 0");
  const ResNetSpec spec = resnet_spec(num_layers);
  auto net = std::make_shared<detail::ModelSequential<T>>(version == 1 ? "ResNetV1" : "ResNetV2");
  auto scope = net->name_scope();  // every layer is named in it (Gluon's prefix='' containers)
  auto features = net->register_child(nn::BasicHybridSequential<T>{}, "features");
  const std::size_t c0 = spec.channels[0];
  if (version == 2) features->add(nn::BasicBatchNorm<T>{{.center = false, .scale = false, .in_channels = opt.in_channels}});
  if (opt.thumbnail) {
    features->add(gluino::detail::zoo_conv3x3<T>(c0, 1, opt.in_channels));
  } else {
    features->add(nn::BasicConv2D<T>{c0, 7, {.strides = 2, .padding = 3, .use_bias = false, .in_channels = opt.in_channels}},
                  gluino::detail::zoo_batch_norm<T>(c0), nn::BasicActivation<T>{"relu"},
                  nn::BasicMaxPool2D<T>{3, 2, {.padding = 1}});
  }
  if (version == 1) {
    if (spec.bottleneck)
      gluino::detail::add_resnet_stages<T, BasicBottleneckV1>(*features, spec);
    else
      gluino::detail::add_resnet_stages<T, BasicBasicBlockV1>(*features, spec);
    features->add(nn::BasicGlobalAvgPool2D<T>{});
  } else {
    if (spec.bottleneck)
      gluino::detail::add_resnet_stages<T, BasicBottleneckV2>(*features, spec);
    else
      gluino::detail::add_resnet_stages<T, BasicBasicBlockV2>(*features, spec);
    features->add(gluino::detail::zoo_batch_norm<T>(spec.channels.back()), nn::BasicActivation<T>{"relu"},
                  nn::BasicGlobalAvgPool2D<T>{}, nn::BasicFlatten<T>{});
  }
  net->register_child(nn::BasicDense<T>{opt.classes, {.in_units = spec.channels.back()}}, "output");
  return net;
}

/// ResNet-18 V1 (11,689,512 parameters with 1000 classes, as torchvision's).  Gluon: resnet18_v1.
template <class T = float>
std::shared_ptr<nn::BasicSequential<T>> resnet18_v1(ResNetOptions opt = {}) {
  return get_resnet<T>(1, 18, opt);
}
/// ResNet-34 V1.  Gluon: resnet34_v1.
template <class T = float>
std::shared_ptr<nn::BasicSequential<T>> resnet34_v1(ResNetOptions opt = {}) {
  return get_resnet<T>(1, 34, opt);
}
/// ResNet-50 V1.  Gluon: resnet50_v1.
template <class T = float>
std::shared_ptr<nn::BasicSequential<T>> resnet50_v1(ResNetOptions opt = {}) {
  return get_resnet<T>(1, 50, opt);
}
/// ResNet-101 V1.  Gluon: resnet101_v1.
template <class T = float>
std::shared_ptr<nn::BasicSequential<T>> resnet101_v1(ResNetOptions opt = {}) {
  return get_resnet<T>(1, 101, opt);
}
/// ResNet-152 V1.  Gluon: resnet152_v1.
template <class T = float>
std::shared_ptr<nn::BasicSequential<T>> resnet152_v1(ResNetOptions opt = {}) {
  return get_resnet<T>(1, 152, opt);
}
/// ResNet-18 V2.  Gluon: resnet18_v2.
template <class T = float>
std::shared_ptr<nn::BasicSequential<T>> resnet18_v2(ResNetOptions opt = {}) {
  return get_resnet<T>(2, 18, opt);
}
/// ResNet-34 V2.  Gluon: resnet34_v2.
template <class T = float>
std::shared_ptr<nn::BasicSequential<T>> resnet34_v2(ResNetOptions opt = {}) {
  return get_resnet<T>(2, 34, opt);
}
/// ResNet-50 V2.  Gluon: resnet50_v2.
template <class T = float>
std::shared_ptr<nn::BasicSequential<T>> resnet50_v2(ResNetOptions opt = {}) {
  return get_resnet<T>(2, 50, opt);
}
/// ResNet-101 V2.  Gluon: resnet101_v2.
template <class T = float>
std::shared_ptr<nn::BasicSequential<T>> resnet101_v2(ResNetOptions opt = {}) {
  return get_resnet<T>(2, 101, opt);
}
/// ResNet-152 V2.  Gluon: resnet152_v2.
template <class T = float>
std::shared_ptr<nn::BasicSequential<T>> resnet152_v2(ResNetOptions opt = {}) {
  return get_resnet<T>(2, 152, opt);
}

}  // namespace gluino::model_zoo

// Precompiled mode (detail/precompiled.hpp): this header's float and double instantiations.
#define GLUINO_MODEL_ZOO_RESNET_INSTANTIATIONS(X, T) \
  X class BasicBasicBlockV1<T>; \
  X class BasicBottleneckV1<T>; \
  X class BasicBasicBlockV2<T>; \
  X class BasicBottleneckV2<T>; \
  X std::shared_ptr<nn::BasicSequential<T>> get_resnet<T>(int, int, ResNetOptions); \
  X std::shared_ptr<nn::BasicSequential<T>> resnet18_v1<T>(ResNetOptions); \
  X std::shared_ptr<nn::BasicSequential<T>> resnet34_v1<T>(ResNetOptions); \
  X std::shared_ptr<nn::BasicSequential<T>> resnet50_v1<T>(ResNetOptions); \
  X std::shared_ptr<nn::BasicSequential<T>> resnet101_v1<T>(ResNetOptions); \
  X std::shared_ptr<nn::BasicSequential<T>> resnet152_v1<T>(ResNetOptions); \
  X std::shared_ptr<nn::BasicSequential<T>> resnet18_v2<T>(ResNetOptions); \
  X std::shared_ptr<nn::BasicSequential<T>> resnet34_v2<T>(ResNetOptions); \
  X std::shared_ptr<nn::BasicSequential<T>> resnet50_v2<T>(ResNetOptions); \
  X std::shared_ptr<nn::BasicSequential<T>> resnet101_v2<T>(ResNetOptions); \
  X std::shared_ptr<nn::BasicSequential<T>> resnet152_v2<T>(ResNetOptions);
namespace gluino::model_zoo {
GLUINO_EXTERN_INSTANTIATIONS(GLUINO_MODEL_ZOO_RESNET_INSTANTIATIONS)
}  // namespace gluino::model_zoo
