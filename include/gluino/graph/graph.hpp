// SPDX-License-Identifier: Apache-2.0
#pragma once
/// Graph<T>: a static graph of ops, made by tracing a function once (graph::trace), then run on
/// new inputs of the same shapes (Graph::run) as Gluon's CachedOp runs a hybridized block.
/// Each node is an op (a copy of the op struct apply() ran, with its attributes), its input
/// values and its output value; values are the graph's inputs, named parameters, constants
/// (arrays the traced code made without ops, such as nd::zeros) and node outputs.
/// The executor frees each intermediate array after its last use, planned once by liveness;
/// fold_batch_norm() rewrites a convolution followed by an inference-mode batch norm into one
/// convolution; fuse_relu_pool() moves a convolution's ReLU past the max pooling after it.
/// With static_alloc, a run's arrays live in one buffer planned from an earlier run
/// (core/arena.hpp).  A predict-mode run on a batch smaller than the thread count splits each
/// image's ops over one team of threads (graph/team.hpp).  docs/hybridize.md tells the whole
/// story.
#include <algorithm>
#include <atomic>
#include <cassert>
#include <cmath>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <ostream>
#include <sstream>
#include <string>
#include <typeinfo>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <variant>
#include <vector>

#include "gluino/autograd/engine.hpp"
#include "gluino/autograd/mode.hpp"
#include "gluino/autograd/trace.hpp"
#include "gluino/core/ndarray.hpp"
#include "gluino/core/parallel.hpp"
#include "gluino/core/warning.hpp"
#include "gluino/detail/precompiled.hpp"
#include "gluino/graph/content_key.hpp"
#include "gluino/graph/team.hpp"
#include "gluino/nd/batch_norm.hpp"
#include "gluino/nd/conv.hpp"
#include "gluino/nd/conv_pool.hpp"
#include "gluino/nd/pool.hpp"
#include "gluino/nd/shape_ops.hpp"

namespace gluino::graph {

namespace detail {
/// A value or node id (an int, -1 for an absent input) as an index, for an id known to be >= 0.
inline std::size_t idx(int id) {
  assert(id >= 0);
  return static_cast<std::size_t>(id);
}
}  // namespace detail

/// What a value of the graph is.
enum class ValueKind { input, parameter, constant, node };

template <class T>
struct Value {
  ValueKind kind = ValueKind::node;
  std::string name;   ///< input and parameter names; "%<id>" otherwise
  Shape shape;        ///< the shape it had when traced
  NDArray<T> array;   ///< parameters and constants: the array itself (a parameter's data handle)
  int producer = -1;  ///< node values: the node's index
};

/// The autograd flags an op ran under (autograd/mode.hpp).
struct Mode {
  bool recording = false;
  bool training = false;
  bool operator==(const Mode&) const = default;
};

template <class T>
struct Node {
  std::shared_ptr<const autograd::TracedOp<T>> op;
  std::vector<int> inputs;  ///< value ids, -1 for an undefined (absent) input such as no bias
  std::vector<int> state;   ///< value ids of the arrays the op holds (batch_norm's running stats)
  int output = -1;
  /// The flags the op ran under when traced, where forward had changed them from those of the
  /// traced call (an autograd::pause, record, train_mode or predict_mode scope inside forward):
  /// run() runs the node under them, so that what forward kept out of the recorded graph stays
  /// out, as imperatively.  Empty: the run's own flags.
  std::optional<Mode> mode;
};

/// A traced graph.  Built by trace(); values and nodes are in execution order.
template <class T>
class Graph {
 public:
  std::vector<Value<T>> values;
  std::vector<Node<T>> nodes;
  std::vector<int> inputs;   ///< value ids of the inputs, in call order
  std::vector<int> outputs;  ///< value ids of the outputs, in return order
  /// Gluon's static_alloc: run() and the backward of what it recorded allocate their arrays in
  /// the graph's step arena (core/arena.hpp), at the places planned from an earlier run.
  bool static_alloc = true;

  /// Runs the nodes in order on new inputs (the traced shapes; ShapeError otherwise) and
  /// returns the outputs.  Each op runs through autograd::apply, so a graph run inside
  /// autograd::record() records as the traced code did, and gives the same gradients.  An
  /// intermediate array is released right after its last consumer ran (see plan()).  Without
  /// recording, tracing or anomaly detection, on a batch (the first input's first axis) smaller
  /// than get_num_threads(), the nodes team.hpp splits run in one team of threads each
  /// (team_runs() counts them); team_schedule = false turns that off.  A node traced under
  /// other autograd flags than the traced call's (Node::mode) runs under those.  An output that
  /// is a constant of the graph is returned as a copy (trace() does the same for its caller).
  std::vector<NDArray<T>> run(const std::vector<NDArray<T>>& in) const;
  /// Whether run() may take the team schedule (graph/team.hpp) on small batches.
  bool team_schedule = true;
  /// How many runs took the team schedule (for tests and benches).
  std::size_t team_runs() const { return team_runs_ ? team_runs_->load(std::memory_order_relaxed) : 0; }
  /// How many times the team schedule packed a convolution's filters (kept across runs until the
  /// weight changes; tests).
  std::size_t team_packings() const { return packs_ ? packs_->packings() : 0; }
  /// Computes, for each value, the last node that reads it (the liveness plan run() follows).
  /// trace() calls it; call it again after rewriting nodes.
  void plan();
  /// The number of node outputs alive at most at once when run() follows the plan, and their
  /// bytes at the traced shapes (the memory plan's peak).
  std::pair<std::size_t, std::size_t> peak_live() const;
  /// The step arena of static_alloc (null before plan()); its capacity() is the planned bytes.
  const ::gluino::detail::StepArena* arena() const { return arena_.get(); }
  /// The index of the parameter or input value named name, or -1.
  int find(const std::string& name) const {
    for (std::size_t i = 0; i < values.size(); ++i)
      if (values[i].name == name && values[i].kind != ValueKind::node) return int(i);
    return -1;
  }

  /// One line per node: "%5 = convolution(%0 data, %1 conv0_weight, %2 conv0_bias) {stride=[1, 1], ...}".
  friend std::ostream& operator<<(std::ostream& os, const Graph& g) {
    auto val = [&](int v) { return v < 0 ? std::string("none") : g.label(v); };
    for (int v : g.inputs) os << "input " << val(v) << ' ' << g.values[detail::idx(v)].shape << '\n';
    for (const Node<T>& n : g.nodes) {
      os << '%' << n.output << " = " << n.op->name() << '(';
      for (std::size_t i = 0; i < n.inputs.size(); ++i) os << (i ? ", " : "") << val(n.inputs[i]);
      os << ')';
      if (n.mode)
        os << " mode(" << (n.mode->recording ? "recording" : "paused") << ", "
           << (n.mode->training ? "train" : "predict") << ')';
      if (!n.state.empty()) {
        os << " state(";
        for (std::size_t i = 0; i < n.state.size(); ++i) os << (i ? ", " : "") << val(n.state[i]);
        os << ')';
      }
      const autograd::Attributes attrs = n.op->attributes();
      if (!attrs.empty()) {
        os << " {";
        for (std::size_t i = 0; i < attrs.size(); ++i) {
          os << (i ? ", " : "") << attrs[i].first << '=';
          std::visit(
              [&](const auto& a) {
                if constexpr (std::is_same_v<std::decay_t<decltype(a)>, std::vector<std::int64_t>>) {
                  os << '[';
                  for (std::size_t k = 0; k < a.size(); ++k) os << (k ? ", " : "") << a[k];
                  os << ']';
                } else {
                  os << a;
                }
              },
              attrs[i].second);
        }
        os << '}';
      }
      os << ' ' << g.values[detail::idx(n.output)].shape << '\n';
    }
    os << "output";
    for (int v : g.outputs) os << ' ' << val(v);
    return os << '\n';
  }
  std::string label(int v) const {
    const Value<T>& x = values[detail::idx(v)];
    std::string s(1, '%');
    s += std::to_string(v);
    if (x.kind != ValueKind::node && !x.name.empty()) s.append(1, ' ').append(x.name);
    return s;
  }

 private:
  std::vector<std::size_t> last_use_;  // per value: the index of the last node reading it
  std::shared_ptr<std::atomic<std::size_t>> team_runs_;  // made by plan(), as arena_
  std::shared_ptr<PackedFilters<T>> packs_;              // the team's packed filters, kept across runs
  bool use_team(const std::vector<NDArray<T>>& in) const;
  std::shared_ptr<::gluino::detail::StepArena> arena_;  // made by plan(): a new graph, a new plan
};

/// A function of arrays, as trace() calls it.
template <class T>
using Function = std::function<std::vector<NDArray<T>>(const std::vector<NDArray<T>>&)>;

/// Runs f(inputs) once with a tracer installed and returns the graph of the ops it ran, and
/// (in outputs) what f returned.  params are the arrays f reads by name (a block's parameters:
/// their data handles); any other array an op reads that no op made becomes a constant.
/// StateError, naming `who`, when f reads array values (those of any array the trace knows:
/// inputs, op outputs, params, constants, through any handle) or draws random numbers outside ops
/// (control flow on data cannot be traced; the message's advice follows `purpose`), returns an
/// array no op made, or hands an op a view of a traced array made without an op.
template <class T>
Graph<T> trace(const Function<T>& f, const std::vector<std::pair<std::string, NDArray<T>>>& inputs,
               const std::vector<std::pair<std::string, NDArray<T>>>& params, const std::string& who,
               std::vector<NDArray<T>>* outputs = nullptr,
               autograd::TracePurpose purpose = autograd::TracePurpose::hybridize);

/// Marks the constants of g that are the arrays of params (by identity) as those parameters
/// (trace() does it for the parameters it is given; a deferred initialization during the trace
/// makes more).
template <class T>
void name_parameters(Graph<T>& g, const std::vector<std::pair<std::string, NDArray<T>>>& params);

/// In place: each convolution (without its fused relu) whose output only an inference-mode
/// batch_norm over channels reads becomes one node computing both, with the batch norm folded
/// into the convolution's weight and bias (w' = w * gamma / sqrt(var + eps),
/// b' = (b - mean) * gamma / sqrt(var + eps) + beta), recomputed when a parameter changes.
/// For graphs run without recording only (the folded weights have no gradient).  Returns how
/// many were folded.
template <class T>
std::size_t fold_batch_norm(Graph<T>& g);

/// In place: each convolution with its fused ReLU whose output only a max pooling reads
/// computes the convolution alone, and the pooling applies the ReLU to its (smaller) output
/// (max commutes with the ReLU).  Then the convolution's backward no longer needs its output,
/// and a training step keeps the pooling's arg-max and output instead of the convolution's
/// whole output: for a graph run while recording, the memory the fusion saves.  The same values
/// and gradients for finite inputs (a window holding a NaN gives 0 where the unfused pair gave
/// the window's largest other value).  Returns how many were fused.
template <class T>
std::size_t fuse_relu_pool(Graph<T>& g);

/// In place: each 2-D convolution (with or without its ReLU) whose output only a max pooling
/// reads becomes, with that pooling, one convolution_max_pool node (nd/conv_pool.hpp), as
/// nn::Sequential runs a Conv2D and the MaxPool2D after it: the convolution's output is never
/// stored whole.  A pooling that applies the ReLU (fuse_relu_pool's) gives the fused node its
/// ReLU.  The same values and gradients as the pair.  Not for a graph that the team schedule
/// runs (a batch smaller than the thread count, without recording): the team splits the pair
/// inside each image itself.  Returns how many were fused.
template <class T>
std::size_t fuse_conv_max_pool(Graph<T>& g);

// ---- implementation ----

namespace detail {

template <class T>
class GraphTracer final : public autograd::Tracer<T> {
 public:
  GraphTracer(Graph<T>& g, std::string who, autograd::TracePurpose purpose)
      : g_(g), label_(std::move(who) + ": " + autograd::trace_step(purpose)),
        entry_{autograd::is_recording(), autograd::is_training()} {}
  GraphTracer(const GraphTracer&) = delete;
  GraphTracer& operator=(const GraphTracer&) = delete;

  int add_value(ValueKind kind, std::string name, const NDArray<T>& a) {
    Value<T> v;
    v.kind = kind;
    v.name = std::move(name);
    v.shape = a.shape();
    if (kind == ValueKind::parameter || kind == ValueKind::constant) v.array = a;
    // Code between the ops must not compute on the elements of any value, through any handle to
    // its storage (data() throws on this thread while the trace runs): the graph could not
    // replay it, and would freeze a branch taken on them.  A constant is read by reference at
    // every run (a block's array, a parameter a deferred initialization made during the trace).
    storages_.insert(a.impl()->storage.get());
    g_.values.push_back(std::move(v));
    const int id = int(g_.values.size()) - 1;
    ids_[a.impl().get()] = id;
    keep_.push_back(a);  // alive until the trace ends, so that no other array reuses its address
    return id;
  }
  // The caller's array behind an input (trace() hands forward a view of it): read by an op, it
  // is not the input but an array the block holds (or the caller's own), a constant.
  void add_source(const NDArray<T>& a) { sources_.push_back(a); }
  int id_of(const NDArray<T>& a, const char* op) {
    if (!a.defined()) return -1;
    auto it = ids_.find(a.impl().get());
    if (it != ids_.end()) return it->second;
    const bool source = std::any_of(sources_.begin(), sources_.end(),
                                    [&](const NDArray<T>& s) { return s.impl() == a.impl(); });
    for (const NDArray<T>& k : keep_)
      GLUINO_CHECK(StateError, source || k.impl()->storage != a.impl()->storage, label_, ": an input of '",
                   op, "' (shape ", a.shape(), ") is a view of a traced array made without an op (NDArray::view_as, "
                   "detach); a graph cannot follow it: use nd::reshape or another op");
    return add_value(ValueKind::constant, "const" + std::to_string(constants_++), a);
  }
  void record(std::shared_ptr<const autograd::TracedOp<T>> op, const std::vector<NDArray<T>>& in,
              const NDArray<T>& out) override {
    Node<T> n;
    for (const NDArray<T>& x : in) n.inputs.push_back(id_of(x, op->name()));
    for (const NDArray<T>& s : op->state()) n.state.push_back(id_of(s, op->name()));
    n.op = std::move(op);
    // Called by apply() inside the scopes forward opened around the op.
    const Mode now{autograd::is_recording(), autograd::is_training()};
    if (now != entry_) n.mode = now;
    n.output = add_value(ValueKind::node, "", out);
    g_.values[idx(n.output)].producer = int(g_.nodes.size());
    g_.nodes.push_back(std::move(n));
  }
  // The shapes of the op outputs something outside the trace still holds now that forward has
  // returned, other than forward's outputs `out`: a block member or a forward hook's capture
  // (an attention map kept for display), which the graph's later runs never update.
  std::vector<Shape> held_elsewhere(const std::vector<NDArray<T>>& out) const {
    std::vector<Shape> held;
    for (const NDArray<T>& k : keep_) {
      const auto it = ids_.find(k.impl().get());
      if (it == ids_.end() || g_.values[idx(it->second)].kind != ValueKind::node) continue;
      long expected = 1;  // keep_'s own handle
      for (const NDArray<T>& o : out) expected += long(o.impl() == k.impl());
      if (k.impl().use_count() > expected) held.push_back(k.shape());
    }
    return held;
  }
  const std::string& label() const { return label_; }
  const std::unordered_set<const void*>* storages() const override { return &storages_; }
  int output_id(const NDArray<T>& a, std::size_t i) const {
    GLUINO_CHECK(StateError, a.defined(), label_, ": output ", i, " is an empty array");
    auto it = ids_.find(a.impl().get());
    GLUINO_CHECK(StateError, it != ids_.end(), label_, ": output ", i, " (shape ", a.shape(),
                 ") was not computed by ops from the inputs and parameters (it was written element by element, "
                 "or is a view made without an op); a graph cannot reproduce it");
    return it->second;
  }

 private:
  Graph<T>& g_;
  std::string label_;  // "<block>: <step>", which messages start with
  std::unordered_map<const void*, int> ids_;
  std::unordered_set<const void*> storages_;  // of every value: kept alive in keep_
  std::vector<NDArray<T>> keep_;
  std::vector<NDArray<T>> sources_;
  std::size_t constants_ = 0;
  Mode entry_;  // the flags of the traced call
};

/// What a graph returns for an output that is one of its constants: a copy, unless gradients
/// flow into the array (an array with attach_grad() or a recorded history, which the caller
/// needs itself, as a parameter's).
template <class T>
NDArray<T> output_copy(const NDArray<T>& a) {
  return autograd::detail::requires_grad(a) ? a : a.copy();
}

/// A convolution with an inference-mode batch norm folded into it (fold_batch_norm).  Inputs:
/// x, w, b (or none), gamma, beta, running mean, running variance.
template <class T>
class FoldedConvBatchNorm final : public autograd::TracedOp<T> {
 public:
  FoldedConvBatchNorm(const nd::ops::Convolution<T>& conv, const nd::ops::BatchNorm<T>& bn) : conv_(conv) {
    eps_ = bn.opt.eps;
    fix_gamma_ = bn.opt.fix_gamma;
  }
  const char* name() const override { return "convolution_batch_norm"; }
  autograd::Attributes attributes() const override {
    autograd::Attributes a = conv_.attributes();
    a.emplace_back("eps", eps_);
    a.emplace_back("fix_gamma", std::int64_t(fix_gamma_));
    return a;
  }
  std::vector<NDArray<T>> state() const override { return {}; }
  NDArray<T> run(const std::vector<NDArray<T>>& in) const override {
    GLUINO_CHECK(StateError, !autograd::is_recording(), "convolution_batch_norm: a graph with folded batch norms "
                 "runs without recording only");
    NDArray<T> w, b;
    {
      const ::gluino::detail::ArenaScope pool(nullptr);  // the folded weights outlive the run
      std::lock_guard<std::mutex> lock(mutex_);
      refresh(in);
      w = w_, b = b_;
    }
    return autograd::apply(nd::ops::Convolution<T>(conv_), in[0], w, b);
  }
  const void* op() const override { return &conv_; }
  const std::type_info& op_type() const override { return typeid(FoldedConvBatchNorm); }

 private:
  // Recomputes the folded weight and bias when any source holds other values (ContentKey: a
  // write through data() counts too).
  void refresh(const std::vector<NDArray<T>>& in) const {
    if (w_.defined() && key_.matches(in.data() + 1, in.size() - 1)) return;
    w_ = b_ = NDArray<T>();  // until the new ones are made: a throw below leaves no stale pair
    const NDArray<T>& w = in[1];
    const NDArray<T>& b = in[2];
    const T *g = in[3].data(), *beta = in[4].data(), *mean = in[5].data(), *var = in[6].data();
    const std::size_t O = w.shape(0), per = w.size() / O;
    NDArray<T> wf(w.shape()), bf(Shape{O});
    const T* pw = w.data();
    T *pwf = wf.data(), *pbf = bf.data();
    for (std::size_t o = 0; o < O; ++o) {
      const double scale = (fix_gamma_ ? 1.0 : double(g[o])) / std::sqrt(double(var[o]) + eps_);
      for (std::size_t k = 0; k < per; ++k) pwf[o * per + k] = T(double(pw[o * per + k]) * scale);
      const double bias = b.defined() ? double(b.data()[o]) : 0.0;
      pbf[o] = T((bias - double(mean[o])) * scale + double(beta[o]));
    }
    key_.record(in.data() + 1, in.size() - 1);
    w_ = std::move(wf);
    b_ = std::move(bf);
  }
  nd::ops::Convolution<T> conv_;
  double eps_ = 1e-5;
  bool fix_gamma_ = false;
  // The folded weight and bias, and the values of the sources they were made from.  Several
  // threads may run one graph: the cache is behind mutex_.
  mutable std::mutex mutex_;
  mutable NDArray<T> w_, b_;
  mutable ContentKey<T> key_;
};

}  // namespace detail

template <class T>
Graph<T> trace(const Function<T>& f, const std::vector<std::pair<std::string, NDArray<T>>>& inputs,
               const std::vector<std::pair<std::string, NDArray<T>>>& params, const std::string& who,
               std::vector<NDArray<T>>* outputs, autograd::TracePurpose purpose) {
  Graph<T> g;
  detail::GraphTracer<T> tracer(g, who, purpose);
  std::vector<NDArray<T>> in;
  for (const auto& [name, a] : inputs) {
    GLUINO_CHECK(StateError, a.defined(), who, ": trace: input '", name, "' is an empty array");
    // f gets a view of each input made by an op (gradients reach the caller's array), a value of
    // its own: the array itself may be given twice, or be a parameter's or one the block holds,
    // and the graph would then read one for the other on later calls.
    NDArray<T> x = nd::reshape(a, a.shape());
    tracer.add_source(a);
    g.inputs.push_back(tracer.add_value(ValueKind::input, name, x));
    in.push_back(x);
  }
  for (const auto& [name, a] : params)
    if (a.defined()) tracer.add_value(ValueKind::parameter, name, a);
  std::vector<NDArray<T>> out;
  {
    autograd::TraceScope<T> scope(&tracer, who, purpose);
    out = f(in);
  }
  for (std::size_t i = 0; i < out.size(); ++i) {
    g.outputs.push_back(tracer.output_id(out[i], i));
    // A constant returned (a begin-state made with nd::zeros): the caller gets an array of its
    // own, so that writing into it leaves the graph's constant, which later runs read, alone.
    if (g.values[detail::idx(g.outputs.back())].kind == ValueKind::constant) out[i] = detail::output_copy(out[i]);
  }
  if (purpose == autograd::TracePurpose::hybridize)
    if (const std::vector<Shape> held = tracer.held_elsewhere(out); !held.empty()) {
      std::ostringstream os;
      os << tracer.label() << ": " << held.size() << " array(s) computed inside forward (shape " << held[0]
         << (held.size() > 1 ? ", ..." : "") << ") are still held after the trace, by a block member or a "
         << "forward hook; later calls run the graph, which does not update them: return such an array "
            "from forward, or call the block without hybridize()";
      warn(os.str());
    }
  g.plan();
  if (outputs) *outputs = std::move(out);
  return g;
}

template <class T>
void name_parameters(Graph<T>& g, const std::vector<std::pair<std::string, NDArray<T>>>& params) {
  for (const auto& [name, a] : params)
    for (Value<T>& v : g.values)
      if (v.kind == ValueKind::constant && a.defined() && v.array.defined() && v.array.impl() == a.impl()) {
        v.kind = ValueKind::parameter;
        v.name = name;
      }
}

template <class T>
void Graph<T>::plan() {
  last_use_.assign(values.size(), 0);
  for (std::size_t i = 0; i < nodes.size(); ++i)
    for (int v : nodes[i].inputs)
      if (v >= 0) last_use_[detail::idx(v)] = i;
  for (int v : outputs) last_use_[detail::idx(v)] = nodes.size();  // kept to the end
  arena_ = std::make_shared<::gluino::detail::StepArena>();
  team_runs_ = std::make_shared<std::atomic<std::size_t>>(0);
  packs_ = std::make_shared<PackedFilters<T>>();
}

template <class T>
bool Graph<T>::use_team(const std::vector<NDArray<T>>& in) const {
  if (!team_schedule || !team_runs_ || in.empty() || in[0].ndim() == 0 || autograd::is_recording() ||
      autograd::active_tracer<T>() || autograd::is_anomaly_enabled())
    return false;
#if defined(_OPENMP)
  if (omp_in_parallel()) return false;  // run_team would run one thread, and a barrier would bind to the outer team
#endif
  const int threads = get_num_threads();
  return threads > 1 && in[0].shape(0) < static_cast<std::size_t>(threads);
}

template <class T>
std::vector<NDArray<T>> Graph<T>::run(const std::vector<NDArray<T>>& in) const {
  GLUINO_CHECK(ValueError, in.size() == inputs.size(), "graph: ", inputs.size(), " inputs expected, got ", in.size());
  std::vector<NDArray<T>> slot(values.size());
  for (std::size_t i = 0; i < in.size(); ++i) {
    const Value<T>& v = values[detail::idx(inputs[i])];
    GLUINO_CHECK(ShapeError, in[i].defined() && in[i].shape() == v.shape, "graph: input '", v.name,
                 "' was traced with shape ", v.shape, ", got ", in[i].defined() ? in[i].shape() : Shape{});
    slot[detail::idx(inputs[i])] = in[i];
  }
  for (std::size_t v = 0; v < values.size(); ++v)
    if (values[v].kind == ValueKind::parameter || values[v].kind == ValueKind::constant) slot[v] = values[v].array;
  // static_alloc: this run's arrays (and its recorded nodes' gradients) go to the step arena
  // when no other run holds it.
  ::gluino::detail::StepArena* arena = static_alloc && arena_ && arena_->begin_step() ? arena_.get() : nullptr;
  struct EndRun {
    ::gluino::detail::StepArena* a;
    ~EndRun() {
      if (a) a->end_run();
    }
  } end_run{arena};
  const ::gluino::detail::ArenaScope scope(arena);
  std::vector<NDArray<T>> args;
  auto release = [&](std::size_t i) {  // the plan: free intermediates after their last reader
    for (int v : nodes[i].inputs) {
      if (v < 0) continue;
      const std::size_t u = detail::idx(v);
      if (values[u].kind == ValueKind::node && last_use_[u] == i) slot[u] = NDArray<T>();
    }
  };
  const bool team = use_team(in);
  std::vector<TeamStep<T>> steps;
  bool teamed = false;
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    args.clear();
    for (int v : nodes[i].inputs) args.push_back(v < 0 ? NDArray<T>() : slot[detail::idx(v)]);
    if (team) {  // the nodes from i on that team.hpp splits, prepared in order, then run by one team
      std::size_t j = i, work = 0;
      steps.clear();
      for (;;) {
        if (nodes[j].mode) break;  // run alone, under its own flags
        TeamStep<T> s;
        // Packed filters are kept only for a weight the graph holds (a parameter or constant:
        // its storage lives on and in-place changes bump its version); a weight computed in the
        // run may come back in the same arena block with other values.
        const std::vector<int>& ins = nodes[j].inputs;
        const ValueKind weight = ins.size() > 1 && ins[1] >= 0 ? values[detail::idx(ins[1])].kind : ValueKind::node;
        const bool held = weight == ValueKind::parameter || weight == ValueKind::constant;
        // A relu of the previous node's product, its only reader (no later node or output
        // reads the product): applied in the product's step, on its array.
        if (!steps.empty() && ins.size() == 1 && ins[0] >= 0 && last_use_[detail::idx(ins[0])] == j &&
            values[detail::idx(ins[0])].kind == ValueKind::node && steps.back().absorb_relu(*nodes[j].op, args)) {
          slot[detail::idx(nodes[j].output)] = steps.back().output();
        } else {
          if (!s.prepare(*nodes[j].op, args, held ? packs_.get() : nullptr, j)) break;
          work += s.has_work();
          slot[detail::idx(nodes[j].output)] = s.output();
          steps.push_back(std::move(s));
        }
        if (++j == nodes.size()) break;
        args.clear();
        for (int v : nodes[j].inputs) args.push_back(v < 0 ? NDArray<T>() : slot[detail::idx(v)]);
      }
      if (!steps.empty()) {
        for (std::size_t k = 0; k + 1 < steps.size(); ++k) steps[k].fuse_pooling(steps[k + 1], get_num_threads());
        if (work) run_team_steps(steps, get_num_threads());
        teamed = teamed || work;
        steps.clear();
        for (std::size_t k = i; k < j; ++k) release(k);
        i = j - 1;
        continue;
      }
    }
    if (nodes[i].mode) {
      const autograd::detail::ModeGuard mode(nodes[i].mode->recording, nodes[i].mode->training);
      slot[detail::idx(nodes[i].output)] = nodes[i].op->run(args);
    } else {
      slot[detail::idx(nodes[i].output)] = nodes[i].op->run(args);
    }
    release(i);
  }
  if (teamed) team_runs_->fetch_add(1, std::memory_order_relaxed);
  args.clear();
  std::vector<NDArray<T>> out;
  for (int v : outputs) {
    const std::size_t u = detail::idx(v);
    // A constant output: each run returns an array of its own, as the forward made a new one at
    // every imperative call (a caller writing into the array it got would change later runs).
    out.push_back(values[u].kind == ValueKind::constant ? detail::output_copy(slot[u]) : slot[u]);
  }
  return out;
}

template <class T>
std::pair<std::size_t, std::size_t> Graph<T>::peak_live() const {
  std::size_t live = 0, bytes = 0, peak = 0, peak_bytes = 0;
  std::vector<bool> alive(values.size(), false);
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    const Node<T>& n = nodes[i];
    alive[detail::idx(n.output)] = true;
    ++live, bytes += values[detail::idx(n.output)].shape.size() * sizeof(T);
    if (bytes > peak_bytes) peak = live, peak_bytes = bytes;
    for (int v : n.inputs) {
      if (v < 0) continue;
      const std::size_t u = detail::idx(v);
      if (alive[u] && last_use_[u] == i) alive[u] = false, --live, bytes -= values[u].shape.size() * sizeof(T);
    }
  }
  return {peak, peak_bytes};
}

namespace detail {
/// Per value: how many node inputs and graph outputs read it.
template <class T>
std::vector<std::size_t> reader_counts(const Graph<T>& g) {
  std::vector<std::size_t> readers(g.values.size(), 0);
  for (const Node<T>& n : g.nodes)
    for (int v : n.inputs)
      if (v >= 0) ++readers[idx(v)];
  for (int v : g.outputs) ++readers[idx(v)];
  return readers;
}
// The convolution node whose output only `pool_node`, a max pooling, reads (readers:
// reader_counts(g)), or null: the pair fuse_relu_pool and fuse_conv_max_pool rewrite.
template <class T>
Node<T>* convolution_under_max_pool(Graph<T>& g, const std::vector<std::size_t>& readers, const Node<T>& pool_node) {
  if (pool_node.op->op_type() != typeid(nd::ops::Pooling<T>) ||
      static_cast<const nd::ops::Pooling<T>*>(pool_node.op->op())->opt.type != nd::pool_type::max)
    return nullptr;
  const int x = pool_node.inputs[0];
  if (x < 0 || g.values[idx(x)].kind != ValueKind::node || readers[idx(x)] != 1) return nullptr;
  Node<T>& conv_node = g.nodes[idx(g.values[idx(x)].producer)];
  return conv_node.op->op_type() == typeid(nd::ops::Convolution<T>) && conv_node.inputs.size() == 3 &&
                 conv_node.mode == pool_node.mode
             ? &conv_node
             : nullptr;
}
// Removes the nodes `drop` marks (a pass folded them into others), renumbers the producers and
// plans the graph again.
template <class T>
void drop_nodes(Graph<T>& g, const std::vector<bool>& drop) {
  std::vector<Node<T>> kept;
  for (std::size_t j = 0; j < g.nodes.size(); ++j)
    if (!drop[j]) kept.push_back(std::move(g.nodes[j]));
  g.nodes = std::move(kept);
  for (std::size_t i = 0; i < g.nodes.size(); ++i) g.values[idx(g.nodes[i].output)].producer = int(i);
  g.plan();
}
}  // namespace detail

template <class T>
std::size_t fold_batch_norm(Graph<T>& g) {
  const std::vector<std::size_t> readers = detail::reader_counts(g);
  std::size_t folded = 0;
  std::vector<bool> drop(g.nodes.size(), false);
  for (std::size_t j = 0; j < g.nodes.size(); ++j) {
    Node<T>& bn_node = g.nodes[j];
    if (bn_node.op->op_type() != typeid(nd::ops::BatchNorm<T>)) continue;
    const auto& bn = *static_cast<const nd::ops::BatchNorm<T>*>(bn_node.op->op());
    const int x = bn_node.inputs[0];
    if (bn.batch_stats || bn.opt.axis != 1 || x < 0 || g.values[detail::idx(x)].kind != ValueKind::node ||
        readers[detail::idx(x)] != 1 || bn_node.state.size() != 2 || bn_node.inputs[1] < 0 || bn_node.inputs[2] < 0)
      continue;
    Node<T>& conv_node = g.nodes[detail::idx(g.values[detail::idx(x)].producer)];
    // Not where forward changed the flags (a record scope would need the pair's gradients).
    if (conv_node.op->op_type() != typeid(nd::ops::Convolution<T>) || conv_node.mode || bn_node.mode) continue;
    const auto& conv = *static_cast<const nd::ops::Convolution<T>*>(conv_node.op->op());
    if (conv.relu) continue;
    conv_node.op = std::make_shared<const detail::FoldedConvBatchNorm<T>>(conv, bn);
    conv_node.inputs = {conv_node.inputs[0], conv_node.inputs[1], conv_node.inputs[2], bn_node.inputs[1],
                        bn_node.inputs[2],   bn_node.state[0],    bn_node.state[1]};
    // The folded node now produces the batch norm's value.
    const int y = bn_node.output;
    g.values[detail::idx(y)].producer = g.values[detail::idx(x)].producer;
    conv_node.output = y;
    drop[j] = true;
    ++folded;
  }
  if (folded) detail::drop_nodes(g, drop);
  return folded;
}

template <class T>
std::size_t fuse_relu_pool(Graph<T>& g) {
  const std::vector<std::size_t> readers = detail::reader_counts(g);
  std::size_t fused = 0;
  for (Node<T>& pool_node : g.nodes) {
    Node<T>* const conv_node = detail::convolution_under_max_pool(g, readers, pool_node);
    if (!conv_node) continue;
    nd::ops::Pooling<T> pool = *static_cast<const nd::ops::Pooling<T>*>(pool_node.op->op());
    nd::ops::Convolution<T> conv = *static_cast<const nd::ops::Convolution<T>*>(conv_node->op->op());
    if (pool.relu || !conv.relu) continue;
    conv.relu = false;
    pool.relu = true;
    conv_node->op = std::make_shared<const autograd::detail::TracedOpOf<T, nd::ops::Convolution<T>>>(conv, 3);
    pool_node.op = std::make_shared<const autograd::detail::TracedOpOf<T, nd::ops::Pooling<T>>>(pool, 1);
    ++fused;
  }
  if (fused) g.plan();
  return fused;
}

template <class T>
std::size_t fuse_conv_max_pool(Graph<T>& g) {
  const std::vector<std::size_t> readers = detail::reader_counts(g);
  std::size_t fused = 0;
  std::vector<bool> drop(g.nodes.size(), false);
  for (std::size_t j = 0; j < g.nodes.size(); ++j) {
    Node<T>& pool_node = g.nodes[j];
    Node<T>* const found = detail::convolution_under_max_pool(g, readers, pool_node);
    if (!found) continue;
    Node<T>& conv_node = *found;
    const auto& pool = *static_cast<const nd::ops::Pooling<T>*>(pool_node.op->op());
    const auto& conv = *static_cast<const nd::ops::Convolution<T>*>(conv_node.op->op());
    nd::ops::ConvolutionMaxPool<T> both;
    both.conv_opt = conv.opt;
    both.pool_opt = pool.opt;
    both.relu = conv.relu || pool.relu;  // relu after max pooling = max pooling of the relu
    conv_node.op = std::make_shared<const autograd::detail::TracedOpOf<T, nd::ops::ConvolutionMaxPool<T>>>(both, 3);
    // The fused node now produces the pooling's value.
    const int y = pool_node.output;
    g.values[detail::idx(y)].producer = g.values[detail::idx(pool_node.inputs[0])].producer;
    conv_node.output = y;
    drop[j] = true;
    ++fused;
  }
  if (fused) detail::drop_nodes(g, drop);
  return fused;
}

}  // namespace gluino::graph

// Precompiled mode (detail/precompiled.hpp): this header's float and double instantiations.
#define GLUINO_GRAPH_GRAPH_INSTANTIATIONS(X, T)                                                                  \
  X class Graph<T>;                                                                                              \
  X Graph<T> trace<T>(const Function<T>&, const std::vector<std::pair<std::string, NDArray<T>>>&,               \
                      const std::vector<std::pair<std::string, NDArray<T>>>&, const std::string&,               \
                      std::vector<NDArray<T>>*, autograd::TracePurpose);                                         \
  X void name_parameters<T>(Graph<T>&, const std::vector<std::pair<std::string, NDArray<T>>>&);              \
  X std::size_t fold_batch_norm<T>(Graph<T>&);                                                                 \
  X std::size_t fuse_relu_pool<T>(Graph<T>&);                                                                   \
  X std::size_t fuse_conv_max_pool<T>(Graph<T>&);
namespace gluino::graph {
GLUINO_EXTERN_INSTANTIATIONS(GLUINO_GRAPH_GRAPH_INSTANTIATIONS)
}  // namespace gluino::graph
