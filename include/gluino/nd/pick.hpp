// SPDX-License-Identifier: Apache-2.0
#pragma once
/// pick: one element per lane along an axis, chosen by an index array.  Gluon: nd.pick.
#include <cmath>
#include <limits>
#include <type_traits>
#include <vector>

#include "gluino/autograd/engine.hpp"
#include "gluino/core/ndarray.hpp"
#include "gluino/detail/precompiled.hpp"
#include "gluino/nd/elementwise.hpp"
#include "gluino/nd/shape_ops.hpp"

namespace gluino::nd {
namespace ops {

/// y[o, i] = x[o, index[o, i], i] with x viewed as (outer, n, inner) around the axis.
/// Backward scatters dy into zeros at the picked positions; the index gets no gradient.
template <class T>
struct Pick : autograd::OpBase {
  static constexpr const char* name = "pick";
  std::size_t outer = 0, n = 0, inner = 0;
  Shape out_shape, in_shape;
  std::vector<std::size_t> idx;  // the indices forward read and checked, one per (outer, inner) lane

  /// Reads the indices here, not when the op is made, so that a graph replaying the op
  /// (hybridize) uses the indices it is given.
  NDArray<T> forward(const NDArray<T>& x, const NDArray<T>& index) {
    const T* pi = index.data();
    idx.resize(index.size());
    for (std::size_t k = 0; k < index.size(); ++k) {
      const T v = pi[k];
      GLUINO_CHECK(ValueError, v == std::floor(v) && v >= T(0) && v < static_cast<T>(n), "pick: index ", v,
                   " at position ", k, " is not an integer in [0, ", n, ")");
      idx[k] = static_cast<std::size_t>(v);
    }
    NDArray<T> y(out_shape);
    const T* px = x.data();
    T* py = y.data();
    for (std::size_t o = 0; o < outer; ++o)
      for (std::size_t i = 0; i < inner; ++i) py[o * inner + i] = px[(o * n + idx[o * inner + i]) * inner + i];
    return y;
  }
  std::vector<NDArray<T>> backward(const NDArray<T>& dy) {
    NDArray<T> dx;
    if (needs_grad(0)) {
      dx = NDArray<T>(in_shape);
      dx.fill(T(0));
      const T* g = dy.data();
      T* d = dx.data();
      for (std::size_t o = 0; o < outer; ++o)
        for (std::size_t i = 0; i < inner; ++i) d[(o * n + idx[o * inner + i]) * inner + i] = g[o * inner + i];
    }
    return {dx, NDArray<T>{}};
  }
  /// dx from recorded ops (autograd::grad's create_graph): dx is linear in dy, dy spread along
  /// the axis times the constant 0/1 mask of the picked positions, backward(ones).
  std::vector<NDArray<T>> backward_graph(const NDArray<T>& dy, const autograd::GraphArgs<T>&) {
    if (!needs_grad(0)) return {NDArray<T>{}, NDArray<T>{}};
    const Shape lanes{outer, n, inner};  // x viewed around the axis
    Reshape<T> as_lanes, back;
    as_lanes.to = Shape{outer, 1, inner};
    back.to = in_shape;
    BroadcastTo<T> spread;
    spread.to = lanes;
    const NDArray<T> mask = backward(dy.ones_like())[0].view_as(lanes);
    const NDArray<T> d = autograd::apply(std::move(spread), autograd::apply(std::move(as_lanes), dy)) * mask;
    return {autograd::apply(std::move(back), d), NDArray<T>{}};
  }
};

}  // namespace ops

/// Picks x's elements along `axis` at the positions given by `index` (class indices stored as T).
/// x: (d0, ..., d_axis, ..., dk); index: x's shape without `axis`, or with `axis` of size 1.
/// Returns x's shape without `axis` (keepdims = false) or with `axis` kept as 1.
/// Differentiable in x (the gradient goes to the picked positions only).  Gluon: nd.pick(x, index,
/// axis, keepdims).  Differs from Gluon: an out-of-range or non-integer index is a ValueError
/// (Gluon's default mode="clip" silently clips it).  ShapeError names both shapes.  ValueError
/// when the axis is longer than T holds integers exactly (2^24 for float, 2^53 for double): a
/// float index above 2^24 is rounded before pick sees it and would pick a wrong position.
template <class T>
NDArray<T> pick(const NDArray<T>& x, const NDArray<T>& index, int axis = -1, bool keepdims = false) {
  GLUINO_CHECK(ShapeError, x.defined() && index.defined(), "pick: needs a data array and an index array");
  const Shape& s = x.shape();
  const int nd = static_cast<int>(s.ndim());
  GLUINO_CHECK(ShapeError, nd >= 1 && axis >= -nd && axis < nd, "pick: axis ", axis, " out of range for shape ", s);
  const std::size_t a = s.normalize_axis(axis);
  constexpr int digits = std::numeric_limits<T>::digits;
  constexpr std::size_t exact = std::size_t(1) << digits;  // T holds every integer up to this
  GLUINO_CHECK(ValueError, s[a] <= exact, "pick: axis ", axis, " of shape ", s, " is longer than ",
               std::is_same_v<T, float> ? "float" : "double", " indices name exactly (2^", digits, " = ", exact,
               "): an index above that is rounded to another position; use double");
  ops::Pick<T> op;
  op.in_shape = s;
  op.outer = 1, op.inner = 1, op.n = s[a];
  Shape dropped, kept;
  for (std::size_t d = 0; d < s.ndim(); ++d) {
    if (d < a) op.outer *= s[d];
    if (d > a) op.inner *= s[d];
    kept.push_back(d == a ? 1 : s[d]);
    if (d != a) dropped.push_back(s[d]);
  }
  GLUINO_CHECK(ShapeError, index.shape() == dropped || index.shape() == kept, "pick: index of shape ", index.shape(),
               " does not match data of shape ", s, " along axis ", axis);
  op.out_shape = keepdims ? kept : dropped;
  return autograd::apply(std::move(op), x, index);
}

}  // namespace gluino::nd

// Precompiled mode (detail/precompiled.hpp): this header's float and double instantiations.
#define GLUINO_ND_PICK_INSTANTIATIONS(X, T) \
  X NDArray<T> pick<T>(const NDArray<T>&, const NDArray<T>&, int, bool);
namespace gluino::nd {
GLUINO_EXTERN_INSTANTIATIONS(GLUINO_ND_PICK_INSTANTIATIONS)
}  // namespace gluino::nd
