// SPDX-License-Identifier: Apache-2.0
#pragma once
/// Nadam, Adam with Nesterov momentum (Dozat, 2016).  Gluon: mx.optimizer.Nadam (MXNet 1.x's
/// update, written out in python/mxnet/optimizer/optimizer.py).
#include <cmath>

#include "gluino/detail/precompiled.hpp"
#include "gluino/kernels/vector_sqrt.hpp"
#include "gluino/optim/optimizer.hpp"

namespace gluino::optim {

/// Options of Nadam, in the order of Gluon's keyword arguments, then the common ones.
struct NadamOptions {
  double learning_rate = 0.001;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double epsilon = 1e-8;
  double schedule_decay = 0.004;  ///< decay of the momentum schedule (PyTorch: momentum_decay)
  double wd = 0;
  double rescale_grad = 1;
  double clip_gradient = -1;      ///< < 0 = off
  std::shared_ptr<LRScheduler> lr_scheduler = nullptr;
  std::size_t begin_num_update = 0;
};

/// MXNet's rule, element-wise, at this parameter's update count t:
///   g = clip(rescale_grad * grad + wd * w)                    (wd inside the clip)
///   mu_k = beta1 * (1 - 0.5 * 0.96^(k * schedule_decay))      (the momentum schedule)
///   m_schedule = mu_1 * ... * mu_t   (from begin_num_update + 1; m_schedule_next = m_schedule * mu_{t+1})
///   mean = beta1 * mean + (1 - beta1) * g
///   var  = beta2 * var  + (1 - beta2) * g^2
///   m_bar = (1 - mu_t) * g / (1 - m_schedule) + mu_{t+1} * mean / (1 - m_schedule_next)
///   w -= lr * m_bar / (sqrt(var / (1 - beta2^t)) + epsilon)
/// States: "mean", "var".  Gluon: mx.optimizer.Nadam.
/// MXNet keeps one m_schedule for the whole optimizer and multiplies it at every update of every
/// parameter, so that with several parameters it runs ahead of t; gluino keeps it per update
/// count, MXNet's value for a single parameter (and PyTorch's per-parameter mu_product).  It is
/// a function of t, so it needs no state and survives save_states / load_states.  PyTorch 1.13's
/// NAdam has the same rule except that it multiplies mu_t twice into m_schedule_next (fixed in
/// PyTorch 2.0), and it does not clip.
template <class T>
class BasicNadam : public BasicOptimizer<T> {
 public:
  explicit BasicNadam(NadamOptions opt = {})
      : BasicOptimizer<T>("nadam", hyper_of(opt)),
        beta1_(opt.beta1),
        beta2_(opt.beta2),
        epsilon_(opt.epsilon),
        schedule_decay_(opt.schedule_decay),
        memo_t_(opt.begin_num_update),
        memo_first_(opt.begin_num_update) {
    this->check_unit("beta1", beta1_);
    this->check_unit("beta2", beta2_);
    this->check_positive("epsilon", epsilon_);
    this->check_non_negative("schedule_decay", schedule_decay_);
  }
  std::vector<std::string> state_names() const override { return {"mean", "var"}; }

  /// mu_k, the momentum schedule at update count k.
  double momentum_at(std::size_t k) const {
    return beta1_ * (1 - 0.5 * std::pow(0.96, static_cast<double>(k) * schedule_decay_));
  }

 protected:
  void step(NDArray<T>& weight, const NDArray<T>& grad, std::vector<NDArray<T>>& state, double lr, double wd,
            std::size_t t) override {
    const double mu_t = momentum_at(t), mu_next = momentum_at(t + 1);
    const double sched = m_schedule(t), sched_next = sched * mu_next;
    const T c_g = static_cast<T>((1 - mu_t) / (1 - sched)), c_m = static_cast<T>(mu_next / (1 - sched_next)),
            bc2 = static_cast<T>(1 - std::pow(beta2_, static_cast<double>(t)));
    const T l = static_cast<T>(lr), d = static_cast<T>(wd), r = static_cast<T>(this->rescale_grad()),
            b1 = static_cast<T>(beta1_), b2 = static_cast<T>(beta2_), eps = static_cast<T>(epsilon_);
    T* w = weight.data();
    const T* gr = grad.data();
    T *mean = state[0].data(), *var = state[1].data();
    // Captured by value: a float captured by reference might alias the arrays, keeping the loops scalar.
    this->for_each_block(weight.size(), [=, this](std::size_t lo, std::size_t hi) {
      // sqrt(var / bc2), vectorised; zeroed, as GCC 12 cannot see that the loop below fills
      // what vector_sqrt reads (-Wmaybe-uninitialized).
      T root[gluino::detail::parallel_block] = {};
      for (std::size_t i = lo; i < hi; ++i) {
        const T g = this->clip(r * gr[i] + d * w[i]);
        mean[i] = b1 * mean[i] + (T(1) - b1) * g;
        var[i] = b2 * var[i] + (T(1) - b2) * g * g;
        root[i - lo] = var[i] / bc2;
      }
      kernels::vector_sqrt(root, root, hi - lo);
      for (std::size_t i = lo; i < hi; ++i) {
        const T g = this->clip(r * gr[i] + d * w[i]);  // w is unchanged so far: the same g
        const T m_bar = c_g * g + c_m * mean[i];
        w[i] -= l * m_bar / (root[i - lo] + eps);
      }
    });
  }

 private:
  /// mu_{begin_num_update + 1} * ... * mu_t; mu_1 * ... * mu_t when t <= begin_num_update
  /// (counters restored from an optimizer that began at 0: the empty product, 1, would divide by 0).
  double m_schedule(std::size_t t) {
    // A memo of the last product: one multiplication per step when the parameters are at t or
    // t - 1; recomputed from the start when the counters went back (reset, set_update_counts).
    const std::size_t first = t > this->begin_num_update() ? this->begin_num_update() : 0;
    if (t < memo_t_ || first != memo_first_) {
      memo_first_ = memo_t_ = first;
      memo_ = 1;
    }
    while (memo_t_ < t) memo_ *= momentum_at(++memo_t_);
    return memo_;
  }

  double beta1_, beta2_, epsilon_, schedule_decay_;
  std::size_t memo_t_, memo_first_;  // the product is mu_{memo_first_ + 1} ... mu_{memo_t_}
  double memo_ = 1;
};

/// The float optimizer, under Gluon's name.
using Nadam = BasicNadam<float>;

}  // namespace gluino::optim

// Precompiled mode (detail/precompiled.hpp): this header's float and double instantiations.
#define GLUINO_OPTIM_NADAM_INSTANTIATIONS(X, T) \
  X class BasicNadam<T>;
namespace gluino::optim {
GLUINO_EXTERN_INSTANTIATIONS(GLUINO_OPTIM_NADAM_INSTANTIATIONS)
}  // namespace gluino::optim
