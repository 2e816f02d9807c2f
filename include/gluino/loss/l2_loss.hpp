// SPDX-License-Identifier: Apache-2.0
#pragma once
/// L2Loss.  Gluon: gluon.loss.L2Loss.
#include "gluino/detail/precompiled.hpp"
#include "gluino/loss/loss.hpp"

namespace gluino::loss {

/// Options of L2Loss, in the order of Gluon's keyword arguments.
struct L2LossOptions {
  double weight = 1;   ///< global scale of the loss
  int batch_axis = 0;  ///< the axis kept by the final mean
};

/// L = weight / 2 * (pred - label)^2, times sample weights, averaged over every axis but
/// batch_axis: returns (N,).  label must have pred's size (it is reshaped to pred's shape).
/// Gluon: gluon.loss.L2Loss (a plain callable, not a Block).
template <class T>
class BasicL2Loss : public BasicLoss<T> {
 public:
  explicit BasicL2Loss(L2LossOptions opt = {}) : BasicLoss<T>("L2Loss", opt.weight, opt.batch_axis) {}
  using BasicLoss<T>::operator();

 protected:
  NDArray<T> compute(const NDArray<T>& pred, const NDArray<T>& label) const override {
    return nd::square(this->reshape_like(label, pred) - pred) * T(0.5);
  }
};

/// The float loss, under Gluon's name.
using L2Loss = BasicL2Loss<float>;

}  // namespace gluino::loss

// Precompiled mode (detail/precompiled.hpp): this header's float and double instantiations.
#define GLUINO_LOSS_L2_LOSS_INSTANTIATIONS(X, T) \
  X class BasicL2Loss<T>;
namespace gluino::loss {
GLUINO_EXTERN_INSTANTIATIONS(GLUINO_LOSS_L2_LOSS_INSTANTIATIONS)
}  // namespace gluino::loss
