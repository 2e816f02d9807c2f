// SPDX-License-Identifier: Apache-2.0
#pragma once
/// Activations beyond nd::activation's five: the act_types of MXNet's LeakyReLU operator
/// besides "leaky" (elu, selu, gelu, prelu) and swish; and erf, which GELU is made of.  Each op's value and derivative side by
/// side; elu, selu, gelu and swish are functors run by elementwise.hpp's Unary and Scalar ops
/// (one pass forward, one backward: faster than composing exp, sigmoid and products), prelu is
/// an op of its own because its slope is an array with a gradient.
/// Gluon: nd.LeakyReLU(act_type=...), gluon.nn.Swish.
#include <cmath>
#include <vector>

#include "gluino/autograd/engine.hpp"
#include "gluino/core/ndarray.hpp"
#include "gluino/detail/precompiled.hpp"
#include "gluino/nd/elementwise.hpp"
#include "gluino/nd/shape_ops.hpp"

namespace gluino::nd {

/// SELU's constants (MXNet's SELU_ALPHA and SELU_LAMBDA, from Klambauer et al. 2017).
inline constexpr double selu_alpha = 1.6732632423543772848170429916717;
inline constexpr double selu_lambda = 1.0507009873554804934193349852946;

namespace ops {

/// e^min(x, 0) where x <= 0, the exponential branch of elu / selu, recorded: min keeps a large
/// positive x (masked out anyway) from overflowing to an infinity that would turn 0 * inf into NaN.
template <class T>
NDArray<T> exp_nonpositive(const NDArray<T>& x) {
  return nd::exp(nd::minimum(x, gluino::detail::scalar_array(T(0))));
}
/// 1 where x > 0, else 0: a constant (no history) in a recorded gradient.
template <class T>
NDArray<T> positive_mask(const NDArray<T>& x) {
  return constant_map(x, [](T v) { return v > T(0) ? T(1) : T(0); });
}

/// x for x > 0, s * (e^x - 1) otherwise (expm1, exact near 0).  dy/dx = 1 or s * e^x.
/// MXNet's kernel (mshadow_op::elu_grad) writes the same derivative as y + s from the output.
struct Elu { static constexpr const char* name = "elu"; static constexpr bool uses_output = false;
  template <class T> T value(T x, T s) const { return x > T(0) ? x : s * std::expm1(x); }
  template <class T> T grad(T x, T s, T) const { return x > T(0) ? T(1) : s * std::exp(x); }
  template <class T> static NDArray<T> grad_graph(const NDArray<T>& dy, const NDArray<T>& x, T s, const NDArray<T>&) {
    const NDArray<T> pos = positive_mask(x);
    return dy * (pos + (T(1) - pos) * exp_nonpositive(x) * s); } };

/// lambda * (x for x > 0, alpha * (e^x - 1) otherwise).  dy/dx = lambda or lambda * alpha * e^x.
/// Differs from MXNet 1.x: its backward (mshadow_op::selu_grad on the output y) computes
/// lambda * (alpha + y) for x <= 0, which is lambda * alpha * e^x only when lambda = 1; gluino
/// takes the exact derivative (PyTorch's).
struct Selu { static constexpr const char* name = "selu"; static constexpr bool uses_output = false;
  template <class T> T value(T x) const {
    return T(selu_lambda) * (x > T(0) ? x : T(selu_alpha) * std::expm1(x));
  }
  template <class T> T grad(T x, T) const {
    return x > T(0) ? T(selu_lambda) : T(selu_lambda * selu_alpha) * std::exp(x);
  }
  template <class T> static NDArray<T> grad_graph(const NDArray<T>& dy, const NDArray<T>& x, const NDArray<T>&) {
    const NDArray<T> pos = positive_mask(x);
    return dy * (pos * T(selu_lambda) + (T(1) - pos) * exp_nonpositive(x) * T(selu_lambda * selu_alpha)); } };

/// The error function, 2 / sqrt(pi) * integral of e^(-t^2) from 0 to x.  dy/dx = 2 / sqrt(pi) e^(-x^2).
/// GELU's building block: ONNX before opset 20 has no Gelu, so export writes GELU with Erf, and
/// import reads Erf.  Gluon: nd.erf.
struct Erf { static constexpr const char* name = "erf"; static constexpr bool uses_output = false;
  static constexpr double two_over_sqrt_pi = 1.12837916709551257390;
  template <class T> T value(T x) const { return std::erf(x); }
  template <class T> T grad(T x, T) const { return T(two_over_sqrt_pi) * std::exp(-x * x); }
  template <class T> static NDArray<T> grad_graph(const NDArray<T>& dy, const NDArray<T>& x, const NDArray<T>&) {
    return dy * nd::exp(-(x * x)) * T(two_over_sqrt_pi); } };

/// The erf form: x * Phi(x) = 0.5 x (1 + erf(x / sqrt 2)).  dy/dx = Phi(x) + x phi(x), phi the
/// standard normal density.  MXNet 1.x: LeakyReLU act_type "gelu" (mshadow_op::gelu).
struct Gelu { static constexpr const char* name = "gelu"; static constexpr bool uses_output = false;
  static constexpr double inv_sqrt2 = 0.70710678118654752440;
  static constexpr double inv_sqrt_2pi = 0.39894228040143267794;
  template <class T> T value(T x) const { return T(0.5) * x * (T(1) + std::erf(x * T(inv_sqrt2))); }
  template <class T> T grad(T x, T) const {
    return T(0.5) * (T(1) + std::erf(x * T(inv_sqrt2))) + x * T(inv_sqrt_2pi) * std::exp(T(-0.5) * x * x);
  }
  template <class T> static NDArray<T> grad_graph(const NDArray<T>& dy, const NDArray<T>& x, const NDArray<T>&) {
    const NDArray<T> cdf = (nd::unary<Erf>(x * T(inv_sqrt2)) + T(1)) * T(0.5);
    return dy * (cdf + x * nd::exp(x * x * T(-0.5)) * T(inv_sqrt_2pi)); } };

/// x * sigmoid(s x).  dy/dx = sig + s x sig (1 - sig), sig = sigmoid(s x).  Gluon's Swish
/// composes x * sigmoid(beta * x); one functor gives the same values in one pass.
struct Swish { static constexpr const char* name = "swish"; static constexpr bool uses_output = false;
  template <class T> T value(T x, T s) const { return x * Sigmoid{}.value(s * x); }
  template <class T> T grad(T x, T s, T) const {
    const T sig = Sigmoid{}.value(s * x);
    return sig + s * x * sig * (T(1) - sig);
  }
  template <class T> static NDArray<T> grad_graph(const NDArray<T>& dy, const NDArray<T>& x, T s, const NDArray<T>&) {
    const NDArray<T> sig = nd::unary<Sigmoid>(x * s);
    return dy * (sig + x * sig * (T(1) - sig) * s); } };

/// y = x for x > 0, alpha[c] * x otherwise, c the index along axis 1 (any index when alpha has
/// one element).  dx = dy * (1 or alpha[c]); dalpha[c] = sum of dy * x over the x <= 0 of
/// channel c.  MXNet: LeakyReLU act_type "prelu" (mshadow_op::xelu, prelu_grad).
template <class T>
struct Prelu : autograd::OpBase {
  static constexpr const char* name = "prelu";
  std::size_t channels = 1, inner = 1;  // x viewed as (outer, channels, inner)
  NDArray<T> x, alpha;
  std::size_t channel(std::size_t i) const { return channels == 1 ? 0 : (i / inner) % channels; }
  NDArray<T> forward(const NDArray<T>& in, const NDArray<T>& a) {
    NDArray<T> y(in.shape());
    const T* px = in.data();
    const T* pa = a.data();
    T* py = y.data();
    for (std::size_t i = 0; i < y.size(); ++i) py[i] = px[i] > T(0) ? px[i] : pa[channel(i)] * px[i];
    if (recording()) x = in, alpha = a;
    return y;
  }
  std::vector<NDArray<T>> backward(const NDArray<T>& dy) {
    const T* g = dy.data();
    const T* px = x.data();
    const T* pa = alpha.data();
    NDArray<T> dx, da;
    if (needs_grad(0)) {
      dx = NDArray<T>(x.shape());
      T* d = dx.data();
      for (std::size_t i = 0; i < dx.size(); ++i) d[i] = px[i] > T(0) ? g[i] : g[i] * pa[channel(i)];
    }
    if (needs_grad(1)) {
      da = NDArray<T>(alpha.shape());
      da.fill(T(0));
      T* d = da.data();
      for (std::size_t i = 0; i < x.size(); ++i)
        if (!(px[i] > T(0))) d[channel(i)] += g[i] * px[i];
    }
    return {dx, da};
  }
  /// dx, dalpha from recorded ops (autograd::grad's create_graph); the sign of x is a constant mask.
  std::vector<NDArray<T>> backward_graph(const NDArray<T>& dy, const autograd::GraphArgs<T>& g) {
    std::vector<std::size_t> dims(x.ndim(), 1);
    if (channels > 1) dims[1] = channels;
    const Shape per_channel(dims);  // alpha broadcast against x
    const NDArray<T> pos = positive_mask(x), neg = T(1) - pos;
    const NDArray<T> a = reshape(g.input(1, alpha), per_channel);
    NDArray<T> dx, da;
    if (needs_grad(0)) dx = dy * (pos + neg * a);
    if (needs_grad(1))
      da = reshape(gluino::detail::sum_to_recorded(dy * g.input(0, x) * neg, per_channel), alpha.shape());
    return {dx, da};
  }
};

}  // namespace ops

/// x for x > 0, alpha * (e^x - 1) otherwise.  Gluon: nd.LeakyReLU(x, act_type="elu", slope=alpha).
template <class T> NDArray<T> elu(const NDArray<T>& x, std::type_identity_t<T> alpha = T(1)) {
  return with_scalar<ops::Elu>(x, alpha);
}
/// selu_lambda * (x for x > 0, selu_alpha * (e^x - 1) otherwise).  Gluon: nd.LeakyReLU(x,
/// act_type="selu").  Its gradient is exact (MXNet 1.x's is not for x < 0: see ops::Selu).
template <class T> NDArray<T> selu(const NDArray<T>& x) { return unary<ops::Selu>(x); }
/// 0.5 x (1 + erf(x / sqrt 2)), the exact (erf) form, not the tanh approximation.
/// Gluon: nd.LeakyReLU(x, act_type="gelu").
template <class T> NDArray<T> gelu(const NDArray<T>& x) { return unary<ops::Gelu>(x); }
/// The error function.  Gluon: nd.erf.
template <class T> NDArray<T> erf(const NDArray<T>& x) { return unary<ops::Erf>(x); }
/// x * sigmoid(beta x); beta = 1 is SiLU.  Gluon: gluon.nn.Swish(beta) (no nd function).
template <class T> NDArray<T> swish(const NDArray<T>& x, std::type_identity_t<T> beta = T(1)) {
  return with_scalar<ops::Swish>(x, beta);
}

/// Parametric ReLU: x for x > 0, alpha * x otherwise, with a learnable slope alpha of shape (1,)
/// (one slope for all) or (C,) for x of shape (N, C, ...) (a slope per channel, axis 1).
/// Differentiable in x and alpha.  Gluon: nd.LeakyReLU(x, gamma=alpha, act_type="prelu").
/// ShapeError names both shapes when alpha fits neither.
template <class T>
NDArray<T> prelu(const NDArray<T>& x, const NDArray<T>& alpha) {
  GLUINO_CHECK(ShapeError, x.defined() && alpha.defined(), "prelu: needs a data array and a slope array");
  const Shape& s = x.shape();
  const Shape& as = alpha.shape();
  ops::Prelu<T> op;
  if (as.ndim() == 1 && as[0] == 1) return autograd::apply(std::move(op), x, alpha);
  GLUINO_CHECK(ShapeError, as.ndim() == 1 && s.ndim() >= 2 && as[0] == s[1], "prelu: alpha of shape ", as,
               " fits neither one slope (1,) nor one per channel (axis 1) of data of shape ", s);
  op.channels = as[0];
  for (std::size_t d = 2; d < s.ndim(); ++d) op.inner *= s[d];
  return autograd::apply(std::move(op), x, alpha);
}

}  // namespace gluino::nd

// Precompiled mode (detail/precompiled.hpp): this header's float and double instantiations.
#define GLUINO_ND_ACTIVATIONS_INSTANTIATIONS(X, T) \
  X NDArray<T> with_scalar<ops::Elu, T>(const NDArray<T>&, T); \
  X NDArray<T> unary<ops::Selu, T>(const NDArray<T>&); \
  X NDArray<T> unary<ops::Gelu, T>(const NDArray<T>&); \
  X NDArray<T> unary<ops::Erf, T>(const NDArray<T>&); \
  X NDArray<T> with_scalar<ops::Swish, T>(const NDArray<T>&, T); \
  X NDArray<T> prelu<T>(const NDArray<T>&, const NDArray<T>&);
namespace gluino::nd {
GLUINO_EXTERN_INSTANTIATIONS(GLUINO_ND_ACTIVATIONS_INSTANTIATIONS)
}  // namespace gluino::nd
