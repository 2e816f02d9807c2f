// SPDX-License-Identifier: Apache-2.0
#pragma once
/// AdamW, Adam with decoupled weight decay (Loshchilov & Hutter, 2019).  MXNet's contrib
/// adamw_update kernel, driven as MXNet 2.0's registered mx.optimizer.AdamW drives it (MXNet 1.x
/// has the kernel, mx.nd.contrib.adamw_update, but no optimizer class).
#include <cmath>

#include "gluino/detail/precompiled.hpp"
#include "gluino/kernels/vector_sqrt.hpp"
#include "gluino/optim/optimizer.hpp"

namespace gluino::optim {

/// Options of AdamW, in the order of Gluon's keyword arguments, then the common ones.
struct AdamWOptions {
  double learning_rate = 0.001;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double epsilon = 1e-6;
  bool correct_bias = true;
  double wd = 0;
  double rescale_grad = 1;
  double clip_gradient = -1;  ///< < 0 = off
  std::shared_ptr<LRScheduler> lr_scheduler = nullptr;
  std::size_t begin_num_update = 0;
};

/// MXNet's adamw_update, element-wise, with g = clip(rescale_grad * grad) (wd is not in g) and
/// eta = lr * sqrt(1 - beta2^t) / (1 - beta1^t) at this parameter's update count t (eta = lr
/// without correct_bias; Gluon passes the rate as the kernel's eta, with its lr = 1):
///   mean = beta1 * mean + (1 - beta1) * g
///   var  = beta2 * var  + (1 - beta2) * g^2
///   w -= eta * (mean / (sqrt(var) + epsilon) + wd * w)
/// States: "mean", "var".  Gluon: mx.optimizer.AdamW (MXNet 2.0).
/// PyTorch's AdamW differs in two places: its decay is w *= 1 - lr * wd, with the plain lr where
/// MXNet uses the bias-corrected eta, and its epsilon is added to sqrt(var_hat) =
/// sqrt(var / (1 - beta2^t)), MXNet's to sqrt(var) (so MXNet's is in effect epsilon /
/// sqrt(1 - beta2^t) on PyTorch's scale).  Defaults differ too: PyTorch's epsilon is 1e-8 and
/// its weight_decay 0.01.
template <class T>
class BasicAdamW : public BasicOptimizer<T> {
 public:
  explicit BasicAdamW(AdamWOptions opt = {})
      : BasicOptimizer<T>("adamw", hyper_of(opt)),
        beta1_(opt.beta1),
        beta2_(opt.beta2),
        epsilon_(opt.epsilon),
        correct_bias_(opt.correct_bias) {
    this->check_unit("beta1", beta1_);
    this->check_unit("beta2", beta2_);
    this->check_positive("epsilon", epsilon_);
  }
  bool correct_bias() const { return correct_bias_; }
  std::vector<std::string> state_names() const override { return {"mean", "var"}; }

 protected:
  void step(NDArray<T>& weight, const NDArray<T>& grad, std::vector<NDArray<T>>& state, double lr, double wd,
            std::size_t t) override {
    const double td = static_cast<double>(t);
    const T eta = static_cast<T>(correct_bias_ ? lr * std::sqrt(1 - std::pow(beta2_, td)) / (1 - std::pow(beta1_, td)) : lr);
    const T d = static_cast<T>(wd), b1 = static_cast<T>(beta1_), b2 = static_cast<T>(beta2_), eps = static_cast<T>(epsilon_);
    T* w = weight.data();
    const T* gr = grad.data();
    T *mean = state[0].data(), *var = state[1].data();
    // Captured by value: a float captured by reference might alias the arrays, keeping the loops scalar.
    this->for_each_block(weight.size(), [=, this](std::size_t lo, std::size_t hi) {
      for (std::size_t i = lo; i < hi; ++i) {
        const T g = this->rescaled(gr[i]);
        mean[i] = b1 * mean[i] + (T(1) - b1) * g;
        var[i] = b2 * var[i] + (T(1) - b2) * g * g;
      }
      T root[gluino::detail::parallel_block];  // sqrt(var), vectorised
      kernels::vector_sqrt(var + lo, root, hi - lo);
      for (std::size_t i = lo; i < hi; ++i) w[i] -= eta * (mean[i] / (root[i - lo] + eps) + d * w[i]);
    });
  }

 private:
  double beta1_, beta2_, epsilon_;
  bool correct_bias_;
};

/// The float optimizer, under Gluon's name.
using AdamW = BasicAdamW<float>;

}  // namespace gluino::optim

// Precompiled mode (detail/precompiled.hpp): this header's float and double instantiations.
#define GLUINO_OPTIM_ADAMW_INSTANTIATIONS(X, T) \
  X class BasicAdamW<T>;
namespace gluino::optim {
GLUINO_EXTERN_INSTANTIATIONS(GLUINO_OPTIM_ADAMW_INSTANTIATIONS)
}  // namespace gluino::optim
