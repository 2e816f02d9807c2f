// SPDX-License-Identifier: Apache-2.0
#pragma once
/// What a graph's caches of values derived from its parameters are keyed on: the folded batch
/// norms' weights (graph.hpp) and the team schedule's packed filters (team.hpp) are remade when
/// the arrays they came from hold other values, found by comparing a copy of those values at
/// every run.  A key of storage and version would miss a write through data(), which changes no
/// version (docs/ndarray-and-autograd.md), and let it reach a run stale, where the imperative
/// ops read the arrays themselves; the comparison costs one pass over the sources per run, about
/// what a kernel's read of them costs anyway.
#include <cstddef>
#include <cstring>
#include <vector>

#include "gluino/core/ndarray.hpp"

namespace gluino::graph {

template <class T>
class ContentKey {
 public:
  /// True when arrays[0 .. count) hold what record() copied from them: each defined or not as
  /// then, with as many elements and the same bytes.  False before any record().
  bool matches(const NDArray<T>* arrays, std::size_t count) const {
    if (!recorded_ || count != sizes_.size()) return false;
    std::size_t at = 0;
    for (std::size_t i = 0; i < count; ++i) {
      const std::size_t n = arrays[i].defined() ? arrays[i].size() : undefined;
      if (n != sizes_[i]) return false;
      if (n == undefined || n == 0) continue;
      if (std::memcmp(arrays[i].data(), values_.data() + at, n * sizeof(T)) != 0) return false;
      at += n;
    }
    return true;
  }
  /// Copies the values of arrays[0 .. count) (an undefined array: none).
  void record(const NDArray<T>* arrays, std::size_t count) {
    recorded_ = false;
    sizes_.assign(count, undefined);
    std::size_t total = 0;
    for (std::size_t i = 0; i < count; ++i)
      if (arrays[i].defined()) sizes_[i] = arrays[i].size(), total += sizes_[i];
    values_.resize(total);
    std::size_t at = 0;
    for (std::size_t i = 0; i < count; ++i) {
      if (sizes_[i] == undefined || sizes_[i] == 0) continue;
      std::memcpy(values_.data() + at, arrays[i].data(), sizes_[i] * sizeof(T));
      at += sizes_[i];
    }
    recorded_ = true;
  }

 private:
  static constexpr std::size_t undefined = static_cast<std::size_t>(-1);
  bool recorded_ = false;
  std::vector<std::size_t> sizes_;  // per array: its element count, or `undefined`
  std::vector<T> values_;           // the arrays' values, one after another
};

}  // namespace gluino::graph
