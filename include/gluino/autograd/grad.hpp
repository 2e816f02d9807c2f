// SPDX-License-Identifier: Apache-2.0
#pragma once
/// autograd::grad: the gradients of heads with respect to chosen variables, returned rather than
/// written into grad(), and with create_graph themselves recorded, so that they can be
/// differentiated again (a gradient penalty, a second derivative).  Gluon: mx.autograd.grad.
///
///   x.attach_grad();
///   autograd::record rec;
///   auto y = nd::sum(x * x * x);
///   auto dx = autograd::grad(y, {x}, {.create_graph = true})[0];   // 3 x^2, recorded
///   nd::sum(dx).backward();                                         // x.grad() = 6 x
///
/// Under create_graph every node on a path to a variable runs its op's backward_graph member (the
/// gradient written with recorded nd ops, beside the op's forward and backward); an op without
/// one gives ValueError naming it.  The ordinary backward() and grad() without create_graph run
/// the ops' backward kernels as before.
#include <optional>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "gluino/autograd/anomaly.hpp"
#include "gluino/autograd/engine.hpp"
#include "gluino/autograd/mode.hpp"
#include "gluino/autograd/node.hpp"
#include "gluino/core/error.hpp"
#include "gluino/core/ndarray.hpp"
#include "gluino/detail/precompiled.hpp"

namespace gluino::autograd {

/// Options of grad(), in the order of mx.autograd.grad's keyword arguments.
template <class T>
struct GradOptions {
  /// One gradient per head, of the head's shape (empty: ones, as backward()).
  std::vector<NDArray<T>> head_grads{};
  /// Keep the graph for another backward or grad (default: the value of create_graph, as MXNet
  /// and PyTorch); without it the walked graph's saved arrays are freed.
  std::optional<bool> retain_graph{};
  /// Record the computation of the gradients, so that they have a history of their own.
  bool create_graph = false;
};

namespace detail {
/// a + b of one shape: how grad() sums the gradients of an array used twice under create_graph.
template <class T>
struct AccumulateGrad : OpBase {
  static constexpr const char* name = "accumulate_grad";
  NDArray<T> forward(const NDArray<T>& a, const NDArray<T>& b) {
    NDArray<T> out = a.copy();
    add_into(out, b);
    return out;
  }
  std::vector<NDArray<T>> backward(const NDArray<T>& dy) { return {dy, dy}; }
  std::vector<NDArray<T>> backward_graph(const NDArray<T>& dy, const GraphArgs<T>&) { return {dy, dy}; }
};
}  // namespace detail

/// The gradients of sum_i head_grads[i] * heads[i] with respect to each of `variables`, in their
/// order.  A variable is an array with attach_grad() (its grad() is not touched, as MXNet) or an
/// array computed by a recorded op; one no head depends on gets zeros.  Only the nodes on a path
/// from a head to a variable run.  With create_graph the gradients are recorded (call grad()
/// inside autograd::record, or the heads have no graph to walk), so a loss built from them can
/// call backward() or grad() again; each node then runs its op's backward_graph.
/// Errors: ValueError for no heads, a head_grads count that differs from the heads', or an op
/// without backward_graph under create_graph; ShapeError for a head gradient of another shape;
/// StateError for a head with no graph, a variable that is neither a leaf nor recorded, a
/// graph freed by an earlier backward()/grad() without retain_graph, or an array an op on a path
/// to a variable saved and that changed in place since (found before any node is freed), or a
/// call inside a forward being traced (hybridize, ONNX export), which a graph cannot replay.
template <class T>
std::vector<NDArray<T>> grad(const std::vector<NDArray<T>>& heads, const std::vector<NDArray<T>>& variables,
                             const GradOptions<T>& opt = {}) {
  detail::check_no_gradient_in_trace("autograd::grad");
  GLUINO_CHECK(ValueError, !heads.empty(), "grad: no heads given");
  GLUINO_CHECK(ValueError, opt.head_grads.empty() || opt.head_grads.size() == heads.size(), "grad: ",
               opt.head_grads.size(), " head gradients for ", heads.size(), " heads");
  const bool create = opt.create_graph;
  const bool retain = opt.retain_graph.value_or(create);
  using Impl = typename NDArray<T>::Impl;
  std::unordered_map<const Impl*, std::vector<std::size_t>> leaf_vars;
  std::unordered_map<const Node<T>*, std::vector<std::size_t>> node_vars;
  for (std::size_t k = 0; k < variables.size(); ++k) {
    const NDArray<T>& v = variables[k];
    GLUINO_CHECK(StateError, v.defined(), "grad: variable ", k, " is an empty array");
    if (v.impl()->grad_fn)
      node_vars[v.impl()->grad_fn.get()].push_back(k);
    else {
      GLUINO_CHECK(StateError, detail::requires_grad(v), "grad: variable ", k, " (shape ", v.shape(),
                   ") has no gradient attached and was not computed by a recorded op; call attach_grad() first");
      leaf_vars[v.impl().get()].push_back(k);
    }
  }
  // Under create_graph every op below is recorded, and the sums of gradients too.
  std::optional<detail::ModeGuard> recording;
  if (create) recording.emplace(true, is_training());
  auto add_to = [create](NDArray<T>& slot, NDArray<T> g) {
    if (!slot.defined()) {
      slot = std::move(g);
    } else if (create) {
      slot = apply(detail::AccumulateGrad<T>{}, slot, g);
    } else {
      NDArray<T> sum = slot.copy();  // slot may alias an op's saved array: never add in place
      detail::add_into(sum, g);
      slot = std::move(sum);
    }
  };
  std::vector<NDArray<T>> result(variables.size());
  std::unordered_map<const Node<T>*, NDArray<T>> grads;
  std::vector<std::shared_ptr<Node<T>>> roots;
  for (std::size_t h = 0; h < heads.size(); ++h) {
    const NDArray<T>& head = heads[h];
    GLUINO_CHECK(StateError, head.defined(), "grad: head ", h, " is an empty array");
    NDArray<T> dy;
    if (!opt.head_grads.empty() && opt.head_grads[h].defined()) {
      dy = opt.head_grads[h];
      GLUINO_CHECK(ShapeError, dy.shape() == head.shape(), "grad: head gradient ", h, " of shape ", dy.shape(),
                   " differs from the head's shape ", head.shape());
    } else {
      dy = NDArray<T>(head.shape());
      dy.fill(T(1));
    }
    const auto& fn = head.impl()->grad_fn;
    if (fn) {
      if (!grads.count(fn.get())) roots.push_back(fn);
      add_to(grads[fn.get()], dy);
      continue;
    }
    auto it = leaf_vars.find(head.impl().get());
    GLUINO_CHECK(StateError, it != leaf_vars.end(), "grad: head ", h, " (shape ", head.shape(),
                 ") has no recorded graph: compute it inside autograd::record from arrays that called attach_grad()");
    for (std::size_t k : it->second) add_to(result[k], dy);
  }

  // Reverse topological order of the nodes reachable from the heads (Kahn's algorithm).
  std::unordered_map<const Node<T>*, int> pending;
  {
    std::vector<Node<T>*> stack;
    for (const auto& r : roots)
      if (pending.try_emplace(r.get(), 0).second) stack.push_back(r.get());
    while (!stack.empty()) {
      Node<T>* n = stack.back();
      stack.pop_back();
      GLUINO_CHECK(StateError, !n->released(), "grad: the graph through '", n->name(),
                   "' was freed by an earlier backward() or grad(); pass retain_graph = true to walk it twice");
      for (const auto& e : n->inputs) {
        if (!e.node) continue;
        auto [it, fresh] = pending.try_emplace(e.node.get(), 0);
        ++it->second;
        if (fresh) stack.push_back(e.node.get());
      }
    }
  }
  std::vector<std::shared_ptr<Node<T>>> order, ready;
  for (const auto& r : roots)
    if (pending[r.get()] == 0) ready.push_back(r);
  while (!ready.empty()) {
    std::shared_ptr<Node<T>> n = std::move(ready.back());
    ready.pop_back();
    for (const auto& e : n->inputs)
      if (e.node && --pending[e.node.get()] == 0) ready.push_back(e.node);
    order.push_back(std::move(n));
  }
  // A node is walked only when a variable lies below it (or is its output).
  std::unordered_set<const Node<T>*> useful;
  for (auto it = order.rbegin(); it != order.rend(); ++it) {
    const Node<T>* n = it->get();
    bool u = node_vars.count(n) > 0;
    for (const auto& e : n->inputs) u = u || (e.node && useful.count(e.node.get())) || (e.leaf && leaf_vars.count(e.leaf.get()));
    if (u) useful.insert(n);
  }
  // Every node the walk may run is checked for in-place changes first, so that such an error
  // comes before any node is freed (without retain_graph): a second call names it again, as
  // backward() does.  Checked again at each step (a hook may write a saved array meanwhile).
  for (const auto& node : order)
    if (useful.count(node.get())) detail::check_versions(*node);
  // Under detect_anomaly, whose checks throw in the middle of the walk, no node is freed before
  // the walk is through: an AnomalyError leaves the graph whole (a second call finds the same
  // error rather than a graph freed by the first).  As backward() (engine.hpp).
  const bool whole = is_anomaly_enabled();

  for (const auto& node : order) {
    Node<T>* n = node.get();
    auto g = grads.find(n);
    if (useful.count(n) && g != grads.end()) {
      const NDArray<T> dy = std::move(g->second);
      grads.erase(g);
      if (auto v = node_vars.find(n); v != node_vars.end())
        for (std::size_t k : v->second) add_to(result[k], dy);
      detail::check_versions(*n);
      std::vector<NDArray<T>> gin;
      {  // first-order gradients go to the node's step arena (core/arena.hpp); recorded ones may outlive the step
        const ::gluino::detail::ArenaScope arena(create ? nullptr : n->arena.get());
        gin = create ? n->backward_graph(dy, GraphArgs<T>(node))
                     : n->backward(dy, std::vector<NDArray<T>>(n->inputs.size()));
      }
      GLUINO_CHECK(StateError, gin.size() == n->inputs.size(), "grad: op '", n->name(), "' returned ", gin.size(),
                   " gradients for ", n->inputs.size(), " inputs");
      for (std::size_t i = 0; i < gin.size(); ++i) {
        if (!gin[i].defined()) continue;
        const Edge<T>& e = n->inputs[i];
        if (is_anomaly_enabled()) detail::check_backward(n->name(), dy, i, gin[i]);
        GLUINO_CHECK(ShapeError, gin[i].shape() == e.shape, "grad: op '", n->name(), "' gave a gradient of shape ",
                     gin[i].shape(), " for input ", i, " of shape ", e.shape);
        if (e.node && useful.count(e.node.get())) {
          add_to(grads[e.node.get()], std::move(gin[i]));
        } else if (e.leaf) {
          if (auto v = leaf_vars.find(e.leaf.get()); v != leaf_vars.end())
            for (std::size_t k : v->second) add_to(result[k], gin[i]);
        }
      }
    }
    if (!retain && !whole) n->release();
  }
  if (!retain && whole)
    for (const auto& node : order) node->release();
  for (std::size_t k = 0; k < result.size(); ++k)
    if (!result[k].defined()) {
      result[k] = NDArray<T>(variables[k].shape());
      result[k].fill(T(0));
    }
  return result;
}

/// grad() of one head: autograd::grad(loss, {w1, w2}, {.create_graph = true}).
template <class T>
std::vector<NDArray<T>> grad(const NDArray<T>& head, const std::vector<NDArray<T>>& variables,
                             const std::type_identity_t<GradOptions<T>>& opt = {}) {
  return grad(std::vector<NDArray<T>>{head}, variables, opt);
}

}  // namespace gluino::autograd

// Precompiled mode (detail/precompiled.hpp): this header's float and double instantiations.
#define GLUINO_AUTOGRAD_GRAD_INSTANTIATIONS(X, T) \
  X std::vector<NDArray<T>> grad<T>(const std::vector<NDArray<T>>&, const std::vector<NDArray<T>>&, \
                                    const GradOptions<T>&);
namespace gluino::autograd {
GLUINO_EXTERN_INSTANTIATIONS(GLUINO_AUTOGRAD_GRAD_INSTANTIATIONS)
}  // namespace gluino::autograd
