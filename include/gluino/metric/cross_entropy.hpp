// SPDX-License-Identifier: Apache-2.0
#pragma once
/// CrossEntropy and Perplexity, from class probabilities.  Gluon: mx.metric.CrossEntropy,
/// mx.metric.Perplexity (MXNet 1.x).
#include <algorithm>
#include <cmath>
#include <optional>
#include <string>

#include "gluino/detail/precompiled.hpp"
#include "gluino/metric/eval_metric.hpp"

namespace gluino::metric {

/// Mean of -log(p + eps) over every sample seen, p the probability preds (N, C) gives the
/// sample's label (labels: N class indices, truncated to integers).  Gluon:
/// mx.metric.CrossEntropy(eps=1e-12, name="cross-entropy").  ShapeError names both shapes when
/// preds is not (N, C) with N labels; ValueError for a label outside [0, C) (NumPy would wrap a
/// negative one).
template <class T>
class BasicCrossEntropy : public BasicEvalMetric<T> {
 public:
  explicit BasicCrossEntropy(double eps = 1e-12, std::string name = "cross-entropy")
      : BasicEvalMetric<T>(std::move(name)), eps_(eps) {}
  using BasicEvalMetric<T>::update;
  void update(const NDArray<T>& labels, const NDArray<T>& preds) override {
    this->check_defined(labels, preds);
    GLUINO_CHECK(ShapeError, preds.ndim() == 2 && labels.size() == preds.shape()[0], this->name(), ": labels of shape ",
                 labels.shape(), " do not match probabilities of shape ", preds.shape(), " (expected (N,) and (N, C))");
    const std::size_t n = preds.shape()[0], c = preds.shape()[1];
    double s = 0;
    for (std::size_t i = 0; i < n; ++i) {
      const std::optional<long long> label = detail::class_index(labels.data()[i]);
      GLUINO_CHECK(ValueError, label && *label >= 0 && static_cast<std::size_t>(*label) < c, this->name(), ": label ",
                   labels.data()[i], " of sample ", i, " is not a class of probabilities of shape ", preds.shape());
      s -= std::log(static_cast<double>(preds.data()[i * c + static_cast<std::size_t>(*label)]) + eps_);
    }
    this->accumulate(s, n);
  }

 private:
  double eps_;
};

/// exp(sum of -log max(p, 1e-10) / count) over every label seen (a NaN p gives NaN, as NumPy),
/// p the probability preds gives the label along `axis` (default -1: preds (..., C), labels of
/// preds' shape without that axis, or any shape of as many elements).  Labels equal to
/// ignore_label are left out of the sum and the count; without ignore_label (std::nullopt) every
/// label counts.  get() and get_global() are exp of the mean, so the mean runs over labels, not
/// batches.  Gluon: mx.metric.Perplexity(ignore_label, axis=-1, name="perplexity").  ShapeError
/// names both shapes when the counts differ; ValueError for a counted label outside [0, C)
/// (MXNet's pick clips it).
template <class T>
class BasicPerplexity : public BasicEvalMetric<T> {
 public:
  explicit BasicPerplexity(std::optional<long long> ignore_label, int axis = -1, std::string name = "perplexity")
      : BasicEvalMetric<T>(std::move(name)), ignore_label_(ignore_label), axis_(axis) {}
  using BasicEvalMetric<T>::update;
  void update(const NDArray<T>& labels, const NDArray<T>& preds) override {
    this->check_defined(labels, preds);
    GLUINO_CHECK(ShapeError, preds.ndim() >= 1, this->name(), ": probabilities of shape ", preds.shape(),
                 " have no class axis");
    const std::size_t a = preds.shape().normalize_axis(axis_), c = preds.shape()[a];
    GLUINO_CHECK(ShapeError, c > 0 && labels.size() * c == preds.size(), this->name(), ": labels of shape ",
                 labels.shape(), " do not match probabilities of shape ", preds.shape(), " along axis ", axis_);
    std::size_t inner = 1;
    for (std::size_t d = a + 1; d < preds.ndim(); ++d) inner *= preds.shape()[d];
    double s = 0;
    std::size_t count = 0;
    for (std::size_t j = 0; j < labels.size(); ++j) {
      const std::optional<long long> label = detail::class_index(labels.data()[j]);  // truncated, as MXNet's int32 cast
      if (ignore_label_ && label == *ignore_label_) continue;
      GLUINO_CHECK(ValueError, label && *label >= 0 && static_cast<std::size_t>(*label) < c, this->name(), ": label ",
                   labels.data()[j], " at ", j, " is not a class of probabilities of shape ", preds.shape());
      const std::size_t outer = j / inner, in = j % inner;
      const double p = static_cast<double>(preds.data()[(outer * c + static_cast<std::size_t>(*label)) * inner + in]);
      s -= std::log(p > 1e-10 || std::isnan(p) ? p : 1e-10);  // a NaN stays NaN (std::max would floor it)
      ++count;
    }
    this->accumulate(s, count);
  }
  std::pair<std::string, double> get() const override { return exp_of(BasicEvalMetric<T>::get()); }
  std::pair<std::string, double> get_global() const override { return exp_of(BasicEvalMetric<T>::get_global()); }

 private:
  static std::pair<std::string, double> exp_of(std::pair<std::string, double> v) {
    v.second = std::exp(v.second);
    return v;
  }
  std::optional<long long> ignore_label_;
  int axis_;
};

/// The float metrics, under Gluon's names.
using CrossEntropy = BasicCrossEntropy<float>;
using Perplexity = BasicPerplexity<float>;

}  // namespace gluino::metric

// Precompiled mode (detail/precompiled.hpp): this header's float and double instantiations.
#define GLUINO_METRIC_CROSS_ENTROPY_INSTANTIATIONS(X, T) \
  X class BasicCrossEntropy<T>; \
  X class BasicPerplexity<T>;
namespace gluino::metric {
GLUINO_EXTERN_INSTANTIATIONS(GLUINO_METRIC_CROSS_ENTROPY_INSTANTIATIONS)
}  // namespace gluino::metric
