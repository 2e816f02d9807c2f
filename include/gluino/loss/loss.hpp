// SPDX-License-Identifier: Apache-2.0
#pragma once
/// BasicLoss<T>: what every loss shares, Gluon's gluon.loss.Loss: a global weight, a batch axis,
/// sample weights, and the mean over every axis but the batch axis.  BasicThreeInputLoss<T>: the
/// same for the losses called with three inputs (TripletLoss, CosineEmbeddingLoss).
/// Differs from Gluon: losses are plain callable objects, not Blocks (no parameters, no hooks,
/// no hybridize); call them like a function: `auto l = loss_fn(pred, label);`.
#include <array>
#include <cmath>
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
  /// name: the class name used in error messages; weight: Gluon's `weight` (a global scale;
  /// ValueError when it is NaN or infinite, which would make every loss NaN or infinite);
  /// batch_axis: the axis kept by the final mean (Gluon's `batch_axis`).
  BasicLoss(std::string name, double weight, int batch_axis)
      : name_(std::move(name)), weight_(weight), batch_axis_(batch_axis) {
    check_finite("weight", weight);
  }
  virtual ~BasicLoss() = default;

  /// Per-sample losses (N,) of pred against label.  Gluon: loss(pred, label).
  NDArray<T> operator()(const NDArray<T>& pred, const NDArray<T>& label) const {
    return (*this)(pred, label, NDArray<T>{});
  }
  /// Per-sample losses (N,) with element-wise sample weights.  sample_weight must broadcast to
  /// the unreduced loss (e.g. (N, 1) for pred (N, C)); a 1-D (N,) weight is taken per sample.
  /// Differs from Gluon, whose broadcasting reads a 1-D weight along the last axis: when both
  /// readings fit and differ (the last axis is not the batch axis and also has length N, e.g.
  /// L2Loss on (10, 10)), ValueError asks for (N, 1) or (1, C) instead of guessing.
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

  /// ValueError "<name>: <what> must be a finite number, got <v>" for NaN or infinity (an option
  /// such as a margin, which would turn every loss into NaN).
  void check_finite(const char* what, double v) const {
    GLUINO_CHECK(ValueError, std::isfinite(v), name_, ": ", what, " must be a finite number, got ", v);
  }

  void check_defined(const NDArray<T>& pred, const NDArray<T>& label) const {
    GLUINO_CHECK(StateError, pred.defined() && label.defined(), name_, ": pred and label must be defined arrays");
  }

  /// x viewed with like's shape (Gluon's _reshape_like); ShapeError names both inputs and shapes
  /// when the sizes differ.
  NDArray<T> reshape_like(const NDArray<T>& x, const NDArray<T>& like, const char* x_name = "label",
                          const char* like_name = "pred") const {
    GLUINO_CHECK(ShapeError, x.size() == like.size(), name_, ": ", x_name, " of shape ", x.shape(),
                 " does not match ", like_name, " of shape ", like.shape());
    return x.shape() == like.shape() ? x : x.reshape(like.shape());
  }

  /// batch_axis normalized for a loss of shape s; ShapeError when it is out of range.
  std::size_t batch_axis_of(const Shape& s) const {
    const int nd = static_cast<int>(s.ndim());
    GLUINO_CHECK(ShapeError, batch_axis_ >= -nd && batch_axis_ < nd, name_, ": batch_axis ", batch_axis_,
                 " out of range for a loss of shape ", s);
    return s.normalize_axis(batch_axis_);
  }
  /// The axes of an ndim-dimensional array other than b (Gluon's `axis=batch_axis, exclude=True`).
  static std::vector<int> axes_except(std::size_t ndim, std::size_t b) {
    std::vector<int> axes;
    for (std::size_t d = 0; d < ndim; ++d)
      if (d != b) axes.push_back(static_cast<int>(d));
    return axes;
  }

  /// Applies sample_weight and the global weight, then reduce(): the mean over every axis but the
  /// batch axis (Gluon: _apply_weighting then mean(axis=batch_axis, exclude=True)).
  NDArray<T> finish(NDArray<T> l, const NDArray<T>& sample_weight) const {
    const Shape s = l.shape();  // a copy: l is reassigned below
    const std::size_t b = batch_axis_of(s);
    if (sample_weight.defined()) {
      NDArray<T> w = sample_weight;
      if (w.ndim() == 1 && s.ndim() > 1 && w.shape()[0] == s[b] && s[b] != 1) {
        Shape per_sample, last_axis;  // (N,) -> 1 everywhere but the batch axis (or the last axis)
        for (std::size_t d = 0; d < s.ndim(); ++d) {
          per_sample.push_back(d == b ? s[b] : 1);
          last_axis.push_back(d + 1 == s.ndim() ? s[d] : 1);
        }
        // NumPy (and Gluon's broadcast_mul) would read the same weight along the last axis: when
        // that fits too and is another axis, refuse to guess.
        GLUINO_CHECK(ValueError, b + 1 == s.ndim() || s[s.ndim() - 1] != s[b], name_, ": sample_weight of shape ",
                     sample_weight.shape(), " is ambiguous for the loss of shape ", s, " (batch_axis ", batch_axis_,
                     "): pass ", per_sample, " to weigh samples or ", last_axis, " to weigh the last axis");
        w = w.reshape(per_sample);
      }
      GLUINO_CHECK(ShapeError, broadcasts_into(w.shape(), s), name_, ": sample_weight of shape ",
                   sample_weight.shape(), " does not broadcast to the loss of shape ", s);
      l = l * w;
    }
    if (weight_ != 1.0) l = l * static_cast<T>(weight_);
    return reduce(l, b);
  }

  /// The last step of finish: the weighted loss l reduced with b the batch axis.  By default the
  /// mean over every axis but b, giving (N,); PoissonNLLLoss takes the mean of every element.
  virtual NDArray<T> reduce(const NDArray<T>& l, std::size_t b) const {
    const std::vector<int> axes = axes_except(l.ndim(), b);
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

/// Base of the losses of three inputs (TripletLoss: pred, positive, negative; CosineEmbeddingLoss:
/// input1, input2, label): BasicLoss's weight, batch axis, sample weights and final mean, called
/// as loss(a, b, c) or loss(a, b, c, sample_weight).  Its call of two inputs raises ValueError
/// (reached only through a BasicLoss<T>&: the class's own operator() hides it).
template <class T>
class BasicThreeInputLoss : public BasicLoss<T> {
 public:
  /// inputs: the names of the three inputs, for error messages.
  BasicThreeInputLoss(std::string name, std::array<const char*, 3> inputs, double weight, int batch_axis)
      : BasicLoss<T>(std::move(name), weight, batch_axis), inputs_(inputs) {}

  /// Per-sample losses (N,); an undefined sample_weight means none (see BasicLoss::operator()).
  NDArray<T> operator()(const NDArray<T>& a, const NDArray<T>& b, const NDArray<T>& c,
                        const NDArray<T>& sample_weight = {}) const {
    GLUINO_CHECK(StateError, a.defined() && b.defined() && c.defined(), this->name(), ": ", inputs_[0], ", ",
                 inputs_[1], " and ", inputs_[2], " must be defined arrays");
    return this->finish(compute3(a, b, c), sample_weight);
  }
  /// The names of the three inputs.
  const std::array<const char*, 3>& inputs() const { return inputs_; }

 protected:
  /// The unreduced, unweighted loss of the three inputs.  (Not an overload of compute: a derived
  /// class's override would hide the two-input one, which -Woverloaded-virtual reports.)
  virtual NDArray<T> compute3(const NDArray<T>& a, const NDArray<T>& b, const NDArray<T>& c) const = 0;

 private:
  NDArray<T> compute(const NDArray<T>&, const NDArray<T>&) const final {
    gluino::detail::raise<ValueError>(this->name(), ": takes three inputs (", inputs_[0], ", ", inputs_[1], ", ",
                                      inputs_[2], "), not two");
  }

  std::array<const char*, 3> inputs_;
};

}  // namespace gluino::loss

// Precompiled mode (detail/precompiled.hpp): this header's float and double instantiations.
#define GLUINO_LOSS_LOSS_INSTANTIATIONS(X, T) \
  X class BasicLoss<T>;                          \
  X class BasicThreeInputLoss<T>;
namespace gluino::loss {
GLUINO_EXTERN_INSTANTIATIONS(GLUINO_LOSS_LOSS_INSTANTIATIONS)
}  // namespace gluino::loss
