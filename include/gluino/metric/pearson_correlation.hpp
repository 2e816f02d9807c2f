// SPDX-License-Identifier: Apache-2.0
#pragma once
/// PearsonCorrelation.  Gluon: mx.metric.PearsonCorrelation (MXNet 1.x).
#include <cmath>
#include <string>

#include "gluino/detail/precompiled.hpp"
#include "gluino/metric/eval_metric.hpp"

namespace gluino::metric {

/// Count, means and (co-)moments of label and pred values, merged batch by batch (Chan et al.),
/// exact as one pass over every value.
struct PearsonMoments {
  double n = 0, mean_l = 0, mean_p = 0, m2_l = 0, m2_p = 0, c = 0;
  std::size_t batches = 0;
  std::size_t weight() const { return batches; }
  PearsonMoments& operator+=(const PearsonMoments& b) {
    const double total = n + b.n, dl = b.mean_l - mean_l, dp = b.mean_p - mean_p, w = n * b.n / total;
    m2_l += b.m2_l + dl * dl * w, m2_p += b.m2_p + dp * dp * w, c += b.c + dl * dp * w;
    mean_l += dl * b.n / total, mean_p += dp * b.n / total, n = total;
    batches += b.batches;
    return *this;
  }
  /// cov / (sigma_l sigma_p); NaN when either is constant or there are no values (as NumPy).
  double r() const { return c / std::sqrt(m2_l * m2_p); }
};

/// Pearson's r of labels and preds, flattened (the same shape: ShapeError naming both
/// otherwise).  average "macro" (Gluon's default): the mean of each batch's r (NumPy's corrcoef).
/// "micro": r of every value since reset_local() (get_global(): since reset()), as MXNet 1.x's
/// Welford updates.  Unlike MXNet, whose micro get_global() reads sums it never fills (0) and
/// whose reset_local() keeps the micro moments, gluino keeps local and global moments apart.
/// An empty batch is skipped (its r, 0 / 0, would make every later value NaN).
/// Gluon: mx.metric.PearsonCorrelation(name="pearsonr", average="macro").
template <class T>
class BasicPearsonCorrelation : public BasicAveragedMetric<T, PearsonMoments> {
 public:
  explicit BasicPearsonCorrelation(std::string average = "macro", std::string name = "pearsonr")
      : BasicAveragedMetric<T, PearsonMoments>(std::move(name), average) {}
  using BasicEvalMetric<T>::update;
  void update(const NDArray<T>& labels, const NDArray<T>& preds) override {
    this->check_defined(labels, preds);
    GLUINO_CHECK(ShapeError, labels.shape() == preds.shape(), this->name(), ": labels of shape ", labels.shape(),
                 " do not match predictions of shape ", preds.shape());
    if (labels.size() == 0) return;
    PearsonMoments b;
    b.n = static_cast<double>(labels.size()), b.batches = 1;
    const T *pl = labels.data(), *pp = preds.data();
    for (std::size_t i = 0; i < labels.size(); ++i) b.mean_l += double(pl[i]), b.mean_p += double(pp[i]);
    b.mean_l /= b.n, b.mean_p /= b.n;
    for (std::size_t i = 0; i < labels.size(); ++i) {
      const double dl = double(pl[i]) - b.mean_l, dp = double(pp[i]) - b.mean_p;
      b.m2_l += dl * dl, b.m2_p += dp * dp, b.c += dl * dp;
    }
    this->add(b);  // under "micro", num_inst counts batches, as MXNet
  }

 protected:
  double value(const PearsonMoments& m) const override { return m.r(); }
};

/// The float metric, under Gluon's name.
using PearsonCorrelation = BasicPearsonCorrelation<float>;

}  // namespace gluino::metric

// Precompiled mode (detail/precompiled.hpp): this header's float and double instantiations.
#define GLUINO_METRIC_PEARSON_CORRELATION_INSTANTIATIONS(X, T) \
  X class BasicAveragedMetric<T, PearsonMoments>; \
  X class BasicPearsonCorrelation<T>;
namespace gluino::metric {
GLUINO_EXTERN_INSTANTIATIONS(GLUINO_METRIC_PEARSON_CORRELATION_INSTANTIATIONS)
}  // namespace gluino::metric
