// SPDX-License-Identifier: Apache-2.0
#pragma once
/// Conv2DTranspose: the 2-D transposed convolution (deconvolution) layer over NCHW inputs.
/// Gluon: gluon.nn.Conv2DTranspose.
#include <cstddef>
#include <sstream>
#include <string>
#include <utility>

#include "gluino/detail/precompiled.hpp"
#include "gluino/nd/deconvolution.hpp"
#include "gluino/nn/conv_layer.hpp"
#include "gluino/nn/size2.hpp"

namespace gluino::nn {

/// Options of Conv2DTranspose, in the order of gluon.nn.Conv2DTranspose's keyword arguments
/// (without layout: NCHW only): Conv2DTranspose{16, 3, {.strides = 2, .padding = 1,
/// .output_padding = 1}}.  Pairs are (height, width); one number means both.
template <class T>
struct BasicConv2DTransposeOptions {
  Size2 strides = 1;
  Size2 padding = 0;         ///< removed from each side of the full output
  Size2 output_padding = 0;  ///< added to the far side of the output; < strides (MXNet's adj)
  Size2 dilation = 1;        ///< spacing between kernel taps
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
using Conv2DTransposeOptions = BasicConv2DTransposeOptions<float>;

/// 2-D transposed convolution: y = act(deconv2d(x, W) + b).  Mirrors gluon.nn.Conv2DTranspose
/// (layout NCHW).  x: (N, C, H, W) -> (N, channels, Ho, Wo),
/// Ho = (H - 1) strides - 2 padding + dilation (kh - 1) + 1 + output_padding (likewise Wo).
/// Parameters: weight (C, channels / groups, kh, kw) (MXNet's Deconvolution layout: input
/// channels first), bias (channels,); C is inferred at the first forward unless in_channels is
/// given.  Named "conv0_", "conv1_", ... as in Gluon.  Runs nd::deconvolution.
/// ValueError naming the argument for zero or negative channels, kernel_size, strides, dilation
/// or groups, negative padding, output_padding or in_channels, output_padding >= strides, or
/// channels not a multiple of groups; ShapeError naming the block's prefix and the input shape
/// for a non-4-D input or channels that differ from the weight's, or (from nd::deconvolution)
/// padding that leaves no output.
template <class T>
class BasicConv2DTranspose : public BasicConvLayer<T> {
 public:
  BasicConv2DTranspose(std::size_t channels, Size2 kernel_size, BasicConv2DTransposeOptions<T> opt = {},
                       std::string prefix = "")
      : BasicConvLayer<T>("Conv2DTranspose", true, channels, opt.groups, std::move(opt.activation), opt.in_channels,
                          std::move(opt.params), std::move(prefix)),
        kernel_(kernel_size), strides_(opt.strides), padding_(opt.padding), output_padding_(opt.output_padding),
        dilation_(opt.dilation) {
    check_size2("Conv2DTranspose", "kernel_size", kernel_, true);
    check_size2("Conv2DTranspose", "strides", strides_, true);
    check_size2("Conv2DTranspose", "padding", padding_, false);
    check_size2("Conv2DTranspose", "output_padding", output_padding_, false);
    check_size2("Conv2DTranspose", "dilation", dilation_, true);
    GLUINO_CHECK(ValueError, output_padding_.h < strides_.h && output_padding_.w < strides_.w,
                 "Conv2DTranspose: output_padding ", output_padding_, " must be smaller than strides ", strides_);
    GLUINO_CHECK(ValueError,
                 detail::dilated_reach_fits(kernel_.h, dilation_.h) &&
                     detail::dilated_reach_fits(kernel_.w, dilation_.w),
                 "Conv2DTranspose: dilation ", dilation_, " times kernel_size ", kernel_, " exceeds 2^40");
    this->declare_parameters(Shape{opt.in_channels, channels / opt.groups, kernel_.h, kernel_.w}, opt.use_bias,
                             std::move(opt.weight_initializer), std::move(opt.bias_initializer));
  }
  std::string type_name() const override { return "Conv2DTranspose"; }
  AnyBlockPtr rebuild(Dtype to) const override {
    return rebuild_as(to, [&]<class U>() {
      return std::make_shared<BasicConv2DTranspose<U>>(
          this->channels(), kernel_,
          BasicConv2DTransposeOptions<U>{.strides = strides_, .padding = padding_, .output_padding = output_padding_,
                                         .dilation = dilation_, .groups = this->groups(),
                                         .activation = this->activation(), .use_bias = this->bias() != nullptr,
                                         .in_channels = this->in_channels()});
    });
  }

  NDArray<T> forward(const NDArray<T>& x) override {
    const std::size_t c = this->input_channels(x, 4, "(N, C, H, W)"), g = this->groups();
    this->weight()->finish_deferred_init(Shape{c, this->channels() / g, kernel_.h, kernel_.w}, this->who());
    const nd::DeconvOptions opt{.stride = strides_.array(), .dilate = dilation_.array(), .pad = padding_.array(),
                                .adj = output_padding_.array(), .num_group = g};
    return this->activate(nd::deconvolution(x, this->weight()->data(), this->bias_data(), opt));
  }

  /// "Conv2DTranspose(None -> 16, kernel_size=(3, 3), stride=(2, 2), padding=(1, 1),
  /// output_padding=(1, 1))": Gluon's form, with padding, output_padding, dilation, groups,
  /// "bias=False" and the activation shown when not the defaults.  Differs from Gluon on purpose:
  /// the arrow reads in_channels -> channels ("None" while unknown), where Gluon prints the
  /// weight's shape[1] -> shape[0], which for a transposed convolution is channels / groups ->
  /// in_channels.
  std::string repr() const override {
    std::ostringstream s;
    s << "Conv2DTranspose(" << detail::python_size(this->in_channels()) << " -> " << this->channels() << ", kernel_size=" << kernel_
      << ", stride=" << strides_;
    if (padding_ != Size2{0}) s << ", padding=" << padding_;
    if (output_padding_ != Size2{0}) s << ", output_padding=" << output_padding_;
    if (dilation_ != Size2{1}) s << ", dilation=" << dilation_;
    this->repr_tail(s);
    return s.str();
  }

  Size2 kernel_size() const { return kernel_; }
  Size2 strides() const { return strides_; }
  Size2 padding() const { return padding_; }
  Size2 output_padding() const { return output_padding_; }
  Size2 dilation() const { return dilation_; }

 private:
  Size2 kernel_, strides_, padding_, output_padding_, dilation_;
};

using Conv2DTranspose = BasicConv2DTranspose<float>;

}  // namespace gluino::nn

// Precompiled mode (detail/precompiled.hpp): this header's float and double instantiations.
#define GLUINO_NN_CONV2D_TRANSPOSE_INSTANTIATIONS(X, T) \
  X class BasicConv2DTranspose<T>;
namespace gluino::nn {
GLUINO_EXTERN_INSTANTIATIONS(GLUINO_NN_CONV2D_TRANSPOSE_INSTANTIATIONS)
}  // namespace gluino::nn
