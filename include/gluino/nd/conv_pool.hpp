// SPDX-License-Identifier: Apache-2.0
#pragma once
/// A 2-D convolution (with or without its ReLU) and the max pooling of its output as one op:
/// nd::pooling(nd::convolution_relu(x, w, b), pool) with the convolution's output never stored
/// (kernels/conv2d_pool.hpp).  No Gluon function: nn::Sequential runs it for a Conv2D followed
/// by a MaxPool2D (docs/conv-and-pooling.md).
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "gluino/autograd/engine.hpp"
#include "gluino/core/ndarray.hpp"
#include "gluino/detail/precompiled.hpp"
#include "gluino/kernels/conv2d_pool.hpp"
#include "gluino/nd/conv.hpp"
#include "gluino/nd/elementwise.hpp"
#include "gluino/nd/pool.hpp"

namespace gluino::nd {

namespace ops {
/// y = max pooling(conv2d(x, w) + b), or of its ReLU with `relu`.  x (N, C, H, W), w (O, C /
/// groups, kh, kw), b (O) or undefined; y (N, O, Ho', Wo') where (Ho, Wo) is the convolution's
/// output size and (Ho', Wo') the pooling's of that.  Forward saves the arg-max (when recording)
/// and, with relu, the pooled output; backward scatters dy to the arg-max positions (masked by
/// the pooled output's sign with relu: the ReLU's derivative there) and runs the convolution's
/// backward on that, as the two ops' backwards would (kernels::conv2d_max_pool_backward: the
/// wide kernels take it without an array of the convolution's output gradient).
template <class T>
struct ConvolutionMaxPool : autograd::OpBase {
  static constexpr const char* name = "convolution_max_pool";
  ConvOptions conv_opt;
  PoolOptions pool_opt;
  bool relu = false;
  kernels::Conv2DGeometry geom;
  kernels::Pool2DGeometry pool_geom;
  NDArray<T> x, w, y;  // saved for backward: x when w needs a gradient, w when x does, y with relu
  std::shared_ptr<Storage<std::int32_t>> argmax;  // (N * O * Ho' * Wo') positions within a plane

  /// For graphs (autograd/trace.hpp): the convolution's attributes, then the pooling's with
  /// "pool_" before each name.
  autograd::Attributes attributes() const {
    Convolution<T> c;
    c.opt = conv_opt, c.relu = relu;
    Pooling<T> p;
    p.opt = pool_opt;
    autograd::Attributes a = c.attributes();
    for (auto& [k, v] : p.attributes())
      if (k != "relu") a.emplace_back("pool_" + k, v);
    return a;
  }

  NDArray<T> forward(const NDArray<T>& in, const NDArray<T>& weight, const NDArray<T>& bias) {
    geom = Convolution<T>::make_geometry(in, weight, bias, conv_opt);
    GLUINO_CHECK(ValueError, pool_opt.type == pool_type::max, "convolution_max_pool: the pooling must be max pooling",
                 ": input ", in.shape(), " vs weight ", weight.shape());
    pool_geom = Pooling<T>::make_geometry(Shape{geom.N, geom.O, geom.Ho, geom.Wo}, pool_opt);
    NDArray<T> out(Shape{geom.N, geom.O, pool_geom.Ho, pool_geom.Wo});
    std::int32_t* idx = nullptr;
    if (recording()) {
      argmax = std::make_shared<Storage<std::int32_t>>(std::max<std::size_t>(out.size(), 1));
      idx = argmax->data();
    }
    kernels::conv2d_max_pool_forward(geom, pool_geom, in.data(), weight.data(),
                                     bias.defined() ? bias.data() : nullptr, relu, out.data(), idx);
    if (needs_grad(1)) x = in;
    if (needs_grad(0)) w = weight;
    if (relu && recording()) y = out;
    return out;
  }

  /// Writes each gradient into dest[i] when the engine offers that buffer (a parameter's grad()).
  std::vector<NDArray<T>> backward(const NDArray<T>& dy, const std::vector<NDArray<T>>& dest) {
    std::vector<NDArray<T>> d = conv().grad_arrays(dest);
    auto ptr = [](NDArray<T>& a) { return Convolution<T>::data_or_null(a); };
    kernels::conv2d_max_pool_backward(geom, pool_geom, ptr(x), ptr(w), dy.data(), argmax->data(),
                                      relu ? y.data() : nullptr, ptr(d[0]), ptr(d[1]), ptr(d[2]));
    return d;
  }
  /// The gradients from recorded ops (autograd::grad's create_graph): dy masked by y > 0 with
  /// relu, max_pool_backward (the pooling's recorded gradient piece), then the convolution's
  /// recorded gradient.
  std::vector<NDArray<T>> backward_graph(const NDArray<T>& dy, const autograd::GraphArgs<T>& g) {
    PoolGradPiece<T, max_pool_backward> piece;
    piece.opt = pool_opt, piece.geom = pool_geom, piece.planes = geom.N * geom.O, piece.argmax = argmax;
    piece.in_shape = Shape{geom.N, geom.O, geom.Ho, geom.Wo};
    const NDArray<T> d = relu ? dy * constant_map(y, [](T v) { return v > T(0) ? T(1) : T(0); }) : dy;
    return conv().backward_graph(autograd::apply(std::move(piece), d), g);
  }

 private:
  // The convolution (without its ReLU: backward masks dy before) with what this op saved.
  Convolution<T> conv() const {
    Convolution<T> c;
    c.needs_grad_mask = needs_grad_mask;
    c.opt = conv_opt, c.geom = geom, c.x = x, c.w = w;
    return c;
  }
};
}  // namespace ops

/// max pooling(convolution(x, weight, bias, conv), pool), with relu(convolution(...)) before the
/// pooling when `relu`, as one op: the same values and gradients as nd::pooling of
/// nd::convolution (or nd::convolution_relu), without storing the convolution's output (its
/// backward keeps the arg-max and, with relu, the pooled output).  What nn::Sequential runs for
/// a Conv2D (no activation, or "relu") followed by a MaxPool2D.  The errors of convolution and
/// pooling (the latter naming the convolution's output shape as its input); ValueError when
/// pool.type is not max.
template <class T>
NDArray<T> convolution_max_pool(const NDArray<T>& x, const NDArray<T>& weight, const NDArray<T>& bias,
                                ConvOptions conv, PoolOptions pool, bool relu) {
  ops::ConvolutionMaxPool<T> op;
  op.conv_opt = conv, op.pool_opt = pool, op.relu = relu;
  return autograd::apply(std::move(op), x, weight, bias);
}

}  // namespace gluino::nd

// Precompiled mode (detail/precompiled.hpp): this header's float and double instantiations.
#define GLUINO_ND_CONV_POOL_INSTANTIATIONS(X, T) \
  X NDArray<T> convolution_max_pool<T>(const NDArray<T>&, const NDArray<T>&, const NDArray<T>&, ConvOptions, \
                                       PoolOptions, bool);
namespace gluino::nd {
GLUINO_EXTERN_INSTANTIATIONS(GLUINO_ND_CONV_POOL_INSTANTIATIONS)
}  // namespace gluino::nd
