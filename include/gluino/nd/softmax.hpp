// SPDX-License-Identifier: Apache-2.0
#pragma once
/// The softmax family: softmax, log_softmax (over any axis) and softmax_cross_entropy (per
/// sample, on class-index labels).  Gluon: nd.softmax, nd.log_softmax, nd.softmax_cross_entropy.
#include <cmath>
#include <limits>
#include <type_traits>
#include <vector>

#include "gluino/autograd/engine.hpp"
#include "gluino/core/ndarray.hpp"
#include "gluino/detail/precompiled.hpp"
#include "gluino/kernels/softmax.hpp"
#include "gluino/nd/elementwise.hpp"
#include "gluino/nd/reduce.hpp"
#include "gluino/nd/shape_ops.hpp"

namespace gluino::nd {
namespace ops {

/// y = exp(x - max) / sum(exp(x - max)) over one axis (Log: y = x - max - log(sum(exp(x - max)))).
/// Backward from the saved output: softmax dx = y * (dy - sum(dy * y)); log_softmax
/// dx = dy - exp(y) * sum(dy); sums over the same axis.
template <class T, bool Log>
struct Softmax : autograd::OpBase {
  static constexpr const char* name = Log ? "log_softmax" : "softmax";
  std::size_t outer = 0, n = 0, inner = 0;  // x viewed as (outer, n, inner), softmax over n
  int axis = -1;                            // as given (for graphs)
  NDArray<T> y;                             // saved output

  autograd::Attributes attributes() const { return {{"axis", std::int64_t(axis)}}; }  // for graphs (autograd/trace.hpp)

  NDArray<T> forward(const NDArray<T>& x) {
    NDArray<T> out(x.shape());
    kernels::softmax(x.data(), out.data(), outer, n, inner, Log);
    if (recording()) y = out;
    return out;
  }
  std::vector<NDArray<T>> backward(const NDArray<T>& dy) {
    NDArray<T> dx(y.shape());
    kernels::softmax_backward(y.data(), dy.data(), dx.data(), outer, n, inner, Log);
    return {dx};
  }
  /// dx from recorded ops (autograd::grad's create_graph), from the output y with its history.
  std::vector<NDArray<T>> backward_graph(const NDArray<T>& dy, const autograd::GraphArgs<T>& g) {
    const NDArray<T> out = g.output(y);
    if constexpr (Log)
      return {dy - nd::exp(out) * nd::sum(dy, std::vector<int>{axis}, true)};
    else
      return {out * (dy - nd::sum(dy * out, std::vector<int>{axis}, true))};
  }
};

/// loss[i] = -log_softmax(logits)[i, label[i]] for logits (N, C) and class indices label (N,).
/// Backward: dlogits[i, :] = dy[i] * (softmax(logits)[i, :] - onehot(label[i])); no label gradient.
template <class T>
struct SoftmaxCrossEntropy : autograd::OpBase {
  static constexpr const char* name = "softmax_cross_entropy";
  std::vector<std::size_t> label;  // the class indices forward read and checked, for backward
  NDArray<T> logp;                 // saved (N, C) log-probabilities

  /// Reads the labels here, not when the op is made, so that a graph replaying the op
  /// (hybridize) uses the labels it is given.
  NDArray<T> forward(const NDArray<T>& logits, const NDArray<T>& labels) {
    const std::size_t N = logits.shape()[0], C = logits.shape()[1];
    label.resize(N);
    const T* pin = labels.data();
    for (std::size_t i = 0; i < N; ++i) {
      const T v = pin[i];
      GLUINO_CHECK(ValueError, v == std::floor(v) && v >= T(0) && v < static_cast<T>(C), "softmax_cross_entropy: label ",
                   v, " at index ", i, " is not an integer class index in [0, ", C, ")");
      label[i] = static_cast<std::size_t>(v);
    }
    NDArray<T> lp(logits.shape()), loss(Shape{N});
    kernels::softmax(logits.data(), lp.data(), N, C, std::size_t{1}, true);
    const T* plp = lp.data();
    T* pl = loss.data();
    for (std::size_t i = 0; i < N; ++i) pl[i] = -plp[i * C + label[i]];
    if (recording()) logp = std::move(lp);
    return loss;
  }
  std::vector<NDArray<T>> backward(const NDArray<T>& dy) {
    NDArray<T> dx;
    if (needs_grad(0)) {
      const std::size_t N = logp.shape()[0], C = logp.shape()[1];
      dx = NDArray<T>(logp.shape());
      const T *plp = logp.data(), *g = dy.data();
      T* d = dx.data();
      gluino::detail::parallel_for(
          N,
          [&](std::size_t i) {
            for (std::size_t k = 0; k < C; ++k) d[i * C + k] = g[i] * std::exp(plp[i * C + k]);
            d[i * C + label[i]] -= g[i];
          },
          C * 8);
    }
    return {dx, NDArray<T>{}};
  }
  /// dlogits from recorded ops (autograd::grad's create_graph): dy[:, None] * (softmax(logits) -
  /// onehot(label)), labels constant.  The softmax is taken of the saved log-probabilities joined
  /// to the logits' history: logp is logits shifted by a constant per row, which changes neither
  /// softmax nor its Jacobian (so no copy of the logits is kept for this).
  std::vector<NDArray<T>> backward_graph(const NDArray<T>& dy, const autograd::GraphArgs<T>& g) {
    if (!needs_grad(0)) return {NDArray<T>{}, NDArray<T>{}};
    const std::size_t N = logp.shape()[0], C = logp.shape()[1];
    NDArray<T> onehot(logp.shape());
    onehot.fill(T(0));
    for (std::size_t i = 0; i < N; ++i) onehot.data()[i * C + label[i]] = T(1);
    Softmax<T, false> sm;
    sm.outer = N, sm.n = C, sm.inner = 1, sm.axis = 1;
    const NDArray<T> p = autograd::apply(std::move(sm), g.input(0, logp));
    return {reshape(dy, Shape{N, 1}) * (p - onehot), NDArray<T>{}};
  }
};

/// Views x as (outer, n, inner) around axis; ShapeError names op and shape when out of range.
inline void split_axis(const Shape& s, int axis, const char* op, std::size_t& outer, std::size_t& n,
                       std::size_t& inner) {
  const int nd = static_cast<int>(s.ndim());
  GLUINO_CHECK(ShapeError, axis >= -nd && axis < nd, op, ": axis ", axis, " out of range for shape ", s);
  const std::size_t a = s.normalize_axis(axis);
  outer = 1, inner = 1, n = s[a];
  for (std::size_t d = 0; d < a; ++d) outer *= s[d];
  for (std::size_t d = a + 1; d < s.ndim(); ++d) inner *= s[d];
}

}  // namespace ops

/// Softmax over one axis (default the last): exp(x) / sum(exp(x)), computed stably by
/// subtracting the maximum along the axis first.  Returns x's shape.  Gluon: nd.softmax(x, axis)
/// (MXNet's temperature and length options are not supported).  ShapeError for a bad axis.
template <class T>
NDArray<T> softmax(const NDArray<T>& x, int axis = -1) {
  ops::Softmax<T, false> op;
  op.axis = axis;
  ops::split_axis(x.shape(), axis, "softmax", op.outer, op.n, op.inner);
  return autograd::apply(std::move(op), x);
}

/// log(softmax(x)) over one axis (default the last), computed as x - max - log(sum(exp(x - max)))
/// so that it stays finite for huge inputs (1e4).  Gluon: nd.log_softmax(x, axis).
/// ShapeError for a bad axis.
template <class T>
NDArray<T> log_softmax(const NDArray<T>& x, int axis = -1) {
  ops::Softmax<T, true> op;
  op.axis = axis;
  ops::split_axis(x.shape(), axis, "log_softmax", op.outer, op.n, op.inner);
  return autograd::apply(std::move(op), x);
}

/// Per-sample softmax cross-entropy: logits (N, C), labels (N,) holding class indices stored as
/// T; returns the losses (N,) with loss[i] = -log_softmax(logits)[i, labels[i]].
/// Differs from MXNet: nd.softmax_cross_entropy returns the batch sum (one number); this returns
/// one loss per sample, the building block of gluon.loss.SoftmaxCrossEntropyLoss (take sum() for
/// MXNet's value).  The gradient flows to logits only (softmax - onehot, times dy); labels get none.
/// ShapeError when logits are not 2-D or labels are not (N,); ValueError naming the label and C
/// when a label is not an integer in [0, C) (so for any sample when C is 0), or when C is more
/// than T holds integers exactly (2^24 for float: a larger label would be rounded unseen).  An
/// empty batch (N = 0) gives an empty, recorded result.
template <class T>
NDArray<T> softmax_cross_entropy(const NDArray<T>& logits, const NDArray<T>& labels) {
  GLUINO_CHECK(ShapeError, logits.defined() && logits.ndim() == 2,
               "softmax_cross_entropy: logits must be 2-D (N, C), got shape ",
               logits.defined() ? logits.shape() : Shape{});
  const std::size_t N = logits.shape()[0], C = logits.shape()[1];
  GLUINO_CHECK(ShapeError, labels.defined() && labels.shape() == Shape{N},
               "softmax_cross_entropy: labels must have shape (", N, ",) for logits of shape ", logits.shape(),
               ", got ", labels.defined() ? labels.shape() : Shape{});
  GLUINO_CHECK(ValueError, C > 0 || N == 0, "softmax_cross_entropy: logits of shape ", logits.shape(),
               " have no classes: no label is in [0, 0)");
  constexpr int digits = std::numeric_limits<T>::digits;
  constexpr std::size_t exact = std::size_t(1) << digits;  // T holds every integer up to this
  GLUINO_CHECK(ValueError, C <= exact, "softmax_cross_entropy: ", C, " classes, more than ",
               std::is_same_v<T, float> ? "float" : "double", " labels name exactly (2^", digits, " = ", exact,
               "): a label above that is rounded to another class; use double (logits of shape ", logits.shape(),
               ")");
  return autograd::apply(ops::SoftmaxCrossEntropy<T>{}, logits, labels);
}

}  // namespace gluino::nd

// Precompiled mode (detail/precompiled.hpp): this header's float and double instantiations.
#define GLUINO_ND_SOFTMAX_INSTANTIATIONS(X, T) \
  X NDArray<T> softmax<T>(const NDArray<T>&, int); \
  X NDArray<T> log_softmax<T>(const NDArray<T>&, int); \
  X NDArray<T> softmax_cross_entropy<T>(const NDArray<T>&, const NDArray<T>&);
namespace gluino::nd {
GLUINO_EXTERN_INSTANTIATIONS(GLUINO_ND_SOFTMAX_INSTANTIATIONS)
}  // namespace gluino::nd
