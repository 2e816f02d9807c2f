// SPDX-License-Identifier: Apache-2.0
#pragma once
/// Tracing: while a Tracer is installed on a thread, autograd::apply (the one place ops run)
/// reports each op it runs, with a copy of the op taken before it ran, its inputs and its
/// output.  graph/graph.hpp builds a graph from these reports (hybridize, ONNX export).
/// Ops describe themselves for graphs with two optional members:
///   autograd::Attributes attributes() const;    // {"stride", std::vector<std::int64_t>{2, 2}}, ...
///   std::vector<NDArray<T>> state() const;      // arrays the op holds besides its inputs
///                                               // (batch_norm's running statistics)
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_set>
#include <utility>
#include <variant>
#include <vector>

#include "gluino/core/error.hpp"
#include "gluino/core/ndarray.hpp"

namespace gluino::autograd {

/// One attribute of an op: an integer, a real, a list of integers or a string.
using AttributeValue = std::variant<std::int64_t, double, std::vector<std::int64_t>, std::string>;
using Attributes = std::vector<std::pair<std::string, AttributeValue>>;

/// An op application captured by a trace: it runs again on other arrays of the same shapes
/// (through apply(), so that recording and anomaly checks work as for the original call).
template <class T>
class TracedOp {
 public:
  virtual ~TracedOp() = default;
  virtual const char* name() const = 0;
  virtual Attributes attributes() const = 0;
  virtual std::vector<NDArray<T>> state() const = 0;
  virtual NDArray<T> run(const std::vector<NDArray<T>>& inputs) const = 0;
  /// The op struct (for code that knows its type, such as graph rewrites), and its type.
  virtual const void* op() const = 0;
  virtual const std::type_info& op_type() const = 0;
};

/// What a trace is told of each op.  Installed with TraceScope.
template <class T>
class Tracer {
 public:
  virtual ~Tracer() = default;
  virtual void record(std::shared_ptr<const TracedOp<T>> op, const std::vector<NDArray<T>>& inputs,
                      const NDArray<T>& output) = 0;
  /// The storages of the arrays the trace knows, whose elements code outside ops must not touch
  /// while it runs (NDArray::data() refuses them on the tracing thread); null: none.  The set
  /// belongs to the tracer and is read by its own thread only.
  virtual const std::unordered_set<const void*>* storages() const { return nullptr; }
};

namespace detail {
template <class T>
Tracer<T>*& active_tracer() {
  thread_local Tracer<T>* tracer = nullptr;
  return tracer;
}
}  // namespace detail

/// The tracer of this thread for T, or null.
template <class T>
Tracer<T>* active_tracer() {
  return detail::active_tracer<T>();
}

/// What a trace is for, which its refusals say (a value read while tracing): hybridize() can
/// be left off, an export cannot.
enum class TracePurpose { hybridize, onnx_export };
/// How a trace's messages name the step that traces: "hybridize", "onnx export".
inline const char* trace_step(TracePurpose purpose) {
  return purpose == TracePurpose::onnx_export ? "onnx export" : "hybridize";
}

/// Installs a tracer on this thread for its lifetime (and marks the thread as tracing, so that
/// reading an array's values outside ops throws, naming `who` and the purpose: see
/// gluino::detail::check_not_tracing).
template <class T>
class TraceScope {
 public:
  TraceScope(Tracer<T>* tracer, const std::string& who, TracePurpose purpose = TracePurpose::hybridize)
      : saved_(detail::active_tracer<T>()), saved_context_(gluino::detail::tracing_block()), who_(who) {
    context_.who = who_.c_str();
    context_.step = trace_step(purpose);
    context_.storages = tracer ? tracer->storages() : nullptr;
    context_.advice = purpose == TracePurpose::onnx_export
                          ? "export needs a forward computed with ops only (the ONNX model is that graph); called "
                            "directly, the block still runs as written"
                          : "call the block without hybridize(), or compute with ops only";
    detail::active_tracer<T>() = tracer;
    gluino::detail::tracing_block() = &context_;
  }
  ~TraceScope() {
    detail::active_tracer<T>() = saved_;
    gluino::detail::tracing_block() = saved_context_;
  }
  TraceScope(const TraceScope&) = delete;
  TraceScope& operator=(const TraceScope&) = delete;

 private:
  Tracer<T>* saved_;
  const gluino::detail::TracingContext* saved_context_;
  std::string who_;
  gluino::detail::TracingContext context_{};
};

namespace detail {

/// Suspends the trace while an op runs: the ops an op calls inside are part of it, and an op
/// may read values.
template <class T>
struct TracePause {
  TracePause() : tracer(active_tracer<T>()), context(gluino::detail::tracing_block()) {
    active_tracer<T>() = nullptr;
    gluino::detail::tracing_block() = nullptr;
  }
  ~TracePause() {
    active_tracer<T>() = tracer;
    gluino::detail::tracing_block() = context;
  }
  TracePause(const TracePause&) = delete;
  TracePause& operator=(const TracePause&) = delete;
  Tracer<T>* tracer;
  const gluino::detail::TracingContext* context;
};

template <class T, class Op>
class TracedOpOf;

/// StateError, naming the traced block, when a gradient is computed (`what`: backward,
/// autograd::grad) while a forward is traced: backward runs the ops' gradient kernels outside
/// any op, so a graph would keep the traced call's gradient as a constant and return it for
/// every later input.
inline void check_no_gradient_in_trace(const char* what) {
  if (const gluino::detail::TracingContext* c = gluino::detail::tracing_block()) [[unlikely]]
    ::gluino::detail::raise<StateError>(c->who, ": ", c->step, ": its forward computes gradients (", what,
                                        ") while being traced into a graph; a graph holds ops only and would replay "
                                        "the traced call's gradients: ", c->advice);
}

}  // namespace detail
}  // namespace gluino::autograd
