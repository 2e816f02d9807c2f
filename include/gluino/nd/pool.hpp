// SPDX-License-Identifier: Apache-2.0
#pragma once
/// 2-D max and average pooling over NCHW arrays, including global pooling.
/// Gluon: mx.nd.Pooling (behind gluon.nn.MaxPool2D, AvgPool2D, GlobalMaxPool2D, GlobalAvgPool2D).
#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "gluino/autograd/engine.hpp"
#include "gluino/core/ndarray.hpp"
#include "gluino/core/parallel.hpp"
#include "gluino/detail/precompiled.hpp"
#include "gluino/kernels/pool.hpp"
#include "gluino/nd/elementwise.hpp"

namespace gluino::nd {

/// What a pooling window computes.  Gluon: pool_type "max" / "avg".
enum class pool_type { max, avg };
/// How the output size rounds: valid = floor (Gluon ceil_mode=False), full = ceil (ceil_mode=True).
enum class pooling_convention { valid, full };

/// Options of pooling, in the order of mx.nd.Pooling's keyword arguments, so that
/// `nd::pooling(x, {.kernel = {2, 2}, .stride = {2, 2}, .type = nd::pool_type::max})` reads like
/// the Gluon call.  Each pair is (height, width).  Note: nd.Pooling's default stride is 1, as
/// here; gluon.nn.MaxPool2D defaults the stride to the pool size.
struct PoolOptions {
  std::array<std::size_t, 2> kernel{2, 2};  ///< window size; ignored when global_pool
  std::array<std::size_t, 2> stride{1, 1};  ///< > 0; ignored when global_pool
  std::array<std::size_t, 2> pad{0, 0};     ///< < kernel; ignored when global_pool
  pool_type type = pool_type::max;
  bool global_pool = false;                 ///< pool all of (H, W) into (1, 1)
  pooling_convention convention = pooling_convention::valid;
  bool count_include_pad = true;            ///< avg only: padding zeros count in the divisor
};

namespace ops {
/// The pieces of a pooling's gradient (PoolGradPiece, below).
enum { max_pool_backward, max_pool_gather, avg_pool_backward };
template <class T, int Kind>
struct PoolGradPiece;

/// Max or average pooling, plane by plane.  Gluon: nd.Pooling.  x (N, C, H, W) -> (N, C, Ho, Wo),
/// Ho = floor or ceil((H + 2 pad - kernel) / stride) + 1.  A window is clipped to the padded input;
/// max ignores padding, avg divides by the clipped window size (count_include_pad) or by the
/// number of real elements.  Backward: max sends dy to the arg-max position that forward saved
/// (only when recording); avg spreads dy / divisor over the window.
/// With `relu` (max only), y = relu(pooling(x)) (NaN stays NaN, as nd::relu), which equals
/// pooling(relu(x)) for every x, NaN included (a NaN in a window is its maximum either way):
/// a hybridized training graph runs a convolution's ReLU here (graph::fuse_relu_pool), so that
/// backward needs the arg-max and the pooled output only, not the convolution's whole output.
template <class T>
struct Pooling : autograd::OpBase {
  static constexpr const char* name = "pooling";
  PoolOptions opt;
  bool relu = false;
  NDArray<T> relu_out;  // with relu, when recording: the output, whose sign masks dy
  kernels::Pool2DGeometry geom;
  std::size_t planes = 0;
  Shape in_shape;
  // max only: (N * C * Ho * Wo) flat positions within a plane, from the memory pool (a fresh
  // zero-filled std::vector each step cost page faults)
  std::shared_ptr<Storage<std::int32_t>> argmax;

  /// For graphs (autograd/trace.hpp): pairs are (height, width).
  autograd::Attributes attributes() const {
    return {{"kernel", std::vector<std::int64_t>{std::int64_t(opt.kernel[0]), std::int64_t(opt.kernel[1])}},
            {"stride", std::vector<std::int64_t>{std::int64_t(opt.stride[0]), std::int64_t(opt.stride[1])}},
            {"pad", std::vector<std::int64_t>{std::int64_t(opt.pad[0]), std::int64_t(opt.pad[1])}},
            {"pool_type", std::string(opt.type == pool_type::max ? "max" : "avg")},
            {"global_pool", std::int64_t(opt.global_pool)},
            {"pooling_convention", std::string(opt.convention == pooling_convention::full ? "full" : "valid")},
            {"count_include_pad", std::int64_t(opt.count_include_pad)},
            {"relu", std::int64_t(relu)}};
  }

  NDArray<T> forward(const NDArray<T>& x) {
    geom = make_geometry(x, opt);
    in_shape = x.shape();
    planes = x.shape(0) * x.shape(1);
    NDArray<T> y(Shape{x.shape(0), x.shape(1), geom.Ho, geom.Wo});
    const std::size_t in_plane = geom.H * geom.W, out_plane = geom.Ho * geom.Wo;
    const T* px = x.data();
    T* py = y.data();
    const std::size_t cost = out_plane * geom.kh * geom.kw + in_plane;
    if (opt.type == pool_type::max) {
      std::int32_t* idx = nullptr;
      if (recording()) {
        argmax = std::make_shared<Storage<std::int32_t>>(planes * out_plane);
        idx = argmax->data();
      }
      gluino::detail::parallel_for(planes, [&](std::size_t p) {
        kernels::max_pool2d_plane(geom, px + p * in_plane, py + p * out_plane, idx ? idx + p * out_plane : nullptr);
        if (relu)
          for (T* v = py + p * out_plane; v != py + (p + 1) * out_plane; ++v)
            *v = *v <= T(0) ? T(0) : *v;  // NaN stays NaN, as nd::relu
      }, cost);
      if (relu && recording()) relu_out = y;
    } else {
      const bool inc = opt.count_include_pad;
      gluino::detail::parallel_for(planes, [&](std::size_t p) {
        kernels::avg_pool2d_plane(geom, px + p * in_plane, py + p * out_plane, inc);
      }, cost);
    }
    return y;
  }

  /// dx = max_pool_backward(dy) or avg_pool_backward(dy) (below), run by their kernels.
  /// With relu, dy masked by the output's sign first.
  std::vector<NDArray<T>> backward(const NDArray<T>& dy) {
    if (opt.type == pool_type::avg) return {piece<avg_pool_backward>().forward(dy)};
    if (!relu) return {piece<max_pool_backward>().forward(dy)};
    NDArray<T> masked(dy.shape());
    const T *g = dy.data(), *v = relu_out.data();
    T* m = masked.data();
    gluino::detail::parallel_for(dy.size(), [&](std::size_t i) { m[i] = v[i] > T(0) ? g[i] : T(0); });
    return {piece<max_pool_backward>().forward(masked)};
  }
  /// dx from recorded ops (autograd::grad's create_graph): max_pool_backward (dy scattered to
  /// the saved arg-max) or avg_pool_backward (dy spread over the windows).
  std::vector<NDArray<T>> backward_graph(const NDArray<T>& dy, const autograd::GraphArgs<T>&) {
    if (opt.type == pool_type::avg) return {autograd::apply(piece<avg_pool_backward>(), dy)};
    if (!relu) return {autograd::apply(piece<max_pool_backward>(), dy)};
    // The ReLU's derivative is the sign of the output: a constant mask.
    return {autograd::apply(piece<max_pool_backward>(),
                            dy * constant_map(relu_out, [](T v) { return v > T(0) ? T(1) : T(0); }))};
  }
  /// The gradient piece K (below) of this pooling, sharing its geometry and arg-max.
  template <int K>
  PoolGradPiece<T, K> piece() const {
    PoolGradPiece<T, K> p;
    p.opt = opt, p.geom = geom, p.planes = planes, p.in_shape = in_shape, p.argmax = argmax;
    return p;
  }

  /// Checks the arguments (ShapeError / ValueError) and derives the per-plane geometry.
  static kernels::Pool2DGeometry make_geometry(const NDArray<T>& x, const PoolOptions& opt) {
    GLUINO_CHECK(StateError, x.defined(), "pooling: input must be a defined array");
    return make_geometry(x.shape(), opt);
  }
  /// The same for an input of shape xs (nd::convolution_max_pool: the convolution's output).
  static kernels::Pool2DGeometry make_geometry(const Shape& xs, const PoolOptions& opt) {
    GLUINO_CHECK(ShapeError, xs.ndim() == 4, "pooling: input must be 4-D (N, C, H, W), got ", xs);
    kernels::Pool2DGeometry g;
    g.H = xs[2], g.W = xs[3];
    constexpr std::size_t max_plane = std::size_t(1) << 31;  // argmax positions are int32
    GLUINO_CHECK(ShapeError, g.H < max_plane && g.W < max_plane && g.H * g.W < max_plane,
                 "pooling: a plane of more than 2^31 elements: input ", xs);
    if (opt.global_pool) {
      g.kh = g.H, g.kw = g.W;
      g.Ho = g.Wo = 1;
      GLUINO_CHECK(ShapeError, g.H > 0 && g.W > 0, "pooling: global pooling of an empty plane: input ", xs);
      return g;
    }
    // Padding around nothing is no image (PyTorch refuses it too): only the batch may be empty.
    GLUINO_CHECK(ShapeError, g.H > 0 && g.W > 0, "pooling: empty input ", xs,
                 ": H and W must be > 0 (only the batch may be empty)");
    GLUINO_CHECK(ValueError, opt.kernel[0] > 0 && opt.kernel[1] > 0, "pooling: kernel must be > 0, got (",
                 opt.kernel[0], ", ", opt.kernel[1], "): input ", xs);
    GLUINO_CHECK(ValueError, opt.stride[0] > 0 && opt.stride[1] > 0, "pooling: stride must be > 0, got (",
                 opt.stride[0], ", ", opt.stride[1], "): input ", xs);
    GLUINO_CHECK(ValueError, opt.pad[0] < opt.kernel[0] && opt.pad[1] < opt.kernel[1], "pooling: pad (", opt.pad[0],
                 ", ", opt.pad[1], ") must be smaller than kernel (", opt.kernel[0], ", ", opt.kernel[1],
                 "): input ", xs);
    // A size near 2^64 is a negative number converted to size_t; it would wrap H + 2 pad or the
    // output-size arithmetic.
    constexpr std::size_t lim = std::size_t(1) << 40;
    GLUINO_CHECK(ValueError, opt.kernel[0] < lim && opt.kernel[1] < lim && opt.stride[0] < lim && opt.stride[1] < lim,
                 "pooling: kernel (", opt.kernel[0], ", ", opt.kernel[1], ") or stride (", opt.stride[0], ", ",
                 opt.stride[1], ") too large (a negative value converted to size_t?): input ", xs);
    g.kh = opt.kernel[0], g.kw = opt.kernel[1];
    g.sh = opt.stride[0], g.sw = opt.stride[1];
    g.ph = opt.pad[0], g.pw = opt.pad[1];
    GLUINO_CHECK(ShapeError, g.kh <= g.H + 2 * g.ph && g.kw <= g.W + 2 * g.pw, "pooling: kernel (", g.kh, ", ", g.kw,
                 ") larger than the padded input (", g.H + 2 * g.ph, ", ", g.W + 2 * g.pw, "): input ", xs);
    const bool full = opt.convention == pooling_convention::full;
    g.Ho = kernels::Pool2DGeometry::out_size(g.H, g.kh, g.sh, g.ph, full);
    g.Wo = kernels::Pool2DGeometry::out_size(g.W, g.kw, g.sw, g.pw, full);
    return g;
  }
};

/// The pieces of a pooling's gradient, as differentiable ops (its recorded gradient,
/// create_graph): each linear in its input, each one's backward the other's forward.
///   max_pool_backward (N, C, Ho, Wo) -> (N, C, H, W): dy added at the saved arg-max positions;
///     backward: max_pool_gather, the values at those positions (0 for an all-padding window).
///   max_pool_gather (N, C, H, W) -> (N, C, Ho, Wo); backward: max_pool_backward.
///   avg_pool_backward (N, C, Ho, Wo) -> (N, C, H, W): dy / divisor spread over each window;
///     backward: average pooling itself (the same geometry and divisor).
/// They share the Pooling op's geometry and arg-max storage (never written after its forward).
template <class T, int Kind>
struct PoolGradPiece : autograd::OpBase {
  static constexpr const char* name = Kind == max_pool_backward ? "max_pool_backward"
                                      : Kind == max_pool_gather ? "max_pool_gather" : "avg_pool_backward";
  PoolOptions opt;
  kernels::Pool2DGeometry geom;
  std::size_t planes = 0;
  Shape in_shape;  // (N, C, H, W) of the pooling
  std::shared_ptr<Storage<std::int32_t>> argmax;

  NDArray<T> forward(const NDArray<T>& in) {
    const std::size_t in_plane = geom.H * geom.W, out_plane = geom.Ho * geom.Wo;
    const T* src = in.data();
    if constexpr (Kind == max_pool_gather) {
      NDArray<T> out(Shape{in_shape[0], in_shape[1], geom.Ho, geom.Wo});
      T* dst = out.data();
      const std::int32_t* idx = argmax->data();
      gluino::detail::parallel_for(planes, [&](std::size_t p) {
        for (std::size_t o = 0; o < out_plane; ++o) {
          const std::int32_t i = idx[p * out_plane + o];
          dst[p * out_plane + o] = i >= 0 ? src[p * in_plane + std::size_t(i)] : T(0);
        }
      }, out_plane + in_plane);
      return out;
    } else {
      NDArray<T> out(in_shape);
      T* dst = out.data();
      const bool inc = opt.count_include_pad;
      const std::int32_t* idx = Kind == max_pool_backward ? argmax->data() : nullptr;
      gluino::detail::parallel_for(planes, [&](std::size_t p) {
        if constexpr (Kind == max_pool_backward)
          kernels::max_pool2d_backward_plane(geom, src + p * out_plane, idx + p * out_plane, dst + p * in_plane);
        else
          kernels::avg_pool2d_backward_plane(geom, src + p * out_plane, dst + p * in_plane, inc);
      }, out_plane * geom.kh * geom.kw + in_plane);
      return out;
    }
  }
  /// The adjoint, by its kernel (first-order backward).
  std::vector<NDArray<T>> backward(const NDArray<T>& dy) { return {adjoint().forward(dy)}; }
  /// The adjoint, recorded.
  std::vector<NDArray<T>> backward_graph(const NDArray<T>& dy, const autograd::GraphArgs<T>&) {
    return {autograd::apply(adjoint(), dy)};
  }
  /// max_pool_backward <-> max_pool_gather; avg_pool_backward -> the average pooling itself.
  auto adjoint() const {
    if constexpr (Kind == avg_pool_backward) {
      Pooling<T> p;
      p.opt = opt;
      return p;
    } else {
      PoolGradPiece<T, Kind == max_pool_backward ? max_pool_gather : max_pool_backward> p;
      p.opt = opt, p.geom = geom, p.planes = planes, p.in_shape = in_shape, p.argmax = argmax;
      return p;
    }
  }
};
}  // namespace ops

/// 2-D pooling.  Gluon: nd.Pooling(x, kernel, pool_type, global_pool, pooling_convention,
/// stride, pad, count_include_pad).  x (N, C, H, W) -> (N, C, Ho, Wo) with
/// Ho = floor((H + 2 pad - kernel) / stride) + 1 (valid) or ceil(...) + 1 (full); (N, C, 1, 1)
/// when global_pool.  Throws ShapeError for a non-4-D input, an empty image (H or W of 0,
/// whatever the padding, as PyTorch; an empty batch is fine) or a kernel larger than the padded
/// input; ValueError for a zero kernel or stride, pad >= kernel, or a kernel or stride of 2^40
/// or more (a negative number converted to size_t).  Messages name the input's shape.
/// Differs from MXNet: a max window lying entirely in the padding (possible only with the full
/// convention) gives 0, not the lowest float.
template <class T>
NDArray<T> pooling(const NDArray<T>& x, PoolOptions opt = {}) {
  ops::Pooling<T> op;
  op.opt = opt;
  return autograd::apply(std::move(op), x);
}

/// Mean over each (H, W) plane: (N, C, H, W) -> (N, C, 1, 1).  Gluon: nn.GlobalAvgPool2D.
template <class T>
NDArray<T> global_avg_pool(const NDArray<T>& x) {
  return pooling(x, {.type = pool_type::avg, .global_pool = true});
}

/// Maximum over each (H, W) plane: (N, C, H, W) -> (N, C, 1, 1).  Gluon: nn.GlobalMaxPool2D.
template <class T>
NDArray<T> global_max_pool(const NDArray<T>& x) {
  return pooling(x, {.type = pool_type::max, .global_pool = true});
}

}  // namespace gluino::nd

// Precompiled mode (detail/precompiled.hpp): this header's float and double instantiations.
#define GLUINO_ND_POOL_INSTANTIATIONS(X, T) \
  X NDArray<T> pooling<T>(const NDArray<T>&, PoolOptions);
namespace gluino::nd {
GLUINO_EXTERN_INSTANTIATIONS(GLUINO_ND_POOL_INSTANTIATIONS)
}  // namespace gluino::nd
