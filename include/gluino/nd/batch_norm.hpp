// SPDX-License-Identifier: Apache-2.0
#pragma once
/// Batch normalisation as a function of its inputs and running statistics.  Gluon: nd.BatchNorm
/// (the op under gluon.nn.BatchNorm).
#include <algorithm>
#include <cmath>
#include <vector>

#include "gluino/autograd/engine.hpp"
#include "gluino/autograd/mode.hpp"
#include "gluino/core/ndarray.hpp"
#include "gluino/detail/precompiled.hpp"
#include "gluino/kernels/batch_norm.hpp"
#include "gluino/nd/norm_grad.hpp"

namespace gluino::nd {

/// Options of batch_norm, named as nd.BatchNorm's keyword arguments and defaulted as
/// gluon.nn.BatchNorm's (nd.BatchNorm itself defaults to eps = 1e-3 and fix_gamma = true).
struct BatchNormOptions {
  double eps = 1e-5;              // added to the variance before the square root; > 0
  double momentum = 0.9;          // running = momentum * running + (1 - momentum) * batch
  bool fix_gamma = false;         // treat gamma as 1 (its gradient is then 0)
  bool use_global_stats = false;  // normalise with the running statistics even in train mode
  int axis = 1;                   // the channel axis; negative counts from the back
};

namespace ops {

/// y = gamma[c] * (x - mean[c]) / sqrt(var[c] + eps) + beta[c], c the index along the channel
/// axis.  In train mode mean/var are the batch's (over every other axis, biased variance) and
/// the running statistics are updated in place; otherwise they are the running statistics.
/// Backward: with batch statistics, xhat = (x - mean) * inv_std and g = dy * gamma,
///   dx = inv_std * (g - mean(g) - xhat * mean(g * xhat)), means per channel;
/// with running statistics (constants) dx = dy * gamma * inv_std.  Both: dgamma = sum(dy * xhat),
/// dbeta = sum(dy), sums per channel.
template <class T>
struct BatchNorm : autograd::OpBase {
  static constexpr const char* name = "batch_norm";
  BatchNormOptions opt;
  NDArray<T> running_mean, running_var;  // (C,), written in place in train mode
  bool batch_stats = false;              // true: normalise with the batch's statistics
  std::size_t outer = 0, channels = 0, inner = 0;
  // Saved for backward.
  NDArray<T> x;
  std::vector<T> gamma;               // gamma's values (ones with fix_gamma)
  std::vector<double> mean, inv_std;  // the statistics forward normalised with

  /// For graphs (autograd/trace.hpp).  state(): the running statistics it reads (and updates).
  autograd::Attributes attributes() const {
    return {{"eps", opt.eps},
            {"momentum", opt.momentum},
            {"fix_gamma", std::int64_t(opt.fix_gamma)},
            {"batch_stats", std::int64_t(batch_stats)},
            {"axis", std::int64_t(opt.axis)}};
  }
  std::vector<NDArray<T>> state() const { return {running_mean, running_var}; }

  NDArray<T> forward(const NDArray<T>& in, const NDArray<T>& g, const NDArray<T>& b) {
    const std::size_t C = channels;
    std::vector<double> mu(C), var(C);
    if (batch_stats) {
      kernels::batch_norm_moments(in.data(), outer, C, inner, mu.data(), var.data());
      T *rm = running_mean.data(), *rv = running_var.data();
      const double mom = opt.momentum;
      for (std::size_t c = 0; c < C; ++c) {
        rm[c] = static_cast<T>(mom * rm[c] + (1.0 - mom) * mu[c]);
        rv[c] = static_cast<T>(mom * rv[c] + (1.0 - mom) * var[c]);
      }
      running_mean.bump_version();  // an in-place change: a graph that saved them cannot backward
      running_var.bump_version();
    } else {
      const T *rm = running_mean.data(), *rv = running_var.data();
      for (std::size_t c = 0; c < C; ++c) mu[c] = rm[c], var[c] = rv[c];
    }
    std::vector<double> istd(C);
    std::vector<T> gv(C), mt(C), a(C);
    const T *pg = g.data(), *pb = b.data();
    for (std::size_t c = 0; c < C; ++c) {
      istd[c] = 1.0 / std::sqrt(var[c] + opt.eps);
      gv[c] = opt.fix_gamma ? T(1) : pg[c];
      mt[c] = static_cast<T>(mu[c]);
      a[c] = static_cast<T>(static_cast<double>(gv[c]) * istd[c]);
    }
    NDArray<T> y(in.shape());
    kernels::batch_norm_affine(in.data(), y.data(), outer, C, inner, mt.data(), a.data(), pb);
    if (recording()) {
      x = in;
      gamma = std::move(gv);
      mean = std::move(mu);
      inv_std = std::move(istd);
    }
    return y;
  }

  std::vector<NDArray<T>> backward(const NDArray<T>& dy) {
    const std::size_t C = channels;
    const double m = static_cast<double>(outer * inner);
    std::vector<double> sum_dy(C), sum_dy_xc(C);
    kernels::batch_norm_grad_sums(dy.data(), x.data(), mean.data(), outer, C, inner, sum_dy.data(), sum_dy_xc.data());
    NDArray<T> dx, dgamma, dbeta;
    if (needs_grad(0)) {
      std::vector<T> mt(C), p(C), q(C), r(C);
      for (std::size_t c = 0; c < C; ++c) {
        const double k = static_cast<double>(gamma[c]) * inv_std[c];
        double qc = 0.0, rc = 0.0;
        if (batch_stats) {
          qc = -k * inv_std[c] * inv_std[c] * sum_dy_xc[c] / m;
          rc = -k * sum_dy[c] / m;
        }
        mt[c] = static_cast<T>(mean[c]);
        p[c] = static_cast<T>(k), q[c] = static_cast<T>(qc), r[c] = static_cast<T>(rc);
      }
      dx = NDArray<T>(x.shape());
      kernels::batch_norm_dx(dy.data(), x.data(), dx.data(), outer, C, inner, mt.data(), p.data(), q.data(),
                             r.data());
    }
    if (needs_grad(1)) {
      dgamma = NDArray<T>(Shape{C});
      T* d = dgamma.data();
      for (std::size_t c = 0; c < C; ++c) d[c] = opt.fix_gamma ? T(0) : static_cast<T>(sum_dy_xc[c] * inv_std[c]);
    }
    if (needs_grad(2)) {
      dbeta = NDArray<T>(Shape{C});
      T* d = dbeta.data();
      for (std::size_t c = 0; c < C; ++c) d[c] = static_cast<T>(sum_dy[c]);
    }
    return {dx, dgamma, dbeta};
  }

  /// The same gradients from recorded ops (autograd::grad's create_graph; nd/norm_grad.hpp).
  /// With batch statistics, mean and inv_std are recomputed from x by recorded ops (the gradient
  /// depends on x through them too); with running statistics they are constants.  gamma is the
  /// op's input, or a constant 1 with fix_gamma (whose gradient is then 0).
  std::vector<NDArray<T>> backward_graph(const NDArray<T>& dy, const autograd::GraphArgs<T>& g) {
    NDArray<T> gam(Shape{channels});
    std::copy(gamma.begin(), gamma.end(), gam.data());
    NormGradArgs a;
    a.layout.reduce = outer, a.layout.mid = channels, a.layout.inner = inner;
    a.eps = opt.eps;
    if (!batch_stats) a.mean = &mean, a.inv_std = &inv_std;
    a.needs_grad_mask = needs_grad_mask;
    std::vector<NDArray<T>> d = norm_grad_graph(dy, g.input(0, x), opt.fix_gamma ? gam : g.input(1, gam), a);
    if (opt.fix_gamma && d[1].defined()) d[1] = NDArray<T>(Shape{channels}).fill(T(0));
    return d;
  }
};

}  // namespace ops

/// Batch normalisation over every axis of x except opt.axis (the channel axis, of size C).
/// Gluon: nd.BatchNorm(x, gamma, beta, moving_mean, moving_var, eps, momentum, fix_gamma,
/// use_global_stats, axis=axis), the op behind gluon.nn.BatchNorm.
///   x: any shape with at least one axis, e.g. (N, C) or (N, C, H, W); gamma, beta,
///   running_mean, running_var: (C,).  Returns an array of x's shape.
/// In train mode (autograd::is_training(), e.g. inside autograd::record) and without
/// use_global_stats it normalises with the batch mean and biased batch variance, and updates
/// running_mean / running_var in place (written into their storage, not recorded; counted as an
/// in-place change, NDArray::version):
///   running = momentum * running + (1 - momentum) * batch statistic
/// (MXNet's convention: the biased variance also goes into running_var).  Otherwise it
/// normalises with the running statistics and leaves them unchanged.  Gradients flow to x, gamma
/// and beta; fix_gamma uses 1 for gamma and gives gamma a zero gradient.
/// ShapeError when an axis is out of range or gamma, beta or a running statistic is not (C,);
/// ValueError when eps is not > 0 and finite or momentum is outside [0, 1] (NaN included).
template <class T>
NDArray<T> batch_norm(const NDArray<T>& x, const NDArray<T>& gamma, const NDArray<T>& beta, NDArray<T> running_mean,
                      NDArray<T> running_var, BatchNormOptions opt = {}) {
  GLUINO_CHECK(ShapeError, x.ndim() >= 1, "batch_norm: x must have at least one axis, got shape ", x.shape());
  const int nd = static_cast<int>(x.ndim());
  GLUINO_CHECK(ShapeError, opt.axis >= -nd && opt.axis < nd, "batch_norm: axis ", opt.axis,
               " out of range for x of shape ", x.shape());
  GLUINO_CHECK(ValueError, opt.eps > 0 && std::isfinite(opt.eps), "batch_norm: eps must be > 0 and finite, got ", opt.eps,
               " for x of shape ", x.shape());
  GLUINO_CHECK(ValueError, opt.momentum >= 0 && opt.momentum <= 1, "batch_norm: momentum must be in [0, 1], got ",
               opt.momentum, " for x of shape ", x.shape());
  const std::size_t axis = x.shape().normalize_axis(opt.axis);
  const Shape& s = x.shape();
  const std::size_t C = s[axis];
  const Shape want{C};
  auto check = [&](const NDArray<T>& a, const char* what) {
    GLUINO_CHECK(ShapeError, a.defined(), "batch_norm: ", what, " is an empty array; expected shape ", want,
                 " for x of shape ", s, " with axis ", opt.axis);
    GLUINO_CHECK(ShapeError, a.shape() == want, "batch_norm: ", what, " must have shape ", want, " for x of shape ", s,
                 " with axis ", opt.axis, ", got ", a.shape());
  };
  check(gamma, "gamma");
  check(beta, "beta");
  check(running_mean, "running_mean");
  check(running_var, "running_var");
  ops::BatchNorm<T> op;
  op.opt = opt;
  op.running_mean = std::move(running_mean);
  op.running_var = std::move(running_var);
  op.batch_stats = autograd::is_training() && !opt.use_global_stats;
  op.channels = C;
  op.outer = 1;
  for (std::size_t d = 0; d < axis; ++d) op.outer *= s[d];
  op.inner = 1;
  for (std::size_t d = axis + 1; d < s.ndim(); ++d) op.inner *= s[d];
  if (x.size() == 0)  // nothing to normalise, nor running statistics to update
    return gluino::detail::empty_normalization(x, gamma, beta, kernels::NormLayout{.outer = op.outer, .mid = C,
                                                                                   .inner = op.inner});
  return autograd::apply(std::move(op), x, gamma, beta);
}

}  // namespace gluino::nd

// Precompiled mode (detail/precompiled.hpp): this header's float and double instantiations.
#define GLUINO_ND_BATCH_NORM_INSTANTIATIONS(X, T) \
  X NDArray<T> batch_norm<T>(const NDArray<T>&, const NDArray<T>&, const NDArray<T>&, NDArray<T>, NDArray<T>, BatchNormOptions);
namespace gluino::nd {
GLUINO_EXTERN_INSTANTIATIONS(GLUINO_ND_BATCH_NORM_INSTANTIATIONS)
}  // namespace gluino::nd
