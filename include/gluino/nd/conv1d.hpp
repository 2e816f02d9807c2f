// SPDX-License-Identifier: Apache-2.0
#pragma once
/// 1-D convolution over NCW arrays.  Gluon: mx.nd.Convolution with a 1-element kernel (the op
/// behind gluon.nn.Conv1D).
#include <cstddef>

#include "gluino/core/ndarray.hpp"
#include "gluino/detail/precompiled.hpp"
#include "gluino/nd/conv.hpp"
#include "gluino/nd/conv_args.hpp"
#include "gluino/nd/shape_ops.hpp"

namespace gluino::nd {

/// Options of convolution1d, in the order of mx.nd.Convolution's keyword arguments:
/// `nd::convolution1d(x, w, b, {.stride = 2, .pad = 1})`.
struct Conv1DOptions {
  std::size_t stride = 1;     ///< step between outputs; > 0
  std::size_t dilate = 1;     ///< spacing between kernel taps; > 0
  std::size_t pad = 0;        ///< zeros added on each side of the input
  std::size_t num_group = 1;  ///< channel groups; C and O must be multiples of it
  bool relu = false;          ///< y = max(conv + b, 0) in one op (nd::convolution_relu)
};

/// 1-D convolution.  Gluon: nd.Convolution(x, weight, bias, kernel=(k,), stride=(s,), dilate=(d,),
/// pad=(p,), num_group).  x (N, C, W), weight (O, C / num_group, k), bias (O,) or undefined;
/// returns (N, O, Wo), Wo = (W + 2 pad - dilate (k - 1) - 1) / stride + 1.
/// Runs as the 2-D convolution of a height-1 image: x and weight are viewed as (N, C, 1, W) and
/// (O, C / num_group, 1, k) (reshape ops, so autograd and hybridize see reshape, convolution,
/// reshape), and the result viewed back.  The arguments are checked first, with 1-D shapes in
/// the messages: ShapeError for a non-3-D input or weight, a channel or bias mismatch, channels
/// not multiples of num_group, an empty input (W of 0, whatever the padding, as PyTorch; an
/// empty batch is fine), a kernel larger than the padded input; ValueError for a zero
/// stride, dilation or num_group, a size of 2^40 or more (a negative number converted), or a
/// dilation times kernel size whose span would wrap.
template <class T>
NDArray<T> convolution1d(const NDArray<T>& x, const NDArray<T>& weight, const NDArray<T>& bias = {},
                         Conv1DOptions opt = {}) {
  GLUINO_CHECK(StateError, x.defined() && weight.defined(), "convolution1d: input and weight must be defined arrays");
  const Shape bs = bias.defined() ? bias.shape() : Shape{};
  const auto s = detail::check_conv_args({.op = "convolution1d", .transposed = false, .stride = {opt.stride},
                                                   .dilate = {opt.dilate}, .pad = {opt.pad}, .adj = {},
                                                   .num_group = opt.num_group},
                                         x.shape(), weight.shape(), bias.defined() ? &bs : nullptr);
  const NDArray<T> x4 = reshape(x, Shape{s.N, s.C, 1, s.in[0]});
  const NDArray<T> w4 = reshape(weight, Shape{weight.shape(0), weight.shape(1), 1, s.kernel[0]});
  const ConvOptions o{.stride = {1, opt.stride}, .dilate = {1, opt.dilate}, .pad = {0, opt.pad},
                      .num_group = opt.num_group};
  const NDArray<T> y = opt.relu ? convolution_relu(x4, w4, bias, o) : convolution(x4, w4, bias, o);
  return reshape(y, Shape{s.N, s.O, s.out[0]});
}

}  // namespace gluino::nd

// Precompiled mode (detail/precompiled.hpp): this header's float and double instantiations.
#define GLUINO_ND_CONV1D_INSTANTIATIONS(X, T) \
  X NDArray<T> convolution1d<T>(const NDArray<T>&, const NDArray<T>&, const NDArray<T>&, Conv1DOptions);
namespace gluino::nd {
GLUINO_EXTERN_INSTANTIATIONS(GLUINO_ND_CONV1D_INSTANTIATIONS)
}  // namespace gluino::nd
