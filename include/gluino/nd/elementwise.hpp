// SPDX-License-Identifier: Apache-2.0
#pragma once
/// Element-wise ops with NumPy broadcasting: arithmetic (also as C++ operators, array and
/// scalar on either side), math functions, comparisons (0/1 masks) and activations.
/// Each op is a small functor with its value and its derivative side by side; Unary, Binary
/// and Scalar turn such a functor into an autograd op.  Gluon: mx.nd element-wise functions.
#include <cmath>
#include <string>
#include <type_traits>
#include <vector>

#include "gluino/autograd/engine.hpp"
#include "gluino/core/ndarray.hpp"
#include "gluino/detail/broadcast.hpp"
#include "gluino/detail/precompiled.hpp"
#include "gluino/nd/shape_ops.hpp"

namespace gluino::nd {
namespace ops {

/// Whether a functor's derivative reads the op's input(s) / output; ops save only those arrays
/// for backward.  A functor says so with `uses_input` / `uses_output` (default: true).
template <class F>
constexpr bool uses_input() {
  if constexpr (requires { F::uses_input; }) return F::uses_input; else return true;
}
template <class F>
constexpr bool uses_output() {
  if constexpr (requires { F::uses_output; }) return F::uses_output; else return true;
}

}  // namespace ops
}  // namespace gluino::nd

namespace gluino::detail {
/// dx[i] = dy[i] * grad(x[i], y[i]) for an element-wise op whose functor F reads only what it
/// says it uses (the other argument is 0); blocked, parallel and branch-free so that it vectorises.
template <class T, class F, class G>
NDArray<T> map_backward(const NDArray<T>& dy, const NDArray<T>& x, const NDArray<T>& y, G grad) {
  NDArray<T> dx(dy.shape());
  const T* g = dy.data();
  const T* px = nullptr;
  const T* py = nullptr;
  if constexpr (nd::ops::uses_input<F>()) px = x.data();
  if constexpr (nd::ops::uses_output<F>()) py = y.data();
  T* d = dx.data();
  for_blocks(dx.size(), [&](std::size_t b, std::size_t e) {
    const T* __restrict gr = g;
    const T* __restrict xr = px;
    const T* __restrict yr = py;
    T* __restrict dr = d;
    for (std::size_t i = b; i < e; ++i) {
      T xi = T(0), yi = T(0);
      if constexpr (nd::ops::uses_input<F>()) xi = xr[i];
      if constexpr (nd::ops::uses_output<F>()) yi = yr[i];
      const T m = grad(xi, yi);  // apart from the product, or g++ 12 turns a 0/1 select into a branch
      dr[i] = gr[i] * m;
    }
  });
  return dx;
}
}  // namespace gluino::detail

namespace gluino::nd {
// The op wrappers defined below, which the functors' recorded gradients (grad_graph) call.
template <class F, class T> NDArray<T> unary(const NDArray<T>& x);
template <class F, class T> NDArray<T> binary(const NDArray<T>& a, const NDArray<T>& b);
template <class F, class T> NDArray<T> with_scalar(const NDArray<T>& x, T s);

namespace ops {

/// A mask of x's shape with f(x) per element: a constant (no history) in a recorded gradient.
template <class T, class G>
NDArray<T> constant_map(const NDArray<T>& x, G f) {
  return detail::map(x.detach(), f);
}

/// y = F(x); F::grad(x, y) is dy/dx (x or y is 0 when the functor does not use it).
template <class T, class F>
struct Unary : autograd::OpBase {
  static constexpr const char* name = F::name;
  F f;
  NDArray<T> x, y;
  NDArray<T> forward(const NDArray<T>& in) {
    NDArray<T> out = detail::map(in, [this](T v) { return f.value(v); });
    if (recording()) {
      if constexpr (uses_input<F>()) x = in;
      if constexpr (uses_output<F>()) y = out;
    }
    return out;
  }
  std::vector<NDArray<T>> backward(const NDArray<T>& dy) {
    return {detail::map_backward<T, F>(dy, x, y, [this](T xi, T yi) { return f.grad(xi, yi); })};
  }
  /// dx from recorded ops (autograd::grad's create_graph): F::grad_graph(dy, x, y).
  std::vector<NDArray<T>> backward_graph(const NDArray<T>& dy, const autograd::GraphArgs<T>& g)
    requires requires { F::grad_graph(dy, dy, dy); }
  {
    return {F::grad_graph(dy, uses_input<F>() ? g.input(0, x) : NDArray<T>{},
                          uses_output<F>() ? g.output(y) : NDArray<T>{})};
  }
};

/// z = F(a, b) with broadcasting; F::grad_a / grad_b(a, b, z) are the partial derivatives.
/// Each gradient is summed back to its input's shape.
template <class T, class F>
struct Binary : autograd::OpBase {
  static constexpr const char* name = F::name;
  F f;
  NDArray<T> a, b, z;
  Shape a_shape, b_shape;
  NDArray<T> forward(const NDArray<T>& in_a, const NDArray<T>& in_b) {
    NDArray<T> out = detail::broadcast_zip(in_a, in_b, [this](T u, T v) { return f.value(u, v); }, name);
    a_shape = in_a.shape();
    b_shape = in_b.shape();
    if (recording()) {
      if constexpr (uses_input<F>()) a = in_a, b = in_b;
      if constexpr (uses_output<F>()) z = out;
    }
    return out;
  }
  std::vector<NDArray<T>> backward(const NDArray<T>& dy) {
    const Shape& s = dy.shape();
    const T* pa = uses_input<F>() ? a.data() : nullptr;
    const T* pb = uses_input<F>() ? b.data() : nullptr;
    const T* pz = uses_output<F>() ? z.data() : nullptr;
    const T* g = dy.data();
    auto partial = [&](auto grad_fn, const Shape& shape) {
      NDArray<T> full(s);
      T* d = full.data();
      if (a_shape == s && b_shape == s) {  // no broadcasting: a blocked loop that vectorises
        detail::for_blocks(full.size(), [&](std::size_t lo, std::size_t hi) {
          for (std::size_t o = lo; o < hi; ++o) {
            T u = T(0), v = T(0), w = T(0);
            if constexpr (uses_input<F>()) u = pa[o], v = pb[o];
            if constexpr (uses_output<F>()) w = pz[o];
            const T m = grad_fn(u, v, w);
            d[o] = g[o] * m;
          }
        });
        return full;
      }
      detail::for_each_broadcast(s, a_shape, b_shape, [&](std::size_t o, std::size_t i, std::size_t j) {
        d[o] = g[o] * grad_fn(pa ? pa[i] : T(0), pb ? pb[j] : T(0), pz ? pz[o] : T(0));
      });
      return detail::sum_to(full, shape);
    };
    NDArray<T> ga, gb;
    if (needs_grad(0)) ga = partial([this](T u, T v, T w) { return f.grad_a(u, v, w); }, a_shape);
    if (needs_grad(1)) gb = partial([this](T u, T v, T w) { return f.grad_b(u, v, w); }, b_shape);
    return {ga, gb};
  }
  /// da, db from recorded ops: F::grad_graph_a / _b(dy, a, b, z), summed to each input's shape.
  std::vector<NDArray<T>> backward_graph(const NDArray<T>& dy, const autograd::GraphArgs<T>& g)
    requires requires { F::grad_graph_a(dy, dy, dy, dy); }
  {
    NDArray<T> ha, hb, hz, ga, gb;
    if constexpr (uses_input<F>()) ha = g.input(0, a), hb = g.input(1, b);
    if constexpr (uses_output<F>()) hz = g.output(z);
    if (needs_grad(0)) ga = detail::sum_to_recorded(F::grad_graph_a(dy, ha, hb, hz), a_shape);
    if (needs_grad(1)) gb = detail::sum_to_recorded(F::grad_graph_b(dy, ha, hb, hz), b_shape);
    return {ga, gb};
  }
};

/// y = F(x, s) for a scalar s; F::grad(x, s, y) is dy/dx.
template <class T, class F>
struct Scalar : autograd::OpBase {
  static constexpr const char* name = F::name;
  F f;
  T s;
  autograd::Attributes attributes() const { return {{"scalar", double(s)}}; }  // for graphs
  NDArray<T> x, y;
  NDArray<T> forward(const NDArray<T>& in) {
    NDArray<T> out = detail::map(in, [this](T v) { return f.value(v, s); });
    if (recording()) {
      if constexpr (uses_input<F>()) x = in;
      if constexpr (uses_output<F>()) y = out;
    }
    return out;
  }
  std::vector<NDArray<T>> backward(const NDArray<T>& dy) {
    return {detail::map_backward<T, F>(dy, x, y, [this](T xi, T yi) { return f.grad(xi, s, yi); })};
  }
  /// dx from recorded ops: F::grad_graph(dy, x, s, y).
  std::vector<NDArray<T>> backward_graph(const NDArray<T>& dy, const autograd::GraphArgs<T>& g)
    requires requires { F::grad_graph(dy, dy, s, dy); }
  {
    return {F::grad_graph(dy, uses_input<F>() ? g.input(0, x) : NDArray<T>{}, s,
                          uses_output<F>() ? g.output(y) : NDArray<T>{})};
  }
};

// ---- unary functors: value and derivative (in terms of input x and output y) ----
struct Negative { static constexpr const char* name = "negative"; static constexpr bool uses_input = false, uses_output = false;
  template <class T> T value(T x) const { return -x; }
  template <class T> T grad(T, T) const { return T(-1); }
  template <class T> static NDArray<T> grad_graph(const NDArray<T>& dy, const NDArray<T>&, const NDArray<T>&) { return -dy; } };
struct Exp { static constexpr const char* name = "exp"; static constexpr bool uses_input = false;
  template <class T> T value(T x) const { return std::exp(x); }
  template <class T> T grad(T, T y) const { return y; }
  template <class T> static NDArray<T> grad_graph(const NDArray<T>& dy, const NDArray<T>&, const NDArray<T>& y) { return dy * y; } };
struct Log { static constexpr const char* name = "log"; static constexpr bool uses_output = false;
  template <class T> T value(T x) const { return std::log(x); }
  template <class T> T grad(T x, T) const { return T(1) / x; }
  template <class T> static NDArray<T> grad_graph(const NDArray<T>& dy, const NDArray<T>& x, const NDArray<T>&) { return dy / x; } };
struct Sqrt { static constexpr const char* name = "sqrt"; static constexpr bool uses_input = false;
  template <class T> T value(T x) const { return std::sqrt(x); }
  template <class T> T grad(T, T y) const { return T(0.5) / y; }
  template <class T> static NDArray<T> grad_graph(const NDArray<T>& dy, const NDArray<T>&, const NDArray<T>& y) { return dy / y * T(0.5); } };
struct Square { static constexpr const char* name = "square"; static constexpr bool uses_output = false;
  template <class T> T value(T x) const { return x * x; }
  template <class T> T grad(T x, T) const { return T(2) * x; }
  template <class T> static NDArray<T> grad_graph(const NDArray<T>& dy, const NDArray<T>& x, const NDArray<T>&) { return dy * x * T(2); } };
/// d|x|/dx = sign(x), 0 at 0 (as MXNet).
struct Abs { static constexpr const char* name = "abs"; static constexpr bool uses_output = false;
  template <class T> T value(T x) const { return std::abs(x); }
  template <class T> T grad(T x, T) const { return x > T(0) ? T(1) : (x < T(0) ? T(-1) : T(0)); }
  template <class T> static NDArray<T> grad_graph(const NDArray<T>& dy, const NDArray<T>& x, const NDArray<T>&) {
    return dy * constant_map(x, [](T v) { return Abs{}.grad(v, v); }); } };
/// max(x, 0); the derivative at 0 is 0.  NaN stays NaN (np.maximum), -0 gives +0.
struct Relu { static constexpr const char* name = "relu"; static constexpr bool uses_input = false;
  template <class T> T value(T x) const { return x <= T(0) ? T(0) : x; }
  template <class T> T grad(T, T y) const { return y > T(0) ? T(1) : T(0); }  // y > 0 iff x > 0
  template <class T> static NDArray<T> grad_graph(const NDArray<T>& dy, const NDArray<T>&, const NDArray<T>& y) {
    return dy * constant_map(y, [](T v) { return Relu{}.grad(v, v); }); } };
/// 1 / (1 + e^-x), computed without overflow for large |x|.
struct Sigmoid { static constexpr const char* name = "sigmoid"; static constexpr bool uses_input = false;
  template <class T> T value(T x) const {
    if (x >= T(0)) return T(1) / (T(1) + std::exp(-x));
    const T e = std::exp(x);
    return e / (T(1) + e);
  }
  template <class T> T grad(T, T y) const { return y * (T(1) - y); }
  template <class T> static NDArray<T> grad_graph(const NDArray<T>& dy, const NDArray<T>&, const NDArray<T>& y) {
    return dy * y * (T(1) - y); } };
struct Tanh { static constexpr const char* name = "tanh"; static constexpr bool uses_input = false;
  template <class T> T value(T x) const { return std::tanh(x); }
  template <class T> T grad(T, T y) const { return T(1) - y * y; }
  template <class T> static NDArray<T> grad_graph(const NDArray<T>& dy, const NDArray<T>&, const NDArray<T>& y) {
    return dy * (T(1) - y * y); } };
/// log(1 + e^x), stable for large |x|.  Gluon: softrelu.
struct Softrelu { static constexpr const char* name = "softrelu"; static constexpr bool uses_output = false;
  template <class T> T value(T x) const { return x > T(0) ? x + std::log1p(std::exp(-x)) : std::log1p(std::exp(x)); }
  template <class T> T grad(T x, T) const { return Sigmoid{}.value(x); }
  template <class T> static NDArray<T> grad_graph(const NDArray<T>& dy, const NDArray<T>& x, const NDArray<T>&) {
    return dy * nd::unary<Sigmoid>(x); } };
/// x / (1 + |x|).
struct Softsign { static constexpr const char* name = "softsign"; static constexpr bool uses_output = false;
  template <class T> T value(T x) const { return x / (T(1) + std::abs(x)); }
  template <class T> T grad(T x, T) const { const T d = T(1) + std::abs(x); return T(1) / (d * d); }
  template <class T> static NDArray<T> grad_graph(const NDArray<T>& dy, const NDArray<T>& x, const NDArray<T>&) {
    const NDArray<T> d = T(1) + nd::unary<Abs>(x);
    return dy / (d * d); } };

// ---- binary functors ----
struct Add { static constexpr const char* name = "add"; static constexpr bool uses_input = false, uses_output = false;
  template <class T> T value(T a, T b) const { return a + b; }
  template <class T> T grad_a(T, T, T) const { return T(1); }
  template <class T> T grad_b(T, T, T) const { return T(1); }
  template <class T> static NDArray<T> grad_graph_a(const NDArray<T>& dy, const NDArray<T>&, const NDArray<T>&, const NDArray<T>&) { return dy; }
  template <class T> static NDArray<T> grad_graph_b(const NDArray<T>& dy, const NDArray<T>&, const NDArray<T>&, const NDArray<T>&) { return dy; } };
struct Subtract { static constexpr const char* name = "subtract"; static constexpr bool uses_input = false, uses_output = false;
  template <class T> T value(T a, T b) const { return a - b; }
  template <class T> T grad_a(T, T, T) const { return T(1); }
  template <class T> T grad_b(T, T, T) const { return T(-1); }
  template <class T> static NDArray<T> grad_graph_a(const NDArray<T>& dy, const NDArray<T>&, const NDArray<T>&, const NDArray<T>&) { return dy; }
  template <class T> static NDArray<T> grad_graph_b(const NDArray<T>& dy, const NDArray<T>&, const NDArray<T>&, const NDArray<T>&) { return -dy; } };
struct Multiply { static constexpr const char* name = "multiply"; static constexpr bool uses_output = false;
  template <class T> T value(T a, T b) const { return a * b; }
  template <class T> T grad_a(T, T b, T) const { return b; }
  template <class T> T grad_b(T a, T, T) const { return a; }
  template <class T> static NDArray<T> grad_graph_a(const NDArray<T>& dy, const NDArray<T>&, const NDArray<T>& b, const NDArray<T>&) { return dy * b; }
  template <class T> static NDArray<T> grad_graph_b(const NDArray<T>& dy, const NDArray<T>& a, const NDArray<T>&, const NDArray<T>&) { return dy * a; } };
struct Divide { static constexpr const char* name = "divide";
  template <class T> T value(T a, T b) const { return a / b; }
  template <class T> T grad_a(T, T b, T) const { return T(1) / b; }
  template <class T> T grad_b(T, T b, T z) const { return -z / b; }
  template <class T> static NDArray<T> grad_graph_a(const NDArray<T>& dy, const NDArray<T>&, const NDArray<T>& b, const NDArray<T>&) { return dy / b; }
  template <class T> static NDArray<T> grad_graph_b(const NDArray<T>& dy, const NDArray<T>& a, const NDArray<T>& b, const NDArray<T>&) {
    return -(dy * a) / (b * b); } };
/// d(a^b)/da is 0 where b == 0 (a^0 is constant; b a^(b-1) would be 0 * inf = NaN at a = 0), as PyTorch.
struct Power { static constexpr const char* name = "power";
  template <class T> T value(T a, T b) const { return std::pow(a, b); }
  template <class T> T grad_a(T a, T b, T) const { return b == T(0) ? T(0) : b * std::pow(a, b - T(1)); }
  template <class T> T grad_b(T a, T, T z) const { return a > T(0) ? z * std::log(a) : T(0); }
  template <class T> static NDArray<T> grad_graph_a(const NDArray<T>& dy, const NDArray<T>& a, const NDArray<T>& b, const NDArray<T>&) {
    const NDArray<T> nz = constant_map(b, [](T v) { return v != T(0) ? T(1) : T(0); });  // b a^0 = 0 where b == 0
    return dy * b * nd::binary<Power>(a, b - nz); }
  template <class T> static NDArray<T> grad_graph_b(const NDArray<T>& dy, const NDArray<T>& a, const NDArray<T>&, const NDArray<T>& z) {
    const NDArray<T> pos = constant_map(a, [](T v) { return v > T(0) ? T(1) : T(0); });  // log(a) where a > 0, else 0
    return dy * z * nd::unary<Log>(a * pos + (T(1) - pos)) * pos; } };
/// Ties send the gradient to a (as MXNet's maximum).  A NaN on either side gives NaN, and its
/// gradient goes to the NaN (as np.maximum / np.minimum); `|`, not `||`, keeps it branch-free.
struct Maximum { static constexpr const char* name = "maximum"; static constexpr bool uses_output = false;
  template <class T> static bool takes_a(T a, T b) { return (a >= b) | (a != a); }
  template <class T> T value(T a, T b) const { return takes_a(a, b) ? a : b; }
  template <class T> T grad_a(T a, T b, T) const { return takes_a(a, b) ? T(1) : T(0); }
  template <class T> T grad_b(T a, T b, T) const { return takes_a(a, b) ? T(0) : T(1); }
  template <class T> static NDArray<T> grad_graph_a(const NDArray<T>& dy, const NDArray<T>& a, const NDArray<T>& b, const NDArray<T>&) {
    return dy * detail::broadcast_zip(a.detach(), b.detach(), [](T u, T v) { return takes_a(u, v) ? T(1) : T(0); }, name); }
  template <class T> static NDArray<T> grad_graph_b(const NDArray<T>& dy, const NDArray<T>& a, const NDArray<T>& b, const NDArray<T>&) {
    return dy * detail::broadcast_zip(a.detach(), b.detach(), [](T u, T v) { return takes_a(u, v) ? T(0) : T(1); }, name); } };
struct Minimum { static constexpr const char* name = "minimum"; static constexpr bool uses_output = false;
  template <class T> static bool takes_a(T a, T b) { return (a <= b) | (a != a); }
  template <class T> T value(T a, T b) const { return takes_a(a, b) ? a : b; }
  template <class T> T grad_a(T a, T b, T) const { return takes_a(a, b) ? T(1) : T(0); }
  template <class T> T grad_b(T a, T b, T) const { return takes_a(a, b) ? T(0) : T(1); }
  template <class T> static NDArray<T> grad_graph_a(const NDArray<T>& dy, const NDArray<T>& a, const NDArray<T>& b, const NDArray<T>&) {
    return dy * detail::broadcast_zip(a.detach(), b.detach(), [](T u, T v) { return takes_a(u, v) ? T(1) : T(0); }, name); }
  template <class T> static NDArray<T> grad_graph_b(const NDArray<T>& dy, const NDArray<T>& a, const NDArray<T>& b, const NDArray<T>&) {
    return dy * detail::broadcast_zip(a.detach(), b.detach(), [](T u, T v) { return takes_a(u, v) ? T(0) : T(1); }, name); } };
/// Comparisons give 0/1 masks and no gradient (zero, as MXNet).  Pred names the comparison.
template <class Pred>
struct Compare { static constexpr const char* name = Pred::name; static constexpr bool uses_input = false, uses_output = false;
  template <class T> T value(T a, T b) const { return Pred{}(a, b) ? T(1) : T(0); }
  template <class T> T grad_a(T, T, T) const { return T(0); }
  template <class T> T grad_b(T, T, T) const { return T(0); }
  template <class T> static NDArray<T> grad_graph_a(const NDArray<T>& dy, const NDArray<T>&, const NDArray<T>&, const NDArray<T>&) { return dy.zeros_like(); }
  template <class T> static NDArray<T> grad_graph_b(const NDArray<T>& dy, const NDArray<T>&, const NDArray<T>&, const NDArray<T>&) { return dy.zeros_like(); } };
struct EqualTo { static constexpr const char* name = "equal";
  template <class T> bool operator()(T a, T b) const { return a == b; } };
struct NotEqualTo { static constexpr const char* name = "not_equal";
  template <class T> bool operator()(T a, T b) const { return a != b; } };
struct GreaterThan { static constexpr const char* name = "greater";
  template <class T> bool operator()(T a, T b) const { return a > b; } };
struct GreaterEqualTo { static constexpr const char* name = "greater_equal";
  template <class T> bool operator()(T a, T b) const { return a >= b; } };
struct LessThan { static constexpr const char* name = "lesser";
  template <class T> bool operator()(T a, T b) const { return a < b; } };
struct LessEqualTo { static constexpr const char* name = "lesser_equal";
  template <class T> bool operator()(T a, T b) const { return a <= b; } };

// ---- scalar functors: y = f(x, s) ----
struct RSubScalar { static constexpr const char* name = "rminus_scalar"; static constexpr bool uses_input = false, uses_output = false;  // s - x
  template <class T> T value(T x, T s) const { return s - x; }
  template <class T> T grad(T, T, T) const { return T(-1); }
  template <class T> static NDArray<T> grad_graph(const NDArray<T>& dy, const NDArray<T>&, T, const NDArray<T>&) { return -dy; } };
struct RDivScalar { static constexpr const char* name = "rdiv_scalar";  // s / x
  template <class T> T value(T x, T s) const { return s / x; }
  template <class T> T grad(T x, T, T y) const { return -y / x; }
  template <class T> static NDArray<T> grad_graph(const NDArray<T>& dy, const NDArray<T>& x, T, const NDArray<T>& y) { return -(dy * y) / x; } };
/// x ^ s; the derivative is 0 for s == 0 (not 0 * inf = NaN at x = 0), as PyTorch.
struct PowScalar { static constexpr const char* name = "power_scalar"; static constexpr bool uses_output = false;
  template <class T> T value(T x, T s) const { return std::pow(x, s); }
  template <class T> T grad(T x, T s, T) const { return s == T(0) ? T(0) : s * std::pow(x, s - T(1)); }
  template <class T> static NDArray<T> grad_graph(const NDArray<T>& dy, const NDArray<T>& x, T s, const NDArray<T>&) {
    if (s == T(0)) return dy.zeros_like();
    return dy * nd::with_scalar<PowScalar>(x, s - T(1)) * s; } };
struct RPowScalar { static constexpr const char* name = "rpower_scalar"; static constexpr bool uses_input = false;  // s ^ x
  template <class T> T value(T x, T s) const { return std::pow(s, x); }
  template <class T> T grad(T, T s, T y) const { return y * std::log(s); }
  template <class T> static NDArray<T> grad_graph(const NDArray<T>& dy, const NDArray<T>&, T s, const NDArray<T>& y) {
    return dy * y * std::log(s); } };
/// max(x, s*x): the derivative is 1 for x > 0 and s otherwise.
struct LeakyRelu { static constexpr const char* name = "leaky_relu"; static constexpr bool uses_output = false;
  template <class T> T value(T x, T s) const { return x > T(0) ? x : s * x; }
  template <class T> T grad(T x, T s, T) const { return x > T(0) ? T(1) : s; }
  template <class T> static NDArray<T> grad_graph(const NDArray<T>& dy, const NDArray<T>& x, T s, const NDArray<T>&) {
    return dy * constant_map(x, [s](T v) { return v > T(0) ? T(1) : s; }); } };
}  // namespace ops

template <class F, class T>
NDArray<T> unary(const NDArray<T>& x) { return autograd::apply(ops::Unary<T, F>{}, x); }
template <class F, class T>
NDArray<T> binary(const NDArray<T>& a, const NDArray<T>& b) { return autograd::apply(ops::Binary<T, F>{}, a, b); }
template <class F, class T>
NDArray<T> with_scalar(const NDArray<T>& x, T s) {
  ops::Scalar<T, F> op;
  op.s = s;
  return autograd::apply(std::move(op), x);
}

template <class T> NDArray<T> add(const NDArray<T>& a, const NDArray<T>& b) { return binary<ops::Add>(a, b); }
template <class T> NDArray<T> subtract(const NDArray<T>& a, const NDArray<T>& b) { return binary<ops::Subtract>(a, b); }
template <class T> NDArray<T> multiply(const NDArray<T>& a, const NDArray<T>& b) { return binary<ops::Multiply>(a, b); }
template <class T> NDArray<T> divide(const NDArray<T>& a, const NDArray<T>& b) { return binary<ops::Divide>(a, b); }
/// a ** b element-wise with broadcasting.  The gradient with respect to b is 0 where a <= 0, and
/// with respect to a is 0 where b == 0 (as PyTorch; b a^(b - 1) would be NaN at a = 0).
template <class T> NDArray<T> power(const NDArray<T>& a, const NDArray<T>& b) { return binary<ops::Power>(a, b); }
template <class T> NDArray<T> pow(const NDArray<T>& x, std::type_identity_t<T> s) { return with_scalar<ops::PowScalar>(x, s); }
template <class T> NDArray<T> pow(std::type_identity_t<T> s, const NDArray<T>& x) { return with_scalar<ops::RPowScalar>(x, s); }
template <class T> NDArray<T> maximum(const NDArray<T>& a, const NDArray<T>& b) { return binary<ops::Maximum>(a, b); }
template <class T> NDArray<T> minimum(const NDArray<T>& a, const NDArray<T>& b) { return binary<ops::Minimum>(a, b); }
template <class T> NDArray<T> equal(const NDArray<T>& a, const NDArray<T>& b) { return binary<ops::Compare<ops::EqualTo>>(a, b); }
template <class T> NDArray<T> not_equal(const NDArray<T>& a, const NDArray<T>& b) { return binary<ops::Compare<ops::NotEqualTo>>(a, b); }
template <class T> NDArray<T> greater(const NDArray<T>& a, const NDArray<T>& b) { return binary<ops::Compare<ops::GreaterThan>>(a, b); }
template <class T> NDArray<T> greater_equal(const NDArray<T>& a, const NDArray<T>& b) { return binary<ops::Compare<ops::GreaterEqualTo>>(a, b); }
template <class T> NDArray<T> lesser(const NDArray<T>& a, const NDArray<T>& b) { return binary<ops::Compare<ops::LessThan>>(a, b); }
template <class T> NDArray<T> lesser_equal(const NDArray<T>& a, const NDArray<T>& b) { return binary<ops::Compare<ops::LessEqualTo>>(a, b); }

template <class T> NDArray<T> negative(const NDArray<T>& x) { return unary<ops::Negative>(x); }
template <class T> NDArray<T> exp(const NDArray<T>& x) { return unary<ops::Exp>(x); }
template <class T> NDArray<T> log(const NDArray<T>& x) { return unary<ops::Log>(x); }
template <class T> NDArray<T> sqrt(const NDArray<T>& x) { return unary<ops::Sqrt>(x); }
template <class T> NDArray<T> square(const NDArray<T>& x) { return unary<ops::Square>(x); }
template <class T> NDArray<T> abs(const NDArray<T>& x) { return unary<ops::Abs>(x); }
/// max(x, 0).  Gluon: nd.relu.
template <class T> NDArray<T> relu(const NDArray<T>& x) { return unary<ops::Relu>(x); }
template <class T> NDArray<T> sigmoid(const NDArray<T>& x) { return unary<ops::Sigmoid>(x); }
template <class T> NDArray<T> tanh(const NDArray<T>& x) { return unary<ops::Tanh>(x); }
/// log(1 + exp(x)).  Gluon: Activation("softrelu").
template <class T> NDArray<T> softrelu(const NDArray<T>& x) { return unary<ops::Softrelu>(x); }
template <class T> NDArray<T> softsign(const NDArray<T>& x) { return unary<ops::Softsign>(x); }
/// x for x > 0, slope * x otherwise.  Gluon: nd.LeakyReLU(act_type="leaky", slope).
template <class T> NDArray<T> leaky_relu(const NDArray<T>& x, std::type_identity_t<T> slope = T(0.25)) {
  return with_scalar<ops::LeakyRelu>(x, slope);
}
/// Limits x to [lo, hi]; the gradient passes only where lo <= x <= hi.  Gluon: nd.clip.
template <class T>
NDArray<T> clip(const NDArray<T>& x, std::type_identity_t<T> lo, std::type_identity_t<T> hi) {
  GLUINO_CHECK(ValueError, lo <= hi, "clip: a_min (", lo, ") must not exceed a_max (", hi, ")");
  NDArray<T> l(Shape{}), h(Shape{});
  l.fill(lo), h.fill(hi);
  return minimum(maximum(x, l), h);
}

/// Applies an activation by Gluon's name: "relu", "sigmoid", "tanh", "softrelu", "softsign";
/// "" is the identity.  ValueError names the unknown activation.
template <class T>
NDArray<T> activation(const NDArray<T>& x, const std::string& act_type) {
  if (act_type.empty()) return x;
  if (act_type == "relu") return relu(x);
  if (act_type == "sigmoid") return sigmoid(x);
  if (act_type == "tanh") return tanh(x);
  if (act_type == "softrelu") return softrelu(x);
  if (act_type == "softsign") return softsign(x);
  detail::raise<ValueError>("activation: unknown act_type '", act_type,
                            "'; expected relu, sigmoid, tanh, softrelu or softsign");
}

}  // namespace gluino::nd

namespace gluino {
namespace detail {
template <class T>
NDArray<T> scalar_array(T v) {
  NDArray<T> s(Shape{});
  s.fill(v);
  return s;
}
}  // namespace detail

// Arithmetic and comparison operators (NumPy semantics, broadcasting, scalars on either side).
template <class T> NDArray<T> operator+(const NDArray<T>& a, const NDArray<T>& b) { return nd::add(a, b); }
template <class T> NDArray<T> operator-(const NDArray<T>& a, const NDArray<T>& b) { return nd::subtract(a, b); }
template <class T> NDArray<T> operator*(const NDArray<T>& a, const NDArray<T>& b) { return nd::multiply(a, b); }
template <class T> NDArray<T> operator/(const NDArray<T>& a, const NDArray<T>& b) { return nd::divide(a, b); }
template <class T> NDArray<T> operator-(const NDArray<T>& x) { return nd::negative(x); }
template <class T> NDArray<T> operator+(const NDArray<T>& x, std::type_identity_t<T> s) { return x + detail::scalar_array(s); }
template <class T> NDArray<T> operator+(std::type_identity_t<T> s, const NDArray<T>& x) { return detail::scalar_array(s) + x; }
template <class T> NDArray<T> operator-(const NDArray<T>& x, std::type_identity_t<T> s) { return x - detail::scalar_array(s); }
template <class T> NDArray<T> operator-(std::type_identity_t<T> s, const NDArray<T>& x) { return nd::with_scalar<nd::ops::RSubScalar>(x, s); }
template <class T> NDArray<T> operator*(const NDArray<T>& x, std::type_identity_t<T> s) { return x * detail::scalar_array(s); }
template <class T> NDArray<T> operator*(std::type_identity_t<T> s, const NDArray<T>& x) { return detail::scalar_array(s) * x; }
template <class T> NDArray<T> operator/(const NDArray<T>& x, std::type_identity_t<T> s) { return x / detail::scalar_array(s); }
template <class T> NDArray<T> operator/(std::type_identity_t<T> s, const NDArray<T>& x) { return nd::with_scalar<nd::ops::RDivScalar>(x, s); }
template <class T> NDArray<T> operator<(const NDArray<T>& a, const NDArray<T>& b) { return nd::lesser(a, b); }
template <class T> NDArray<T> operator<=(const NDArray<T>& a, const NDArray<T>& b) { return nd::lesser_equal(a, b); }
template <class T> NDArray<T> operator>(const NDArray<T>& a, const NDArray<T>& b) { return nd::greater(a, b); }
template <class T> NDArray<T> operator>=(const NDArray<T>& a, const NDArray<T>& b) { return nd::greater_equal(a, b); }
template <class T> NDArray<T> operator<(const NDArray<T>& x, std::type_identity_t<T> s) { return x < detail::scalar_array(s); }
template <class T> NDArray<T> operator<=(const NDArray<T>& x, std::type_identity_t<T> s) { return x <= detail::scalar_array(s); }
template <class T> NDArray<T> operator>(const NDArray<T>& x, std::type_identity_t<T> s) { return x > detail::scalar_array(s); }
template <class T> NDArray<T> operator>=(const NDArray<T>& x, std::type_identity_t<T> s) { return x >= detail::scalar_array(s); }
/// Element-wise equality mask (not a bool): use nd::equal(a, b).sum() or compare to_vector().
template <class T> NDArray<T> operator==(const NDArray<T>& x, std::type_identity_t<T> s) { return nd::equal(x, detail::scalar_array(s)); }
template <class T> NDArray<T> operator!=(const NDArray<T>& x, std::type_identity_t<T> s) { return nd::not_equal(x, detail::scalar_array(s)); }

}  // namespace gluino

namespace gluino::detail {
/// NDArray's element-wise methods (see core/ndarray.hpp).
template <class A>
struct ndarray_elementwise_ops {
  static A relu(const A& x) { return nd::relu(x); }
};
}  // namespace gluino::detail

// Precompiled mode (detail/precompiled.hpp): this header's float and double instantiations.
#define GLUINO_ND_ELEMENTWISE_INSTANTIATIONS(X, T) \
  X NDArray<T> unary<ops::Negative, T>(const NDArray<T>&); \
  X NDArray<T> unary<ops::Exp, T>(const NDArray<T>&); \
  X NDArray<T> unary<ops::Log, T>(const NDArray<T>&); \
  X NDArray<T> unary<ops::Sqrt, T>(const NDArray<T>&); \
  X NDArray<T> unary<ops::Square, T>(const NDArray<T>&); \
  X NDArray<T> unary<ops::Abs, T>(const NDArray<T>&); \
  X NDArray<T> unary<ops::Relu, T>(const NDArray<T>&); \
  X NDArray<T> unary<ops::Sigmoid, T>(const NDArray<T>&); \
  X NDArray<T> unary<ops::Tanh, T>(const NDArray<T>&); \
  X NDArray<T> unary<ops::Softrelu, T>(const NDArray<T>&); \
  X NDArray<T> unary<ops::Softsign, T>(const NDArray<T>&); \
  X NDArray<T> binary<ops::Add, T>(const NDArray<T>&, const NDArray<T>&); \
  X NDArray<T> binary<ops::Subtract, T>(const NDArray<T>&, const NDArray<T>&); \
  X NDArray<T> binary<ops::Multiply, T>(const NDArray<T>&, const NDArray<T>&); \
  X NDArray<T> binary<ops::Divide, T>(const NDArray<T>&, const NDArray<T>&); \
  X NDArray<T> binary<ops::Power, T>(const NDArray<T>&, const NDArray<T>&); \
  X NDArray<T> binary<ops::Maximum, T>(const NDArray<T>&, const NDArray<T>&); \
  X NDArray<T> binary<ops::Minimum, T>(const NDArray<T>&, const NDArray<T>&); \
  X NDArray<T> binary<ops::Compare<ops::EqualTo>, T>(const NDArray<T>&, const NDArray<T>&); \
  X NDArray<T> binary<ops::Compare<ops::NotEqualTo>, T>(const NDArray<T>&, const NDArray<T>&); \
  X NDArray<T> binary<ops::Compare<ops::GreaterThan>, T>(const NDArray<T>&, const NDArray<T>&); \
  X NDArray<T> binary<ops::Compare<ops::GreaterEqualTo>, T>(const NDArray<T>&, const NDArray<T>&); \
  X NDArray<T> binary<ops::Compare<ops::LessThan>, T>(const NDArray<T>&, const NDArray<T>&); \
  X NDArray<T> binary<ops::Compare<ops::LessEqualTo>, T>(const NDArray<T>&, const NDArray<T>&); \
  X NDArray<T> with_scalar<ops::RSubScalar, T>(const NDArray<T>&, T); \
  X NDArray<T> with_scalar<ops::RDivScalar, T>(const NDArray<T>&, T); \
  X NDArray<T> with_scalar<ops::PowScalar, T>(const NDArray<T>&, T); \
  X NDArray<T> with_scalar<ops::RPowScalar, T>(const NDArray<T>&, T); \
  X NDArray<T> with_scalar<ops::LeakyRelu, T>(const NDArray<T>&, T); \
  X NDArray<T> activation<T>(const NDArray<T>&, const std::string&);
namespace gluino::nd {
GLUINO_EXTERN_INSTANTIATIONS(GLUINO_ND_ELEMENTWISE_INSTANTIATIONS)
}  // namespace gluino::nd
