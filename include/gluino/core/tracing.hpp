// SPDX-License-Identifier: Apache-2.0
#pragma once
/// The trace of the calling thread, as NDArray's element access (core/ndarray.hpp) and random
/// draws (core/random.hpp) check it: set by autograd::TraceScope (autograd/trace.hpp) while a
/// block's forward is traced into a graph (hybridize, ONNX export).
#include <unordered_set>

#include "gluino/core/error.hpp"

namespace gluino::detail {

/// A trace as its refusals name it: the traced block, the step that traces ("hybridize",
/// "onnx export") and what the user can do instead (autograd::TraceScope fills it), and the
/// storages of the arrays the trace knows (its inputs, op outputs, parameters and constants,
/// owned by the tracer; null for a tracer that keeps none).
struct TracingContext {
  const char* who;
  const char* step;
  const char* advice;
  const std::unordered_set<const void*>* storages = nullptr;
};
/// While a block's forward is traced into a graph (autograd/trace.hpp), the trace's context;
/// otherwise null.  Reading an array's values then (at, asscalar, to_vector) throws, as does
/// drawing random numbers outside ops: a graph cannot follow a branch taken on data values
/// (Gluon's rule for hybridize), and would replay the draw as a constant.  Per thread: a trace
/// on one thread refuses nothing on another (which may read the same parameters meanwhile).
inline const TracingContext*& tracing_block() {
  thread_local const TracingContext* context = nullptr;
  return context;
}
inline void check_not_tracing(const char* what) {
  if (const TracingContext* c = tracing_block()) [[unlikely]]
    raise<StateError>(c->who, ": ", c->step, ": its forward ", what,
                      " while being traced into a graph; a graph holds ops only and cannot follow control flow "
                      "that depends on data values: ", c->advice);
}
/// check_not_tracing(what) when `storage` belongs to an array the trace of this thread knows:
/// NDArray::data() calls it, so that every handle to that storage (a copy, detach(), view_as(),
/// a view made by an op) is refused alike.  Called only while a trace is active.
inline void check_storage_not_traced(const void* storage, const char* what) {
  const TracingContext* c = tracing_block();
  if (c && c->storages && c->storages->count(storage)) check_not_tracing(what);
}

}  // namespace gluino::detail
