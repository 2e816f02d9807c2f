// SPDX-License-Identifier: Apache-2.0
#pragma once
/// MAE, MSE and RMSE.  Gluon: mx.metric.MAE, mx.metric.MSE, mx.metric.RMSE (MXNet 1.x).
#include <cmath>
#include <string>

#include "gluino/detail/precompiled.hpp"
#include "gluino/metric/eval_metric.hpp"

namespace gluino::metric {

/// A per-batch error averaged over batches, as MXNet 1.x's regression metrics: each
/// update(labels, preds) adds finish(mean of err(label - pred) over its elements) and counts 1,
/// so get() is the mean of the batches' values, not of all elements (batches of unequal size
/// weigh the same).  labels and preds must have the same shape, except that (N,) and (N, 1)
/// match (MXNet reshapes 1-D arrays to (N, 1), then broadcasts; gluino does not broadcast):
/// ShapeError naming both shapes otherwise.  An empty batch is skipped (MXNet adds NumPy's NaN
/// mean of nothing, which then spoils every later value).
template <class T>
class BasicRegressionMetric : public BasicEvalMetric<T> {
 public:
  using BasicEvalMetric<T>::BasicEvalMetric;
  using BasicEvalMetric<T>::update;
  void update(const NDArray<T>& labels, const NDArray<T>& preds) override {
    this->check_defined(labels, preds);
    const auto column = [](const Shape& s) { return s.ndim() == 1 ? Shape{s[0], 1} : s; };
    GLUINO_CHECK(ShapeError, column(labels.shape()) == column(preds.shape()), this->name(), ": labels of shape ",
                 labels.shape(), " do not match predictions of shape ", preds.shape());
    if (labels.size() == 0) return;
    double s = 0;
    const T *pl = labels.data(), *pp = preds.data();
    for (std::size_t i = 0; i < labels.size(); ++i) s += error(static_cast<double>(pl[i]) - static_cast<double>(pp[i]));
    this->accumulate(finish(s / static_cast<double>(labels.size())), 1);
  }

 protected:
  virtual double error(double d) const = 0;
  virtual double finish(double mean) const { return mean; }
};

/// Mean absolute error of each batch, averaged over batches.  Gluon: mx.metric.MAE(name="mae").
template <class T>
class BasicMAE : public BasicRegressionMetric<T> {
 public:
  explicit BasicMAE(std::string name = "mae") : BasicRegressionMetric<T>(std::move(name)) {}

 protected:
  double error(double d) const override { return std::abs(d); }
};

/// Mean squared error of each batch, averaged over batches.  Gluon: mx.metric.MSE(name="mse").
template <class T>
class BasicMSE : public BasicRegressionMetric<T> {
 public:
  explicit BasicMSE(std::string name = "mse") : BasicRegressionMetric<T>(std::move(name)) {}

 protected:
  double error(double d) const override { return d * d; }
};

/// sqrt of each batch's mean squared error, averaged over batches (so not the sqrt of MSE over
/// several batches).  Gluon: mx.metric.RMSE(name="rmse").
template <class T>
class BasicRMSE : public BasicMSE<T> {
 public:
  explicit BasicRMSE(std::string name = "rmse") : BasicMSE<T>(std::move(name)) {}

 protected:
  double finish(double mean) const override { return std::sqrt(mean); }
};

/// The float metrics, under Gluon's names.
using MAE = BasicMAE<float>;
using MSE = BasicMSE<float>;
using RMSE = BasicRMSE<float>;

}  // namespace gluino::metric

// Precompiled mode (detail/precompiled.hpp): this header's float and double instantiations.
#define GLUINO_METRIC_REGRESSION_INSTANTIATIONS(X, T) \
  X class BasicRegressionMetric<T>; \
  X class BasicMAE<T>; \
  X class BasicMSE<T>; \
  X class BasicRMSE<T>;
namespace gluino::metric {
GLUINO_EXTERN_INSTANTIATIONS(GLUINO_METRIC_REGRESSION_INSTANTIATIONS)
}  // namespace gluino::metric
