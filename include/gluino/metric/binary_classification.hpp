// SPDX-License-Identifier: Apache-2.0
#pragma once
/// F1 and MCC, the binary classification metrics.  Gluon: mx.metric.F1, mx.metric.MCC (MXNet 1.x,
/// on the counts of its _BinaryClassificationMetrics).
#include <cmath>
#include <limits>
#include <set>
#include <string>

#include "gluino/detail/precompiled.hpp"
#include "gluino/metric/eval_metric.hpp"

namespace gluino::metric {

/// True and false positives and negatives (the positive class is 1).
struct BinaryCounts {
  double tp = 0, fp = 0, fn = 0, tn = 0;
  double total() const { return tp + fp + fn + tn; }
  std::size_t weight() const { return static_cast<std::size_t>(total()); }
  BinaryCounts& operator+=(const BinaryCounts& o) {
    tp += o.tp, fp += o.fp, fn += o.fn, tn += o.tn;
    return *this;
  }
  /// 2 P R / (P + R), with P, R and F1 taken as 0 where their denominator is 0 (as MXNet).
  double f1() const {
    const double p = tp + fp > 0 ? tp / (tp + fp) : 0, r = tp + fn > 0 ? tp / (tp + fn) : 0;
    return p + r > 0 ? 2 * p * r / (p + r) : 0;
  }
  /// (TP TN - FP FN) / sqrt of the product of the four margins, a zero margin counting as 1,
  /// and 0 without examples (as MXNet's matthewscc).
  double mcc() const {
    if (total() == 0) return 0;
    double denom = 1;
    for (const double m : {tp + fp, tp + fn, tn + fp, tn + fn})
      if (m != 0) denom *= m;
    return (tp * tn - fp * fn) / std::sqrt(denom);
  }
};

/// A score (value()) of the binary counts, averaged as Gluon's "macro" (the mean of each
/// update's score; get_global() the mean since reset()) or "micro" (the score of the counts
/// since reset_local(), get_global() since reset()): BasicAveragedMetric.  preds: scores (N, 2),
/// the class is their arg-max along axis 1 (the first NaN if any, as np.argmax and Accuracy);
/// labels: N values, 1 is positive and anything else negative.  ShapeError names both shapes
/// when preds is not (N, C) with N labels; ValueError when labels hold more than two values.
/// Each update(labels, preds) is one batch: Gluon's update(list, list) counts its whole list as
/// one macro batch, gluino's update(vector, vector) counts each pair.  An empty batch is skipped
/// (Gluon's macro average would count it as a batch of score 0).
template <class T>
class BasicBinaryClassificationMetric : public BasicAveragedMetric<T, BinaryCounts> {
 public:
  using BasicAveragedMetric<T, BinaryCounts>::BasicAveragedMetric;
  using BasicEvalMetric<T>::update;
  void update(const NDArray<T>& labels, const NDArray<T>& preds) override {
    this->check_defined(labels, preds);
    GLUINO_CHECK(ShapeError, preds.ndim() == 2 && labels.size() == preds.shape()[0], this->name(), ": labels of shape ",
                 labels.shape(), " do not match predictions of shape ", preds.shape(), " (expected (N, 2) and (N,))");
    const std::size_t n = preds.shape()[0], c = preds.shape()[1];
    if (n == 0) return;
    const T *pl = labels.data(), *pp = preds.data();
    std::set<long long> values;
    BinaryCounts batch;
    for (std::size_t i = 0; i < n; ++i) {
      // truncated, as MXNet's int32 cast; NaN or infinite: a value of its own, negative
      const long long label = detail::class_index(pl[i]).value_or(std::numeric_limits<long long>::min());
      values.insert(label);
      std::size_t best = 0;  // the first largest score, or the first NaN (np.argmax, as Accuracy)
      for (std::size_t k = 1; k < c && !std::isnan(pp[i * c + best]); ++k)
        if (pp[i * c + k] > pp[i * c + best] || std::isnan(pp[i * c + k])) best = k;
      const bool pred_true = best == 1, label_true = label == 1;
      (pred_true ? (label_true ? batch.tp : batch.fp) : (label_true ? batch.fn : batch.tn)) += 1;
    }
    GLUINO_CHECK(ValueError, values.size() <= 2, this->name(), ": only binary classification is supported, labels hold ",
                 values.size(), " values");
    this->add(batch);
  }
};

/// F1 = 2 precision recall / (precision + recall) of class 1.  Gluon: mx.metric.F1(name="f1",
/// average="macro").
template <class T>
class BasicF1 : public BasicBinaryClassificationMetric<T> {
 public:
  explicit BasicF1(std::string average = "macro", std::string name = "f1")
      : BasicBinaryClassificationMetric<T>(std::move(name), average) {}

 protected:
  double value(const BinaryCounts& c) const override { return c.f1(); }
};

/// Matthews correlation coefficient (BinaryCounts::mcc).  Gluon: mx.metric.MCC(name="mcc",
/// average="macro").
template <class T>
class BasicMCC : public BasicBinaryClassificationMetric<T> {
 public:
  explicit BasicMCC(std::string average = "macro", std::string name = "mcc")
      : BasicBinaryClassificationMetric<T>(std::move(name), average) {}

 protected:
  double value(const BinaryCounts& c) const override { return c.mcc(); }
};

/// The float metrics, under Gluon's names.
using F1 = BasicF1<float>;
using MCC = BasicMCC<float>;

}  // namespace gluino::metric

// Precompiled mode (detail/precompiled.hpp): this header's float and double instantiations.
#define GLUINO_METRIC_BINARY_CLASSIFICATION_INSTANTIATIONS(X, T) \
  X class BasicAveragedMetric<T, BinaryCounts>; \
  X class BasicBinaryClassificationMetric<T>; \
  X class BasicF1<T>; \
  X class BasicMCC<T>;
namespace gluino::metric {
GLUINO_EXTERN_INSTANTIATIONS(GLUINO_METRIC_BINARY_CLASSIFICATION_INSTANTIATIONS)
}  // namespace gluino::metric
