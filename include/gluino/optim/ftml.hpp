// SPDX-License-Identifier: Apache-2.0
#pragma once
/// FTML, Follow the Moving Leader (Zheng & Kwok, ICML 2017).  Gluon: mx.optimizer.FTML (MXNet's
/// ftml_update).
#include <cmath>

#include "gluino/detail/precompiled.hpp"
#include "gluino/optim/optimizer.hpp"

namespace gluino::optim {

/// Options of FTML: learning_rate, then Gluon's keyword arguments, then the common ones.
struct FTMLOptions {
  double learning_rate = 0.01;  ///< > 0: the rule divides by it
  double beta1 = 0.6;
  double beta2 = 0.999;
  double epsilon = 1e-8;
  double wd = 0;
  double rescale_grad = 1;
  double clip_gradient = -1;    ///< < 0 = off
  std::shared_ptr<LRScheduler> lr_scheduler = nullptr;
  std::size_t begin_num_update = 0;
};

/// MXNet's ftml_update, element-wise, at this parameter's update count t:
///   g = clip(rescale_grad * grad + wd * w)          (wd inside the clip)
///   v = beta2 * v + (1 - beta2) * g^2
///   d_t = (1 - beta1^t) / lr * (sqrt(v / (1 - beta2^t)) + epsilon)
///   z = beta1 * z + (1 - beta1) * g - (d_t - beta1 * d) * w
///   d = d_t;  w = -z / d_t
/// States: "d", "v", "z".  Gluon: mx.optimizer.FTML; PyTorch has no FTML.  The learning rate
/// (times lr_mult) must be > 0: ValueError at construction, and at an update that would divide
/// by 0 (MXNet returns NaN there; check_step); such an update changes nothing and does not
/// count, and a Trainer's step where one parameter's would is refused before any is updated.
template <class T>
class BasicFTML : public BasicOptimizer<T> {
 public:
  explicit BasicFTML(FTMLOptions opt = {})
      : BasicOptimizer<T>("ftml", hyper_of(opt)), beta1_(opt.beta1), beta2_(opt.beta2), epsilon_(opt.epsilon) {
    this->check_positive("learning_rate", this->hyper().learning_rate);
    this->check_unit("beta1", beta1_);
    this->check_unit("beta2", beta2_);
    this->check_positive("epsilon", epsilon_);
  }
  std::vector<std::string> state_names() const override { return {"d", "v", "z"}; }
  /// ValueError for a rate (times lr_mult, at the update's num_update) that is not > 0: the rule
  /// divides by it.  update() and Trainer::step ask before writing anything.
  void check_step(double lr, double /*wd*/) const override {
    GLUINO_CHECK(ValueError, lr > 0, "ftml: the learning rate (times lr_mult) must be > 0, got ", lr,
                 " (FTML divides by it)");
  }

 protected:
  void step(NDArray<T>& weight, const NDArray<T>& grad, std::vector<NDArray<T>>& state, double lr, double wd,
            std::size_t t) override {
    const double td = static_cast<double>(t);
    const T c = static_cast<T>((1 - std::pow(beta1_, td)) / lr), bc2 = static_cast<T>(1 - std::pow(beta2_, td));
    const T d = static_cast<T>(wd), r = static_cast<T>(this->rescale_grad()), b1 = static_cast<T>(beta1_),
            b2 = static_cast<T>(beta2_), eps = static_cast<T>(epsilon_);
    T* w = weight.data();
    const T* gr = grad.data();
    T *d_prev = state[0].data(), *v = state[1].data(), *z = state[2].data();
    this->for_each(weight.size(), [&](std::size_t i) {
      const T g = this->clip(r * gr[i] + d * w[i]);
      v[i] = b2 * v[i] + (T(1) - b2) * g * g;
      const T d_t = c * (std::sqrt(v[i] / bc2) + eps);
      z[i] = b1 * z[i] + (T(1) - b1) * g - (d_t - b1 * d_prev[i]) * w[i];
      d_prev[i] = d_t;
      w[i] = -z[i] / d_t;
    });
  }

 private:
  double beta1_, beta2_, epsilon_;
};

/// The float optimizer, under Gluon's name.
using FTML = BasicFTML<float>;

}  // namespace gluino::optim

// Precompiled mode (detail/precompiled.hpp): this header's float and double instantiations.
#define GLUINO_OPTIM_FTML_INSTANTIATIONS(X, T) \
  X class BasicFTML<T>;
namespace gluino::optim {
GLUINO_EXTERN_INSTANTIATIONS(GLUINO_OPTIM_FTML_INSTANTIATIONS)
}  // namespace gluino::optim
