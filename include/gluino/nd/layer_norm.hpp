// SPDX-License-Identifier: Apache-2.0
#pragma once
/// Layer, instance and group normalisation: one op (forward and backward over
/// kernels/layer_norm.hpp's loops) under three names.  Each normalises groups of x's elements by
/// their own mean and biased variance, (x - mean) / sqrt(var + eps) (eps inside the square root,
/// as MXNet's kernels), then scales and shifts by gamma and beta.  No running statistics: the
/// same in train and predict mode.  Gluon: nd.LayerNorm, nd.InstanceNorm, nd.GroupNorm.
#include <cmath>
#include <cstdint>
#include <vector>

#include "gluino/autograd/engine.hpp"
#include "gluino/core/ndarray.hpp"
#include "gluino/detail/precompiled.hpp"
#include "gluino/kernels/layer_norm.hpp"
#include "gluino/nd/norm_grad.hpp"

namespace gluino::nd {
namespace ops {

/// y = (x - mean[g]) / sqrt(var[g] + eps) * gamma[p] + beta[p], g the element's group and p its
/// index into gamma and beta (kernels::NormLayout).  Backward, with xhat the normalised x and
/// h = dy * gamma[p]: dx = (h - mean_g(h) - xhat * mean_g(h * xhat)) / sqrt(var + eps), means
/// over the group; dgamma[p] = sum(dy * xhat), dbeta[p] = sum(dy), sums over the elements of p.
/// The three ops below differ only in name, attributes and layout.
template <class T>
struct Normalization : autograd::OpBase {
  kernels::NormLayout layout;
  double eps = 1e-5;
  // Saved for backward.
  NDArray<T> x, gamma;
  std::vector<double> mean, inv_std;

  NDArray<T> forward(const NDArray<T>& in, const NDArray<T>& g, const NDArray<T>& b) {
    std::vector<double> mu(layout.groups()), is(layout.groups());
    kernels::norm_moments(in.data(), layout, eps, mu.data(), is.data());
    NDArray<T> y(in.shape());
    kernels::norm_affine(in.data(), y.data(), layout, mu.data(), is.data(), g.data(), b.data());
    if (recording()) {
      x = in, gamma = g;
      mean = std::move(mu), inv_std = std::move(is);
    }
    return y;
  }
  std::vector<NDArray<T>> backward(const NDArray<T>& dy) {
    NDArray<T> dx, dgamma, dbeta;
    if (needs_grad(0)) dx = NDArray<T>(x.shape());
    if (needs_grad(1)) dgamma = NDArray<T>(gamma.shape());
    if (needs_grad(2)) dbeta = NDArray<T>(gamma.shape());
    kernels::norm_backward(dy.data(), x.data(), layout, mean.data(), inv_std.data(), gamma.data(),
                           dx.defined() ? dx.data() : nullptr, dgamma.defined() ? dgamma.data() : nullptr,
                           dbeta.defined() ? dbeta.data() : nullptr);
    return {dx, dgamma, dbeta};
  }
  /// The same gradients from recorded ops (autograd::grad's create_graph; nd/norm_grad.hpp),
  /// the statistics recomputed from x.
  std::vector<NDArray<T>> backward_graph(const NDArray<T>& dy, const autograd::GraphArgs<T>& g) {
    return norm_grad_graph(dy, g.input(0, x), g.input(1, gamma),
                           NormGradArgs{.layout = layout, .eps = eps, .needs_grad_mask = this->needs_grad_mask});
  }
};

/// Normalisation over one axis, gamma and beta along it.  MXNet: LayerNorm.
template <class T>
struct LayerNorm : Normalization<T> {
  static constexpr const char* name = "layer_norm";
  int axis = -1;
  autograd::Attributes attributes() const { return {{"axis", std::int64_t(axis)}, {"eps", this->eps}}; }
};
/// Normalisation per sample and channel over the other axes, gamma and beta per channel.
/// MXNet: InstanceNorm.
template <class T>
struct InstanceNorm : Normalization<T> {
  static constexpr const char* name = "instance_norm";
  int axis = 1;
  autograd::Attributes attributes() const { return {{"axis", std::int64_t(axis)}, {"eps", this->eps}}; }
};
/// Normalisation per sample and group of channels, gamma and beta per group.  MXNet 1.x: GroupNorm.
template <class T>
struct GroupNorm : Normalization<T> {
  static constexpr const char* name = "group_norm";
  std::size_t num_groups = 1;
  autograd::Attributes attributes() const {
    return {{"num_groups", std::int64_t(num_groups)}, {"eps", this->eps}};
  }
};

}  // namespace ops
}  // namespace gluino::nd

namespace gluino::detail {
/// The checks the three share: eps > 0 and finite, gamma and beta of shape (n,).
template <class T>
void check_normalization(const char* op, const NDArray<T>& x, const NDArray<T>& gamma, const NDArray<T>& beta,
                         std::size_t n, double eps) {
  GLUINO_CHECK(ValueError, eps > 0 && std::isfinite(eps), op, ": eps must be > 0 and finite, got ", eps,
               " for x of shape ", x.shape());
  const Shape want{n};
  for (const auto* a : {&gamma, &beta}) {
    const char* what = a == &gamma ? "gamma" : "beta";
    GLUINO_CHECK(ShapeError, a->defined() && a->shape() == want, op, ": ", what, " must have shape ", want,
                 " for x of shape ", x.shape(), ", got ", a->defined() ? a->shape() : Shape{});
  }
}
/// Runs op on (x, gamma, beta) once its layout is set; an empty x gives an empty result,
/// recorded (empty_normalization).
template <class T, class Op>
NDArray<T> apply_normalization(Op op, const NDArray<T>& x, const NDArray<T>& gamma, const NDArray<T>& beta) {
  if (x.size() == 0) return empty_normalization(x, gamma, beta, op.layout);
  return autograd::apply(std::move(op), x, gamma, beta);
}
}  // namespace gluino::detail

namespace gluino::nd {

/// Layer normalisation over axis `axis` of x: each lane along the axis is normalised by its own
/// mean and biased variance, y = (x - mean) / sqrt(var + eps) * gamma + beta, with gamma and
/// beta of shape (x.shape(axis),) applied along the axis.  Any x with at least one axis;
/// the result has x's shape.  Differentiable in x, gamma and beta.
/// Gluon: nd.LayerNorm(x, gamma, beta, axis=-1, eps=1e-5) (PyTorch's F.layer_norm normalises
/// over trailing axes with gamma of their shape: for one last axis the two agree).
/// ShapeError for an axis out of range or gamma / beta not (C,); ValueError for eps not > 0.
template <class T>
NDArray<T> layer_norm(const NDArray<T>& x, const NDArray<T>& gamma, const NDArray<T>& beta, int axis = -1,
                      double eps = 1e-5) {
  const Shape& s = x.shape();
  const int nd = static_cast<int>(s.ndim());
  GLUINO_CHECK(ShapeError, x.defined() && nd >= 1 && axis >= -nd && axis < nd, "layer_norm: axis ", axis,
               " out of range for x of shape ", s);
  const std::size_t a = s.normalize_axis(axis);
  gluino::detail::check_normalization("layer_norm", x, gamma, beta, s[a], eps);
  ops::LayerNorm<T> op;
  op.axis = axis, op.eps = eps;
  op.layout.params_on_reduce = true;
  op.layout.reduce = s[a];
  for (std::size_t d = 0; d < s.ndim(); ++d) {
    if (d < a) op.layout.outer *= s[d];
    if (d > a) op.layout.mid *= s[d];
  }
  return gluino::detail::apply_normalization(std::move(op), x, gamma, beta);
}

/// Instance normalisation: for each sample (axis 0) and channel (axis `axis`), the elements of
/// the other axes are normalised by their mean and biased variance, y = (x - mean) /
/// sqrt(var + eps) * gamma[c] + beta[c], gamma and beta of shape (C,).  x: (N, C, d1, ...) with
/// at least three axes (for axis = 1); the result has x's shape.  Differentiable in x, gamma and
/// beta.  Gluon: nd.InstanceNorm(x, gamma, beta, eps=1e-3) for axis 1; other axes as
/// gluon.nn.InstanceNorm(axis=...) (which swaps the axis to 1 around the op).  PyTorch:
/// F.instance_norm with weight and bias.  ShapeError for fewer than three axes, an axis out of
/// range or 0, or gamma / beta not (C,); ValueError for eps not > 0.
template <class T>
NDArray<T> instance_norm(const NDArray<T>& x, const NDArray<T>& gamma, const NDArray<T>& beta, double eps = 1e-3,
                         int axis = 1) {
  const Shape& s = x.shape();
  const int nd = static_cast<int>(s.ndim());
  GLUINO_CHECK(ShapeError, x.defined() && nd >= 3, "instance_norm: x must have at least three axes (N, C, ...), got shape ",
               s);
  GLUINO_CHECK(ShapeError, axis >= -nd && axis < nd && s.normalize_axis(axis) != 0, "instance_norm: channel axis ",
               axis, " out of range (or the batch axis 0) for x of shape ", s);
  const std::size_t a = s.normalize_axis(axis);
  gluino::detail::check_normalization("instance_norm", x, gamma, beta, s[a], eps);
  ops::InstanceNorm<T> op;
  op.axis = axis, op.eps = eps;
  op.layout.outer = s[0];
  op.layout.mid = s[a];
  for (std::size_t d = 1; d < s.ndim(); ++d) {
    if (d < a) op.layout.reduce *= s[d];
    if (d > a) op.layout.inner *= s[d];
  }
  return gluino::detail::apply_normalization(std::move(op), x, gamma, beta);
}

/// Group normalisation, MXNet 1.x's: the C channels of x (N, C, ...) are split into num_groups
/// groups of C / num_groups consecutive channels; for each sample and group the group's
/// elements are normalised by their mean and biased variance, y = (x - mean) / sqrt(var + eps)
/// * gamma[g] + beta[g], with gamma and beta of shape (num_groups,): one scale and shift per
/// group, as MXNet 1.x's GroupNorm (PyTorch's F.group_norm and MXNet 2 take one per channel,
/// (C,)).  x has at least two axes (MXNet asks for three); the result has x's shape.
/// Differentiable in x, gamma and beta.  Gluon: nd.GroupNorm(x, gamma, beta, num_groups=1,
/// eps=1e-5).  ValueError for num_groups 0 or eps not > 0; ShapeError for x of fewer than two
/// axes, num_groups not dividing C, or gamma / beta not (num_groups,).
template <class T>
NDArray<T> group_norm(const NDArray<T>& x, const NDArray<T>& gamma, const NDArray<T>& beta,
                      std::size_t num_groups = 1, double eps = 1e-5) {
  const Shape& s = x.shape();
  GLUINO_CHECK(ShapeError, x.defined() && s.ndim() >= 2, "group_norm: x must have at least two axes (N, C, ...), got shape ",
               s);
  GLUINO_CHECK(ValueError, num_groups > 0, "group_norm: num_groups must be > 0, for x of shape ", s);
  GLUINO_CHECK(ShapeError, s[1] % num_groups == 0, "group_norm: num_groups ", num_groups, " does not divide the ", s[1],
               " channels of x of shape ", s);
  gluino::detail::check_normalization("group_norm", x, gamma, beta, num_groups, eps);
  ops::GroupNorm<T> op;
  op.num_groups = num_groups, op.eps = eps;
  op.layout.outer = s[0];
  op.layout.mid = num_groups;
  op.layout.inner = s[1] / num_groups;
  for (std::size_t d = 2; d < s.ndim(); ++d) op.layout.inner *= s[d];
  return gluino::detail::apply_normalization(std::move(op), x, gamma, beta);
}

}  // namespace gluino::nd

// Precompiled mode (detail/precompiled.hpp): this header's float and double instantiations.
#define GLUINO_ND_LAYER_NORM_INSTANTIATIONS(X, T) \
  X NDArray<T> layer_norm<T>(const NDArray<T>&, const NDArray<T>&, const NDArray<T>&, int, double); \
  X NDArray<T> instance_norm<T>(const NDArray<T>&, const NDArray<T>&, const NDArray<T>&, double, int); \
  X NDArray<T> group_norm<T>(const NDArray<T>&, const NDArray<T>&, const NDArray<T>&, std::size_t, double);
namespace gluino::nd {
GLUINO_EXTERN_INSTANTIATIONS(GLUINO_ND_LAYER_NORM_INSTANTIATIONS)
}  // namespace gluino::nd
