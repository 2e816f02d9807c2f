// SPDX-License-Identifier: Apache-2.0
#pragma once
/// KLDivLoss.  Gluon: gluon.loss.KLDivLoss.
#include "gluino/detail/precompiled.hpp"
#include "gluino/loss/loss.hpp"
#include "gluino/nd/softmax.hpp"

namespace gluino::loss {

/// Options of KLDivLoss, in the order of Gluon's keyword arguments.
struct KLDivLossOptions {
  bool from_logits = true;  ///< pred already holds log-probabilities; false: log_softmax(pred, axis) first
  int axis = -1;            ///< the axis of the log_softmax (used only when from_logits is false)
  double weight = 1;        ///< global scale of the loss (1 stands for Gluon's None)
  int batch_axis = 0;       ///< the axis kept by the final mean
};

/// Kullback-Leibler divergence of the distribution `label` (values in (0, 1], pred's size;
/// reshaped to pred's shape) from the log-probabilities p = pred (or log_softmax(pred, axis)
/// when from_logits is false), element-wise as Gluon:
///   L = label * (log(label + 1e-12) - p)
/// then sample weights and the mean over every axis but batch_axis: returns (N,).  Gradients
/// flow to pred and label.  Gluon: gluon.loss.KLDivLoss (a plain callable, not a Block).
/// Gluon's from_logits = true means pred holds log-probabilities (not raw logits).  PyTorch's
/// KLDivLoss always takes log-probabilities and has no log_softmax option; Gluon's value is the
/// mean over the class axis, PyTorch's reduction "batchmean" the sum (C times larger for (N, C)),
/// and PyTorch takes label * log(label) as 0 at label = 0 where Gluon adds 1e-12.
template <class T>
class BasicKLDivLoss : public BasicLoss<T> {
 public:
  explicit BasicKLDivLoss(KLDivLossOptions opt = {})
      : BasicLoss<T>("KLDivLoss", opt.weight, opt.batch_axis), opt_(opt) {}
  using BasicLoss<T>::operator();
  const KLDivLossOptions& options() const { return opt_; }

 protected:
  NDArray<T> compute(const NDArray<T>& pred, const NDArray<T>& label) const override {
    const NDArray<T> q = this->reshape_like(label, pred);
    NDArray<T> logp = pred;
    if (!opt_.from_logits) {
      const int n = static_cast<int>(pred.ndim());
      GLUINO_CHECK(ShapeError, opt_.axis >= -n && opt_.axis < n, this->name(), ": axis ", opt_.axis,
                   " out of range for pred of shape ", pred.shape());
      logp = nd::log_softmax(pred, opt_.axis);
    }
    return q * (nd::log(q + T(1e-12)) - logp);
  }

 private:
  KLDivLossOptions opt_;
};

/// The float loss, under Gluon's name.
using KLDivLoss = BasicKLDivLoss<float>;

}  // namespace gluino::loss

// Precompiled mode (detail/precompiled.hpp): this header's float and double instantiations.
#define GLUINO_LOSS_KL_DIV_LOSS_INSTANTIATIONS(X, T) \
  X class BasicKLDivLoss<T>;
namespace gluino::loss {
GLUINO_EXTERN_INSTANTIATIONS(GLUINO_LOSS_KL_DIV_LOSS_INSTANTIATIONS)
}  // namespace gluino::loss
