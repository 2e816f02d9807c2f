// SPDX-License-Identifier: Apache-2.0
#pragma once
/// PoissonNLLLoss.  Gluon: gluon.loss.PoissonNLLLoss.
#include <numbers>

#include "gluino/detail/precompiled.hpp"
#include "gluino/loss/loss.hpp"
#include "gluino/nd/creation.hpp"

namespace gluino::loss {

/// Options of PoissonNLLLoss, in the order of Gluon's keyword arguments.
struct PoissonNLLLossOptions {
  double weight = 1;          ///< global scale of the loss (1 stands for Gluon's None)
  bool from_logits = true;    ///< pred holds log(rate); false: pred holds the rate itself
  int batch_axis = 0;         ///< the axis of the samples (used to apply a (N,) sample_weight)
  bool compute_full = false;  ///< add Stirling's approximation of log(target!)
};

/// Negative log-likelihood of target (counts, pred's size; reshaped to pred's shape) under a
/// Poisson distribution of rate exp(pred) (from_logits) or pred:
///   from_logits:   L = exp(pred) - target * pred
///   otherwise:     L = pred - target * log(pred + 1e-8)
///   compute_full:  L += target * log(target) - target + 0.5 * log(2 pi target)  where target > 1
/// then sample weights and the global weight, and, as Gluon, the mean of every element: returns
/// shape (1,), not one value per sample.  Gradients flow to pred and target.
/// Gluon: gluon.loss.PoissonNLLLoss (a plain callable, not a Block).  Differs from Gluon: with
/// compute_full a target of 0 adds 0 (Gluon's 0 * log(0) gives NaN).  PyTorch: PoissonNLLLoss
/// with log_input = from_logits, full = compute_full, eps = 1e-8 and reduction "mean".
template <class T>
class BasicPoissonNLLLoss : public BasicLoss<T> {
 public:
  explicit BasicPoissonNLLLoss(PoissonNLLLossOptions opt = {})
      : BasicLoss<T>("PoissonNLLLoss", opt.weight, opt.batch_axis), opt_(opt) {}
  using BasicLoss<T>::operator();
  const PoissonNLLLossOptions& options() const { return opt_; }

 protected:
  NDArray<T> compute(const NDArray<T>& pred, const NDArray<T>& target) const override {
    const NDArray<T> t = this->reshape_like(target, pred, "target");
    NDArray<T> l = opt_.from_logits ? nd::exp(pred) - t * pred : pred - t * nd::log(pred + T(1e-8));
    if (opt_.compute_full) {
      // Stirling's term, on max(t, 1) so that a target of 0 or 1 gives 0, not 0 * log(0).
      const NDArray<T> t1 = nd::maximum(t, nd::full<T>(Shape{}, T(1)));
      const NDArray<T> stirling = t1 * nd::log(t1) - t1 + nd::log(t1 * T(2 * std::numbers::pi)) * T(0.5);
      l = l + stirling * (t > T(1));
    }
    return l;
  }
  /// Gluon's F.mean(loss): one value, shape (1,) as MXNet 1.x.
  NDArray<T> reduce(const NDArray<T>& l, std::size_t) const override { return nd::mean(l).reshape(Shape{1}); }

 private:
  PoissonNLLLossOptions opt_;
};

/// The float loss, under Gluon's name.
using PoissonNLLLoss = BasicPoissonNLLLoss<float>;

}  // namespace gluino::loss

// Precompiled mode (detail/precompiled.hpp): this header's float and double instantiations.
#define GLUINO_LOSS_POISSON_NLL_LOSS_INSTANTIATIONS(X, T) \
  X class BasicPoissonNLLLoss<T>;
namespace gluino::loss {
GLUINO_EXTERN_INSTANTIATIONS(GLUINO_LOSS_POISSON_NLL_LOSS_INSTANTIATIONS)
}  // namespace gluino::loss
