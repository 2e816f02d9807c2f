// SPDX-License-Identifier: Apache-2.0
#pragma once
/// A 2-D convolution (ReLU included or not) fused with the max pooling of its output: each
/// image is convolved into a buffer of its thread's own, which the pooling then reads while it
/// is still in cache, so the convolution's whole output (LeNet's first layer: 11.8 MB a batch of
/// 256) is never written to memory and read back.  What nd::convolution_max_pool runs
/// (nn::Sequential takes it for a Conv2D followed by a MaxPool2D).  Raw pointers, no autograd.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "gluino/core/parallel.hpp"
#include "gluino/core/storage.hpp"
#include "gluino/detail/precompiled.hpp"
#include "gluino/kernels/conv2d.hpp"
#include "gluino/kernels/conv2d_lanes.hpp"
#include "gluino/kernels/pool.hpp"

namespace gluino::kernels {

/// The most one thread's buffer of a convolution's output image may take for the fused path:
/// 4 MiB (AlexNet's first layer takes 1.2 MB an image); a larger image convolves the batch first.
inline constexpr std::size_t conv_pool_buffer_bytes = std::size_t(4) << 20;

/// True when conv2d_max_pool_forward convolves and pools image by image: the paths
/// conv2d_forward_rows computes (conv2d_rows_applies: im2col + GEMM, pointwise, the wide and
/// single-channel direct kernels), a batch of at least as many images as the threads that share
/// it (a smaller one splits each image's rows, conv2d_forward's way), and an output image within
/// conv_pool_buffer_bytes.  Otherwise it convolves the batch and pools after, with the same result.
template <class T>
bool conv2d_pool_fuses(const Conv2DGeometry& g) {
  if (g.N == 0 || g.O == 0 || g.P() == 0 || !conv2d_rows_applies<T>(g)) return false;
  if (detail::saturating_mul(g.O, g.P()) > conv_pool_buffer_bytes / sizeof(T)) return false;
  return !conv2d_forward_workspace<T>(g).split_rows;
}

/// y = max pooling pg of conv2d_forward(g, x, w, b, relu) plane by plane, as
/// max_pool2d_plane computes it (pg.H == g.Ho, pg.W == g.Wo): y (N, O, pg.Ho, pg.Wo); idx, when
/// not null, the same count of arg-max positions within a convolution output plane
/// (max_pool2d_plane's).  Where batch_lanes_applies, groups of wide_lanes<T> images in the
/// vector lanes split over threads (kernels/conv2d_lanes.hpp); else images split over threads
/// as conv2d_forward splits them, each image convolved by conv2d_forward_rows into its thread's
/// buffer and pooled from there (conv2d_pool_fuses); otherwise the whole convolution first, into
/// a buffer from the memory pool, by conv2d_forward, whose team pools the planes each thread
/// computed where it splits one image's channels (wide_channel_block), and else pools after.
/// Every way the same numbers as the two calls.  An exception on
/// any thread (std::bad_alloc) reaches the caller.
template <class T>
void conv2d_max_pool_forward(const Conv2DGeometry& g, const Pool2DGeometry& pg, const T* x, const T* w, const T* b,
                             bool relu, T* y, std::int32_t* idx) {
  const std::size_t P = g.P(), Q = pg.Ho * pg.Wo, O = g.O;
  if (g.N == 0 || O == 0 || Q == 0) return;
  if (batch_lanes_applies<T>(g, pg)) {  // groups of L images in the vector lanes (kernels/conv2d_lanes.hpp)
    constexpr std::size_t L = wide_lanes<T>;
    const LanesLayout l = lanes_layout<T>(g);
    const std::size_t groups = (g.N + L - 1) / L, pooled = 2 * O * Q * L;
    const std::size_t per_thread = detail::round_panel(l.input) + detail::round_panel(l.output) + detail::round_panel(pooled);
    const int threads = detail::team_size(groups, static_cast<double>(L * O * g.K() * P));
    // The filters packed as the wide kernel packs them (the same block of output channels).
    const typename WidePackCache<T>::Packed cached = cached_wide_packing(g, w);
    const std::size_t own = cached ? 0 : detail::round_panel(l.packed);
    Storage<T> storage(own + per_thread * static_cast<std::size_t>(threads));
    const T* packed = cached ? cached->data() : storage.data();
    if (!cached) direct_wide_pack(g, wide_layout<T>(g), w, storage.data());
    detail::run_team(threads, [&](int tid, int team) {
      const auto t = static_cast<std::size_t>(tid), k = static_cast<std::size_t>(team);
      T* const xg = storage.data() + own + per_thread * t;
      T* const conv = xg + detail::round_panel(l.input);
      T* const pooled_buf = conv + detail::round_panel(l.output);
      if (g.ph || g.pw) std::fill(xg, xg + l.input, T(0));  // its borders (only the interior is written)
      for (std::size_t gi = groups * t / k, g1 = groups * (t + 1) / k; gi < g1; ++gi) {
        const std::size_t n0 = gi * L, count = std::min(L, g.N - n0);
        conv2d_max_pool_forward_lanes(g, pg, l, x + n0 * g.C * g.H * g.W, count, packed, b, relu, y + n0 * O * Q,
                                      idx ? idx + n0 * O * Q : nullptr, xg, conv, pooled_buf);
      }
    });
    return;
  }
  if (!conv2d_pool_fuses<T>(g)) {
    Storage<T> conv(std::max<std::size_t>(g.N * O * P, 1));
    // One image's channels split over the threads (wide_channel_block): each pools its own.
    const detail_conv::PoolAfter<T> after{pg, y, idx};
    if (detail_conv::forward(g, x, w, b, conv.data(), relu, &after)) return;
    const T* c = conv.data();
    detail::parallel_for(g.N * O, [&](std::size_t p) {
      max_pool2d_plane(pg, c + p * P, y + p * Q, idx ? idx + p * Q : nullptr);
    }, P + Q * pg.kh * pg.kw);
    return;
  }
  const Conv2DWorkspace plan = conv2d_forward_workspace<T>(g);
  const std::size_t per_thread = plan.per_thread() + detail::round_panel(O * P);
  const auto threads = static_cast<std::size_t>(plan.threads);
  // The wide path's filters: kept across calls when small, else packed after the panels.
  const typename WidePackCache<T>::Packed cached = plan.shared ? cached_wide_packing(g, w) : nullptr;
  Storage<T> storage(per_thread * threads + (cached ? 0 : plan.shared));  // given back on return or throw
  T* const base = storage.data();
  const T* packed = cached ? cached->data() : nullptr;
  if (plan.shared && !cached) {
    T* const mine = base + per_thread * threads;
    direct_wide_pack(g, wide_layout<T>(g), w, mine);
    packed = mine;
  }
  detail::run_team(plan.threads, [&](int tid, int team) {
    const auto t = static_cast<std::size_t>(tid), k = static_cast<std::size_t>(team);
    T* const mine = base + per_thread * t;
    T* const cols = plan.cols ? mine : nullptr;
    T* const padded = plan.padded ? mine + detail::round_panel(plan.cols) : nullptr;
    T* const image = mine + plan.per_thread();  // one convolved image, pooled plane by plane
    for (std::size_t n = g.N * t / k, n1 = g.N * (t + 1) / k; n < n1; ++n) {
      conv2d_forward_rows(g, x + n * g.C * g.H * g.W, w, b, image, relu, 0, g.Ho, plan.tile_rows, cols, padded, packed);
      for (std::size_t o = 0; o < O; ++o)
        max_pool2d_plane(pg, image + o * P, y + (n * O + o) * Q, idx ? idx + (n * O + o) * Q : nullptr);
    }
  });
}

/// The naive reference for tests: conv2d_forward_naive, ReLU, then pool2d_plane_naive per plane
/// (no arg-max).
template <class T>
void conv2d_max_pool_forward_naive(const Conv2DGeometry& g, const Pool2DGeometry& pg, const T* x, const T* w,
                                   const T* b, bool relu, T* y) {
  const std::size_t P = g.P(), Q = pg.Ho * pg.Wo;
  std::vector<T> conv(g.N * g.O * P);
  conv2d_forward_naive(g, x, w, b, conv.data());
  if (relu)
    for (T& v : conv) v = v > T(0) ? v : (v != v ? v : T(0));  // NaN stays NaN, as nd::relu
  for (std::size_t p = 0; p < g.N * g.O; ++p) pool2d_plane_naive(pg, conv.data() + p * P, y + p * Q, true, true);
}

/// The convolution's output gradient from the pooled one: dy (N, O, pg.Ho, pg.Wo) added at the
/// arg-max positions idx that conv2d_max_pool_forward saved (max_pool2d_backward_plane), zero
/// elsewhere, into dconv (N, O, g.Ho, g.Wo); with `relu_y` (the fused op's pooled output, when
/// the convolution had a ReLU) dy counts only where relu_y is positive: the ReLU's derivative at
/// the arg-max, whose convolution output is the pooled value.  Planes split over threads.
template <class T>
void conv2d_max_pool_backward_scatter(const Conv2DGeometry& g, const Pool2DGeometry& pg, const T* dy,
                                      const std::int32_t* idx, const T* relu_y, T* dconv) {
  const std::size_t P = g.P(), Q = pg.Ho * pg.Wo;
  if (Q == 0) {
    std::fill(dconv, dconv + g.N * g.O * P, T(0));
    return;
  }
  detail::parallel_for(g.N * g.O, [&](std::size_t p) {
    const T* d = dy + p * Q;
    if (relu_y) {  // masked into a copy on the stack when small, else a buffer of this call
      constexpr std::size_t small = 1024;
      T stack[small];
      std::optional<Storage<T>> heap;
      T* m = stack;
      if (Q > small) {
        heap.emplace(Q);
        m = heap->data();
      }
      const T* v = relu_y + p * Q;
      for (std::size_t i = 0; i < Q; ++i) m[i] = v[i] > T(0) ? d[i] : T(0);
      max_pool2d_backward_plane(pg, m, idx + p * Q, dconv + p * P);
      return;
    }
    max_pool2d_backward_plane(pg, d, idx + p * Q, dconv + p * P);
  }, P + Q);
}

/// dx, dw, db (overwritten; null ones skipped; x read only for dw, w only for dx) of the
/// convolution g under a max pooling pg, as conv2d_backward computes them from the convolution's
/// output gradient, which is dy (N, O, pg.Ho, pg.Wo) at the arg-max positions idx (masked by
/// relu_y's sign when the convolution had a ReLU: conv2d_max_pool_backward_scatter).  Where
/// batch_lanes_grad_applies, with the images in the vector lanes (conv2d_lanes.hpp: dx the wide
/// kernel's sums bit for bit, dw and db summed in another order).  Else, when one
/// wide kernel (conv2d_wide.hpp) computes all that is asked, it scatters dy straight into its
/// padded layout; otherwise (two gradients, other paths, a weight gradient not finite there)
/// conv2d_backward reads the scattered array.
template <class T>
void conv2d_max_pool_backward(const Conv2DGeometry& g, const Pool2DGeometry& pg, const T* x, const T* w, const T* dy,
                              const std::int32_t* idx, const T* relu_y, T* dx, T* dw, T* db) {
  if (idx && batch_lanes_grad_applies<T>(g, pg, dx != nullptr)) {  // images in the lanes (conv2d_lanes.hpp)
    if (dx || dw || db) conv2d_max_pool_backward_lanes(g, pg, x, w, dy, idx, relu_y, dx, dw, db);
    return;
  }
  PooledGrad<T> pooled;
  pooled.pool = pg, pooled.dy = dy, pooled.idx = idx, pooled.relu_y = relu_y;
  // The paths conv2d_backward would take for these gradients: the wide ones come before any
  // but the depthwise and Winograd kernels.  Scattered once either way: into the wide kernel's
  // layout when that one kernel computes all that is asked (the weight gradient of a first
  // layer, LeNet's conv1: 0.90-0.97 ms against 1.17-1.19 at batch 256), into the array when two
  // read it (LeNet's conv2, where scattering it twice cost more than the copies: 4.5 against
  // 3.8-4.3 ms).
  const bool wide =
      g.N > 0 && g.O > 0 && g.P() > 0 && pg.Ho * pg.Wo > 0 && !depthwise_applies(g) && !winograd_applies(g);
  const T* const none = nullptr;
  if (wide && dw && !dx && direct_wide_weight_grad_applies<T>(g) &&
      conv2d_weight_grad_direct_wide(g, x, none, dw, db, none, &pooled))
    return;
  if (wide && dx && !dw && !db && direct_wide_input_grad_applies<T>(g)) {
    conv2d_input_grad_direct_wide(g, w, none, dx, none, &pooled);
    return;
  }
  Storage<T> dconv(std::max<std::size_t>(g.N * g.O * g.P(), 1));
  conv2d_max_pool_backward_scatter(g, pg, dy, idx, relu_y, dconv.data());
  conv2d_backward(g, x, w, dconv.data(), dx, dw, db);
}

}  // namespace gluino::kernels

// Precompiled mode (detail/precompiled.hpp): this header's float and double instantiations.
#define GLUINO_KERNELS_CONV2D_POOL_INSTANTIATIONS(X, T)                                                           \
  X void conv2d_max_pool_forward<T>(const Conv2DGeometry&, const Pool2DGeometry&, const T*, const T*, const T*,  \
                                    bool, T*, std::int32_t*);                                                     \
  X void conv2d_max_pool_forward_naive<T>(const Conv2DGeometry&, const Pool2DGeometry&, const T*, const T*,       \
                                          const T*, bool, T*);                                                    \
  X void conv2d_max_pool_backward_scatter<T>(const Conv2DGeometry&, const Pool2DGeometry&, const T*,              \
                                             const std::int32_t*, const T*, T*);                                  \
  X void conv2d_max_pool_backward<T>(const Conv2DGeometry&, const Pool2DGeometry&, const T*, const T*, const T*,  \
                                     const std::int32_t*, const T*, T*, T*, T*);
namespace gluino::kernels {
GLUINO_EXTERN_INSTANTIATIONS(GLUINO_KERNELS_CONV2D_POOL_INSTANTIATIONS)
}  // namespace gluino::kernels
