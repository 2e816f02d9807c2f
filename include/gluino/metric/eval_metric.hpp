// SPDX-License-Identifier: Apache-2.0
#pragma once
/// BasicEvalMetric<T>: a running (sum, count) with a name.  Gluon: mx.metric.EvalMetric.
#include <any>
#include <cmath>
#include <cstddef>
#include <limits>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "gluino/core/error.hpp"
#include "gluino/core/ndarray.hpp"
#include "gluino/detail/precompiled.hpp"

namespace gluino::detail {
/// A class index stored as T, truncated to an integer as MXNet's int32 cast; nullopt for NaN,
/// infinities and values beyond +-2^62 (whose cast to an integer is undefined behaviour).
template <class T>
std::optional<long long> class_index(T v) {
  constexpr T bound = T(4611686018427387904.0);  // 2^62, exact in float and double
  if (!(v > -bound && v < bound)) return std::nullopt;
  return static_cast<long long>(v);
}
}  // namespace gluino::detail

namespace gluino::metric {

template <class T>
class BasicCompositeEvalMetric;

/// Base of the metrics: update(labels, preds) adds to sum_metric and num_inst; get() returns
/// (name, sum_metric / num_inst), NaN before any update.  reset() clears the local and the
/// global statistics, reset_local() only the local ones; get_global() reads the global ones
/// (Gluon 1.x: EvalMetric with its global statistics).  Metrics read data, never record.
template <class T>
class BasicEvalMetric {
 public:
  explicit BasicEvalMetric(std::string name) : name_(std::move(name)) {}
  virtual ~BasicEvalMetric() = default;

  /// Adds one batch.  Gluon: update(labels, preds).
  virtual void update(const NDArray<T>& labels, const NDArray<T>& preds) = 0;
  /// Adds several batches, pairwise; ValueError when the lists differ in length.  All or nothing:
  /// when a pair is refused (its exception propagates), the pairs before it are taken back.
  void update(const std::vector<NDArray<T>>& labels, const std::vector<NDArray<T>>& preds) {
    GLUINO_CHECK(ValueError, labels.size() == preds.size(), name_, ": ", labels.size(), " label arrays but ",
                 preds.size(), " prediction arrays");
    const std::any saved = save_state();
    try {
      for (std::size_t i = 0; i < labels.size(); ++i) update(labels[i], preds[i]);
    } catch (...) {
      restore_state(saved);
      throw;
    }
  }

  /// (name, value).  Gluon: get().
  virtual std::pair<std::string, double> get() const { return {name_, ratio(sum_metric_, num_inst_)}; }
  /// (name, value) over everything since the last reset() (ignoring reset_local()).
  virtual std::pair<std::string, double> get_global() const {
    return {name_, ratio(global_sum_metric_, global_num_inst_)};
  }
  /// Clears every statistic.  Gluon: reset().  A metric with statistics of its own overrides
  /// reset() and reset_local() and calls these.
  virtual void reset() {
    reset_local();
    global_sum_metric_ = 0, global_num_inst_ = 0;
  }
  /// Clears the local statistics only.  Gluon: reset_local().
  virtual void reset_local() { sum_metric_ = 0, num_inst_ = 0; }

  const std::string& name() const { return name_; }
  double sum_metric() const { return sum_metric_; }
  std::size_t num_inst() const { return num_inst_; }

 protected:
  /// Adds value to the sums and count to the instance counts (local and global).
  void accumulate(double value, std::size_t count) {
    sum_metric_ += value, global_sum_metric_ += value;
    num_inst_ += count, global_num_inst_ += count;
  }
  /// Every statistic update() changes, and putting them back: update(vector, vector) and
  /// CompositeEvalMetric undo a partial update with these.  A metric with statistics of its own
  /// overrides both, wrapping these (as BasicAveragedMetric does).
  virtual std::any save_state() const { return Sums{sum_metric_, global_sum_metric_, num_inst_, global_num_inst_}; }
  virtual void restore_state(const std::any& state) {
    const auto& s = std::any_cast<const Sums&>(state);
    sum_metric_ = s.sum, global_sum_metric_ = s.global_sum, num_inst_ = s.num, global_num_inst_ = s.global_num;
  }
  template <class> friend class BasicCompositeEvalMetric;
  /// StateError naming this metric and the argument when labels or preds is an undefined
  /// (default-constructed) array, whose own message names neither: each metric's
  /// update(labels, preds) calls it first.
  void check_defined(const NDArray<T>& labels, const NDArray<T>& preds) const {
    GLUINO_CHECK(StateError, labels.defined(), name_, ": update: labels is an undefined (default-constructed) array");
    GLUINO_CHECK(StateError, preds.defined(), name_, ": update: preds is an undefined (default-constructed) array");
  }

  /// Replaces the sums and counts (a metric computed from statistics of its own, as Gluon's
  /// F1(average="micro") sets sum_metric = F1 * examples and num_inst = examples).
  void assign(double sum, std::size_t count, double global_sum, std::size_t global_count) {
    sum_metric_ = sum, num_inst_ = count, global_sum_metric_ = global_sum, global_num_inst_ = global_count;
  }

 private:
  static double ratio(double s, std::size_t n) {
    return n == 0 ? std::numeric_limits<double>::quiet_NaN() : s / static_cast<double>(n);
  }
  struct Sums {  // what save_state() keeps
    double sum, global_sum;
    std::size_t num, global_num;
  };
  std::string name_;
  double sum_metric_ = 0, global_sum_metric_ = 0;
  std::size_t num_inst_ = 0, global_num_inst_ = 0;
};

/// Base of the metrics with Gluon's `average` option.  "macro": each update adds
/// value(its statistics) and counts 1, so get() is the mean over updates.  "micro": each update's
/// Stats are merged (+=) into local ones (since reset_local()) and global ones (since reset()),
/// and get() / get_global() are value() of those; sum_metric is value * Stats::weight() and
/// num_inst weight(), as Gluon's F1 sets them.  ValueError for any other average.
template <class T, class Stats>
class BasicAveragedMetric : public BasicEvalMetric<T> {
 public:
  BasicAveragedMetric(std::string name, const std::string& average) : BasicEvalMetric<T>(std::move(name)) {
    GLUINO_CHECK(ValueError, average == "macro" || average == "micro", this->name(),
                 ": average must be \"macro\" or \"micro\", not \"", average, "\"");
    micro_ = average == "micro";
  }
  void reset() override {
    BasicEvalMetric<T>::reset();
    global_ = {};
  }
  void reset_local() override {
    BasicEvalMetric<T>::reset_local();
    local_ = {};
  }
  /// The statistics since reset_local() and since reset() (under "micro"; empty under "macro").
  const Stats& stats() const { return local_; }
  const Stats& global_stats() const { return global_; }

 protected:
  std::any save_state() const override {
    return std::make_pair(BasicEvalMetric<T>::save_state(), std::make_pair(local_, global_));
  }
  void restore_state(const std::any& state) override {
    const auto& s = std::any_cast<const std::pair<std::any, std::pair<Stats, Stats>>&>(state);
    BasicEvalMetric<T>::restore_state(s.first);
    local_ = s.second.first, global_ = s.second.second;
  }
  virtual double value(const Stats& s) const = 0;
  /// Adds one update's statistics.
  void add(const Stats& batch) {
    if (!micro_) return this->accumulate(value(batch), 1);
    local_ += batch, global_ += batch;
    this->assign(value(local_) * double(local_.weight()), local_.weight(), value(global_) * double(global_.weight()),
                 global_.weight());
  }

 private:
  bool micro_ = false;
  Stats local_, global_;
};

/// The float metric base, under Gluon's name.
using EvalMetric = BasicEvalMetric<float>;

}  // namespace gluino::metric

// Precompiled mode (detail/precompiled.hpp): this header's float and double instantiations.
#define GLUINO_METRIC_EVAL_METRIC_INSTANTIATIONS(X, T) \
  X class BasicEvalMetric<T>;
namespace gluino::metric {
GLUINO_EXTERN_INSTANTIATIONS(GLUINO_METRIC_EVAL_METRIC_INSTANTIATIONS)
}  // namespace gluino::metric
