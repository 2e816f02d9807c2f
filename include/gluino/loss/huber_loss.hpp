// SPDX-License-Identifier: Apache-2.0
#pragma once
/// HuberLoss.  Gluon: gluon.loss.HuberLoss.
#include <cmath>

#include "gluino/detail/precompiled.hpp"
#include "gluino/loss/loss.hpp"

namespace gluino::loss {

/// Options of HuberLoss, in the order of Gluon's keyword arguments.
struct HuberLossOptions {
  double rho = 1;      ///< where the loss turns from quadratic to linear; must be > 0
  double weight = 1;   ///< global scale of the loss (1 stands for Gluon's None)
  int batch_axis = 0;  ///< the axis kept by the final mean
};

/// Smoothed L1: with a = |label - pred|,
///   L = a^2 / (2 rho)   if a <= rho
///   L = a - rho / 2     otherwise
/// then sample weights and the mean over every axis but batch_axis: returns (N,).  label must
/// have pred's size.  Computed as q^2 / (2 rho) + (a - q) with q = clip(a, 0, rho), which is
/// Gluon's where(a > rho, ...) with the same gradient (a / rho, then sign).
/// Gluon: gluon.loss.HuberLoss (a plain callable, not a Block).  PyTorch: this is
/// SmoothL1Loss(beta = rho); PyTorch's HuberLoss(delta) is delta times it.  rho <= 0 is a
/// ValueError (Gluon divides by it).
template <class T>
class BasicHuberLoss : public BasicLoss<T> {
 public:
  explicit BasicHuberLoss(HuberLossOptions opt = {})
      : BasicLoss<T>("HuberLoss", opt.weight, opt.batch_axis), opt_(opt) {
    GLUINO_CHECK(ValueError, opt.rho > 0 && std::isfinite(opt.rho), "HuberLoss: rho must be positive and finite, got ",
                 opt.rho);
  }
  using BasicLoss<T>::operator();
  const HuberLossOptions& options() const { return opt_; }

 protected:
  NDArray<T> compute(const NDArray<T>& pred, const NDArray<T>& label) const override {
    const T rho = static_cast<T>(opt_.rho);
    const NDArray<T> a = nd::abs(this->reshape_like(label, pred) - pred);
    const NDArray<T> q = nd::clip(a, T(0), rho);
    return nd::square(q) * (T(0.5) / rho) + (a - q);
  }

 private:
  HuberLossOptions opt_;
};

/// The float loss, under Gluon's name.
using HuberLoss = BasicHuberLoss<float>;

}  // namespace gluino::loss

// Precompiled mode (detail/precompiled.hpp): this header's float and double instantiations.
#define GLUINO_LOSS_HUBER_LOSS_INSTANTIATIONS(X, T) \
  X class BasicHuberLoss<T>;
namespace gluino::loss {
GLUINO_EXTERN_INSTANTIATIONS(GLUINO_LOSS_HUBER_LOSS_INSTANTIATIONS)
}  // namespace gluino::loss
