// SPDX-License-Identifier: Apache-2.0
#pragma once
/// 2-D convolution over NCHW arrays, with stride, padding, dilation and channel groups.
/// Gluon: mx.nd.Convolution (the op behind gluon.nn.Conv2D).
#include <array>
#include <cstddef>
#include <vector>

#include "gluino/autograd/engine.hpp"
#include "gluino/core/ndarray.hpp"
#include "gluino/detail/precompiled.hpp"
#include "gluino/kernels/conv2d.hpp"

namespace gluino::nd {

/// Options of convolution, in the order of mx.nd.Convolution's keyword arguments, so that
/// `nd::convolution(x, w, b, {.stride = {2, 2}, .pad = {1, 1}})` reads like the Gluon call.
/// Each pair is (height, width).
struct ConvOptions {
  std::array<std::size_t, 2> stride{1, 1};  ///< step between output pixels; > 0
  std::array<std::size_t, 2> dilate{1, 1};  ///< spacing between kernel taps; > 0
  std::array<std::size_t, 2> pad{0, 0};     ///< zeros added on each side of the input
  std::size_t num_group = 1;                ///< channel groups; C and O must be multiples of it
};

namespace ops {
/// y = conv2d(x, w) + b.  Gluon: nd.Convolution.  x (N, C, H, W), w (O, C/groups, kh, kw),
/// b (O) or undefined; y (N, O, Ho, Wo) with Ho = (H + 2 pad - dilate (kh - 1) - 1) / stride + 1.
/// Backward: dx = col2im(w^T dy), dw = sum_n dy cols(x)^T, db = sum of dy over (N, Ho, Wo);
/// saves x only when w needs a gradient and w only when x needs one.
/// With `relu`, y = max(conv2d(x, w) + b, 0) in one op (convolution_relu); it then also saves y,
/// whose sign masks dy in backward.
template <class T>
struct Convolution : autograd::OpBase {
  static constexpr const char* name = "convolution";
  ConvOptions opt;
  bool relu = false;
  kernels::Conv2DGeometry geom;
  NDArray<T> x, w, y;  // saved for backward (see above)

  /// For graphs (autograd/trace.hpp): pairs are (height, width).
  autograd::Attributes attributes() const {
    return {{"stride", std::vector<std::int64_t>{std::int64_t(opt.stride[0]), std::int64_t(opt.stride[1])}},
            {"dilate", std::vector<std::int64_t>{std::int64_t(opt.dilate[0]), std::int64_t(opt.dilate[1])}},
            {"pad", std::vector<std::int64_t>{std::int64_t(opt.pad[0]), std::int64_t(opt.pad[1])}},
            {"num_group", std::int64_t(opt.num_group)},
            {"relu", std::int64_t(relu)}};
  }

  NDArray<T> forward(const NDArray<T>& in, const NDArray<T>& weight, const NDArray<T>& bias) {
    geom = make_geometry(in, weight, bias, opt);
    NDArray<T> out(Shape{geom.N, geom.O, geom.Ho, geom.Wo});
    kernels::conv2d_forward(geom, in.data(), weight.data(), bias.defined() ? bias.data() : nullptr, out.data(), relu);
    if (needs_grad(1)) x = in;
    if (needs_grad(0)) w = weight;
    if (relu && recording()) y = out;
    return out;
  }

  /// Writes each gradient into dest[i] when the engine offers that buffer (a parameter's grad()).
  std::vector<NDArray<T>> backward(const NDArray<T>& dy, const std::vector<NDArray<T>>& dest) {
    std::vector<NDArray<T>> d = grad_arrays(dest);
    kernels::conv2d_backward(geom, data_or_null(x), data_or_null(w), dy.data(), data_or_null(d[0]),
                             data_or_null(d[1]), data_or_null(d[2]), relu ? y.data() : nullptr);
    return d;
  }
  /// backward's arrays {dx, dw, db} for geom: dest[i] when the engine offers that buffer, a new
  /// array otherwise, undefined where no gradient is needed (ConvolutionMaxPool's too).
  std::vector<NDArray<T>> grad_arrays(const std::vector<NDArray<T>>& dest) const {
    auto out = [&](std::size_t i, const Shape& s) {
      return !needs_grad(i) ? NDArray<T>() : dest[i].defined() ? dest[i] : NDArray<T>(s);
    };
    return {out(0, Shape{geom.N, geom.C, geom.H, geom.W}), out(1, Shape{geom.O, geom.Cg(), geom.kh, geom.kw}),
            out(2, Shape{geom.O})};
  }
  /// a's elements, or null for an undefined array (a gradient not asked for, an array not saved).
  static T* data_or_null(NDArray<T>& a) { return a.defined() ? a.data() : nullptr; }
  /// The gradients from recorded ops (autograd::grad's create_graph; nd/conv_grad.hpp):
  /// dx = deconvolution(dy, w), dw = convolution_weight_grad(x, dy), db = sum of dy over
  /// (N, Ho, Wo); dy masked by y > 0 first with `relu`.
  std::vector<NDArray<T>> backward_graph(const NDArray<T>& dy, const autograd::GraphArgs<T>& g);

  /// Checks the arguments (ShapeError / ValueError naming the shapes) and derives the geometry.
  static kernels::Conv2DGeometry make_geometry(const NDArray<T>& x, const NDArray<T>& w, const NDArray<T>& b,
                                               const ConvOptions& opt) {
    GLUINO_CHECK(StateError, x.defined() && w.defined(), "convolution: input and weight must be defined arrays");
    const Shape bs = b.defined() ? b.shape() : Shape{};
    return make_geometry(x.shape(), w.shape(), b.defined() ? &bs : nullptr, opt);
  }
  /// The same from the shapes of x, w and b (b null: no bias), so that a caller with no weight
  /// array (convolution_weight_grad) need not allocate one to check its arguments.
  static kernels::Conv2DGeometry make_geometry(const Shape& xs, const Shape& ws, const Shape* bs,
                                               const ConvOptions& opt) {
    GLUINO_CHECK(ShapeError, xs.ndim() == 4, "convolution: input must be 4-D (N, C, H, W), got ", xs);
    GLUINO_CHECK(ShapeError, ws.ndim() == 4, "convolution: weight must be 4-D (O, C/groups, kh, kw), got ", ws,
                 " for input ", xs);
    GLUINO_CHECK(ValueError, opt.stride[0] > 0 && opt.stride[1] > 0, "convolution: stride must be > 0, got (",
                 opt.stride[0], ", ", opt.stride[1], "): input ", xs, " vs weight ", ws);
    GLUINO_CHECK(ValueError, opt.dilate[0] > 0 && opt.dilate[1] > 0, "convolution: dilate must be > 0, got (",
                 opt.dilate[0], ", ", opt.dilate[1], "): input ", xs, " vs weight ", ws);
    GLUINO_CHECK(ValueError, opt.num_group > 0, "convolution: num_group must be > 0, got 0: input ", xs,
                 " vs weight ", ws);
    check_pad_stride(opt, xs, ws);
    kernels::Conv2DGeometry g;
    g.N = xs[0], g.C = xs[1], g.H = xs[2], g.W = xs[3];
    g.O = ws[0], g.groups = opt.num_group, g.kh = ws[2], g.kw = ws[3];
    g.sh = opt.stride[0], g.sw = opt.stride[1], g.ph = opt.pad[0], g.pw = opt.pad[1];
    g.dh = opt.dilate[0], g.dw = opt.dilate[1];
    GLUINO_CHECK(ShapeError, g.C % g.groups == 0 && g.O % g.groups == 0, "convolution: input channels and filters must be multiples of num_group = ",
                 g.groups, ": input ", xs, " vs weight ", ws);
    GLUINO_CHECK(ShapeError, ws[1] == g.C / g.groups, "convolution: weight expects ", ws[1] * g.groups,
                 " input channels (", ws[1], " per group x ", g.groups, " groups): input ", xs, " vs weight ",
                 ws);
    GLUINO_CHECK(ShapeError, g.kh > 0 && g.kw > 0, "convolution: empty kernel in weight ", ws);
    GLUINO_CHECK(ShapeError, g.C > 0, "convolution: input has 0 channels: input ", xs, " vs weight ", ws);
    GLUINO_CHECK(ShapeError, g.O > 0, "convolution: weight has 0 filters: input ", xs, " vs weight ", ws);
    // Padding around nothing is no image (PyTorch refuses it too): only the batch may be empty.
    GLUINO_CHECK(ShapeError, g.H > 0 && g.W > 0, "convolution: empty input ", xs,
                 ": H and W must be > 0 (only the batch may be empty) vs weight ", ws);
    if (bs)
      GLUINO_CHECK(ShapeError, bs->ndim() == 1 && (*bs)[0] == g.O, "convolution: bias must have shape (", g.O,
                   ",) for weight ", ws, ", got ", *bs);
    const std::size_t span_h = dilated_span(g.kh, g.dh, xs, ws);
    const std::size_t span_w = dilated_span(g.kw, g.dw, xs, ws);
    GLUINO_CHECK(ShapeError, span_h <= g.H + 2 * g.ph && span_w <= g.W + 2 * g.pw, "convolution: kernel (dilated to ",
                 span_h, "x", span_w, ") larger than the padded input (", g.H + 2 * g.ph, "x", g.W + 2 * g.pw,
                 "): input ", xs, " vs weight ", ws);
    g.infer_output();
    std::size_t numel = 0;
    const bool wraps = __builtin_mul_overflow(g.N, g.O, &numel) || __builtin_mul_overflow(numel, g.Ho, &numel) ||
                       __builtin_mul_overflow(numel, g.Wo, &numel);
    GLUINO_CHECK(ShapeError, !wraps && numel < max_extent, "convolution: output (", g.N, ", ", g.O, ", ", g.Ho, ", ",
                 g.Wo, ") too large: input ", xs, " vs weight ", ws);
    return g;
  }

  /// The largest padded extent, kernel span or output size the kernels index with (their
  /// arithmetic mixes size_t and long long).
  static constexpr std::size_t max_extent = std::size_t(1) << 62;

  /// ValueError unless H + 2 pad and W + 2 pad stay below max_extent and the stride below it: a
  /// size near 2^64 is a negative number converted to size_t, which would wrap the padded size
  /// and crop the input (or, as a stride, silently give one output pixel).
  static void check_pad_stride(const ConvOptions& opt, const Shape& xs, const Shape& ws) {
    for (std::size_t a = 0; a < 2; ++a) {
      GLUINO_CHECK(ValueError, opt.pad[a] < max_extent / 4 && xs[2 + a] < max_extent / 2, "convolution: pad (",
                   opt.pad[0], ", ", opt.pad[1], ") too large (a negative value converted to size_t?): input ", xs,
                   " vs weight ", ws);
      GLUINO_CHECK(ValueError, opt.stride[a] < max_extent, "convolution: stride (", opt.stride[0], ", ", opt.stride[1],
                   ") too large (a negative value converted to size_t?): input ", xs, " vs weight ", ws);
    }
  }
  /// dilate * (k - 1) + 1, or ValueError when it reaches max_extent (a huge dilation would wrap
  /// the kernel's span).
  static std::size_t dilated_span(std::size_t k, std::size_t d, const Shape& xs, const Shape& ws) {
    std::size_t span = 0;
    const bool wraps = __builtin_mul_overflow(d, k - 1, &span) || span >= max_extent;
    GLUINO_CHECK(ValueError, !wraps, "convolution: dilate ", d, " times kernel size ", k,
                 " overflows the kernel's span: input ", xs, " vs weight ", ws);
    return span + 1;
  }
};
}  // namespace ops

/// 2-D convolution.  Gluon: nd.Convolution(x, weight, bias, kernel, stride, dilate, pad,
/// num_filter, num_group, no_bias = !bias.defined()).
/// x (N, C, H, W), weight (O, C / num_group, kh, kw), bias (O,) or an undefined array for none.
/// Returns (N, O, Ho, Wo), Ho = (H + 2 pad - dilate (kh - 1) - 1) / stride + 1 (likewise Wo).
/// Kernel size and filter count come from weight's shape (Gluon passes them redundantly).
/// Throws ShapeError for a non-4-D input or weight, a channel or bias mismatch, an input with 0
/// channels or a weight with 0 filters, an empty image (H or W of 0, whatever the padding, as
/// PyTorch; an empty batch is fine), channels or filters not multiples of num_group, or a
/// kernel larger than the padded input; ValueError for a zero stride, dilation or num_group, a
/// pad or dilation so large that the padded size or the kernel's span would wrap (a negative
/// number converted to size_t).  Every message names the input's and the weight's shapes.
template <class T>
NDArray<T> convolution(const NDArray<T>& x, const NDArray<T>& weight, const NDArray<T>& bias = {},
                       ConvOptions opt = {}) {
  ops::Convolution<T> op;
  op.opt = opt;
  return autograd::apply(std::move(op), x, weight, bias);
}

/// relu(convolution(x, weight, bias, opt)) as one op: the ReLU is applied to each image right
/// after its product, and its backward masks dy inside the convolution's backward, so neither
/// takes a pass over the batch of its own.  What nn::Conv2D with activation "relu" runs.
/// Same arguments and errors as convolution.
template <class T>
NDArray<T> convolution_relu(const NDArray<T>& x, const NDArray<T>& weight, const NDArray<T>& bias = {},
                            ConvOptions opt = {}) {
  ops::Convolution<T> op;
  op.opt = opt;
  op.relu = true;
  return autograd::apply(std::move(op), x, weight, bias);
}

/// The output spatial size (Ho, Wo) convolution would give for an input of spatial size (H, W)
/// and a kernel (kh, kw) (0 when the kernel does not fit).  ValueError for a zero kernel, stride
/// or dilation, or sizes so large that the arithmetic would wrap.
inline std::array<std::size_t, 2> conv_output_size(std::array<std::size_t, 2> in, std::array<std::size_t, 2> kernel,
                                                   const ConvOptions& opt = {}) {
  for (std::size_t a = 0; a < 2; ++a) {
    constexpr std::size_t lim = ops::Convolution<float>::max_extent;
    std::size_t span = 0;
    GLUINO_CHECK(ValueError, kernel[a] > 0 && opt.stride[a] > 0 && opt.dilate[a] > 0,
                 "conv_output_size: kernel, stride and dilate must be > 0, got kernel (", kernel[0], ", ", kernel[1],
                 "), stride (", opt.stride[0], ", ", opt.stride[1], "), dilate (", opt.dilate[0], ", ", opt.dilate[1],
                 ")");
    GLUINO_CHECK(ValueError,
                 in[a] < lim / 2 && opt.pad[a] < lim / 4 && !__builtin_mul_overflow(opt.dilate[a], kernel[a] - 1, &span) &&
                     span < lim,
                 "conv_output_size: sizes too large: input (", in[0], ", ", in[1], "), kernel (", kernel[0], ", ",
                 kernel[1], "), pad (", opt.pad[0], ", ", opt.pad[1], "), dilate (", opt.dilate[0], ", ", opt.dilate[1],
                 ")");
  }
  return {kernels::Conv2DGeometry::out_size(in[0], kernel[0], opt.stride[0], opt.pad[0], opt.dilate[0]),
          kernels::Conv2DGeometry::out_size(in[1], kernel[1], opt.stride[1], opt.pad[1], opt.dilate[1])};
}

}  // namespace gluino::nd

// Precompiled mode (detail/precompiled.hpp): this header's float and double instantiations.
#define GLUINO_ND_CONV_INSTANTIATIONS(X, T) \
  X NDArray<T> convolution<T>(const NDArray<T>&, const NDArray<T>&, const NDArray<T>&, ConvOptions); \
  X NDArray<T> convolution_relu<T>(const NDArray<T>&, const NDArray<T>&, const NDArray<T>&, ConvOptions);
namespace gluino::nd {
GLUINO_EXTERN_INSTANTIATIONS(GLUINO_ND_CONV_INSTANTIATIONS)
}  // namespace gluino::nd

#include "gluino/nd/conv_grad.hpp"  // Convolution::backward_graph
