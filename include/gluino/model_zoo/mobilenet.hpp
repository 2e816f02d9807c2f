// SPDX-License-Identifier: Apache-2.0
#pragma once
/// MobileNet (v1) and MobileNetV2 with a width multiplier: RELU6, LinearBottleneck,
/// get_mobilenet / get_mobilenet_v2 and mobilenet1_0 ... mobilenet_v2_0_25.  Gluon:
/// gluon.model_zoo.vision.mobilenet (MXNet 1.x), with the same layer lists and names.
#include <cmath>
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
#include "gluino/nn/sequential.hpp"

namespace gluino::model_zoo {

/// min(max(x, 0), 6), through nd::clip (its gradient passes where 0 <= x <= 6).  Any shape.
/// Mirrors gluon.model_zoo.vision.mobilenet.RELU6 (F.clip(x, 0, 6)).  Printed "RELU6()".
template <class T>
class BasicRELU6 : public nn::BasicHybridBlock<T> {
 public:
  explicit BasicRELU6(std::string prefix = "") : nn::BasicHybridBlock<T>({.alias = "relu6", .prefix = std::move(prefix)}) {}
  std::string type_name() const override { return "RELU6"; }
  nn::AnyBlockPtr rebuild(nn::Dtype to) const override {
    return nn::rebuild_as(to, [&]<class U>() { return std::make_shared<BasicRELU6<U>>(); });
  }
  NDArray<T> forward(const NDArray<T>& x) override { return nd::clip(x, T(0), T(6)); }
};
using RELU6 = BasicRELU6<float>;

}  // namespace gluino::model_zoo

namespace gluino::detail {
/// Gluon's _add_conv: Conv2D(channels, kernel, stride, pad, groups, no bias) BatchNorm, then
/// relu, RELU6 or nothing (act: "relu", "relu6" or "").  groups == channels: depthwise.
template <class T>
void zoo_add_conv(nn::BasicSequential<T>& out, std::size_t channels, std::size_t kernel, std::size_t stride,
                  std::size_t pad, std::size_t groups, std::size_t in_channels, const std::string& act) {
  out.add(nn::BasicConv2D<T>{channels, kernel,
                             {.strides = stride, .padding = pad, .groups = groups, .use_bias = false,
                              .in_channels = in_channels}},
          nn::BasicBatchNorm<T>{{.in_channels = channels}});
  if (act == "relu") out.add(nn::BasicActivation<T>{"relu"});
  if (act == "relu6") out.add(model_zoo::BasicRELU6<T>{});
}
/// Channels times the width multiplier, rounded down as Python's int(); ValueError at 0, and for a
/// multiplier that is not a finite number > 0 or makes 2^40 channels or more (checked before the cast).
inline std::size_t zoo_scaled(std::size_t channels, double multiplier, const char* who) {
  const double v = static_cast<double>(channels) * multiplier;
  GLUINO_CHECK(ValueError, std::isfinite(multiplier) && multiplier > 0 && v < 0x1p40, who,
               ": multiplier must be a finite number > 0 that leaves fewer than 2^40 channels, got ", multiplier);
  const auto c = static_cast<std::size_t>(v);
  GLUINO_CHECK(ValueError, c > 0, who, ": multiplier ", multiplier, " leaves ", channels, " channels at 0");
  return c;
}
}  // namespace gluino::detail

namespace gluino::model_zoo {

/// MobileNetV2's inverted residual: Conv1x1(in_channels * t) BatchNorm RELU6, depthwise
/// Conv3x3(in_channels * t, stride, groups = in_channels * t) BatchNorm RELU6, Conv1x1(channels)
/// BatchNorm (linear), plus x when stride is 1 and the channels do not change.  The expansion
/// convolution is there with t = 1 too, as in Gluon (torchvision drops it).  Child "out" (a
/// HybridSequential, Gluon's attribute).  (N, in_channels, H, W) -> (N, channels, H / stride,
/// W / stride); ShapeError when the input has other channels.  Mirrors
/// gluon.model_zoo.vision.mobilenet.LinearBottleneck(in_channels, channels, t, stride).
template <class T>
class BasicLinearBottleneck : public nn::BasicHybridBlock<T> {
 public:
  BasicLinearBottleneck(std::size_t in_channels, std::size_t channels, std::size_t t, std::size_t stride,
                        std::string prefix = "")
      : nn::BasicHybridBlock<T>({.alias = "linearbottleneck", .prefix = std::move(prefix)}),
        in_channels_(in_channels), channels_(channels), t_(t), stride_(stride),
        use_shortcut_(stride == 1 && in_channels == channels) {
    GLUINO_CHECK(ValueError, in_channels > 0 && channels > 0 && t > 0 && stride > 0,
                 "LinearBottleneck: in_channels, channels, t and stride must be > 0");
    auto scope = this->name_scope();
    out_ = this->register_child(nn::BasicHybridSequential<T>{}, "out");
    const std::size_t e = in_channels * t;
    gluino::detail::zoo_add_conv<T>(*out_, e, 1, 1, 0, 1, in_channels, "relu6");
    gluino::detail::zoo_add_conv<T>(*out_, e, 3, stride, 1, e, e, "relu6");
    gluino::detail::zoo_add_conv<T>(*out_, channels, 1, 1, 0, 1, e, "");
  }
  std::string type_name() const override { return "LinearBottleneck"; }
  nn::AnyBlockPtr rebuild(nn::Dtype to) const override {
    return nn::rebuild_as(to, [&]<class U>() {
      return std::make_shared<BasicLinearBottleneck<U>>(in_channels_, channels_, t_, stride_);
    });
  }
  /// True when the block adds its input (stride 1, same channels).
  bool use_shortcut() const { return use_shortcut_; }
  NDArray<T> forward(const NDArray<T>& x) override {
    NDArray<T> y = (*out_)(x);
    return use_shortcut_ ? y + x : y;
  }

 private:
  std::size_t in_channels_, channels_, t_, stride_;
  bool use_shortcut_;
  std::shared_ptr<nn::BasicHybridSequential<T>> out_;
};
using LinearBottleneck = BasicLinearBottleneck<float>;

/// Options of the MobileNet builders: mobilenet1_0({.classes = 10}).
struct MobileNetOptions {
  std::size_t classes = 1000;  ///< outputs of the classifier (Gluon's default)
  /// Image channels; 0 = inferred at the first forward.  Give it to have every shape known at
  /// initialize(), without a forward.
  std::size_t in_channels = 0;
};

/// MobileNet v1 (Howard et al. 2017) with a width multiplier, as Gluon's get_mobilenet /
/// MobileNet(multiplier, classes):
///   features: Conv3x3(32m, stride 2) BatchNorm relu, then 13 depthwise-separable pairs
///             (depthwise Conv3x3(d, stride s, groups d) BatchNorm relu, Conv1x1(c) BatchNorm
///             relu) with d = 32 64 128 128 256 256 512 x6 1024 and c = 64 128 128 256 256
///             512 x6 1024 1024 (times m, rounded down), strides 1 2 1 2 1 2 1 1 1 1 1 2 1;
///             GlobalAvgPool2D Flatten;
///   output:   Dense(classes).
/// (N, C, H, W) -> (N, classes), H, W shrink 32 times before the pool.  Printed "MobileNet",
/// children "features" and "output", parameters named as Gluon's ("mobilenet0_conv0_weight",
/// "mobilenet0_dense0_weight").  ValueError for 0 classes or a multiplier leaving a layer
/// without channels.
template <class T = float>
std::shared_ptr<nn::BasicSequential<T>> get_mobilenet(double multiplier, MobileNetOptions opt = {}) {
  GLUINO_CHECK(ValueError, opt.classes > 0, "get_mobilenet: classes must be > 0");
  auto scaled = [&](std::size_t c) { return gluino::detail::zoo_scaled(c, multiplier, "get_mobilenet"); };
  auto net = std::make_shared<detail::ModelSequential<T>>("MobileNet");
  auto scope = net->name_scope();  // layers named in it, as Gluon's prefix='' features
  auto features = net->register_child(nn::BasicHybridSequential<T>{}, "features");
  gluino::detail::zoo_add_conv<T>(*features, scaled(32), 3, 2, 1, 1, opt.in_channels, "relu");
  const std::vector<std::size_t> dw{32, 64, 128, 128, 256, 256, 512, 512, 512, 512, 512, 512, 1024},
      ch{64, 128, 128, 256, 256, 512, 512, 512, 512, 512, 512, 1024, 1024},
      strides{1, 2, 1, 2, 1, 2, 1, 1, 1, 1, 1, 2, 1};
  for (std::size_t i = 0; i < dw.size(); ++i) {
    const std::size_t d = scaled(dw[i]), c = scaled(ch[i]);
    gluino::detail::zoo_add_conv<T>(*features, d, 3, strides[i], 1, d, d, "relu");
    gluino::detail::zoo_add_conv<T>(*features, c, 1, 1, 0, 1, d, "relu");
  }
  features->add(nn::BasicGlobalAvgPool2D<T>{}, nn::BasicFlatten<T>{});
  net->register_child(nn::BasicDense<T>{opt.classes, {.in_units = scaled(1024)}}, "output");
  return net;
}

/// MobileNetV2 (Sandler et al. 2018) with a width multiplier m, as Gluon's get_mobilenet_v2 /
/// MobileNetV2(multiplier, classes):
///   features ("features_"): Conv3x3(32m, stride 2) BatchNorm RELU6; 17 LinearBottlenecks
///             (t = 1 then 6) to 16, 24 x2, 32 x3, 64 x4, 96 x3, 160 x3, 320 channels (times m)
///             with strides 1 2 1 2 1 1 2 1 1 1 1 1 1 2 1 1 1; Conv1x1(1280, or 1280m when
///             m > 1) BatchNorm RELU6; GlobalAvgPool2D;
///   output ("output_"): Conv1x1(classes, no bias, prefix "pred_") Flatten.
/// (N, C, H, W) -> (N, classes).  Printed "MobileNetV2", parameters named as Gluon's
/// ("mobilenetv20_features_conv0_weight", "mobilenetv20_output_pred_weight").  ValueError as
/// get_mobilenet.
template <class T = float>
std::shared_ptr<nn::BasicSequential<T>> get_mobilenet_v2(double multiplier, MobileNetOptions opt = {}) {
  GLUINO_CHECK(ValueError, opt.classes > 0, "get_mobilenet_v2: classes must be > 0");
  auto scaled = [&](std::size_t c) { return gluino::detail::zoo_scaled(c, multiplier, "get_mobilenet_v2"); };
  auto net = std::make_shared<detail::ModelSequential<T>>("MobileNetV2");
  auto scope = net->name_scope();
  auto features = net->register_child(nn::BasicHybridSequential<T>{"features_"}, "features");
  const std::size_t last = multiplier > 1.0 ? scaled(1280) : 1280;
  {
    auto features_scope = features->name_scope();
    gluino::detail::zoo_add_conv<T>(*features, scaled(32), 3, 2, 1, 1, opt.in_channels, "relu6");
    const std::vector<std::size_t> in{32, 16, 24, 24, 32, 32, 32, 64, 64, 64, 64, 96, 96, 96, 160, 160, 160},
        out{16, 24, 24, 32, 32, 32, 64, 64, 64, 64, 96, 96, 96, 160, 160, 160, 320},
        strides{1, 2, 1, 2, 1, 1, 2, 1, 1, 1, 1, 1, 1, 2, 1, 1, 1};
    for (std::size_t i = 0; i < in.size(); ++i)
      features->add(BasicLinearBottleneck<T>{scaled(in[i]), scaled(out[i]), i == 0 ? 1u : 6u, strides[i]});
    gluino::detail::zoo_add_conv<T>(*features, last, 1, 1, 0, 1, scaled(320), "relu6");
    features->add(nn::BasicGlobalAvgPool2D<T>{});
  }
  auto output = net->register_child(nn::BasicHybridSequential<T>{"output_"}, "output");
  {
    auto output_scope = output->name_scope();
    output->add(nn::BasicConv2D<T>{opt.classes, 1, {.use_bias = false, .in_channels = last}, "pred_"},
                nn::BasicFlatten<T>{"flat_"});
  }
  return net;
}

/// MobileNet v1, multiplier 1 (4,231,976 trainable parameters with 1000 classes).  Gluon: mobilenet1_0.
template <class T = float>
std::shared_ptr<nn::BasicSequential<T>> mobilenet1_0(MobileNetOptions opt = {}) {
  return get_mobilenet<T>(1.0, opt);
}
/// MobileNet v1, multiplier 0.75.  Gluon: mobilenet0_75.
template <class T = float>
std::shared_ptr<nn::BasicSequential<T>> mobilenet0_75(MobileNetOptions opt = {}) {
  return get_mobilenet<T>(0.75, opt);
}
/// MobileNet v1, multiplier 0.5.  Gluon: mobilenet0_5.
template <class T = float>
std::shared_ptr<nn::BasicSequential<T>> mobilenet0_5(MobileNetOptions opt = {}) {
  return get_mobilenet<T>(0.5, opt);
}
/// MobileNet v1, multiplier 0.25.  Gluon: mobilenet0_25.
template <class T = float>
std::shared_ptr<nn::BasicSequential<T>> mobilenet0_25(MobileNetOptions opt = {}) {
  return get_mobilenet<T>(0.25, opt);
}
/// MobileNetV2, multiplier 1.  Gluon: mobilenet_v2_1_0.
template <class T = float>
std::shared_ptr<nn::BasicSequential<T>> mobilenet_v2_1_0(MobileNetOptions opt = {}) {
  return get_mobilenet_v2<T>(1.0, opt);
}
/// MobileNetV2, multiplier 0.75.  Gluon: mobilenet_v2_0_75.
template <class T = float>
std::shared_ptr<nn::BasicSequential<T>> mobilenet_v2_0_75(MobileNetOptions opt = {}) {
  return get_mobilenet_v2<T>(0.75, opt);
}
/// MobileNetV2, multiplier 0.5.  Gluon: mobilenet_v2_0_5.
template <class T = float>
std::shared_ptr<nn::BasicSequential<T>> mobilenet_v2_0_5(MobileNetOptions opt = {}) {
  return get_mobilenet_v2<T>(0.5, opt);
}
/// MobileNetV2, multiplier 0.25.  Gluon: mobilenet_v2_0_25.
template <class T = float>
std::shared_ptr<nn::BasicSequential<T>> mobilenet_v2_0_25(MobileNetOptions opt = {}) {
  return get_mobilenet_v2<T>(0.25, opt);
}

}  // namespace gluino::model_zoo

// Precompiled mode (detail/precompiled.hpp): this header's float and double instantiations.
#define GLUINO_MODEL_ZOO_MOBILENET_INSTANTIATIONS(X, T) \
  X class BasicRELU6<T>; \
  X class BasicLinearBottleneck<T>; \
  X std::shared_ptr<nn::BasicSequential<T>> get_mobilenet<T>(double, MobileNetOptions); \
  X std::shared_ptr<nn::BasicSequential<T>> get_mobilenet_v2<T>(double, MobileNetOptions); \
  X std::shared_ptr<nn::BasicSequential<T>> mobilenet1_0<T>(MobileNetOptions); \
  X std::shared_ptr<nn::BasicSequential<T>> mobilenet0_75<T>(MobileNetOptions); \
  X std::shared_ptr<nn::BasicSequential<T>> mobilenet0_5<T>(MobileNetOptions); \
  X std::shared_ptr<nn::BasicSequential<T>> mobilenet0_25<T>(MobileNetOptions); \
  X std::shared_ptr<nn::BasicSequential<T>> mobilenet_v2_1_0<T>(MobileNetOptions); \
  X std::shared_ptr<nn::BasicSequential<T>> mobilenet_v2_0_75<T>(MobileNetOptions); \
  X std::shared_ptr<nn::BasicSequential<T>> mobilenet_v2_0_5<T>(MobileNetOptions); \
  X std::shared_ptr<nn::BasicSequential<T>> mobilenet_v2_0_25<T>(MobileNetOptions);
namespace gluino::model_zoo {
GLUINO_EXTERN_INSTANTIATIONS(GLUINO_MODEL_ZOO_MOBILENET_INSTANTIATIONS)
}  // namespace gluino::model_zoo
