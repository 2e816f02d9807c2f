// SPDX-License-Identifier: Apache-2.0
#pragma once
/// Concatenate and HybridConcatenate: containers whose children all read the same input and
/// whose outputs are joined along an axis (the inception block's branches, DenseNet's
/// "input, new features"), and Identity, the branch that passes its input on.  Gluon 2:
/// gluon.nn.Concatenate, HybridConcatenate, Identity (Gluon 1.x: gluon.contrib.nn.Concurrent,
/// HybridConcurrent, Identity).
#include <cstddef>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "gluino/detail/precompiled.hpp"
#include "gluino/nd/shape_ops.hpp"
#include "gluino/nn/block.hpp"
#include "gluino/nn/sequential.hpp"

namespace gluino::nn {

/// Runs every child on the same input and concatenates their outputs along `axis`: for
/// children f, g and input x, forward(x) = concat(f(x), g(x), axis).  Mirrors Gluon 2's
/// gluon.nn.Concatenate(axis=-1) (Gluon 1.x: gluon.contrib.nn.Concurrent); the default axis is
/// Gluon's, -1: for NCHW feature maps pass 1 (Concatenate{1}).
///   nn::Concatenate branches{1};
///   branches.add(nn::Conv2D{8, 1}, nn::Conv2D{4, 3, {.padding = 1}});   // (N, C, H, W) -> (N, 12, H, W)
/// A Sequential in all but forward (add, net[i], at<B>(i), size, iteration, printed as
/// "Concatenate(\n  (0): ...\n)"), as Gluon's is.  The outputs must agree in every axis but
/// `axis`: ShapeError naming the container and the two branches' shapes; ValueError when it has
/// no children; ShapeError when axis is out of range for the outputs.
template <class T>
class BasicConcatenate : public BasicSequential<T> {
 public:
  explicit BasicConcatenate(int axis = -1, std::string prefix = "", BasicParameterDict<T> params = {})
      : BasicConcatenate(axis, BasicBlockOptions<T>{.alias = "concatenate", .prefix = std::move(prefix),
                                                    .params = std::move(params)}) {}
  std::string type_name() const override { return "Concatenate"; }
  AnyBlockPtr rebuild(Dtype to) const override {
    return rebuild_as(to, [&]<class U>() {
      return std::make_shared<BasicConcatenate<U>>(axis_);
    });
  }
  /// The concatenation axis as given (negative counts from the back).
  int axis() const { return axis_; }

  /// The children from start to stop by step (Python's slice rules, as Sequential::slice), as a
  /// Concatenate with this prefix and axis that shares the blocks (hybridizable when this one
  /// is).  Gluon: net[1:3].
  BasicConcatenate slice(std::optional<std::ptrdiff_t> start, std::optional<std::ptrdiff_t> stop = std::nullopt,
                         std::ptrdiff_t step = 1) const {
    const BasicSequential<T> picked = BasicSequential<T>::slice(start, stop, step);
    typename BasicBlock<T>::NameScope top_level = BasicBlock<T>::top_level_scope();
    BasicConcatenate out(axis_, BasicBlockOptions<T>{.alias = this->alias(), .prefix = this->prefix()});
    if (this->is_hybridizable()) out.set_hybridizable();
    for (const auto& c : picked.children()) out.register_child(c);
    return out;
  }

  NDArray<T> forward(const NDArray<T>& x) override {
    const auto& kids = this->children();
    GLUINO_CHECK(ValueError, !kids.empty(), this->who(), ": ", type_name(), " has no blocks to concatenate; add some");
    std::vector<NDArray<T>> outs;
    outs.reserve(kids.size());
    for (const auto& c : kids) outs.push_back((*c)(x));
    const Shape& first = outs[0].shape();
    const int n = static_cast<int>(first.ndim());
    GLUINO_CHECK(ShapeError, axis_ >= -n && axis_ < n, this->who(), ": axis ", axis_,
                 " out of range for the output of shape ", first, " of branch 0 (", kids[0]->type_name(), ")");
    const std::size_t ax = static_cast<std::size_t>(axis_ < 0 ? axis_ + n : axis_);
    for (std::size_t b = 1; b < outs.size(); ++b) {
      const Shape& s = outs[b].shape();
      bool same = s.ndim() == first.ndim();
      for (std::size_t i = 0; same && i < s.ndim(); ++i) same = i == ax || s[i] == first[i];
      GLUINO_CHECK(ShapeError, same, this->who(), ": branch ", b, " (", kids[b]->type_name(), ") gives shape ", s,
                   " and branch 0 (", kids[0]->type_name(), ") gives ", first, ": they must agree outside axis ",
                   axis_);
    }
    return nd::concat(outs, axis_);
  }

 protected:
  /// For HybridConcatenate (another alias).
  BasicConcatenate(int axis, BasicBlockOptions<T> opt) : BasicSequential<T>(std::move(opt)), axis_(axis) {}

 private:
  int axis_;
};

/// A Concatenate that hybridize() turns into one graph of all its branches and the concat.
/// Mirrors Gluon 2's gluon.nn.HybridConcatenate(axis=-1) (Gluon 1.x:
/// gluon.contrib.nn.HybridConcurrent).
template <class T>
class BasicHybridConcatenate : public BasicConcatenate<T> {
 public:
  explicit BasicHybridConcatenate(int axis = -1, std::string prefix = "", BasicParameterDict<T> params = {})
      : BasicConcatenate<T>(axis, BasicBlockOptions<T>{.alias = "hybridconcatenate", .prefix = std::move(prefix),
                                                       .params = std::move(params)}) {
    this->set_hybridizable();
  }
  std::string type_name() const override { return "HybridConcatenate"; }
  AnyBlockPtr rebuild(Dtype to) const override {
    return rebuild_as(to, [&]<class U>() {
      return std::make_shared<BasicHybridConcatenate<U>>(this->axis());
    });
  }
};

/// Passes its input on unchanged: the "keep the input" branch of a Concatenate (DenseNet's
/// layers are HybridConcatenate(Identity, new features)).  Any shape.  Mirrors Gluon 2's
/// gluon.nn.Identity (Gluon 1.x: gluon.contrib.nn.Identity).  Printed "Identity".  A plain
/// block (it has no op to trace): inside a hybridized container it is traced through.
template <class T>
class BasicIdentity : public BasicBlock<T> {
 public:
  explicit BasicIdentity(std::string prefix = "") : BasicBlock<T>({.alias = "identity", .prefix = std::move(prefix)}) {}
  std::string type_name() const override { return "Identity"; }
  AnyBlockPtr rebuild(Dtype to) const override {
    return rebuild_as(to, [&]<class U>() {
      return std::make_shared<BasicIdentity<U>>();
    });
  }
  NDArray<T> forward(const NDArray<T>& x) override { return x; }
  std::string repr() const override { return "Identity"; }
};

using Concatenate = BasicConcatenate<float>;
using HybridConcatenate = BasicHybridConcatenate<float>;
using Identity = BasicIdentity<float>;

}  // namespace gluino::nn

// Precompiled mode (detail/precompiled.hpp): this header's float and double instantiations.
#define GLUINO_NN_CONCATENATE_INSTANTIATIONS(X, T) \
  X class BasicConcatenate<T>;                     \
  X class BasicHybridConcatenate<T>;               \
  X class BasicIdentity<T>;
namespace gluino::nn {
GLUINO_EXTERN_INSTANTIATIONS(GLUINO_NN_CONCATENATE_INSTANTIATIONS)
}  // namespace gluino::nn
