// SPDX-License-Identifier: Apache-2.0
#pragma once
/// 3-D convolution over NCDHW arrays, with stride, padding, dilation and channel groups.
/// Gluon: mx.nd.Convolution with a 3-element kernel (the op behind gluon.nn.Conv3D).
#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "gluino/autograd/engine.hpp"
#include "gluino/core/ndarray.hpp"
#include "gluino/detail/precompiled.hpp"
#include "gluino/kernels/conv3d.hpp"
#include "gluino/nd/conv_args.hpp"
#include "gluino/nd/reduce.hpp"

namespace gluino::nd {

/// Options of convolution3d, in the order of mx.nd.Convolution's keyword arguments:
/// `nd::convolution3d(x, w, b, {.stride = {1, 2, 2}, .pad = {1, 1, 1}})`.  Each triple is
/// (depth, height, width), 32-byte aligned, leaving gaps between them: g++ 12.2 at -O2 with
/// AVX-512 (-march=native) miscompiles the constant initialization of 8 contiguous size_t
/// fields whose values are a run followed by zeros (Conv3DOptions{} arrived with pad (1, 1, 0)),
/// as nd::DeconvOptions documents.
struct Conv3DOptions {
  alignas(32) std::array<std::size_t, 3> stride{1, 1, 1};  ///< > 0
  alignas(32) std::array<std::size_t, 3> dilate{1, 1, 1};  ///< > 0
  alignas(32) std::array<std::size_t, 3> pad{0, 0, 0};     ///< zeros added on each side of the input
  std::size_t num_group = 1;                   ///< channel groups; C and O must be multiples of it
};

namespace ops {
/// y = conv3d(x, w) + b.  Gluon: nd.Convolution with kernel=(kd, kh, kw).  x (N, C, D, H, W),
/// w (O, C / groups, kd, kh, kw), b (O) or undefined; y (N, O, Do, Ho, Wo),
/// Do = (D + 2 pad - dilate (kd - 1) - 1) / stride + 1 (likewise Ho, Wo).
/// Backward: dx[tap] += w dy, dw += x dy over every tap, db = sum of dy over (N, Do, Ho, Wo);
/// saves x only when w needs a gradient and w only when x needs one.
template <class T>
struct Convolution3D : autograd::OpBase {
  static constexpr const char* name = "convolution3d";
  Conv3DOptions opt;
  kernels::Conv3DGeometry geom;
  NDArray<T> x, w;  // saved for backward (see above)

  /// For graphs (autograd/trace.hpp): triples are (depth, height, width).
  autograd::Attributes attributes() const {
    const auto triple = [](const std::array<std::size_t, 3>& a) {
      return std::vector<std::int64_t>{std::int64_t(a[0]), std::int64_t(a[1]), std::int64_t(a[2])};
    };
    return {{"stride", triple(opt.stride)}, {"dilate", triple(opt.dilate)}, {"pad", triple(opt.pad)},
            {"num_group", std::int64_t(opt.num_group)}};
  }

  NDArray<T> forward(const NDArray<T>& in, const NDArray<T>& weight, const NDArray<T>& bias) {
    geom = make_geometry(in, weight, bias, opt);
    NDArray<T> out(Shape{geom.N, geom.O, geom.out[0], geom.out[1], geom.out[2]});
    kernels::conv3d_forward(geom, in.data(), weight.data(), bias.defined() ? bias.data() : nullptr, out.data());
    if (needs_grad(1)) x = in;
    if (needs_grad(0)) w = weight;
    return out;
  }

  std::vector<NDArray<T>> backward(const NDArray<T>& dy) {
    NDArray<T> dx, dw, db;
    if (needs_grad(0)) dx = NDArray<T>(Shape{geom.N, geom.C, geom.in[0], geom.in[1], geom.in[2]});
    if (needs_grad(1)) dw = NDArray<T>(Shape{geom.O, geom.Cg(), geom.k[0], geom.k[1], geom.k[2]});
    if (needs_grad(2)) db = NDArray<T>(Shape{geom.O});
    kernels::conv3d_backward(geom, x.defined() ? x.data() : nullptr, w.defined() ? w.data() : nullptr, dy.data(),
                             dx.defined() ? dx.data() : nullptr, dw.defined() ? dw.data() : nullptr,
                             db.defined() ? db.data() : nullptr);
    return {dx, dw, db};
  }
  /// The gradients from recorded ops (autograd::grad's create_graph): dx =
  /// convolution3d_input_grad(dy, w), dw = convolution3d_weight_grad(x, dy), db = sum of dy.
  std::vector<NDArray<T>> backward_graph(const NDArray<T>& dy, const autograd::GraphArgs<T>& g);

  /// Checks the arguments (gluino::detail::check_conv_args: ShapeError / ValueError naming the
  /// shapes) and derives the geometry.
  static kernels::Conv3DGeometry make_geometry(const NDArray<T>& x, const NDArray<T>& w, const NDArray<T>& b,
                                               const Conv3DOptions& opt) {
    GLUINO_CHECK(StateError, x.defined() && w.defined(), "convolution3d: input and weight must be defined arrays");
    const Shape bs = b.defined() ? b.shape() : Shape{};
    const std::vector<std::size_t> st(opt.stride.begin(), opt.stride.end()), di(opt.dilate.begin(), opt.dilate.end()),
        pa(opt.pad.begin(), opt.pad.end());
    const auto s = detail::check_conv_args({.op = "convolution3d", .transposed = false, .stride = st, .dilate = di,
                                            .pad = pa, .adj = {}, .num_group = opt.num_group},
                                           x.shape(), w.shape(), b.defined() ? &bs : nullptr);
    kernels::Conv3DGeometry g;
    g.N = s.N, g.C = s.C, g.O = s.O, g.groups = opt.num_group;
    for (std::size_t a = 0; a < 3; ++a) {
      g.in[a] = s.in[a], g.k[a] = s.kernel[a], g.out[a] = s.out[a];
      g.s[a] = opt.stride[a], g.p[a] = opt.pad[a], g.d[a] = opt.dilate[a];
    }
    return g;
  }
};

/// The pieces of convolution3d's gradient as differentiable ops (its recorded gradient,
/// create_graph).  Both are bilinear, and their gradients are convolution3d and each other, so
/// every order works:
///   convolution3d_input_grad(dy, w) -> dx; backward: d(dy) = convolution3d(g, w),
///     dw = convolution3d_weight_grad(g, dy);
///   convolution3d_weight_grad(x, dy) -> dw; backward: dx = convolution3d_input_grad(dy, g),
///     d(dy) = convolution3d(x, g).
/// Each saves an input only when the other needs a gradient.
template <class T, bool Weight>
struct Convolution3DGrad : autograd::OpBase {
  static constexpr const char* name = Weight ? "convolution3d_weight_grad" : "convolution3d_input_grad";
  Conv3DOptions opt;
  kernels::Conv3DGeometry geom;
  NDArray<T> a, b;  // inputs 0 and 1, saved for backward

  Shape input_shape() const { return Shape{geom.N, geom.C, geom.in[0], geom.in[1], geom.in[2]}; }
  Shape output_shape() const { return Shape{geom.N, geom.O, geom.out[0], geom.out[1], geom.out[2]}; }
  Shape weight_shape() const { return Shape{geom.O, geom.Cg(), geom.k[0], geom.k[1], geom.k[2]}; }
  /// The gradient of x (dy, w given) or of w (x, dy given), by the convolution's backward kernel.
  NDArray<T> input_grad(const NDArray<T>& dy, const NDArray<T>& w) const {
    NDArray<T> dx(input_shape());
    kernels::conv3d_backward<T>(geom, nullptr, w.data(), dy.data(), dx.data(), nullptr, nullptr);
    return dx;
  }
  NDArray<T> weight_grad(const NDArray<T>& x, const NDArray<T>& dy) const {
    NDArray<T> dw(weight_shape());
    kernels::conv3d_backward<T>(geom, x.data(), nullptr, dy.data(), nullptr, dw.data(), nullptr);
    return dw;
  }
  NDArray<T> conv(const NDArray<T>& x, const NDArray<T>& w) const {
    NDArray<T> y(output_shape());
    kernels::conv3d_forward<T>(geom, x.data(), w.data(), nullptr, y.data());
    return y;
  }

  NDArray<T> forward(const NDArray<T>& in0, const NDArray<T>& in1) {
    if (needs_grad(1)) a = in0;
    if (needs_grad(0)) b = in1;
    return Weight ? weight_grad(in0, in1) : input_grad(in0, in1);
  }
  std::vector<NDArray<T>> backward(const NDArray<T>& g) {
    NDArray<T> d0, d1;
    if constexpr (Weight) {  // (x, dy)
      if (needs_grad(0)) d0 = input_grad(b, g);
      if (needs_grad(1)) d1 = conv(a, g);
    } else {  // (dy, w)
      if (needs_grad(0)) d0 = conv(g, b);
      if (needs_grad(1)) d1 = weight_grad(g, a);
    }
    return {d0, d1};
  }
  std::vector<NDArray<T>> backward_graph(const NDArray<T>& g, const autograd::GraphArgs<T>& args) {
    NDArray<T> d0, d1;
    if constexpr (Weight) {
      if (needs_grad(0)) d0 = autograd::apply(piece<false>(), args.input(1, b), g);
      if (needs_grad(1)) d1 = autograd::apply(convolution(), args.input(0, a), g, NDArray<T>{});
    } else {
      if (needs_grad(0)) d0 = autograd::apply(convolution(), g, args.input(1, b), NDArray<T>{});
      if (needs_grad(1)) d1 = autograd::apply(piece<true>(), g, args.input(0, a));
    }
    return {d0, d1};
  }
  template <bool W>
  Convolution3DGrad<T, W> piece() const {
    Convolution3DGrad<T, W> p;
    p.opt = opt, p.geom = geom;
    return p;
  }
  Convolution3D<T> convolution() const {
    Convolution3D<T> c;
    c.opt = opt;
    return c;
  }
};

template <class T>
std::vector<NDArray<T>> Convolution3D<T>::backward_graph(const NDArray<T>& dy, const autograd::GraphArgs<T>& g) {
  Convolution3DGrad<T, false> in_grad;
  in_grad.opt = opt, in_grad.geom = geom;
  NDArray<T> dx, dw, db;
  if (needs_grad(0)) dx = autograd::apply(in_grad, dy, g.input(1, w));
  if (needs_grad(1)) dw = autograd::apply(in_grad.template piece<true>(), g.input(0, x), dy);
  if (needs_grad(2)) db = nd::sum(dy, std::vector<int>{0, 2, 3, 4}, false);
  return {dx, dw, db};
}
}  // namespace ops

/// 3-D convolution.  Gluon: nd.Convolution(x, weight, bias, kernel=(kd, kh, kw), stride, dilate,
/// pad, num_filter, num_group, no_bias = !bias.defined()).
/// x (N, C, D, H, W), weight (O, C / num_group, kd, kh, kw), bias (O,) or an undefined array.
/// Returns (N, O, Do, Ho, Wo), Do = (D + 2 pad - dilate (kd - 1) - 1) / stride + 1 (likewise).
/// Direct loops (kernels/conv3d.hpp): correct, not fast.  Throws ShapeError for a non-5-D input
/// or weight, a channel or bias mismatch, channels or filters not multiples of num_group, an
/// empty image (D, H or W of 0, as PyTorch; an empty batch is fine), a kernel larger than the
/// padded input; ValueError for a zero stride, dilation or num_group, a
/// size of 2^40 or more, or a dilation times kernel size whose span would wrap.  Every message
/// names the input's and the weight's shapes.
/// The options are taken by reference (see nd::deconvolution).
template <class T>
NDArray<T> convolution3d(const NDArray<T>& x, const NDArray<T>& weight, const NDArray<T>& bias = {},
                         const Conv3DOptions& opt = {}) {
  ops::Convolution3D<T> op;
  op.opt = opt;
  return autograd::apply(std::move(op), x, weight, bias);
}

}  // namespace gluino::nd

// Precompiled mode (detail/precompiled.hpp): this header's float and double instantiations.
#define GLUINO_ND_CONV3D_INSTANTIATIONS(X, T) \
  X NDArray<T> convolution3d<T>(const NDArray<T>&, const NDArray<T>&, const NDArray<T>&, const Conv3DOptions&);
namespace gluino::nd {
GLUINO_EXTERN_INSTANTIATIONS(GLUINO_ND_CONV3D_INSTANTIATIONS)
}  // namespace gluino::nd
