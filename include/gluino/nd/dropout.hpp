// SPDX-License-Identifier: Apache-2.0
#pragma once
/// Inverted dropout.  Gluon: nd.Dropout (the op under gluon.nn.Dropout).
#include <vector>

#include "gluino/autograd/engine.hpp"
#include "gluino/autograd/mode.hpp"
#include "gluino/core/ndarray.hpp"
#include "gluino/core/random.hpp"
#include "gluino/detail/precompiled.hpp"

namespace gluino::nd {
namespace ops {

/// y = x * mask, mask[i] = 0 with probability p and 1 / (1 - p) otherwise (all 0 when p == 1).
/// Backward: dx = dy * mask, the mask forward drew.
template <class T>
struct Dropout : autograd::OpBase {
  static constexpr const char* name = "dropout";
  double p = 0.5;
  gluino::random::Generator* gen = nullptr;
  NDArray<T> mask;  // saved for backward: 0 or 1 / (1 - p)

  autograd::Attributes attributes() const { return {{"p", p}}; }  // for graphs (autograd/trace.hpp)

  NDArray<T> forward(const NDArray<T>& x) {
    const T keep = p < 1.0 ? static_cast<T>(1.0 / (1.0 - p)) : T(0);
    NDArray<T> m(x.shape()), y(x.shape());
    T* pm = m.data();
    T* py = y.data();
    const T* px = x.data();
    // One uniform draw per element, in order, so that a seed fixes the mask.
    for (std::size_t i = 0, n = x.size(); i < n; ++i) {
      pm[i] = gen->uniform01() < p ? T(0) : keep;
      py[i] = px[i] * pm[i];
    }
    if (recording()) mask = std::move(m);
    return y;
  }
  std::vector<NDArray<T>> backward(const NDArray<T>& dy) {
    NDArray<T> dx(dy.shape());
    const T *g = dy.data(), *pm = mask.data();
    T* d = dx.data();
    for (std::size_t i = 0, n = dx.size(); i < n; ++i) d[i] = g[i] * pm[i];
    return {dx};
  }
  /// dx = dy * mask, recorded (autograd::grad's create_graph); the mask is a constant.
  std::vector<NDArray<T>> backward_graph(const NDArray<T>& dy, const autograd::GraphArgs<T>&) { return {dy * mask}; }
};

}  // namespace ops

/// Inverted dropout: in train mode (autograd::is_training(), e.g. inside autograd::record)
/// each element is zeroed with probability p and the survivors are scaled by 1 / (1 - p), so
/// the expected value is unchanged; p == 1 gives zeros.  Outside train mode, or with p == 0, it
/// returns x itself (the same handle: no copy, no graph node).  Gluon: nd.Dropout(x, p) (MXNet's
/// `axes` option, which shares the mask along some axes, is not supported).
/// The mask is drawn from gen, or from gluino::random::default_generator() when gen is null,
/// one uniform number per element in row-major order, so a seed reproduces it.
/// ValueError when p is outside [0, 1].
template <class T>
NDArray<T> dropout(const NDArray<T>& x, double p, gluino::random::Generator* gen = nullptr) {
  GLUINO_CHECK(ValueError, p >= 0.0 && p <= 1.0, "dropout: p must be in [0, 1], got ", p);
  GLUINO_CHECK(StateError, x.defined(), "dropout: x is an empty array");
  if (!autograd::is_training() || p == 0.0) return x;
  ops::Dropout<T> op;
  op.p = p;
  op.gen = gen ? gen : &gluino::random::default_generator();
  return autograd::apply(std::move(op), x);
}

}  // namespace gluino::nd

// Precompiled mode (detail/precompiled.hpp): this header's float and double instantiations.
#define GLUINO_ND_DROPOUT_INSTANTIATIONS(X, T) \
  X NDArray<T> dropout<T>(const NDArray<T>&, double, gluino::random::Generator*);
namespace gluino::nd {
GLUINO_EXTERN_INSTANTIATIONS(GLUINO_ND_DROPOUT_INSTANTIATIONS)
}  // namespace gluino::nd
