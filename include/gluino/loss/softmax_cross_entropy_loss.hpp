// SPDX-License-Identifier: Apache-2.0
#pragma once
/// SoftmaxCrossEntropyLoss.  Gluon: gluon.loss.SoftmaxCrossEntropyLoss.
#include "gluino/detail/precompiled.hpp"
#include "gluino/loss/loss.hpp"
#include "gluino/nd/pick.hpp"
#include "gluino/nd/softmax.hpp"

namespace gluino::loss {

/// Options of SoftmaxCrossEntropyLoss, in the order of Gluon's keyword arguments.
struct SoftmaxCrossEntropyLossOptions {
  int axis = -1;              ///< the class axis of pred
  bool sparse_label = true;   ///< labels are class indices (stored as T); else one-hot/probabilities
  bool from_logits = false;   ///< pred already holds log-probabilities (no log_softmax applied)
  double weight = 1;          ///< global scale of the loss
  int batch_axis = 0;         ///< the axis kept by the final mean
};

/// Softmax cross-entropy: with p = log_softmax(pred, axis) (or pred itself when from_logits),
///   sparse labels: L = -p[label]          label: pred's shape without `axis` (or with it as 1;
///                                         another shape of that size is a ShapeError, as Gluon)
///   dense labels:  L = -sum(p * label)    label: pred's shape (or its size)
/// then sample weights and the mean over every axis but batch_axis: returns (N,).
/// For pred (N, C) and sparse labels (N,) the fused nd::softmax_cross_entropy is used.
/// Gradients flow to pred (and to dense labels).  Gluon: gluon.loss.SoftmaxCrossEntropyLoss;
/// a plain callable, not a Block.  Differs from Gluon: a sparse label outside [0, C) is a
/// ValueError (Gluon's pick clips it silently).
template <class T>
class BasicSoftmaxCrossEntropyLoss : public BasicLoss<T> {
 public:
  explicit BasicSoftmaxCrossEntropyLoss(SoftmaxCrossEntropyLossOptions opt = {})
      : BasicLoss<T>("SoftmaxCrossEntropyLoss", opt.weight, opt.batch_axis), opt_(opt) {}
  using BasicLoss<T>::operator();
  const SoftmaxCrossEntropyLossOptions& options() const { return opt_; }

 protected:
  NDArray<T> compute(const NDArray<T>& pred, const NDArray<T>& label) const override {
    const Shape& s = pred.shape();
    const int nd = static_cast<int>(s.ndim());
    GLUINO_CHECK(ShapeError, nd >= 1 && opt_.axis >= -nd && opt_.axis < nd, this->name(), ": axis ", opt_.axis,
                 " out of range for pred of shape ", s);
    const std::size_t a = s.normalize_axis(opt_.axis);
    if (opt_.sparse_label) {
      // Gluon's pick: the label has pred's shape without the class axis, or with it as 1; any
      // other layout of as many values (say (1, N)) is refused, not reshaped onto the wrong rows.
      Shape dropped, kept = s;
      for (std::size_t d = 0; d < s.ndim(); ++d)
        if (d != a) dropped.push_back(s[d]);
      kept[a] = 1;
      GLUINO_CHECK(ShapeError, label.shape() == dropped || label.shape() == kept, this->name(),
                   ": sparse label of shape ", label.shape(), " does not match pred of shape ", s, " (expected ",
                   dropped, " or ", kept, ")");
      NDArray<T> idx = label.shape() == dropped ? label : label.reshape(dropped);
      if (!opt_.from_logits && s.ndim() == 2 && a == 1) {
        // Fused path: (N, C) logits, class axis last; keep Gluon's (N, 1) unreduced shape.
        return nd::softmax_cross_entropy(pred, idx).reshape(Shape{s[0], 1});
      }
      NDArray<T> logp = opt_.from_logits ? pred : nd::log_softmax(pred, opt_.axis);
      return -nd::pick(logp, idx, opt_.axis, true);
    }
    NDArray<T> dense = this->reshape_like(label, pred);
    NDArray<T> logp = opt_.from_logits ? pred : nd::log_softmax(pred, opt_.axis);
    return -nd::sum(logp * dense, std::vector<int>{opt_.axis}, true);
  }

 private:
  SoftmaxCrossEntropyLossOptions opt_;
};

/// The float loss, under Gluon's name.
using SoftmaxCrossEntropyLoss = BasicSoftmaxCrossEntropyLoss<float>;
/// Gluon's alias: gluon.loss.SoftmaxCELoss.
using SoftmaxCELoss = SoftmaxCrossEntropyLoss;

}  // namespace gluino::loss

// Precompiled mode (detail/precompiled.hpp): this header's float and double instantiations.
#define GLUINO_LOSS_SOFTMAX_CE_INSTANTIATIONS(X, T) \
  X class BasicSoftmaxCrossEntropyLoss<T>;
namespace gluino::loss {
GLUINO_EXTERN_INSTANTIATIONS(GLUINO_LOSS_SOFTMAX_CE_INSTANTIATIONS)
}  // namespace gluino::loss
