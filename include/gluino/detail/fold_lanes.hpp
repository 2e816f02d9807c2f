// SPDX-License-Identifier: Apache-2.0
#pragma once
/// Folding a contiguous run of values in 8 independent lanes, so that the compiler can vectorise
/// it (a single running sum or maximum is a chain of dependent operations it may not reorder).
/// Shared by the row reductions (nd/reduce.hpp) and the convolution's bias gradient.
#include <cstddef>

namespace gluino::detail {
/// combine(...combine(init, p[0]), ..., p[n - 1]) with the operands regrouped into 8 lanes;
/// combine must be associative and commutative (sum, max, min).
template <class T, class F>
T fold_lanes(const T* p, std::size_t n, T init, F combine) {
  T lane[8] = {init, init, init, init, init, init, init, init};
  std::size_t k = 0;
  for (; k + 8 <= n; k += 8)
    for (std::size_t l = 0; l < 8; ++l) lane[l] = combine(lane[l], p[k + l]);
  T acc = init;
  for (std::size_t l = 0; l < 8; ++l) acc = combine(acc, lane[l]);
  for (; k < n; ++k) acc = combine(acc, p[k]);
  return acc;
}
}  // namespace gluino::detail
