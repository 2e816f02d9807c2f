// SPDX-License-Identifier: Apache-2.0
#pragma once
/// Linear algebra ops: dot, batch_dot and fully_connected, computed through kernels::gemm.
/// Gluon: nd.dot, nd.batch_dot, nd.FullyConnected.
#include <cstddef>
#include <utility>
#include <vector>

#include "gluino/autograd/engine.hpp"
#include "gluino/core/ndarray.hpp"
#include "gluino/core/parallel.hpp"
#include "gluino/detail/precompiled.hpp"
#include "gluino/kernels/gemm.hpp"
#include "gluino/nd/shape_ops.hpp"

namespace gluino::nd {
namespace ops {

/// C = op(A) op(B) on arrays viewed as matrices.  A is stored (M, K), or (K, M) when
/// trans_a; B is stored (K, N), or (N, K) when trans_b (row-major, contiguous).
/// Backward: dA = dC op(B)^T (stored back in A's layout), dB = op(A)^T dC (in B's layout).
template <class T>
struct Dot : autograd::OpBase {
  static constexpr const char* name = "dot";
  bool trans_a = false, trans_b = false;
  std::size_t M = 0, N = 0, K = 0;
  Shape a_shape, b_shape, out_shape;
  NDArray<T> a, b;  // saved: b for dA, a for dB

  std::size_t lda() const { return trans_a ? M : K; }
  std::size_t ldb() const { return trans_b ? K : N; }

  NDArray<T> forward(const NDArray<T>& in_a, const NDArray<T>& in_b) {
    NDArray<T> c(out_shape);
    kernels::gemm(trans_a, trans_b, M, N, K, T(1), in_a.data(), lda(), in_b.data(), ldb(), T(0), c.data(), N);
    if (needs_grad(0)) b = in_b;
    if (needs_grad(1)) a = in_a;
    return c;
  }
  std::vector<NDArray<T>> backward(const NDArray<T>& dc) {
    NDArray<T> da, db;
    if (needs_grad(0)) {
      da = NDArray<T>(a_shape);
      if (!trans_a)  // (M, K) = dC (M, N) * op(B)^T (N, K)
        kernels::gemm(false, !trans_b, M, K, N, T(1), dc.data(), N, b.data(), ldb(), T(0), da.data(), K);
      else  // (K, M) = op(B) (K, N) * dC^T (N, M)
        kernels::gemm(trans_b, true, K, M, N, T(1), b.data(), ldb(), dc.data(), N, T(0), da.data(), M);
    }
    if (needs_grad(1)) {
      db = NDArray<T>(b_shape);
      if (!trans_b)  // (K, N) = op(A)^T (K, M) * dC (M, N)
        kernels::gemm(!trans_a, false, K, N, M, T(1), a.data(), lda(), dc.data(), N, T(0), db.data(), N);
      else  // (N, K) = dC^T (N, M) * op(A) (M, K)
        kernels::gemm(true, trans_a, N, K, M, T(1), dc.data(), N, a.data(), lda(), T(0), db.data(), K);
    }
    return {da, db};
  }
  /// The recorded product C = op(x) op(y) of (m, k) by (k, n) matrices, of shape `out`.
  static NDArray<T> product(const NDArray<T>& x, const NDArray<T>& y, bool tx, bool ty, std::size_t m, std::size_t n,
                            std::size_t k, const Shape& out) {
    Dot op;
    op.trans_a = tx, op.trans_b = ty;
    op.M = m, op.N = n, op.K = k;
    op.a_shape = x.shape(), op.b_shape = y.shape(), op.out_shape = out;
    return autograd::apply(std::move(op), x, y);
  }
  /// dA, dB from recorded dots (autograd::grad's create_graph): the products of backward.
  std::vector<NDArray<T>> backward_graph(const NDArray<T>& dc, const autograd::GraphArgs<T>& g) {
    NDArray<T> da, db;
    if (needs_grad(0)) {
      const NDArray<T> hb = g.input(1, b);
      da = trans_a ? product(hb, dc, trans_b, true, K, M, N, a_shape) : product(dc, hb, false, !trans_b, M, K, N, a_shape);
    }
    if (needs_grad(1)) {
      const NDArray<T> ha = g.input(0, a);
      db = trans_b ? product(dc, ha, true, trans_a, N, K, M, b_shape) : product(ha, dc, !trans_a, false, K, N, M, b_shape);
    }
    return {da, db};
  }
};

/// C[i] = op(A[i]) op(B[i]) for each of `batch` matrix pairs; the Dot layout per batch entry.
template <class T>
struct BatchDot : autograd::OpBase {
  static constexpr const char* name = "batch_dot";
  bool trans_a = false, trans_b = false;
  std::size_t batch = 0, M = 0, N = 0, K = 0;
  Shape a_shape, b_shape, out_shape;
  NDArray<T> a, b;

  std::size_t lda() const { return trans_a ? M : K; }
  std::size_t ldb() const { return trans_b ? K : N; }

  NDArray<T> forward(const NDArray<T>& in_a, const NDArray<T>& in_b) {
    NDArray<T> c(out_shape);
    const T *pa = in_a.data(), *pb = in_b.data();
    T* pc = c.data();
    gluino::detail::parallel_for(
        batch,
        [&](std::size_t i) {
          kernels::gemm(trans_a, trans_b, M, N, K, T(1), pa + i * M * K, lda(), pb + i * K * N, ldb(), T(0),
                        pc + i * M * N, N);
        },
        M * N * K);
    if (needs_grad(0)) b = in_b;
    if (needs_grad(1)) a = in_a;
    return c;
  }
  std::vector<NDArray<T>> backward(const NDArray<T>& dc) {
    NDArray<T> da, db;
    const T* pg = dc.data();
    if (needs_grad(0)) {
      da = NDArray<T>(a_shape);
      const T* pb = b.data();
      T* pd = da.data();
      gluino::detail::parallel_for(
          batch,
          [&](std::size_t i) {
            if (!trans_a)
              kernels::gemm(false, !trans_b, M, K, N, T(1), pg + i * M * N, N, pb + i * K * N, ldb(), T(0),
                            pd + i * M * K, K);
            else
              kernels::gemm(trans_b, true, K, M, N, T(1), pb + i * K * N, ldb(), pg + i * M * N, N, T(0),
                            pd + i * M * K, M);
          },
          M * N * K);
    }
    if (needs_grad(1)) {
      db = NDArray<T>(b_shape);
      const T* pa = a.data();
      T* pd = db.data();
      gluino::detail::parallel_for(
          batch,
          [&](std::size_t i) {
            if (!trans_b)
              kernels::gemm(!trans_a, false, K, N, M, T(1), pa + i * M * K, lda(), pg + i * M * N, N, T(0),
                            pd + i * K * N, N);
            else
              kernels::gemm(true, trans_a, N, K, M, T(1), pg + i * M * N, N, pa + i * M * K, lda(), T(0),
                            pd + i * K * N, K);
          },
          M * N * K);
    }
    return {da, db};
  }
  /// The recorded batched product C[i] = op(x[i]) op(y[i]) of (m, k) by (k, n) matrices, of shape `out`.
  static NDArray<T> product(const NDArray<T>& x, const NDArray<T>& y, bool tx, bool ty, std::size_t batch,
                            std::size_t m, std::size_t n, std::size_t k, const Shape& out) {
    BatchDot op;
    op.trans_a = tx, op.trans_b = ty;
    op.batch = batch, op.M = m, op.N = n, op.K = k;
    op.a_shape = x.shape(), op.b_shape = y.shape(), op.out_shape = out;
    return autograd::apply(std::move(op), x, y);
  }
  /// dA, dB from recorded batch_dots (autograd::grad's create_graph): the products of backward,
  /// per batch entry as Dot::backward_graph.
  std::vector<NDArray<T>> backward_graph(const NDArray<T>& dc, const autograd::GraphArgs<T>& g) {
    NDArray<T> da, db;
    if (needs_grad(0)) {
      const NDArray<T> hb = g.input(1, b);
      da = trans_a ? product(hb, dc, trans_b, true, batch, K, M, N, a_shape)
                   : product(dc, hb, false, !trans_b, batch, M, K, N, a_shape);
    }
    if (needs_grad(1)) {
      const NDArray<T> ha = g.input(0, a);
      db = trans_b ? product(dc, ha, true, trans_a, batch, N, K, M, b_shape)
                   : product(ha, dc, !trans_a, false, batch, K, N, M, b_shape);
    }
    return {da, db};
  }
};

/// y (rows, units) = x (rows, in_units) W^T + b, W (units, in_units), b (units) optional.
/// Backward: dx = dy W, dW = dy^T x, db = column sums of dy.
template <class T>
struct FullyConnected : autograd::OpBase {
  static constexpr const char* name = "fully_connected";
  std::size_t rows = 0, in_units = 0, units = 0;
  Shape x_shape, out_shape;
  NDArray<T> x, w;  // saved: w for dx, x for dW

  /// For graphs (autograd/trace.hpp): x is viewed as (rows, in_units).
  autograd::Attributes attributes() const { return {{"units", std::int64_t(units)}, {"in_units", std::int64_t(in_units)}}; }

  NDArray<T> forward(const NDArray<T>& in_x, const NDArray<T>& in_w, const NDArray<T>& in_b) {
    NDArray<T> y(out_shape);
    T* py = y.data();
    T beta = T(0);
    if (in_b.defined()) {  // start from the bias rows, then accumulate the product onto them
      const T* pb = in_b.data();
      for (std::size_t r = 0; r < rows; ++r) std::copy(pb, pb + units, py + r * units);
      beta = T(1);
    }
    kernels::gemm(false, true, rows, units, in_units, T(1), in_x.data(), in_units, in_w.data(), in_units, beta, py,
                  units);
    if (needs_grad(0)) w = in_w;
    if (needs_grad(1)) x = in_x;
    return y;
  }
  /// Writes each gradient into dest[i] when the engine offers that buffer.
  std::vector<NDArray<T>> backward(const NDArray<T>& dy, const std::vector<NDArray<T>>& dest) {
    auto out = [&](std::size_t i, const Shape& s) { return dest[i].defined() ? dest[i] : NDArray<T>(s); };
    NDArray<T> dx, dw, db;
    const T* pg = dy.data();
    if (needs_grad(0)) {  // (rows, in) = dy (rows, units) * W (units, in)
      dx = out(0, x_shape);
      kernels::gemm(false, false, rows, in_units, units, T(1), pg, units, w.data(), in_units, T(0), dx.data(),
                    in_units);
    }
    if (needs_grad(1)) {  // (units, in) = dy^T (units, rows) * x (rows, in)
      dw = out(1, Shape{units, in_units});
      kernels::gemm(true, false, units, in_units, rows, T(1), pg, units, x.data(), in_units, T(0), dw.data(),
                    in_units);
    }
    if (needs_grad(2)) {
      db = out(2, Shape{units});
      T* pd = db.data();
      std::fill(pd, pd + units, T(0));
      for (std::size_t r = 0; r < rows; ++r)
        for (std::size_t u = 0; u < units; ++u) pd[u] += pg[r * units + u];
    }
    return {dx, dw, db};
  }
  /// dx, dW, db from recorded ops (autograd::grad's create_graph): dy W, dy^T x (as dots) and
  /// the column sums of dy.
  std::vector<NDArray<T>> backward_graph(const NDArray<T>& dy, const autograd::GraphArgs<T>& g) {
    NDArray<T> dx, dw, db;
    if (needs_grad(0)) dx = Dot<T>::product(dy, g.input(1, w), false, false, rows, in_units, units, x_shape);
    if (needs_grad(1)) dw = Dot<T>::product(dy, g.input(0, x), true, false, units, in_units, rows, Shape{units, in_units});
    if (needs_grad(2)) {
      Reshape<T> as_rows;
      as_rows.to = Shape{rows, units};
      db = gluino::detail::sum_to_recorded(autograd::apply(std::move(as_rows), dy), Shape{units});
    }
    return {dx, dw, db};
  }
};

}  // namespace ops

/// Dot product of two arrays.  Gluon: nd.dot(a, b, transpose_a, transpose_b).
/// - 1-D . 1-D: inner product, of shape (1,) (as MXNet).
/// - otherwise the last axis of a is contracted with the first axis of b: the result has shape
///   a.shape[:-1] + b.shape[1:], e.g. (64, 784) . (784, 256) -> (64, 256), (2, 3) . (3,) -> (2,).
/// transpose_a contracts a's first axis instead (the result starts with a.shape[1:]), and
/// transpose_b contracts b's last axis (the result ends with b.shape[:-1]), as MXNet, which
/// views an N-D operand as a matrix and transposes that.  Transposing a 1-D operand changes nothing.
/// ShapeError "dot: shapes (2, 3) and (4, 5) not aligned: 3 != 4" when the contracted axes differ.
template <class T>
NDArray<T> dot(const NDArray<T>& a, const NDArray<T>& b, bool transpose_a = false, bool transpose_b = false) {
  const Shape &sa = a.shape(), &sb = b.shape();
  GLUINO_CHECK(ShapeError, sa.ndim() >= 1 && sb.ndim() >= 1, "dot: needs arrays with at least one axis, got shapes ",
               sa, " and ", sb);
  const std::size_t na = sa.ndim(), nb = sb.ndim();
  // a viewed as (rows, cols): the contracted axis is the last one, or the first when transposed.
  const std::size_t ka = transpose_a ? sa[0] : sa[na - 1];
  const std::size_t kb = transpose_b ? sb[nb - 1] : sb[0];
  GLUINO_CHECK(ShapeError, ka == kb, "dot: shapes ", sa, " and ", sb, " not aligned: ", ka, " != ", kb);
  // Free axes: a's all but the contracted one, then b's; their products are M and N.
  Shape out;
  std::size_t M = 1, N = 1;
  for (std::size_t i = transpose_a ? 1 : 0; i < (transpose_a ? na : na - 1); ++i) {
    out.push_back(sa[i]);
    M *= sa[i];
  }
  for (std::size_t i = transpose_b ? 0 : 1; i < (transpose_b ? nb - 1 : nb); ++i) {
    out.push_back(sb[i]);
    N *= sb[i];
  }
  if (out.ndim() == 0) out.push_back(1);  // 1-D . 1-D: MXNet returns shape (1,)
  ops::Dot<T> op;
  op.trans_a = transpose_a;
  op.trans_b = transpose_b;
  op.M = M;
  op.N = N;
  op.K = ka;
  op.a_shape = sa;
  op.b_shape = sb;
  op.out_shape = out;
  return autograd::apply(std::move(op), a, b);
}

/// Batched matrix product.  Gluon: nd.batch_dot(a, b, transpose_a, transpose_b).
/// a (B, M, K) (or (B, K, M) when transpose_a) times b (B, K, N) (or (B, N, K) when
/// transpose_b) -> (B, M, N).  More than one leading batch axis is allowed when both arrays
/// share them: (B1, B2, M, K) x (B1, B2, K, N) -> (B1, B2, M, N).
/// ShapeError for fewer than 3 axes, differing batch axes, or contracted axes that differ.
template <class T>
NDArray<T> batch_dot(const NDArray<T>& a, const NDArray<T>& b, bool transpose_a = false, bool transpose_b = false) {
  const Shape &sa = a.shape(), &sb = b.shape();
  const std::size_t n = sa.ndim();
  GLUINO_CHECK(ShapeError, n >= 3 && sb.ndim() == n, "batch_dot: needs two arrays of the same rank >= 3, got shapes ",
               sa, " and ", sb);
  std::size_t batch = 1;
  for (std::size_t i = 0; i + 2 < n; ++i) {
    GLUINO_CHECK(ShapeError, sa[i] == sb[i], "batch_dot: batch dimensions of shapes ", sa, " and ", sb, " differ");
    batch *= sa[i];
  }
  const std::size_t M = transpose_a ? sa[n - 1] : sa[n - 2], ka = transpose_a ? sa[n - 2] : sa[n - 1];
  const std::size_t N = transpose_b ? sb[n - 2] : sb[n - 1], kb = transpose_b ? sb[n - 1] : sb[n - 2];
  GLUINO_CHECK(ShapeError, ka == kb, "batch_dot: shapes ", sa, " and ", sb, " not aligned: ", ka, " != ", kb);
  Shape out;
  for (std::size_t i = 0; i + 2 < n; ++i) out.push_back(sa[i]);
  out.push_back(M);
  out.push_back(N);
  ops::BatchDot<T> op;
  op.trans_a = transpose_a;
  op.trans_b = transpose_b;
  op.batch = batch;
  op.M = M;
  op.N = N;
  op.K = ka;
  op.a_shape = sa;
  op.b_shape = sb;
  op.out_shape = out;
  return autograd::apply(std::move(op), a, b);
}

/// y = x W^T + b.  Gluon: nd.FullyConnected(x, weight, bias, num_hidden, no_bias, flatten).
/// weight: (units, in_units); bias: (units,), or an undefined NDArray<T>{} for no bias.
/// flatten (default): x (N, d1, d2, ...) is used as (N, d1*d2*...) and y is (N, units).
/// Otherwise the last axis is the feature axis: x (..., in_units) -> y (..., units).
/// ShapeError (naming x's and weight's shapes) when the features differ from in_units, when
/// weight is not 2-D or bias is not (units,).
template <class T>
NDArray<T> fully_connected(const NDArray<T>& x, const NDArray<T>& weight, const NDArray<T>& bias = NDArray<T>{},
                           bool flatten = true) {
  const Shape &sx = x.shape(), &sw = weight.shape();
  GLUINO_CHECK(ShapeError, sw.ndim() == 2, "fully_connected: weight must be 2-D (units, in_units), got shape ", sw,
               " (x of shape ", sx, ")");
  GLUINO_CHECK(ShapeError, sx.ndim() >= 1, "fully_connected: x needs at least one axis, got shape ", sx,
               " (weight of shape ", sw, ")");
  const std::size_t units = sw[0], in_units = sw[1];
  std::size_t rows = 1, features = 1;
  Shape out;
  if (flatten) {
    rows = sx[0];
    for (std::size_t i = 1; i < sx.ndim(); ++i) features *= sx[i];
    out = Shape{rows, units};
  } else {
    for (std::size_t i = 0; i + 1 < sx.ndim(); ++i) {
      rows *= sx[i];
      out.push_back(sx[i]);
    }
    features = sx[sx.ndim() - 1];
    out.push_back(units);
  }
  GLUINO_CHECK(ShapeError, features == in_units, "fully_connected: x of shape ", sx, " has ", features,
               " input features but weight of shape ", sw, " expects ", in_units, flatten ? " (x flattened)" : "");
  if (bias.defined())
    GLUINO_CHECK(ShapeError, bias.shape() == Shape{units}, "fully_connected: bias of shape ", bias.shape(),
                 " does not match weight of shape ", sw, "; expected (", units, ",)");
  ops::FullyConnected<T> op;
  op.rows = rows;
  op.in_units = in_units;
  op.units = units;
  op.x_shape = sx;
  op.out_shape = out;
  return autograd::apply(std::move(op), x, weight, bias);
}

}  // namespace gluino::nd

// Precompiled mode (detail/precompiled.hpp): this header's float and double instantiations.
#define GLUINO_ND_LINALG_INSTANTIATIONS(X, T) \
  X NDArray<T> dot<T>(const NDArray<T>&, const NDArray<T>&, bool, bool); \
  X NDArray<T> batch_dot<T>(const NDArray<T>&, const NDArray<T>&, bool, bool); \
  X NDArray<T> fully_connected<T>(const NDArray<T>&, const NDArray<T>&, const NDArray<T>&, bool);
namespace gluino::nd {
GLUINO_EXTERN_INSTANTIATIONS(GLUINO_ND_LINALG_INSTANTIATIONS)
}  // namespace gluino::nd
