// SPDX-License-Identifier: Apache-2.0
#pragma once
/// NumPy broadcasting on plain arrays (no autograd): the result shape of two shapes, a loop
/// over a broadcast pair, and the reduction of a gradient back to an input's shape.
#include <algorithm>
#include <array>
#include <cstddef>
#include <string>

#include "gluino/core/ndarray.hpp"
#include "gluino/core/parallel.hpp"

namespace gluino::detail {

/// The broadcast shape of a and b (NumPy rules: align at the right, 1 stretches).
/// ShapeError "<op>: shapes (2, 3) and (4,) cannot be broadcast together".
inline Shape broadcast_shape(const Shape& a, const Shape& b, const char* op) {
  const std::size_t n = std::max(a.ndim(), b.ndim());
  Shape out;
  for (std::size_t i = 0; i < n; ++i) {
    const std::size_t da = i + a.ndim() >= n ? a[i + a.ndim() - n] : 1;
    const std::size_t db = i + b.ndim() >= n ? b[i + b.ndim() - n] : 1;
    GLUINO_CHECK(ShapeError, da == db || da == 1 || db == 1, op, ": shapes ", a, " and ", b,
                 " cannot be broadcast together");
    out.push_back(da == 1 ? db : da);
  }
  return out;
}

/// Strides of `in` viewed in `out`'s index space: 0 along broadcast (stretched or missing) axes.
inline std::array<std::size_t, Shape::max_dims> broadcast_strides(const Shape& in, const Shape& out) {
  std::array<std::size_t, Shape::max_dims> s{};
  const auto st = in.strides();
  const std::size_t off = out.ndim() - in.ndim();
  for (std::size_t i = 0; i < in.ndim(); ++i) s[i + off] = in[i] == 1 ? 0 : st[i];
  return s;
}

/// Calls f(out_index, a_index, b_index) for every element of the broadcast shape `out`,
/// the innermost axis in a tight loop.
template <class F>
void for_each_broadcast(const Shape& out, const Shape& a, const Shape& b, F&& f) {
  const std::size_t nd = out.ndim();
  if (nd == 0) {
    f(0, 0, 0);
    return;
  }
  const auto sa = broadcast_strides(a, out), sb = broadcast_strides(b, out);
  const std::size_t inner = out[nd - 1], ia = sa[nd - 1], ib = sb[nd - 1];
  const std::size_t outer = inner == 0 ? 0 : out.size() / inner;
  std::array<std::size_t, Shape::max_dims> idx{};
  std::size_t pa = 0, pb = 0;
  for (std::size_t o = 0; o < outer; ++o) {
    const std::size_t base = o * inner;
    for (std::size_t i = 0; i < inner; ++i) f(base + i, pa + i * ia, pb + i * ib);
    // odometer over the outer axes
    for (std::size_t d = nd - 1; d-- > 0;) {
      ++idx[d];
      pa += sa[d];
      pb += sb[d];
      if (idx[d] < out[d]) break;
      pa -= sa[d] * idx[d];
      pb -= sb[d] * idx[d];
      idx[d] = 0;
    }
  }
}

/// Calls fn(begin, end) over [0, n) in blocks of 4096 elements, the blocks split over threads
/// when there are enough of them; fn's loop over its block is where element-wise work
/// vectorises.
template <class Fn>
void for_blocks(std::size_t n, Fn&& fn) {
  constexpr std::size_t block = 4096;
  detail::parallel_for((n + block - 1) / block, [&](std::size_t blk) {
    fn(blk * block, std::min(n, (blk + 1) * block));
  }, block);
}

/// y[i] = f(x[i]).
template <class T, class F>
NDArray<T> map(const NDArray<T>& x, F&& f) {
  NDArray<T> y(x.shape());
  const T* px = x.data();
  T* py = y.data();
  for_blocks(x.size(), [&](std::size_t b, std::size_t e) {
    const T* __restrict src = px;
    T* __restrict dst = py;
    for (std::size_t i = b; i < e; ++i) dst[i] = f(src[i]);
  });
  return y;
}

/// z[i] = f(a[i], b[i]) for arrays of the same size.
template <class T, class F>
NDArray<T> zip(const NDArray<T>& a, const NDArray<T>& b, F&& f) {
  NDArray<T> z(a.shape());
  const T *pa = a.data(), *pb = b.data();
  T* pz = z.data();
  for_blocks(a.size(), [&](std::size_t lo, std::size_t hi) {
    const T* __restrict ra = pa;
    const T* __restrict rb = pb;
    T* __restrict rz = pz;
    for (std::size_t i = lo; i < hi; ++i) rz[i] = f(ra[i], rb[i]);
  });
  return z;
}

/// z = f(a, b) with broadcasting; the fast paths cover equal shapes and a one-element side.
template <class T, class F>
NDArray<T> broadcast_zip(const NDArray<T>& a, const NDArray<T>& b, F&& f, const char* op) {
  if (a.shape() == b.shape()) return zip(a, b, f);
  const Shape out = broadcast_shape(a.shape(), b.shape(), op);
  const T *pa = a.data(), *pb = b.data();
  if (b.size() == 1 && out == a.shape()) {
    const T bv = pb[0];
    return map(a, [&](T v) { return f(v, bv); });
  }
  if (a.size() == 1 && out == b.shape()) {
    const T av = pa[0];
    return map(b, [&](T v) { return f(av, v); });
  }
  NDArray<T> z(out);
  T* pz = z.data();
  for_each_broadcast(out, a.shape(), b.shape(), [&](std::size_t o, std::size_t i, std::size_t j) { pz[o] = f(pa[i], pb[j]); });
  return z;
}

/// Sums g (of a broadcast result's shape) over the axes along which `shape` was stretched,
/// giving an array of `shape`: the gradient of a broadcasting op with respect to that input.
template <class T>
NDArray<T> sum_to(const NDArray<T>& g, const Shape& shape) {
  if (g.shape() == shape) return g;
  NDArray<T> out(shape);
  out.fill(T(0));
  T* po = out.data();
  const T* pg = g.data();
  if (shape.size() == 1) {
    T acc = 0;
    for (std::size_t i = 0, n = g.size(); i < n; ++i) acc += pg[i];
    po[0] = acc;
    return out;
  }
  for_each_broadcast(g.shape(), shape, g.shape(), [&](std::size_t o, std::size_t i, std::size_t) { po[i] += pg[o]; });
  return out;
}

/// A copy of x stretched to `shape` (x's shape must broadcast to it).
template <class T>
NDArray<T> broadcast_copy(const NDArray<T>& x, const Shape& shape, const char* op) {
  const Shape out = broadcast_shape(x.shape(), shape, op);
  GLUINO_CHECK(ShapeError, out == shape, op, ": cannot broadcast shape ", x.shape(), " to ", shape);
  NDArray<T> y(shape);
  const T* px = x.data();
  T* py = y.data();
  for_each_broadcast(shape, x.shape(), shape, [&](std::size_t o, std::size_t i, std::size_t) { py[o] = px[i]; });
  return y;
}

}  // namespace gluino::detail
