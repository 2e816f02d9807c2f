// SPDX-License-Identifier: Apache-2.0
#pragma once
/// CosineEmbeddingLoss.  Gluon: gluon.loss.CosineEmbeddingLoss.
#include "gluino/detail/precompiled.hpp"
#include "gluino/loss/loss.hpp"
#include "gluino/nd/creation.hpp"

namespace gluino::loss {

/// Options of CosineEmbeddingLoss, in the order of Gluon's keyword arguments.
struct CosineEmbeddingLossOptions {
  double weight = 1;   ///< global scale of the loss (1 stands for Gluon's None)
  int batch_axis = 0;  ///< the axis kept by the final mean
  double margin = 0;   ///< a label -1 pair costs only its cosine above the margin (finite)
};

/// With cos the cosine similarity of input1 and input2 along their last axis,
///   cos = sum(input1 * input2) / max(|input1| * |input2|, 1e-12)
///   L = 1 - cos               where label = 1
///   L = max(0, cos - margin)  where label = -1   (0 for any other label)
/// then sample weights and the mean over every axis but batch_axis: returns (N,).  Call it as
/// loss(input1, input2, label[, sample_weight]).  input1 must have input2's size (it is reshaped
/// to input2's shape); label holds one value per vector, e.g. (N,) for inputs (N, D).  Gradients
/// flow to input1 and input2, none to label.  Gluon: gluon.loss.CosineEmbeddingLoss (a plain
/// callable, not a Block).  Differs from Gluon: Gluon returns the unreduced (N, 1) loss of the
/// vectors (N * ..., 1) and ignores batch_axis; gluino takes the mean as every loss does, which
/// for inputs (N, D) gives the same N values.  PyTorch's CosineEmbeddingLoss is the same for
/// (N, D) inputs but for its eps: cos = dot / sqrt((|input1|^2 + 1e-12) (|input2|^2 + 1e-12)).
template <class T>
class BasicCosineEmbeddingLoss : public BasicThreeInputLoss<T> {
 public:
  explicit BasicCosineEmbeddingLoss(CosineEmbeddingLossOptions opt = {})
      : BasicThreeInputLoss<T>("CosineEmbeddingLoss", {"input1", "input2", "label"}, opt.weight, opt.batch_axis),
        opt_(opt) {
    this->check_finite("margin", opt.margin);
  }
  using BasicThreeInputLoss<T>::operator();
  const CosineEmbeddingLossOptions& options() const { return opt_; }

 protected:
  NDArray<T> compute3(const NDArray<T>& input1, const NDArray<T>& input2, const NDArray<T>& label) const override {
    const NDArray<T> x = this->reshape_like(input1, input2, "input1", "input2");
    const Shape& s = input2.shape();
    GLUINO_CHECK(ShapeError, s.ndim() >= 1, this->name(), ": input2 of shape ", s, " has no vector axis");
    Shape vectors = s;  // one cosine per vector along the last axis: (..., 1)
    vectors[s.ndim() - 1] = 1;
    GLUINO_CHECK(ShapeError, label.size() == vectors.size(), this->name(), ": label of shape ", label.shape(),
                 " does not hold one value per vector of input2 of shape ", s, " (", vectors.size(), " values)");
    const NDArray<T> y = label.shape() == vectors ? label : label.reshape(vectors);
    auto norm = [](const NDArray<T>& v) { return nd::sqrt(nd::sum(nd::square(v), -1, true)); };
    const NDArray<T> cos =
        nd::sum(x * input2, -1, true) / nd::maximum(norm(x) * norm(input2), nd::full<T>(Shape{}, T(1e-12)));
    // The label masks are comparisons: no gradient reaches label, as Gluon.
    return (T(1) - cos) * (y == T(1)) + nd::relu((y == T(-1)) * (cos - static_cast<T>(opt_.margin)));
  }

 private:
  CosineEmbeddingLossOptions opt_;
};

/// The float loss, under Gluon's name.
using CosineEmbeddingLoss = BasicCosineEmbeddingLoss<float>;

}  // namespace gluino::loss

// Precompiled mode (detail/precompiled.hpp): this header's float and double instantiations.
#define GLUINO_LOSS_COSINE_EMBEDDING_LOSS_INSTANTIATIONS(X, T) \
  X class BasicCosineEmbeddingLoss<T>;
namespace gluino::loss {
GLUINO_EXTERN_INSTANTIATIONS(GLUINO_LOSS_COSINE_EMBEDDING_LOSS_INSTANTIATIONS)
}  // namespace gluino::loss
