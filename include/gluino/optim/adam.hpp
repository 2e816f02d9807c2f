// SPDX-License-Identifier: Apache-2.0
#pragma once
/// Adam.  Gluon: mx.optimizer.Adam (MXNet's adam_update with the bias correction in the rate).
#include <cmath>

#include "gluino/detail/precompiled.hpp"
#include "gluino/kernels/vector_sqrt.hpp"
#include "gluino/optim/optimizer.hpp"

namespace gluino::optim {

/// Options of Adam, in the order of Gluon's keyword arguments, then the common ones.
struct AdamOptions {
  double learning_rate = 0.001;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double epsilon = 1e-8;
  double wd = 0;
  double rescale_grad = 1;
  double clip_gradient = -1;  ///< < 0 = off
  std::shared_ptr<LRScheduler> lr_scheduler = nullptr;
  std::size_t begin_num_update = 0;
};

/// MXNet's rule, element-wise, at this parameter's update count t:
///   g = clip(rescale_grad * grad + wd * w)          (wd inside the clip, as adam_update)
///   mean = beta1 * mean + (1 - beta1) * g
///   var  = beta2 * var  + (1 - beta2) * g^2
///   w -= lr_t * mean / (sqrt(var) + epsilon),  lr_t = lr * sqrt(1 - beta2^t) / (1 - beta1^t)
/// States: "mean", "var".  Gluon: mx.optimizer.Adam.
template <class T>
class BasicAdam : public BasicOptimizer<T> {
 public:
  explicit BasicAdam(AdamOptions opt = {})
      : BasicOptimizer<T>("adam", hyper_of(opt)),
        beta1_(opt.beta1),
        beta2_(opt.beta2),
        epsilon_(opt.epsilon) {
    this->check_unit("beta1", beta1_);
    this->check_unit("beta2", beta2_);
    this->check_positive("epsilon", epsilon_);
  }
  std::vector<std::string> state_names() const override { return {"mean", "var"}; }

 protected:
  void step(NDArray<T>& weight, const NDArray<T>& grad, std::vector<NDArray<T>>& state, double lr, double wd,
            std::size_t t) override {
    const double td = static_cast<double>(t);
    const T lr_t = static_cast<T>(lr * std::sqrt(1 - std::pow(beta2_, td)) / (1 - std::pow(beta1_, td)));
    const T d = static_cast<T>(wd), r = static_cast<T>(this->rescale_grad()), b1 = static_cast<T>(beta1_),
            b2 = static_cast<T>(beta2_), eps = static_cast<T>(epsilon_);
    T* w = weight.data();
    const T* gr = grad.data();
    T *mean = state[0].data(), *var = state[1].data();
    // Captured by value: a float captured by reference might alias the arrays, keeping the loop scalar.
    this->for_each_block(weight.size(), [=, this](std::size_t lo, std::size_t hi) {
      for (std::size_t i = lo; i < hi; ++i) {
        const T g = this->clip(r * gr[i] + d * w[i]);
        mean[i] = b1 * mean[i] + (T(1) - b1) * g;
        var[i] = b2 * var[i] + (T(1) - b2) * g * g;
      }
      T root[gluino::detail::parallel_block];  // sqrt(var), vectorised
      kernels::vector_sqrt(var + lo, root, hi - lo);
      for (std::size_t i = lo; i < hi; ++i) w[i] -= lr_t * mean[i] / (root[i - lo] + eps);
    });
  }

 private:
  double beta1_, beta2_, epsilon_;
};

/// The float optimizer, under Gluon's name.
using Adam = BasicAdam<float>;

}  // namespace gluino::optim

// Precompiled mode (detail/precompiled.hpp): this header's float and double instantiations.
#define GLUINO_OPTIM_ADAM_INSTANTIATIONS(X, T) \
  X class BasicAdam<T>;
namespace gluino::optim {
GLUINO_EXTERN_INSTANTIATIONS(GLUINO_OPTIM_ADAM_INSTANTIATIONS)
}  // namespace gluino::optim
