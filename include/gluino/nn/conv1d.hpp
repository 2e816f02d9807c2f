// SPDX-License-Identifier: Apache-2.0
#pragma once
/// Conv1D: the 1-D convolution layer over NCW inputs.  Gluon: gluon.nn.Conv1D.
#include <cstddef>
#include <sstream>
#include <string>
#include <utility>

#include "gluino/detail/precompiled.hpp"
#include "gluino/nd/conv1d.hpp"
#include "gluino/nn/conv_layer.hpp"
#include "gluino/nn/size2.hpp"

namespace gluino::nn {

/// Options of Conv1D, in the order of gluon.nn.Conv1D's keyword arguments (without layout: NCW
/// only): Conv1D{16, 3, {.strides = 2, .padding = 1, .activation = "relu"}}.
template <class T>
struct BasicConv1DOptions {
  std::size_t strides = 1;
  std::size_t padding = 0;   ///< zeros added on each side
  std::size_t dilation = 1;  ///< spacing between kernel taps
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
using Conv1DOptions = BasicConv1DOptions<float>;

/// 1-D convolution: y = act(conv1d(x, W) + b).  Mirrors gluon.nn.Conv1D (layout NCW).
/// x: (N, C, W) -> (N, channels, Wo), Wo = (W + 2 padding - dilation (k - 1) - 1) / strides + 1.
/// Parameters: weight (channels, C / groups, k), bias (channels,); C is inferred at the first
/// forward unless in_channels is given.  Named "conv0_", "conv1_", ... as in Gluon.  Runs
/// nd::convolution1d (the 2-D convolution of a height-1 image; "relu" fused into it).
/// ValueError naming the argument for zero or negative channels, kernel_size, strides,
/// dilation or groups, negative padding or in_channels, or channels not a multiple of groups;
/// ShapeError naming the block's prefix and the input shape for a non-3-D input or channels that
/// differ from the weight's, or (from nd::convolution1d) a kernel larger than the padded input.
template <class T>
class BasicConv1D : public BasicConvLayer<T> {
 public:
  BasicConv1D(std::size_t channels, std::size_t kernel_size, BasicConv1DOptions<T> opt = {}, std::string prefix = "")
      : BasicConvLayer<T>("Conv1D", false, channels, opt.groups, std::move(opt.activation), opt.in_channels,
                          std::move(opt.params), std::move(prefix)),
        kernel_(kernel_size), strides_(opt.strides), padding_(opt.padding), dilation_(opt.dilation) {
    detail::check_size1("Conv1D", "kernel_size", kernel_, true);
    detail::check_size1("Conv1D", "strides", strides_, true);
    detail::check_size1("Conv1D", "padding", padding_, false);
    detail::check_size1("Conv1D", "dilation", dilation_, true);
    GLUINO_CHECK(ValueError, detail::dilated_reach_fits(kernel_, dilation_), "Conv1D: dilation ", dilation_,
                 " times kernel_size ", kernel_, " exceeds 2^40");
    this->declare_parameters(Shape{channels, opt.in_channels / opt.groups, kernel_}, opt.use_bias,
                             std::move(opt.weight_initializer), std::move(opt.bias_initializer));
  }
  std::string type_name() const override { return "Conv1D"; }
  AnyBlockPtr rebuild(Dtype to) const override {
    return rebuild_as(to, [&]<class U>() {
      return std::make_shared<BasicConv1D<U>>(
          this->channels(), kernel_,
          BasicConv1DOptions<U>{.strides = strides_, .padding = padding_, .dilation = dilation_, .groups = this->groups(),
                                .activation = this->activation(), .use_bias = this->bias() != nullptr,
                                .in_channels = this->in_channels()});
    });
  }

  NDArray<T> forward(const NDArray<T>& x) override {
    const std::size_t c = this->input_channels(x, 3, "(N, C, W)"), g = this->groups();
    this->weight()->finish_deferred_init(Shape{this->channels(), c / g, kernel_}, this->who());
    const nd::Conv1DOptions opt{.stride = strides_, .dilate = dilation_, .pad = padding_, .num_group = g,
                                .relu = this->activation() == "relu"};  // fused: one op, no extra pass
    NDArray<T> y = nd::convolution1d(x, this->weight()->data(), this->bias_data(), opt);
    return opt.relu ? y : this->activate(y);
  }

  /// As Gluon: "Conv1D(None -> 16, kernel_size=(3,), stride=(1,), Activation(relu))" before the
  /// input channels are known, "Conv1D(4 -> 16, ...)" after; padding, dilation, groups and
  /// "bias=False" are shown when not the defaults.  As Conv2D's, the number left of the arrow is
  /// the weight's second dimension, in_channels / groups.
  std::string repr() const override {
    std::ostringstream s;
    s << "Conv1D(" << detail::python_size(this->weight()->shape()[1]) << " -> " << this->channels()
      << ", kernel_size=" << detail::python_tuple1(kernel_) << ", stride=" << detail::python_tuple1(strides_);
    if (padding_ != 0) s << ", padding=" << detail::python_tuple1(padding_);
    if (dilation_ != 1) s << ", dilation=" << detail::python_tuple1(dilation_);
    this->repr_tail(s);
    return s.str();
  }

  std::size_t kernel_size() const { return kernel_; }
  std::size_t strides() const { return strides_; }
  std::size_t padding() const { return padding_; }
  std::size_t dilation() const { return dilation_; }

 private:
  std::size_t kernel_, strides_, padding_, dilation_;
};

using Conv1D = BasicConv1D<float>;

}  // namespace gluino::nn

// Precompiled mode (detail/precompiled.hpp): this header's float and double instantiations.
#define GLUINO_NN_CONV1D_INSTANTIATIONS(X, T) \
  X class BasicConv1D<T>;
namespace gluino::nn {
GLUINO_EXTERN_INSTANTIATIONS(GLUINO_NN_CONV1D_INSTANTIATIONS)
}  // namespace gluino::nn
