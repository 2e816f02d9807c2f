// SPDX-License-Identifier: Apache-2.0
#pragma once
/// Signum and signSGD (Bernstein et al., 2018): steps of lr in the sign of the momentum or of
/// the gradient.  Gluon: mx.optimizer.Signum (MXNet's signum_update / signsgd_update).
#include "gluino/detail/precompiled.hpp"
#include "gluino/optim/optimizer.hpp"

namespace gluino::optim {

/// Options of Signum, in the order of Gluon's keyword arguments, then the common ones.
struct SignumOptions {
  double learning_rate = 0.01;
  double momentum = 0.9;       ///< 0 = signSGD
  double wd_lh = 0;            ///< decoupled weight decay (Loshchilov & Hutter), outside the sign
  double wd = 0;
  double rescale_grad = 1;
  double clip_gradient = -1;   ///< < 0 = off
  std::shared_ptr<LRScheduler> lr_scheduler = nullptr;
  std::size_t begin_num_update = 0;
};

/// MXNet's kernels, element-wise, with sign(0) = 0:
///   momentum > 0 (signum_update):
///     mom = momentum * mom - (1 - momentum) * (wd * w + clip(rescale_grad * grad))
///     w = (1 - lr * wd_lh) * w + lr * sign(mom)
///   momentum == 0 (signsgd_update):  w = (1 - lr * wd) * w - lr * sign(grad)
/// (mom holds minus the usual momentum, as MXNet's.)  signSGD takes the sign of the raw
/// gradient: rescale_grad (> 0) and clipping do not change it.  State: "mom" when momentum > 0.
/// ValueError for wd_lh > 0 with momentum 0, which MXNet rejects too (signsgd_update has no
/// wd_lh).  Gluon: mx.optimizer.Signum; PyTorch has no Signum.
template <class T>
class BasicSignum : public BasicOptimizer<T> {
 public:
  explicit BasicSignum(SignumOptions opt = {})
      : BasicOptimizer<T>("signum", hyper_of(opt)), momentum_(opt.momentum), wd_lh_(opt.wd_lh) {
    this->check_unit("momentum", momentum_);
    this->check_non_negative("wd_lh", wd_lh_);
    GLUINO_CHECK(ValueError, momentum_ > 0 || wd_lh_ == 0,
                 "signum: wd_lh needs momentum > 0 (with momentum 0 the update is signSGD, which has no wd_lh), got "
                 "wd_lh ", wd_lh_);
  }
  double momentum() const { return momentum_; }
  double wd_lh() const { return wd_lh_; }
  std::vector<std::string> state_names() const override {
    if (momentum_ == 0) return {};
    return {"mom"};
  }

 protected:
  void step(NDArray<T>& weight, const NDArray<T>& grad, std::vector<NDArray<T>>& state, double lr, double wd,
            std::size_t) override {
    const T l = static_cast<T>(lr), d = static_cast<T>(wd), m = static_cast<T>(momentum_),
            decay = static_cast<T>(1 - lr * wd_lh_);
    T* w = weight.data();
    const T* gr = grad.data();
    if (state.empty()) {
      this->for_each(weight.size(), [&](std::size_t i) { w[i] = (T(1) - l * d) * w[i] - l * sign(gr[i]); });
      return;
    }
    T* mom = state[0].data();
    this->for_each(weight.size(), [&](std::size_t i) {
      mom[i] = m * mom[i] - (T(1) - m) * (d * w[i] + this->rescaled(gr[i]));
      w[i] = decay * w[i] + l * sign(mom[i]);
    });
  }

 private:
  static T sign(T v) { return static_cast<T>((v > T(0)) - (v < T(0))); }

  double momentum_, wd_lh_;
};

/// The float optimizer, under Gluon's name.
using Signum = BasicSignum<float>;

}  // namespace gluino::optim

// Precompiled mode (detail/precompiled.hpp): this header's float and double instantiations.
#define GLUINO_OPTIM_SIGNUM_INSTANTIATIONS(X, T) \
  X class BasicSignum<T>;
namespace gluino::optim {
GLUINO_EXTERN_INSTANTIATIONS(GLUINO_OPTIM_SIGNUM_INSTANTIATIONS)
}  // namespace gluino::optim
