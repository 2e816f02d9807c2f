// SPDX-License-Identifier: Apache-2.0
#pragma once
/// HybridBlock, HybridSequential and HybridCustomBlock: blocks that hybridize() turns into
/// graphs, and the cache of graphs a hybridized block runs (Gluon's CachedOp): one graph per
/// input signature (the inputs' shapes, train or predict mode, recording or not), traced by
/// running forward once (graph::trace), then run by graph::Graph::run.  docs/hybridize.md.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "gluino/autograd/mode.hpp"
#include "gluino/core/parallel.hpp"
#include "gluino/core/storage.hpp"
#include "gluino/detail/precompiled.hpp"
#include "gluino/graph/graph.hpp"
#include "gluino/nn/block.hpp"
#include "gluino/nn/custom_block.hpp"
#include "gluino/nn/sequential.hpp"

namespace gluino::nn {

/// A block with a forward of one array that hybridize() turns into a graph.  Derive from it
/// as from Block (or use HybridCustomBlock, which also names the block after its class).
/// Gluon: gluon.HybridBlock (forward plays hybrid_forward's part; parameters are read with
/// param->data(), which a trace binds by name).
template <class T>
class BasicHybridBlock : public BasicBlock<T> {
 public:
  explicit BasicHybridBlock(BasicBlockOptions<T> opt = {}) : BasicBlock<T>(std::move(opt)) {
    this->set_hybridizable();
  }

 protected:
  BasicHybridBlock(BasicHybridBlock&&) = default;
};
using HybridBlock = BasicHybridBlock<float>;

/// A Sequential that hybridize() turns into one graph of all its children.  Gluon:
/// gluon.nn.HybridSequential.
template <class T>
class BasicHybridSequential : public BasicSequential<T> {
 public:
  explicit BasicHybridSequential(std::string prefix = "", BasicParameterDict<T> params = {})
      : BasicSequential<T>(
            BasicBlockOptions<T>{.alias = "hybridsequential", .prefix = std::move(prefix), .params = std::move(params)}) {
    this->set_hybridizable();
  }
  std::string type_name() const override { return "HybridSequential"; }
  AnyBlockPtr rebuild(Dtype to) const override {
    return rebuild_as(to, [&]<class U>() {
      return std::make_shared<BasicHybridSequential<U>>();
    });
  }
};
using HybridSequential = BasicHybridSequential<float>;

/// A user's block (as CustomBlock: named after its class, forward of any arity) that
/// hybridize() turns into a graph when its forward takes arrays only and returns an array or a
/// std::vector of arrays.  `class Net : public nn::HybridCustomBlock<Net>`.  Gluon: a
/// gluon.HybridBlock subclass.  One input and several outputs: `std::vector<NDArray<T>>
/// forward(NDArray<T> x)`, the input by value (a forward(const NDArray<T>&) overrides Block's,
/// which returns one array), called on the derived type: `auto outs = net(x)`.
template <class Derived, class T = float>
class BasicHybridCustomBlock : public BasicCustomBlock<Derived, T> {
 public:
  using HybridCustomBlock = BasicHybridCustomBlock;
  explicit BasicHybridCustomBlock(std::string prefix = "", BasicParameterDict<T> params = {})
      : BasicCustomBlock<Derived, T>(std::move(prefix), std::move(params)) {
    // C++ makes a forward(const NDArray<T>&) the override of Block's, whose return type it keeps.
    using ListOfOne = std::vector<NDArray<T>> (Derived::*)(const NDArray<T>&);
    static_assert(!requires { static_cast<ListOfOne>(&Derived::forward); },
                  "HybridCustomBlock: forward(const NDArray<T>&) is Block's virtual forward(x), which returns one "
                  "array; to return several from one input, take it by value: "
                  "std::vector<NDArray<T>> forward(NDArray<T> x) (docs/hybridize.md)");
    this->set_hybridizable();
  }

  /// As CustomBlock's call; hybridized, through the cached graph.
  template <class... A>
  decltype(auto) operator()(const A&... args) {
    Derived& self = static_cast<Derived&>(*this);
    static_assert(requires { self.forward(args...); },
                  "HybridCustomBlock: the block has no public forward taking these arguments");
    using R = std::remove_cvref_t<decltype(self.forward(args...))>;
    constexpr bool arrays_only = (std::is_same_v<A, NDArray<T>> && ...);
    using List = std::vector<NDArray<T>>;
    constexpr bool graphable = arrays_only && (std::is_same_v<R, NDArray<T>> || std::is_same_v<R, List>);
    static constexpr bool block_forward = sizeof...(A) == 1 && std::is_same_v<R, NDArray<T>>;
    return this->call(
        [&] {
          if constexpr (requires { self.infer_shape(args...); }) self.infer_shape(args...);
        },
        [&]() -> R {
          if constexpr (graphable) {
            if (this->hybrid_active()) {
              auto fwd = [&self](const List& in) {
                return [&]<std::size_t... I>(std::index_sequence<I...>) {
                  if constexpr (std::is_same_v<R, NDArray<T>>)
                    return List{self.forward(in[I]...)};
                  else
                    return List(self.forward(in[I]...));
                }(std::index_sequence_for<A...>{});
              };
              // The graph's key tells this forward from Block's virtual one.
              List out = this->run_hybrid(List{args...}, fwd, !block_forward);
              if constexpr (std::is_same_v<R, NDArray<T>>)
                return out[0];
              else
                return out;
            }
          } else {
            GLUINO_CHECK(StateError, !this->hybrid_active(), this->who(), ": hybridize: a HybridCustomBlock's forward "
                         "must take arrays only and return an array or a std::vector of arrays to run as a graph");
          }
          return self.forward(args...);
        },
        [&](List& in) { (detail::append_arrays<T>(in, args), ...); });
  }

 protected:
  BasicHybridCustomBlock(BasicHybridCustomBlock&&) = default;
};
template <class Derived>
using HybridCustomBlock = BasicHybridCustomBlock<Derived, float>;

/// The graph of forward(inputs) with block's parameters bound by name, those a deferred
/// initialization made during the trace too (graph::trace, then graph::name_parameters); what
/// forward returned goes to *outputs.  Used by hybridize() and by ONNX export (`purpose`: what
/// a refusal advises).
template <class T>
graph::Graph<T> trace_block(BasicBlock<T>& block, const graph::Function<T>& forward,
                            const std::vector<std::pair<std::string, NDArray<T>>>& inputs,
                            std::vector<NDArray<T>>* outputs = nullptr,
                            autograd::TracePurpose purpose = autograd::TracePurpose::hybridize) {
  auto initialized = [&] {
    std::vector<std::pair<std::string, NDArray<T>>> ps;
    for (const auto& [n, p] : block.collect_params())
      if (p->is_initialized()) ps.emplace_back(n, p->data());
    return ps;
  };
  graph::Graph<T> g = graph::trace<T>(forward, inputs, initialized(), block.name(), outputs, purpose);
  graph::name_parameters<T>(g, initialized());
  return g;
}

}  // namespace gluino::nn

namespace gluino::detail {

/// The graphs of one hybridized block, keyed by the input signature.
template <class T>
class CachedGraphs final : public HybridState<T> {
 public:
  using Arrays = typename HybridState<T>::Arrays;
  explicit CachedGraphs(nn::HybridizeOptions opt) : opt_(opt) {}

  Arrays call(nn::BasicBlock<T>& block, const Arrays& in, const std::function<Arrays(const Arrays&)>& forward,
              bool derived_forward) override {
    Key key{{}, autograd::is_training(), autograd::is_recording(), derived_forward};
    for (const NDArray<T>& x : in) {
      GLUINO_CHECK(StateError, x.defined(), block.name(), ": hybridize: an input is an empty array");
      key.shapes.push_back(x.shape());
    }
    // The blocks and parameters below this one: a graph traced through a descendant that has
    // gained a child since (add on it clears its own graphs only) or a replaced parameter is stale.
    std::vector<const void*> structure;
    block.apply([&](nn::BasicBlock<T>& b) {
      structure.push_back(&b);
      for (const auto& [n, p] : b.params()) structure.push_back(p.get());
    });
    std::shared_ptr<const graph::Graph<T>> g;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (structure != structure_) {
        graphs_.clear();
        structure_ = structure;
        // Held, so that no parameter of structure_ is freed and another made at its address
        // while the graphs traced through it are kept (it would pass the check above).
        held_.clear();
        block.apply([&](nn::BasicBlock<T>& b) {
          for (const auto& [n, p] : b.params()) held_.push_back(p);
        });
      }
      for (const auto& [k, e] : graphs_)
        if (k == key) g = e;
    }
    if (g) return g->run(in);
    // First call with this signature: trace forward (which also gives this call's result).
    std::vector<std::pair<std::string, NDArray<T>>> inputs;
    for (std::size_t i = 0; i < in.size(); ++i)
      inputs.emplace_back(in.size() == 1 ? "data" : "data" + std::to_string(i), in[i]);
    Arrays out;
    // The trace runs the ops once, imperatively: under a watching step arena (core/arena.hpp) its
    // arrays, and the gradients of what it records, go back to the system when freed instead of
    // filling the pool's cache, which the graph's own arena then makes unneeded.  For the same
    // reason the pool's cached blocks of sizes the trace did not use (left by imperative calls
    // before, such as one that inferred deferred shapes) go back to the system after it.
    std::shared_ptr<detail::StepArena> watch;
    std::uint64_t pool_tick = 0;
    if (opt_.static_alloc) {
      pool_tick = detail::memory_pool().clock();
      watch = std::make_shared<detail::StepArena>();
      (void)watch->begin_step();  // a new arena starts its (watched) step
    }
    std::shared_ptr<graph::Graph<T>> traced;
    {
      const detail::ArenaScope scope(watch.get());
      traced = std::make_shared<graph::Graph<T>>(nn::trace_block(block, forward, inputs, &out));
    }
    if (watch) {
      watch->end_run();
      (void)detail::memory_pool().release_unused_since(pool_tick);
    }
    if (!key.training && !key.recording && opt_.fold_batch_norm) graph::fold_batch_norm(*traced);
    // A convolution and its max pooling as one op, as Sequential runs them (which also keeps a
    // training step from saving the convolution's output: what fuse_relu_pool did before),
    // except where the team schedule would split them inside each image (graph/team.hpp: a
    // batch smaller than the thread count, not recording).
    if (key.recording || in.empty() || in[0].ndim() == 0 ||
        in[0].shape(0) >= static_cast<std::size_t>(get_num_threads()))
      graph::fuse_conv_max_pool(*traced);
    traced->static_alloc = opt_.static_alloc;
    std::lock_guard<std::mutex> lock(mutex_);
    if (structure != structure_) return out;  // the block changed meanwhile: this graph is stale
    for (const auto& entry : graphs_)
      if (entry.first == key) return out;  // another thread traced the same signature meanwhile
    if (graphs_.size() >= opt_.max_graphs && !graphs_.empty()) graphs_.erase(graphs_.begin());
    graphs_.emplace_back(std::move(key), std::move(traced));
    return out;
  }
  void clear() override {
    std::lock_guard<std::mutex> lock(mutex_);
    graphs_.clear();
  }
  std::vector<std::shared_ptr<const graph::Graph<T>>> graphs() const override {
    std::lock_guard<std::mutex> lock(mutex_);
    std::vector<std::shared_ptr<const graph::Graph<T>>> out;
    for (const auto& [k, g] : graphs_) out.push_back(g);
    return out;
  }

 private:
  struct Key {
    std::vector<Shape> shapes;
    bool training = false, recording = false;
    bool derived_forward = false;  // see HybridState::call
    bool operator==(const Key&) const = default;
  };
  nn::HybridizeOptions opt_;
  mutable std::mutex mutex_;
  std::vector<std::pair<Key, std::shared_ptr<const graph::Graph<T>>>> graphs_;
  std::vector<const void*> structure_;  // the block tree the graphs were traced through
  std::vector<std::shared_ptr<const void>> held_;  // structure_'s parameters
};

template <class T>
struct block_hybrid<nn::BasicBlock<T>> {
  static std::shared_ptr<HybridState<T>> make(const nn::HybridizeOptions& opt) {
    return std::make_shared<CachedGraphs<T>>(opt);
  }
};

}  // namespace gluino::detail

// Precompiled mode (detail/precompiled.hpp): this header's float and double instantiations.
#define GLUINO_NN_HYBRID_BLOCK_INSTANTIATIONS(X, T) \
  X class BasicHybridBlock<T>;                      \
  X class BasicHybridSequential<T>;
namespace gluino::nn {
GLUINO_EXTERN_INSTANTIATIONS(GLUINO_NN_HYBRID_BLOCK_INSTANTIATIONS)
}  // namespace gluino::nn
