// SPDX-License-Identifier: Apache-2.0
#pragma once
/// BasicLoss<T>: what every loss shares, Gluon's gluon.loss.Loss: a global weight, a batch axis,
/// sample weights, and the mean over every axis but the batch axis.
/// Differs from Gluon: losses are plain callable objects, not Blocks (no parameters, no hooks,
/// no hybridize); call them like a function: `auto l = loss_fn(pred, label);`.
#include <string>
#include <vector>

#include "gluino/core/ndarray.hpp"
#include "gluino/detail/precompiled.hpp"
#include "gluino/nd/elementwise.hpp"
#include "gluino/nd/reduce.hpp"
#include "gluino/nd/shape_ops.hpp"
#include "gluino/detail/broadcast.hpp"

namespace gluino::loss {

/// Base of the losses.  operator() returns per-sample losses of shape (N,) (N = pred's size along
/// batch_axis), recorded by autograd so that `l.backward()` reaches the network's parameters.
template <class T>
class BasicLoss {
 public:
  /// name: the class name used in error messages; weight: Gluon's `weight` (a global scale);
  /// batch_axis: the axis kept by the final mean (Gluon's `batch_axis`).
  BasicLoss(std::string name, double weight, int batch_axis)
      : name_(std::move(name)), weight_(weight), batch_axis_(batch_axis) {}
  virtual ~BasicLoss() = default;

  /// Per-sample losses (N,) of pred against label.  Gluon: loss(pred, label).
  NDArray<T> operator()(const NDArray<T>& pred, const NDArray<T>& label) const {
    return (*this)(pred, label, NDArray<T>{});
  }
  /// Per-sample losses (N,) with element-wise sample weights.  sample_weight must broadcast to
  /// the unreduced loss (e.g. (N, 1) for pred (N, C)); a 1-D (N,) weight is taken per sample.
  /// An undefined sample_weight means none.  Gluon: loss(pred, label, sample_weight).
  NDArray<T> operator()(const NDArray<T>& pred, const NDArray<T>& label, const NDArray<T>& sample_weight) const {
    check_defined(pred, label);
    return finish(compute(pred, label), sample_weight);
  }

  const std::string& name() const { return name_; }
  /// The global weight (Gluon: `weight`; 1 stands for Gluon's None).
  double weight() const { return weight_; }
  int batch_axis() const { return batch_axis_; }

 protected:
  /// The unreduced, unweighted loss (Gluon's hybrid_forward before _apply_weighting).
  virtual NDArray<T> compute(const NDArray<T>& pred, const NDArray<T>& label) const = 0;

  void check_defined(const NDArray<T>& pred, const NDArray<T>& label) const {
    GLUINO_CHECK(StateError, pred.defined() && label.defined(), name_, ": pred and label must be defined arrays");
  }

  /// label viewed with pred's shape (Gluon's _reshape_like); ShapeError names both shapes when
  /// the sizes differ.
  NDArray<T> reshape_like(const NDArray<T>& label, const NDArray<T>& pred) const {
    GLUINO_CHECK(ShapeError, label.size() == pred.size(), name_, ": label of shape ", label.shape(),
                 " does not match pred of shape ", pred.shape());
    return label.shape() == pred.shape() ? label : label.reshape(pred.shape());
  }

  /// Applies sample_weight and the global weight, then takes the mean over every axis but the
  /// batch axis (Gluon: _apply_weighting then mean(axis=batch_axis, exclude=True)).
  NDArray<T> finish(NDArray<T> l, const NDArray<T>& sample_weight) const {
    const Shape s = l.shape();  // a copy: l is reassigned below
    const int nd = static_cast<int>(s.ndim());
    GLUINO_CHECK(ShapeError, batch_axis_ >= -nd && batch_axis_ < nd, name_, ": batch_axis ", batch_axis_,
                 " out of range for a loss of shape ", s);
    const std::size_t b = s.normalize_axis(batch_axis_);
    if (sample_weight.defined()) {
      NDArray<T> w = sample_weight;
      if (w.ndim() == 1 && s.ndim() > 1 && w.shape()[0] == s[b] && s[b] != 1) {
        Shape per_sample;  // (N,) -> 1 everywhere but the batch axis
        for (std::size_t d = 0; d < s.ndim(); ++d) per_sample.push_back(d == b ? s[b] : 1);
        w = w.reshape(per_sample);
      }
      GLUINO_CHECK(ShapeError, w.size() > 0 && broadcasts_into(w.shape(), s), name_, ": sample_weight of shape ",
                   sample_weight.shape(), " does not broadcast to the loss of shape ", s);
      l = l * w;
    }
    if (weight_ != 1.0) l = l * static_cast<T>(weight_);
    std::vector<int> axes;
    for (std::size_t d = 0; d < s.ndim(); ++d)
      if (d != b) axes.push_back(static_cast<int>(d));
    return axes.empty() ? l : nd::mean(l, axes, false);
  }

 private:
  /// True when w broadcasts to s without changing s.
  static bool broadcasts_into(const Shape& w, const Shape& s) {
    if (w.ndim() > s.ndim()) return false;
    for (std::size_t i = 0; i < w.ndim(); ++i) {
      const std::size_t wd = w[w.ndim() - 1 - i], sd = s[s.ndim() - 1 - i];
      if (wd != 1 && wd != sd) return false;
    }
    return true;
  }

  std::string name_;
  double weight_;
  int batch_axis_;
};

}  // namespace gluino::loss

// Precompiled mode (detail/precompiled.hpp): this header's float and double instantiations.
#define GLUINO_LOSS_LOSS_INSTANTIATIONS(X, T) \
  X class BasicLoss<T>;
namespace gluino::loss {
GLUINO_EXTERN_INSTANTIATIONS(GLUINO_LOSS_LOSS_INSTANTIATIONS)
}  // namespace gluino::loss
