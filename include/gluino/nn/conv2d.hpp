// SPDX-License-Identifier: Apache-2.0
#pragma once
/// Conv2D: the 2-D convolution layer over NCHW inputs.  Gluon: gluon.nn.Conv2D.
#include <cstddef>
#include <sstream>
#include <string>
#include <utility>

#include "gluino/detail/precompiled.hpp"
#include "gluino/nd/conv.hpp"
#include "gluino/nd/conv_pool.hpp"
#include "gluino/nd/elementwise.hpp"
#include "gluino/nn/activations.hpp"
#include "gluino/nn/block.hpp"
#include "gluino/nn/conv_layer.hpp"
#include "gluino/nn/size2.hpp"

namespace gluino::nn {

/// Options of Conv2D, in the order of gluon.nn.Conv2D's keyword arguments (without layout: NCHW
/// only), so that designated initializers read like a Gluon call:
/// Conv2D{96, 11, {.strides = 4, .activation = "relu"}}.  Pairs are (height, width); one number
/// means both.
template <class T>
struct BasicConv2DOptions {
  Size2 strides = 1;
  Size2 padding = 0;   ///< zeros added on each side
  Size2 dilation = 1;  ///< spacing between kernel taps
  /// Channel groups: input channels and channels must be multiples of it.
  std::size_t groups = 1;
  /// "" = linear; otherwise relu, sigmoid, tanh, softrelu or softsign.
  std::string activation = "";
  bool use_bias = true;
  /// The weight's and the bias's own initializers (the bias's: Gluon's default 'zeros');
  /// {} = the one given to initialize().
  init::BasicAnyInitializer<T> weight_initializer = {}, bias_initializer = init::BasicZero<T>{};
  /// Input channels; 0 = inferred at the first forward.
  std::size_t in_channels = 0;
  /// Gluon's params=: share another block's parameters (e.g. other.params()).
  BasicParameterDict<T> params = {};
};
using Conv2DOptions = BasicConv2DOptions<float>;

/// 2-D convolution: y = act(conv2d(x, W) + b).  Mirrors gluon.nn.Conv2D (layout NCHW).
/// x: (N, C, H, W) -> (N, channels, Ho, Wo), Ho = (H + 2 padding - dilation (kh - 1) - 1) / stride + 1.
/// Parameters: weight (channels, C / groups, kh, kw), bias (channels,); C is inferred at the
/// first forward unless in_channels is given.  Named "conv0_", "conv1_", ... as in Gluon.
/// ValueError naming the argument for zero or negative channels, kernel_size, strides,
/// dilation or groups, negative padding or in_channels (a negative int converts to a huge
/// size_t: any size above 2^40 is rejected), a dilated kernel span that would wrap, or channels
/// not a multiple of groups; ShapeError naming the block's prefix, the input shape and the
/// weight's shape when the input's channels differ from the weight's, or (from
/// nd::convolution) when the dilated kernel is larger than the padded input.
template <class T>
class BasicConv2D : public BasicBlock<T> {
 public:
  BasicConv2D(std::size_t channels, Size2 kernel_size, BasicConv2DOptions<T> opt = {}, std::string prefix = "")
      : BasicBlock<T>({.alias = "conv", .prefix = std::move(prefix), .params = std::move(opt.params)}), channels_(channels), kernel_(kernel_size),
        strides_(opt.strides), padding_(opt.padding), dilation_(opt.dilation), groups_(opt.groups),
        act_(std::move(opt.activation)) {
    // A count above 2^40 is a negative int converted to size_t (printed as such).
    constexpr std::size_t max_count = Size2::max_side;
    GLUINO_CHECK(ValueError, channels > 0 && channels <= max_count, "Conv2D: channels must be > 0 and at most 2^40, got ",
                 static_cast<long long>(channels));
    check_size2("Conv2D", "kernel_size", kernel_, true);
    check_size2("Conv2D", "strides", strides_, true);
    check_size2("Conv2D", "padding", padding_, false);
    check_size2("Conv2D", "dilation", dilation_, true);
    // the dilated kernel's span, dilation (k - 1) + 1, must not wrap (nor its product, checked)
    GLUINO_CHECK(ValueError,
                 detail::dilated_reach_fits(kernel_.h, dilation_.h) &&
                     detail::dilated_reach_fits(kernel_.w, dilation_.w),
                 "Conv2D: dilation ", dilation_, " times kernel_size ", kernel_, " exceeds 2^40");
    GLUINO_CHECK(ValueError, groups_ > 0 && groups_ <= max_count, "Conv2D: groups must be > 0, got ",
                 static_cast<long long>(groups_));
    GLUINO_CHECK(ValueError, opt.in_channels <= max_count, "Conv2D: in_channels must be >= 0 and at most 2^40, got ",
                 static_cast<long long>(opt.in_channels));
    GLUINO_CHECK(ValueError, channels % groups_ == 0, "Conv2D: channels (", channels,
                 ") must be a multiple of groups (", groups_, ")");
    GLUINO_CHECK(ValueError, opt.in_channels % groups_ == 0, "Conv2D: in_channels (", opt.in_channels,
                 ") must be a multiple of groups (", groups_, ")");
    if (!act_.empty()) detail::check_activation_name("Conv2D", act_);
    weight_ = this->declare_param("weight", Shape{channels, opt.in_channels / groups_, kernel_.h, kernel_.w},
                                 std::move(opt.weight_initializer));
    if (opt.use_bias) bias_ = this->declare_param("bias", Shape{channels}, std::move(opt.bias_initializer));
  }
  std::string type_name() const override { return "Conv2D"; }
  AnyBlockPtr rebuild(Dtype to) const override {
    return rebuild_as(to, [&]<class U>() {
      return std::make_shared<BasicConv2D<U>>(channels_, kernel_,
                                       BasicConv2DOptions<U>{.strides = strides_, .padding = padding_, .dilation = dilation_,
                                                             .groups = groups_, .activation = act_,
                                                             .use_bias = bias() != nullptr,
                                                             .in_channels = weight()->shape()[1] * groups_});
    });
  }

  NDArray<T> forward(const NDArray<T>& x) override {
    const nd::ConvOptions opt = checked_options(x);
    const NDArray<T> b = bias() ? bias()->data() : NDArray<T>{};
    if (act_ == "relu") return nd::convolution_relu(x, weight()->data(), b, opt);  // fused: one op, no extra pass
    NDArray<T> y = nd::convolution(x, weight()->data(), b, opt);
    return act_.empty() ? y : nd::activation(y, act_);
  }
  /// pool's forward of forward(x) as one op (nd::convolution_max_pool), without storing this
  /// layer's output: what nn::Sequential runs for this layer followed by a MaxPool2D when both
  /// calls would be plain (BasicBlock::plain_call).  Requires no activation or "relu"
  /// (ValueError otherwise); the errors of forward and of pool's.
  NDArray<T> forward_max_pool(const NDArray<T>& x, const nd::PoolOptions& pool) {
    GLUINO_CHECK(ValueError, act_.empty() || act_ == "relu", this->who(), ": forward_max_pool: activation '", act_,
                 "' is not fused (only none or relu)");
    const nd::ConvOptions opt = checked_options(x);
    const NDArray<T> b = bias() ? bias()->data() : NDArray<T>{};
    return nd::convolution_max_pool(x, weight()->data(), b, opt, pool, act_ == "relu");
  }

  /// As Gluon: "Conv2D(None -> 20, kernel_size=(5, 5), stride=(1, 1), Activation(relu))" before
  /// the input channels are known, "Conv2D(1 -> 20, ...)" after; padding, dilation, groups and
  /// "bias=False" are shown when not the defaults.  Like Gluon, the number left of the arrow is
  /// the weight's second dimension, in_channels / groups.
  std::string repr() const override {
    std::ostringstream s;
    s << "Conv2D(" << detail::python_size(weight()->shape()[1]) << " -> " << channels_ << ", kernel_size=" << kernel_ << ", stride=" << strides_;
    if (padding_ != Size2{0}) s << ", padding=" << padding_;
    if (dilation_ != Size2{1}) s << ", dilation=" << dilation_;
    if (groups_ != 1) s << ", groups=" << groups_;
    if (!bias()) s << ", bias=False";
    if (!act_.empty()) s << ", Activation(" << act_ << ')';
    s << ')';
    return s.str();
  }

  std::size_t channels() const { return channels_; }
  /// The input channels (0 while unknown).
  std::size_t in_channels() const { return weight()->shape()[1] * groups_; }
  Size2 kernel_size() const { return kernel_; }
  Size2 strides() const { return strides_; }
  Size2 padding() const { return padding_; }
  Size2 dilation() const { return dilation_; }
  std::size_t groups() const { return groups_; }
  const std::string& activation() const { return act_; }
  /// Gluon: conv.weight.
  const std::shared_ptr<BasicParameter<T>>& weight() const { return this->param_at(weight_); }
  /// Gluon: conv.bias; null when use_bias is false.
  const std::shared_ptr<BasicParameter<T>>& bias() const { return this->param_at(bias_); }

 private:
  // forward's checks of x (naming this layer) and deferred initialization; the op's options.
  nd::ConvOptions checked_options(const NDArray<T>& x) {
    const Shape& s = x.shape();
    GLUINO_CHECK(ShapeError, s.ndim() == 4, this->who(), ": input must be 4-D (N, C, H, W), got shape ", s);
    const std::size_t c = s[1];
    GLUINO_CHECK(ShapeError, c % groups_ == 0, this->who(), ": input of shape ", s, " has ", c,
                 " channels, not a multiple of groups = ", groups_);
    const std::size_t known = weight()->shape()[1];
    GLUINO_CHECK(ShapeError, known == 0 || known * groups_ == c, this->who(), ": input of shape ", s, " has ", c,
                 " channels but weight '", weight()->name(), "' has shape ", weight()->shape(), " (in_channels ",
                 known * groups_, ")");
    weight()->finish_deferred_init(Shape{channels_, c / groups_, kernel_.h, kernel_.w}, this->who());
    return {.stride = strides_.array(), .dilate = dilation_.array(), .pad = padding_.array(), .num_group = groups_};
  }

  std::size_t channels_;
  Size2 kernel_, strides_, padding_, dilation_;
  std::size_t groups_;
  std::string act_;
  std::size_t weight_ = BasicParameterDict<T>::npos, bias_ = BasicParameterDict<T>::npos;  // in params()
};

using Conv2D = BasicConv2D<float>;

}  // namespace gluino::nn

// Precompiled mode (detail/precompiled.hpp): this header's float and double instantiations.
#define GLUINO_NN_CONV2D_INSTANTIATIONS(X, T) \
  X class BasicConv2D<T>;
namespace gluino::nn {
GLUINO_EXTERN_INSTANTIATIONS(GLUINO_NN_CONV2D_INSTANTIATIONS)
}  // namespace gluino::nn
