// SPDX-License-Identifier: Apache-2.0
#pragma once
/// TripletLoss.  Gluon: gluon.loss.TripletLoss.
#include "gluino/detail/precompiled.hpp"
#include "gluino/loss/loss.hpp"

namespace gluino::loss {

/// Options of TripletLoss, in the order of Gluon's keyword arguments.
struct TripletLossOptions {
  double margin = 1;   ///< separation of the positive and the negative pair (finite)
  double weight = 1;   ///< global scale of the loss (1 stands for Gluon's None)
  int batch_axis = 0;  ///< the axis of the samples
};

/// The triplet loss of an anchor `pred` against a `positive` and a `negative` example (each of
/// pred's size; reshaped to pred's shape), with squared Euclidean distances over every axis but
/// batch_axis:
///   L = max(0, sum((positive - pred)^2) - sum((negative - pred)^2) + margin)
/// returns (N,).  Call it as loss(pred, positive, negative[, sample_weight]); gradients flow to
/// all three.  Gluon: gluon.loss.TripletLoss (a plain callable, not a Block).  Differs from
/// Gluon: an optional sample_weight, per sample (Gluon's TripletLoss takes none).  PyTorch's
/// TripletMarginLoss is another function: it uses the p-norm distances (not squared, with an
/// eps) of vectors along dimension 1.
template <class T>
class BasicTripletLoss : public BasicThreeInputLoss<T> {
 public:
  explicit BasicTripletLoss(TripletLossOptions opt = {})
      : BasicThreeInputLoss<T>("TripletLoss", {"pred", "positive", "negative"}, opt.weight, opt.batch_axis),
        opt_(opt) {
    this->check_finite("margin", opt.margin);
  }
  using BasicThreeInputLoss<T>::operator();
  const TripletLossOptions& options() const { return opt_; }

 protected:
  NDArray<T> compute3(const NDArray<T>& pred, const NDArray<T>& positive, const NDArray<T>& negative) const override {
    const NDArray<T> d = nd::square(this->reshape_like(positive, pred, "positive") - pred) -
                         nd::square(this->reshape_like(negative, pred, "negative") - pred);
    // The sum keeps its axes as 1, so that finish()'s mean over them is the identity.
    const std::vector<int> axes = this->axes_except(d.ndim(), this->batch_axis_of(d.shape()));
    return nd::relu((axes.empty() ? d : nd::sum(d, axes, true)) + static_cast<T>(opt_.margin));
  }

 private:
  TripletLossOptions opt_;
};

/// The float loss, under Gluon's name.
using TripletLoss = BasicTripletLoss<float>;

}  // namespace gluino::loss

// Precompiled mode (detail/precompiled.hpp): this header's float and double instantiations.
#define GLUINO_LOSS_TRIPLET_LOSS_INSTANTIATIONS(X, T) \
  X class BasicTripletLoss<T>;
namespace gluino::loss {
GLUINO_EXTERN_INSTANTIATIONS(GLUINO_LOSS_TRIPLET_LOSS_INSTANTIATIONS)
}  // namespace gluino::loss
