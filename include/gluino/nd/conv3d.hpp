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
}  // namespace ops

/// 3-D convolution.  Gluon: nd.Convolution(x, weight, bias, kernel=(kd, kh, kw), stride, dilate,
/// pad, num_filter, num_group, no_bias = !bias.defined()).
/// x (N, C, D, H, W), weight (O, C / num_group, kd, kh, kw), bias (O,) or an undefined array.
/// Returns (N, O, Do, Ho, Wo), Do = (D + 2 pad - dilate (kd - 1) - 1) / stride + 1 (likewise).
/// Direct loops (kernels/conv3d.hpp): correct, not fast.  Throws ShapeError for a non-5-D input
/// or weight, a channel or bias mismatch, channels or filters not multiples of num_group, a
/// kernel larger than the padded input; ValueError for a zero stride, dilation or num_group, or
/// a size of 2^40 or more.  Every message names the input's and the weight's shapes.
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
