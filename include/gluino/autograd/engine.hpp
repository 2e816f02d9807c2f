// SPDX-License-Identifier: Apache-2.0
#pragma once
/// The autograd engine: apply<Op>() runs an op and, when recording, records it; backward()
/// walks the recorded graph in reverse topological order and fills the leaves' gradients.
#include <algorithm>
#include <array>
#include <functional>
#include <memory>
#include <unordered_map>
#include <utility>
#include <vector>

#include "gluino/autograd/anomaly.hpp"
#include "gluino/autograd/hooks.hpp"
#include "gluino/autograd/mode.hpp"
#include "gluino/autograd/node.hpp"
#include "gluino/autograd/trace.hpp"
#include "gluino/core/ndarray.hpp"
#include "gluino/detail/precompiled.hpp"

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

/// A handle to x's data without its history (grad_fn, attached gradient): what a recorded op's
/// forward() receives, so that the arrays ops save never hold the graph (destroying a deep graph
/// stays iterative, see Node::~Node), nested ops record nothing, and apply() can tell which
/// inputs the op kept by counting references to these handles.
template <class T>
NDArray<T> without_history(const NDArray<T>& x) {
  return x.defined() ? x.view_as(x.shape()) : x;
}

/// Counts references to the inputs a recorded forward() receives, before and after it runs, to
/// learn which storages the op kept for backward (those, and a kept output, get their version
/// checked by backward()).  An op keeps an input when it holds the handle or a view of it; a
/// copy is not kept (an in-place change then does not matter).
template <class T>
class SaveProbe {
 public:
  SaveProbe(const NDArray<T>* in, std::size_t n) : in_(in), n_(n), before_(n, 0) {
    for (std::size_t i = 0; i < n; ++i)
      if (in[i].defined()) before_[i] = in[i].impl()->storage.use_count();
  }
  std::vector<SavedVersion<T>> kept(const NDArray<T>& out) const {
    std::vector<SavedVersion<T>> saved;
    auto note = [&](const NDArray<T>& x, std::size_t i) {
      saved.push_back({x.impl()->storage, x.impl()->storage->version(), i, x.shape()});
    };
    for (std::size_t i = 0; i < n_; ++i) {
      const NDArray<T>& x = in_[i];
      if (!x.defined()) continue;
      const bool is_out = out.impl() == x.impl();
      const long handle_refs = x.impl().use_count() - 1 - long(is_out);
      const long storage_refs = x.impl()->storage.use_count() - before_[i] -
                                long(!is_out && out.defined() && out.impl()->storage == x.impl()->storage);
      if (handle_refs > 0 || storage_refs > 0) note(x, i);
    }
    if (out.defined() && out.impl().use_count() > 1) note(out, SavedVersion<T>::output);
    return saved;
  }

 private:
  const NDArray<T>* in_;
  std::size_t n_;
  std::vector<long> before_;
};

/// Before a node's backward: StateError when a storage the op saved was changed in place since.
template <class T>
void check_versions(const Node<T>& n) {
  for (const SavedVersion<T>& s : n.saved) {
    const auto st = s.storage.lock();
    if (!st || st->version() == s.version) continue;
    if (s.input == SavedVersion<T>::output)
      ::gluino::detail::raise<StateError>("backward: the output (shape ", s.shape, ") of '", n.name(),
                                          "' was modified by an in-place operation after it was recorded (version ",
                                          s.version, ", now ", st->version(), ")");
    ::gluino::detail::raise<StateError>("backward: input ", s.input, " (shape ", s.shape, ") of '", n.name(),
                                        "' was modified by an in-place operation after it was recorded (version ",
                                        s.version, ", now ", st->version(), ")");
  }
}

template <class T, class Op>
NDArray<T> record_node(Op&& op, NDArray<T> out, std::vector<Edge<T>> edges, std::vector<SavedVersion<T>> saved) {
  auto node = std::make_shared<OpNode<T, std::decay_t<Op>>>(std::forward<Op>(op));
  node->inputs = std::move(edges);
  node->saved = std::move(saved);
  if (::gluino::detail::StepArena* a = ::gluino::detail::active_arena()) node->arena = a->shared_from_this();
  // A fresh handle: the op's result may alias an input's storage (views), never its history.
  out = out.view_as(out.shape());
  out.impl()->grad_fn = std::move(node);
  return out;
}
}  // namespace detail

/// Runs op.forward(inputs...) and, inside record() with any input needing a gradient, records
/// a node so that backward() can call op.backward(dy).  Undefined inputs (optional bias) are
/// passed through and get no gradient.  The one place graph nodes are created.
/// Under autograd::detect_anomaly, AnomalyError when the output holds a NaN or an infinity and
/// the inputs do not.  When recording, forward() receives the inputs without their history.
/// While a trace runs on this thread (autograd/trace.hpp), the op is also reported to it.
template <class Op, class T, class... Rest>
NDArray<T> apply(Op op, const NDArray<T>& first, const Rest&... rest) {
  static_assert((std::is_same_v<Rest, NDArray<T>> && ...), "apply: every input must be an NDArray<T>");
  constexpr std::size_t n = 1 + sizeof...(Rest);
  if (Tracer<T>* tracer = active_tracer<T>()) [[unlikely]] {
    auto traced = std::make_shared<const detail::TracedOpOf<T, Op>>(op, n);  // before forward changes it
    NDArray<T> out;
    {
      detail::TracePause<T> pause;
      out = apply(std::move(op), first, rest...);
    }
    tracer->record(std::move(traced), {first, rest...}, out);
    return out;
  }
  const std::array<const NDArray<T>*, n> xs{&first, &rest...};
  std::uint64_t mask = 0;
  if (is_recording())
    for (std::size_t i = 0; i < n; ++i) mask |= std::uint64_t(detail::requires_grad(*xs[i])) << i;
  op.needs_grad_mask = mask;
  if (mask == 0) {
    NDArray<T> out = op.forward(first, rest...);
    if (is_anomaly_enabled()) detail::check_forward(Op::name, xs.data(), n, out);
    return out;
  }
  std::array<NDArray<T>, n> plain;
  for (std::size_t i = 0; i < n; ++i) plain[i] = detail::without_history(*xs[i]);
  const detail::SaveProbe<T> probe(plain.data(), n);
  NDArray<T> out = [&]<std::size_t... I>(std::index_sequence<I...>) {
    return op.forward(plain[I]...);
  }(std::make_index_sequence<n>{});
  if (is_anomaly_enabled()) detail::check_forward(Op::name, xs.data(), n, out);
  std::vector<SavedVersion<T>> saved = probe.kept(out);
  std::vector<Edge<T>> edges;
  for (const NDArray<T>* x : xs) edges.push_back(detail::edge_of(*x));
  return detail::record_node<T>(std::move(op), std::move(out), std::move(edges), std::move(saved));
}

/// apply() for ops over a list of inputs (concat, stack).
template <class Op, class T>
NDArray<T> apply_n(Op op, const std::vector<NDArray<T>>& inputs) {
  GLUINO_CHECK(ValueError, inputs.size() <= 64, Op::name, ": at most 64 inputs, got ", inputs.size());
  if (Tracer<T>* tracer = active_tracer<T>()) [[unlikely]] {
    auto traced = std::make_shared<const detail::TracedOpOf<T, Op>>(op, detail::TracedOpOf<T, Op>::list);
    NDArray<T> out;
    {
      detail::TracePause<T> pause;
      out = apply_n(std::move(op), inputs);
    }
    tracer->record(std::move(traced), inputs, out);
    return out;
  }
  std::uint64_t mask = 0;
  if (is_recording())
    for (std::size_t i = 0; i < inputs.size(); ++i) mask |= std::uint64_t(detail::requires_grad(inputs[i])) << i;
  op.needs_grad_mask = mask;
  auto check = [&](const NDArray<T>& out) {
    std::vector<const NDArray<T>*> xs;
    for (const auto& x : inputs) xs.push_back(&x);
    detail::check_forward(Op::name, xs.data(), xs.size(), out);
  };
  if (mask == 0) {
    NDArray<T> out = op.forward(inputs);
    if (is_anomaly_enabled()) check(out);
    return out;
  }
  std::vector<NDArray<T>> plain;
  plain.reserve(inputs.size());
  for (const auto& x : inputs) plain.push_back(detail::without_history(x));
  const detail::SaveProbe<T> probe(plain.data(), plain.size());
  NDArray<T> out = op.forward(std::as_const(plain));
  if (is_anomaly_enabled()) check(out);
  std::vector<SavedVersion<T>> saved = probe.kept(out);
  std::vector<Edge<T>> edges;
  for (const auto& x : inputs) edges.push_back(detail::edge_of(x));
  return detail::record_node<T>(std::move(op), std::move(out), std::move(edges), std::move(saved));
}

namespace detail {
/// A traced op: a copy of the op as apply() received it, run again by apply() (or apply_n()
/// for ops over a list of inputs).
template <class T, class Op>
class TracedOpOf final : public TracedOp<T> {
 public:
  static constexpr std::size_t list = std::size_t(-1);
  TracedOpOf(const Op& op, std::size_t arity) : op_(op), arity_(arity) {}
  const char* name() const override { return Op::name; }
  Attributes attributes() const override {
    if constexpr (requires { op_.attributes(); })
      return op_.attributes();
    else
      return {};
  }
  std::vector<NDArray<T>> state() const override {
    if constexpr (requires { op_.state(); })
      return op_.state();
    else
      return {};
  }
  NDArray<T> run(const std::vector<NDArray<T>>& in) const override {
    if constexpr (requires(Op o, const std::vector<NDArray<T>>& v) { o.forward(v); }) {
      return apply_n(Op(op_), in);
    } else {
      GLUINO_CHECK(ValueError, in.size() == arity_, Op::name, ": traced with ", arity_, " inputs, run with ",
                   in.size());
      return run_fixed(in, std::make_index_sequence<max_arity>{});
    }
  }
  const void* op() const override { return &op_; }
  const std::type_info& op_type() const override { return typeid(Op); }

 private:
  static constexpr std::size_t max_arity = 4;  // the most inputs an op's forward takes
  // apply() with in.size() arguments: the arity forward takes.
  template <std::size_t... I>
  NDArray<T> run_fixed(const std::vector<NDArray<T>>& in, std::index_sequence<I...>) const {
    NDArray<T> out;
    const bool done = ((in.size() == I + 1 && call<I + 1>(in, out)) || ...);
    GLUINO_CHECK(ValueError, done, Op::name, ": cannot run a traced op of ", in.size(), " inputs");
    return out;
  }
  template <std::size_t N>
  bool call(const std::vector<NDArray<T>>& in, NDArray<T>& out) const {
    return [&]<std::size_t... J>(std::index_sequence<J...>) {
      if constexpr (requires(Op o, const NDArray<T>& a) { o.forward((void(J), a)...); }) {
        out = apply(Op(op_), in[J]...);
        return true;
      } else {
        return false;
      }
    }(std::make_index_sequence<N>{});
  }
  Op op_;
  std::size_t arity_;
};
}  // namespace detail

/// Computes the gradients of head with respect to every leaf with attach_grad() that it was
/// computed from, writing (grad_req write) or adding (grad_req add) into each leaf's grad().
/// head_grad defaults to ones of head's shape (MXNet's convention for non-scalar heads).
/// Without retain_graph the graph's saved arrays are freed; a second backward() then throws.
/// StateError names the op and input when an array an op saved was changed in place after the
/// op was recorded (Storage::version), found before any gradient is written or the graph freed;
/// under detect_anomaly, AnomalyError names the first op whose backward made a non-finite
/// gradient from a finite one.  A leaf with gradient-ready hooks (autograd/hooks.hpp) gets its
/// gradient, and its hooks called, as soon as it is final.  Under detect_anomaly it is all or
/// nothing: an AnomalyError leaves every grad() as it was and the graph whole (hooks run at the
/// end); otherwise an op's backward that throws leaves what was written and freed so far.
/// StateError inside a forward being traced (hybridize, ONNX export): a graph cannot replay it.
template <class T>
void backward(const NDArray<T>& head, const NDArray<T>& head_grad, bool retain_graph) {
  detail::check_no_gradient_in_trace("backward");
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
    g.bump_version();
    if (detail::has_grad_hooks<T>(himpl)) detail::run_grad_hooks<T>(himpl);
    return;
  }

  // Reverse topological order by Kahn's algorithm over the consumer counts.  Every node's saved
  // arrays are checked here, before any gradient is written or node freed, so that an in-place
  // change found makes backward() throw with every grad() and the graph as they were.
  std::unordered_map<Node<T>*, int> pending;
  std::unordered_map<const typename NDArray<T>::Impl*, int> leaf_uses;  // edges into each leaf
  std::vector<Node<T>*> stack{himpl.grad_fn.get()};
  pending[himpl.grad_fn.get()] = 0;
  while (!stack.empty()) {
    Node<T>* n = stack.back();
    stack.pop_back();
    GLUINO_CHECK(StateError, !n->released(), "backward: the graph through '", n->name(),
                 "' was freed by an earlier backward(); pass retain_graph = true to call backward twice");
    detail::check_versions(*n);
    for (const auto& e : n->inputs) {
      if (e.leaf) ++leaf_uses[e.leaf.get()];
      if (!e.node) continue;
      auto [it, fresh] = pending.try_emplace(e.node.get(), 0);
      ++it->second;
      if (fresh) stack.push_back(e.node.get());
    }
  }

  // The storages the graph's ops saved: backward reads them, so no op may write a leaf's gradient
  // into one of them during the walk (dest, below).  A head gradient that is a leaf's gradient
  // buffer is copied first, for the same reason (every op below reads a part of it).
  // Collected (sorted) at the first leaf that could take its gradient in place.
  std::vector<const Storage<T>*> saved;
  bool saved_known = false;
  auto graph_saved = [&](const Storage<T>* st) {
    if (!saved_known) {
      for (const auto& [n, uses] : pending)
        for (const SavedVersion<T>& sv : n->saved)
          if (const auto p = sv.storage.lock()) saved.push_back(p.get());
      std::sort(saved.begin(), saved.end(), std::less<>());
      saved_known = true;
    }
    return std::binary_search(saved.begin(), saved.end(), st, std::less<>());
  };
  if (head_grad.defined())
    for (const auto& [leaf, uses] : leaf_uses)
      if (leaf->grad.defined() && leaf->grad.impl()->storage == head_grad.impl()->storage) {
        dy0 = head_grad.copy();
        break;
      }

  // Under detect_anomaly, whose checks throw in the middle of the walk, backward() is all or
  // nothing: no leaf gradient is written, no hook run and no node freed before every node's
  // gradients have been made and checked, so that an AnomalyError leaves every grad() as it was
  // and the graph whole (a second call finds the same error).  It costs what the walk otherwise
  // saves: a gradient array per leaf rather than writing into grad(), and the saved arrays kept
  // to the end.  Without it, an op's backward that throws leaves the gradients written so far
  // (straight into grad(), or by a hook's leaf) and the nodes walked so far freed.
  const bool whole = is_anomaly_enabled();
  std::vector<std::shared_ptr<typename NDArray<T>::Impl>> hooked_at_end;  // whole: their hooks, in walk order
  std::unordered_map<Node<T>*, NDArray<T>> grads;
  std::vector<std::pair<std::shared_ptr<typename NDArray<T>::Impl>, NDArray<T>>> leaf_grads;
  // Writing a leaf's gradient is an in-place change of its buffer, counted (Storage::version): a
  // graph that saved the buffer as data (a gradient-ready hook's leaf is written mid-walk, and a
  // retained graph may run again) then throws in check_versions instead of reading new values.
  auto write_leaf = [](typename NDArray<T>::Impl& leaf, const NDArray<T>& g) {
    if (!leaf.grad.defined() || leaf.grad_req == GradReq::null) return;
    NDArray<T> target = leaf.grad;
    target.bump_version();
    if (g.data() == target.data()) return;  // the op wrote into the leaf's buffer already
    if (leaf.grad_req == GradReq::add)
      detail::add_into(target, g);
    else
      std::copy(g.begin(), g.end(), target.begin());
  };
  // Leaves with gradient-ready hooks (autograd/hooks.hpp) get their gradient written, and their
  // hooks called, as soon as their last edge is walked; the others at the end, all together.
  std::unordered_map<const typename NDArray<T>::Impl*, int> hooked_left;
  if (!whole)
    for (const auto& [leaf, uses] : leaf_uses)
      if (detail::has_grad_hooks<T>(*leaf)) hooked_left.emplace(leaf, uses);
  auto leaf_reached = [&](const std::shared_ptr<typename NDArray<T>::Impl>& leaf) {
    auto h = hooked_left.find(leaf.get());
    if (h == hooked_left.end() || --h->second > 0) return;
    auto it = std::find_if(leaf_grads.begin(), leaf_grads.end(), [&](const auto& p) { return p.first == leaf; });
    if (it != leaf_grads.end()) {
      write_leaf(*leaf, it->second);
      leaf_grads.erase(it);
    }
    if (leaf->grad.defined() && leaf->grad_req != GradReq::null) detail::run_grad_hooks<T>(*leaf);
  };
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
      if (!whole && leaf && leaf->grad_req == GradReq::write && leaf->grad.defined() && leaf_uses[leaf.get()] == 1 &&
          leaf->grad.shape() == n->inputs[i].shape && !graph_saved(leaf->grad.impl()->storage.get()))
        dest[i] = leaf->grad;
    }
    detail::check_versions(*n);  // again: a gradient-ready hook's leaf buffer may have been written since
    std::vector<NDArray<T>> gin;
    {
      const ::gluino::detail::ArenaScope arena(n->arena.get());
      gin = n->backward(dy, dest);
    }
    GLUINO_CHECK(StateError, gin.size() == n->inputs.size(), "backward: op '", n->name(), "' returned ", gin.size(),
                 " gradients for ", n->inputs.size(), " inputs");
    if (is_anomaly_enabled())
      for (std::size_t i = 0; i < gin.size(); ++i) detail::check_backward(n->name(), dy, i, gin[i]);
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
      } else if (e.leaf) {
        if (gin[i].defined()) {
          GLUINO_CHECK(ShapeError, gin[i].shape() == e.shape, "backward: op '", n->name(),
                       "' gave a gradient of shape ", gin[i].shape(), " for input ", i, " of shape ", e.shape);
          auto it =
              std::find_if(leaf_grads.begin(), leaf_grads.end(), [&](const auto& p) { return p.first == e.leaf; });
          if (it == leaf_grads.end())
            leaf_grads.emplace_back(e.leaf, std::move(gin[i]));
          else
            accumulate(it->second, std::move(gin[i]));
        }
        if (!hooked_left.empty()) leaf_reached(e.leaf);
        if (whole && detail::has_grad_hooks<T>(*e.leaf) &&
            std::find(hooked_at_end.begin(), hooked_at_end.end(), e.leaf) == hooked_at_end.end())
          hooked_at_end.push_back(e.leaf);
      }
    }
    if (!retain_graph && !whole) n->release();
  }
  for (auto& [leaf, g] : leaf_grads) write_leaf(*leaf, g);
  if (!whole) return;
  for (const auto& leaf : hooked_at_end)
    if (leaf->grad.defined() && leaf->grad_req != GradReq::null) detail::run_grad_hooks<T>(*leaf);
  if (!retain_graph)
    for (const auto& [n, count] : pending) n->release();
}

}  // namespace gluino::autograd

namespace gluino::detail {
/// NDArray's backward() (see core/ndarray.hpp).
template <class A>
struct ndarray_autograd_ops {
  static void backward(const A& head, const A& head_grad, bool retain_graph) {
    autograd::backward(head, head_grad, retain_graph);
  }
};
}  // namespace gluino::detail

// Precompiled mode (detail/precompiled.hpp): this header's float and double instantiations.
#define GLUINO_AUTOGRAD_ENGINE_INSTANTIATIONS(X, T) \
  X void backward<T>(const NDArray<T>&, const NDArray<T>&, bool);
namespace gluino::autograd {
GLUINO_EXTERN_INSTANTIATIONS(GLUINO_AUTOGRAD_ENGINE_INSTANTIATIONS)
}  // namespace gluino::autograd
