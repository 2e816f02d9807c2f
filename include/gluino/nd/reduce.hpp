// SPDX-License-Identifier: Apache-2.0
#pragma once
/// Reductions over any set of axes, with keepdims: sum, mean, max, min; and argmax.
/// Gluon: nd.sum / mean / max / min / argmax.  An empty axis list reduces over every axis.
#include <algorithm>
#include <limits>
#include <vector>

#include "gluino/autograd/engine.hpp"
#include "gluino/core/ndarray.hpp"
#include "gluino/detail/broadcast.hpp"
#include "gluino/detail/fold_lanes.hpp"
#include "gluino/detail/precompiled.hpp"
#include "gluino/nd/elementwise.hpp"
#include "gluino/nd/shape_ops.hpp"

namespace gluino::detail {
/// Which axes a reduction covers (all of them when `axes` is empty); checks range and repeats.
inline std::vector<bool> reduce_axes(const Shape& s, const std::vector<int>& axes, const char* op) {
  std::vector<bool> mask(s.ndim(), axes.empty());
  for (int a : axes) {
    const int n = static_cast<int>(s.ndim());
    GLUINO_CHECK(ShapeError, a >= -n && a < n, op, ": axis ", a, " out of range for shape ", s);
    const std::size_t k = static_cast<std::size_t>(a < 0 ? a + n : a);
    GLUINO_CHECK(ShapeError, !mask[k] || axes.empty(), op, ": axis ", a, " repeated");
    mask[k] = true;
  }
  return mask;
}
/// The shape with reduced axes kept as 1.
inline Shape keep_shape(const Shape& s, const std::vector<bool>& mask) {
  Shape out;
  for (std::size_t i = 0; i < s.ndim(); ++i) out.push_back(mask[i] ? 1 : s[i]);
  return out;
}
inline Shape drop_shape(const Shape& s, const std::vector<bool>& mask) {
  Shape out;
  for (std::size_t i = 0; i < s.ndim(); ++i)
    if (!mask[i]) out.push_back(s[i]);
  return out;
}
/// out (of keep_shape) = fold of x over the masked axes, starting from init.
template <class T, class F>
NDArray<T> fold(const NDArray<T>& x, const std::vector<bool>& mask, T init, F combine) {
  const Shape& s = x.shape();
  const Shape ks = keep_shape(s, mask);
  NDArray<T> out(ks);
  out.fill(init);
  const T* px = x.data();
  T* po = out.data();
  // Contiguous block of reduced axes [lo, hi): view x as (outer, r, inner).
  std::size_t lo = s.ndim(), hi = 0;
  for (std::size_t i = 0; i < s.ndim(); ++i)
    if (mask[i] && s[i] != 1) lo = std::min(lo, i), hi = i + 1;
  bool contiguous = true;
  for (std::size_t i = lo; i < hi; ++i) contiguous = contiguous && (mask[i] || s[i] == 1);
  if (lo >= hi) {  // nothing of size > 1 to reduce
    for (std::size_t i = 0, n = x.size(); i < n; ++i) po[i] = combine(po[i], px[i]);
    return out;
  }
  if (contiguous) {
    std::size_t outer = 1, r = 1, inner = 1;
    for (std::size_t i = 0; i < lo; ++i) outer *= s[i];
    for (std::size_t i = lo; i < hi; ++i) r *= s[i];
    for (std::size_t i = hi; i < s.ndim(); ++i) inner *= s[i];
    if (inner == 1) {  // each output folds a contiguous row: 8 independent lanes, so it vectorises
      detail::parallel_for(outer, [&](std::size_t o) { po[o] = fold_lanes(px + o * r, r, init, combine); }, r);
      return out;
    }
    for (std::size_t o = 0; o < outer; ++o)
      for (std::size_t k = 0; k < r; ++k) {
        const T* row = px + (o * r + k) * inner;
        T* dst = po + o * inner;
        for (std::size_t i = 0; i < inner; ++i) dst[i] = combine(dst[i], row[i]);
      }
    return out;
  }
  for_each_broadcast(s, s, ks, [&](std::size_t o, std::size_t, std::size_t j) { po[j] = combine(po[j], px[o]); });
  return out;
}
}  // namespace gluino::detail

namespace gluino::nd {
namespace ops {
/// Sum, mean, max or min over a set of axes.  Backward: dy spread over the reduced axes
/// (divided by the count for mean; only onto the extremal elements, ties included, for max/min).
/// max and min propagate NaN (np.max): a slice holding a NaN reduces to NaN.
template <class T>
struct Reduce : autograd::OpBase {
  enum class Kind { sum, mean, max, min };
  static constexpr const char* name = "reduce";
  Kind kind = Kind::sum;
  std::vector<int> axes;
  bool keepdims = false;
  autograd::Attributes attributes() const {  // for graphs
    static const char* names[] = {"sum", "mean", "max", "min"};
    return {{"kind", std::string(names[static_cast<int>(kind)])},
            {"axes", std::vector<std::int64_t>(axes.begin(), axes.end())},
            {"keepdims", std::int64_t(keepdims)}};
  }
  // Saved for max / min only (sum and mean need the shapes): the input and the returned output,
  // the very handle, so that an in-place change of the output is seen (keepdims or not).
  NDArray<T> x, y;
  Shape x_shape, keep_shape;  // keep_shape: the output with the reduced axes kept as 1
  std::vector<bool> mask;
  bool extremal() const { return kind == Kind::max || kind == Kind::min; }

  NDArray<T> forward(const NDArray<T>& in) {
    static const char* names[] = {"sum", "mean", "max", "min"};
    const char* op = names[static_cast<int>(kind)];
    mask = detail::reduce_axes(in.shape(), axes, op);
    NDArray<T> r;
    switch (kind) {
      case Kind::sum:
      case Kind::mean:
        r = detail::fold(in, mask, T(0), [](T a, T b) { return a + b; });
        break;
      case Kind::max:
        check_not_empty(in, op);
        r = detail::fold(in, mask, -std::numeric_limits<T>::infinity(), [](T a, T b) { return ((b > a) | (b != b)) ? b : a; });
        break;
      case Kind::min:
        check_not_empty(in, op);
        r = detail::fold(in, mask, std::numeric_limits<T>::infinity(), [](T a, T b) { return ((b < a) | (b != b)) ? b : a; });
        break;
    }
    if (kind == Kind::mean) {  // the mean of nothing is NaN (0 / 0), as NumPy and PyTorch
      const T inv = in.size() == 0 ? std::numeric_limits<T>::quiet_NaN() : T(double(r.size()) / double(in.size()));
      for (T& v : r) v *= inv;
    }
    x_shape = in.shape();
    keep_shape = r.shape();
    NDArray<T> out = keepdims ? r : r.view_as(detail::drop_shape(in.shape(), mask));
    if (recording() && extremal()) x = in, y = out;
    return out;
  }
  // max / min have no identity: ShapeError when an output element would reduce over nothing (a
  // reduced axis of length 0), as NumPy's "zero-size array to reduction operation maximum which
  // has no identity".  An empty output is fine: (0, 3) max over axis 1 is (0,).
  void check_not_empty(const NDArray<T>& in, const char* op) const {
    bool empty_output = false, empty_reduced = false;
    for (std::size_t i = 0; i < mask.size(); ++i) {
      if (in.shape()[i] != 0) continue;
      (mask[i] ? empty_reduced : empty_output) = true;
    }
    GLUINO_CHECK(ShapeError, !empty_reduced || empty_output, op,
                 ": zero-size reduction with no identity: an empty axis of shape ", in.shape(), " is reduced");
  }
  std::vector<NDArray<T>> backward(const NDArray<T>& dy) {
    const Shape& xs = x_shape;
    const Shape& ks = keep_shape;
    NDArray<T> g = dy.view_as(ks);
    NDArray<T> dx(xs);
    T* pd = dx.data();
    const T* pg = g.data();
    const bool ext = extremal();
    const T* px = ext ? x.data() : nullptr;
    const T* py = ext ? y.data() : nullptr;  // y's elements in keep_shape's order (the same data)
    const T scale = kind == Kind::mean ? T(double(ks.size()) / double(std::max<std::size_t>(1, xs.size()))) : T(1);
    gluino::detail::for_each_broadcast(xs, xs, ks, [&](std::size_t o, std::size_t, std::size_t j) {
      // A NaN maximum (NaN propagates, as NumPy) sends dy to the NaNs.
      pd[o] = ext ? ((px[o] == py[j]) | ((px[o] != px[o]) & (py[j] != py[j])) ? pg[j] : T(0)) : pg[j] * scale;
    });
    return {dx};
  }
  /// dx from recorded ops (autograd::grad's create_graph).  dx is linear in dy: dy spread over
  /// the reduced axes times a constant, backward(ones) (1, 1 / count, or the extremal mask).
  std::vector<NDArray<T>> backward_graph(const NDArray<T>& dy, const autograd::GraphArgs<T>&) {
    Reshape<T> keep;
    keep.to = keep_shape;
    BroadcastTo<T> spread;
    spread.to = x_shape;
    return {autograd::apply(std::move(spread), autograd::apply(std::move(keep), dy)) * backward(dy.ones_like())[0]};
  }
};
/// The index of the largest element along an axis (the first of equal ones), as T; a NaN counts
/// as the largest (the first NaN, as np.argmax and torch.argmax, and as max).  An op (no gradient:
/// the result is piecewise constant), so that a traced graph recomputes it from its input on every
/// run instead of keeping the traced call's result as a constant.
template <class T>
struct Argmax : autograd::OpBase {
  static constexpr const char* name = "argmax";
  int axis = -1;
  bool keepdims = false;
  std::size_t outer = 1, n = 1, inner = 1;
  Shape out_shape;
  autograd::Attributes attributes() const {  // for graphs
    return {{"axis", std::int64_t(axis)}, {"keepdims", std::int64_t(keepdims)}};
  }
  NDArray<T> forward(const NDArray<T>& x) const {
    NDArray<T> out(out_shape);
    const T* px = x.data();
    T* po = out.data();
    for (std::size_t o = 0; o < outer; ++o)
      for (std::size_t i = 0; i < inner; ++i) {
        const T* p = px + o * n * inner + i;
        std::size_t best = 0;
        for (std::size_t k = 1; k < n; ++k) {
          const T v = p[k * inner], b = p[best * inner];
          if (v > b || (v != v && b == b)) best = k;
        }
        po[o * inner + i] = static_cast<T>(best);
      }
    return out;
  }
  std::vector<NDArray<T>> backward(const NDArray<T>&) const { return {NDArray<T>{}}; }
};

}  // namespace ops

}  // namespace gluino::nd

namespace gluino::detail {
template <class T>
NDArray<T> reduce(const NDArray<T>& x, typename nd::ops::Reduce<T>::Kind kind, const std::vector<int>& axes, bool keepdims) {
  nd::ops::Reduce<T> op;
  op.kind = kind;
  op.axes = axes;
  op.keepdims = keepdims;
  return autograd::apply(std::move(op), x);
}
}  // namespace gluino::detail

namespace gluino::nd {

/// Sum over `axes` (all when empty); keepdims keeps reduced axes as 1.  Gluon: nd.sum.
template <class T>
NDArray<T> sum(const NDArray<T>& x, const std::vector<int>& axes, bool keepdims) {
  return detail::reduce(x, ops::Reduce<T>::Kind::sum, axes, keepdims);
}
template <class T>
NDArray<T> mean(const NDArray<T>& x, const std::vector<int>& axes, bool keepdims) {
  return detail::reduce(x, ops::Reduce<T>::Kind::mean, axes, keepdims);
}
template <class T>
NDArray<T> max(const NDArray<T>& x, const std::vector<int>& axes, bool keepdims) {
  return detail::reduce(x, ops::Reduce<T>::Kind::max, axes, keepdims);
}
template <class T>
NDArray<T> min(const NDArray<T>& x, const std::vector<int>& axes, bool keepdims) {
  return detail::reduce(x, ops::Reduce<T>::Kind::min, axes, keepdims);
}
template <class T> NDArray<T> sum(const NDArray<T>& x) { return sum(x, {}, false); }
template <class T> NDArray<T> mean(const NDArray<T>& x) { return mean(x, {}, false); }
template <class T> NDArray<T> max(const NDArray<T>& x) { return max(x, {}, false); }
template <class T> NDArray<T> min(const NDArray<T>& x) { return min(x, {}, false); }
template <class T> NDArray<T> sum(const NDArray<T>& x, int axis, bool keepdims = false) { return sum(x, std::vector<int>{axis}, keepdims); }
template <class T> NDArray<T> mean(const NDArray<T>& x, int axis, bool keepdims = false) { return mean(x, std::vector<int>{axis}, keepdims); }
template <class T> NDArray<T> max(const NDArray<T>& x, int axis, bool keepdims = false) { return max(x, std::vector<int>{axis}, keepdims); }
template <class T> NDArray<T> min(const NDArray<T>& x, int axis, bool keepdims = false) { return min(x, std::vector<int>{axis}, keepdims); }

/// Index (as T) of the first largest element along `axis`, or of the first NaN (np.argmax).  Not
/// differentiable (not recorded).
/// Gluon: nd.argmax.
template <class T>
NDArray<T> argmax(const NDArray<T>& x, int axis, bool keepdims) {
  const Shape& s = x.shape();
  const int nd = static_cast<int>(s.ndim());
  GLUINO_CHECK(ShapeError, axis >= -nd && axis < nd, "argmax: axis ", axis, " out of range for shape ", s);
  const std::size_t a = s.normalize_axis(axis);
  GLUINO_CHECK(ShapeError, s[a] > 0, "argmax: axis ", axis, " of shape ", s, " is empty");
  ops::Argmax<T> op;
  op.axis = axis;
  op.keepdims = keepdims;
  for (std::size_t i = 0; i < a; ++i) op.outer *= s[i];
  for (std::size_t i = a + 1; i < s.ndim(); ++i) op.inner *= s[i];
  op.n = s[a];
  std::vector<bool> mask(s.ndim(), false);
  mask[a] = true;
  op.out_shape = keepdims ? detail::keep_shape(s, mask) : detail::drop_shape(s, mask);
  autograd::pause not_recorded(autograd::is_training());  // no gradient: never part of a recorded graph
  return autograd::apply(std::move(op), x);
}
template <class T> NDArray<T> argmax(const NDArray<T>& x, int axis = -1) { return argmax(x, axis, false); }

}  // namespace gluino::nd

namespace gluino::detail {
/// NDArray's reduction methods (see core/ndarray.hpp).
template <class A>
struct ndarray_reduce_ops {
  static A sum(const A& x, const std::vector<int>& axes, bool keepdims) { return nd::sum(x, axes, keepdims); }
  static A mean(const A& x, const std::vector<int>& axes, bool keepdims) { return nd::mean(x, axes, keepdims); }
  static A max(const A& x, const std::vector<int>& axes, bool keepdims) { return nd::max(x, axes, keepdims); }
  static A min(const A& x, const std::vector<int>& axes, bool keepdims) { return nd::min(x, axes, keepdims); }
  static A argmax(const A& x, int axis, bool keepdims) { return nd::argmax(x, axis, keepdims); }
};
}  // namespace gluino::detail

// Precompiled mode (detail/precompiled.hpp): this header's float and double instantiations.
#define GLUINO_ND_REDUCE_INSTANTIATIONS(X, T) \
  X NDArray<T> sum<T>(const NDArray<T>&, const std::vector<int>&, bool); \
  X NDArray<T> mean<T>(const NDArray<T>&, const std::vector<int>&, bool); \
  X NDArray<T> max<T>(const NDArray<T>&, const std::vector<int>&, bool); \
  X NDArray<T> min<T>(const NDArray<T>&, const std::vector<int>&, bool); \
  X NDArray<T> argmax<T>(const NDArray<T>&, int, bool);
namespace gluino::nd {
GLUINO_EXTERN_INSTANTIATIONS(GLUINO_ND_REDUCE_INSTANTIATIONS)
}  // namespace gluino::nd
