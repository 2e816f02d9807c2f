// SPDX-License-Identifier: Apache-2.0
#pragma once
/// Accuracy and TopKAccuracy.  Gluon: mx.metric.Accuracy, mx.metric.TopKAccuracy.
#include <algorithm>
#include <cmath>
#include <optional>

#include "gluino/detail/precompiled.hpp"
#include "gluino/metric/eval_metric.hpp"
#include "gluino/nd/reduce.hpp"

namespace gluino::metric {

/// Fraction of correct predictions.  preds: scores (N, C) (the class is their arg-max along
/// `axis`, default 1) or class indices of labels' shape; labels: class indices stored as T.
/// Both are compared as integers (truncated, as MXNet's int32 cast); a NaN, infinite or huge
/// value is never correct.  ShapeError names both shapes when the counts differ.
/// Gluon: mx.metric.Accuracy(axis=1, name="accuracy").
template <class T>
class BasicAccuracy : public BasicEvalMetric<T> {
 public:
  explicit BasicAccuracy(int axis = 1, std::string name = "accuracy") : BasicEvalMetric<T>(std::move(name)), axis_(axis) {}
  using BasicEvalMetric<T>::update;
  void update(const NDArray<T>& labels, const NDArray<T>& preds) override {
    this->check_defined(labels, preds);
    const NDArray<T> cls = preds.shape() == labels.shape() ? preds : nd::argmax(preds, axis_, false);
    GLUINO_CHECK(ShapeError, cls.size() == labels.size(), this->name(), ": labels of shape ", labels.shape(),
                 " do not match predictions of shape ", preds.shape());
    const T *pl = labels.data(), *pp = cls.data();
    std::size_t correct = 0;
    for (std::size_t i = 0; i < labels.size(); ++i) {
      const std::optional<long long> l = detail::class_index(pl[i]), p = detail::class_index(pp[i]);
      correct += l && p && *l == *p;
    }
    this->accumulate(static_cast<double>(correct), labels.size());
  }

 private:
  int axis_;
};

/// Fraction of samples whose label is among the top_k scores of preds (N, C): fewer than top_k
/// scores rank above the label's, scores ranked as NumPy's argmax and sort do (NaN above any
/// number; equal scores by index, the first first), so top_k 1 agrees with Accuracy.  A label
/// that is not a class 0..C-1 is never correct; top_k >= C counts every other one (Gluon's
/// argpartition raises).  Gluon: mx.metric.TopKAccuracy(top_k, name="top_k_accuracy_<k>").
template <class T>
class BasicTopKAccuracy : public BasicEvalMetric<T> {
 public:
  explicit BasicTopKAccuracy(std::size_t top_k = 1)
      : BasicEvalMetric<T>("top_k_accuracy_" + std::to_string(top_k)), top_k_(top_k) {
    GLUINO_CHECK(ValueError, top_k >= 1, "TopKAccuracy: top_k must be >= 1");
  }
  using BasicEvalMetric<T>::update;
  void update(const NDArray<T>& labels, const NDArray<T>& preds) override {
    this->check_defined(labels, preds);
    GLUINO_CHECK(ShapeError, preds.ndim() == 2 && labels.size() == preds.shape()[0], this->name(), ": labels of shape ",
                 labels.shape(), " do not match predictions of shape ", preds.shape(), " (expected (N, C) and (N,))");
    const std::size_t n = preds.shape()[0], c = preds.shape()[1];
    const T *pl = labels.data(), *pp = preds.data();
    std::size_t correct = 0;
    for (std::size_t i = 0; i < n; ++i) {
      const std::optional<long long> label = detail::class_index(pl[i]);
      if (!label || *label < 0 || static_cast<std::size_t>(*label) >= c) continue;
      const std::size_t l = static_cast<std::size_t>(*label);
      const T* row = pp + i * c;
      const bool l_nan = std::isnan(row[l]);
      std::size_t better = 0;  // scores ranked above the label's
      for (std::size_t k = 0; k < c && better < top_k_; ++k) {
        const bool k_nan = std::isnan(row[k]);
        const bool above = k_nan ? !l_nan : !l_nan && row[k] > row[l];
        const bool tie = k_nan ? l_nan : !l_nan && row[k] == row[l];
        better += above || (tie && k < l);
      }
      correct += better < top_k_;
    }
    this->accumulate(static_cast<double>(correct), n);
  }

 private:
  std::size_t top_k_;
};

/// The float metrics, under Gluon's names.
using Accuracy = BasicAccuracy<float>;
using TopKAccuracy = BasicTopKAccuracy<float>;

}  // namespace gluino::metric

// Precompiled mode (detail/precompiled.hpp): this header's float and double instantiations.
#define GLUINO_METRIC_ACCURACY_INSTANTIATIONS(X, T) \
  X class BasicAccuracy<T>; \
  X class BasicTopKAccuracy<T>;
namespace gluino::metric {
GLUINO_EXTERN_INSTANTIATIONS(GLUINO_METRIC_ACCURACY_INSTANTIATIONS)
}  // namespace gluino::metric
