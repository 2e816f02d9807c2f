// SPDX-License-Identifier: Apache-2.0
#pragma once
/// The autograd engine: apply<Op>() runs an op and, when recording, records it; backward()
/// walks the recorded graph in reverse topological order and fills the leaves' gradients.
#include <algorithm>
#include <memory>
#include <unordered_map>
#include <utility>
#include <vector>

#include "gluino/autograd/mode.hpp"
#include "gluino/autograd/node.hpp"
#include "gluino/detail/ndarray_class.hpp"

namespace gluino::autograd {

namespace detail {
/// True when gradients flow into x: it was produced by a recorded op or has a gradient attached.
template <class T>
bool requires_grad(const NDArray<T>& x) {
  if (!x.defined()) return false;
  const auto& im = *x.impl();
  return im.grad_fn != nullptr || (im.grad.defined() && im.grad_req != GradReq::null);
}

template <class T>
Edge<T> edge_of(const NDArray<T>& x) {
  Edge<T> e;
  if (!x.defined()) return e;
  e.shape = x.shape();
  if (x.impl()->grad_fn)
    e.node = x.impl()->grad_fn;
  else if (requires_grad(x))
    e.leaf = x.impl();
  return e;
}

template <class T>
void add_into(NDArray<T>& acc, const NDArray<T>& g) {
  T* a = acc.data();
  const T* b = g.data();
  const std::size_t n = acc.size();
  for (std::size_t i = 0; i < n; ++i) a[i] += b[i];
}

template <class T, class Op>
NDArray<T> record_node(Op&& op, NDArray<T> out, std::vector<Edge<T>> edges) {
  auto node = std::make_shared<OpNode<T, std::decay_t<Op>>>(std::forward<Op>(op));
  node->inputs = std::move(edges);
  // A fresh handle: the op's result may alias an input's storage (views), never its history.
  out = out.view_as(out.shape());
  out.impl()->grad_fn = std::move(node);
  return out;
}
}  // namespace detail

/// Runs op.forward(inputs...) and, inside record() with any input needing a gradient, records
/// a node so that backward() can call op.backward(dy).  Undefined inputs (optional bias) are
/// passed through and get no gradient.  The one place graph nodes are created.
template <class Op, class T, class... Rest>
NDArray<T> apply(Op op, const NDArray<T>& first, const Rest&... rest) {
  static_assert((std::is_same_v<Rest, NDArray<T>> && ...), "apply: every input must be an NDArray<T>");
  std::uint64_t mask = 0;
  if (is_recording()) {
    std::size_t i = 0;
    for (const NDArray<T>* x : {&first, &rest...}) mask |= std::uint64_t(detail::requires_grad(*x)) << i++;
  }
  op.needs_grad_mask = mask;
  NDArray<T> out = op.forward(first, rest...);
  if (mask == 0) return out;
  std::vector<Edge<T>> edges;
  for (const NDArray<T>* x : {&first, &rest...}) edges.push_back(detail::edge_of(*x));
  return detail::record_node<T>(std::move(op), std::move(out), std::move(edges));
}

/// apply() for ops over a list of inputs (concat, stack).
template <class Op, class T>
NDArray<T> apply_n(Op op, const std::vector<NDArray<T>>& inputs) {
  GLUINO_CHECK(ValueError, inputs.size() <= 64, Op::name, ": at most 64 inputs, got ", inputs.size());
  std::uint64_t mask = 0;
  if (is_recording())
    for (std::size_t i = 0; i < inputs.size(); ++i) mask |= std::uint64_t(detail::requires_grad(inputs[i])) << i;
  op.needs_grad_mask = mask;
  NDArray<T> out = op.forward(inputs);
  if (mask == 0) return out;
  std::vector<Edge<T>> edges;
  for (const auto& x : inputs) edges.push_back(detail::edge_of(x));
  return detail::record_node<T>(std::move(op), std::move(out), std::move(edges));
}

/// Computes the gradients of head with respect to every leaf with attach_grad() that it was
/// computed from, writing (grad_req write) or adding (grad_req add) into each leaf's grad().
/// head_grad defaults to ones of head's shape (MXNet's convention for non-scalar heads).
/// Without retain_graph the graph's saved arrays are freed; a second backward() then throws.
template <class T>
void backward(const NDArray<T>& head, const NDArray<T>& head_grad, bool retain_graph) {
  GLUINO_CHECK(StateError, head.defined(), "backward: called on an empty array");
  NDArray<T> dy0;
  if (head_grad.defined()) {
    GLUINO_CHECK(ShapeError, head_grad.shape() == head.shape(), "backward: head gradient shape ", head_grad.shape(),
                 " differs from the head's shape ", head.shape());
    dy0 = head_grad;
  } else {
    dy0 = NDArray<T>(head.shape());
    dy0.fill(T(1));
  }
  const auto& himpl = *head.impl();
  if (!himpl.grad_fn) {
    GLUINO_CHECK(StateError, himpl.grad.defined() && himpl.grad_req != GradReq::null,
                 "backward: the array of shape ", head.shape(),
                 " has no recorded graph: compute it inside autograd::record from arrays that called attach_grad()");
    NDArray<T> g = himpl.grad;
    if (himpl.grad_req == GradReq::add)
      detail::add_into(g, dy0);
    else
      std::copy(dy0.begin(), dy0.end(), g.begin());
    return;
  }

  // Reverse topological order by Kahn's algorithm over the consumer counts.
  std::unordered_map<Node<T>*, int> pending;
  std::unordered_map<const typename NDArray<T>::Impl*, int> leaf_uses;  // edges into each leaf
  std::vector<Node<T>*> stack{himpl.grad_fn.get()};
  pending[himpl.grad_fn.get()] = 0;
  while (!stack.empty()) {
    Node<T>* n = stack.back();
    stack.pop_back();
    GLUINO_CHECK(StateError, !n->released(), "backward: the graph through '", n->name(),
                 "' was freed by an earlier backward(); pass retain_graph = true to call backward twice");
    for (const auto& e : n->inputs) {
      if (e.leaf) ++leaf_uses[e.leaf.get()];
      if (!e.node) continue;
      auto [it, fresh] = pending.try_emplace(e.node.get(), 0);
      ++it->second;
      if (fresh) stack.push_back(e.node.get());
    }
  }

  std::unordered_map<Node<T>*, NDArray<T>> grads;
  std::vector<std::pair<std::shared_ptr<typename NDArray<T>::Impl>, NDArray<T>>> leaf_grads;
  auto accumulate = [](NDArray<T>& slot, NDArray<T> g) {
    if (!slot.defined()) {
      slot = std::move(g);
    } else {
      NDArray<T> sum = slot.copy();  // slot may alias an op's saved array: never add in place
      detail::add_into(sum, g);
      slot = std::move(sum);
    }
  };
  grads[himpl.grad_fn.get()] = dy0;
  std::vector<Node<T>*> ready{himpl.grad_fn.get()};
  while (!ready.empty()) {
    Node<T>* n = ready.back();
    ready.pop_back();
    NDArray<T> dy = std::move(grads[n]);
    grads.erase(n);
    // A leaf reached once, with grad_req write, can take its gradient in its own buffer.
    std::vector<NDArray<T>> dest(n->inputs.size());
    for (std::size_t i = 0; i < dest.size(); ++i) {
      const auto& leaf = n->inputs[i].leaf;
      if (leaf && leaf->grad_req == GradReq::write && leaf->grad.defined() && leaf_uses[leaf.get()] == 1 &&
          leaf->grad.shape() == n->inputs[i].shape)
        dest[i] = leaf->grad;
    }
    std::vector<NDArray<T>> gin = n->backward(dy, dest);
    GLUINO_CHECK(StateError, gin.size() == n->inputs.size(), "backward: op '", n->name(), "' returned ", gin.size(),
                 " gradients for ", n->inputs.size(), " inputs");
    for (std::size_t i = 0; i < gin.size(); ++i) {
      const Edge<T>& e = n->inputs[i];
      if (e.node) {
        if (gin[i].defined()) {
          GLUINO_CHECK(ShapeError, gin[i].shape() == e.shape, "backward: op '", n->name(), "' gave a gradient of shape ",
                       gin[i].shape(), " for input ", i, " of shape ", e.shape);
          accumulate(grads[e.node.get()], std::move(gin[i]));
        }
        if (--pending[e.node.get()] == 0) {
          ready.push_back(e.node.get());
          if (!grads.count(e.node.get())) {  // nothing flowed back: a zero gradient keeps the walk going
            NDArray<T> z(e.shape);
            z.fill(T(0));
            grads[e.node.get()] = std::move(z);
          }
        }
      } else if (e.leaf && gin[i].defined()) {
        GLUINO_CHECK(ShapeError, gin[i].shape() == e.shape, "backward: op '", n->name(), "' gave a gradient of shape ",
                     gin[i].shape(), " for input ", i, " of shape ", e.shape);
        auto it = std::find_if(leaf_grads.begin(), leaf_grads.end(), [&](const auto& p) { return p.first == e.leaf; });
        if (it == leaf_grads.end())
          leaf_grads.emplace_back(e.leaf, std::move(gin[i]));
        else
          accumulate(it->second, std::move(gin[i]));
      }
    }
    if (!retain_graph) n->release();
  }
  for (auto& [leaf, g] : leaf_grads) {
    if (!leaf->grad.defined() || leaf->grad_req == GradReq::null) continue;
    NDArray<T> target = leaf->grad;
    if (g.data() == target.data()) continue;  // the op wrote into the leaf's buffer already
    if (leaf->grad_req == GradReq::add)
      detail::add_into(target, g);
    else
      std::copy(g.begin(), g.end(), target.begin());
  }
}

}  // namespace gluino::autograd

// The rest of NDArray's methods (so that this header stands alone).
#include "gluino/core/ndarray.hpp"
