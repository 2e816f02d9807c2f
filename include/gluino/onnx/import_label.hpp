// SPDX-License-Identifier: Apache-2.0
#pragma once
/// Not API.  How SymbolBlock (onnx/symbol_block.hpp) names the ONNX node behind an op's error
/// outside its imperative forward: in backward (the autograd nodes a node's ops recorded are
/// wrapped in LabelledNode) and in a hybridized block's replay (the ops a trace reports are
/// wrapped in LabelledTracedOp).  The error keeps its type; its message gets the label in front:
/// "symbolblock0_: 'm.onnx': node 'sq' (op Mul, opset 13): <the op's message>".
#include <memory>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "gluino/autograd/node.hpp"
#include "gluino/autograd/trace.hpp"
#include "gluino/core/error.hpp"
#include "gluino/core/ndarray.hpp"

namespace gluino::detail::onnx_import {

/// Rethrows the error being handled as E with label in front; the importer's own refusals
/// (cx.refuse: "SymbolBlock::imports: ...") name the node already and pass unchanged.  Call it
/// from a catch block only.
template <class E>
[[noreturn]] void rethrow_labelled(const std::string& label, const Error& e) {
  const std::string what = e.what();
  if (what.rfind("SymbolBlock::imports: ", 0) == 0) throw;
  ::gluino::detail::raise<E>(label, ": ", what);
}

/// f(), its ShapeError, ValueError and StateError rethrown with label() in front (type kept;
/// label is called only then); other errors (autograd::AnomalyError, ...) pass unchanged.
template <class Label, class F>
decltype(auto) labelled_call(const Label& label, F&& f) {
  try {
    return f();
  } catch (const ShapeError& e) {
    rethrow_labelled<ShapeError>(label(), e);
  } catch (const ValueError& e) {
    rethrow_labelled<ValueError>(label(), e);
  } catch (const StateError& e) {
    rethrow_labelled<StateError>(label(), e);
  }
}

/// An autograd node recorded by one ONNX node's ops: it runs the op's node (inner) and rethrows
/// its errors labelled.  It takes over inner's edges, saved storages and arena, so that the
/// engine walks it in inner's place; its name(), which the engine's own messages quote (an
/// input changed in place, a graph already freed), is the op's with the label after it.
template <class T>
class LabelledNode final : public autograd::Node<T> {
 public:
  LabelledNode(std::shared_ptr<autograd::Node<T>> inner, std::shared_ptr<const std::string> label)
      : inner_(std::move(inner)), label_(std::move(label)), name_(std::string(inner_->name()) + ", in " + *label_) {
    this->inputs = std::move(inner_->inputs);
    this->saved = std::move(inner_->saved);
    this->arena = inner_->arena;
    inner_->inputs.clear();
    inner_->saved.clear();
  }
  const char* name() const override { return name_.c_str(); }
  std::vector<NDArray<T>> backward(const NDArray<T>& dy, const std::vector<NDArray<T>>& dest) override {
    return labelled_call([this] { return *label_; }, [&] { return inner_->backward(dy, dest); });
  }
  std::vector<NDArray<T>> backward_graph(const NDArray<T>& dy, const autograd::GraphArgs<T>& args) override {
    return labelled_call([this] { return *label_; }, [&] { return inner_->backward_graph(dy, args); });
  }
  void release() override {
    inner_->release();
    this->saved.clear();
    this->released_ = true;
  }

 private:
  std::shared_ptr<autograd::Node<T>> inner_;
  std::shared_ptr<const std::string> label_;
  std::string name_;
};

/// Wraps in LabelledNode the autograd nodes recorded from inputs to out (the ops of one ONNX
/// node): those reached from out's grad_fn without passing the inputs' own grad_fn.  Nothing
/// is done when out was not recorded, or is an input (Identity).
template <class T>
void label_recorded(NDArray<T>& out, const std::vector<const NDArray<T>*>& inputs,
                    const std::shared_ptr<const std::string>& label) {
  if (!out.defined() || !out.impl()->grad_fn) return;
  std::unordered_set<const autograd::Node<T>*> stop;
  for (const NDArray<T>* x : inputs)
    if (x && x->defined() && x->impl()->grad_fn) stop.insert(x->impl()->grad_fn.get());
  std::unordered_map<const autograd::Node<T>*, std::shared_ptr<autograd::Node<T>>> wrapped;
  std::vector<std::shared_ptr<autograd::Node<T>>> todo{out.impl()->grad_fn}, found;
  while (!todo.empty()) {
    std::shared_ptr<autograd::Node<T>> n = std::move(todo.back());
    todo.pop_back();
    if (stop.count(n.get()) || wrapped.count(n.get()) || dynamic_cast<const LabelledNode<T>*>(n.get())) continue;
    wrapped.emplace(n.get(), nullptr);
    found.push_back(n);
    for (const auto& e : n->inputs)
      if (e.node) todo.push_back(e.node);
  }
  for (const auto& n : found) wrapped[n.get()] = std::make_shared<LabelledNode<T>>(n, label);
  for (const auto& n : found)  // the edges between them now lead to the wrappers
    for (auto& e : wrapped[n.get()]->inputs)
      if (e.node)
        if (auto w = wrapped.find(e.node.get()); w != wrapped.end()) e.node = w->second;
  if (auto w = wrapped.find(out.impl()->grad_fn.get()); w != wrapped.end()) out.impl()->grad_fn = w->second;
}

/// A traced op of one ONNX node: the graph sees the op itself (its name, type, attributes and
/// state, for printing, rewrites and export); a replay's errors, and the autograd node it
/// records, are labelled.
template <class T>
class LabelledTracedOp final : public autograd::TracedOp<T> {
 public:
  LabelledTracedOp(std::shared_ptr<const autograd::TracedOp<T>> inner, std::shared_ptr<const std::string> label)
      : inner_(std::move(inner)), label_(std::move(label)) {}
  const char* name() const override { return inner_->name(); }
  autograd::Attributes attributes() const override { return inner_->attributes(); }
  std::vector<NDArray<T>> state() const override { return inner_->state(); }
  NDArray<T> run(const std::vector<NDArray<T>>& inputs) const override {
    NDArray<T> out = labelled_call([this] { return *label_; }, [&] { return inner_->run(inputs); });
    std::vector<const NDArray<T>*> in;
    for (const auto& x : inputs) in.push_back(&x);
    label_recorded(out, in, label_);
    return out;
  }
  const void* op() const override { return inner_->op(); }
  const std::type_info& op_type() const override { return inner_->op_type(); }

 private:
  std::shared_ptr<const autograd::TracedOp<T>> inner_;
  std::shared_ptr<const std::string> label_;
};

/// Installed on this thread while one ONNX node runs inside a trace: passes each op to the
/// trace's own tracer as a LabelledTracedOp.
template <class T>
class LabellingTracer final : public autograd::Tracer<T> {
 public:
  LabellingTracer(autograd::Tracer<T>* outer, std::shared_ptr<const std::string> label)
      : outer_(outer), label_(std::move(label)) {
    autograd::detail::active_tracer<T>() = this;
  }
  ~LabellingTracer() override { autograd::detail::active_tracer<T>() = outer_; }
  LabellingTracer(const LabellingTracer&) = delete;
  LabellingTracer& operator=(const LabellingTracer&) = delete;
  void record(std::shared_ptr<const autograd::TracedOp<T>> op, const std::vector<NDArray<T>>& inputs,
              const NDArray<T>& output) override {
    outer_->record(std::make_shared<const LabelledTracedOp<T>>(std::move(op), label_), inputs, output);
  }

 private:
  autograd::Tracer<T>* outer_;
  std::shared_ptr<const std::string> label_;
};

}  // namespace gluino::detail::onnx_import
