// SPDX-License-Identifier: Apache-2.0
#pragma once
/// 2-D transposed convolution (deconvolution) on raw NCHW pointers: the fast path, which is the
/// convolution's kernels with their roles swapped (the forward pass is the convolution's input
/// gradient, col2im of W^T x), and a naive reference loop that tests compare it with.
/// No NDArray, no autograd: nd/deconvolution.hpp checks arguments and wraps these.
///
/// Geometry: a deconvolution of x (N, Ci, Hi, Wi) by w (Ci, Co / groups, kh, kw) into
/// y (N, Co, Ho, Wo) is described by the Conv2DGeometry of the convolution that maps y's shape
/// back to x's: g.C = Co, g.H = Ho, g.W = Wo (the deconvolution's output), g.O = Ci,
/// g.Ho = Hi, g.Wo = Wi (its input); strides, pads, dilations and groups as given.  The weight's
/// layout (Ci, Co / groups, kh, kw) is then that convolution's (O, C / groups, kh, kw).
#include <algorithm>
#include <cstddef>

#include "gluino/detail/precompiled.hpp"
#include "gluino/kernels/conv2d.hpp"

namespace gluino::kernels {

/// y[n, co, hi*sh + i*dh - ph, wi*sw + j*dw - pw] += x[n, ci, hi, wi] * w[ci, co % Cog, i, j] over
/// ci of co's group (scatter; positions outside y dropped), then y += b[co].  b may be null.
/// The definition, loop by loop; slow, for tests.
template <class T>
void deconv2d_forward_naive(const Conv2DGeometry& g, const T* x, const T* w, const T* b, T* y) {
  const std::size_t Cog = g.Cg(), Cig = g.Og();  // output / input channels of one group
  std::fill(y, y + g.N * g.C * g.H * g.W, T(0));
  for (std::size_t n = 0; n < g.N; ++n)
    for (std::size_t ci = 0; ci < g.O; ++ci)
      for (std::size_t hi = 0; hi < g.Ho; ++hi)
        for (std::size_t wi = 0; wi < g.Wo; ++wi) {
          const T v = x[((n * g.O + ci) * g.Ho + hi) * g.Wo + wi];
          for (std::size_t c = 0; c < Cog; ++c)
            for (std::size_t i = 0; i < g.kh; ++i)
              for (std::size_t j = 0; j < g.kw; ++j) {
                const long long oh = static_cast<long long>(hi * g.sh + i * g.dh) - static_cast<long long>(g.ph);
                const long long ow = static_cast<long long>(wi * g.sw + j * g.dw) - static_cast<long long>(g.pw);
                if (oh < 0 || ow < 0 || oh >= static_cast<long long>(g.H) || ow >= static_cast<long long>(g.W)) continue;
                const std::size_t co = (ci / Cig) * Cog + c;
                y[((n * g.C + co) * g.H + static_cast<std::size_t>(oh)) * g.W + static_cast<std::size_t>(ow)] +=
                    v * w[((ci * Cog + c) * g.kh + i) * g.kw + j];
              }
        }
  if (b)
    for (std::size_t n = 0; n < g.N; ++n)
      for (std::size_t co = 0; co < g.C; ++co) {
        T* yc = y + (n * g.C + co) * g.H * g.W;
        for (std::size_t k = 0; k < g.H * g.W; ++k) yc[k] += b[co];
      }
}

/// Same result as deconv2d_forward_naive: per image and group, W_g^T x_g (GEMM) folded back into
/// y by col2im, in tiles, over threads (kernels::conv2d_backward's input-gradient path), then
/// the bias.
template <class T>
void deconv2d_forward(const Conv2DGeometry& g, const T* x, const T* w, const T* b, T* y) {
  conv2d_backward<T>(g, nullptr, w, x, y, nullptr, nullptr);
  if (!b) return;
  const std::size_t P = g.H * g.W;
  for (std::size_t n = 0; n < g.N; ++n)
    for (std::size_t co = 0; co < g.C; ++co) {
      T* __restrict yc = y + (n * g.C + co) * P;
      const T bc = b[co];
      for (std::size_t k = 0; k < P; ++k) yc[k] += bc;
    }
}

/// Gradients of deconv2d_forward given dy (N, Co, Ho, Wo): dx (N, Ci, Hi, Wi), dw (Ci, Co / groups,
/// kh, kw) and db (Co), each overwritten; pass null to skip one (x is read only for dw, w only
/// for dx).  dx is the convolution of dy by w (kernels::conv2d_forward), dw the convolution's
/// weight gradient with dy as its input and x as its output gradient, db the sum of dy over
/// (N, Ho, Wo).
template <class T>
void deconv2d_backward(const Conv2DGeometry& g, const T* x, const T* w, const T* dy, T* dx, T* dw, T* db) {
  if (dx) conv2d_forward<T>(g, dy, w, nullptr, dx);
  if (dw) conv2d_backward<T>(g, dy, nullptr, x, nullptr, dw, nullptr);
  if (db) {
    const std::size_t P = g.H * g.W;
    std::fill(db, db + g.C, T(0));
    for (std::size_t n = 0; n < g.N; ++n)
      for (std::size_t co = 0; co < g.C; ++co) {
        const T* d = dy + (n * g.C + co) * P;
        T s = T(0);
        for (std::size_t k = 0; k < P; ++k) s += d[k];
        db[co] += s;
      }
  }
}

}  // namespace gluino::kernels

// Precompiled mode (detail/precompiled.hpp): this header's float and double instantiations.
#define GLUINO_KERNELS_DECONV2D_INSTANTIATIONS(X, T) \
  X void deconv2d_forward_naive<T>(const Conv2DGeometry&, const T*, const T*, const T*, T*); \
  X void deconv2d_forward<T>(const Conv2DGeometry&, const T*, const T*, const T*, T*); \
  X void deconv2d_backward<T>(const Conv2DGeometry&, const T*, const T*, const T*, T*, T*, T*);
namespace gluino::kernels {
GLUINO_EXTERN_INSTANTIATIONS(GLUINO_KERNELS_DECONV2D_INSTANTIATIONS)
}  // namespace gluino::kernels
