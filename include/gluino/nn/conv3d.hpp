// SPDX-License-Identifier: Apache-2.0
#pragma once
/// Conv3D: the 3-D convolution layer over NCDHW inputs.  Gluon: gluon.nn.Conv3D.
#include <cstddef>
#include <sstream>
#include <string>
#include <utility>

#include "gluino/detail/precompiled.hpp"
#include "gluino/nd/conv3d.hpp"
#include "gluino/nn/conv_layer.hpp"
#include "gluino/nn/size3.hpp"

namespace gluino::nn {

/// Options of Conv3D, in the order of gluon.nn.Conv3D's keyword arguments (without layout: NCDHW
/// only): Conv3D{8, 3, {.strides = {1, 2, 2}, .padding = 1}}.  Triples are (depth, height,
/// width); one number means all three.
template <class T>
struct BasicConv3DOptions {
  Size3 strides = 1;
  Size3 padding = 0;   ///< zeros added on each side
  Size3 dilation = 1;  ///< spacing between kernel taps
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
using Conv3DOptions = BasicConv3DOptions<float>;

/// 3-D convolution: y = act(conv3d(x, W) + b).  Mirrors gluon.nn.Conv3D (layout NCDHW).
/// x: (N, C, D, H, W) -> (N, channels, Do, Ho, Wo), Do = (D + 2 padding - dilation (kd - 1) - 1)
/// / strides + 1 (likewise Ho, Wo).  Parameters: weight (channels, C / groups, kd, kh, kw), bias
/// (channels,); C is inferred at the first forward unless in_channels is given.  Named "conv0_",
/// "conv1_", ... as in Gluon.  Runs nd::convolution3d (direct loops: correct, not fast).
/// ValueError naming the argument for zero or negative channels, kernel_size, strides,
/// dilation or groups, negative padding or in_channels, or channels not a multiple of groups;
/// ShapeError naming the block's prefix and the input shape for a non-5-D input or channels that
/// differ from the weight's, or (from nd::convolution3d) a kernel larger than the padded input.
template <class T>
class BasicConv3D : public BasicConvLayer<T> {
 public:
  BasicConv3D(std::size_t channels, Size3 kernel_size, BasicConv3DOptions<T> opt = {}, std::string prefix = "")
      : BasicConvLayer<T>("Conv3D", false, channels, opt.groups, std::move(opt.activation), opt.in_channels,
                          std::move(opt.params), std::move(prefix)),
        kernel_(kernel_size), strides_(opt.strides), padding_(opt.padding), dilation_(opt.dilation) {
    check_size3("Conv3D", "kernel_size", kernel_, true);
    check_size3("Conv3D", "strides", strides_, true);
    check_size3("Conv3D", "padding", padding_, false);
    check_size3("Conv3D", "dilation", dilation_, true);
    GLUINO_CHECK(ValueError,
                 detail::dilated_reach_fits(kernel_.d, dilation_.d) &&
                     detail::dilated_reach_fits(kernel_.h, dilation_.h) &&
                     detail::dilated_reach_fits(kernel_.w, dilation_.w),
                 "Conv3D: dilation ", dilation_, " times kernel_size ", kernel_, " exceeds 2^40");
    this->declare_parameters(Shape{channels, opt.in_channels / opt.groups, kernel_.d, kernel_.h, kernel_.w},
                             opt.use_bias, std::move(opt.weight_initializer), std::move(opt.bias_initializer));
  }
  std::string type_name() const override { return "Conv3D"; }
  AnyBlockPtr rebuild(Dtype to) const override {
    return rebuild_as(to, [&]<class U>() {
      return std::make_shared<BasicConv3D<U>>(
          this->channels(), kernel_,
          BasicConv3DOptions<U>{.strides = strides_, .padding = padding_, .dilation = dilation_, .groups = this->groups(),
                                .activation = this->activation(), .use_bias = this->bias() != nullptr,
                                .in_channels = this->in_channels()});
    });
  }

  NDArray<T> forward(const NDArray<T>& x) override {
    const std::size_t c = this->input_channels(x, 5, "(N, C, D, H, W)"), g = this->groups();
    this->weight()->finish_deferred_init(Shape{this->channels(), c / g, kernel_.d, kernel_.h, kernel_.w}, this->who());
    const nd::Conv3DOptions opt{.stride = strides_.array(), .dilate = dilation_.array(), .pad = padding_.array(),
                                .num_group = g};
    return this->activate(nd::convolution3d(x, this->weight()->data(), this->bias_data(), opt));
  }

  /// As Gluon: "Conv3D(None -> 8, kernel_size=(3, 3, 3), stride=(1, 1, 1))" before the input
  /// channels are known, "Conv3D(2 -> 8, ...)" after; padding, dilation, groups and
  /// "bias=False" are shown when not the defaults.  As Conv2D's, the number left of the arrow is
  /// the weight's second dimension, in_channels / groups.
  std::string repr() const override {
    std::ostringstream s;
    s << "Conv3D(" << detail::python_size(this->weight()->shape()[1]) << " -> " << this->channels() << ", kernel_size=" << kernel_
      << ", stride=" << strides_;
    if (padding_ != Size3{0}) s << ", padding=" << padding_;
    if (dilation_ != Size3{1}) s << ", dilation=" << dilation_;
    this->repr_tail(s);
    return s.str();
  }

  Size3 kernel_size() const { return kernel_; }
  Size3 strides() const { return strides_; }
  Size3 padding() const { return padding_; }
  Size3 dilation() const { return dilation_; }

 private:
  Size3 kernel_, strides_, padding_, dilation_;
};

using Conv3D = BasicConv3D<float>;

}  // namespace gluino::nn

// Precompiled mode (detail/precompiled.hpp): this header's float and double instantiations.
#define GLUINO_NN_CONV3D_INSTANTIATIONS(X, T) \
  X class BasicConv3D<T>;
namespace gluino::nn {
GLUINO_EXTERN_INSTANTIATIONS(GLUINO_NN_CONV3D_INSTANTIATIONS)
}  // namespace gluino::nn
