// SPDX-License-Identifier: Apache-2.0
#pragma once
/// Shape ops: reshape, flatten, expand_dims and first-axis slices (views that share storage),
/// transpose, broadcast_to, concat and stack (copies).  Gluon: nd.reshape, nd.flatten, ...
#include <initializer_list>
#include <numeric>
#include <sstream>
#include <vector>

#include "gluino/autograd/engine.hpp"
#include "gluino/core/ndarray.hpp"
#include "gluino/detail/broadcast.hpp"
#include "gluino/detail/precompiled.hpp"

namespace gluino::nd {
namespace ops {

/// A view with another shape; backward views dy with the input's shape.
template <class T>
struct Reshape : autograd::OpBase {
  static constexpr const char* name = "reshape";
  Shape to, from;
  autograd::Attributes attributes() const { return {{"shape", std::vector<std::int64_t>(to.begin(), to.end())}}; }  // for graphs
  NDArray<T> forward(const NDArray<T>& x) {
    from = x.shape();
    return x.view_as(to);
  }
  std::vector<NDArray<T>> backward(const NDArray<T>& dy) { return {dy.view_as(from)}; }
  std::vector<NDArray<T>> backward_graph(const NDArray<T>& dy, const autograd::GraphArgs<T>&) {
    Reshape back;
    back.to = from;
    return {autograd::apply(std::move(back), dy)};
  }
};

/// Rows [begin, end) of the first axis, as a view; backward scatters dy into zeros
/// (slice_axis_backward, below, as a recorded op).
template <class T>
struct SliceAxis0 : autograd::OpBase {
  static constexpr const char* name = "slice";
  std::size_t begin = 0, end = 0;
  autograd::Attributes attributes() const {  // for graphs: rows [begin, end) of axis 0
    return {{"begin", std::int64_t(begin)}, {"end", std::int64_t(end)}};
  }
  Shape from;
  std::size_t row() const { return from[0] == 0 ? 0 : from.size() / from[0]; }
  NDArray<T> forward(const NDArray<T>& x) {
    from = x.shape();
    Shape s = from;
    s[0] = end - begin;
    return x.view_as(s, begin * row());
  }
  std::vector<NDArray<T>> backward(const NDArray<T>& dy) {
    NDArray<T> dx(from);
    dx.fill(T(0));
    std::copy(dy.begin(), dy.end(), dx.data() + begin * row());
    return {dx};
  }
  /// dx from a recorded op (autograd::grad's create_graph): slice_axis_backward along axis 0.
  std::vector<NDArray<T>> backward_graph(const NDArray<T>& dy, const autograd::GraphArgs<T>&);
};

/// Elements [begin, end) along axis `axis` of an array of shape `from`, copied: the recorded
/// gradient of concat and stack (create_graph), and the backward of SliceAxisBackward.
/// Backward scatters dy into zeros at those positions (SliceAxisBackward, as a recorded op).
template <class T>
struct SliceAxis : autograd::OpBase {
  static constexpr const char* name = "slice_axis";
  std::size_t axis = 0, begin = 0, end = 0;
  Shape from;
  autograd::Attributes attributes() const {  // for graphs
    return {{"axis", std::int64_t(axis)}, {"begin", std::int64_t(begin)}, {"end", std::int64_t(end)}};
  }
  Shape out_shape() const {
    Shape s = from;
    s[axis] = end - begin;
    return s;
  }
  /// Calls fn(o, k, at): block o of `outer` moves k elements between the slice's offset o * k and
  /// the full array's offset `at`.
  template <class Fn>
  void blocks(Fn&& fn) const {
    std::size_t outer = 1, inner = 1;
    for (std::size_t i = 0; i < axis; ++i) outer *= from[i];
    for (std::size_t i = axis + 1; i < from.ndim(); ++i) inner *= from[i];
    const std::size_t k = (end - begin) * inner;
    for (std::size_t o = 0; o < outer; ++o) fn(o * k, k, (o * from[axis] + begin) * inner);
  }
  NDArray<T> forward(const NDArray<T>& x) {
    NDArray<T> y(out_shape());
    const T* px = x.data();
    T* py = y.data();
    blocks([&](std::size_t part, std::size_t k, std::size_t at) { std::copy(px + at, px + at + k, py + part); });
    return y;
  }
  std::vector<NDArray<T>> backward(const NDArray<T>& dy) {
    NDArray<T> dx(from);
    dx.fill(T(0));
    const T* pg = dy.data();
    T* pd = dx.data();
    blocks([&](std::size_t part, std::size_t k, std::size_t at) { std::copy(pg + part, pg + part + k, pd + at); });
    return {dx};
  }
  /// dx from a recorded op (autograd::grad's create_graph): slice_axis_backward.
  std::vector<NDArray<T>> backward_graph(const NDArray<T>& dy, const autograd::GraphArgs<T>&);
};

/// slice_axis's gradient as a differentiable op (its recorded gradient, create_graph): dy written
/// into zeros of the full shape at the slice's positions.  Linear in dy; its backward is the
/// slice itself, whose backward is this op again.
template <class T>
struct SliceAxisBackward : autograd::OpBase {
  static constexpr const char* name = "slice_axis_backward";
  SliceAxis<T> slice;

  NDArray<T> forward(const NDArray<T>& dy) { return slice.backward(dy)[0]; }
  std::vector<NDArray<T>> backward(const NDArray<T>& g) { return {slice.forward(g)}; }
  std::vector<NDArray<T>> backward_graph(const NDArray<T>& g, const autograd::GraphArgs<T>&) {
    return {autograd::apply(slice, g)};
  }
};

template <class T>
std::vector<NDArray<T>> SliceAxis<T>::backward_graph(const NDArray<T>& dy, const autograd::GraphArgs<T>&) {
  SliceAxisBackward<T> op;
  op.slice = *this;
  return {autograd::apply(std::move(op), dy)};
}

template <class T>
std::vector<NDArray<T>> SliceAxis0<T>::backward_graph(const NDArray<T>& dy, const autograd::GraphArgs<T>&) {
  SliceAxisBackward<T> op;
  op.slice.axis = 0, op.slice.begin = begin, op.slice.end = end, op.slice.from = from;
  return {autograd::apply(std::move(op), dy)};
}

/// Permutes the axes (a copy); backward applies the inverse permutation.
template <class T>
struct Transpose : autograd::OpBase {
  static constexpr const char* name = "transpose";
  std::vector<std::size_t> axes;
  autograd::Attributes attributes() const { return {{"axes", std::vector<std::int64_t>(axes.begin(), axes.end())}}; }  // for graphs
  static NDArray<T> permute(const NDArray<T>& x, const std::vector<std::size_t>& perm) {
    const Shape& s = x.shape();
    Shape out;
    for (std::size_t a : perm) out.push_back(s[a]);
    NDArray<T> y(out);
    const auto st = s.strides();
    const std::size_t nd = s.ndim();
    if (nd == 2 && perm[0] == 1) {  // plain matrix transpose, blocked for the cache
      const std::size_t r = s[0], c = s[1];
      const T* px = x.data();
      T* py = y.data();
      for (std::size_t i0 = 0; i0 < r; i0 += 32)
        for (std::size_t j0 = 0; j0 < c; j0 += 32)
          for (std::size_t i = i0; i < std::min(r, i0 + 32); ++i)
            for (std::size_t j = j0; j < std::min(c, j0 + 32); ++j) py[j * r + i] = px[i * c + j];
      return y;
    }
    std::vector<std::size_t> src_stride(nd);
    for (std::size_t i = 0; i < nd; ++i) src_stride[i] = st[perm[i]];
    std::vector<std::size_t> idx(nd, 0);
    const T* px = x.data();
    T* py = y.data();
    std::size_t src = 0;
    for (std::size_t o = 0, n = y.size(); o < n; ++o) {
      py[o] = px[src];
      for (std::size_t d = nd; d-- > 0;) {
        ++idx[d];
        src += src_stride[d];
        if (idx[d] < out[d]) break;
        src -= src_stride[d] * idx[d];
        idx[d] = 0;
      }
    }
    return y;
  }
  NDArray<T> forward(const NDArray<T>& x) { return permute(x, axes); }
  std::vector<std::size_t> inverse() const {
    std::vector<std::size_t> inv(axes.size());
    for (std::size_t i = 0; i < axes.size(); ++i) inv[axes[i]] = i;
    return inv;
  }
  std::vector<NDArray<T>> backward(const NDArray<T>& dy) { return {permute(dy, inverse())}; }
  std::vector<NDArray<T>> backward_graph(const NDArray<T>& dy, const autograd::GraphArgs<T>&) {
    Transpose back;
    back.axes = inverse();
    return {autograd::apply(std::move(back), dy)};
  }
};

/// Stretches size-1 (or missing leading) axes; backward sums dy back to the input's shape.
template <class T>
struct BroadcastTo : autograd::OpBase {
  static constexpr const char* name = "broadcast_to";
  Shape to, from;
  autograd::Attributes attributes() const { return {{"shape", std::vector<std::int64_t>(to.begin(), to.end())}}; }  // for graphs
  NDArray<T> forward(const NDArray<T>& x) {
    from = x.shape();
    return gluino::detail::broadcast_copy(x, to, name);
  }
  std::vector<NDArray<T>> backward(const NDArray<T>& dy) { return {gluino::detail::sum_to(dy, from)}; }
  std::vector<NDArray<T>> backward_graph(const NDArray<T>& dy, const autograd::GraphArgs<T>&);
};

/// The sum of x over the axes along which `to` broadcasts to x's shape, giving `to`: BroadcastTo's
/// gradient, and so each other's backward.  Used by the recorded gradients of broadcasting ops.
template <class T>
struct SumTo : autograd::OpBase {
  static constexpr const char* name = "sum_to";
  Shape to, from;
  NDArray<T> forward(const NDArray<T>& x) {
    from = x.shape();
    return gluino::detail::sum_to(x, to);
  }
  std::vector<NDArray<T>> backward(const NDArray<T>& dy) { return {gluino::detail::broadcast_copy(dy, from, name)}; }
  std::vector<NDArray<T>> backward_graph(const NDArray<T>& dy, const autograd::GraphArgs<T>&) {
    BroadcastTo<T> back;
    back.to = from;
    return {autograd::apply(std::move(back), dy)};
  }
};
template <class T>
std::vector<NDArray<T>> BroadcastTo<T>::backward_graph(const NDArray<T>& dy, const autograd::GraphArgs<T>&) {
  SumTo<T> back;
  back.to = from;
  return {autograd::apply(std::move(back), dy)};
}

/// Joins arrays along an axis (concat) or along a new axis (stack); backward splits dy.
template <class T>
struct Concat : autograd::OpBase {
  static constexpr const char* name = "concat";
  int axis = 0;
  bool new_axis = false;  // stack
  autograd::Attributes attributes() const {  // for graphs
    return {{"axis", std::int64_t(axis)}, {"new_axis", std::int64_t(new_axis)}};
  }
  std::size_t ax = 0;
  std::vector<Shape> shapes;
  NDArray<T> forward(const std::vector<NDArray<T>>& xs) {
    const char* op = new_axis ? "stack" : "concat";
    GLUINO_CHECK(ValueError, !xs.empty(), op, ": needs at least one array");
    for (std::size_t i = 0; i < xs.size(); ++i)
      GLUINO_CHECK(StateError, xs[i].defined(), op, ": array ", i, " of ", xs.size(),
                   " is empty (default-constructed)");
    Shape first = xs[0].shape();
    Shape base = first;
    if (new_axis) {  // stack: insert a 1 at axis, then concatenate
      GLUINO_CHECK(ShapeError, first.ndim() < Shape::max_dims, op, ": arrays of shape ", first, " have ",
                   Shape::max_dims, " axes already, the most an array has");
      const int n = static_cast<int>(first.ndim()) + 1;
      GLUINO_CHECK(ShapeError, axis >= -n && axis < n, op, ": axis ", axis, " out of range for shape ", first);
      ax = static_cast<std::size_t>(axis < 0 ? axis + n : axis);
      Shape s;
      for (std::size_t i = 0; i < first.ndim(); ++i) {
        if (i == ax) s.push_back(1);
        s.push_back(first[i]);
      }
      if (ax == first.ndim()) s.push_back(1);
      base = s;
    } else {
      const int n = static_cast<int>(first.ndim());
      GLUINO_CHECK(ShapeError, axis >= -n && axis < n, op, ": axis ", axis, " out of range for shape ", first);
      ax = first.normalize_axis(axis);
    }
    shapes.clear();
    std::size_t total = 0;
    for (const auto& x : xs) {
      Shape s = x.shape();
      GLUINO_CHECK(ShapeError, s.ndim() == first.ndim(), op, ": all arrays need ", first.ndim(), " axes; got ", first,
                   " and ", s);
      for (std::size_t i = 0; i < s.ndim(); ++i)
        GLUINO_CHECK(ShapeError, new_axis ? s[i] == first[i] : (i == ax || s[i] == first[i]), op, ": shapes ", first,
                     " and ", s, new_axis ? " differ" : " differ outside the concatenation axis");
      shapes.push_back(s);
      GLUINO_CHECK(ShapeError, !gluino::detail::add_overflows(total, new_axis ? 1 : s[ax], &total), op,
                   ": the joined axis ", ax, " overflows std::size_t (shapes ", first, " and ", s, ")");
    }
    Shape out = base;
    out[ax] = total;
    std::size_t outer = 1, inner = 1;
    for (std::size_t i = 0; i < ax; ++i) outer *= out[i];
    for (std::size_t i = ax + 1; i < out.ndim(); ++i) inner *= out[i];
    NDArray<T> y(out);
    std::size_t at = 0;
    for (const auto& x : xs) {
      const std::size_t len = new_axis ? 1 : x.shape()[ax];  // not k / inner: inner is 0 for a (2, 3, 0)
      const std::size_t k = len * inner;
      for (std::size_t o = 0; o < outer; ++o)
        std::copy(x.data() + o * k, x.data() + (o + 1) * k, y.data() + o * total * inner + at * inner);
      at += len;
    }
    return y;
  }
  std::vector<NDArray<T>> backward(const NDArray<T>& dy) {
    const Shape& s = dy.shape();
    std::size_t outer = 1, inner = 1;
    for (std::size_t i = 0; i < ax; ++i) outer *= s[i];
    for (std::size_t i = ax + 1; i < s.ndim(); ++i) inner *= s[i];
    std::vector<NDArray<T>> gs;
    std::size_t at = 0;
    for (std::size_t j = 0; j < shapes.size(); ++j) {
      const std::size_t len = new_axis ? 1 : shapes[j][ax];
      NDArray<T> g(shapes[j]);
      if (needs_grad(j)) {
        const std::size_t k = len * inner;
        for (std::size_t o = 0; o < outer; ++o)
          std::copy(dy.data() + o * s[ax] * inner + at * inner, dy.data() + o * s[ax] * inner + at * inner + k,
                    g.data() + o * k);
        gs.push_back(g);
      } else {
        gs.emplace_back();
      }
      at += len;
    }
    return gs;
  }
  /// The gradients from recorded ops (autograd::grad's create_graph): each input's slice of dy
  /// along the axis (slice_axis), reshaped to the input's shape for stack.
  std::vector<NDArray<T>> backward_graph(const NDArray<T>& dy, const autograd::GraphArgs<T>&) {
    std::vector<NDArray<T>> gs(shapes.size());
    std::size_t at = 0;
    for (std::size_t j = 0; j < shapes.size(); ++j) {
      const std::size_t len = new_axis ? 1 : shapes[j][ax];
      if (needs_grad(j)) {
        SliceAxis<T> part;
        part.axis = ax, part.begin = at, part.end = at + len, part.from = dy.shape();
        gs[j] = autograd::apply(std::move(part), dy);
        if (new_axis) {
          Reshape<T> drop;
          drop.to = shapes[j];
          gs[j] = autograd::apply(std::move(drop), gs[j]);
        }
      }
      at += len;
    }
    return gs;
  }
};
}  // namespace ops

/// Same data with a new shape; one entry may be -1 (inferred).  ShapeError naming both shapes
/// when the sizes differ or the target's size overflows (a 0 dimension makes it 0).
template <class T>
NDArray<T> reshape(const NDArray<T>& x, const std::vector<long long>& shape) {
  GLUINO_CHECK(ShapeError, shape.size() <= Shape::max_dims, "reshape: a target shape of ", shape.size(),
               " axes, more than the ", Shape::max_dims, " an array has (input ", x.shape(), ")");
  Shape to;
  std::size_t known = 1;  // product of the given dimensions, checked: the target comes from the user
  bool overflow = false, has_zero = false;
  int infer = -1;
  for (std::size_t i = 0; i < shape.size(); ++i) {
    GLUINO_CHECK(ShapeError, shape[i] >= -1, "reshape: bad dimension ", shape[i], " for shape ", x.shape());
    if (shape[i] == -1) {
      GLUINO_CHECK(ShapeError, infer < 0, "reshape: more than one -1 in the target shape (input ", x.shape(), ")");
      infer = static_cast<int>(i);
      to.push_back(1);
    } else {
      const auto d = static_cast<std::size_t>(shape[i]);
      to.push_back(d);
      overflow |= gluino::detail::mul_overflows(known, d, &known);
      has_zero |= d == 0;
    }
  }
  if (has_zero) known = 0;  // whatever overflowed before the 0
  if (overflow && !has_zero) {
    std::ostringstream target;  // as given, with its -1
    target << '(';
    for (std::size_t i = 0; i < shape.size(); ++i) target << (i ? ", " : "") << shape[i];
    target << (shape.size() == 1 ? ",)" : ")");
    gluino::detail::raise<ShapeError>("reshape: cannot reshape array of shape ", x.shape(), " (", x.size(),
                                      " elements) into shape ", target.str(), ": the number of elements overflows");
  }
  const std::size_t total = x.size();
  if (infer >= 0) {
    GLUINO_CHECK(ShapeError, known > 0 && total % known == 0, "reshape: cannot reshape ", x.shape(),
                 " with a -1 into a multiple of ", known, " elements");
    to[static_cast<std::size_t>(infer)] = total / known;
    known = total;
  }
  GLUINO_CHECK(ShapeError, known == total, "reshape: cannot reshape array of shape ", x.shape(), " (", total,
               " elements) into shape ", to);
  ops::Reshape<T> op;
  op.to = to;
  return autograd::apply(std::move(op), x);
}
template <class T>
NDArray<T> reshape(const NDArray<T>& x, const Shape& shape) {
  return reshape(x, std::vector<long long>(shape.begin(), shape.end()));
}
/// nd::reshape(x, {2, -1}): a braced list would be ambiguous between the two overloads above.
template <class T>
NDArray<T> reshape(const NDArray<T>& x, std::initializer_list<long long> shape) {
  return reshape(x, std::vector<long long>(shape));
}

/// (N, d1, d2, ...) -> (N, d1*d2*...).  Gluon: nd.flatten.
template <class T>
NDArray<T> flatten(const NDArray<T>& x) {
  return x.flatten();
}

/// Inserts a size-1 axis at `axis` (negative counts from the back of the result).
template <class T>
NDArray<T> expand_dims(const NDArray<T>& x, int axis) {
  const Shape& s = x.shape();
  GLUINO_CHECK(ShapeError, s.ndim() < Shape::max_dims, "expand_dims: shape ", s, " has ", Shape::max_dims,
               " axes already, the most an array has");
  const int n = static_cast<int>(s.ndim()) + 1;
  GLUINO_CHECK(ShapeError, axis >= -n && axis < n, "expand_dims: axis ", axis, " out of range for shape ", s);
  const std::size_t a = static_cast<std::size_t>(axis < 0 ? axis + n : axis);
  std::vector<long long> to;
  for (std::size_t i = 0; i < s.ndim(); ++i) {
    if (i == a) to.push_back(1);
    to.push_back(static_cast<long long>(s[i]));
  }
  if (a == s.ndim()) to.push_back(1);
  return reshape(x, to);
}

/// Permutes the axes; an empty list reverses them.  Gluon: nd.transpose.
template <class T>
NDArray<T> transpose(const NDArray<T>& x, const std::vector<std::size_t>& axes) {
  const std::size_t nd = x.ndim();
  std::vector<std::size_t> perm = axes;
  if (perm.empty())
    for (std::size_t i = 0; i < nd; ++i) perm.push_back(nd - 1 - i);
  GLUINO_CHECK(ShapeError, perm.size() == nd, "transpose: ", perm.size(), " axes given for shape ", x.shape());
  std::vector<bool> seen(nd, false);
  for (std::size_t a : perm) {
    GLUINO_CHECK(ShapeError, a < nd && !seen[a], "transpose: axes are not a permutation of 0..", nd - 1,
                 " (shape ", x.shape(), ")");
    seen[a] = true;
  }
  ops::Transpose<T> op;
  op.axes = perm;
  return autograd::apply(std::move(op), x);
}
template <class T>
NDArray<T> transpose(const NDArray<T>& x) {
  return transpose(x, std::vector<std::size_t>{});
}

/// Copies x stretched to `shape` by NumPy broadcasting.  Gluon: nd.broadcast_to.
template <class T>
NDArray<T> broadcast_to(const NDArray<T>& x, const Shape& shape) {
  ops::BroadcastTo<T> op;
  op.to = shape;
  return autograd::apply(std::move(op), x);
}

/// Rows [begin, end) along the first axis, as a view.  Gluon: x[begin:end] / nd.slice_axis(axis=0).
template <class T>
NDArray<T> slice_axis0(const NDArray<T>& x, std::size_t begin, std::size_t end) {
  GLUINO_CHECK(ShapeError, x.ndim() >= 1 && begin <= end && end <= x.shape()[0], "slice: rows [", begin, ", ", end,
               ") out of range for shape ", x.shape());
  ops::SliceAxis0<T> op;
  op.begin = begin;
  op.end = end;
  return autograd::apply(std::move(op), x);
}

/// Joins arrays along an existing axis.  Gluon: nd.concat(*arrays, dim=axis).  ValueError for
/// an empty list, StateError naming the position of an empty (default-constructed) array,
/// ShapeError naming the shapes that differ outside the axis or an axis out of range.
template <class T>
NDArray<T> concat(const std::vector<NDArray<T>>& xs, int axis = 1) {
  ops::Concat<T> op;
  op.axis = axis;
  return autograd::apply_n(std::move(op), xs);
}

/// Joins arrays of one shape along a new axis.  Gluon: nd.stack(*arrays, axis=axis).  Errors as
/// concat's, named "stack".
template <class T>
NDArray<T> stack(const std::vector<NDArray<T>>& xs, int axis = 0) {
  ops::Concat<T> op;
  op.axis = axis;
  op.new_axis = true;
  return autograd::apply_n(std::move(op), xs);
}

}  // namespace gluino::nd

namespace gluino::detail {
/// x summed to `shape` over the axes along which shape broadcasts to x's (x itself when the shapes
/// are equal), recorded: how the recorded gradient of a broadcasting op gets its input's shape.
template <class T>
NDArray<T> sum_to_recorded(const NDArray<T>& x, const Shape& shape) {
  if (x.shape() == shape) return x;
  nd::ops::SumTo<T> op;
  op.to = shape;
  return autograd::apply(std::move(op), x);
}

/// NDArray's shape methods (see core/ndarray.hpp).
template <class A>
struct ndarray_shape_ops {
  static A reshape(const A& x, const std::vector<long long>& s) { return nd::reshape(x, s); }
  static A flatten(const A& x) {
    GLUINO_CHECK(ShapeError, x.ndim() >= 1, "flatten: needs at least one axis, got shape ", x.shape());
    // The rest's size spelled out, not -1, so that an empty batch (0, C, H, W) flattens too.
    std::size_t rest = 1;
    for (std::size_t d = 1; d < x.ndim(); ++d) rest *= x.shape()[d];  // cannot overflow: size() did not
    return nd::reshape(x, std::vector<long long>{static_cast<long long>(x.shape()[0]), static_cast<long long>(rest)});
  }
  static A transpose(const A& x, const std::vector<std::size_t>& axes) { return nd::transpose(x, axes); }
  static A expand_dims(const A& x, int axis) { return nd::expand_dims(x, axis); }
  static A broadcast_to(const A& x, const Shape& s) { return nd::broadcast_to(x, s); }
  static A slice(const A& x, std::size_t begin, std::size_t end) { return nd::slice_axis0(x, begin, end); }
  static A row(const A& x, std::size_t i) {
    GLUINO_CHECK(ShapeError, x.ndim() >= 1, "operator[]: cannot index a 0-d array");
    Shape rest;
    for (std::size_t d = 1; d < x.ndim(); ++d) rest.push_back(x.shape()[d]);
    return reshape(slice(x, i, i + 1), std::vector<long long>(rest.begin(), rest.end()));
  }
};
}  // namespace gluino::detail

// Precompiled mode (detail/precompiled.hpp): this header's float and double instantiations.
#define GLUINO_ND_SHAPE_OPS_INSTANTIATIONS(X, T) \
  X NDArray<T> reshape<T>(const NDArray<T>&, const std::vector<long long>&); \
  X NDArray<T> expand_dims<T>(const NDArray<T>&, int); \
  X NDArray<T> transpose<T>(const NDArray<T>&, const std::vector<std::size_t>&); \
  X NDArray<T> broadcast_to<T>(const NDArray<T>&, const Shape&); \
  X NDArray<T> slice_axis0<T>(const NDArray<T>&, std::size_t, std::size_t); \
  X NDArray<T> concat<T>(const std::vector<NDArray<T>>&, int); \
  X NDArray<T> stack<T>(const std::vector<NDArray<T>>&, int);
namespace gluino::nd {
GLUINO_EXTERN_INSTANTIATIONS(GLUINO_ND_SHAPE_OPS_INSTANTIATIONS)
}  // namespace gluino::nd
