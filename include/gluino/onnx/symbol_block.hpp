// SPDX-License-Identifier: Apache-2.0
#pragma once
/// SymbolBlock: a block made from an ONNX model (what onnx::export_model writes, or PyTorch's
/// torch.onnx.export for the same networks), run with gluino's ops: inference, and fine-tuning,
/// since every floating-point initializer becomes a parameter.  It is a HybridBlock.  Needs
/// ONNX's protobuf classes: link the optional CMake target gluino::onnx.  Gluon:
/// gluon.SymbolBlock.imports (and mx.onnx.import_to_gluon).  docs/hybridize.md lists the ops.
#include <onnx/onnx_pb.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "gluino/autograd/mode.hpp"
#include "gluino/core/error.hpp"
#include "gluino/nd/activations.hpp"
#include "gluino/nd/batch_norm.hpp"
#include "gluino/nd/conv.hpp"
#include "gluino/nd/conv1d.hpp"
#include "gluino/nd/conv3d.hpp"
#include "gluino/nd/creation.hpp"
#include "gluino/nd/deconvolution.hpp"
#include "gluino/nd/dropout.hpp"
#include "gluino/nd/elementwise.hpp"
#include "gluino/nd/embedding.hpp"
#include "gluino/nd/layer_norm.hpp"
#include "gluino/nd/linalg.hpp"
#include "gluino/nd/pad.hpp"
#include "gluino/nd/pool.hpp"
#include "gluino/nd/pool1d.hpp"
#include "gluino/nd/reduce.hpp"
#include "gluino/nd/shape_ops.hpp"
#include "gluino/nd/softmax.hpp"
#include "gluino/nn/hybrid_block.hpp"

namespace gluino::nn {

/// A block running an ONNX graph of one input and one output.
///   auto net = nn::SymbolBlock::imports("lenet.onnx");
///   auto logits = (*net)(x);                    // x of the model's input shape (any batch)
/// Parameters: the model's floating-point initializers, named after them (prefix
/// "symbolblock0_"); batch norms' running statistics have grad_req null.  Integer initializers
/// (shapes, axes), and one-value ones read only as Dropout's ratio and training_mode or Pad's
/// constant_value, are constants.  Conv's and the pools' auto_pad (VALID, SAME_UPPER, SAME_LOWER)
/// and pads differing at the two ends of an axis pad the input first where gluino's symmetric
/// padding cannot.  ValueError naming the file, the node, its op and the opset for anything not
/// supported (Dropout with training_mode true, auto_pad with pads, axes in the other opset's form);
/// the model is checked whole before the block is made.
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
           std::to_string(opset_) + ")";
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
    for (const auto& [name, a] : constants_) env[name] = a;
    for (const Node& n : nodes_) run(n, env);
    auto out = env.find(output_);
    GLUINO_CHECK(ValueError, out != env.end(), this->who(), ": the model's output '", output_,
                 "' is not a floating-point tensor");
    return out->second;
  }

 private:
  struct Node {
    std::string type, name;
    std::vector<std::string> in, out;
    std::map<std::string, std::int64_t> ints;
    std::map<std::string, double> reals;
    std::map<std::string, std::vector<std::int64_t>> lists;
    std::string mode;  // Pad's mode, or the auto_pad of Conv, ConvTranspose and the pools ("" for NOTSET)
  };

  template <class S>
  friend class BasicSymbolBlock;
  struct Rebuild {};  // the converting constructor's tag (a copy constructor is not wanted)
  /// rebuild's: other's graph, constants converted, parameters declared in the same order with
  /// the same names, shapes and grad_req (their values come from cast).
  template <class S>
  BasicSymbolBlock(const BasicSymbolBlock<S>& other, Rebuild)
      : BasicHybridBlock<T>(BasicBlockOptions<T>{.alias = "symbolblock"}), where_(other.where_), opset_(other.opset_),
        input_(other.input_), output_(other.output_), input_shape_(other.input_shape_),
        input_shape_known_(other.input_shape_known_), int_constants_(other.int_constants_),
        int_shapes_(other.int_shapes_) {
    for (const auto& n : other.nodes_)
      nodes_.push_back(Node{n.type, n.name, n.in, n.out, n.ints, n.reals, n.lists, n.mode});
    for (const auto& [name, a] : other.constants_) constants_[name] = a.template astype<T>();
    for (const auto& [name, pos] : other.params_) {
      const auto& p = other.param_at(pos);
      params_.emplace_back(name, this->declare_param(name, p->shape(), init::BasicZero<T>{},
                                                     ParameterOptions{.grad_req = p->grad_req()}));
    }
  }
  BasicSymbolBlock(const ::onnx::ModelProto& m, const std::string& where)
      : BasicHybridBlock<T>(BasicBlockOptions<T>{.alias = "symbolblock"}), where_(where) {
    for (const auto& o : m.opset_import())
      if (o.domain().empty() || o.domain() == "ai.onnx") opset_ = int(o.version());
    GLUINO_CHECK(ValueError, opset_ >= 11 && opset_ <= 17, "SymbolBlock::imports: '", where_, "': opset ", opset_,
                 " is not supported (11 to 17)");
    const ::onnx::GraphProto& g = m.graph();
    std::set<std::string> inits;
    for (const auto& t : g.initializer()) inits.insert(t.name());
    std::vector<const ::onnx::ValueInfoProto*> inputs;
    for (const auto& v : g.input())
      if (!inits.count(v.name())) inputs.push_back(&v);
    GLUINO_CHECK(ValueError, inputs.size() == 1 && g.output_size() == 1, "SymbolBlock::imports: '", where_,
                 "': a model of one input and one output is supported, got ", inputs.size(), " inputs and ",
                 g.output_size(), " outputs");
    input_ = inputs[0]->name();
    output_ = g.output(0).name();
    const auto& type = inputs[0]->type().tensor_type();
    GLUINO_CHECK(ValueError, type.elem_type() == elem_type(), "SymbolBlock::imports: '", where_, "': input '", input_,
                 "' has element type ", type.elem_type(), ", this block is of ", elem_type(),
                 " (1 float, 11 double)");
    input_shape_known_ = type.has_shape();  // a model may leave the input's shape open
    for (const auto& d : type.shape().dim()) input_shape_.push_back(d.has_dim_value() ? d.dim_value() : 0);

    std::set<std::string> known = {input_};
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
      GLUINO_CHECK(ValueError, known.insert(t.name()).second || t.name() == input_, "SymbolBlock::imports: '", where_,
                   "': initializer '", t.name(), "' is defined twice");
      if (t.data_type() == ::onnx::TensorProto_DataType_INT64) {
        int_constants_[t.name()] = int64_values(t, t.name());
        continue;
      }
      const auto scalar = scalar_value(t);
      if (scalar) scalars_[t.name()] = *scalar;
      if (auto s = scalar_only.find(t.name()); scalar && s != scalar_only.end() && s->second) {
        Shape dims;
        for (auto d : t.dims()) dims.push_back(std::size_t(d));
        NDArray<T> a(dims);
        a.data()[0] = static_cast<T>(*scalar);
        constants_[t.name()] = a;
        continue;
      }
      NDArray<T> a = tensor_values(t, "initializer");
      ParameterOptions po;
      if (running.count(t.name())) po.grad_req = GradReq::null;
      params_.emplace_back(t.name(), this->declare_param(t.name(), a.shape(), init::BasicZero<T>{}, po));
      this->param_at(params_.back().second)->set_data(a);
    }
    for (const auto& n : g.node()) {
      Node node = parse(n);
      for (const auto& i : node.in)
        GLUINO_CHECK(ValueError, i.empty() || known.count(i), "SymbolBlock::imports: '", where_, "': node '", node.name,
                     "' (", node.type, ", opset ", opset_, ") reads '", i, "', which no earlier node, input or "
                     "initializer gives");
      for (std::size_t k = 1; k < node.out.size(); ++k)  // Dropout's mask, MaxPool's Indices, ...: named, unread
        if (!node.out[k].empty() && read.count(node.out[k]))
          refuse(node, "only the first output is supported (output '" + node.out[k] + "' is read)");
      for (const auto& o : node.out)  // SSA, as ONNX's checker and ONNX Runtime ask: a later one would hide it
        if (!o.empty() && !known.insert(o).second)
          refuse(node, "its output '" + o + "' is already defined (by the input, an initializer or an earlier node)");
      nodes_.push_back(std::move(node));
    }
    // A Cast to an integer type is run as the identity on T: its result may only be Gather's indices.
    for (const Node& c : nodes_)
      if (c.type == "Cast" && c.ints.at("to") != elem_type())
        for (const Node& r : nodes_)
          for (std::size_t k = 0; k < r.in.size(); ++k)
            if (r.in[k] == c.out[0] && !(r.type == "Gather" && k == 1))
              refuse(c, "a Cast to an integer type is supported only as Gather's indices (read by node '" + r.name +
                            "', op " + r.type + ")");
    for (const Node& c : nodes_)
      if (c.type == "Cast" && c.ints.at("to") != elem_type() && c.out[0] == output_)
        refuse(c, "a Cast to an integer type is supported only as Gather's indices, not as the output");
    GLUINO_CHECK(ValueError, known.count(output_), "SymbolBlock::imports: '", where_, "': no node gives the output '",
                 output_, "'");
  }

  static constexpr int elem_type() {
    return std::is_same_v<T, float> ? ::onnx::TensorProto_DataType_FLOAT : ::onnx::TensorProto_DataType_DOUBLE;
  }
  static std::string shape_str(const Shape& s) {
    std::ostringstream os;
    os << s;
    return os.str();
  }
  static std::string dims_str(const std::vector<std::int64_t>& d) {
    std::ostringstream os;
    os << '(';
    for (std::size_t i = 0; i < d.size(); ++i) os << (i ? ", " : "") << (d[i] > 0 ? std::to_string(d[i]) : "?");
    os << ')';
    return os.str();
  }
  [[noreturn]] void refuse(const Node& n, const std::string& why) const {
    ::gluino::detail::raise<ValueError>("SymbolBlock::imports: '", where_, "': node '", n.name, "' (op ", n.type,
                                        ", opset ", opset_, "): ", why);
  }

  // An int64 tensor's values, which must be as many as its dimensions say; its dimensions go to
  // int_shapes_[name] (the initializer's or the Constant node's output name).
  std::vector<std::int64_t> int64_values(const ::onnx::TensorProto& t, const std::string& name) {
    GLUINO_CHECK(ValueError, t.data_location() != ::onnx::TensorProto_DataLocation_EXTERNAL, "SymbolBlock::imports: '",
                 where_, "': tensor '", name, "' is stored in an external file, which is not supported");
    std::vector<std::int64_t> v(t.int64_data().begin(), t.int64_data().end());
    if (t.has_raw_data()) {
      const std::string& raw = t.raw_data();
      GLUINO_CHECK(ValueError, raw.size() % 8 == 0, "SymbolBlock::imports: '", where_, "': tensor '", name,
                   "': raw data of ", raw.size(), " bytes is not a whole number of int64");
      v.resize(raw.size() / 8);
      std::memcpy(v.data(), raw.data(), raw.size());
    }
    std::vector<std::int64_t> dims(t.dims().begin(), t.dims().end());
    std::ostringstream shape;
    shape << '(';
    for (std::size_t d = 0; d < dims.size(); ++d) shape << (d ? ", " : "") << dims[d];
    shape << ')';
    std::uint64_t n = 1;  // the element count the dimensions give; v.size() + 1 stands for "more than held"
    for (auto d : dims) {
      GLUINO_CHECK(ValueError, d >= 0, "SymbolBlock::imports: '", where_, "': tensor '", name, "' of shape ",
                   shape.str(), " has a negative dimension");
      n = d == 0 ? 0 : n > (v.size() + 1) / std::uint64_t(d) ? v.size() + 1 : n * std::uint64_t(d);
    }
    GLUINO_CHECK(ValueError, n == v.size(), "SymbolBlock::imports: '", where_, "': tensor '", name, "' of shape ",
                 shape.str(), " holds ", v.size(), " values");
    int_shapes_[name] = std::move(dims);
    return v;
  }
  NDArray<T> tensor_values(const ::onnx::TensorProto& t, const char* what) const {
    GLUINO_CHECK(ValueError, t.data_type() == elem_type(), "SymbolBlock::imports: '", where_, "': ", what, " '",
                 t.name(), "' has element type ", t.data_type(), ", this block is of ", elem_type(),
                 " (1 float, 11 double)");
    GLUINO_CHECK(ValueError, t.data_location() != ::onnx::TensorProto_DataLocation_EXTERNAL, "SymbolBlock::imports: '",
                 where_, "': ", what, " '", t.name(), "' is stored in an external file, which is not supported");
    // The element count from the dimensions, checked against what the tensor holds before
    // anything is allocated (a file cannot make it allocate more than it brings).
    Shape s;
    std::size_t n = 1;
    bool overflow = false;
    for (auto d : t.dims()) {
      GLUINO_CHECK(ValueError, d >= 0, "SymbolBlock::imports: '", where_, "': ", what, " '", t.name(),
                   "' has a negative dimension");
      s.push_back(std::size_t(d));
      overflow = overflow || (d != 0 && n > std::size_t(PTRDIFF_MAX) / sizeof(T) / std::size_t(d));
      n = overflow ? 0 : n * std::size_t(d);
    }
    const std::size_t held = t.has_raw_data() ? t.raw_data().size() / sizeof(T)
                             : std::is_same_v<T, float> ? std::size_t(t.float_data_size())
                                                        : std::size_t(t.double_data_size());
    GLUINO_CHECK(ValueError, !overflow && n == held && (!t.has_raw_data() || t.raw_data().size() % sizeof(T) == 0),
                 "SymbolBlock::imports: '", where_, "': ", what, " '", t.name(), "' of shape ", s, " holds ",
                 t.has_raw_data() ? t.raw_data().size() : held * sizeof(T), " bytes of data (",
                 overflow ? std::string("too many elements") : std::to_string(n * sizeof(T)), " expected)");
    NDArray<T> a(s);
    if (t.has_raw_data())
      std::memcpy(a.data(), t.raw_data().data(), n * sizeof(T));
    else if constexpr (std::is_same_v<T, float>)
      std::copy(t.float_data().begin(), t.float_data().end(), a.data());
    else
      std::copy(t.double_data().begin(), t.double_data().end(), a.data());
    return a;
  }

  // The value of a tensor of one element of type float, double or bool (Dropout's ratio and training_mode,
  // Pad's constant_value); none for any other.
  static std::optional<double> scalar_value(const ::onnx::TensorProto& t) {
    for (auto d : t.dims())
      if (d != 1) return std::nullopt;
    const std::string& raw = t.raw_data();
    switch (t.data_type()) {
      case ::onnx::TensorProto_DataType_FLOAT: {
        float v = 0;
        if (t.has_raw_data() && raw.size() == sizeof v) return std::memcpy(&v, raw.data(), sizeof v), double(v);
        if (!t.has_raw_data() && t.float_data_size() == 1) return double(t.float_data(0));
        return std::nullopt;
      }
      case ::onnx::TensorProto_DataType_DOUBLE: {
        double v = 0;
        if (t.has_raw_data() && raw.size() == sizeof v) return std::memcpy(&v, raw.data(), sizeof v), v;
        if (!t.has_raw_data() && t.double_data_size() == 1) return t.double_data(0);
        return std::nullopt;
      }
      case ::onnx::TensorProto_DataType_BOOL:
        if (t.has_raw_data() && raw.size() == 1) return raw[0] != 0 ? 1.0 : 0.0;
        if (!t.has_raw_data() && t.int32_data_size() == 1) return t.int32_data(0) != 0 ? 1.0 : 0.0;
        return std::nullopt;
      default: return std::nullopt;
    }
  }

  // Reads a node's attributes and checks that the op and its attributes are supported.
  Node parse(const ::onnx::NodeProto& p) {
    Node n;
    n.type = p.op_type();
    n.name = p.name().empty() ? (p.output_size() ? p.output(0) : n.type) : p.name();
    n.in.assign(p.input().begin(), p.input().end());
    n.out.assign(p.output().begin(), p.output().end());
    GLUINO_CHECK(ValueError, p.domain().empty() || p.domain() == "ai.onnx", "SymbolBlock::imports: '", where_,
                 "': node '", n.name, "' (op ", n.type, ") is in domain '", p.domain(), "', not supported");
    GLUINO_CHECK(ValueError, n.out.size() >= 1 && !n.out[0].empty(), "SymbolBlock::imports: '", where_, "': node '",
                 n.name, "' has no output");
    // The type ONNX gives each attribute read here: one of another type is refused, not left unread
    // (ReduceMax's axes as one int reduced every axis).
    using A = ::onnx::AttributeProto;
    static const std::map<std::string, A::AttributeType> types = {
        {"kernel_shape", A::INTS}, {"strides", A::INTS},  {"pads", A::INTS},       {"dilations", A::INTS},
        {"output_padding", A::INTS}, {"perm", A::INTS},   {"axes", A::INTS},       {"group", A::INT},
        {"ceil_mode", A::INT},     {"count_include_pad", A::INT}, {"storage_order", A::INT}, {"transA", A::INT},
        {"transB", A::INT},        {"axis", A::INT},      {"keepdims", A::INT},    {"noop_with_empty_axes", A::INT},
        {"training_mode", A::INT}, {"spatial", A::INT},   {"seed", A::INT},        {"to", A::INT},
        {"saturate", A::INT},      {"allowzero", A::INT}, {"stash_type", A::INT},  {"alpha", A::FLOAT},
        {"beta", A::FLOAT},        {"gamma", A::FLOAT},   {"epsilon", A::FLOAT},   {"momentum", A::FLOAT},
        {"ratio", A::FLOAT}};
    for (const auto& a : p.attribute())
      if (auto k = types.find(a.name()); k != types.end() && a.type() != k->second)
        refuse(n, "attribute '" + a.name() + "' is of type " + A::AttributeType_Name(a.type()) + ", ONNX's is " +
                      A::AttributeType_Name(k->second));
    for (const auto& a : p.attribute()) {
      switch (a.type()) {
        case ::onnx::AttributeProto_AttributeType_INT: n.ints[a.name()] = a.i(); break;
        case ::onnx::AttributeProto_AttributeType_FLOAT: n.reals[a.name()] = a.f(); break;
        case ::onnx::AttributeProto_AttributeType_INTS: n.lists[a.name()].assign(a.ints().begin(), a.ints().end()); break;
        case ::onnx::AttributeProto_AttributeType_STRING:
          if (a.name() == "auto_pad" && (a.s() == "NOTSET" || a.s().empty())) break;
          if (a.name() == "auto_pad" && (a.s() == "VALID" || a.s() == "SAME_UPPER" || a.s() == "SAME_LOWER") &&
              (n.type == "Conv" || n.type == "ConvTranspose" || n.type == "MaxPool" || n.type == "AveragePool")) {
            n.mode = a.s();
            break;
          }
          if (n.type == "Pad" && a.name() == "mode" && (a.s() == "constant" || a.s() == "edge" || a.s() == "reflect")) {
            n.mode = a.s();
            break;
          }
          refuse(n, "attribute '" + a.name() + "' = '" + a.s() + "' is not supported");
        case ::onnx::AttributeProto_AttributeType_TENSOR:
          if (n.type == "Constant" && a.name() == "value") {
            if (auto v = scalar_value(a.t())) scalars_[n.out.at(0)] = *v;
            if (a.t().data_type() == ::onnx::TensorProto_DataType_BOOL && scalars_.count(n.out.at(0)))
              break;  // a flag (Dropout's training_mode), read at import
            if (a.t().data_type() == ::onnx::TensorProto_DataType_INT64)
              int_constants_[n.out.at(0)] = int64_values(a.t(), n.out.at(0));
            else
              constants_[n.out.at(0)] = tensor_values(a.t(), "constant");
            break;
          }
          [[fallthrough]];
        default: refuse(n, "attribute '" + a.name() + "' of this type is not supported");
      }
    }
    // How many inputs each op takes (ONNX's optional ones included).
    static const std::map<std::string, std::pair<std::size_t, std::size_t>> arity = {
        {"Conv", {2, 3}},    {"MaxPool", {1, 1}},      {"AveragePool", {1, 1}}, {"GlobalAveragePool", {1, 1}},
        {"GlobalMaxPool", {1, 1}}, {"Gemm", {2, 3}},  {"MatMul", {2, 2}},      {"Flatten", {1, 1}},
        {"Reshape", {2, 2}}, {"Unsqueeze", {1, 2}},    {"Squeeze", {1, 2}},     {"BatchNormalization", {5, 5}},
        {"Dropout", {1, 3}}, {"Identity", {1, 1}},     {"Softmax", {1, 1}},     {"LogSoftmax", {1, 1}},
        {"Concat", {1, 64}}, {"Transpose", {1, 1}},    {"LeakyRelu", {1, 1}},   {"ReduceSum", {1, 2}},
        {"ReduceMean", {1, 2}}, {"ReduceMax", {1, 2}}, {"ReduceMin", {1, 2}},   {"Constant", {0, 0}},
        {"Add", {2, 2}},     {"Sub", {2, 2}},          {"Mul", {2, 2}},         {"Div", {2, 2}},
        {"Pow", {2, 2}},     {"Max", {1, 64}},         {"Min", {1, 64}},        {"Elu", {1, 1}},
        {"Selu", {1, 1}},    {"PRelu", {2, 2}},        {"Erf", {1, 1}},         {"ConvTranspose", {2, 3}},
        {"LayerNormalization", {2, 3}}, {"InstanceNormalization", {3, 3}}, {"Gather", {2, 2}}, {"Cast", {1, 1}},
        {"Pad", {2, 3}}};
    if (auto a = arity.find(n.type); a != arity.end()) {
      const std::size_t given = n.in.size();
      if (given < a->second.first || given > a->second.second)
        refuse(n, std::to_string(given) + " inputs given, " + std::to_string(a->second.first) + " to " +
                      std::to_string(a->second.second) + " expected");
      for (std::size_t k = 0; k < a->second.first; ++k)
        if (n.in[k].empty()) refuse(n, "input " + std::to_string(k) + " is required");
    } else if (n.in.size() != 1 || n.in[0].empty()) {  // the element-wise functions of one input
      refuse(n, std::to_string(n.in.size()) + " inputs given, 1 expected");
    }
    auto only = [&](std::initializer_list<const char*> allowed) {
      std::vector<std::string> keys;
      for (const auto& kv : n.ints) keys.push_back(kv.first);
      for (const auto& kv : n.reals) keys.push_back(kv.first);
      for (const auto& kv : n.lists) keys.push_back(kv.first);
      for (const std::string& key : keys)
        if (std::none_of(allowed.begin(), allowed.end(), [&key](const char* a) { return key == a; }))
          refuse(n, "attribute '" + key + "' is not supported");
    };
    auto int_or = [&](const char* k, std::int64_t d) { return n.ints.count(k) ? n.ints.at(k) : d; };
    for (const char* key : {"kernel_shape", "strides", "pads", "dilations"})
      if (n.lists.count(key))
        for (auto v : n.lists.at(key))
          if (v < 0 || v > (std::int64_t(1) << 30) || (v == 0 && std::string(key) != "pads"))
            refuse(n, std::string("attribute '") + key + "' = " + std::to_string(v) + " is out of range");
    // pads (begins..., ends...): the same at both ends of each axis
    auto symmetric_pads = [&]() {
      const auto& pads = n.lists.count("pads") ? n.lists.at("pads") : std::vector<std::int64_t>{};
      bool same = pads.size() % 2 == 0;
      for (std::size_t d = 0; same && d < pads.size() / 2; ++d) same = pads[d] == pads[d + pads.size() / 2];
      return same;
    };
    // axes: an attribute before opset `from`, an input from it on; the other form would be ignored, so refused
    auto axes_where = [&](int from) {
      if (opset_ >= from && n.lists.count("axes"))
        refuse(n, "from opset " + std::to_string(from) + " axes is an input, not an attribute");
      if (opset_ < from && n.in.size() > 1 && !n.in[1].empty())
        refuse(n, "before opset " + std::to_string(from) + " axes is an attribute, not an input");
    };
    const std::string& t = n.type;
    if (!n.mode.empty() && n.lists.count("pads"))
      refuse(n, "auto_pad '" + n.mode + "' together with explicit pads is invalid ONNX");
    if (t == "Conv" || t == "ConvTranspose") {  // Conv's pads may differ at the two ends (run pads the input first)
      if (t == "Conv")
        only({"kernel_shape", "strides", "pads", "dilations", "group"});
      else
        only({"kernel_shape", "strides", "pads", "dilations", "group", "output_padding"});
      if (t == "ConvTranspose" && !symmetric_pads())
        refuse(n, "only the same padding at both ends of an axis is supported");
    } else if (t == "MaxPool" || t == "AveragePool") {
      only({"kernel_shape", "strides", "pads", "ceil_mode", "count_include_pad", "storage_order", "dilations"});
      const auto pads = n.lists.count("pads") ? n.lists.at("pads") : std::vector<std::int64_t>{};
      const std::size_t k = n.lists.count("kernel_shape") ? n.lists.at("kernel_shape").size() : 0;
      if (k != 1 && k != 2) refuse(n, "only 1-D and 2-D pooling are supported");
      if (!pads.empty() && pads.size() != 2 * k)
        refuse(n, "pads has " + std::to_string(pads.size()) + " values for a " + std::to_string(k) + "-D kernel");
      if (!symmetric_pads() && int_or("ceil_mode", 0) != 0)
        refuse(n, "ceil_mode with different padding at the two ends of an axis is not supported");
      if (int_or("storage_order", 0) != 0) refuse(n, "storage_order = 1 is not supported");
      if (n.lists.count("dilations"))
        for (auto d : n.lists.at("dilations"))
          if (d != 1) refuse(n, "dilated pooling is not supported");
    } else if (t == "Gemm") {
      only({"alpha", "beta", "transA", "transB"});
    } else if (t == "Flatten" || t == "Softmax" || t == "LogSoftmax" || t == "Concat") {
      only({"axis"});
    } else if (t == "BatchNormalization") {
      only({"epsilon", "momentum", "training_mode", "spatial"});
      if (int_or("training_mode", 0) != 0) refuse(n, "training_mode outputs are not supported");
    } else if (t == "Dropout") {  // ratio and training_mode read here: run sees one input
      only({"seed", "ratio"});
      auto constant = [&](std::size_t k, const char* what) -> std::optional<double> {
        if (k >= n.in.size() || n.in[k].empty()) return std::nullopt;
        auto s = scalars_.find(n.in[k]);
        if (s == scalars_.end())
          refuse(n, std::string(what) + " must be a constant scalar (an initializer or a Constant), '" + n.in[k] +
                        "' is not");
        return s->second;
      };
      if (auto r = constant(1, "ratio")) n.reals["ratio"] = *r;
      // ONNX: with training_mode true Dropout drops at inference too (ONNX Runtime does), randomly: not supported.
      if (constant(2, "training_mode").value_or(0.0) != 0.0)
        refuse(n, "training_mode = true (dropout at inference) is not supported; export the model in eval mode");
      const double ratio = n.reals.count("ratio") ? n.reals.at("ratio") : 0.5;
      std::ostringstream r;
      r << ratio;
      if (!(ratio >= 0.0 && ratio < 1.0)) refuse(n, "ratio " + r.str() + " is out of [0, 1)");
      n.in.resize(1);
    } else if (t == "LayerNormalization") {
      only({"axis", "epsilon", "stash_type"});
    } else if (t == "InstanceNormalization") {
      only({"epsilon"});
    } else if (t == "Gather") {
      only({"axis"});  // a negative axis is checked by run, which knows the rank
      if (int_or("axis", 0) > 0) refuse(n, "only Gather along axis 0 (an embedding lookup) is supported");
    } else if (t == "Cast") {
      only({"to", "saturate"});
      static const std::set<std::int64_t> to = {::onnx::TensorProto_DataType_INT64, ::onnx::TensorProto_DataType_INT32,
                                                elem_type()};
      if (!n.ints.count("to") || !to.count(n.ints.at("to")))
        refuse(n, "only a Cast to int64, int32 (Gather's indices) or to the block's element type is supported");
    } else if (t == "Pad") {
      only({});
      if (n.mode.empty()) n.mode = "constant";
    } else if (t == "LeakyRelu" || t == "Elu") {
      only({"alpha"});
    } else if (t == "Selu") {  // gluino's selu has the standard constants (float precision here)
      only({"alpha", "gamma"});
      auto real_or = [&](const char* k, double d) { return n.reals.count(k) ? n.reals.at(k) : d; };
      if (std::abs(real_or("alpha", nd::selu_alpha) - nd::selu_alpha) > 1e-6 ||
          std::abs(real_or("gamma", nd::selu_lambda) - nd::selu_lambda) > 1e-6)
        refuse(n, "only SELU's standard alpha and gamma are supported");
    } else if (t == "Transpose") {
      only({"perm"});
    } else if (t == "Reshape") {
      only({"allowzero"});
      if (int_or("allowzero", 0) != 0) refuse(n, "allowzero = 1 is not supported");
    } else if (t == "Unsqueeze" || t == "Squeeze") {
      only({"axes"});
      axes_where(13);
    } else if (t == "ReduceSum" || t == "ReduceMean" || t == "ReduceMax" || t == "ReduceMin") {
      only({"axes", "keepdims", "noop_with_empty_axes"});
      axes_where(t == "ReduceSum" ? 13 : 18);
      if (int_or("noop_with_empty_axes", 0) != 0) refuse(n, "noop_with_empty_axes = 1 is not supported");
    } else if (t == "Constant") {
      if (!constants_.count(n.out[0]) && !int_constants_.count(n.out[0]) && !scalars_.count(n.out[0]))
        refuse(n, "only a Constant with a 'value' tensor is supported");
    } else {
      static const std::set<std::string> plain = {"Relu", "Sigmoid", "Tanh", "Exp", "Log", "Sqrt", "Neg", "Abs",
                                                  "Softplus", "Softsign", "Identity", "Add", "Sub", "Mul", "Div",
                                                  "Pow", "Max", "Min", "MatMul", "GlobalAveragePool", "GlobalMaxPool",
                                                  "Erf", "PRelu"};
      if (!plain.count(t)) refuse(n, "this op is not supported (docs/hybridize.md lists those that are)");
      only({});
    }
    return n;
  }

  const std::vector<std::int64_t>& ints_of(const Node& n, const std::string& name) const {
    auto it = int_constants_.find(name);
    if (it == int_constants_.end()) refuse(n, "input '" + name + "' must be a constant int64 tensor");
    return it->second;
  }

  void run(const Node& n, std::map<std::string, NDArray<T>>& env) {
    auto in = [&](std::size_t k) -> const NDArray<T>& {
      if (k >= n.in.size() || n.in[k].empty()) refuse(n, "input " + std::to_string(k) + " is missing");
      auto it = env.find(n.in[k]);
      if (it == env.end()) refuse(n, "input '" + n.in[k] + "' is not a float tensor");
      return it->second;
    };
    auto has = [&](std::size_t k) { return k < n.in.size() && !n.in[k].empty(); };
    auto int_or = [&](const char* k, std::int64_t d) { return n.ints.count(k) ? n.ints.at(k) : d; };
    auto real_or = [&](const char* k, double d) { return n.reals.count(k) ? n.reals.at(k) : d; };
    auto list_or = [&](const char* k, std::vector<std::int64_t> d) { return n.lists.count(k) ? n.lists.at(k) : d; };
    auto axis_of = [&](std::int64_t a, std::size_t nd) {
      const std::int64_t r = a < 0 ? a + std::int64_t(nd) : a;
      if (r < 0 || r >= std::int64_t(nd)) refuse(n, "axis " + std::to_string(a) + " is out of range");
      return std::size_t(r);
    };
    auto pair = [&](const char* k, std::size_t d) {
      const auto v = list_or(k, {std::int64_t(d), std::int64_t(d)});
      if (v.size() != 2) refuse(n, std::string("attribute '") + k + "' must have 2 values");
      return std::array<std::size_t, 2>{std::size_t(v[0]), std::size_t(v[1])};
    };
    const std::string& t = n.type;
    NDArray<T> y;
    // The spatial entries of a pads or strides list, checked against the kernel's rank k.
    auto spatial = [&](const char* key, std::size_t k, std::int64_t d) {
      const auto v = list_or(key, std::vector<std::int64_t>(key == std::string("pads") ? 2 * k : k, d));
      if (v.size() != (key == std::string("pads") ? 2 * k : k))
        refuse(n, std::string("attribute '") + key + "' has " + std::to_string(v.size()) + " values for a " +
                      std::to_string(k) + "-D kernel");
      return std::vector<std::size_t>(v.begin(), v.begin() + std::ptrdiff_t(k));
    };
    // ONNX's ceil_mode (as ONNX Runtime and PyTorch) rounds the output count up but drops a last window that would
    // start in the right padding; gluino's full convention keeps it.  True for an axis of size len where it would:
    // there the count rounded down (the valid convention, with the same windows before it) is ONNX's.
    // With auto_pad SAME the output count is ceil(in / s) whatever ceil_mode says (as ONNX Runtime).
    const bool ceil_mode = int_or("ceil_mode", 0) != 0 && n.mode.rfind("SAME", 0) != 0;
    auto drops_last = [&](std::size_t len, std::size_t k, std::size_t s, std::size_t p) {
      if (!ceil_mode || len + 2 * p < k) return false;
      return (len + 2 * p - k + s - 1) / s * s >= len + p;
    };
    auto check_kernel = [&](const NDArray<T>& w) {
      if (!n.lists.count("kernel_shape")) return;
      const std::vector<std::int64_t> ks(w.shape().begin() + 2, w.shape().end());
      if (n.lists.at("kernel_shape") != ks) refuse(n, "kernel_shape differs from the weight's spatial shape");
    };
    // Each spatial axis' padding (begin, end) for input x: the pads attribute, or auto_pad's.  ONNX's SAME:
    // out = ceil(in / s), total = max(0, (out - 1) s + (k - 1) d + 1 - in), the odd one at the end (SAME_UPPER)
    // or at the beginning (SAME_LOWER); VALID: none.
    using Pads = std::vector<std::array<std::size_t, 2>>;
    auto pads_of = [&](const NDArray<T>& x, const std::vector<std::size_t>& kernel) {
      const std::size_t k = kernel.size();
      if (x.ndim() != k + 2)
        refuse(n, "input of shape " + shape_str(x.shape()) + " for a " + std::to_string(k) + "-D kernel");
      const auto v = spatial("pads", k, 0), stride = spatial("strides", k, 1), dilate = spatial("dilations", k, 1);
      const auto& all = n.lists.count("pads") ? n.lists.at("pads") : std::vector<std::int64_t>(2 * k, 0);
      Pads p(k);
      for (std::size_t d = 0; d < k; ++d) {
        p[d] = {v[d], std::size_t(all[d + k])};
        if (n.mode.rfind("SAME", 0) != 0) continue;
        const std::size_t len = x.shape()[2 + d], out = (len + stride[d] - 1) / stride[d];
        const std::size_t need = out == 0 ? 0 : (out - 1) * stride[d] + (kernel[d] - 1) * dilate[d] + 1;
        const std::size_t total = need > len ? need - len : 0, half = total / 2;
        p[d] = n.mode == "SAME_UPPER" ? std::array<std::size_t, 2>{half, total - half}
                                      : std::array<std::size_t, 2>{total - half, half};
      }
      return p;
    };
    // x padded by each axis' larger pad less its smaller one (with value: 0, or -inf for max pooling), at the end
    // where it is larger; sym gets the smaller ones, the op's own symmetric padding.  x itself when symmetric.
    auto prepad = [&](const NDArray<T>& x, const Pads& p, double value, std::vector<std::size_t>& sym) {
      std::vector<std::size_t> width(2 * x.ndim(), 0);
      bool asymmetric = false;
      sym.clear();
      for (std::size_t d = 0; d < p.size(); ++d) {
        sym.push_back(std::min(p[d][0], p[d][1]));
        width[2 * (2 + d)] = p[d][0] - sym[d];
        width[2 * (2 + d) + 1] = p[d][1] - sym[d];
        asymmetric = asymmetric || p[d][0] != p[d][1];
      }
      return asymmetric ? nd::pad(x, "constant", width, value) : x;
    };
    auto kernel_of = [&](const NDArray<T>& w) {
      return std::vector<std::size_t>(w.shape().begin() + 2, w.shape().end());
    };
    // Average pooling over the input elements only, where x was padded by prepad: the window sums over x divided by
    // the number of input elements in each (a ones mask padded alike), both pooled counting the padding.
    auto avg_of_inputs = [&](const auto& pool, const NDArray<T>& x, const Pads& p) {
      Shape ones = in(0).shape();
      ones[0] = ones[1] = 1;
      std::vector<std::size_t> sym;
      return nd::divide(pool(x), pool(prepad(nd::ones<T>(ones), p, 0.0, sym)));
    };
    if (t == "Conv" && in(1).ndim() == 3) {
      check_kernel(in(1));
      std::vector<std::size_t> sym;
      const NDArray<T> x = prepad(in(0), pads_of(in(0), kernel_of(in(1))), 0.0, sym);
      nd::Conv1DOptions o{.stride = spatial("strides", 1, 1)[0], .dilate = spatial("dilations", 1, 1)[0],
                          .pad = sym[0], .num_group = std::size_t(int_or("group", 1))};
      y = nd::convolution1d(x, in(1), has(2) ? in(2) : NDArray<T>(), o);
    } else if (t == "Conv" && in(1).ndim() == 5) {
      check_kernel(in(1));
      nd::Conv3DOptions o;
      std::vector<std::size_t> p;
      const NDArray<T> x = prepad(in(0), pads_of(in(0), kernel_of(in(1))), 0.0, p);
      const auto s = spatial("strides", 3, 1), d = spatial("dilations", 3, 1);
      std::copy(s.begin(), s.end(), o.stride.begin());
      std::copy(d.begin(), d.end(), o.dilate.begin());
      std::copy(p.begin(), p.end(), o.pad.begin());
      o.num_group = std::size_t(int_or("group", 1));
      y = nd::convolution3d(x, in(1), has(2) ? in(2) : NDArray<T>(), o);
    } else if (t == "ConvTranspose") {
      if (in(1).ndim() != 4) refuse(n, "only 2-D ConvTranspose is supported");
      check_kernel(in(1));
      nd::DeconvOptions o;
      const auto s = spatial("strides", 2, 1), d = spatial("dilations", 2, 1), a = spatial("output_padding", 2, 0);
      auto p = spatial("pads", 2, 0);  // symmetric (checked at import)
      for (std::size_t k = 0; k < 2 && n.mode.rfind("SAME", 0) == 0; ++k) {
        // ONNX: out = in * stride, so total = (kernel - 1) d + 1 + output_padding - stride, split as Conv's
        const auto total = std::int64_t((in(1).shape()[2 + k] - 1) * d[k] + 1 + a[k]) - std::int64_t(s[k]);
        if (total < 0 || total % 2 != 0)
          refuse(n, "auto_pad '" + n.mode + "' gives a total padding of " + std::to_string(total) + " along axis " +
                        std::to_string(2 + k) + ", which gluino's symmetric padding cannot " +
                        (total < 0 ? "give" : "split"));
        p[k] = std::size_t(total / 2);
      }
      o.stride = {s[0], s[1]}, o.dilate = {d[0], d[1]}, o.pad = {p[0], p[1]}, o.adj = {a[0], a[1]};
      o.num_group = std::size_t(int_or("group", 1));
      y = nd::deconvolution(in(0), in(1), has(2) ? in(2) : NDArray<T>(), o);
    } else if ((t == "MaxPool" || t == "AveragePool") && n.lists.at("kernel_shape").size() == 1) {
      const auto kernel = spatial("kernel_shape", 1, 1);
      const Pads pads = pads_of(in(0), kernel);
      std::vector<std::size_t> sym;
      const NDArray<T> x = prepad(in(0), pads, t == "MaxPool" ? -std::numeric_limits<double>::infinity() : 0.0, sym);
      nd::Pool1DOptions o{.kernel = kernel[0], .stride = spatial("strides", 1, 1)[0], .pad = sym[0],
                          .type = t == "MaxPool" ? nd::pool_type::max : nd::pool_type::avg,
                          .global_pool = false,
                          .convention = ceil_mode ? nd::pooling_convention::full : nd::pooling_convention::valid,
                          .count_include_pad = int_or("count_include_pad", 0) != 0};
      if (drops_last(x.shape(2), o.kernel, o.stride, o.pad)) o.convention = nd::pooling_convention::valid;
      if (t == "AveragePool" && !o.count_include_pad && x.shape() != in(0).shape()) {
        o.count_include_pad = true;
        y = avg_of_inputs([&](const NDArray<T>& a) { return nd::pooling1d(a, o); }, x, pads);
      } else {
        y = nd::pooling1d(x, o);
      }
    } else if ((t == "GlobalAveragePool" || t == "GlobalMaxPool") && in(0).ndim() == 3) {
      nd::Pool1DOptions o;
      o.global_pool = true;
      o.type = t == "GlobalMaxPool" ? nd::pool_type::max : nd::pool_type::avg;
      y = nd::pooling1d(in(0), o);
    } else if (t == "LayerNormalization") {  // over axes [axis, ndim): viewed as one last axis
      const NDArray<T>& x = in(0);
      const std::size_t a = axis_of(int_or("axis", -1), x.ndim());
      std::vector<std::size_t> lead(x.shape().begin(), x.shape().begin() + std::ptrdiff_t(a));
      std::size_t inner = 1;
      for (std::size_t d = a; d < x.ndim(); ++d) inner *= x.shape()[d];
      lead.push_back(inner);
      auto affine = [&](std::size_t k) {
        if (!has(k)) return nd::zeros<T>(Shape{inner});
        if (in(k).size() != inner) refuse(n, "Scale and B must have the normalized axes' shape");
        return nd::reshape(in(k), Shape{inner});
      };
      y = nd::reshape(nd::layer_norm(nd::reshape(x, Shape(lead)), affine(1), affine(2), -1, real_or("epsilon", 1e-5)),
                      x.shape());
    } else if (t == "InstanceNormalization") {
      y = nd::instance_norm(in(0), in(1), in(2), real_or("epsilon", 1e-5));
    } else if (t == "Gather") {  // rows of data (D0, ...) by index: an embedding of data viewed as (D0, rest)
      const NDArray<T>& data = in(0);
      if (data.ndim() < 1) refuse(n, "data must have at least one axis");
      if (axis_of(int_or("axis", 0), data.ndim()) != 0)
        refuse(n, "only Gather along axis 0 (an embedding lookup) is supported");
      const std::size_t rows = data.shape(0), rest = rows ? data.size() / rows : 0;
      NDArray<T> index;
      Shape out;  // the indices' shape (none for a scalar index: x[1]), then data's other axes
      if (auto c = int_constants_.find(n.in[1]); c != int_constants_.end()) {
        const auto& dims = int_shapes_.at(n.in[1]);
        if (dims.size() + data.ndim() - 1 > Shape::max_dims)
          refuse(n, "indices of " + std::to_string(dims.size()) + " axes give more axes than an array has");
        for (auto d : dims) out.push_back(std::size_t(d));
        index = NDArray<T>(Shape{c->second.size()});
        for (std::size_t k = 0; k < c->second.size(); ++k) {  // ONNX: an index in [-D0, D0), negative from the back
          const std::int64_t v = c->second[k], r = std::int64_t(rows);
          if (v < -r || v >= r)
            refuse(n, "index " + std::to_string(v) + " is out of range for axis 0 of size " + std::to_string(rows));
          index.data()[k] = static_cast<T>(v < 0 ? v + r : v);
        }
      } else {
        index = in(1);
        out = index.shape();
      }
      for (std::size_t d = 1; d < data.ndim(); ++d) out.push_back(data.shape()[d]);
      y = nd::reshape(nd::embedding(index, nd::reshape(data, Shape{rows, rest})), out);
    } else if (t == "Cast") {
      y = in(0);  // to T, or to integers read as Gather's indices only (checked at import)
    } else if (t == "Pad") {
      const NDArray<T>& x = in(0);
      const auto& pads = ints_of(n, n.in[1]);
      if (pads.size() != 2 * x.ndim()) refuse(n, "pads has " + std::to_string(pads.size()) + " values for an input of " +
                                                     std::to_string(x.ndim()) + " axes");
      std::vector<std::size_t> width;  // ONNX's (begins..., ends...) -> MXNet's (before0, after0, ...)
      for (std::size_t d = 0; d < x.ndim(); ++d) {
        if (pads[d] < 0 || pads[d + x.ndim()] < 0) refuse(n, "negative pads (cropping) are not supported");
        if (pads[d] > (std::int64_t(1) << 30) || pads[d + x.ndim()] > (std::int64_t(1) << 30))
          refuse(n, "a pad of more than 2^30 is out of range");
        width.push_back(std::size_t(pads[d]));
        width.push_back(std::size_t(pads[d + x.ndim()]));
      }
      double value = 0;
      if (has(2)) {
        if (in(2).size() != 1) refuse(n, "constant_value must be a scalar");
        value = double(in(2).data()[0]);
      }
      y = nd::pad(x, n.mode, width, value);
    } else if (t == "Conv") {
      if (in(1).ndim() != 4)
        refuse(n, "a weight of shape " + shape_str(in(1).shape()) + ": 1-D, 2-D and 3-D kernels are supported");
      check_kernel(in(1));
      nd::ConvOptions o;
      o.stride = pair("strides", 1);
      o.dilate = pair("dilations", 1);
      std::vector<std::size_t> sym;
      const NDArray<T> x = prepad(in(0), pads_of(in(0), kernel_of(in(1))), 0.0, sym);
      o.pad = {sym[0], sym[1]};
      o.num_group = std::size_t(int_or("group", 1));
      y = nd::convolution(x, in(1), has(2) ? in(2) : NDArray<T>(), o);
    } else if (t == "MaxPool" || t == "AveragePool") {
      nd::PoolOptions o;
      o.kernel = pair("kernel_shape", 1);
      o.stride = pair("strides", 1);
      const Pads pads = pads_of(in(0), {o.kernel[0], o.kernel[1]});
      std::vector<std::size_t> sym;
      const NDArray<T> x = prepad(in(0), pads, t == "MaxPool" ? -std::numeric_limits<double>::infinity() : 0.0, sym);
      o.pad = {sym[0], sym[1]};
      o.type = t == "MaxPool" ? nd::pool_type::max : nd::pool_type::avg;
      o.convention = ceil_mode ? nd::pooling_convention::full : nd::pooling_convention::valid;
      o.count_include_pad = int_or("count_include_pad", 0) != 0;
      std::array<bool, 2> drop = {false, false};
      for (std::size_t d = 0; d < 2; ++d) drop[d] = drops_last(x.shape()[2 + d], o.kernel[d], o.stride[d], o.pad[d]);
      if (drop[0] && drop[1]) o.convention = nd::pooling_convention::valid;
      if (t == "AveragePool" && !o.count_include_pad && x.shape() != in(0).shape()) {
        o.count_include_pad = true;
        y = avg_of_inputs([&](const NDArray<T>& a) { return nd::pooling(a, o); }, x, pads);
      } else {
        y = nd::pooling(x, o);
      }
      if (drop[0] != drop[1]) {  // one axis only: pooled with full, its last row (or column) dropped
        const std::vector<std::size_t> to_front = drop[0] ? std::vector<std::size_t>{2, 0, 1, 3}
                                                          : std::vector<std::size_t>{3, 0, 1, 2};
        const std::vector<std::size_t> back = drop[0] ? std::vector<std::size_t>{1, 2, 0, 3}
                                                      : std::vector<std::size_t>{1, 2, 3, 0};
        const NDArray<T> moved = nd::transpose(y, to_front);
        y = nd::transpose(nd::slice_axis0(moved, 0, moved.shape(0) - 1), back);
      }
    } else if (t == "GlobalAveragePool" || t == "GlobalMaxPool") {
      nd::PoolOptions o;
      o.global_pool = true;
      o.type = t == "GlobalMaxPool" ? nd::pool_type::max : nd::pool_type::avg;
      y = nd::pooling(in(0), o);
    } else if (t == "Gemm") {
      const double alpha = real_or("alpha", 1.0), beta = real_or("beta", 1.0);
      const bool ta = int_or("transA", 0) != 0, tb = int_or("transB", 0) != 0;
      const NDArray<T>& a = in(0);
      const NDArray<T>& b = in(1);
      if (!ta && tb && alpha == 1.0 && beta == 1.0 && (!has(2) || (in(2).ndim() == 1 && in(2).shape(0) == b.shape(0))))
        y = nd::fully_connected(a, b, has(2) ? in(2) : NDArray<T>(), false);
      else {
        y = nd::dot(a, b, ta, tb);
        if (alpha != 1.0) y = y * static_cast<T>(alpha);
        if (has(2)) y = y + (beta == 1.0 ? in(2) : in(2) * static_cast<T>(beta));
      }
    } else if (t == "MatMul") {  // (..., K) x (K, M) -> (..., M): the leading axes as rows (NumPy's matmul)
      const NDArray<T>& a = in(0);
      if (a.ndim() < 1 || in(1).ndim() != 2)
        refuse(n, "only MatMul of a matrix second operand is supported, got shapes " + shape_str(a.shape()) + " and " +
                      shape_str(in(1).shape()));
      Shape lead;
      std::size_t rows = 1;
      for (std::size_t d = 0; d + 1 < a.ndim(); ++d) lead.push_back(a.shape()[d]), rows *= a.shape()[d];
      const std::size_t k = a.shape()[a.ndim() - 1];
      if (a.ndim() == 2)
        y = nd::dot(a, in(1));
      else {
        y = nd::dot(nd::reshape(a, Shape{rows, k}), in(1));
        lead.push_back(in(1).shape(1));
        y = nd::reshape(y, lead);
      }
    } else if (t == "Flatten") {
      const NDArray<T>& x = in(0);
      std::int64_t axis = int_or("axis", 1);
      if (axis < 0) axis += std::int64_t(x.ndim());
      if (axis < 0 || axis > std::int64_t(x.ndim())) refuse(n, "axis is out of range for shape of " + std::to_string(x.ndim()) + " axes");
      std::size_t outer = 1, inner = 1;
      for (std::size_t d = 0; d < x.ndim(); ++d) (std::int64_t(d) < axis ? outer : inner) *= x.shape()[d];
      y = nd::reshape(x, Shape{outer, inner});
    } else if (t == "Reshape") {
      const NDArray<T>& x = in(0);
      std::vector<long long> to;
      const auto& target = ints_of(n, n.in[1]);
      for (std::size_t d = 0; d < target.size(); ++d) {
        if (target[d] == 0) {
          if (d >= x.ndim()) refuse(n, "a 0 in the target shape copies an axis the input does not have");
          to.push_back(static_cast<long long>(x.shape()[d]));
        } else {
          to.push_back(static_cast<long long>(target[d]));
        }
      }
      y = nd::reshape(x, to);
    } else if (t == "Unsqueeze" || t == "Squeeze") {
      const NDArray<T>& x = in(0);
      std::vector<std::int64_t> axes = opset_ >= 13 ? (has(1) ? ints_of(n, n.in[1]) : std::vector<std::int64_t>{})
                                                    : list_or("axes", {});
      std::vector<std::size_t> dims(x.shape().begin(), x.shape().end());
      if (t == "Unsqueeze") {
        const std::size_t out_nd = dims.size() + axes.size();
        std::vector<bool> is_new(out_nd, false);
        for (auto a : axes) {
          const std::size_t ax = axis_of(a, out_nd);
          if (is_new[ax]) refuse(n, "axis " + std::to_string(a) + " is given twice");
          is_new[ax] = true;
        }
        std::vector<std::size_t> out;
        for (std::size_t d = 0, k = 0; d < out_nd; ++d) out.push_back(is_new[d] ? 1 : dims[k++]);
        y = nd::reshape(x, Shape(out));
      } else {
        std::vector<bool> drop(dims.size(), false);
        for (auto a : axes) drop[axis_of(a, dims.size())] = true;
        std::vector<std::size_t> out;
        for (std::size_t d = 0; d < dims.size(); ++d)
          if (!(axes.empty() ? dims[d] == 1 : drop[d])) out.push_back(dims[d]);
        y = nd::reshape(x, Shape(out));
      }
    } else if (t == "BatchNormalization") {
      nd::BatchNormOptions o;
      o.eps = real_or("epsilon", 1e-5);
      o.momentum = real_or("momentum", 0.9);
      y = nd::batch_norm(in(0), in(1), in(2), in(3), in(4), o);
    } else if (t == "Dropout") {  // ratio and training_mode (false) read at import
      y = nd::dropout(in(0), real_or("ratio", 0.5));  // the identity in predict mode
    } else if (t == "Identity") {
      y = in(0);
    } else if (t == "Softmax" || t == "LogSoftmax") {
      auto norm = [&](const NDArray<T>& a, int axis) {
        return t == "Softmax" ? nd::softmax(a, axis) : nd::log_softmax(a, axis);
      };
      const NDArray<T>& x = in(0);
      if (opset_ >= 13) {
        y = norm(x, int(axis_of(int_or("axis", -1), x.ndim())));
      } else {  // before 13: x coerced to 2-D (the axes before axis, those from it on), normalized along the second
        const std::size_t a = axis_of(int_or("axis", 1), x.ndim());
        std::size_t outer = 1, inner = 1;
        for (std::size_t d = 0; d < x.ndim(); ++d) (d < a ? outer : inner) *= x.shape()[d];
        y = nd::reshape(norm(nd::reshape(x, Shape{outer, inner}), 1), x.shape());
      }
    } else if (t == "Concat") {
      std::vector<NDArray<T>> xs;
      for (std::size_t k = 0; k < n.in.size(); ++k) xs.push_back(in(k));
      y = nd::concat(xs, int(axis_of(int_or("axis", 0), xs[0].ndim())));
    } else if (t == "Transpose") {
      const auto perm = list_or("perm", {});
      y = nd::transpose(in(0), std::vector<std::size_t>(perm.begin(), perm.end()));
    } else if (t == "LeakyRelu") {
      y = nd::leaky_relu(in(0), static_cast<T>(real_or("alpha", 0.01)));
    } else if (t == "Elu") {
      y = nd::elu(in(0), static_cast<T>(real_or("alpha", 1.0)));
    } else if (t == "Selu") {
      y = nd::selu(in(0));
    } else if (t == "PRelu") {  // one slope, or one per channel shaped to broadcast over axis 1: nd::prelu
      const NDArray<T>& x = in(0);
      const NDArray<T>& slope = in(1);
      const Shape& s = slope.shape();
      bool per_channel = x.ndim() >= 2 && s.ndim() >= 1 && s.ndim() <= x.ndim() - 1 && s[0] == x.shape(1);
      for (std::size_t d = 1; per_channel && d < s.ndim(); ++d) per_channel = s[d] == 1;
      if (slope.size() == 1)
        y = nd::prelu(x, nd::reshape(slope, Shape{1}));
      else if (per_channel)
        y = nd::prelu(x, nd::reshape(slope, Shape{s[0]}));
      else  // any other broadcastable slope: max(x, 0) + slope * min(x, 0)
        y = nd::add(nd::relu(x), nd::multiply(slope, nd::negative(nd::relu(nd::negative(x)))));
    } else if (t == "ReduceSum" || t == "ReduceMean" || t == "ReduceMax" || t == "ReduceMin") {
      std::vector<std::int64_t> axes = (t == "ReduceSum" && opset_ >= 13) ? (has(1) ? ints_of(n, n.in[1]) : std::vector<std::int64_t>{})
                                                                          : list_or("axes", {});
      const NDArray<T>& x = in(0);
      std::vector<int> ax;
      for (auto a : axes) ax.push_back(int(axis_of(a, x.ndim())));
      const bool keep = int_or("keepdims", 1) != 0;
      y = t == "ReduceSum" ? x.sum(ax, keep) : t == "ReduceMean" ? x.mean(ax, keep) : t == "ReduceMax" ? x.max(ax, keep) : x.min(ax, keep);
    } else if (t == "Constant") {
      return;  // read at import
    } else {
      static const std::map<std::string, NDArray<T> (*)(const NDArray<T>&)> unary = {
          {"Relu", &nd::relu<T>},         {"Sigmoid", &nd::sigmoid<T>}, {"Tanh", &nd::tanh<T>},
          {"Exp", &nd::exp<T>},           {"Log", &nd::log<T>},         {"Sqrt", &nd::sqrt<T>},
          {"Neg", &nd::negative<T>},      {"Abs", &nd::abs<T>},         {"Softplus", &nd::softrelu<T>},
          {"Softsign", &nd::softsign<T>}, {"Erf", &nd::erf<T>}};
      static const std::map<std::string, NDArray<T> (*)(const NDArray<T>&, const NDArray<T>&)> binary = {
          {"Add", &nd::add<T>},     {"Sub", &nd::subtract<T>}, {"Mul", &nd::multiply<T>}, {"Div", &nd::divide<T>},
          {"Pow", &nd::power<T>},   {"Max", &nd::maximum<T>},  {"Min", &nd::minimum<T>}};
      if (auto u = unary.find(t); u != unary.end()) {
        y = u->second(in(0));
      } else if (auto b = binary.find(t); b != binary.end()) {
        y = in(0);
        for (std::size_t k = 1; k < n.in.size(); ++k) y = b->second(y, in(k));
      } else {
        refuse(n, "this op is not supported");
      }
    }
    env[n.out[0]] = std::move(y);
  }

  std::string where_;
  int opset_ = 0;
  std::string input_, output_;
  std::vector<std::int64_t> input_shape_;
  bool input_shape_known_ = true;
  std::vector<Node> nodes_;
  std::vector<std::pair<std::string, std::size_t>> params_;  // initializer name, position in params()
  std::map<std::string, NDArray<T>> constants_;                // Constant nodes' float tensors
  std::map<std::string, std::vector<std::int64_t>> int_constants_;
  std::map<std::string, std::vector<std::int64_t>> int_shapes_;  // their dimensions
  // One-element float, double and bool initializers and Constants (Dropout's ratio and training_mode): read at
  // import only, so rebuild does not copy them.
  std::map<std::string, double> scalars_;
};
using SymbolBlock = BasicSymbolBlock<float>;

}  // namespace gluino::nn
