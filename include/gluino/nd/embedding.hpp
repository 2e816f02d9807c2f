// SPDX-License-Identifier: Apache-2.0
#pragma once
/// embedding: rows of a weight matrix looked up by integer indices.  Gluon: nd.Embedding.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>
#include <vector>

#include "gluino/autograd/engine.hpp"
#include "gluino/core/ndarray.hpp"
#include "gluino/detail/precompiled.hpp"

namespace gluino::nd {
namespace ops {

template <class T>
struct EmbeddingBackward;  // below

/// y[k, :] = weight[index[k], :] for every element k of the index array.  Backward
/// scatter-adds dy's rows into a zero gradient of weight's shape (an index seen twice gets
/// both rows); the index array gets no gradient.  The indices are read and checked in forward,
/// so that a traced graph run on other indices uses those.
template <class T>
struct Embedding : autograd::OpBase {
  static constexpr const char* name = "embedding";
  std::vector<std::size_t> rows;  // saved for backward: the validated indices
  Shape weight_shape;

  NDArray<T> forward(const NDArray<T>& index, const NDArray<T>& weight) {
    const std::size_t input_dim = weight.shape()[0], output_dim = weight.shape()[1];
    Shape out = index.shape();
    out.push_back(output_dim);
    std::vector<std::size_t> r(index.size());
    const T* pi = index.data();
    for (std::size_t k = 0; k < r.size(); ++k) {
      const T v = pi[k];
      GLUINO_CHECK(ValueError, v == std::floor(v) && v >= T(0) && v < static_cast<T>(input_dim), "embedding: index ",
                   v, " at position ", k, " is out of range: not an integer in [0, input_dim = ", input_dim,
                   ") for weight of shape ", weight.shape());
      r[k] = static_cast<std::size_t>(v);
    }
    NDArray<T> y(out);
    const T* w = weight.data();
    T* py = y.data();
    if (output_dim > 0)
      for (std::size_t k = 0; k < r.size(); ++k)
        std::memcpy(py + k * output_dim, w + r[k] * output_dim, output_dim * sizeof(T));
    if (recording()) rows = std::move(r), weight_shape = weight.shape();
    return y;
  }
  std::vector<NDArray<T>> backward(const NDArray<T>& dy) {
    if (!needs_grad(1)) return {NDArray<T>{}, NDArray<T>{}};
    return {NDArray<T>{}, weight_grad(dy.shape()).forward(dy)};
  }
  /// The op that computes the weight gradient from dy.
  EmbeddingBackward<T> weight_grad(const Shape& dy_shape) const;
  /// dweight from a recorded op (autograd::grad's create_graph): embedding_backward.
  std::vector<NDArray<T>> backward_graph(const NDArray<T>& dy, const autograd::GraphArgs<T>&);
};

/// embedding's weight gradient as a differentiable op (its recorded gradient, create_graph):
/// dy (index.shape + (output_dim,)) -> dweight of weight_shape, dy's rows added into the rows
/// the lookup read.  Linear in dy; its backward is the lookup itself (embedding of the same
/// indices, held as a constant array), whose backward is this op again.
template <class T>
struct EmbeddingBackward : autograd::OpBase {
  static constexpr const char* name = "embedding_backward";
  std::vector<std::size_t> rows;
  Shape weight_shape, index_shape;

  NDArray<T> forward(const NDArray<T>& dy) {
    NDArray<T> dw(weight_shape);
    dw.fill(T(0));
    const std::size_t n = weight_shape[1];
    const T* g = dy.data();
    T* d = dw.data();
    for (std::size_t k = 0; k < rows.size(); ++k)
      for (std::size_t j = 0; j < n; ++j) d[rows[k] * n + j] += g[k * n + j];
    return dw;
  }
  NDArray<T> index() const {
    NDArray<T> idx(index_shape);
    for (std::size_t k = 0; k < rows.size(); ++k) idx.data()[k] = static_cast<T>(rows[k]);
    return idx;
  }
  std::vector<NDArray<T>> backward(const NDArray<T>& g) {
    Embedding<T> lookup;
    return {lookup.forward(index(), g)};
  }
  std::vector<NDArray<T>> backward_graph(const NDArray<T>& g, const autograd::GraphArgs<T>&) {
    return {autograd::apply(Embedding<T>{}, index(), g)};
  }
};

template <class T>
EmbeddingBackward<T> Embedding<T>::weight_grad(const Shape& dy_shape) const {
  EmbeddingBackward<T> op;
  op.rows = rows, op.weight_shape = weight_shape;
  op.index_shape = Shape(std::vector<std::size_t>(dy_shape.begin(), dy_shape.end() - 1));
  return op;
}

template <class T>
std::vector<NDArray<T>> Embedding<T>::backward_graph(const NDArray<T>& dy, const autograd::GraphArgs<T>&) {
  if (!needs_grad(1)) return {NDArray<T>{}, NDArray<T>{}};
  return {NDArray<T>{}, autograd::apply(weight_grad(dy.shape()), dy)};
}

}  // namespace ops

/// Looks up rows of weight (input_dim, output_dim) by the indices in `index` (integer values
/// stored as T, any shape): returns index.shape + (output_dim,), row k the weight row
/// index[k].  Differentiable in weight (the gradient of a row is the sum of dy over the
/// positions that looked it up); the index gets none.  Gluon: nd.Embedding(data, weight,
/// input_dim, output_dim).  Differs from MXNet: an index that is out of range or not an integer
/// is a ValueError naming it, its position and input_dim (MXNet clips it into range).
/// ShapeError when weight is not a matrix.  ValueError when weight has more rows than T holds
/// integers exactly (2^24 for float, 2^53 for double): a float index above 2^24 is rounded
/// before the op sees it (16777217.f is 16777216) and would name a wrong row silently; take
/// double indices and weight for a larger table.
template <class T>
NDArray<T> embedding(const NDArray<T>& index, const NDArray<T>& weight) {
  GLUINO_CHECK(ShapeError, index.defined() && weight.defined(), "embedding: needs an index array and a weight array");
  GLUINO_CHECK(ShapeError, weight.ndim() == 2, "embedding: weight must be (input_dim, output_dim), got shape ",
               weight.shape(), " for index of shape ", index.shape());
  GLUINO_CHECK(ShapeError, index.ndim() < Shape::max_dims, "embedding: index of shape ", index.shape(),
               " has ", Shape::max_dims, " axes: the result would have one more than an array can (weight ",
               weight.shape(), ")");
  constexpr int digits = std::numeric_limits<T>::digits;
  constexpr std::size_t exact = std::size_t(1) << digits;  // T holds every integer up to this
  GLUINO_CHECK(ValueError, weight.shape()[0] <= exact, "embedding: weight of shape ", weight.shape(),
               " has more rows than ", std::is_same_v<T, float> ? "float" : "double", " indices name exactly (2^",
               digits, " = ", exact, "): an index above that is rounded to another row; use double");
  return autograd::apply(ops::Embedding<T>{}, index, weight);
}

}  // namespace gluino::nd

// Precompiled mode (detail/precompiled.hpp): this header's float and double instantiations.
#define GLUINO_ND_EMBEDDING_INSTANTIATIONS(X, T) \
  X NDArray<T> embedding<T>(const NDArray<T>&, const NDArray<T>&);
namespace gluino::nd {
GLUINO_EXTERN_INSTANTIATIONS(GLUINO_ND_EMBEDDING_INSTANTIATIONS)
}  // namespace gluino::nd
