// SPDX-License-Identifier: Apache-2.0
#pragma once
/// Batch-normalisation loops on raw pointers (no NDArray, no graph).  Data are viewed as
/// (outer, C, inner): C the channel axis, outer the product of the axes before it and inner the
/// product of the axes after it, so (N, C, H, W) with axis 1 is (N, C, H*W) and (N, C) with
/// axis 1 is (N, C, 1).  Every channel owns outer contiguous runs of inner elements.
/// With inner > 1 the per-channel loops run in parallel over channels; with inner == 1 (a
/// matrix, channels along the rows) the loops go row by row so that memory is read in order.
#include <cassert>
#include <cstddef>
#include <vector>

#include "gluino/core/parallel.hpp"
#include "gluino/detail/precompiled.hpp"

namespace gluino::kernels {

/// Per-channel mean and biased variance of x (outer, C, inner), in two passes with double
/// accumulators (stable when the mean is large compared with the spread).
template <class T>
void batch_norm_moments(const T* x, std::size_t outer, std::size_t C, std::size_t inner, double* mean, double* var) {
  const std::size_t m = outer * inner;
  assert(m > 0);
  const double inv_m = 1.0 / static_cast<double>(m);
  if (inner == 1) {
    std::vector<double> acc(C, 0.0);
    for (std::size_t o = 0; o < outer; ++o)
      for (std::size_t c = 0; c < C; ++c) acc[c] += x[o * C + c];
    for (std::size_t c = 0; c < C; ++c) mean[c] = acc[c] * inv_m, acc[c] = 0.0;
    for (std::size_t o = 0; o < outer; ++o)
      for (std::size_t c = 0; c < C; ++c) {
        const double d = x[o * C + c] - mean[c];
        acc[c] += d * d;
      }
    for (std::size_t c = 0; c < C; ++c) var[c] = acc[c] * inv_m;
    return;
  }
  gluino::detail::parallel_for(
      C,
      [&](std::size_t c) {
        double s = 0.0;
        for (std::size_t o = 0; o < outer; ++o) {
          const T* p = x + (o * C + c) * inner;
          for (std::size_t i = 0; i < inner; ++i) s += p[i];
        }
        const double mu = s * inv_m;
        double q = 0.0;
        for (std::size_t o = 0; o < outer; ++o) {
          const T* p = x + (o * C + c) * inner;
          for (std::size_t i = 0; i < inner; ++i) {
            const double d = p[i] - mu;
            q += d * d;
          }
        }
        mean[c] = mu;
        var[c] = q * inv_m;
      },
      2 * m);
}

/// Per-channel sum of dy and sum of dy * (x - mean[c]) (the two reductions of the backward).
template <class T>
void batch_norm_grad_sums(const T* dy, const T* x, const double* mean, std::size_t outer, std::size_t C,
                          std::size_t inner, double* sum_dy, double* sum_dy_xc) {
  if (inner == 1) {
    for (std::size_t c = 0; c < C; ++c) sum_dy[c] = 0.0, sum_dy_xc[c] = 0.0;
    for (std::size_t o = 0; o < outer; ++o)
      for (std::size_t c = 0; c < C; ++c) {
        const double g = dy[o * C + c];
        sum_dy[c] += g;
        sum_dy_xc[c] += g * (x[o * C + c] - mean[c]);
      }
    return;
  }
  gluino::detail::parallel_for(
      C,
      [&](std::size_t c) {
        double s = 0.0, q = 0.0;
        const double mu = mean[c];
        for (std::size_t o = 0; o < outer; ++o) {
          const std::size_t off = (o * C + c) * inner;
          const T *g = dy + off, *p = x + off;
          for (std::size_t i = 0; i < inner; ++i) {
            s += g[i];
            q += g[i] * (p[i] - mu);
          }
        }
        sum_dy[c] = s;
        sum_dy_xc[c] = q;
      },
      outer * inner);
}

/// y = (x - m[c]) * a[c] + b[c] (the normalisation as one subtract and one multiply-add per
/// element; subtracting first keeps float precision when the mean is large).  y may alias x.
template <class T>
void batch_norm_affine(const T* x, T* y, std::size_t outer, std::size_t C, std::size_t inner, const T* m, const T* a,
                       const T* b) {
  if (inner == 1) {
    for (std::size_t o = 0; o < outer; ++o)
      for (std::size_t c = 0; c < C; ++c) y[o * C + c] = (x[o * C + c] - m[c]) * a[c] + b[c];
    return;
  }
  gluino::detail::parallel_for(
      outer * C,
      [&](std::size_t oc) {
        const std::size_t c = oc % C;
        const T mc = m[c], ac = a[c], bc = b[c];
        const T* p = x + oc * inner;
        T* q = y + oc * inner;
        for (std::size_t i = 0; i < inner; ++i) q[i] = (p[i] - mc) * ac + bc;
      },
      inner);
}

/// dx = dy * p[c] + (x - m[c]) * q[c] + r[c]: the input gradient of batch norm, whose
/// batch-statistics terms are per-channel constants times the centred x plus a constant.
template <class T>
void batch_norm_dx(const T* dy, const T* x, T* dx, std::size_t outer, std::size_t C, std::size_t inner, const T* m,
                   const T* p, const T* q, const T* r) {
  if (inner == 1) {
    for (std::size_t o = 0; o < outer; ++o)
      for (std::size_t c = 0; c < C; ++c) {
        const std::size_t k = o * C + c;
        dx[k] = dy[k] * p[c] + (x[k] - m[c]) * q[c] + r[c];
      }
    return;
  }
  gluino::detail::parallel_for(
      outer * C,
      [&](std::size_t oc) {
        const std::size_t c = oc % C;
        const T mc = m[c], pc = p[c], qc = q[c], rc = r[c];
        const T *g = dy + oc * inner, *xi = x + oc * inner;
        T* d = dx + oc * inner;
        for (std::size_t i = 0; i < inner; ++i) d[i] = g[i] * pc + (xi[i] - mc) * qc + rc;
      },
      inner);
}

}  // namespace gluino::kernels

// Precompiled mode (detail/precompiled.hpp): this header's float and double instantiations.
#define GLUINO_KERNELS_BATCH_NORM_INSTANTIATIONS(X, T) \
  X void batch_norm_moments<T>(const T*, std::size_t, std::size_t, std::size_t, double*, double*); \
  X void batch_norm_grad_sums<T>(const T*, const T*, const double*, std::size_t, std::size_t, std::size_t, double*, double*); \
  X void batch_norm_affine<T>(const T*, T*, std::size_t, std::size_t, std::size_t, const T*, const T*, const T*); \
  X void batch_norm_dx<T>(const T*, const T*, T*, std::size_t, std::size_t, std::size_t, const T*, const T*, const T*, const T*);
namespace gluino::kernels {
GLUINO_EXTERN_INSTANTIATIONS(GLUINO_KERNELS_BATCH_NORM_INSTANTIATIONS)
}  // namespace gluino::kernels
