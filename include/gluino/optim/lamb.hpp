// SPDX-License-Identifier: Apache-2.0
#pragma once
/// LAMB, layer-wise adaptive moments (You et al., 2019).  Gluon: mx.optimizer.LAMB (MXNet's
/// lamb_update_phase1 and lamb_update_phase2).
#include <algorithm>
#include <cmath>

#include "gluino/detail/precompiled.hpp"
#include "gluino/optim/optimizer.hpp"

namespace gluino::optim {

/// Options of LAMB, in the order of Gluon's keyword arguments, then the common ones.
struct LAMBOptions {
  double learning_rate = 0.001;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double epsilon = 1e-6;
  double lower_bound = -1;      ///< lower limit of ||w|| in the trust ratio; <= 0 = off (Gluon's None)
  double upper_bound = -1;      ///< upper limit of ||w|| in the trust ratio; <= 0 = off (Gluon's None)
  bool bias_correction = true;
  double wd = 0;
  double rescale_grad = 1;
  double clip_gradient = -1;    ///< < 0 = off
  std::shared_ptr<LRScheduler> lr_scheduler = nullptr;
  std::size_t begin_num_update = 0;
};

/// MXNet's rule, at this parameter's update count t, with g = clip(rescale_grad * grad) (wd is
/// not in g).  Phase 1, element-wise:
///   mean = beta1 * mean + (1 - beta1) * g
///   var  = beta2 * var  + (1 - beta2) * g^2
///   u = mean_hat / (sqrt(var_hat) + epsilon) + wd * w,
///       mean_hat = mean / (1 - beta1^t), var_hat = var / (1 - beta2^t)  (mean, var without bias_correction)
/// Phase 2, over the whole parameter: r1 = ||w||_2 bounded to [lower_bound, upper_bound] (each
/// when > 0), r2 = ||u||_2, and
///   w -= lr * (r1 > 0 && r2 > 0 ? r1 / r2 : 1) * u
/// States: "mean", "var".  Gluon: mx.optimizer.LAMB; PyTorch has no LAMB.  The norms are summed
/// in double, in order (one thread); u is computed twice rather than stored, so that steady-state
/// updates allocate nothing.  ValueError when both bounds are on and lower_bound > upper_bound.
template <class T>
class BasicLAMB : public BasicOptimizer<T> {
 public:
  explicit BasicLAMB(LAMBOptions opt = {})
      : BasicOptimizer<T>("lamb", hyper_of(opt)),
        beta1_(opt.beta1),
        beta2_(opt.beta2),
        epsilon_(opt.epsilon),
        lower_bound_(opt.lower_bound),
        upper_bound_(opt.upper_bound),
        bias_correction_(opt.bias_correction) {
    this->check_unit("beta1", beta1_);
    this->check_unit("beta2", beta2_);
    this->check_positive("epsilon", epsilon_);
    this->check_clip("lower_bound", lower_bound_);
    this->check_clip("upper_bound", upper_bound_);
    GLUINO_CHECK(ValueError, lower_bound_ <= 0 || upper_bound_ <= 0 || lower_bound_ <= upper_bound_,
                 "lamb: lower_bound must be <= upper_bound, got ", lower_bound_, " > ", upper_bound_);
  }
  bool bias_correction() const { return bias_correction_; }
  std::vector<std::string> state_names() const override { return {"mean", "var"}; }

 protected:
  void step(NDArray<T>& weight, const NDArray<T>& grad, std::vector<NDArray<T>>& state, double lr, double wd,
            std::size_t t) override {
    const double td = static_cast<double>(t);
    const T bc1 = static_cast<T>(bias_correction_ ? 1 - std::pow(beta1_, td) : 1),
            bc2 = static_cast<T>(bias_correction_ ? 1 - std::pow(beta2_, td) : 1);
    const T d = static_cast<T>(wd), b1 = static_cast<T>(beta1_), b2 = static_cast<T>(beta2_),
            eps = static_cast<T>(epsilon_);
    T* w = weight.data();
    const T* gr = grad.data();
    T *mean = state[0].data(), *var = state[1].data();
    auto direction = [&](std::size_t i) { return mean[i] / bc1 / (std::sqrt(var[i] / bc2) + eps) + d * w[i]; };
    double ww = 0, uu = 0;
    for (std::size_t i = 0; i < weight.size(); ++i) {
      const T g = this->rescaled(gr[i]);
      mean[i] = b1 * mean[i] + (T(1) - b1) * g;
      var[i] = b2 * var[i] + (T(1) - b2) * g * g;
      const double u = static_cast<double>(direction(i)), wi = static_cast<double>(w[i]);
      ww += wi * wi;
      uu += u * u;
    }
    double r1 = std::sqrt(ww);
    if (lower_bound_ > 0) r1 = std::max(r1, lower_bound_);
    if (upper_bound_ > 0) r1 = std::min(r1, upper_bound_);
    const double r2 = std::sqrt(uu);
    const T lr_t = static_cast<T>(r1 > 0 && r2 > 0 ? lr * r1 / r2 : lr);
    this->for_each(weight.size(), [&](std::size_t i) { w[i] -= lr_t * direction(i); });
  }

 private:
  double beta1_, beta2_, epsilon_, lower_bound_, upper_bound_;
  bool bias_correction_;
};

/// The float optimizer, under Gluon's name.
using LAMB = BasicLAMB<float>;

}  // namespace gluino::optim

// Precompiled mode (detail/precompiled.hpp): this header's float and double instantiations.
#define GLUINO_OPTIM_LAMB_INSTANTIATIONS(X, T) \
  X class BasicLAMB<T>;
namespace gluino::optim {
GLUINO_EXTERN_INSTANTIATIONS(GLUINO_OPTIM_LAMB_INSTANTIATIONS)
}  // namespace gluino::optim
