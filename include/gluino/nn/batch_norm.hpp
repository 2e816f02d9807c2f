// SPDX-License-Identifier: Apache-2.0
#pragma once
/// BatchNorm: batch normalisation with learned scale and shift and running statistics.
/// Gluon: gluon.nn.BatchNorm.
#include <cmath>
#include <cstddef>
#include <sstream>
#include <string>
#include <utility>

#include "gluino/detail/precompiled.hpp"
#include "gluino/nd/batch_norm.hpp"
#include "gluino/nn/block.hpp"
#include "gluino/nn/size2.hpp"

namespace gluino::nn {

/// Options of BatchNorm, in the order of gluon.nn.BatchNorm's keyword arguments, so that
/// designated initializers read like a Gluon call: BatchNorm{{.momentum = 0.99, .scale = false}}.
template <class T>
struct BasicBatchNormOptions {
  /// The channel axis, normalised separately; negative counts from the back.
  int axis = 1;
  /// running = momentum * running + (1 - momentum) * batch statistic.
  double momentum = 0.9;
  /// Added to the variance before the square root; > 0.
  double epsilon = 1e-5;
  /// Add beta; false: beta stays 0 (its grad_req is null).
  bool center = true;
  /// Multiply by gamma; false: gamma is treated as 1 (its grad_req is null).  Gluon: fix_gamma = !scale.
  bool scale = true;
  /// Normalise with the running statistics in train mode too (and do not update them).
  bool use_global_stats = false;
  /// The parameters' own initializers (Gluon's defaults 'zeros', 'ones', 'zeros', 'ones');
  /// {} = the one given to initialize(), which gives the same by the parameters' names.
  init::BasicAnyInitializer<T> beta_initializer = init::BasicZero<T>{}, gamma_initializer = init::BasicOne<T>{},
      running_mean_initializer = init::BasicZero<T>{}, running_variance_initializer = init::BasicOne<T>{};
  /// Channels (the size of x along axis); 0 = inferred at the first forward.
  std::size_t in_channels = 0;
  /// Gluon's params=: share another block's parameters (e.g. other.params()).
  BasicParameterDict<T> params = {};
};

/// Batch normalisation: y = gamma * (x - mean) / sqrt(var + epsilon) + beta per channel (the
/// axis `axis`).  Mirrors gluon.nn.BatchNorm.  Any shape with the channel axis, e.g. (N, C) or
/// (N, C, H, W); the output has the input's shape.
/// Parameters (all (C,), C inferred at the first forward unless in_channels is given), named as
/// in Gluon: gamma, beta, running_mean, running_var; the running ones have grad_req null.
/// In train mode (autograd::is_training(), e.g. inside autograd::record) without
/// use_global_stats it normalises with the batch statistics (biased variance) and updates the
/// running statistics in place, counted as an in-place change (NDArray::version: a graph that
/// saved running_mean().data() before then cannot backward; nd::batch_norm counts it, so a
/// hybridized block's graph does too); otherwise (predict mode, or use_global_stats) it normalises
/// with the running statistics and leaves them as they are.  Computed by nd::batch_norm.
/// ShapeError naming the block's prefix and the shapes when the input's channels differ from
/// the parameters' or the axis is out of range; ValueError for an epsilon not > 0 and finite, a
/// momentum outside [0, 1] (NaN included), or in_channels above 2^40 (a negative int converted).
template <class T>
class BasicBatchNorm : public BasicBlock<T> {
 public:
  explicit BasicBatchNorm(BasicBatchNormOptions<T> opt = {}, std::string prefix = "")
      : BasicBlock<T>({.alias = "batchnorm", .prefix = std::move(prefix), .params = std::move(opt.params)}), axis_(opt.axis), momentum_(opt.momentum),
        epsilon_(opt.epsilon), scale_(opt.scale), use_global_stats_(opt.use_global_stats) {
    GLUINO_CHECK(ValueError, opt.epsilon > 0 && std::isfinite(opt.epsilon), "BatchNorm: epsilon must be > 0 and finite, got ",
                 opt.epsilon);
    GLUINO_CHECK(ValueError, opt.momentum >= 0 && opt.momentum <= 1, "BatchNorm: momentum must be in [0, 1], got ",
                 opt.momentum);
    GLUINO_CHECK(ValueError, opt.in_channels <= Size2::max_side, "BatchNorm: in_channels must be >= 0 and at most 2^40, got ",
                 static_cast<long long>(opt.in_channels));
    const Shape shape{opt.in_channels};
    gamma_ = this->declare_param("gamma", shape, std::move(opt.gamma_initializer),
                   ParameterOptions{.grad_req = opt.scale ? GradReq::write : GradReq::null});
    beta_ = this->declare_param("beta", shape, std::move(opt.beta_initializer),
                  ParameterOptions{.grad_req = opt.center ? GradReq::write : GradReq::null});
    running_mean_ = this->declare_param("running_mean", shape, std::move(opt.running_mean_initializer),
                          ParameterOptions{.grad_req = GradReq::null});
    running_var_ = this->declare_param("running_var", shape, std::move(opt.running_variance_initializer),
                         ParameterOptions{.grad_req = GradReq::null});
  }
  std::string type_name() const override { return "BatchNorm"; }
  AnyBlockPtr rebuild(Dtype to) const override {
    return rebuild_as(to, [&]<class U>() {
      return std::make_shared<BasicBatchNorm<U>>(
          BasicBatchNormOptions<U>{.axis = axis_,
                                   .momentum = momentum_,
                                   .epsilon = epsilon_,
                                   .center = this->params().nth(beta_)->grad_req() != GradReq::null,
                                   .scale = scale_,
                                   .use_global_stats = use_global_stats_,
                                   .in_channels = this->params().nth(gamma_)->shape()[0]});
    });
  }

  NDArray<T> forward(const NDArray<T>& x) override {
    const Shape& s = x.shape();
    const int rank = static_cast<int>(s.ndim());
    GLUINO_CHECK(ShapeError, axis_ >= -rank && axis_ < rank, this->who(), ": axis ", axis_,
                 " out of range for an input of shape ", s);
    const std::size_t c = s[static_cast<std::size_t>(axis_ < 0 ? axis_ + rank : axis_)];
    const std::size_t known = gamma()->shape()[0];
    GLUINO_CHECK(ShapeError, known == 0 || known == c, this->who(), ": input of shape ", s, " has ", c,
                 " channels along axis ", axis_, " but parameter '", gamma()->name(), "' has shape ", gamma()->shape(),
                 " (in_channels ", known, ")");
    for (std::size_t i : {gamma_, beta_, running_mean_, running_var_})
      this->param_at(i)->finish_deferred_init(Shape{c}, this->who());
    return nd::batch_norm(x, gamma()->data(), beta()->data(), running_mean()->data(), running_var()->data(),
                          {.eps = epsilon_, .momentum = momentum_, .fix_gamma = !scale_,
                           .use_global_stats = use_global_stats_, .axis = axis_});
  }

  /// As Gluon: "BatchNorm(axis=1, eps=1e-05, momentum=0.9, fix_gamma=False,
  /// use_global_stats=False, in_channels=None)" (in_channels=3 once known).
  std::string repr() const override {
    std::ostringstream s;
    s << "BatchNorm(axis=" << axis_ << ", eps=" << detail::python_float(epsilon_)
      << ", momentum=" << detail::python_float(momentum_) << ", fix_gamma=" << detail::python_bool(!scale_)
      << ", use_global_stats=" << detail::python_bool(use_global_stats_)
      << ", in_channels=" << detail::python_size(gamma()->shape()[0]) << ')';
    return s.str();
  }

  int axis() const { return axis_; }
  double momentum() const { return momentum_; }
  double epsilon() const { return epsilon_; }
  /// The channels (0 while unknown).
  std::size_t in_channels() const { return gamma()->shape()[0]; }
  /// Gluon: bn.gamma, bn.beta, bn.running_mean, bn.running_var.
  const std::shared_ptr<BasicParameter<T>>& gamma() const { return this->param_at(gamma_); }
  const std::shared_ptr<BasicParameter<T>>& beta() const { return this->param_at(beta_); }
  const std::shared_ptr<BasicParameter<T>>& running_mean() const { return this->param_at(running_mean_); }
  const std::shared_ptr<BasicParameter<T>>& running_var() const { return this->param_at(running_var_); }

 private:
  int axis_;
  double momentum_, epsilon_;
  bool scale_, use_global_stats_;
  std::size_t gamma_ = 0, beta_ = 0, running_mean_ = 0, running_var_ = 0;  // positions in params()
};

using BatchNormOptions = BasicBatchNormOptions<float>;
using BatchNorm = BasicBatchNorm<float>;

}  // namespace gluino::nn

// Precompiled mode (detail/precompiled.hpp): this header's float and double instantiations.
#define GLUINO_NN_BATCH_NORM_INSTANTIATIONS(X, T) \
  X class BasicBatchNorm<T>;
namespace gluino::nn {
GLUINO_EXTERN_INSTANTIATIONS(GLUINO_NN_BATCH_NORM_INSTANTIATIONS)
}  // namespace gluino::nn
