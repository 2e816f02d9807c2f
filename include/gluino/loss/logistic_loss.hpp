// SPDX-License-Identifier: Apache-2.0
#pragma once
/// LogisticLoss.  Gluon: gluon.loss.LogisticLoss.
#include <string>

#include "gluino/detail/precompiled.hpp"
#include "gluino/loss/loss.hpp"
#include "gluino/loss/sigmoid_binary_cross_entropy_loss.hpp"

namespace gluino::loss {

/// Options of LogisticLoss, in the order of Gluon's keyword arguments.
struct LogisticLossOptions {
  double weight = 1;                    ///< global scale of the loss (1 stands for Gluon's None)
  int batch_axis = 0;                   ///< the axis kept by the final mean
  std::string label_format = "signed";  ///< "signed": labels -1 or 1; "binary": labels 0 or 1
};

/// The logistic loss of binary classification, pred holding logits x:
///   L = log(1 + exp(-x * y))  for labels y in {-1, 1} ("signed")
/// computed as the binary cross-entropy of x against z = (y + 1) / 2 (or z = y for "binary"
/// labels 0/1) in the overflow-free form relu(x) - x * z + softrelu(-|x|), as Gluon; then sample
/// weights and the mean over every axis but batch_axis: returns (N,).  label must have pred's
/// size; gradients flow to pred and label.  A label_format other than "signed" or "binary" is a
/// ValueError.  Gluon: gluon.loss.LogisticLoss (a plain callable, not a Block).  PyTorch: for
/// labels -1/1 this is SoftMarginLoss; for any label, BCEWithLogitsLoss on z.
template <class T>
class BasicLogisticLoss : public BasicLoss<T> {
 public:
  explicit BasicLogisticLoss(LogisticLossOptions opt = {})
      : BasicLoss<T>("LogisticLoss", opt.weight, opt.batch_axis), opt_(std::move(opt)) {
    GLUINO_CHECK(ValueError, opt_.label_format == "signed" || opt_.label_format == "binary",
                 "LogisticLoss: label_format must be \"signed\" or \"binary\", got \"", opt_.label_format, "\"");
  }
  using BasicLoss<T>::operator();
  const LogisticLossOptions& options() const { return opt_; }

 protected:
  NDArray<T> compute(const NDArray<T>& pred, const NDArray<T>& label) const override {
    NDArray<T> z = this->reshape_like(label, pred);
    if (opt_.label_format == "signed") z = (z + T(1)) / T(2);  // -1/1 -> 0/1
    return detail::sigmoid_bce_from_logits(pred, z);
  }

 private:
  LogisticLossOptions opt_;
};

/// The float loss, under Gluon's name.
using LogisticLoss = BasicLogisticLoss<float>;

}  // namespace gluino::loss

// Precompiled mode (detail/precompiled.hpp): this header's float and double instantiations.
#define GLUINO_LOSS_LOGISTIC_LOSS_INSTANTIATIONS(X, T) \
  X class BasicLogisticLoss<T>;
namespace gluino::loss {
GLUINO_EXTERN_INSTANTIATIONS(GLUINO_LOSS_LOGISTIC_LOSS_INSTANTIATIONS)
}  // namespace gluino::loss
