// SPDX-License-Identifier: Apache-2.0
#pragma once
/// Graph nodes: one per recorded op application, holding the op (its attributes and what its
/// backward reads) and an edge to each input.
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "gluino/core/error.hpp"
#include "gluino/core/ndarray.hpp"

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

/// A storage that a recorded op kept for its backward, and the storage's version (see
/// Storage::version) when the op was recorded: backward() throws StateError when they differ.
template <class T>
struct SavedVersion {
  static constexpr std::size_t output = std::size_t(-1);
  std::weak_ptr<Storage<T>> storage;  // weak: an op that drops what it saved frees it
  std::uint64_t version = 0;
  std::size_t input = output;         // which input it belongs to, or `output`
  Shape shape;
};

/// What an op's backward_graph receives besides dy, under autograd::grad's create_graph: its
/// saved arrays joined back to their histories, so that the gradient it builds from them with
/// recorded nd ops is itself differentiable.
template <class T>
class GraphArgs {
 public:
  explicit GraphArgs(std::shared_ptr<Node<T>> node) : node_(std::move(node)) {}
  /// Input i as the op saved it (`saved`), with input i's history: the leaf itself, or a
  /// handle to the saved data whose grad_fn is the node that made input i (none for a constant).
  NDArray<T> input(std::size_t i, const NDArray<T>& saved) const;
  /// The op's output as it saved it, with this node as its history.
  NDArray<T> output(const NDArray<T>& saved) const;

 private:
  std::shared_ptr<Node<T>> node_;
};

/// A recorded op application.
template <class T>
class Node {
 public:
  /// Frees the graph above this node without recursion, so that a chain of millions of ops
  /// does not overflow the stack: the input nodes this node alone holds are unlinked from their
  /// own inputs first and then freed one by one from a worklist.  (The arrays ops save hold no
  /// graph: apply() hands forward() handles without history.)
  virtual ~Node();
  /// The op's name, for error messages.
  virtual const char* name() const = 0;
  /// Gradients of the inputs given the output gradient; undefined entries mean "none".
  /// dest[i], when defined, is the buffer input i's gradient will end up in (a leaf's grad()
  /// with grad_req write, used once): an op may write that gradient there and return dest[i],
  /// which saves an allocation and a copy.  Ops that ignore dest are just as correct.
  virtual std::vector<NDArray<T>> backward(const NDArray<T>& dy, const std::vector<NDArray<T>>& dest) = 0;
  /// The gradients as backward() computes them, but built from recorded nd ops on dy and on
  /// args' arrays (autograd::grad with create_graph), so that they can be differentiated again.
  /// ValueError "op '<name>' does not support higher-order gradients" unless the op has one.
  virtual std::vector<NDArray<T>> backward_graph(const NDArray<T>& dy, const GraphArgs<T>& args) {
    (void)dy, (void)args;
    ::gluino::detail::raise<ValueError>("grad: op '", name(),
                                        "' does not support higher-order gradients (create_graph)");
  }
  /// Drops what the op saved (after a backward() without retain_graph).
  virtual void release() = 0;
  bool released() const { return released_; }

  std::vector<Edge<T>> inputs;
  /// The storages the op saved, with their versions at record time (checked before backward).
  std::vector<SavedVersion<T>> saved;
  /// The step arena active when the op was recorded (a hybridized graph's run, core/arena.hpp):
  /// backward allocates the gradients there too.  Null for imperative ops.
  std::shared_ptr<::gluino::detail::StepArena> arena;

 protected:
  bool released_ = false;
};

template <class T>
Node<T>::~Node() {
  std::vector<std::shared_ptr<Node<T>>> orphans;
  auto unlink = [&orphans](Node<T>& n) {
    for (Edge<T>& e : n.inputs)
      if (e.node) orphans.push_back(std::move(e.node));
  };
  unlink(*this);
  while (!orphans.empty()) {
    std::shared_ptr<Node<T>> n = std::move(orphans.back());
    orphans.pop_back();
    // The last owner: take its inputs before it dies, so its destructor has nothing to recurse
    // into.  (Another owner releasing concurrently only costs one level of nesting.)
    if (n.use_count() == 1) unlink(*n);
  }
}

template <class T>
NDArray<T> GraphArgs<T>::input(std::size_t i, const NDArray<T>& saved) const {
  const Edge<T>& e = node_->inputs.at(i);
  if (e.leaf) return NDArray<T>(e.leaf);
  if (!e.node) return saved;
  GLUINO_CHECK(StateError, saved.defined() && saved.size() == e.shape.size(), "grad: op '", node_->name(),
               "' did not save input ", i, " (shape ", e.shape, ") that its backward_graph reads");
  NDArray<T> h = saved.view_as(e.shape);
  h.impl()->grad_fn = e.node;
  return h;
}

template <class T>
NDArray<T> GraphArgs<T>::output(const NDArray<T>& saved) const {
  NDArray<T> h = saved.view_as(saved.shape());
  h.impl()->grad_fn = node_;
  return h;
}

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
  /// The op's `backward_graph(dy, args)` member when it has one (the error of Node otherwise).
  std::vector<NDArray<T>> backward_graph(const NDArray<T>& dy, const GraphArgs<T>& args) override {
    if constexpr (requires { op_->backward_graph(dy, args); })
      return op_->backward_graph(dy, args);
    else
      return Node<T>::backward_graph(dy, args);
  }
  void release() override {
    op_.reset();
    this->saved.clear();
    this->released_ = true;
  }

 private:
  std::optional<Op> op_;
};

}  // namespace gluino::autograd
