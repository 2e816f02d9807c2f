// SPDX-License-Identifier: Apache-2.0
#pragma once
/// Softmax and log-softmax loops on raw pointers (no NDArray, no graph).  Data are viewed as
/// (outer, n, inner) with the softmax taken over the n axis: inner == 1 is the common case of
/// rows (N, C) with axis -1; inner > 1 processes inner lanes side by side.  Parallel over outer.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <vector>

#include "gluino/core/parallel.hpp"
#include "gluino/detail/precompiled.hpp"

namespace gluino::kernels {

/// y = softmax(x) over the n axis, or log_softmax(x) when log is true.  Numerically stable:
/// the maximum is subtracted before exp, so huge inputs (1e4) neither overflow nor give NaN.
/// y may not alias x.
template <class T>
void softmax(const T* x, T* y, std::size_t outer, std::size_t n, std::size_t inner, bool log) {
  if (n == 0) return;
  const std::size_t block = n * inner;
  gluino::detail::parallel_for(
      outer,
      [&](std::size_t o) {
        const T* xo = x + o * block;
        T* yo = y + o * block;
        if (inner == 1) {
          T mx = xo[0];
          for (std::size_t k = 1; k < n; ++k) mx = std::max(mx, xo[k]);
          T sum = 0;
          for (std::size_t k = 0; k < n; ++k) sum += (yo[k] = std::exp(xo[k] - mx));
          if (log) {
            const T ls = std::log(sum);  // (x - mx) - ls keeps precision when |mx| is huge
            for (std::size_t k = 0; k < n; ++k) yo[k] = (xo[k] - mx) - ls;
          } else {
            const T inv = T(1) / sum;
            for (std::size_t k = 0; k < n; ++k) yo[k] *= inv;
          }
          return;
        }
        // mx and sum per lane; the k loop is outer so every pass reads memory in order.
        std::vector<T> mx(xo, xo + inner), sum(inner, T(0));
        for (std::size_t k = 1; k < n; ++k)
          for (std::size_t i = 0; i < inner; ++i) mx[i] = std::max(mx[i], xo[k * inner + i]);
        for (std::size_t k = 0; k < n; ++k)
          for (std::size_t i = 0; i < inner; ++i) sum[i] += (yo[k * inner + i] = std::exp(xo[k * inner + i] - mx[i]));
        if (log) {
          for (std::size_t i = 0; i < inner; ++i) sum[i] = std::log(sum[i]);
          for (std::size_t k = 0; k < n; ++k)
            for (std::size_t i = 0; i < inner; ++i) yo[k * inner + i] = (xo[k * inner + i] - mx[i]) - sum[i];
        } else {
          for (std::size_t i = 0; i < inner; ++i) sum[i] = T(1) / sum[i];
          for (std::size_t k = 0; k < n; ++k)
            for (std::size_t i = 0; i < inner; ++i) yo[k * inner + i] *= sum[i];
        }
      },
      block * 8);
}

/// The input gradient of softmax (log false) or log_softmax (log true) given its output y:
///   softmax:     dx = y * (dy - sum_k dy_k y_k)
///   log_softmax: dx = dy - exp(y) * sum_k dy_k
template <class T>
void softmax_backward(const T* y, const T* dy, T* dx, std::size_t outer, std::size_t n, std::size_t inner, bool log) {
  const std::size_t block = n * inner;
  gluino::detail::parallel_for(
      outer,
      [&](std::size_t o) {
        const T *yo = y + o * block, *go = dy + o * block;
        T* d = dx + o * block;
        if (inner == 1) {
          T acc = 0;
          for (std::size_t k = 0; k < n; ++k) acc += log ? go[k] : go[k] * yo[k];
          for (std::size_t k = 0; k < n; ++k) d[k] = log ? go[k] - std::exp(yo[k]) * acc : yo[k] * (go[k] - acc);
          return;
        }
        std::vector<T> acc(inner, T(0));
        for (std::size_t k = 0; k < n; ++k)
          for (std::size_t i = 0; i < inner; ++i) acc[i] += log ? go[k * inner + i] : go[k * inner + i] * yo[k * inner + i];
        for (std::size_t k = 0; k < n; ++k)
          for (std::size_t i = 0; i < inner; ++i) {
            const std::size_t j = k * inner + i;
            d[j] = log ? go[j] - std::exp(yo[j]) * acc[i] : yo[j] * (go[j] - acc[i]);
          }
      },
      block * 4);
}

}  // namespace gluino::kernels

// Precompiled mode (detail/precompiled.hpp): this header's float and double instantiations.
#define GLUINO_KERNELS_SOFTMAX_INSTANTIATIONS(X, T) \
  X void softmax<T>(const T*, T*, std::size_t, std::size_t, std::size_t, bool); \
  X void softmax_backward<T>(const T*, const T*, T*, std::size_t, std::size_t, std::size_t, bool);
namespace gluino::kernels {
GLUINO_EXTERN_INSTANTIATIONS(GLUINO_KERNELS_SOFTMAX_INSTANTIATIONS)
}  // namespace gluino::kernels
