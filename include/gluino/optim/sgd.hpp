// SPDX-License-Identifier: Apache-2.0
#pragma once
/// SGD with momentum and weight decay.  Gluon: mx.optimizer.SGD (MXNet's sgd_update / sgd_mom_update).
#include "gluino/detail/precompiled.hpp"
#include "gluino/optim/optimizer.hpp"

namespace gluino::optim {

/// Options of SGD: the common hyper-parameters with momentum after learning_rate, so that
/// `SGD({.learning_rate = 0.1, .momentum = 0.9, .wd = 1e-4})` reads like the Gluon call.
struct SGDOptions {
  double learning_rate = 0.01;
  double momentum = 0;
  double wd = 0;
  double rescale_grad = 1;
  double clip_gradient = -1;  ///< < 0 = off
  std::shared_ptr<LRScheduler> lr_scheduler = nullptr;
  std::size_t begin_num_update = 0;
};

/// MXNet's rule, element-wise, with g = clip(rescale_grad * grad) (wd is not clipped):
///   momentum == 0:  w = (1 - lr * wd) * w - lr * g                    (sgd_update)
///   momentum  > 0:  mom = momentum * mom - lr * wd * w - lr * g;  w += mom   (sgd_mom_update)
/// State: "mom" when momentum > 0 (none otherwise).  Gluon: mx.optimizer.SGD (dense updates;
/// lazy_update only concerns sparse gradients, which gluino does not have).
template <class T>
class BasicSGD : public BasicOptimizer<T> {
 public:
  explicit BasicSGD(SGDOptions opt = {})
      : BasicOptimizer<T>("sgd", hyper_of(opt)),
        momentum_(opt.momentum) {
    this->check_unit("momentum", momentum_);
  }
  double momentum() const { return momentum_; }
  std::vector<std::string> state_names() const override {
    if (momentum_ == 0) return {};
    return {"mom"};
  }

 protected:
  void step(NDArray<T>& weight, const NDArray<T>& grad, std::vector<NDArray<T>>& state, double lr, double wd,
            std::size_t) override {
    T* w = weight.data();
    const T* g = grad.data();
    const T l = static_cast<T>(lr), d = static_cast<T>(wd), m = static_cast<T>(momentum_);
    if (state.empty()) {
      this->for_each(weight.size(), [&](std::size_t i) { w[i] = (T(1) - l * d) * w[i] - l * this->rescaled(g[i]); });
      return;
    }
    T* mom = state[0].data();
    this->for_each(weight.size(), [&](std::size_t i) {
      mom[i] = m * mom[i] - l * d * w[i] - l * this->rescaled(g[i]);
      w[i] += mom[i];
    });
  }

 private:
  double momentum_;
};

/// The float optimizer, under Gluon's name.
using SGD = BasicSGD<float>;

}  // namespace gluino::optim

// Precompiled mode (detail/precompiled.hpp): this header's float and double instantiations.
#define GLUINO_OPTIM_SGD_INSTANTIATIONS(X, T) \
  X class BasicSGD<T>;
namespace gluino::optim {
GLUINO_EXTERN_INSTANTIATIONS(GLUINO_OPTIM_SGD_INSTANTIATIONS)
}  // namespace gluino::optim
