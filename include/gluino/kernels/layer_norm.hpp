// SPDX-License-Identifier: Apache-2.0
#pragma once
/// The loops of layer, instance and group normalisation on raw pointers (no NDArray, no graph),
/// written once for the three.  Data are viewed as (outer, reduce, mid, inner): the statistics
/// are per (outer, mid) pair (a "group"), over its reduce * inner elements; gamma and beta are
/// indexed by the reduce index (layer norm) or by the mid index (instance and group norm):
///   layer norm over axis a of (d0, ..., dk):   (prod d<a, d_a, prod d>a, 1),        on reduce
///   instance norm, channel axis a of (N, ...): (N, prod 0<d<a, d_a, prod d>a),      on mid
///   group norm of (N, C, ...) in G groups:     (N, 1, G, C/G * prod d>1),            on mid
/// Element (o, r, m, i) sits at ((o * reduce + r) * mid + m) * inner + i.  Statistics are
/// accumulated in double; groups run in parallel.
#include <cassert>
#include <cmath>
#include <cstddef>
#include <vector>

#include "gluino/core/parallel.hpp"
#include "gluino/detail/precompiled.hpp"

namespace gluino::kernels {

/// The (outer, reduce, mid, inner) view of a normalisation (see the header's comment).
struct NormLayout {
  std::size_t outer = 1, reduce = 1, mid = 1, inner = 1;
  bool params_on_reduce = false;  // gamma[r] (layer norm) rather than gamma[m]
  std::size_t groups() const { return outer * mid; }
  std::size_t group_size() const { return reduce * inner; }
  /// The length gamma and beta must have.
  std::size_t params() const { return params_on_reduce ? reduce : mid; }
  /// Calls fn(offset, p) for every element of group g, p its index into gamma and beta.
  template <class Fn>
  void for_each_in_group(std::size_t g, Fn&& fn) const {
    const std::size_t o = g / mid, m = g % mid;
    for (std::size_t r = 0; r < reduce; ++r) {
      const std::size_t base = ((o * reduce + r) * mid + m) * inner, p = params_on_reduce ? r : m;
      for (std::size_t i = 0; i < inner; ++i) fn(base + i, p);
    }
  }
};

/// Per group g: mean[g] and inv_std[g] = 1 / sqrt(biased variance + eps), in two passes with
/// double accumulators (stable when the mean is large compared with the spread).
template <class T>
void norm_moments(const T* x, const NormLayout& L, double eps, double* mean, double* inv_std) {
  assert(L.group_size() > 0);
  const double inv_m = 1.0 / static_cast<double>(L.group_size());
  gluino::detail::parallel_for(
      L.groups(),
      [&](std::size_t g) {
        double s = 0.0;
        L.for_each_in_group(g, [&](std::size_t k, std::size_t) { s += x[k]; });
        const double mu = s * inv_m;
        double q = 0.0;
        L.for_each_in_group(g, [&](std::size_t k, std::size_t) {
          const double d = x[k] - mu;
          q += d * d;
        });
        mean[g] = mu;
        inv_std[g] = 1.0 / std::sqrt(q * inv_m + eps);
      },
      2 * L.group_size());
}

/// y = (x - mean[g]) * inv_std[g] * gamma[p] + beta[p].  y may alias x.
template <class T>
void norm_affine(const T* x, T* y, const NormLayout& L, const double* mean, const double* inv_std, const T* gamma,
                 const T* beta) {
  gluino::detail::parallel_for(
      L.groups(),
      [&](std::size_t g) {
        const double mu = mean[g], is = inv_std[g];
        L.for_each_in_group(g, [&](std::size_t k, std::size_t p) {
          y[k] = static_cast<T>((x[k] - mu) * is * gamma[p] + beta[p]);
        });
      },
      L.group_size());
}

/// The gradients of norm_affine(norm_moments(x)), for dy.  With xhat = (x - mean) * inv_std and
/// h = dy * gamma[p], per group of m elements:
///   dx = inv_std * (h - sum(h) / m - xhat * sum(h * xhat) / m),
///   dgamma[p] = sum of dy * xhat, dbeta[p] = sum of dy (over every element with index p).
/// A null dx, dgamma or dbeta is not computed.
template <class T>
void norm_backward(const T* dy, const T* x, const NormLayout& L, const double* mean, const double* inv_std,
                   const T* gamma, T* dx, T* dgamma, T* dbeta) {
  if (dx) {
    const double inv_m = 1.0 / static_cast<double>(L.group_size());
    gluino::detail::parallel_for(
        L.groups(),
        [&](std::size_t g) {
          const double mu = mean[g], is = inv_std[g];
          double sh = 0.0, shx = 0.0;
          L.for_each_in_group(g, [&](std::size_t k, std::size_t p) {
            const double h = static_cast<double>(dy[k]) * gamma[p];
            sh += h;
            shx += h * (x[k] - mu) * is;
          });
          sh *= inv_m, shx *= inv_m;
          L.for_each_in_group(g, [&](std::size_t k, std::size_t p) {
            const double h = static_cast<double>(dy[k]) * gamma[p];
            dx[k] = static_cast<T>(is * (h - sh - (x[k] - mu) * is * shx));
          });
        },
        3 * L.group_size());
  }
  if (dgamma || dbeta) {
    std::vector<double> sg(L.params(), 0.0), sb(L.params(), 0.0);
    for (std::size_t g = 0; g < L.groups(); ++g) {
      const double mu = mean[g], is = inv_std[g];
      L.for_each_in_group(g, [&](std::size_t k, std::size_t p) {
        sg[p] += dy[k] * (x[k] - mu) * is;
        sb[p] += dy[k];
      });
    }
    for (std::size_t p = 0; p < L.params(); ++p) {
      if (dgamma) dgamma[p] = static_cast<T>(sg[p]);
      if (dbeta) dbeta[p] = static_cast<T>(sb[p]);
    }
  }
}

}  // namespace gluino::kernels

// Precompiled mode (detail/precompiled.hpp): this header's float and double instantiations.
#define GLUINO_KERNELS_LAYER_NORM_INSTANTIATIONS(X, T) \
  X void norm_moments<T>(const T*, const NormLayout&, double, double*, double*); \
  X void norm_affine<T>(const T*, T*, const NormLayout&, const double*, const double*, const T*, const T*); \
  X void norm_backward<T>(const T*, const T*, const NormLayout&, const double*, const double*, const T*, T*, T*, T*);
namespace gluino::kernels {
GLUINO_EXTERN_INSTANTIATIONS(GLUINO_KERNELS_LAYER_NORM_INSTANTIATIONS)
}  // namespace gluino::kernels
