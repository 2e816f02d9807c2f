// SPDX-License-Identifier: Apache-2.0
#pragma once
/// Gradient-ready hooks: a function backward() calls as soon as a leaf's gradient is final for
/// that backward() call, while the rest of the graph is still being walked.  PyTorch's
/// register_post_accumulate_grad_hook (Gluon has none).  dist::GradientReducer uses them to
/// start reducing a bucket of gradients while backward goes on with the layers below.
///
///   NDArray<float> w = ...;
///   w.attach_grad();
///   auto hook = autograd::on_gradient_ready(w, [](const NDArray<float>& grad) { ... });
///   loss.backward();   // calls the hook once w.grad() holds the whole gradient
///   // the hook is removed when `hook` is destroyed (or hook.remove())
#include <cstdint>
#include <functional>
#include <memory>
#include <type_traits>
#include <utility>
#include <vector>

#include "gluino/core/error.hpp"
#include "gluino/core/ndarray.hpp"

namespace gluino::autograd {

/// What a gradient-ready hook receives: the leaf's grad() after backward wrote it.
template <class T>
using GradReadyFn = std::function<void(const NDArray<T>& grad)>;

/// The hooks of one leaf (an array with attach_grad), in registration order.
template <class T>
struct GradHooks {
  std::vector<std::pair<std::uint64_t, GradReadyFn<T>>> hooks;
  std::uint64_t next_id = 1;
};

/// Owns one registered hook and removes it when destroyed (movable, not copyable).  The hook
/// lives on the leaf's state, so it follows the array's handles and views of it that share
/// that state; a hook on a leaf already freed is simply gone.
class GradHookHandle {
 public:
  GradHookHandle() = default;
  explicit GradHookHandle(std::function<void()> remove) : remove_(std::move(remove)) {}
  GradHookHandle(GradHookHandle&& o) noexcept : remove_(std::exchange(o.remove_, nullptr)) {}
  GradHookHandle& operator=(GradHookHandle&& o) noexcept {
    if (this != &o) {
      remove();
      remove_ = std::exchange(o.remove_, nullptr);
    }
    return *this;
  }
  GradHookHandle(const GradHookHandle&) = delete;
  GradHookHandle& operator=(const GradHookHandle&) = delete;
  ~GradHookHandle() { remove(); }
  /// Unregisters the hook now (nothing if it was removed already).
  void remove() {
    if (remove_) std::exchange(remove_, nullptr)();
  }

 private:
  std::function<void()> remove_;
};

/// Registers fn to run each time backward() finishes leaf's gradient: once per backward() that
/// reaches the leaf, after every path to it has been summed and grad() written (grad_req write
/// or add), before backward() returns.  Hooks run on the thread that called backward(), in
/// registration order; an exception from one leaves backward() at once (gradients of leaves
/// not reached yet are then not written).  Under autograd::detect_anomaly they run at the end
/// of backward(), once every gradient is written (backward() is all or nothing there).
/// StateError when leaf has no gradient attached.
/// T comes from the leaf alone, so a lambda is taken as it is: on_gradient_ready(w, [](const
/// NDArray<float>& g) {...}) (it needed on_gradient_ready<float>, the lambda not being a
/// std::function to deduce T from).
template <class T>
[[nodiscard]] GradHookHandle on_gradient_ready(const NDArray<T>& leaf, std::type_identity_t<GradReadyFn<T>> fn) {
  GLUINO_CHECK(StateError, leaf.defined(), "on_gradient_ready: the array is empty");
  GLUINO_CHECK(StateError, leaf.impl()->grad.defined() && leaf.grad_req() != GradReq::null,
               "on_gradient_ready: the array of shape ", leaf.shape(),
               " has no gradient attached; call attach_grad() first");
  GLUINO_CHECK(ValueError, bool(fn), "on_gradient_ready: the hook is empty");
  auto& slot = leaf.impl()->grad_hooks;
  if (!slot) slot = std::make_shared<GradHooks<T>>();
  const std::uint64_t id = slot->next_id++;
  slot->hooks.emplace_back(id, std::move(fn));
  std::weak_ptr<GradHooks<T>> weak = slot;
  return GradHookHandle([weak, id] {
    if (auto h = weak.lock())
      std::erase_if(h->hooks, [id](const auto& entry) { return entry.first == id; });
  });
}

namespace detail {
/// True when the leaf state has hooks to call.
template <class T>
bool has_grad_hooks(const typename NDArray<T>::Impl& leaf) {
  return leaf.grad_hooks && !leaf.grad_hooks->hooks.empty();
}
/// Calls the leaf's hooks with its gradient (a copy of the list: a hook may remove itself).
template <class T>
void run_grad_hooks(const typename NDArray<T>::Impl& leaf) {
  const auto hooks = leaf.grad_hooks->hooks;
  for (const auto& [id, fn] : hooks) fn(leaf.grad);
}
}  // namespace detail

}  // namespace gluino::autograd
