// SPDX-License-Identifier: Apache-2.0
#pragma once
/// Samplers: which samples an epoch of a DataLoader visits, in which order (Gluon: the
/// sampler= of gluon.data.DataLoader).  SplitSampler gives each of several workers a disjoint
/// part of every epoch (Gluon's contrib SplitSampler, PyTorch's DistributedSampler).
#include <cstddef>
#include <cstdint>
#include <limits>
#include <numeric>
#include <vector>

#include "gluino/core/error.hpp"
#include "gluino/core/random.hpp"

namespace gluino::data {

/// A sampler's next_epoch(n) gives the indices (< n, the dataset's size) of one epoch, in order;
/// each call is the next epoch.  length(n) is how many indices an epoch gives (DataLoader::size()
/// counts with it, and DataLoader::begin() throws ValueError when an epoch has another count).
class Sampler {
 public:
  virtual ~Sampler() = default;
  virtual std::vector<std::size_t> next_epoch(std::size_t n) = 0;
  virtual std::size_t length(std::size_t n) const = 0;
};

/// Options of SplitSampler.
struct SplitSamplerOptions {
  bool shuffle = true;     ///< a new permutation each epoch, from seed + epoch (the same on every part)
  std::uint64_t seed = 0;  ///< must be equal on every worker
  /// Every part n / parts indices long: the last n % parts indices of each epoch's order are left
  /// out (other ones each epoch when shuffled), so that every worker gets as many samples, hence
  /// as many batches (Gluon's SplitSampler; PyTorch's DistributedSampler(drop_last=True)).
  bool drop_last = false;
};

/// Part `part` of `parts` of every epoch: the epoch's order (a permutation of 0..n-1 drawn from
/// seed + epoch number, or 0..n-1 without shuffle) cut into `parts` contiguous pieces whose sizes
/// differ by at most one; worker k takes piece k.  Together the workers visit every index exactly
/// once per epoch.  ValueError when parts is 0 or part >= parts.  For distributed training the
/// pieces' sizes may differ by one, and then so may the workers' batch counts, whatever the
/// DataLoader's last_batch (103 samples on 2 ranks at batch 4: 51 and 52 samples, 12 and 13 full
/// batches), and with more parts than samples some parts are empty: every rank must take as many
/// steps, so use drop_last (equal parts), or a dataset size that parts x batch size divides.
class SplitSampler final : public Sampler {
 public:
  SplitSampler(std::size_t parts, std::size_t part, SplitSamplerOptions opt = {})
      : parts_(parts), part_(part), opt_(opt) {
    GLUINO_CHECK(ValueError, parts > 0 && part < parts, "SplitSampler: part ", part, " of ", parts,
                 " parts: need 0 <= part < parts");
  }
  std::vector<std::size_t> next_epoch(std::size_t n) override {
    std::vector<std::size_t> order(n);
    std::iota(order.begin(), order.end(), std::size_t(0));
    if (opt_.shuffle) {
      random::Generator g(opt_.seed + epoch_);
      for (std::size_t i = n; i > 1; --i) std::swap(order[i - 1], order[g.randint(i)]);
    }
    ++epoch_;
    const std::size_t begin = cut(n, part_), end = cut(n, part_ + 1);
    return std::vector<std::size_t>(order.begin() + std::ptrdiff_t(begin), order.begin() + std::ptrdiff_t(end));
  }
  std::size_t length(std::size_t n) const override { return cut(n, part_ + 1) - cut(n, part_); }
  /// The epoch the next call gives (0 first); set it to resume a run.  PyTorch: set_epoch.
  std::uint64_t epoch() const { return epoch_; }
  void set_epoch(std::uint64_t e) { epoch_ = e; }

 private:
  // Where piece k (0 <= k <= parts) starts: floor(k n / parts), worked out as k q + floor(k r / parts)
  // (n = q parts + r) without the overflow of k n or of k r (parts above 2^32); or k q with drop_last.
  std::size_t cut(std::size_t n, std::size_t k) const {
    const std::size_t q = n / parts_, r = n % parts_;
    if (opt_.drop_last) return q * k;
    return q * k + (k == 0 || r <= std::numeric_limits<std::size_t>::max() / k ? r * k / parts_
                                                                               : mul_div(r, k, parts_));
  }
  // floor(a b / c) for a < c and b <= c, by long multiplication over b's bits that keeps a times the
  // bits read so far as quot c + rem, rem < c: no value exceeds c (quot stays below b).
  static std::size_t mul_div(std::size_t a, std::size_t b, std::size_t c) {
    std::size_t quot = 0, rem = 0;
    for (int bit = std::numeric_limits<std::size_t>::digits - 1; bit >= 0; --bit) {
      quot <<= 1;  // doubled: 2 rem may reach c
      if (rem >= c - rem) {
        rem -= c - rem;
        ++quot;
      } else {
        rem += rem;
      }
      if ((b >> bit) & 1u) {  // plus a: rem + a may reach c
        if (rem >= c - a) {
          rem -= c - a;
          ++quot;
        } else {
          rem += a;
        }
      }
    }
    return quot;
  }
  std::size_t parts_, part_;
  SplitSamplerOptions opt_;
  std::uint64_t epoch_ = 0;
};

}  // namespace gluino::data
