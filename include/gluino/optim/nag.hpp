// SPDX-License-Identifier: Apache-2.0
#pragma once
/// Nesterov accelerated SGD.  Gluon: mx.optimizer.NAG (MXNet's nag_mom_update).
#include "gluino/detail/precompiled.hpp"
#include "gluino/optim/optimizer.hpp"
#include "gluino/optim/sgd.hpp"

namespace gluino::optim {

/// Options of NAG: the same as SGD's (learning_rate, momentum, wd, rescale_grad, clip_gradient,
/// lr_scheduler, begin_num_update).
using NAGOptions = SGDOptions;

/// MXNet's nag_mom_update, element-wise, with g = clip(rescale_grad * grad) + wd * w:
///   momentum > 0:  mom = momentum * mom - lr * g;  w += momentum * mom - lr * g
///   momentum == 0: w -= lr * g
/// State: "mom" when momentum > 0.  Gluon: mx.optimizer.NAG.  Note: MXNet's kernel, run in place,
/// reads the already-updated weight in its wd term of mom; gluino uses the weight before the
/// update throughout (the intended rule; identical when wd = 0).
template <class T>
class BasicNAG : public BasicOptimizer<T> {
 public:
  explicit BasicNAG(NAGOptions opt = {})
      : BasicOptimizer<T>("nag", hyper_of(opt)),
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
    const T* gr = grad.data();
    const T l = static_cast<T>(lr), d = static_cast<T>(wd), m = static_cast<T>(momentum_);
    if (state.empty()) {
      this->for_each(weight.size(), [&](std::size_t i) { w[i] -= l * (this->rescaled(gr[i]) + d * w[i]); });
      return;
    }
    T* mom = state[0].data();
    this->for_each(weight.size(), [&](std::size_t i) {
      const T g = this->rescaled(gr[i]) + d * w[i];
      mom[i] = m * mom[i] - l * g;
      w[i] += m * mom[i] - l * g;
    });
  }

 private:
  double momentum_;
};

/// The float optimizer, under Gluon's name.
using NAG = BasicNAG<float>;

}  // namespace gluino::optim

// Precompiled mode (detail/precompiled.hpp): this header's float and double instantiations.
#define GLUINO_OPTIM_NAG_INSTANTIATIONS(X, T) \
  X class BasicNAG<T>;
namespace gluino::optim {
GLUINO_EXTERN_INSTANTIATIONS(GLUINO_OPTIM_NAG_INSTANTIATIONS)
}  // namespace gluino::optim
