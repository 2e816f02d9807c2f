// SPDX-License-Identifier: Apache-2.0
#pragma once
/// RMSProp, plain (Tieleman & Hinton) or centered (Graves).  Gluon: mx.optimizer.RMSProp
/// (MXNet's rmsprop_update / rmspropalex_update).
#include <cmath>

#include "gluino/detail/precompiled.hpp"
#include "gluino/kernels/vector_sqrt.hpp"
#include "gluino/optim/optimizer.hpp"

namespace gluino::optim {

/// Options of RMSProp, in the order of Gluon's keyword arguments, then the common ones.
struct RMSPropOptions {
  double learning_rate = 0.001;
  double gamma1 = 0.9;
  double gamma2 = 0.9;         ///< momentum of the centered variant
  double epsilon = 1e-8;
  bool centered = false;
  double clip_weights = -1;    ///< clip weights to [-c, c] after the update when c >= 0
  double wd = 0;
  double rescale_grad = 1;
  double clip_gradient = -1;   ///< < 0 = off
  std::shared_ptr<LRScheduler> lr_scheduler = nullptr;
  std::size_t begin_num_update = 0;
};

/// MXNet's rules, element-wise, with g = clip(rescale_grad * grad + wd * w):
///   plain:    n = (1 - gamma1) * g^2 + gamma1 * n;  w -= lr * g / sqrt(n + epsilon)
///   centered: n as above;  gm = (1 - gamma1) * g + gamma1 * gm;
///             delta = gamma2 * delta - lr * g / sqrt(n - gm^2 + epsilon);  w += delta
/// then w is clipped to [-clip_weights, clip_weights] when clip_weights >= 0.
/// States: "n" (plain) or "n", "g", "delta" (centered).  Gluon: mx.optimizer.RMSProp.
template <class T>
class BasicRMSProp : public BasicOptimizer<T> {
 public:
  explicit BasicRMSProp(RMSPropOptions opt = {})
      : BasicOptimizer<T>("rmsprop", hyper_of(opt)),
        gamma1_(opt.gamma1),
        gamma2_(opt.gamma2),
        epsilon_(opt.epsilon),
        clip_weights_(opt.clip_weights),
        centered_(opt.centered) {
    this->check_unit("gamma1", gamma1_);
    this->check_unit("gamma2", gamma2_);
    this->check_positive("epsilon", epsilon_);
    this->check_clip("clip_weights", clip_weights_);
  }
  bool centered() const { return centered_; }
  std::vector<std::string> state_names() const override {
    if (centered_) return {"n", "g", "delta"};
    return {"n"};
  }

 protected:
  void step(NDArray<T>& weight, const NDArray<T>& grad, std::vector<NDArray<T>>& state, double lr, double wd,
            std::size_t) override {
    const T l = static_cast<T>(lr), d = static_cast<T>(wd), r = static_cast<T>(this->rescale_grad()),
            g1 = static_cast<T>(gamma1_), g2 = static_cast<T>(gamma2_), eps = static_cast<T>(epsilon_),
            cw = static_cast<T>(clip_weights_);
    const bool clip_w = clip_weights_ >= 0;
    T* w = weight.data();
    const T* gr = grad.data();
    T* n = state[0].data();
    T* gm = centered_ ? state[1].data() : nullptr;
    T* delta = centered_ ? state[2].data() : nullptr;
    // Captured by value: a float captured by reference might alias the arrays, keeping the loops scalar.
    const bool centered = centered_;
    this->for_each_block(weight.size(), [=, this](std::size_t lo, std::size_t hi) {
      // The denominators, vectorised; zeroed, as GCC 12 cannot see that the loop below fills
      // what vector_sqrt reads (-Wmaybe-uninitialized).
      T root[gluino::detail::parallel_block] = {};
      for (std::size_t i = lo; i < hi; ++i) {
        const T g = this->clip(r * gr[i] + d * w[i]);
        n[i] = (T(1) - g1) * g * g + g1 * n[i];
        if (centered) gm[i] = (T(1) - g1) * g + g1 * gm[i];
        root[i - lo] = centered ? n[i] - gm[i] * gm[i] + eps : n[i] + eps;
      }
      kernels::vector_sqrt(root, root, hi - lo);
      for (std::size_t i = lo; i < hi; ++i) {
        const T g = this->clip(r * gr[i] + d * w[i]);  // w is unchanged so far: the same g
        T v;
        if (centered) {
          delta[i] = g2 * delta[i] - l * g / root[i - lo];
          v = w[i] + delta[i];
        } else {
          v = w[i] - l * g / root[i - lo];
        }
        w[i] = clip_w ? (v > cw ? cw : (v < -cw ? -cw : v)) : v;
      }
    });
  }

 private:
  double gamma1_, gamma2_, epsilon_, clip_weights_;
  bool centered_;
};

/// The float optimizer, under Gluon's name.
using RMSProp = BasicRMSProp<float>;

}  // namespace gluino::optim

// Precompiled mode (detail/precompiled.hpp): this header's float and double instantiations.
#define GLUINO_OPTIM_RMSPROP_INSTANTIATIONS(X, T) \
  X class BasicRMSProp<T>;
namespace gluino::optim {
GLUINO_EXTERN_INSTANTIATIONS(GLUINO_OPTIM_RMSPROP_INSTANTIATIONS)
}  // namespace gluino::optim
