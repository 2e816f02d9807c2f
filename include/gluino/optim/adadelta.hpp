// SPDX-License-Identifier: Apache-2.0
#pragma once
/// AdaDelta (Zeiler, 2012).  Gluon: mx.optimizer.AdaDelta (MXNet 1.x's update, written out in
/// python/mxnet/optimizer/optimizer.py).
#include <cmath>

#include "gluino/detail/precompiled.hpp"
#include "gluino/optim/optimizer.hpp"

namespace gluino::optim {

/// Options of AdaDelta: learning_rate, then Gluon's keyword arguments (rho, epsilon), then the
/// common ones.  learning_rate defaults to 1, at which the rule is MXNet 1.x's exactly (see
/// BasicAdaDelta).
struct AdaDeltaOptions {
  double learning_rate = 1.0;
  double rho = 0.9;
  double epsilon = 1e-5;
  double wd = 0;
  double rescale_grad = 1;
  double clip_gradient = -1;  ///< < 0 = off
  std::shared_ptr<LRScheduler> lr_scheduler = nullptr;
  std::size_t begin_num_update = 0;
};

/// MXNet's rule, element-wise, with g = clip(rescale_grad * grad) (wd is not in g):
///   acc_g     = rho * acc_g + (1 - rho) * g^2
///   delta     = sqrt(acc_delta + epsilon) / sqrt(acc_g + epsilon) * g
///   acc_delta = rho * acc_delta + (1 - rho) * delta^2
///   w -= lr * delta + wd * w              (wd decoupled, and not scaled by lr)
/// States: "acc_g", "acc_delta".  Gluon: mx.optimizer.AdaDelta.
/// MXNet 1.x has no learning rate in this rule (its learning_rate, scheduler and lr_mult are
/// ignored): gluino's lr scales delta, so that they work, and defaults to 1, which is MXNet 1.x's
/// rule (MXNet 2.0 and PyTorch scale delta by lr too, default 1).  Nor does gluino rescale the
/// caller's gradient in place, as MXNet 1.x's update does.  PyTorch's Adadelta adds wd * w to the
/// gradient before the accumulators instead (the same rule when wd = 0).
template <class T>
class BasicAdaDelta : public BasicOptimizer<T> {
 public:
  explicit BasicAdaDelta(AdaDeltaOptions opt = {})
      : BasicOptimizer<T>("adadelta", hyper_of(opt)), rho_(opt.rho), epsilon_(opt.epsilon) {
    this->check_unit("rho", rho_);
    this->check_positive("epsilon", epsilon_);
  }
  double rho() const { return rho_; }
  std::vector<std::string> state_names() const override { return {"acc_g", "acc_delta"}; }

 protected:
  void step(NDArray<T>& weight, const NDArray<T>& grad, std::vector<NDArray<T>>& state, double lr, double wd,
            std::size_t) override {
    const T l = static_cast<T>(lr), d = static_cast<T>(wd), rho = static_cast<T>(rho_), eps = static_cast<T>(epsilon_);
    T* w = weight.data();
    const T* gr = grad.data();
    T *acc_g = state[0].data(), *acc_delta = state[1].data();
    this->for_each(weight.size(), [&](std::size_t i) {
      const T g = this->rescaled(gr[i]);
      acc_g[i] = rho * acc_g[i] + (T(1) - rho) * g * g;
      const T delta = std::sqrt(acc_delta[i] + eps) / std::sqrt(acc_g[i] + eps) * g;
      acc_delta[i] = rho * acc_delta[i] + (T(1) - rho) * delta * delta;
      w[i] -= l * delta + d * w[i];
    });
  }

 private:
  double rho_, epsilon_;
};

/// The float optimizer, under Gluon's name.
using AdaDelta = BasicAdaDelta<float>;

}  // namespace gluino::optim

// Precompiled mode (detail/precompiled.hpp): this header's float and double instantiations.
#define GLUINO_OPTIM_ADADELTA_INSTANTIATIONS(X, T) \
  X class BasicAdaDelta<T>;
namespace gluino::optim {
GLUINO_EXTERN_INSTANTIATIONS(GLUINO_OPTIM_ADADELTA_INSTANTIATIONS)
}  // namespace gluino::optim
