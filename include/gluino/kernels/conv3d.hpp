// SPDX-License-Identifier: Apache-2.0
#pragma once
/// 3-D convolution on raw NCDHW pointers: direct loops (no vol2col, no GEMM), split over threads
/// by output plane (forward), input image (input gradient) and filter (weight gradient), so that
/// no two threads write the same element.  Correct and simple rather than fast (a vol2col + GEMM
/// path as kernels/conv2d.hpp's would be the next step).  No NDArray, no autograd:
/// nd/conv3d.hpp checks arguments and wraps these.
#include <algorithm>
#include <cstddef>

#include "gluino/core/parallel.hpp"
#include "gluino/detail/precompiled.hpp"

namespace gluino::kernels {

/// The geometry of one 3-D convolution: x (N, C, D, H, W), w (O, C / groups, kd, kh, kw),
/// y (N, O, Do, Ho, Wo).  Index 0, 1, 2 of each triple = depth, height, width.
struct Conv3DGeometry {
  std::size_t N = 0, C = 0, O = 0, groups = 1;
  std::size_t in[3] = {0, 0, 0};      // D, H, W
  std::size_t k[3] = {1, 1, 1};       // kernel
  std::size_t s[3] = {1, 1, 1};       // stride
  std::size_t p[3] = {0, 0, 0};       // zero padding on each side
  std::size_t d[3] = {1, 1, 1};       // dilation
  std::size_t out[3] = {0, 0, 0};     // Do, Ho, Wo

  std::size_t Cg() const { return C / groups; }
  std::size_t Og() const { return O / groups; }
  std::size_t in_volume() const { return in[0] * in[1] * in[2]; }
  std::size_t out_volume() const { return out[0] * out[1] * out[2]; }
  std::size_t K() const { return Cg() * k[0] * k[1] * k[2]; }
};

namespace detail3d {
/// Calls f(x_offset_in_plane, w_offset_in_filter_channel) for every kernel tap of output voxel
/// (od, oh, ow) that lands inside the input (taps in the padding skipped).
template <class F>
inline void for_taps(const Conv3DGeometry& g, std::size_t od, std::size_t oh, std::size_t ow, F&& f) {
  using ll = long long;
  for (std::size_t a = 0; a < g.k[0]; ++a) {
    const ll z = static_cast<ll>(od * g.s[0] + a * g.d[0]) - static_cast<ll>(g.p[0]);
    if (z < 0 || z >= static_cast<ll>(g.in[0])) continue;
    for (std::size_t b = 0; b < g.k[1]; ++b) {
      const ll y = static_cast<ll>(oh * g.s[1] + b * g.d[1]) - static_cast<ll>(g.p[1]);
      if (y < 0 || y >= static_cast<ll>(g.in[1])) continue;
      for (std::size_t c = 0; c < g.k[2]; ++c) {
        const ll x = static_cast<ll>(ow * g.s[2] + c * g.d[2]) - static_cast<ll>(g.p[2]);
        if (x < 0 || x >= static_cast<ll>(g.in[2])) continue;
        f((static_cast<std::size_t>(z) * g.in[1] + static_cast<std::size_t>(y)) * g.in[2] + static_cast<std::size_t>(x),
          (a * g.k[1] + b) * g.k[2] + c);
      }
    }
  }
}
}  // namespace detail3d

/// y[n, o, od, oh, ow] = b[o] + sum_{c, a, b, c'} w[o, c, a, b, c'] *
///   x[n, grp*Cg + c, od*sd + a*dd - pd, oh*sh + b*dh - ph, ow*sw + c'*dw - pw]   (zero outside x).
/// b may be null.  One task per (n, o) output volume.
template <class T>
void conv3d_forward(const Conv3DGeometry& g, const T* x, const T* w, const T* b, T* y) {
  const std::size_t Cg = g.Cg(), Og = g.Og(), V = g.in_volume(), P = g.out_volume(), kv = g.k[0] * g.k[1] * g.k[2];
  gluino::detail::parallel_for(g.N * g.O, [&](std::size_t t) {
    const std::size_t n = t / g.O, o = t % g.O, grp = o / Og;
    T* yo = y + t * P;
    std::size_t at = 0;
    for (std::size_t od = 0; od < g.out[0]; ++od)
      for (std::size_t oh = 0; oh < g.out[1]; ++oh)
        for (std::size_t ow = 0; ow < g.out[2]; ++ow) {
          T acc = b ? b[o] : T(0);
          for (std::size_t c = 0; c < Cg; ++c) {
            const T* xc = x + (n * g.C + grp * Cg + c) * V;
            const T* wc = w + (o * Cg + c) * kv;
            detail3d::for_taps(g, od, oh, ow, [&](std::size_t xi, std::size_t wi) { acc += wc[wi] * xc[xi]; });
          }
          yo[at++] = acc;
        }
  }, P * g.K());
}

/// Gradients of conv3d_forward given dy (N, O, Do, Ho, Wo): dx (N, C, D, H, W), dw (O, C / groups,
/// kd, kh, kw) and db (O), each overwritten; pass null to skip one (x is read only for dw, w only
/// for dx).  dx: one task per image; dw and db: one task per filter.
template <class T>
void conv3d_backward(const Conv3DGeometry& g, const T* x, const T* w, const T* dy, T* dx, T* dw, T* db) {
  const std::size_t Cg = g.Cg(), Og = g.Og(), V = g.in_volume(), P = g.out_volume(), kv = g.k[0] * g.k[1] * g.k[2];
  // Runs f(n, o, c, xi, wi, gy) for every tap of every output voxel of image n and filter o.
  const auto each_tap = [&](std::size_t n, std::size_t o, auto&& f) {
    const T* dyo = dy + (n * g.O + o) * P;
    std::size_t at = 0;
    for (std::size_t od = 0; od < g.out[0]; ++od)
      for (std::size_t oh = 0; oh < g.out[1]; ++oh)
        for (std::size_t ow = 0; ow < g.out[2]; ++ow) {
          const T gy = dyo[at++];
          for (std::size_t c = 0; c < Cg; ++c)
            detail3d::for_taps(g, od, oh, ow, [&](std::size_t xi, std::size_t wi) { f(c, xi, wi, gy); });
        }
  };
  if (dx) {
    std::fill(dx, dx + g.N * g.C * V, T(0));
    gluino::detail::parallel_for(g.N, [&](std::size_t n) {
      for (std::size_t o = 0; o < g.O; ++o) {
        T* dxg = dx + (n * g.C + (o / Og) * Cg) * V;
        const T* wo = w + o * Cg * kv;
        each_tap(n, o, [&](std::size_t c, std::size_t xi, std::size_t wi, T gy) { dxg[c * V + xi] += wo[c * kv + wi] * gy; });
      }
    }, g.O * P * g.K());
  }
  if (dw || db) {
    gluino::detail::parallel_for(g.O, [&](std::size_t o) {
      T* dwo = dw ? dw + o * Cg * kv : nullptr;
      if (dwo) std::fill(dwo, dwo + Cg * kv, T(0));
      T sum = T(0);
      for (std::size_t n = 0; n < g.N; ++n) {
        if (db) {
          const T* dyo = dy + (n * g.O + o) * P;
          for (std::size_t i = 0; i < P; ++i) sum += dyo[i];
        }
        if (!dwo) continue;
        const T* xg = x + (n * g.C + (o / Og) * Cg) * V;
        each_tap(n, o, [&](std::size_t c, std::size_t xi, std::size_t wi, T gy) { dwo[c * kv + wi] += xg[c * V + xi] * gy; });
      }
      if (db) db[o] = sum;
    }, g.N * P * g.K());
  }
}

}  // namespace gluino::kernels

// Precompiled mode (detail/precompiled.hpp): this header's float and double instantiations.
#define GLUINO_KERNELS_CONV3D_INSTANTIATIONS(X, T) \
  X void conv3d_forward<T>(const Conv3DGeometry&, const T*, const T*, const T*, T*); \
  X void conv3d_backward<T>(const Conv3DGeometry&, const T*, const T*, const T*, T*, T*, T*);
namespace gluino::kernels {
GLUINO_EXTERN_INSTANTIATIONS(GLUINO_KERNELS_CONV3D_INSTANTIATIONS)
}  // namespace gluino::kernels
