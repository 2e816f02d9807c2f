// SPDX-License-Identifier: Apache-2.0
#pragma once
/// CompositeEvalMetric: several metrics updated together.  Gluon: mx.metric.CompositeEvalMetric.
#include <any>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "gluino/detail/precompiled.hpp"
#include "gluino/metric/eval_metric.hpp"

namespace gluino::metric {

/// Holds metrics (shared, so the caller may keep reading one), updates and resets them all, and
/// get() returns their names and values in the order they were added.  Gluon:
/// mx.metric.CompositeEvalMetric(metrics=None, name="composite").  Not itself an EvalMetric (its
/// get() returns lists), so composites do not nest; Gluon flattens nested names the same way.
template <class T>
class BasicCompositeEvalMetric {
 public:
  using Metric = BasicEvalMetric<T>;
  using NamesValues = std::pair<std::vector<std::string>, std::vector<double>>;

  explicit BasicCompositeEvalMetric(std::vector<std::shared_ptr<Metric>> metrics = {}, std::string name = "composite")
      : name_(std::move(name)) {
    for (auto& m : metrics) add(std::move(m));
  }
  /// Adds a child metric; ValueError for a null one.  Gluon: add(metric).
  void add(std::shared_ptr<Metric> metric) {
    GLUINO_CHECK(ValueError, metric != nullptr, name_, ": cannot add a null metric");
    metrics_.push_back(std::move(metric));
  }
  /// The index-th child; ValueError when out of range (Gluon returns the error instead of raising it).
  Metric& get_metric(std::size_t index) const {
    GLUINO_CHECK(ValueError, index < metrics_.size(), name_, ": metric index ", index, " is out of range 0 and ",
                 metrics_.size());
    return *metrics_[index];
  }
  std::size_t size() const { return metrics_.size(); }
  const std::string& name() const { return name_; }

  /// Updates every child with the same batch.  Gluon: update(labels, preds).  All or nothing:
  /// when a child refuses the batch (its exception propagates), the children before it are put
  /// back as they were (Gluon leaves them updated).
  void update(const NDArray<T>& labels, const NDArray<T>& preds) {
    all_or_nothing([&](Metric& m) { m.update(labels, preds); });
  }
  void update(const std::vector<NDArray<T>>& labels, const std::vector<NDArray<T>>& preds) {
    all_or_nothing([&](Metric& m) { m.update(labels, preds); });
  }
  void reset() {
    for (auto& m : metrics_) m->reset();
  }
  void reset_local() {
    for (auto& m : metrics_) m->reset_local();
  }
  /// (names, values) of the children's get().  Gluon: get().
  NamesValues get() const { return collect(&Metric::get); }
  /// (names, values) of the children's get_global().  Gluon: get_global().
  NamesValues get_global() const { return collect(&Metric::get_global); }

 private:
  template <class F>
  void all_or_nothing(F&& f) {
    std::vector<std::any> saved;
    for (const auto& m : metrics_) saved.push_back(m->save_state());
    std::size_t i = 0;
    try {
      for (; i < metrics_.size(); ++i) f(*metrics_[i]);
    } catch (...) {
      for (std::size_t k = 0; k <= i && k < metrics_.size(); ++k) metrics_[k]->restore_state(saved[k]);
      throw;
    }
  }
  NamesValues collect(std::pair<std::string, double> (Metric::*read)() const) const {
    NamesValues out;
    for (const auto& m : metrics_) {
      auto [n, v] = ((*m).*read)();
      out.first.push_back(std::move(n)), out.second.push_back(v);
    }
    return out;
  }
  std::string name_;
  std::vector<std::shared_ptr<Metric>> metrics_;
};

/// The float composite, under Gluon's name.
using CompositeEvalMetric = BasicCompositeEvalMetric<float>;

}  // namespace gluino::metric

// Precompiled mode (detail/precompiled.hpp): this header's float and double instantiations.
#define GLUINO_METRIC_COMPOSITE_EVAL_METRIC_INSTANTIATIONS(X, T) \
  X class BasicCompositeEvalMetric<T>;
namespace gluino::metric {
GLUINO_EXTERN_INSTANTIATIONS(GLUINO_METRIC_COMPOSITE_EVAL_METRIC_INSTANTIATIONS)
}  // namespace gluino::metric
