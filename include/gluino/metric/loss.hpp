// SPDX-License-Identifier: Apache-2.0
#pragma once
/// The mean of losses.  Gluon: mx.metric.Loss.
#include "gluino/detail/precompiled.hpp"
#include "gluino/metric/eval_metric.hpp"

namespace gluino::metric {

/// Mean over every element of every loss array seen: update(labels, losses) ignores labels
/// (as Gluon), update(losses) is the short form.  Gluon: mx.metric.Loss(name="loss").
template <class T>
class BasicLoss : public BasicEvalMetric<T> {
 public:
  explicit BasicLoss(std::string name = "loss") : BasicEvalMetric<T>(std::move(name)) {}
  using BasicEvalMetric<T>::update;
  void update(const NDArray<T>&, const NDArray<T>& losses) override { update(losses); }
  /// Adds the losses of one batch.
  void update(const NDArray<T>& losses) {
    GLUINO_CHECK(StateError, losses.defined(), this->name(),
                 ": update: losses is an undefined (default-constructed) array");
    double s = 0;
    for (const T v : losses) s += static_cast<double>(v);
    this->accumulate(s, losses.size());
  }
};

/// The float metric, under Gluon's name.
using Loss = BasicLoss<float>;

}  // namespace gluino::metric

// Precompiled mode (detail/precompiled.hpp): this header's float and double instantiations.
#define GLUINO_METRIC_LOSS_INSTANTIATIONS(X, T) \
  X class BasicLoss<T>;
namespace gluino::metric {
GLUINO_EXTERN_INSTANTIATIONS(GLUINO_METRIC_LOSS_INSTANTIATIONS)
}  // namespace gluino::metric
