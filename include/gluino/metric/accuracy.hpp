// SPDX-License-Identifier: Apache-2.0
#pragma once
/// Accuracy and TopKAccuracy.  Gluon: mx.metric.Accuracy, mx.metric.TopKAccuracy.
#include <algorithm>

#include "gluino/detail/precompiled.hpp"
#include "gluino/metric/eval_metric.hpp"
#include "gluino/nd/reduce.hpp"

namespace gluino::metric {

/// Fraction of correct predictions.  preds: scores (N, C) (the class is their arg-max along
/// `axis`, default 1) or class indices of labels' shape; labels: class indices stored as T.
/// Both are compared as integers (truncated, as MXNet's int32 cast).  ShapeError names both
/// shapes when the counts differ.  Gluon: mx.metric.Accuracy(axis=1, name="accuracy").
template <class T>
class BasicAccuracy : public BasicEvalMetric<T> {
 public:
  explicit BasicAccuracy(int axis = 1, std::string name = "accuracy") : BasicEvalMetric<T>(std::move(name)), axis_(axis) {}
  using BasicEvalMetric<T>::update;
  void update(const NDArray<T>& labels, const NDArray<T>& preds) override {
    const NDArray<T> cls = preds.shape() == labels.shape() ? preds : nd::argmax(preds, axis_, false);
    GLUINO_CHECK(ShapeError, cls.size() == labels.size(), this->name(), ": labels of shape ", labels.shape(),
                 " do not match predictions of shape ", preds.shape());
    const T *pl = labels.data(), *pp = cls.data();
    std::size_t correct = 0;
    for (std::size_t i = 0; i < labels.size(); ++i) correct += static_cast<long long>(pl[i]) == static_cast<long long>(pp[i]);
    this->accumulate(static_cast<double>(correct), labels.size());
  }

 private:
  int axis_;
};

/// Fraction of samples whose label is among the top_k scores of preds (N, C).
/// Gluon: mx.metric.TopKAccuracy(top_k, name="top_k_accuracy_<k>").
template <class T>
class BasicTopKAccuracy : public BasicEvalMetric<T> {
 public:
  explicit BasicTopKAccuracy(std::size_t top_k = 1)
      : BasicEvalMetric<T>("top_k_accuracy_" + std::to_string(top_k)), top_k_(top_k) {
    GLUINO_CHECK(ValueError, top_k >= 1, "TopKAccuracy: top_k must be >= 1");
  }
  using BasicEvalMetric<T>::update;
  void update(const NDArray<T>& labels, const NDArray<T>& preds) override {
    GLUINO_CHECK(ShapeError, preds.ndim() == 2 && labels.size() == preds.shape()[0], this->name(), ": labels of shape ",
                 labels.shape(), " do not match predictions of shape ", preds.shape(), " (expected (N, C) and (N,))");
    const std::size_t n = preds.shape()[0], c = preds.shape()[1];
    const T *pl = labels.data(), *pp = preds.data();
    std::size_t correct = 0;
    for (std::size_t i = 0; i < n; ++i) {
      const long long label = static_cast<long long>(pl[i]);
      if (label < 0 || static_cast<std::size_t>(label) >= c) continue;
      // label is in the top k when fewer than k scores beat it (ties count for the label)
      std::size_t better = 0;
      for (std::size_t k = 0; k < c; ++k) better += pp[i * c + k] > pp[i * c + static_cast<std::size_t>(label)];
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
