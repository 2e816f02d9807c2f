// SPDX-License-Identifier: Apache-2.0
#pragma once
/// AdaGrad (Duchi et al., 2011).  Gluon: mx.optimizer.AdaGrad (MXNet 1.x's dense update, written
/// out in python/mxnet/optimizer/optimizer.py).
#include <cmath>

#include "gluino/detail/precompiled.hpp"
#include "gluino/kernels/vector_sqrt.hpp"
#include "gluino/optim/optimizer.hpp"

namespace gluino::optim {

/// Options of AdaGrad: learning_rate, then Gluon's keyword argument (eps), then the common ones.
struct AdaGradOptions {
  double learning_rate = 0.01;
  double eps = 1e-7;          ///< added to the history under the square root (Gluon's name: eps)
  double wd = 0;
  double rescale_grad = 1;
  double clip_gradient = -1;  ///< < 0 = off
  std::shared_ptr<LRScheduler> lr_scheduler = nullptr;
  std::size_t begin_num_update = 0;
};

/// MXNet's rule, element-wise, with g = clip(rescale_grad * grad) (wd is not in g):
///   history += g^2
///   w -= lr * (g / sqrt(history + eps) + wd * w)
/// State: "history".  Gluon: mx.optimizer.AdaGrad.
/// PyTorch's Adagrad differs: eps outside the root (g / (sqrt(history) + eps)), and wd added to
/// the gradient before the history (torch also has lr_decay and initial_accumulator_value).
template <class T>
class BasicAdaGrad : public BasicOptimizer<T> {
 public:
  explicit BasicAdaGrad(AdaGradOptions opt = {}) : BasicOptimizer<T>("adagrad", hyper_of(opt)), eps_(opt.eps) {
    this->check_positive("eps", eps_);
  }
  double eps() const { return eps_; }
  std::vector<std::string> state_names() const override { return {"history"}; }

 protected:
  void step(NDArray<T>& weight, const NDArray<T>& grad, std::vector<NDArray<T>>& state, double lr, double wd,
            std::size_t) override {
    const T l = static_cast<T>(lr), d = static_cast<T>(wd), eps = static_cast<T>(eps_);
    T* w = weight.data();
    const T* gr = grad.data();
    T* history = state[0].data();
    // Captured by value: a float captured by reference might alias the arrays, keeping the loops scalar.
    this->for_each_block(weight.size(), [=, this](std::size_t lo, std::size_t hi) {
      // sqrt(history + eps), vectorised; zeroed, as GCC 12 cannot see that the loop below fills
      // what vector_sqrt reads (-Wmaybe-uninitialized).
      T root[gluino::detail::parallel_block] = {};
      for (std::size_t i = lo; i < hi; ++i) {
        const T g = this->rescaled(gr[i]);
        history[i] += g * g;
        root[i - lo] = history[i] + eps;
      }
      kernels::vector_sqrt(root, root, hi - lo);
      for (std::size_t i = lo; i < hi; ++i) w[i] -= l * (this->rescaled(gr[i]) / root[i - lo] + d * w[i]);
    });
  }

 private:
  double eps_;
};

/// The float optimizer, under Gluon's name.
using AdaGrad = BasicAdaGrad<float>;

}  // namespace gluino::optim

// Precompiled mode (detail/precompiled.hpp): this header's float and double instantiations.
#define GLUINO_OPTIM_ADAGRAD_INSTANTIATIONS(X, T) \
  X class BasicAdaGrad<T>;
namespace gluino::optim {
GLUINO_EXTERN_INSTANTIATIONS(GLUINO_OPTIM_ADAGRAD_INSTANTIATIONS)
}  // namespace gluino::optim
