// SPDX-License-Identifier: Apache-2.0
#pragma once
/// SquaredHingeLoss.  Gluon: gluon.loss.SquaredHingeLoss.
#include "gluino/detail/precompiled.hpp"
#include "gluino/loss/loss.hpp"

namespace gluino::loss {

/// Options of SquaredHingeLoss, in the order of Gluon's keyword arguments.
struct SquaredHingeLossOptions {
  double margin = 1;   ///< the margin (any finite value; NaN or infinity is a ValueError)
  double weight = 1;   ///< global scale of the loss (1 stands for Gluon's None)
  int batch_axis = 0;  ///< the axis kept by the final mean
};

/// The soft-margin (squared hinge) loss of SVMs, labels -1 or 1 (pred's size; reshaped to
/// pred's shape):
///   L = max(0, margin - pred * label)^2
/// then sample weights and the mean over every axis but batch_axis: returns (N,).  Gradients
/// flow to pred and label.  Gluon: gluon.loss.SquaredHingeLoss (a plain callable, not a Block).
/// PyTorch has no such loss.
template <class T>
class BasicSquaredHingeLoss : public BasicLoss<T> {
 public:
  explicit BasicSquaredHingeLoss(SquaredHingeLossOptions opt = {})
      : BasicLoss<T>("SquaredHingeLoss", opt.weight, opt.batch_axis), opt_(opt) {
    this->check_finite("margin", opt.margin);
  }
  using BasicLoss<T>::operator();
  const SquaredHingeLossOptions& options() const { return opt_; }

 protected:
  NDArray<T> compute(const NDArray<T>& pred, const NDArray<T>& label) const override {
    return nd::square(nd::relu(static_cast<T>(opt_.margin) - pred * this->reshape_like(label, pred)));
  }

 private:
  SquaredHingeLossOptions opt_;
};

/// The float loss, under Gluon's name.
using SquaredHingeLoss = BasicSquaredHingeLoss<float>;

}  // namespace gluino::loss

// Precompiled mode (detail/precompiled.hpp): this header's float and double instantiations.
#define GLUINO_LOSS_SQUARED_HINGE_LOSS_INSTANTIATIONS(X, T) \
  X class BasicSquaredHingeLoss<T>;
namespace gluino::loss {
GLUINO_EXTERN_INSTANTIATIONS(GLUINO_LOSS_SQUARED_HINGE_LOSS_INSTANTIATIONS)
}  // namespace gluino::loss
