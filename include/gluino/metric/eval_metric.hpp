// SPDX-License-Identifier: Apache-2.0
#pragma once
/// BasicEvalMetric<T>: a running (sum, count) with a name.  Gluon: mx.metric.EvalMetric.
#include <cmath>
#include <cstddef>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "gluino/core/error.hpp"
#include "gluino/core/ndarray.hpp"
#include "gluino/detail/precompiled.hpp"

namespace gluino::metric {

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
  /// Adds several batches, pairwise; ValueError when the lists differ in length.
  void update(const std::vector<NDArray<T>>& labels, const std::vector<NDArray<T>>& preds) {
    GLUINO_CHECK(ValueError, labels.size() == preds.size(), name_, ": ", labels.size(), " label arrays but ",
                 preds.size(), " prediction arrays");
    for (std::size_t i = 0; i < labels.size(); ++i) update(labels[i], preds[i]);
  }

  /// (name, value).  Gluon: get().
  std::pair<std::string, double> get() const { return {name_, ratio(sum_metric_, num_inst_)}; }
  /// (name, value) over everything since the last reset() (ignoring reset_local()).
  std::pair<std::string, double> get_global() const { return {name_, ratio(global_sum_metric_, global_num_inst_)}; }
  /// Clears every statistic.  Gluon: reset().
  void reset() {
    reset_local();
    global_sum_metric_ = 0, global_num_inst_ = 0;
  }
  /// Clears the local statistics only.  Gluon: reset_local().
  void reset_local() { sum_metric_ = 0, num_inst_ = 0; }

  const std::string& name() const { return name_; }
  double sum_metric() const { return sum_metric_; }
  std::size_t num_inst() const { return num_inst_; }

 protected:
  /// Adds value to the sums and count to the instance counts (local and global).
  void accumulate(double value, std::size_t count) {
    sum_metric_ += value, global_sum_metric_ += value;
    num_inst_ += count, global_num_inst_ += count;
  }

 private:
  static double ratio(double s, std::size_t n) {
    return n == 0 ? std::numeric_limits<double>::quiet_NaN() : s / static_cast<double>(n);
  }
  std::string name_;
  double sum_metric_ = 0, global_sum_metric_ = 0;
  std::size_t num_inst_ = 0, global_num_inst_ = 0;
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
