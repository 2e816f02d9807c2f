// SPDX-License-Identifier: Apache-2.0
#pragma once
/// SymbolBlock: a block made from an ONNX model (what onnx::export_model writes, or PyTorch's
/// torch.onnx.export for the same networks), run with gluino's ops: inference, and fine-tuning,
/// since every floating-point initializer becomes a parameter.  It is a HybridBlock.  Needs
/// ONNX's protobuf classes: link the optional CMake target gluino::onnx.  Gluon:
/// gluon.SymbolBlock.imports (and mx.onnx.import_to_gluon).  docs/hybridize.md lists the ops.
/// The class and the model's checks as a whole are here; reading and checking one node is in
/// onnx/import_node.hpp, running it in onnx/import_run.hpp (and onnx/import_window.hpp).
#include <onnx/onnx_pb.h>

#include <cstddef>
#include <cstdint>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "gluino/core/error.hpp"
#include "gluino/nn/hybrid_block.hpp"
#include "gluino/onnx/import_label.hpp"
#include "gluino/onnx/import_node.hpp"
#include "gluino/onnx/import_run.hpp"

namespace gluino::nn {

/// A block running an ONNX graph of one input and one output.
///   auto net = nn::SymbolBlock::imports("lenet.onnx");
///   auto logits = (*net)(x);                    // x of the model's input shape (any batch)
/// Parameters: the model's floating-point initializers, named after them (prefix
/// "symbolblock0_"); batch norms' running statistics have grad_req null.  Integer initializers
/// (shapes, axes), and one-value ones read only as Dropout's ratio and training_mode or Pad's
/// constant_value, are constants.  int64 tensors may also be computed from the input's shape on
/// each call (Shape, Gather, Slice, Concat, ...: PyTorch's x.view(x.size(0), -1)); one read where a
/// float tensor is expected, or the reverse, is refused at import.  Conv's and the pools' auto_pad
/// (VALID, SAME_UPPER, SAME_LOWER) and pads differing at the two ends of an axis pad the input
/// first where gluino's symmetric padding cannot.  ValueError naming the file, the node, its op and
/// the opset for anything not supported (Dropout with training_mode true, auto_pad with pads, axes
/// in the other opset's form); the model is checked whole before the block is made.  An op's error on
/// the input's shapes when it runs (an Add that does not broadcast) keeps its type (ShapeError, ...)
/// and names the block, the file, the node, its op and the opset; so does an error of the node's
/// ops in backward (the engine's own messages, such as an input changed in place, quote the op
/// with that label) and in a hybridized block's replay (onnx/import_label.hpp).
template <class T>
class BasicSymbolBlock : public BasicHybridBlock<T> {
 public:
  /// Reads and checks an ONNX model (opset 11 to 17).  Gluon: SymbolBlock.imports.
  static std::shared_ptr<BasicSymbolBlock> imports(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    GLUINO_CHECK(ValueError, f.good(), "SymbolBlock::imports: '", path, "': cannot open");
    ::onnx::ModelProto m;
    GLUINO_CHECK(ValueError, m.ParseFromIstream(&f), "SymbolBlock::imports: '", path,
                 "': not an ONNX model (protobuf parsing failed)");
    return from_model(m, path);
  }
  /// The same from a model in memory; `where` names it in messages.
  static std::shared_ptr<BasicSymbolBlock> from_model(const ::onnx::ModelProto& m, const std::string& where = "model") {
    return std::shared_ptr<BasicSymbolBlock>(new BasicSymbolBlock(m, where));
  }

  std::string type_name() const override { return "SymbolBlock"; }
  /// For cast: the same graph for element type `to` (its parameters get the values from cast).
  AnyBlockPtr rebuild(Dtype to) const override {
    return rebuild_as(to, [&]<class U>() {
      return std::shared_ptr<BasicSymbolBlock<U>>(new BasicSymbolBlock<U>(*this, typename BasicSymbolBlock<U>::Rebuild{}));
    });
  }
  std::string repr() const override {
    return "SymbolBlock(" + input_ + " -> " + output_ + ", " + std::to_string(nodes_.size()) + " nodes, opset " +
           std::to_string(cx_.opset) + ")";
  }
  /// The graph input's and output's names, and the input's shape (0 for a symbolic axis; empty,
  /// and any shape accepted, when the model does not give it).
  const std::string& input_name() const { return input_; }
  const std::string& output_name() const { return output_; }
  const std::vector<std::int64_t>& input_shape() const { return input_shape_; }
  /// The op type of each node, in order.
  std::vector<std::string> op_types() const {
    std::vector<std::string> out;
    for (const auto& n : nodes_) out.push_back(n.type);
    return out;
  }

  NDArray<T> forward(const NDArray<T>& x) override {
    GLUINO_CHECK(ShapeError, !input_shape_known_ || x.ndim() == input_shape_.size(), this->who(), ": input '", input_, "' has ",
                 input_shape_.size(), " axes in the model, got shape ", x.shape());
    for (std::size_t d = 0; input_shape_known_ && d < x.ndim(); ++d)
      GLUINO_CHECK(ShapeError, input_shape_[d] <= 0 || std::size_t(input_shape_[d]) == x.shape()[d], this->who(),
                   ": input '", input_, "' of shape ", x.shape(), " does not match the model's ", dims_str(input_shape_));
    std::map<std::string, NDArray<T>> env;
    env[input_] = x;
    for (const auto& [name, pos] : params_) env[name] = this->param_at(pos)->data();
    for (const auto& [name, a] : cx_.constants) env[name] = a;
    std::map<std::string, detail::onnx_import::Ints> ints;  // computed from x's shape: nothing kept across calls
    autograd::Tracer<T>* const tracer = autograd::active_tracer<T>();
    for (const Node& n : nodes_) {
      // An op's error on this input's shapes names the node, its type kept (other gluino errors,
      // autograd::AnomalyError, ..., pass unchanged); so do the errors of the autograd nodes it
      // records (backward) and of the ops a trace reports, when the graph replays them
      // (onnx/import_label.hpp).  The label is made beforehand for those two only.
      const bool recording = autograd::is_recording();
      std::shared_ptr<const std::string> label;
      if (recording || tracer) label = std::make_shared<const std::string>(node_label(n));
      std::optional<detail::onnx_import::LabellingTracer<T>> relabel;
      if (tracer) relabel.emplace(tracer, label);
      detail::onnx_import::labelled_call([&] { return label ? *label : node_label(n); },
                                         [&] { detail::onnx_import::run(cx_, n, env, ints); });
      const auto y = env.find(n.out[0]);
      if (!recording || y == env.end()) continue;  // an int64 tensor's node records nothing
      std::vector<const NDArray<T>*> in;
      for (const auto& i : n.in)
        if (auto it = env.find(i); it != env.end()) in.push_back(&it->second);
      detail::onnx_import::label_recorded(y->second, in, label);
    }
    auto out = env.find(output_);
    GLUINO_CHECK(ValueError, out != env.end(), this->who(), ": the model's output '", output_,
                 "' is not a floating-point tensor");
    return out->second;
  }

 private:
  using Node = detail::onnx_import::Node;
  using Kind = detail::onnx_import::Kind;
  static constexpr int elem_type() { return detail::onnx_import::elem_type<T>(); }
  template <class S>
  friend class BasicSymbolBlock;
  struct Rebuild {};  // the converting constructor's tag (a copy constructor is not wanted)
  /// rebuild's: other's graph, constants converted, parameters declared in the same order with
  /// the same names, shapes and grad_req (their values come from cast).
  template <class S>
  BasicSymbolBlock(const BasicSymbolBlock<S>& other, Rebuild)
      : BasicHybridBlock<T>(BasicBlockOptions<T>{.alias = "symbolblock"}), input_(other.input_),
        output_(other.output_), input_shape_(other.input_shape_), input_shape_known_(other.input_shape_known_),
        nodes_(other.nodes_) {
    cx_.where = other.cx_.where;
    cx_.opset = other.cx_.opset;
    cx_.kinds = other.cx_.kinds;
    cx_.int_constants = other.cx_.int_constants;
    for (const auto& [name, a] : other.cx_.constants) cx_.constants[name] = a.template astype<T>();
    for (const auto& [name, pos] : other.params_) {
      const auto& p = other.param_at(pos);
      params_.emplace_back(name, this->declare_param(name, p->shape(), init::BasicZero<T>{},
                                                     ParameterOptions{.grad_req = p->grad_req()}));
    }
  }
  BasicSymbolBlock(const ::onnx::ModelProto& m, const std::string& where)
      : BasicHybridBlock<T>(BasicBlockOptions<T>{.alias = "symbolblock"}) {
    cx_.where = where;
    for (const auto& o : m.opset_import())  // one for ONNX's domain: a lenient reader took the last one
      if (o.domain().empty() || o.domain() == "ai.onnx") {
        GLUINO_CHECK(ValueError, cx_.opset == 0, "SymbolBlock::imports: '", cx_.where,
                     "': ONNX's domain is imported twice, at opsets ", cx_.opset, " and ", o.version());
        cx_.opset = int(o.version());
      }
    GLUINO_CHECK(ValueError, cx_.opset >= 11 && cx_.opset <= 17, "SymbolBlock::imports: '", cx_.where, "': opset ",
                 cx_.opset, " is not supported (11 to 17)");
    const ::onnx::GraphProto& g = m.graph();
    std::set<std::string> inits;
    for (const auto& t : g.initializer()) inits.insert(t.name());
    std::vector<const ::onnx::ValueInfoProto*> inputs;
    for (const auto& v : g.input())
      if (!inits.count(v.name())) inputs.push_back(&v);
    std::string shadowed;  // graph inputs an initializer of the same name gives (ONNX: a default value)
    for (const auto& v : g.input())
      if (inits.count(v.name())) shadowed += (shadowed.empty() ? "'" : ", '") + v.name() + "'";
    GLUINO_CHECK(ValueError, inputs.size() == 1 && g.output_size() == 1, "SymbolBlock::imports: '", cx_.where,
                 "': a model of one input and one output is supported, got ", inputs.size(), " inputs and ",
                 g.output_size(), " outputs",
                 shadowed.empty() ? std::string() : " (inputs given by an initializer, not counted: " + shadowed + ")");
    input_ = inputs[0]->name();
    output_ = g.output(0).name();
    const auto& type = inputs[0]->type().tensor_type();
    GLUINO_CHECK(ValueError, type.elem_type() == elem_type(), "SymbolBlock::imports: '", cx_.where, "': input '",
                 input_, "' has element type ", type.elem_type(), ", this block is of ", elem_type(),
                 " (1 float, 11 double)");
    input_shape_known_ = type.has_shape();  // a model may leave the input's shape open
    for (const auto& d : type.shape().dim()) input_shape_.push_back(d.has_dim_value() ? d.dim_value() : 0);
    for (const auto& d : type.shape().dim()) {  // a lenient reader would take either for a symbolic axis
      GLUINO_CHECK(ValueError, !d.has_dim_value() || d.dim_value() >= 0, "SymbolBlock::imports: '", cx_.where,
                   "': input '", input_, "' of shape ", declared_str(type.shape()), " has a negative dimension");
      // ONNX (IR.md, static tensor shapes): dim_value 0 is a real, zero size; an axis of any size has a dim_param
      // or no value.  Only empty inputs would match, so such a model is refused rather than run on others.
      GLUINO_CHECK(ValueError, !d.has_dim_value() || d.dim_value() != 0, "SymbolBlock::imports: '", cx_.where,
                   "': input '", input_, "' of shape ", declared_str(type.shape()),
                   " has a dimension of 0, which ONNX reads as a zero size, not as a symbolic one (that is a "
                   "dim_param, or no value): a model of empty inputs is not supported");
    }

    std::set<std::string> known = {input_};
    cx_.kinds[input_] = Kind::real;
    std::set<std::string> read = {output_};  // what the nodes read, and the output
    for (const auto& n : g.node()) read.insert(n.input().begin(), n.input().end());
    std::set<std::string> running;  // initializers read as running statistics: grad_req null
    for (const auto& n : g.node())
      if (n.op_type() == "BatchNormalization")
        for (int k = 3; k < n.input_size(); ++k) running.insert(n.input(k));
    // Initializers read only as Dropout's ratio or training_mode, or as Pad's constant_value: constants,
    // not parameters (name -> read only there).
    std::map<std::string, bool> scalar_only;
    for (const auto& n : g.node())
      for (int k = 0; k < n.input_size(); ++k) {
        const bool slot = (n.op_type() == "Dropout" && k >= 1) || (n.op_type() == "Pad" && k == 2);
        auto [it, fresh] = scalar_only.emplace(n.input(k), slot);
        it->second = it->second && slot;
      }
    for (const auto& t : g.initializer()) {
      GLUINO_CHECK(ValueError, known.insert(t.name()).second || t.name() == input_, "SymbolBlock::imports: '",
                   cx_.where, "': initializer '", t.name(), "' is defined twice");
      if (t.data_type() == ::onnx::TensorProto_DataType_INT64) {
        cx_.int_constants[t.name()] = detail::onnx_import::int64_tensor(cx_, t, t.name());
        cx_.kinds[t.name()] = Kind::integer;
        continue;
      }
      cx_.kinds[t.name()] = Kind::real;  // a parameter, or a one-value constant
      const auto scalar = detail::onnx_import::scalar_value(t);
      if (scalar) cx_.scalars[t.name()] = *scalar;
      if (auto s = scalar_only.find(t.name()); scalar && s != scalar_only.end() && s->second) {
        Shape dims;
        for (auto d : t.dims()) dims.push_back(std::size_t(d));
        NDArray<T> a(dims);
        a.data()[0] = static_cast<T>(*scalar);
        cx_.constants[t.name()] = a;
        continue;
      }
      NDArray<T> a = detail::onnx_import::tensor_values(cx_, t, "initializer");
      ParameterOptions po;
      if (running.count(t.name())) po.grad_req = GradReq::null;
      params_.emplace_back(t.name(), this->declare_param(t.name(), a.shape(), init::BasicZero<T>{}, po));
      this->param_at(params_.back().second)->set_data(a);
    }
    for (const auto& n : g.node()) {
      Node node = detail::onnx_import::parse(cx_, n);
      for (const auto& i : node.in)
        GLUINO_CHECK(ValueError, i.empty() || known.count(i), "SymbolBlock::imports: '", cx_.where, "': node '",
                     node.name, "' (", node.type, ", opset ", cx_.opset, ") reads '", i,
                     "', which no earlier node, input or initializer gives");
      for (std::size_t k = 1; k < node.out.size(); ++k)  // Dropout's mask, MaxPool's Indices, ...: named, unread
        if (!node.out[k].empty() && read.count(node.out[k]))
          cx_.refuse(node, "only the first output is supported (output '" + node.out[k] + "' is read)");
      for (const auto& o : node.out)  // SSA, as ONNX's checker and ONNX Runtime ask: a later one would hide it
        if (!o.empty() && !known.insert(o).second)
          cx_.refuse(node,
                     "its output '" + o + "' is already defined (by the input, an initializer or an earlier node)");
      detail::onnx_import::check_kinds(cx_, node);  // float tensors and int64 ones each where they are expected
      nodes_.push_back(std::move(node));
    }
    // A Cast of a float tensor to an integer type is run as the identity on T: its result may only be Gather's
    // indices.
    auto index = [&](const Node& c) { return c.type == "Cast" && cx_.kinds.at(c.out[0]) == Kind::index; };
    for (const Node& c : nodes_)
      if (index(c))
        for (const Node& r : nodes_)
          for (std::size_t k = 0; k < r.in.size(); ++k)
            if (r.in[k] == c.out[0] && !(r.type == "Gather" && k == 1))
              cx_.refuse(c, "a Cast to an integer type is supported only as Gather's indices (read by node '" + r.name +
                            "', op " + r.type + ")");
    for (const Node& c : nodes_)
      if (index(c) && c.out[0] == output_)
        cx_.refuse(c, "a Cast to an integer type is supported only as Gather's indices, not as the output");
    GLUINO_CHECK(ValueError, known.count(output_), "SymbolBlock::imports: '", cx_.where,
                 "': no node gives the output '", output_, "'");
    const auto out_kind = cx_.kinds.find(output_);
    GLUINO_CHECK(ValueError, out_kind != cx_.kinds.end() && out_kind->second == Kind::real, "SymbolBlock::imports: '",
                 cx_.where, "': the model's output '", output_, "' is ",
                 out_kind == cx_.kinds.end() ? "not a tensor" : detail::onnx_import::kind_name(out_kind->second),
                 ", only a float tensor is supported");
  }

  // What an op's error raised while running node n gets in front (the op's message alone names neither the
  // block, the file nor the node: "add: shapes (2, 4) and (3,) ..."); the importer's own refusals (cx_.refuse)
  // name them already and pass unchanged: "symbolblock0_: 'm.onnx': node 'plus' (op Add, opset 13)".
  std::string node_label(const Node& n) const {
    return this->who() + ": '" + cx_.where + "': node '" + n.name + "' (op " + n.type + ", opset " +
           std::to_string(cx_.opset) + ")";
  }
  // A declared shape as written: (2, -4), "?" for a symbolic axis.
  static std::string declared_str(const ::onnx::TensorShapeProto& s) {
    std::ostringstream os;
    os << '(';
    for (int i = 0; i < s.dim_size(); ++i)
      os << (i ? ", " : "") << (s.dim(i).has_dim_value() ? std::to_string(s.dim(i).dim_value()) : "?");
    os << ')';
    return os.str();
  }
  static std::string dims_str(const std::vector<std::int64_t>& d) {
    std::ostringstream os;
    os << '(';
    for (std::size_t i = 0; i < d.size(); ++i) os << (i ? ", " : "") << (d[i] > 0 ? std::to_string(d[i]) : "?");
    os << ')';
    return os.str();
  }
  detail::onnx_import::Context<T> cx_;  // the file's name, the opset, the constants
  std::string input_, output_;
  std::vector<std::int64_t> input_shape_;
  bool input_shape_known_ = true;
  std::vector<Node> nodes_;
  std::vector<std::pair<std::string, std::size_t>> params_;  // initializer name, position in params()
};
using SymbolBlock = BasicSymbolBlock<float>;

}  // namespace gluino::nn