// SPDX-License-Identifier: Apache-2.0
#pragma once
/// pad: grows an array at the ends of its axes with a constant, the edge values, or their
/// reflection.  Gluon: nd.pad.
#include <cstdint>
#include <string>
#include <vector>

#include "gluino/autograd/engine.hpp"
#include "gluino/core/ndarray.hpp"
#include "gluino/detail/precompiled.hpp"

namespace gluino::nd {
namespace ops {

/// Output element (j0, ..., jk) reads input element (s0(j0), ..., sk(jk)), each s_d mapping the
/// output index along axis d to an input index (reflect, edge) or to "none" (constant, outside
/// the input: the constant).  Backward adds each dy element into dx at the element it read, so
/// an input element read by several output elements (reflect, edge) gets their sum.
template <class T>
struct Pad : autograd::OpBase {
  static constexpr const char* name = "pad";
  static constexpr std::size_t none = std::size_t(-1);
  std::string mode;
  std::vector<std::size_t> pad_width;  // (before0, after0, before1, after1, ...)
  double constant_value = 0;
  Shape in_shape;

  autograd::Attributes attributes() const {
    std::vector<std::int64_t> w(pad_width.begin(), pad_width.end());
    return {{"mode", mode}, {"pad_width", w}, {"constant_value", constant_value}};
  }
  Shape out_shape() const {
    Shape s = in_shape;
    for (std::size_t d = 0; d < s.ndim(); ++d) s[d] += pad_width[2 * d] + pad_width[2 * d + 1];
    return s;
  }
  /// The input index that output index j along axis d reads, or none.
  std::size_t source(std::size_t d, std::size_t j) const {
    const auto n = static_cast<std::ptrdiff_t>(in_shape[d]);
    auto t = static_cast<std::ptrdiff_t>(j) - static_cast<std::ptrdiff_t>(pad_width[2 * d]);
    if (t >= 0 && t < n) return static_cast<std::size_t>(t);
    if (mode == "constant") return none;
    if (mode == "edge") return t < 0 ? 0 : static_cast<std::size_t>(n - 1);
    return static_cast<std::size_t>(t < 0 ? -t : 2 * (n - 1) - t);  // reflect (pad < n checked)
  }
  /// Calls fn(k, i) for every output element k, i the input element it reads (or none).
  template <class Fn>
  void visit(Fn&& fn) const {
    const Shape out = out_shape();
    const std::size_t total = out.size();
    if (total == 0) return;  // nothing to visit (and an empty array's other axes may be padded hugely)
    const std::size_t nd = out.ndim();
    std::vector<std::vector<std::size_t>> src(nd);
    std::vector<std::size_t> stride(nd, 1);
    for (std::size_t d = nd; d-- > 0;) {
      for (std::size_t j = 0; j < out[d]; ++j) src[d].push_back(source(d, j));
      if (d + 1 < nd) stride[d] = stride[d + 1] * in_shape[d + 1];
    }
    std::vector<std::size_t> idx(nd, 0);
    for (std::size_t k = 0; k < total; ++k) {
      std::size_t i = 0;
      for (std::size_t d = 0; d < nd && i != none; ++d) i = src[d][idx[d]] == none ? none : i + src[d][idx[d]] * stride[d];
      fn(k, i);
      for (std::size_t d = nd; d-- > 0;) {  // the next output index, last axis fastest
        if (++idx[d] < out[d]) break;
        idx[d] = 0;
      }
    }
  }
  NDArray<T> forward(const NDArray<T>& x) {
    NDArray<T> y(out_shape());
    const T* px = x.data();
    T* py = y.data();
    const T c = static_cast<T>(constant_value);
    visit([&](std::size_t k, std::size_t i) { py[k] = i == none ? c : px[i]; });
    return y;
  }
  std::vector<NDArray<T>> backward(const NDArray<T>& dy) {
    NDArray<T> dx(in_shape);
    dx.fill(T(0));
    const T* g = dy.data();
    T* d = dx.data();
    visit([&](std::size_t k, std::size_t i) {
      if (i != none) d[i] += g[k];
    });
    return {dx};
  }
  /// dx from a recorded op (autograd::grad's create_graph): pad_backward.
  std::vector<NDArray<T>> backward_graph(const NDArray<T>& dy, const autograd::GraphArgs<T>&);
};

/// pad's gradient as a differentiable op (its recorded gradient, create_graph): dy added into
/// dx at the elements the padding read (Pad::backward).  Linear in dy; its backward is the
/// padding itself with constant 0 (the adjoint), whose backward is this op again.
template <class T>
struct PadBackward : autograd::OpBase {
  static constexpr const char* name = "pad_backward";
  Pad<T> pad;  // the mapping, with constant_value 0

  NDArray<T> forward(const NDArray<T>& dy) { return pad.backward(dy)[0]; }
  std::vector<NDArray<T>> backward(const NDArray<T>& g) { return {pad.forward(g)}; }
  std::vector<NDArray<T>> backward_graph(const NDArray<T>& g, const autograd::GraphArgs<T>&) {
    return {autograd::apply(pad, g)};
  }
};

template <class T>
std::vector<NDArray<T>> Pad<T>::backward_graph(const NDArray<T>& dy, const autograd::GraphArgs<T>&) {
  PadBackward<T> op;
  op.pad = *this;
  op.pad.constant_value = 0;
  return {autograd::apply(std::move(op), dy)};
}

}  // namespace ops

/// Pads x with pad_width[2d] elements before and pad_width[2d + 1] after along each axis d
/// (MXNet's pad_width convention: two numbers per axis, in axis order), so the result has
/// x.shape[d] + pad_width[2d] + pad_width[2d + 1] elements along axis d.  Modes, as MXNet's:
///   "constant": the new elements are constant_value;
///   "edge":     they repeat the edge element (axis of at least one element when padded);
///   "reflect":  they mirror the elements next to the edge, the edge itself not repeated
///               ([1 2 3] padded by 2 is [3 2 1 2 3 2 1]); each pad must be < the axis's size.
/// Differentiable in x.  Gluon: nd.pad(x, mode, pad_width, constant_value).  MXNet pads only the
/// last two or three axes of 4-D or 5-D arrays; gluino pads any axis of any array.  PyTorch:
/// F.pad (its padding lists the axes from the last one).  ValueError for an unknown mode, a
/// pad_width of a length other than 2 * x.ndim(), a width of 2^62 or more (a negative number
/// converted to size_t), or a reflect / edge pad too large for its axis.
template <class T>
NDArray<T> pad(const NDArray<T>& x, const std::string& mode, const std::vector<std::size_t>& pad_width,
               double constant_value = 0) {
  GLUINO_CHECK(ValueError, mode == "constant" || mode == "edge" || mode == "reflect", "pad: unknown mode '", mode,
               "'; expected constant, edge or reflect");
  const Shape& s = x.shape();
  GLUINO_CHECK(ValueError, x.defined() && pad_width.size() == 2 * s.ndim(), "pad: pad_width has ", pad_width.size(),
               " numbers; x of shape ", s, " needs ", 2 * s.ndim(), " (before and after each axis)");
  for (std::size_t d = 0; d < s.ndim(); ++d) {
    const std::size_t before = pad_width[2 * d], after = pad_width[2 * d + 1];
    // A width of 2^62 or more is a negative number converted to size_t: it would wrap the sizes.
    constexpr std::size_t lim = std::size_t(1) << 62;
    std::size_t grown = 0;
    GLUINO_CHECK(ValueError, before < lim && after < lim && !detail::add_overflows(s[d], before + after, &grown),
                 "pad: pad_width (", static_cast<long long>(before), ", ", static_cast<long long>(after), ") of axis ",
                 d, " is too large (a negative value converted to size_t?) for x of shape ", s);
    if (mode == "reflect")
      GLUINO_CHECK(ValueError, before + after == 0 || (before < s[d] && after < s[d]), "pad: reflect padding (", before, ", ", after,
                   ") of axis ", d, " must be less than its size ", s[d], " (x of shape ", s, ")");
    if (mode == "edge")
      GLUINO_CHECK(ValueError, s[d] > 0 || before + after == 0, "pad: edge padding of axis ", d,
                   " needs at least one element, x has shape ", s);
  }
  ops::Pad<T> op;
  op.mode = mode, op.pad_width = pad_width, op.constant_value = constant_value, op.in_shape = s;
  return autograd::apply(std::move(op), x);
}

}  // namespace gluino::nd

// Precompiled mode (detail/precompiled.hpp): this header's float and double instantiations.
#define GLUINO_ND_PAD_INSTANTIATIONS(X, T) \
  X NDArray<T> pad<T>(const NDArray<T>&, const std::string&, const std::vector<std::size_t>&, double);
namespace gluino::nd {
GLUINO_EXTERN_INSTANTIATIONS(GLUINO_ND_PAD_INSTANTIATIONS)
}  // namespace gluino::nd
