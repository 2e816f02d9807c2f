// SPDX-License-Identifier: Apache-2.0
#pragma once
/// The recorded gradient (autograd::grad's create_graph) shared by the normalisations: batch
/// norm, layer norm, instance norm and group norm all normalise x viewed as
/// (outer, reduce, mid, inner) over (reduce, inner), one group per (outer, mid), and scale by a
/// gamma indexed along reduce or mid (kernels::NormLayout).
#include <cstdint>
#include <vector>

#include "gluino/autograd/engine.hpp"
#include "gluino/core/ndarray.hpp"
#include "gluino/kernels/layer_norm.hpp"
#include "gluino/nd/elementwise.hpp"
#include "gluino/nd/reduce.hpp"
#include "gluino/nd/shape_ops.hpp"

namespace gluino::nd::ops {

/// What norm_grad_graph needs besides the arrays.
struct NormGradArgs {
  kernels::NormLayout layout;
  double eps = 1e-5;
  /// The statistics forward normalised with, when they are constants (batch norm's running
  /// statistics), one per group; null: the group's own, recomputed from x by recorded ops so
  /// that the gradient depends on x through them too.
  const std::vector<double>* mean = nullptr;
  const std::vector<double>* inv_std = nullptr;
  std::uint64_t needs_grad_mask = 0b111;  // of x, gamma, beta
};

/// dx, dgamma, dbeta of y = gamma * (x - mean) * inv_std + beta from recorded ops on dy, x and
/// gamma (each with its history, or a constant), with xhat = (x - mean) * inv_std, g = dy * gamma:
///   own statistics:      dx = inv_std * (g - mean(g) - xhat * mean(g * xhat)), means per group;
///   constant statistics: dx = g * inv_std;
///   both: dgamma = sum(dy * xhat), dbeta = sum(dy), summed over everything but gamma's axis.
/// The gradients nobody needs (a.needs_grad_mask) are left undefined.
template <class T>
std::vector<NDArray<T>> norm_grad_graph(const NDArray<T>& dy, const NDArray<T>& x, const NDArray<T>& gamma,
                                        const NormGradArgs& a) {
  const kernels::NormLayout& l = a.layout;
  const Shape s4{l.outer, l.reduce, l.mid, l.inner};
  const Shape ps = l.params_on_reduce ? Shape{1, l.reduce, 1, 1} : Shape{1, 1, l.mid, 1};
  const std::vector<int> group{1, 3};
  const NDArray<T> x4 = reshape(x, s4), d4 = reshape(dy, s4);
  NDArray<T> xc, istd;
  if (!a.mean) {
    xc = x4 - nd::mean(x4, group, true);
    istd = T(1) / nd::sqrt(nd::mean(xc * xc, group, true) + static_cast<T>(a.eps));
  } else {
    NDArray<T> mu(Shape{l.outer, 1, l.mid, 1}), is(mu.shape());
    for (std::size_t g = 0; g < l.groups(); ++g)
      mu.data()[g] = static_cast<T>((*a.mean)[g]), is.data()[g] = static_cast<T>((*a.inv_std)[g]);
    xc = x4 - mu;
    istd = is;
  }
  const NDArray<T> xhat = xc * istd;
  NDArray<T> dx, dgamma, dbeta;
  if (a.needs_grad_mask & 1u) {
    const NDArray<T> gd = d4 * reshape(gamma, ps);
    dx = a.mean ? gd * istd
                : istd * (gd - nd::mean(gd, group, true) - xhat * nd::mean(gd * xhat, group, true));
    dx = reshape(dx, x.shape());
  }
  if (a.needs_grad_mask & 2u) dgamma = reshape(gluino::detail::sum_to_recorded(d4 * xhat, ps), gamma.shape());
  if (a.needs_grad_mask & 4u) dbeta = reshape(gluino::detail::sum_to_recorded(d4, ps), gamma.shape());
  return {dx, dgamma, dbeta};
}

}  // namespace gluino::nd::ops

namespace gluino::detail {

/// A normalisation of an empty x (a batch of 0, a channel axis of 0), recorded as the op would
/// be: x * gamma + beta with gamma and beta along the layout's parameter axis, so that a loss
/// through it gives gamma and beta zero gradients (not last step's) and x an empty one.
template <class T>
NDArray<T> empty_normalization(const NDArray<T>& x, const NDArray<T>& gamma, const NDArray<T>& beta,
                               const kernels::NormLayout& l) {
  const auto n = [](std::size_t v) { return static_cast<long long>(v); };
  const std::vector<long long> xs = l.params_on_reduce
                                        ? std::vector<long long>{n(l.outer), n(l.reduce), n(l.mid * l.inner)}
                                        : std::vector<long long>{n(l.outer * l.reduce), n(l.mid), n(l.inner)};
  const std::vector<long long> ps{1, xs[1], 1};
  return nd::reshape(nd::reshape(x, xs) * nd::reshape(gamma, ps) + nd::reshape(beta, ps), x.shape());
}

}  // namespace gluino::detail
