// SPDX-License-Identifier: Apache-2.0
#pragma once
/// Graph nodes: one per recorded op application, holding the op (its attributes and what its
/// backward reads) and an edge to each input.
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "gluino/detail/ndarray_class.hpp"

namespace gluino::autograd {

/// Base of every op struct.  apply() sets which inputs need a gradient before forward(), so
/// forward keeps only what backward will read and backward skips gradients nobody needs.
struct OpBase {
  std::uint64_t needs_grad_mask = 0;
  /// True when input i needs a gradient (false everywhere when not recording).
  bool needs_grad(std::size_t i) const { return (needs_grad_mask >> i) & 1u; }
  /// True when any input needs a gradient, i.e. forward should save for backward.
  bool recording() const { return needs_grad_mask != 0; }
};

/// Where an input's gradient goes: the node that produced it, or a leaf with attach_grad.
template <class T>
struct Edge {
  std::shared_ptr<Node<T>> node;
  std::shared_ptr<typename NDArray<T>::Impl> leaf;
  Shape shape;
};

/// A recorded op application.
template <class T>
class Node {
 public:
  virtual ~Node() = default;
  /// The op's name, for error messages.
  virtual const char* name() const = 0;
  /// Gradients of the inputs given the output gradient; undefined entries mean "none".
  /// dest[i], when defined, is the buffer input i's gradient will end up in (a leaf's grad()
  /// with grad_req write, used once): an op may write that gradient there and return dest[i],
  /// which saves an allocation and a copy.  Ops that ignore dest are just as correct.
  virtual std::vector<NDArray<T>> backward(const NDArray<T>& dy, const std::vector<NDArray<T>>& dest) = 0;
  /// Drops what the op saved (after a backward() without retain_graph).
  virtual void release() = 0;
  bool released() const { return released_; }

  std::vector<Edge<T>> inputs;

 protected:
  bool released_ = false;
};

/// A Node holding an Op by value.
template <class T, class Op>
class OpNode final : public Node<T> {
 public:
  explicit OpNode(Op op) : op_(std::move(op)) {}
  const char* name() const override { return Op::name; }
  std::vector<NDArray<T>> backward(const NDArray<T>& dy, const std::vector<NDArray<T>>& dest) override {
    if constexpr (requires { op_->backward(dy, dest); })
      return op_->backward(dy, dest);
    else
      return op_->backward(dy);
  }
  void release() override {
    op_.reset();
    this->released_ = true;
  }

 private:
  std::optional<Op> op_;
};

}  // namespace gluino::autograd
