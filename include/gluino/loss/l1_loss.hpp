// SPDX-License-Identifier: Apache-2.0
#pragma once
/// L1Loss.  Gluon: gluon.loss.L1Loss.
#include "gluino/detail/precompiled.hpp"
#include "gluino/loss/loss.hpp"

namespace gluino::loss {

/// Options of L1Loss, in the order of Gluon's keyword arguments.
struct L1LossOptions {
  double weight = 1;   ///< global scale of the loss (1 stands for Gluon's None)
  int batch_axis = 0;  ///< the axis kept by the final mean
};

/// L = weight * |pred - label|, times sample weights, averaged over every axis but batch_axis:
/// returns (N,).  The gradient of |x| at 0 is 0 (as MXNet).  label must have pred's size.
/// Gluon: gluon.loss.L1Loss (a plain callable, not a Block).
template <class T>
class BasicL1Loss : public BasicLoss<T> {
 public:
  explicit BasicL1Loss(L1LossOptions opt = {}) : BasicLoss<T>("L1Loss", opt.weight, opt.batch_axis) {}
  using BasicLoss<T>::operator();

 protected:
  NDArray<T> compute(const NDArray<T>& pred, const NDArray<T>& label) const override {
    return nd::abs(this->reshape_like(label, pred) - pred);
  }
};

/// The float loss, under Gluon's name.
using L1Loss = BasicL1Loss<float>;

}  // namespace gluino::loss

// Precompiled mode (detail/precompiled.hpp): this header's float and double instantiations.
#define GLUINO_LOSS_L1_LOSS_INSTANTIATIONS(X, T) \
  X class BasicL1Loss<T>;
namespace gluino::loss {
GLUINO_EXTERN_INSTANTIATIONS(GLUINO_LOSS_L1_LOSS_INSTANTIATIONS)
}  // namespace gluino::loss
