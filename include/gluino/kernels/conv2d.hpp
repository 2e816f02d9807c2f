// SPDX-License-Identifier: Apache-2.0
#pragma once
/// 2-D convolution on raw NCHW pointers: the fast path (im2col + GEMM per image, images split
/// over threads, per-thread reused workspaces) and a naive reference loop that tests compare it
/// with.  No NDArray, no autograd: nd/conv.hpp checks arguments and wraps these.
#include <algorithm>
#include <cstddef>
#include <memory>

#include "gluino/core/parallel.hpp"
#include "gluino/detail/fold_lanes.hpp"
#include "gluino/kernels/conv2d_direct.hpp"
#include "gluino/kernels/gemm.hpp"
#include "gluino/kernels/im2col.hpp"

#if defined(_OPENMP)
#include <omp.h>
#endif

namespace gluino::detail {
/// A per-thread scratch buffer of at least n elements, grown on demand and kept for the thread's
/// lifetime, so that steady-state training allocates nothing.  Slot tells apart buffers that are
/// live at the same time.  Contents are uninitialised.
template <class T, int Slot>
T* thread_scratch(std::size_t n) {
  thread_local std::unique_ptr<T[]> buf;
  thread_local std::size_t cap = 0;
  if (cap < n) {
    buf.reset();
    buf.reset(new T[n]);
    cap = n;
  }
  return buf.get();
}

/// Runs fn(thread_id, num_threads) on a team of up to nt OpenMP threads (on the calling thread
/// alone when nt <= 1, without OpenMP, or inside another parallel region).  The calling thread
/// is always thread 0.
template <class Fn>
void run_team(int nt, Fn&& fn) {
#if defined(_OPENMP)
  if (nt > 1 && !omp_in_parallel()) {
#pragma omp parallel num_threads(nt)
    fn(omp_get_thread_num(), omp_get_num_threads());
    return;
  }
#endif
  (void)nt;
  fn(0, 1);
}

/// Threads for a batch of n independent items of `flops` multiply-adds each: one per item at
/// most, and one in all when the work is too small to pay for waking a team.
inline int team_size(std::size_t n, double flops_per_item) {
  const int max_t = get_num_threads();
  if (max_t <= 1 || n < 2 || static_cast<double>(n) * flops_per_item < 2.0e5) return 1;
  return static_cast<int>(std::min<std::size_t>(static_cast<std::size_t>(max_t), n));
}
}  // namespace gluino::detail

namespace gluino::kernels {

// ---------------------------------------------------------------------------------------------
// Naive reference: the definition, loop by loop.  Slow; for tests.
// ---------------------------------------------------------------------------------------------

/// y[n, o, oh, ow] = b[o] + sum_{c, i, j} w[o, c, i, j] * x[n, g*Cg + c, oh*sh + i*dh - ph, ow*sw + j*dw - pw]
/// (g = o / Og; zero outside the input).  b may be null.
template <class T>
void conv2d_forward_naive(const Conv2DGeometry& g, const T* x, const T* w, const T* b, T* y) {
  const std::size_t Cg = g.Cg(), Og = g.Og();
  for (std::size_t n = 0; n < g.N; ++n)
    for (std::size_t o = 0; o < g.O; ++o)
      for (std::size_t oh = 0; oh < g.Ho; ++oh)
        for (std::size_t ow = 0; ow < g.Wo; ++ow) {
          T acc = b ? b[o] : T(0);
          for (std::size_t c = 0; c < Cg; ++c)
            for (std::size_t i = 0; i < g.kh; ++i)
              for (std::size_t j = 0; j < g.kw; ++j) {
                const long long ih = static_cast<long long>(oh * g.sh + i * g.dh) - static_cast<long long>(g.ph);
                const long long iw = static_cast<long long>(ow * g.sw + j * g.dw) - static_cast<long long>(g.pw);
                if (ih < 0 || iw < 0 || ih >= static_cast<long long>(g.H) || iw >= static_cast<long long>(g.W)) continue;
                const std::size_t xc = (o / Og) * Cg + c;
                acc += w[((o * Cg + c) * g.kh + i) * g.kw + j] *
                       x[((n * g.C + xc) * g.H + static_cast<std::size_t>(ih)) * g.W + static_cast<std::size_t>(iw)];
              }
          y[((n * g.O + o) * g.Ho + oh) * g.Wo + ow] = acc;
        }
}

/// Gradients of conv2d_forward_naive given dy (N, O, Ho, Wo): dx (N, C, H, W), dw (O, Cg, kh, kw)
/// and db (O), each overwritten; pass null to skip one.
template <class T>
void conv2d_backward_naive(const Conv2DGeometry& g, const T* x, const T* w, const T* dy, T* dx, T* dw, T* db) {
  const std::size_t Cg = g.Cg(), Og = g.Og();
  if (dx) std::fill(dx, dx + g.N * g.C * g.H * g.W, T(0));
  if (dw) std::fill(dw, dw + g.O * g.K(), T(0));
  if (db) std::fill(db, db + g.O, T(0));
  for (std::size_t n = 0; n < g.N; ++n)
    for (std::size_t o = 0; o < g.O; ++o)
      for (std::size_t oh = 0; oh < g.Ho; ++oh)
        for (std::size_t ow = 0; ow < g.Wo; ++ow) {
          const T gy = dy[((n * g.O + o) * g.Ho + oh) * g.Wo + ow];
          if (db) db[o] += gy;
          for (std::size_t c = 0; c < Cg; ++c)
            for (std::size_t i = 0; i < g.kh; ++i)
              for (std::size_t j = 0; j < g.kw; ++j) {
                const long long ih = static_cast<long long>(oh * g.sh + i * g.dh) - static_cast<long long>(g.ph);
                const long long iw = static_cast<long long>(ow * g.sw + j * g.dw) - static_cast<long long>(g.pw);
                if (ih < 0 || iw < 0 || ih >= static_cast<long long>(g.H) || iw >= static_cast<long long>(g.W)) continue;
                const std::size_t xi =
                    ((n * g.C + (o / Og) * Cg + c) * g.H + static_cast<std::size_t>(ih)) * g.W + static_cast<std::size_t>(iw);
                const std::size_t wi = ((o * Cg + c) * g.kh + i) * g.kw + j;
                if (dx) dx[xi] += w[wi] * gy;
                if (dw) dw[wi] += x[xi] * gy;
              }
        }
}

// ---------------------------------------------------------------------------------------------
// Fast path: per image and group, y_g (Og, P) = w_g (Og, K) * cols_g (K, P) + b_g.
// ---------------------------------------------------------------------------------------------

/// Same result as conv2d_forward_naive, followed by max(y, 0) when `relu` (applied to each image
/// while it is still in cache, instead of a separate pass over the whole batch).  Images are
/// split over threads (each with its own column workspace, GEMMs single-threaded inside the
/// team); a batch too small to split runs on the calling thread, where Eigen may parallelise the
/// GEMM itself.  A pointwise convolution (1x1, stride 1, no padding) multiplies the input
/// directly, without im2col; a single-channel one (direct_c1_applies) goes to the direct kernel
/// of conv2d_direct.hpp, in the forward pass and for the weight gradient.
template <class T>
void conv2d_forward(const Conv2DGeometry& g, const T* x, const T* w, const T* b, T* y, bool relu = false) {
  const std::size_t Cg = g.Cg(), Og = g.Og(), K = g.K(), P = g.P(), HW = g.H * g.W;
  if (g.N == 0 || g.O == 0 || P == 0) return;
  const bool direct = g.is_pointwise();
  const bool c1 = direct_c1_applies(g);
  const int nt = detail::team_size(g.N, static_cast<double>(g.O) * static_cast<double>(K) * static_cast<double>(P));
  detail::run_team(nt, [&](int tid, int team) {
    const std::size_t n0 = g.N * static_cast<std::size_t>(tid) / static_cast<std::size_t>(team);
    const std::size_t n1 = g.N * static_cast<std::size_t>(tid + 1) / static_cast<std::size_t>(team);
    T* cols = (direct || c1) ? nullptr : detail::thread_scratch<T, 0>(K * P);
    const Conv2DGeometry gp = c1 ? direct_c1_padded(g) : g;
    T* padded = c1 && (g.ph || g.pw) ? detail::thread_scratch<T, 4>(gp.H * gp.W) : nullptr;
    for (std::size_t n = n0; n < n1; ++n) {
      if (c1) {  // one input channel: the direct kernel, ReLU included
        conv2d_forward_direct_c1(gp, direct_c1_pad(g, x + n * HW, padded), w, b, y + n * g.O * P, relu);
        continue;
      }
      for (std::size_t gi = 0; gi < g.groups; ++gi) {
        const T* xg = x + (n * g.C + gi * Cg) * HW;
        T* yg = y + (n * g.O + gi * Og) * P;
        const T* src = xg;
        if (!direct) {
          im2col(xg, Cg, g, cols);
          src = cols;
        }
        if (b) {
          for (std::size_t o = 0; o < Og; ++o) std::fill(yg + o * P, yg + (o + 1) * P, b[gi * Og + o]);
        }
        gemm(false, false, Og, P, K, T(1), w + gi * Og * K, K, src, P, b ? T(1) : T(0), yg, P);
      }
      if (relu) {
        T* __restrict yn = y + n * g.O * P;
        for (std::size_t i = 0, e = g.O * P; i < e; ++i) yn[i] = yn[i] > T(0) ? yn[i] : T(0);
      }
    }
  });
}

/// Same result as conv2d_backward_naive (dx, dw, db overwritten; null ones skipped; x is read
/// only for dw, w only for dx).  Per image and group:
///   dw_g += dy_g (Og, P) * cols_g^T (P, K),   dcols = w_g^T (K, Og) * dy_g (Og, P) -> col2im -> dx,
///   db[o] += sum of dy_g's row o.
/// Each thread accumulates dw and db over its images in its own buffer (thread 0 directly into
/// dw and db); the buffers are summed at the end.  With relu_y (the output of a convolution
/// fused with ReLU), dy is first zeroed where relu_y is not positive, image by image in a
/// per-thread buffer: the ReLU's backward without a pass of its own.
template <class T>
void conv2d_backward(const Conv2DGeometry& g, const T* x, const T* w, const T* dy, T* dx, T* dw, T* db,
                     const T* relu_y = nullptr) {
  const std::size_t Cg = g.Cg(), Og = g.Og(), K = g.K(), P = g.P(), HW = g.H * g.W;
  const std::size_t wsize = g.O * K;
  if (dw) std::fill(dw, dw + wsize, T(0));
  if (db) std::fill(db, db + g.O, T(0));
  if (dx && (P == 0 || g.O == 0)) std::fill(dx, dx + g.N * g.C * HW, T(0));
  if (g.N == 0 || g.O == 0 || P == 0 || (!dx && !dw && !db)) return;
  const bool direct = g.is_pointwise();
  const double flops = static_cast<double>(g.O) * static_cast<double>(K) * static_cast<double>(P) *
                       ((dx ? 1.0 : 0.0) + (dw ? 1.0 : 0.0));
  const int nt = detail::team_size(g.N, std::max(flops, static_cast<double>(g.O * P)));
  // Partial sums of threads 1.. (dw then db for each), in the calling thread's workspace.
  const std::size_t part = wsize + g.O;
  T* partials = (nt > 1 && (dw || db)) ? detail::thread_scratch<T, 2>(part * static_cast<std::size_t>(nt - 1)) : nullptr;
  int used = 1;
  detail::run_team(nt, [&](int tid, int team) {
    if (tid == 0) used = team;
    const std::size_t n0 = g.N * static_cast<std::size_t>(tid) / static_cast<std::size_t>(team);
    const std::size_t n1 = g.N * static_cast<std::size_t>(tid + 1) / static_cast<std::size_t>(team);
    T* my_dw = dw;
    T* my_db = db;
    if (tid > 0 && partials) {
      T* mine = partials + part * static_cast<std::size_t>(tid - 1);
      std::fill(mine, mine + part, T(0));
      my_dw = dw ? mine : nullptr;
      my_db = db ? mine + wsize : nullptr;
    }
    const bool c1 = direct_c1_applies(g);
    T* cols = (direct || c1 || !dw) ? nullptr : detail::thread_scratch<T, 0>(K * P);
    const Conv2DGeometry gp = c1 ? direct_c1_padded(g) : g;
    T* padded = c1 && my_dw && (g.ph || g.pw) ? detail::thread_scratch<T, 4>(gp.H * gp.W) : nullptr;
    T* dcols = (direct || !dx) ? nullptr : detail::thread_scratch<T, 1>(K * P);
    T* masked = relu_y ? detail::thread_scratch<T, 3>(g.O * P) : nullptr;
    for (std::size_t n = n0; n < n1; ++n) {
      if (dx && !direct) std::fill(dx + n * g.C * HW, dx + (n + 1) * g.C * HW, T(0));
      const T* dyn = dy + n * g.O * P;
      if (relu_y) {
        const T* __restrict yn = relu_y + n * g.O * P;
        const T* __restrict gn = dyn;
        T* __restrict mn = masked;
        for (std::size_t i = 0, e = g.O * P; i < e; ++i) mn[i] = yn[i] > T(0) ? gn[i] : T(0);
        dyn = masked;
      }
      for (std::size_t gi = 0; gi < g.groups; ++gi) {
        const T* dyg = dyn + gi * Og * P;
        const T* wg = w ? w + gi * Og * K : nullptr;
        if (my_db) {
          const auto add = [](T a, T b) { return a + b; };
          for (std::size_t o = 0; o < Og; ++o) my_db[gi * Og + o] += detail::fold_lanes(dyg + o * P, P, T(0), add);
        }
        if (my_dw && c1) {
          conv2d_weight_grad_direct_c1(gp, direct_c1_pad(g, x + n * HW, padded), dyg, my_dw);
        } else if (my_dw) {
          const T* xg = x + (n * g.C + gi * Cg) * HW;
          const T* src = xg;
          if (!direct) {
            im2col(xg, Cg, g, cols);
            src = cols;
          }
          gemm(false, true, Og, K, P, T(1), dyg, P, src, P, T(1), my_dw + gi * Og * K, K);
        }
        if (dx) {
          T* dxg = dx + (n * g.C + gi * Cg) * HW;
          if (direct) {
            gemm(true, false, K, P, Og, T(1), wg, K, dyg, P, T(0), dxg, P);
          } else {
            gemm(true, false, K, P, Og, T(1), wg, K, dyg, P, T(0), dcols, P);
            col2im(dcols, Cg, g, dxg);
          }
        }
      }
    }
  });
  for (int t = 1; t < used && partials; ++t) {
    const T* mine = partials + part * static_cast<std::size_t>(t - 1);
    if (dw)
      for (std::size_t i = 0; i < wsize; ++i) dw[i] += mine[i];
    if (db)
      for (std::size_t o = 0; o < g.O; ++o) db[o] += mine[wsize + o];
  }
}

}  // namespace gluino::kernels
