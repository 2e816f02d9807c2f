// SPDX-License-Identifier: Apache-2.0
#pragma once
/// HingeLoss.  Gluon: gluon.loss.HingeLoss.
#include "gluino/detail/precompiled.hpp"
#include "gluino/loss/loss.hpp"

namespace gluino::loss {

/// Options of HingeLoss, in the order of Gluon's keyword arguments.
struct HingeLossOptions {
  double margin = 1;   ///< the margin (any finite value; NaN or infinity is a ValueError)
  double weight = 1;   ///< global scale of the loss (1 stands for Gluon's None)
  int batch_axis = 0;  ///< the axis kept by the final mean
};

/// The SVM hinge loss, labels -1 or 1 (pred's size; reshaped to pred's shape):
///   L = max(0, margin - pred * label)
/// then sample weights and the mean over every axis but batch_axis: returns (N,).  Gradients
/// flow to pred and label (0 where the hinge is flat, and at its corner).
/// Gluon: gluon.loss.HingeLoss (a plain callable, not a Block).  PyTorch has no such loss
/// (its HingeEmbeddingLoss is another function).
template <class T>
class BasicHingeLoss : public BasicLoss<T> {
 public:
  explicit BasicHingeLoss(HingeLossOptions opt = {})
      : BasicLoss<T>("HingeLoss", opt.weight, opt.batch_axis), opt_(opt) {
    this->check_finite("margin", opt.margin);
  }
  using BasicLoss<T>::operator();
  const HingeLossOptions& options() const { return opt_; }

 protected:
  NDArray<T> compute(const NDArray<T>& pred, const NDArray<T>& label) const override {
    return nd::relu(static_cast<T>(opt_.margin) - pred * this->reshape_like(label, pred));
  }

 private:
  HingeLossOptions opt_;
};

/// The float loss, under Gluon's name.
using HingeLoss = BasicHingeLoss<float>;

}  // namespace gluino::loss

// Precompiled mode (detail/precompiled.hpp): this header's float and double instantiations.
#define GLUINO_LOSS_HINGE_LOSS_INSTANTIATIONS(X, T) \
  X class BasicHingeLoss<T>;
namespace gluino::loss {
GLUINO_EXTERN_INSTANTIATIONS(GLUINO_LOSS_HINGE_LOSS_INSTANTIATIONS)
}  // namespace gluino::loss
