// SPDX-License-Identifier: Apache-2.0
#pragma once
/// Embedding: integer indices to dense vectors, rows of a learned matrix.  Gluon: gluon.nn.Embedding.
#include <limits>
#include <sstream>
#include <string>
#include <type_traits>
#include <utility>

#include "gluino/detail/precompiled.hpp"
#include "gluino/nd/embedding.hpp"
#include "gluino/nn/block.hpp"

namespace gluino::nn {

/// Options of Embedding, in the order of gluon.nn.Embedding's keyword arguments (its dtype is
/// the block's T; sparse_grad has no counterpart: gradients are dense).
template <class T>
struct BasicEmbeddingOptions {
  /// The weight's own initializer; {} = the one given to initialize() (Gluon's None).
  init::BasicAnyInitializer<T> weight_initializer = {};
  /// Gluon's params=: share another block's parameters (e.g. other.params()).
  BasicParameterDict<T> params = {};
};

/// Turns indices into vectors: y[..., :] = weight[x[...], :].  Mirrors gluon.nn.Embedding.
/// x: any shape, holding integer values in [0, input_dim) (stored as T, as Gluon's float32
/// indices) -> x.shape + (output_dim,).  Parameter, named as in Gluon: weight
/// (input_dim, output_dim) (embedding0_weight); x gets no gradient.  Computed by nd::embedding.
/// ValueError for input_dim or output_dim 0, a weight too large to allocate, or input_dim above
/// 2^24 for float (2^53 for double): T holds indices exactly only up to there; at forward a
/// ValueError naming the index, its position and input_dim when an index is out of range or not
/// an integer (MXNet clips it).  Printed as Gluon: "Embedding(10 -> 3, float32)".
template <class T>
class BasicEmbedding : public BasicBlock<T> {
 public:
  BasicEmbedding(std::size_t input_dim, std::size_t output_dim, BasicEmbeddingOptions<T> opt = {},
                 std::string prefix = "")
      : BasicBlock<T>({.alias = "embedding", .prefix = std::move(prefix), .params = std::move(opt.params)}),
        input_dim_(input_dim), output_dim_(output_dim) {
    GLUINO_CHECK(ValueError, input_dim > 0 && output_dim > 0, "Embedding: input_dim and output_dim must be > 0, got ",
                 input_dim, " and ", output_dim);
    std::size_t n = 0;
    GLUINO_CHECK(ValueError, !gluino::detail::mul_overflows(input_dim, output_dim, &n) && n <= Storage<T>::max_size(),
                 "Embedding: a weight of shape ", Shape{input_dim, output_dim}, " is too large to allocate");
    // Indices are stored as T: a float holds every integer only up to 2^24 (nd::embedding).
    constexpr int digits = std::numeric_limits<T>::digits;
    GLUINO_CHECK(ValueError, input_dim <= (std::size_t(1) << digits), "Embedding: input_dim ", input_dim,
                 " is more than ", std::is_same_v<T, float> ? "float" : "double", " indices name exactly (2^", digits,
                 " = ", std::size_t(1) << digits, "): an index above that is rounded to another row; use "
                 "BasicEmbedding<double>");
    weight_ = this->declare_param("weight", Shape{input_dim, output_dim}, std::move(opt.weight_initializer));
  }
  std::string type_name() const override { return "Embedding"; }
  AnyBlockPtr rebuild(Dtype to) const override {
    return rebuild_as(to, [&]<class U>() {
      return std::make_shared<BasicEmbedding<U>>(input_dim_, output_dim_);
    });
  }

  NDArray<T> forward(const NDArray<T>& x) override { return nd::embedding(x, weight()->data()); }

  std::string repr() const override {
    std::ostringstream s;
    s << "Embedding(" << input_dim_ << " -> " << output_dim_ << ", "
      << (std::is_same_v<T, double> ? "float64" : "float32") << ')';
    return s.str();
  }

  std::size_t input_dim() const { return input_dim_; }
  std::size_t output_dim() const { return output_dim_; }
  /// Gluon: embedding.weight.
  const std::shared_ptr<BasicParameter<T>>& weight() const { return this->param_at(weight_); }

 private:
  std::size_t input_dim_, output_dim_;
  std::size_t weight_ = BasicParameterDict<T>::npos;  // in params()
};

using EmbeddingOptions = BasicEmbeddingOptions<float>;
using Embedding = BasicEmbedding<float>;

}  // namespace gluino::nn

// Precompiled mode (detail/precompiled.hpp): this header's float and double instantiations.
#define GLUINO_NN_EMBEDDING_INSTANTIATIONS(X, T) \
  X class BasicEmbedding<T>;
namespace gluino::nn {
GLUINO_EXTERN_INSTANTIATIONS(GLUINO_NN_EMBEDDING_INSTANTIATIONS)
}  // namespace gluino::nn
