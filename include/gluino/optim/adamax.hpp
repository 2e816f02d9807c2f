// SPDX-License-Identifier: Apache-2.0
#pragma once
/// Adamax, Adam with the infinity norm (Kingma & Ba, 2015, section 7).  Gluon: mx.optimizer.Adamax
/// (MXNet 1.x's update, written out in python/mxnet/optimizer/optimizer.py).
#include <algorithm>
#include <cmath>

#include "gluino/detail/precompiled.hpp"
#include "gluino/optim/optimizer.hpp"

namespace gluino::optim {

/// Options of Adamax, in the order of Gluon's keyword arguments, then the common ones.
struct AdamaxOptions {
  double learning_rate = 0.002;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double wd = 0;
  double rescale_grad = 1;
  double clip_gradient = -1;  ///< < 0 = off
  std::shared_ptr<LRScheduler> lr_scheduler = nullptr;
  std::size_t begin_num_update = 0;
};

/// MXNet's rule, element-wise, at this parameter's update count t:
///   g = clip(rescale_grad * grad + wd * w)          (wd inside the clip)
///   mean = beta1 * mean + (1 - beta1) * g
///   u    = max(beta2 * u, |g|)
///   w -= lr / (1 - beta1^t) * mean / u
/// States: "mean", "u".  Gluon: mx.optimizer.Adamax.
/// MXNet has no epsilon: where u is 0 (every gradient of that element so far was 0, so mean is 0
/// too) MXNet's 0 / 0 makes the weight NaN; gluino leaves it unchanged.  Elsewhere the rules agree.
/// PyTorch's Adamax puts an eps (default 1e-8) into the max, u = max(beta2 * u, |g| + eps), and
/// does not clip; with eps = 0 and no clipping it is this rule.
template <class T>
class BasicAdamax : public BasicOptimizer<T> {
 public:
  explicit BasicAdamax(AdamaxOptions opt = {})
      : BasicOptimizer<T>("adamax", hyper_of(opt)), beta1_(opt.beta1), beta2_(opt.beta2) {
    this->check_unit("beta1", beta1_);
    this->check_unit("beta2", beta2_);
  }
  std::vector<std::string> state_names() const override { return {"mean", "u"}; }

 protected:
  void step(NDArray<T>& weight, const NDArray<T>& grad, std::vector<NDArray<T>>& state, double lr, double wd,
            std::size_t t) override {
    const T lr_t = static_cast<T>(lr / (1 - std::pow(beta1_, static_cast<double>(t))));
    const T d = static_cast<T>(wd), r = static_cast<T>(this->rescale_grad()), b1 = static_cast<T>(beta1_),
            b2 = static_cast<T>(beta2_);
    T* w = weight.data();
    const T* gr = grad.data();
    T *mean = state[0].data(), *u = state[1].data();
    this->for_each(weight.size(), [&](std::size_t i) {
      const T g = this->clip(r * gr[i] + d * w[i]);
      mean[i] = b1 * mean[i] + (T(1) - b1) * g;
      u[i] = std::max(b2 * u[i], std::abs(g));
      if (u[i] != T(0)) w[i] -= lr_t * mean[i] / u[i];
    });
  }

 private:
  double beta1_, beta2_;
};

/// The float optimizer, under Gluon's name.
using Adamax = BasicAdamax<float>;

}  // namespace gluino::optim

// Precompiled mode (detail/precompiled.hpp): this header's float and double instantiations.
#define GLUINO_OPTIM_ADAMAX_INSTANTIATIONS(X, T) \
  X class BasicAdamax<T>;
namespace gluino::optim {
GLUINO_EXTERN_INSTANTIATIONS(GLUINO_OPTIM_ADAMAX_INSTANTIATIONS)
}  // namespace gluino::optim
