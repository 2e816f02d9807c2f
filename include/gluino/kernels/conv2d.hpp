// SPDX-License-Identifier: Apache-2.0
#pragma once
/// 2-D convolution on raw NCHW pointers: the fast path (im2col + GEMM per image, images split
/// over threads, each with a bounded workspace from the memory pool, output rows in tiles) and a
/// naive reference loop that tests compare it with.  No NDArray, no autograd: nd/conv.hpp
/// checks arguments and wraps these.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <utility>

#include "gluino/core/parallel.hpp"
#include "gluino/core/storage.hpp"
#include "gluino/detail/fold_lanes.hpp"
#include "gluino/detail/precompiled.hpp"
#include "gluino/kernels/conv2d_depthwise.hpp"
#include "gluino/kernels/conv2d_direct.hpp"
#include "gluino/kernels/conv2d_wide.hpp"
#include "gluino/kernels/conv2d_winograd.hpp"
#include "gluino/kernels/gemm.hpp"
#include "gluino/kernels/im2col.hpp"
#include "gluino/kernels/pool.hpp"

namespace gluino::detail {
/// a * b, or SIZE_MAX when that overflows (sizes compared against a budget).
inline std::size_t saturating_mul(std::size_t a, std::size_t b) {
  std::size_t r = 0;
  return __builtin_mul_overflow(a, b, &r) ? static_cast<std::size_t>(-1) : r;
}
}  // namespace gluino::detail

namespace gluino::kernels {

/// The most one thread's panel of the column matrix (K x rows of output pixels) or of masked dy
/// (O x the same) may take before the output rows are split into tiles: 8 MiB, a few L2 caches
/// (4 MiB tiles cost AlexNet's conv2, 6.2 MB whole, 10% in bench_conv2d).  A tile holds at
/// least one output row, so a panel is at most max(conv_panel_bytes, K * Wo * sizeof(T)).
inline constexpr std::size_t conv_panel_bytes = std::size_t(8) << 20;

/// Output rows per tile for panels of `panel_rows` rows of T: all Ho when a whole image's panel
/// fits in conv_panel_bytes (or there is no panel), otherwise as many rows as fit (at least one),
/// evened out over the tiles.  g.tile_rows, when set, wins (tests use it).
template <class T>
std::size_t conv_tile_rows(const Conv2DGeometry& g, std::size_t panel_rows) {
  if (g.tile_rows) return std::max<std::size_t>(1, std::min(g.tile_rows, g.Ho));
  const std::size_t row_bytes = detail::saturating_mul(detail::saturating_mul(panel_rows, g.Wo), sizeof(T));
  if (row_bytes == 0 || g.Ho <= conv_panel_bytes / row_bytes) return std::max<std::size_t>(g.Ho, 1);
  const std::size_t fit = std::max<std::size_t>(1, conv_panel_bytes / row_bytes);
  const std::size_t tiles = (g.Ho + fit - 1) / fit;
  return (g.Ho + tiles - 1) / tiles;
}

/// The scratch memory of one conv2d_forward or conv2d_backward call, taken from the memory pool
/// (Storage) before the threads start and given back when the call returns, so that
/// set_memory_cache_limit covers it and running out of memory throws std::bad_alloc on the
/// calling thread.  Sizes in elements of T; per thread: the column panel, the dcols panel, the
/// masked-dy panel and the zero-bordered image of the single-channel and wide paths (each
/// 64-byte aligned); shared: the packed filters of the wide path (forward), the partial weight
/// and bias gradients of threads 1.. (backward).
struct Conv2DWorkspace {
  int threads = 1;             ///< the team size the call uses
  bool split_rows = false;     ///< forward: each image's rows split over the team (a smaller batch)
  /// forward with split_rows: each image's output channels split over the team instead, in
  /// blocks of this many (wide_channel_block); 0: its rows.
  std::size_t channel_block = 0;
  std::size_t tile_rows = 0;   ///< output rows per tile
  std::size_t cols = 0, dcols = 0, masked = 0, padded = 0;  ///< per-thread panel sizes
  std::size_t shared = 0;      ///< packed filters (forward, wide path); partial sums (backward, threads > 1)
  std::size_t per_thread() const {
    return detail::round_panel(cols) + detail::round_panel(dcols) + detail::round_panel(masked) +
           detail::round_panel(padded);
  }
  std::size_t elements() const { return per_thread() * static_cast<std::size_t>(threads) + shared; }
};

namespace detail_conv {
/// True when every one of a[0, n) is finite: a NaN or an infinity makes a sum of a[i] * 0 NaN
/// (in lanes, so that the loop vectorises).
template <class T>
bool all_finite(const T* a, std::size_t n) {
  const T check = detail::fold_lanes(a, n, T(0), [](T s, T v) { return s + v * T(0); });
  return check == T(0);
}

/// A max pooling of the convolution's output that conv2d_forward's team applies to the planes
/// each thread computed, where it splits one image's channels (conv2d_max_pool_forward).
template <class T>
struct PoolAfter {
  Pool2DGeometry geometry;
  T* y = nullptr;
  std::int32_t* idx = nullptr;
};
/// conv2d_forward; with `pool`, returns true when it also pooled every plane into pool->y (and
/// pool->idx), false when the caller is still to pool y.
template <class T>
bool forward(const Conv2DGeometry& g, const T* x, const T* w, const T* b, T* y, bool relu, const PoolAfter<T>* pool);
}  // namespace detail_conv

/// A batch smaller than the thread count whose convolution runs on the wide kernel with output
/// planes of fewer bytes than this splits each image's output channels over the threads, not
/// its rows: with bands of rows, every plane's band boundary would share a cache line written
/// by two threads (LeNet's second layer: planes of 400 bytes split at 200), and so would the
/// pooling after it.  Measured in docs/performance.md.
inline constexpr std::size_t wide_channel_split_bytes = 4096;

/// The block of output channels each of `threads` threads takes (whole blocks of the wide
/// kernel's register tile) when one image's convolution g splits its channels
/// (wide_channel_split_bytes): the wide kernel applies, the planes are small and there are at
/// least as many blocks as threads; 0 otherwise (split its rows).
template <class T>
std::size_t wide_channel_block(const Conv2DGeometry& g, int threads) {
  if (!direct_wide_applies<T>(g) || threads < 2 || g.P() * sizeof(T) >= wide_channel_split_bytes) return 0;
  const std::size_t block = wide_block_for(g.O);
  return (g.O + block - 1) / block >= static_cast<std::size_t>(threads) ? block : 0;
}

/// Output channels [first, second) of O that thread t of a team of k takes when one image's
/// channels split in blocks of `block` (wide_channel_block): whole blocks, as evenly as they go.
inline std::pair<std::size_t, std::size_t> wide_channel_share(std::size_t O, std::size_t block, std::size_t t,
                                                              std::size_t k) {
  const std::size_t blocks = (O + block - 1) / block;
  return {std::min(O, blocks * t / k * block), std::min(O, blocks * (t + 1) / k * block)};
}

/// The workspace conv2d_forward(g, ...) takes, in elements of T.
template <class T>
Conv2DWorkspace conv2d_forward_workspace(const Conv2DGeometry& g) {
  Conv2DWorkspace ws;
  if (g.N == 0 || g.O == 0 || g.P() == 0) return ws;
  const bool wide = direct_wide_applies<T>(g), c1 = !wide && direct_c1_applies(g),
             im2col_path = !g.is_pointwise() && !c1 && !wide;
  const double flops = static_cast<double>(g.O) * static_cast<double>(g.K()) * static_cast<double>(g.P());
  ws.threads = detail::team_size(g.N, flops);
  // A batch smaller than the thread count (batch-1 inference): every thread takes a band of each
  // image's output rows, when each band is still worth a thread (team_size's threshold).
  const int max_t = get_num_threads();
  if (max_t > 1 && g.N < static_cast<std::size_t>(max_t) && g.Ho >= static_cast<std::size_t>(max_t) &&
      detail::team_size(static_cast<std::size_t>(max_t), static_cast<double>(g.N) * flops / max_t) > 1) {
    ws.threads = max_t;
    ws.split_rows = true;
    ws.channel_block = wide_channel_block<T>(g, max_t);
  }
  ws.tile_rows = conv_tile_rows<T>(g, im2col_path ? g.K() : 0);
  if (im2col_path) ws.cols = g.K() * ws.tile_rows * g.Wo;
  if (c1 && (g.ph || g.pw)) ws.padded = (g.H + 2 * g.ph) * (g.W + 2 * g.pw);
  if (wide) {
    const WideLayout l = wide_layout<T>(g);
    ws.padded = l.padded;
    ws.shared = l.packed;
  }
  return ws;
}

/// The workspace conv2d_backward(g, ...) takes, in elements of T, given which of dx, dw, db it
/// computes and whether it masks dy with a fused ReLU's output.
template <class T>
Conv2DWorkspace conv2d_backward_workspace(const Conv2DGeometry& g, bool dx, bool dw, bool db, bool relu) {
  Conv2DWorkspace ws;
  if (g.N == 0 || g.O == 0 || g.P() == 0 || (!dx && !dw && !db)) return ws;
  const bool direct = g.is_pointwise(), c1 = direct_c1_applies(g);
  const bool need_cols = dw && !direct && !c1, need_dcols = dx && !direct;
  const double flops = static_cast<double>(g.O) * static_cast<double>(g.K()) * static_cast<double>(g.P()) *
                       ((dx ? 1.0 : 0.0) + (dw ? 1.0 : 0.0));
  ws.threads = detail::team_size(g.N, std::max(flops, static_cast<double>(g.O * g.P())));
  ws.tile_rows = conv_tile_rows<T>(g, std::max(need_cols || need_dcols ? g.K() : 0, relu ? g.O : 0));
  const std::size_t Pt = ws.tile_rows * g.Wo;
  if (need_cols) ws.cols = g.K() * Pt;
  if (need_dcols) ws.dcols = g.K() * Pt;
  if (relu) ws.masked = g.O * Pt;
  if (c1 && dw && (g.ph || g.pw)) ws.padded = (g.H + 2 * g.ph) * (g.W + 2 * g.pw);
  if (ws.threads > 1 && (dw || db)) ws.shared = (g.O * g.K() + g.O) * static_cast<std::size_t>(ws.threads - 1);
  return ws;
}

}  // namespace gluino::kernels

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
// Fast path: per image, group and tile of output rows,
//   y_g[:, tile] (Og, Pt) = w_g (Og, K) * cols_g[:, tile] (K, Pt) + b_g.
// ---------------------------------------------------------------------------------------------

/// True when conv2d_forward takes the paths conv2d_forward_rows computes (im2col + GEMM, the
/// pointwise product, the wide and single-channel direct kernels), which can split one image's
/// output rows over threads; false for the depthwise, Winograd and small-channel direct kernels.
template <class T>
bool conv2d_rows_applies(const Conv2DGeometry& g) {
  return !depthwise_applies(g) && !winograd_applies(g) && (direct_wide_applies<T>(g) || !direct_small_applies(g));
}

/// Output rows [oh0, oh1) of one image (all channels) as conv2d_forward computes them: x the
/// image (C, H, W), y its output (O, Ho, Wo), the rest of y untouched.  Im2col + GEMM a tile of
/// `rows` output rows at a time with cols holding K * rows * Wo elements; the pointwise product
/// without cols; the single-channel direct kernel on x copied into `padded` (the
/// direct_c1_padded(g) image) when g pads; the wide direct kernel (direct_wide_applies) with
/// the filters `packed` by direct_wide_pack and `padded` its wide_layout's scratch.  ReLU on
/// those rows when relu.  Requires conv2d_rows_applies(g).  Each thread of conv2d_forward runs it on whole images; a graph's
/// team schedule (graph/team.hpp) runs one image's rows on several threads.
template <class T>
void conv2d_forward_rows(const Conv2DGeometry& g, const T* x, const T* w, const T* b, T* y, bool relu,
                         std::size_t oh0, std::size_t oh1, std::size_t rows, T* cols, T* padded,
                         const T* packed = nullptr) {
  const std::size_t Cg = g.Cg(), Og = g.Og(), K = g.K(), P = g.P(), HW = g.H * g.W, Wo = g.Wo;
  if (oh0 >= oh1) return;
  if (direct_wide_applies<T>(g)) {  // stride 1: the wide kernel, ReLU included
    conv2d_forward_direct_wide(g, wide_layout<T>(g), x, packed, b, y, relu, oh0, oh1, padded);
    return;
  }
  if (direct_c1_applies(g)) {  // one input channel: the direct kernel, ReLU included
    conv2d_forward_direct_c1(direct_c1_padded(g), direct_c1_pad(g, x, padded), w, b, y, relu, oh0, oh1);
    return;
  }
  const bool direct = g.is_pointwise();
  for (std::size_t gi = 0; gi < g.groups; ++gi) {
    const T* xg = x + gi * Cg * HW;
    T* yg = y + gi * Og * P;
    if (b) {
      for (std::size_t o = 0; o < Og; ++o) std::fill(yg + o * P + oh0 * Wo, yg + o * P + oh1 * Wo, b[gi * Og + o]);
    }
    for (std::size_t t0 = oh0; t0 < oh1; t0 += rows) {
      const std::size_t t1 = std::min(t0 + rows, oh1), Pt = (t1 - t0) * Wo;
      const T* src = xg + t0 * Wo;  // pointwise: the input is the column matrix (Wo == W)
      std::size_t ld = P;
      if (!direct) {
        im2col(xg, Cg, g, cols, t0, t1);
        src = cols;
        ld = Pt;
      }
      gemm(false, false, Og, Pt, K, T(1), w + gi * Og * K, K, src, ld, b ? T(1) : T(0), yg + t0 * Wo, P);
    }
  }
  if (relu) {
    for (std::size_t o = 0; o < g.O; ++o) {
      T* __restrict yo = y + o * P;
      for (std::size_t i = oh0 * Wo, e = oh1 * Wo; i < e; ++i) yo[i] = yo[i] <= T(0) ? T(0) : yo[i];  // NaN stays NaN, as nd::relu
    }
  }
}

/// Same result as conv2d_forward_naive, followed by max(y, 0) when `relu` (applied to each image
/// while it is still in cache, instead of a separate pass over the whole batch).  Images are
/// split over threads (each with its own column panel, GEMMs single-threaded inside the team); a
/// batch smaller than the thread count splits each image's output rows over them instead
/// (Conv2DWorkspace::split_rows; on the wide kernel with small planes its output channels,
/// wide_channel_block), when that is worth a team; tiny work runs on the calling
/// thread, where Eigen may parallelise the GEMM itself.  The column matrix of an image is built
/// and multiplied a tile of output rows at a time (conv_tile_rows), so the workspace
/// (conv2d_forward_workspace, from the memory pool for the duration of the call) stays bounded.  A pointwise convolution (1x1, stride 1, no padding)
/// multiplies the input directly, without im2col; a single-channel one (direct_c1_applies) goes
/// to the direct kernel of conv2d_direct.hpp, in the forward pass and for the weight gradient; a
/// depthwise one (depthwise_applies) to conv2d_depthwise.hpp, forward and backward; a 3x3 or
/// 5x5 stride-1 one with enough channels and tiles (winograd_applies) to conv2d_winograd.hpp,
/// forward and backward; other stride-1 ones whose padded image fits wide_image_bytes
/// (direct_wide_applies) to the wide direct kernel of conv2d_wide.hpp, forward and input
/// gradient; a 3x3 stride-1 one with 2 to 16 input channels (direct_small_applies) to the
/// small-channel direct kernels of conv2d_direct.hpp for the weight gradient, and for the
/// forward pass and input gradient (up to 32 output channels) where the wide kernel does not
/// apply.  An exception on any thread (std::bad_alloc, the GEMM's size check) reaches the caller.
template <class T>
void conv2d_forward(const Conv2DGeometry& g, const T* x, const T* w, const T* b, T* y, bool relu = false) {
  detail_conv::forward(g, x, w, b, y, relu, static_cast<const detail_conv::PoolAfter<T>*>(nullptr));
}

namespace detail_conv {
template <class T>
bool forward(const Conv2DGeometry& g, const T* x, const T* w, const T* b, T* y, bool relu, const PoolAfter<T>* pool) {
  if (g.N == 0 || g.O == 0 || g.P() == 0) return false;
  // Paths that do not pool (the caller pools after them).
  if (depthwise_applies(g)) {
    conv2d_forward_depthwise(g, x, w, b, y, relu);
    return false;
  }
  if (winograd_applies(g)) {
    conv2d_forward_winograd(g, x, w, b, y, relu);
    // The transforms mix every pixel of a tile's patch into each of its outputs: an infinite or
    // NaN pixel or weight (or a transform that overflows) leaves outputs infinite or NaN that the
    // direct sum keeps finite.  Such a y is computed again by im2col + GEMM.
    if (all_finite(y, g.N * g.O * g.P())) return false;
    Conv2DGeometry generic = g;
    generic.generic = true;
    return forward(generic, x, w, b, y, relu, pool);
  }
  if (direct_small_applies(g) && !direct_wide_applies<T>(g)) {
    conv2d_forward_direct_small(g, x, w, b, y, relu);
    return false;
  }
  const Conv2DWorkspace plan = conv2d_forward_workspace<T>(g);
  // The wide path's packed filters, shared by the team: kept across calls when small
  // (WidePackCache), else packed into the workspace after the per-thread panels.
  const typename WidePackCache<T>::Packed cached = plan.shared ? cached_wide_packing(g, w) : nullptr;
  const std::size_t elements = plan.elements() - (cached ? plan.shared : 0);
  std::optional<Storage<T>> storage;  // taken before the team starts, given back on return or throw
  if (elements > 0) storage.emplace(elements);
  T* const base = storage ? storage->data() : nullptr;
  const T* packed = cached ? cached->data() : nullptr;
  if (plan.shared && !cached) {
    T* const mine = base + plan.per_thread() * static_cast<std::size_t>(plan.threads);
    direct_wide_pack(g, wide_layout<T>(g), w, mine);
    packed = mine;
  }
  detail::run_team(plan.threads, [&](int tid, int team) {
    const auto t = static_cast<std::size_t>(tid), k = static_cast<std::size_t>(team);
    // Images [n0, n1), output rows [r0, r1) of each: whole images, or (split_rows) a band of all.
    std::size_t n0 = g.N * t / k, n1 = g.N * (t + 1) / k, r0 = 0, r1 = g.Ho;
    if (plan.split_rows) n0 = 0, n1 = g.N, r0 = g.Ho * t / k, r1 = g.Ho * (t + 1) / k;
    T* const mine = base ? base + plan.per_thread() * t : nullptr;
    T* const cols = plan.cols ? mine : nullptr;
    T* const padded = plan.padded ? mine + detail::round_panel(plan.cols) : nullptr;
    if (plan.channel_block) {  // split_rows with small planes: blocks of channels, all rows
      const auto [o0, o1] = wide_channel_share(g.O, plan.channel_block, t, k);
      const WideLayout l = wide_layout<T>(g);
      for (std::size_t n = 0; o0 < o1 && n < g.N; ++n) {
        conv2d_forward_direct_wide_channels(g, l, x + n * g.C * g.H * g.W, packed, b, y + n * g.O * g.P(), relu, o0,
                                            o1, padded);
        if (!pool) continue;
        const std::size_t Q = pool->geometry.Ho * pool->geometry.Wo;
        for (std::size_t p = n * g.O + o0; p < n * g.O + o1; ++p)  // the planes this thread computed
          max_pool2d_plane(pool->geometry, y + p * g.P(), pool->y + p * Q, pool->idx ? pool->idx + p * Q : nullptr);
      }
      return;
    }
    for (std::size_t n = n0; n < n1; ++n)
      conv2d_forward_rows(g, x + n * g.C * g.H * g.W, w, b, y + n * g.O * g.P(), relu, r0, r1, plan.tile_rows, cols,
                          padded, packed);
  });
  return plan.channel_block != 0;
}
}  // namespace detail_conv

/// Same result as conv2d_backward_naive (dx, dw, db overwritten; null ones skipped; x is read
/// only for dw, w only for dx).  Per image, tile of output rows and group:
///   dw_g += dy_g (Og, Pt) * cols_g^T (Pt, K),   dcols = w_g^T (K, Og) * dy_g (Og, Pt) -> col2im -> dx,
///   db[o] += sum of dy_g's row o.
/// Each thread accumulates dw and db over its images in its own buffer (thread 0 directly into
/// dw and db); the buffers are summed at the end.  With relu_y (the output of a convolution
/// fused with ReLU), dy is first zeroed where relu_y is not positive, tile by tile in a
/// per-thread panel: the ReLU's backward without a pass of its own.  The workspace
/// (conv2d_backward_workspace) comes from the memory pool for the duration of the call; an
/// exception on any thread reaches the caller.
template <class T>
void conv2d_backward(const Conv2DGeometry& g, const T* x, const T* w, const T* dy, T* dx, T* dw, T* db,
                     const T* relu_y = nullptr) {
  const std::size_t Cg = g.Cg(), Og = g.Og(), K = g.K(), P = g.P(), HW = g.H * g.W, Ho = g.Ho, Wo = g.Wo;
  if (depthwise_applies(g)) return conv2d_backward_depthwise(g, x, w, dy, dx, dw, db, relu_y);
  if (winograd_applies(g)) {  // the input and weight gradients by Winograd; db below
    // As in the forward pass, a gradient that comes out not finite is computed again by
    // im2col + GEMM (an infinite or NaN element spreads over whole tiles in the transforms).
    Conv2DGeometry generic = g;
    generic.generic = true;
    if (dx) {
      conv2d_input_grad_winograd(g, w, dy, dx, relu_y);
      if (!detail_conv::all_finite(dx, g.N * g.C * HW))
        conv2d_backward(generic, x, w, dy, dx, static_cast<T*>(nullptr), static_cast<T*>(nullptr), relu_y);
    }
    if (dw) {
      conv2d_weight_grad_winograd(g, x, dy, dw, relu_y);
      if (!detail_conv::all_finite(dw, g.O * K))
        conv2d_backward(generic, x, w, dy, static_cast<T*>(nullptr), dw, static_cast<T*>(nullptr), relu_y);
    }
    dx = dw = nullptr;
  }
  if (dw && direct_wide_weight_grad_applies<T>(g) && conv2d_weight_grad_direct_wide(g, x, dy, dw, db, relu_y))
    dw = db = nullptr;  // the wide weight gradient; dx below
  if (dx && direct_wide_input_grad_applies<T>(g)) {  // the wide kernel on dy
    conv2d_input_grad_direct_wide(g, w, dy, dx, relu_y);
    dx = nullptr;
  }
  if (direct_small_applies(g)) {  // the small-channel direct kernels; db (and dx past 32 outputs) below
    if (dx && g.O <= direct_small_max_grad_channels) {
      conv2d_input_grad_direct_small(g, w, dy, dx, relu_y);
      dx = nullptr;
    }
    if (dw) conv2d_weight_grad_direct_small(g, x, dy, dw, relu_y);
    dw = nullptr;
  }
  const std::size_t wsize = g.O * K;
  if (dw) std::fill(dw, dw + wsize, T(0));
  if (db) std::fill(db, db + g.O, T(0));
  if (dx && (P == 0 || g.O == 0)) std::fill(dx, dx + g.N * g.C * HW, T(0));
  if (g.N == 0 || g.O == 0 || P == 0 || (!dx && !dw && !db)) return;
  const bool direct = g.is_pointwise();
  const bool c1 = direct_c1_applies(g);
  const Conv2DWorkspace plan = conv2d_backward_workspace<T>(g, dx, dw, db, relu_y);
  std::optional<Storage<T>> storage;  // taken before the team starts, given back on return or throw
  if (plan.elements() > 0) storage.emplace(plan.elements());
  T* const base = storage ? storage->data() : nullptr;
  // Partial sums of threads 1.. (dw then db for each), after the per-thread panels.
  const std::size_t part = wsize + g.O;
  T* const partials = plan.shared ? base + plan.per_thread() * static_cast<std::size_t>(plan.threads) : nullptr;
  const std::size_t rows = plan.tile_rows;
  int used = 1;
  detail::run_team(plan.threads, [&](int tid, int team) {
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
    T* const mine = base ? base + plan.per_thread() * static_cast<std::size_t>(tid) : nullptr;
    T* const cols = plan.cols ? mine : nullptr;
    T* const dcols = plan.dcols ? mine + detail::round_panel(plan.cols) : nullptr;
    T* const masked = plan.masked ? mine + detail::round_panel(plan.cols) + detail::round_panel(plan.dcols) : nullptr;
    T* const padded = plan.padded ? mine + detail::round_panel(plan.cols) + detail::round_panel(plan.dcols) +
                                        detail::round_panel(plan.masked)
                                  : nullptr;
    const Conv2DGeometry gp = c1 ? direct_c1_padded(g) : g;
    for (std::size_t n = n0; n < n1; ++n) {
      if (dx && !direct) std::fill(dx + n * g.C * HW, dx + (n + 1) * g.C * HW, T(0));
      const T* const dyn = dy + n * g.O * P;
      const T* const xpad = my_dw && c1 ? direct_c1_pad(g, x + n * HW, padded) : nullptr;
      for (std::size_t oh0 = 0; oh0 < Ho; oh0 += rows) {
        const std::size_t oh1 = std::min(oh0 + rows, Ho), Pt = (oh1 - oh0) * Wo, p0 = oh0 * Wo;
        // this tile of dy: (O, Pt), channel o at dyt + o * lddy
        const T* dyt = dyn + p0;
        std::size_t lddy = P;
        if (relu_y) {
          for (std::size_t o = 0; o < g.O; ++o) {
            const T* __restrict yo = relu_y + n * g.O * P + o * P + p0;
            const T* __restrict go = dyn + o * P + p0;
            T* __restrict mo = masked + o * Pt;
            for (std::size_t i = 0; i < Pt; ++i) {
              const T gv = go[i];  // read unconditionally: a select, not a masked load per vector
              mo[i] = yo[i] > T(0) ? gv : T(0);
            }
          }
          dyt = masked;
          lddy = Pt;
        }
        for (std::size_t gi = 0; gi < g.groups; ++gi) {
          const T* dyg = dyt + gi * Og * lddy;
          const T* wg = w ? w + gi * Og * K : nullptr;
          if (my_db) {
            const auto add = [](T a, T b) { return a + b; };
            for (std::size_t o = 0; o < Og; ++o) my_db[gi * Og + o] += detail::fold_lanes(dyg + o * lddy, Pt, T(0), add);
          }
          if (my_dw && c1) {
            conv2d_weight_grad_direct_c1(gp, xpad, dyg, my_dw, oh0, oh1, lddy);
          } else if (my_dw) {
            const T* xg = x + (n * g.C + gi * Cg) * HW;
            const T* src = xg + p0;  // pointwise: the input is the column matrix
            std::size_t ld = P;
            if (!direct) {
              im2col(xg, Cg, g, cols, oh0, oh1);
              src = cols;
              ld = Pt;
            }
            gemm(false, true, Og, K, Pt, T(1), dyg, lddy, src, ld, T(1), my_dw + gi * Og * K, K);
          }
          if (dx) {
            T* dxg = dx + (n * g.C + gi * Cg) * HW;
            if (direct) {
              gemm(true, false, K, Pt, Og, T(1), wg, K, dyg, lddy, T(0), dxg + p0, P);
            } else {
              gemm(true, false, K, Pt, Og, T(1), wg, K, dyg, lddy, T(0), dcols, Pt);
              col2im(dcols, Cg, g, dxg, oh0, oh1);
            }
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

// Precompiled mode (detail/precompiled.hpp): this header's float and double instantiations.
#define GLUINO_KERNELS_CONV2D_INSTANTIATIONS(X, T) \
  X void conv2d_forward<T>(const Conv2DGeometry&, const T*, const T*, const T*, T*, bool); \
  X void conv2d_forward_rows<T>(const Conv2DGeometry&, const T*, const T*, const T*, T*, bool, std::size_t, \
                                std::size_t, std::size_t, T*, T*, const T*); \
  X void conv2d_backward<T>(const Conv2DGeometry&, const T*, const T*, const T*, T*, T*, T*, const T*); \
  X void conv2d_forward_naive<T>(const Conv2DGeometry&, const T*, const T*, const T*, T*); \
  X void conv2d_backward_naive<T>(const Conv2DGeometry&, const T*, const T*, const T*, T*, T*, T*);
namespace gluino::kernels {
GLUINO_EXTERN_INSTANTIATIONS(GLUINO_KERNELS_CONV2D_INSTANTIATIONS)
}  // namespace gluino::kernels
