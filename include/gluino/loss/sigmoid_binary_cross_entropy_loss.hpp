// SPDX-License-Identifier: Apache-2.0
#pragma once
/// SigmoidBinaryCrossEntropyLoss.  Gluon: gluon.loss.SigmoidBinaryCrossEntropyLoss.
#include "gluino/detail/precompiled.hpp"
#include "gluino/loss/loss.hpp"

namespace gluino::loss {

namespace detail {
/// Binary cross-entropy of logits x against labels z, in the overflow-free form Gluon uses:
/// relu(x) - x * z + softrelu(-|x|).  Shared with LogisticLoss.
template <class T>
NDArray<T> sigmoid_bce_from_logits(const NDArray<T>& x, const NDArray<T>& z) {
  return nd::relu(x) - x * z + nd::softrelu(-nd::abs(x));
}
}  // namespace detail

/// Options of SigmoidBinaryCrossEntropyLoss, in the order of Gluon's keyword arguments.
struct SigmoidBinaryCrossEntropyLossOptions {
  bool from_sigmoid = false;  ///< pred already holds probabilities (sigmoid applied)
  double weight = 1;          ///< global scale of the loss (1 stands for Gluon's None)
  int batch_axis = 0;         ///< the axis kept by the final mean
};

/// Binary cross-entropy with labels in [0, 1] (pred's size; reshaped to pred's shape).
///   from_sigmoid = false (pred = logits x), in the overflow-free form Gluon uses:
///     L = relu(x) - x * z + softrelu(-|x|)
///     with pos_weight p:  L = x - x * z + (1 + (p - 1) * z) * (softrelu(-|x|) + relu(-x))
///   from_sigmoid = true (pred = probabilities q), eps = 1e-12:
///     L = -(log(q + eps) * z + log(1 - q + eps) * (1 - z)), pos_weight multiplying the first term
/// then sample weights and the mean over every axis but batch_axis: returns (N,).
/// Gluon: gluon.loss.SigmoidBinaryCrossEntropyLoss (SigmoidBCELoss); a plain callable, not a Block.
template <class T>
class BasicSigmoidBinaryCrossEntropyLoss : public BasicLoss<T> {
 public:
  explicit BasicSigmoidBinaryCrossEntropyLoss(SigmoidBinaryCrossEntropyLossOptions opt = {})
      : BasicLoss<T>("SigmoidBinaryCrossEntropyLoss", opt.weight, opt.batch_axis), opt_(opt) {}
  using BasicLoss<T>::operator();

  /// With a positive-class weight pos_weight that broadcasts to pred (e.g. (C,) for pred (N, C));
  /// an undefined sample_weight or pos_weight means none.  Gluon: loss(pred, label, sample_weight,
  /// pos_weight).
  NDArray<T> operator()(const NDArray<T>& pred, const NDArray<T>& label, const NDArray<T>& sample_weight,
                        const NDArray<T>& pos_weight) const {
    this->check_defined(pred, label);
    if (!pos_weight.defined()) return this->finish(compute(pred, label), sample_weight);
    GLUINO_CHECK(ShapeError, gluino::detail::broadcast_shape(pred.shape(), pos_weight.shape(), this->name().c_str()) ==
                                 pred.shape(),
                 this->name(), ": pos_weight of shape ", pos_weight.shape(), " does not broadcast to pred of shape ",
                 pred.shape());
    const NDArray<T> z = this->reshape_like(label, pred);
    NDArray<T> l;
    if (!opt_.from_sigmoid) {
      NDArray<T> log_weight = (pos_weight - T(1)) * z + T(1);
      l = pred - pred * z + log_weight * (nd::softrelu(-nd::abs(pred)) + nd::relu(-pred));
    } else {
      const T eps = T(1e-12);
      l = -(nd::log(pred + eps) * z * pos_weight + nd::log(T(1) - pred + eps) * (T(1) - z));
    }
    return this->finish(l, sample_weight);
  }
  const SigmoidBinaryCrossEntropyLossOptions& options() const { return opt_; }

 protected:
  NDArray<T> compute(const NDArray<T>& pred, const NDArray<T>& label) const override {
    const NDArray<T> z = this->reshape_like(label, pred);
    if (!opt_.from_sigmoid) return detail::sigmoid_bce_from_logits(pred, z);
    const T eps = T(1e-12);
    return -(nd::log(pred + eps) * z + nd::log(T(1) - pred + eps) * (T(1) - z));
  }

 private:
  SigmoidBinaryCrossEntropyLossOptions opt_;
};

/// The float loss, under Gluon's name.
using SigmoidBinaryCrossEntropyLoss = BasicSigmoidBinaryCrossEntropyLoss<float>;
/// Gluon's alias: gluon.loss.SigmoidBCELoss.
using SigmoidBCELoss = SigmoidBinaryCrossEntropyLoss;

}  // namespace gluino::loss

// Precompiled mode (detail/precompiled.hpp): this header's float and double instantiations.
#define GLUINO_LOSS_SIGMOID_BCE_INSTANTIATIONS(X, T) \
  X class BasicSigmoidBinaryCrossEntropyLoss<T>;
namespace gluino::loss {
GLUINO_EXTERN_INSTANTIATIONS(GLUINO_LOSS_SIGMOID_BCE_INSTANTIATIONS)
}  // namespace gluino::loss
