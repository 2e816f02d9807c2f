// SPDX-License-Identifier: Apache-2.0
#pragma once
/// The recorded gradients (autograd::grad's create_graph) of convolution and deconvolution, and
/// the op they need besides each other: the convolution's weight gradient as a differentiable op.
/// Each of these gradients is again a convolution, a deconvolution or a weight gradient, so the
/// three ops' backward_graph close the set (third and higher orders work).
///   convolution  dx = deconvolution(dy, w)     dw = convolution_weight_grad(x, dy)
///   deconvolution dx = convolution(dy, w)      dw = convolution_weight_grad(dy, x)
///   convolution_weight_grad(x, dy) -> dw: dx = deconvolution(dy, g), ddy = convolution(x, g)
/// conv.hpp and deconvolution.hpp include this header at their end (their ops declare
/// backward_graph, defined here), so that including either gives the whole set.
#include <array>
#include <cstddef>
#include <vector>

#include "gluino/autograd/engine.hpp"
#include "gluino/core/ndarray.hpp"
#include "gluino/detail/precompiled.hpp"
#include "gluino/kernels/conv2d.hpp"
#include "gluino/nd/conv.hpp"
#include "gluino/nd/deconvolution.hpp"
#include "gluino/nd/elementwise.hpp"
#include "gluino/nd/reduce.hpp"

namespace gluino::nd {
namespace ops {

/// The options of the convolution with geometry g.
inline ConvOptions conv_options(const kernels::Conv2DGeometry& g) {
  return {.stride = {g.sh, g.sw}, .dilate = {g.dh, g.dw}, .pad = {g.ph, g.pw}, .num_group = g.groups};
}

/// The options of the deconvolution that maps g's output (N, O, Ho, Wo) back to its input's
/// size (N, C, H, W): the convolution's input gradient.  adj restores the rows and columns the
/// convolution's stride dropped.
inline DeconvOptions deconv_options(const kernels::Conv2DGeometry& g) {
  const auto adj = [](std::size_t in, std::size_t k, std::size_t s, std::size_t p, std::size_t d, std::size_t out) {
    return in + 2 * p - (d * (k - 1) + 1) - (out - 1) * s;
  };
  DeconvOptions o;
  o.stride = {g.sh, g.sw};
  o.dilate = {g.dh, g.dw};
  o.pad = {g.ph, g.pw};
  o.adj = {adj(g.H, g.kh, g.sh, g.ph, g.dh, g.Ho), adj(g.W, g.kw, g.sw, g.pw, g.dw, g.Wo)};
  o.num_group = g.groups;
  return o;
}

/// dw = the weight gradient of the convolution with geometry geom, given its input x (N, C, H, W)
/// and its output gradient dy (N, O, Ho, Wo): dw (O, C / groups, kh, kw), sum_n dy cols(x)^T.
/// Bilinear in (x, dy); backward, given g = d/d(dw): dx = deconvolution(dy, g) (the convolution's
/// input gradient with weight g), ddy = convolution(x, g).  Saves x only when dy needs a gradient
/// and dy only when x needs one.  MXNet has it only inside _backward_Convolution.
template <class T>
struct ConvolutionWeightGrad : autograd::OpBase {
  static constexpr const char* name = "convolution_weight_grad";
  kernels::Conv2DGeometry geom;
  NDArray<T> x, dy;  // saved for backward (see above)

  NDArray<T> forward(const NDArray<T>& in, const NDArray<T>& grad_out) {
    NDArray<T> dw(Shape{geom.O, geom.Cg(), geom.kh, geom.kw});
    kernels::conv2d_backward<T>(geom, in.data(), nullptr, grad_out.data(), nullptr, dw.data(), nullptr);
    if (needs_grad(1)) x = in;
    if (needs_grad(0)) dy = grad_out;
    return dw;
  }
  std::vector<NDArray<T>> backward(const NDArray<T>& g) {
    NDArray<T> dx, ddy;
    if (needs_grad(0)) {
      dx = NDArray<T>(Shape{geom.N, geom.C, geom.H, geom.W});
      kernels::conv2d_backward<T>(geom, nullptr, g.data(), dy.data(), dx.data(), nullptr, nullptr);
    }
    if (needs_grad(1)) {
      ddy = NDArray<T>(Shape{geom.N, geom.O, geom.Ho, geom.Wo});
      kernels::conv2d_forward<T>(geom, x.data(), g.data(), nullptr, ddy.data());
    }
    return {dx, ddy};
  }
  std::vector<NDArray<T>> backward_graph(const NDArray<T>& g, const autograd::GraphArgs<T>& args) {
    NDArray<T> dx, ddy;
    if (needs_grad(0)) dx = nd::deconvolution(args.input(1, dy), g, NDArray<T>{}, deconv_options(geom));
    if (needs_grad(1)) ddy = nd::convolution(args.input(0, x), g, NDArray<T>{}, conv_options(geom));
    return {dx, ddy};
  }
};

/// The bias gradient of a convolution or deconvolution: dy summed over (N, H, W), recorded.
template <class T>
NDArray<T> conv_bias_grad(const NDArray<T>& dy) {
  return nd::sum(dy, std::vector<int>{0, 2, 3}, false);
}

template <class T>
std::vector<NDArray<T>> Convolution<T>::backward_graph(const NDArray<T>& dy, const autograd::GraphArgs<T>& g) {
  // The fused ReLU's derivative is the sign of the output: a constant mask.
  const NDArray<T> d = relu ? dy * constant_map(y, [](T v) { return v > T(0) ? T(1) : T(0); }) : dy;
  NDArray<T> dx, dw, db;
  if (needs_grad(0)) dx = nd::deconvolution(d, g.input(1, w), NDArray<T>{}, deconv_options(geom));
  if (needs_grad(1)) {
    ConvolutionWeightGrad<T> op;
    op.geom = geom;
    dw = autograd::apply(std::move(op), g.input(0, x), d);
  }
  if (needs_grad(2)) db = conv_bias_grad(d);
  return {dx, dw, db};
}

template <class T>
std::vector<NDArray<T>> Deconvolution<T>::backward_graph(const NDArray<T>& dy, const autograd::GraphArgs<T>& g) {
  // geom is the convolution whose input gradient this op is: its input is dy's shape.
  NDArray<T> dx, dw, db;
  if (needs_grad(0)) dx = nd::convolution(dy, g.input(1, w), NDArray<T>{}, conv_options(geom));
  if (needs_grad(1)) {
    ConvolutionWeightGrad<T> op;
    op.geom = geom;
    dw = autograd::apply(std::move(op), dy, g.input(0, x));
  }
  if (needs_grad(2)) db = conv_bias_grad(dy);
  return {dx, dw, db};
}

}  // namespace ops

/// The gradient of nd::convolution(x, w, b, opt) with respect to its weight w of spatial size
/// `kernel` (kh, kw), given the input x (N, C, H, W) and the output gradient dy (N, O, Ho, Wo):
/// dw (O, C / num_group, kh, kw).  Differentiable in x and dy (see ops::ConvolutionWeightGrad):
/// what convolution's recorded gradient (create_graph) is made of.  No Gluon function (MXNet's
/// _backward_Convolution).  The shape errors of convolution, and ShapeError naming dy's shape
/// when it is not the convolution's output shape.
template <class T>
NDArray<T> convolution_weight_grad(const NDArray<T>& x, const NDArray<T>& dy, std::array<std::size_t, 2> kernel,
                                   ConvOptions opt = {}) {
  GLUINO_CHECK(StateError, x.defined() && dy.defined(), "convolution_weight_grad: x and dy must be defined arrays");
  GLUINO_CHECK(ShapeError, x.ndim() == 4 && dy.ndim() == 4, "convolution_weight_grad: x and dy must be 4-D, got x ",
               x.shape(), " and dy ", dy.shape());
  // The weight's shape only: an array of it would be allocated before the checks (a kernel of
  // 2^20 x 2^20 asked the system for terabytes first).
  const Shape ws{dy.shape(1), opt.num_group == 0 ? 0 : x.shape(1) / opt.num_group, kernel[0], kernel[1]};
  ops::ConvolutionWeightGrad<T> op;
  op.geom = ops::Convolution<T>::make_geometry(x.shape(), ws, nullptr, opt);
  const Shape want{op.geom.N, op.geom.O, op.geom.Ho, op.geom.Wo};
  GLUINO_CHECK(ShapeError, dy.shape() == want, "convolution_weight_grad: dy must have the convolution's output shape ",
               want, " for x ", x.shape(), " and weight ", ws, ", got ", dy.shape());
  return autograd::apply(std::move(op), x, dy);
}

}  // namespace gluino::nd

// Precompiled mode (detail/precompiled.hpp): this header's float and double instantiations.
#define GLUINO_ND_CONV_GRAD_INSTANTIATIONS(X, T) \
  X NDArray<T> convolution_weight_grad<T>(const NDArray<T>&, const NDArray<T>&, std::array<std::size_t, 2>, ConvOptions);
namespace gluino::nd {
GLUINO_EXTERN_INSTANTIATIONS(GLUINO_ND_CONV_GRAD_INSTANTIATIONS)
}  // namespace gluino::nd
