// SPDX-License-Identifier: Apache-2.0
#pragma once
/// 2-D transposed convolution (deconvolution) over NCHW arrays, with stride, padding, output
/// adjustment, dilation and channel groups.  Gluon: mx.nd.Deconvolution (the op behind
/// gluon.nn.Conv2DTranspose).
#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "gluino/autograd/engine.hpp"
#include "gluino/core/ndarray.hpp"
#include "gluino/detail/precompiled.hpp"
#include "gluino/kernels/deconv2d.hpp"
#include "gluino/nd/conv_args.hpp"

namespace gluino::nd {

/// Options of deconvolution, in the order of mx.nd.Deconvolution's keyword arguments:
/// `nd::deconvolution(x, w, b, {.stride = {2, 2}, .pad = {1, 1}, .adj = {1, 1}})`.
/// Each pair is (height, width).
/// Each pair is 32-byte aligned, leaving gaps between them: g++ 12.2 at -O2 with AVX-512
/// (-march=native) miscompiles the constant initialization of 8 contiguous size_t fields whose
/// values are a run followed by zeros (DeconvOptions{} arrived with pad and adj (1, 1); its SLP
/// vectorizer stores one broadcast value to all 8).  The gaps keep every contiguous run at 2.
struct DeconvOptions {
  alignas(32) std::array<std::size_t, 2> stride{1, 1};  ///< > 0
  alignas(32) std::array<std::size_t, 2> dilate{1, 1};  ///< > 0
  alignas(32) std::array<std::size_t, 2> pad{0, 0};     ///< removed from each side of the full output
  alignas(32) std::array<std::size_t, 2> adj{0, 0};     ///< added to the far side of the output; < stride (Gluon: output_padding)
  std::size_t num_group = 1;                ///< channel groups; C and O must be multiples of it
};

namespace ops {
/// y = deconv2d(x, w) + b.  Gluon: nd.Deconvolution.  x (N, C, H, W), w (C, O / groups, kh, kw),
/// b (O) or undefined; y (N, O, Ho, Wo), Ho = (H - 1) stride - 2 pad + dilate (kh - 1) + 1 + adj.
/// Forward is the gradient of the convolution (with these options) w.r.t. its input: col2im of
/// w^T x.  Backward: dx = convolution(dy, w), dw = the convolution's weight gradient with dy as
/// its input and x as its output gradient, db = sum of dy over (N, Ho, Wo); saves x only when w
/// needs a gradient and w only when x needs one.
template <class T>
struct Deconvolution : autograd::OpBase {
  static constexpr const char* name = "deconvolution";
  DeconvOptions opt;
  kernels::Conv2DGeometry geom;
  NDArray<T> x, w;  // saved for backward (see above)

  /// For graphs (autograd/trace.hpp): pairs are (height, width).
  autograd::Attributes attributes() const {
    const auto pair = [](const std::array<std::size_t, 2>& a) {
      return std::vector<std::int64_t>{std::int64_t(a[0]), std::int64_t(a[1])};
    };
    return {{"stride", pair(opt.stride)}, {"dilate", pair(opt.dilate)}, {"pad", pair(opt.pad)},
            {"adj", pair(opt.adj)},       {"num_group", std::int64_t(opt.num_group)}};
  }

  NDArray<T> forward(const NDArray<T>& in, const NDArray<T>& weight, const NDArray<T>& bias) {
    geom = make_geometry(in, weight, bias, opt);
    NDArray<T> out(Shape{geom.N, geom.C, geom.H, geom.W});
    kernels::deconv2d_forward(geom, in.data(), weight.data(), bias.defined() ? bias.data() : nullptr, out.data());
    if (needs_grad(1)) x = in;
    if (needs_grad(0)) w = weight;
    return out;
  }

  std::vector<NDArray<T>> backward(const NDArray<T>& dy) {
    NDArray<T> dx, dw, db;
    if (needs_grad(0)) dx = NDArray<T>(Shape{geom.N, geom.O, geom.Ho, geom.Wo});
    if (needs_grad(1)) dw = NDArray<T>(Shape{geom.O, geom.Cg(), geom.kh, geom.kw});
    if (needs_grad(2)) db = NDArray<T>(Shape{geom.C});
    kernels::deconv2d_backward(geom, x.defined() ? x.data() : nullptr, w.defined() ? w.data() : nullptr, dy.data(),
                               dx.defined() ? dx.data() : nullptr, dw.defined() ? dw.data() : nullptr,
                               db.defined() ? db.data() : nullptr);
    return {dx, dw, db};
  }
  /// The gradients from recorded ops (autograd::grad's create_graph; nd/conv_grad.hpp):
  /// dx = convolution(dy, w), dw = convolution_weight_grad(dy, x), db = sum of dy over (N, Ho, Wo).
  std::vector<NDArray<T>> backward_graph(const NDArray<T>& dy, const autograd::GraphArgs<T>& g);

  /// Checks the arguments (gluino::detail::check_conv_args: ShapeError / ValueError naming the
  /// shapes) and derives the geometry of the matching convolution (kernels/deconv2d.hpp).
  static kernels::Conv2DGeometry make_geometry(const NDArray<T>& x, const NDArray<T>& w, const NDArray<T>& b,
                                               const DeconvOptions& opt) {
    GLUINO_CHECK(StateError, x.defined() && w.defined(), "deconvolution: input and weight must be defined arrays");
    const Shape bs = b.defined() ? b.shape() : Shape{};
    const auto s = detail::check_conv_args(
        {.op = "deconvolution", .transposed = true, .stride = {opt.stride[0], opt.stride[1]},
         .dilate = {opt.dilate[0], opt.dilate[1]}, .pad = {opt.pad[0], opt.pad[1]}, .adj = {opt.adj[0], opt.adj[1]},
         .num_group = opt.num_group},
        x.shape(), w.shape(), b.defined() ? &bs : nullptr);
    kernels::Conv2DGeometry g;
    g.N = s.N, g.C = s.O, g.H = s.out[0], g.W = s.out[1];
    g.O = s.C, g.groups = opt.num_group, g.kh = s.kernel[0], g.kw = s.kernel[1];
    g.sh = opt.stride[0], g.sw = opt.stride[1], g.ph = opt.pad[0], g.pw = opt.pad[1];
    g.dh = opt.dilate[0], g.dw = opt.dilate[1];
    g.infer_output();  // adj < stride: the convolution maps (H, W) back to the input's size
    return g;
  }
};
}  // namespace ops

/// 2-D transposed convolution.  Gluon: nd.Deconvolution(x, weight, bias, kernel, stride, dilate,
/// pad, adj, num_filter, num_group, no_bias = !bias.defined()).
/// x (N, C, H, W), weight (C, O / num_group, kh, kw) (MXNet's and PyTorch's layout: input
/// channels first), bias (O,) or an undefined array for none.  Returns (N, O, Ho, Wo),
/// Ho = (H - 1) stride - 2 pad + dilate (kh - 1) + 1 + adj (likewise Wo).  MXNet's target_shape
/// is not supported: give adj.  Throws ShapeError for a non-4-D input or weight, a channel or bias
/// mismatch, channels not multiples of num_group, an empty input, an output of size < 1 or of
/// 2^62 or more along an axis; ValueError for a zero stride, dilation or num_group, adj >= stride,
/// a size of 2^40 or more (a negative number converted to size_t), or a dilation times kernel
/// size whose span would wrap.  Every message names the input's and the weight's
/// shapes.
/// The options are taken by reference: passed by value, their 32-byte alignment changes the
/// calling convention (g++ notes it, -Wpsabi).
template <class T>
NDArray<T> deconvolution(const NDArray<T>& x, const NDArray<T>& weight, const NDArray<T>& bias = {},
                         const DeconvOptions& opt = {}) {
  ops::Deconvolution<T> op;
  op.opt = opt;
  return autograd::apply(std::move(op), x, weight, bias);
}

}  // namespace gluino::nd

// Precompiled mode (detail/precompiled.hpp): this header's float and double instantiations.
#define GLUINO_ND_DECONVOLUTION_INSTANTIATIONS(X, T) \
  X NDArray<T> deconvolution<T>(const NDArray<T>&, const NDArray<T>&, const NDArray<T>&, const DeconvOptions&);
namespace gluino::nd {
GLUINO_EXTERN_INSTANTIATIONS(GLUINO_ND_DECONVOLUTION_INSTANTIATIONS)
}  // namespace gluino::nd

#include "gluino/nd/conv_grad.hpp"  // Deconvolution::backward_graph
