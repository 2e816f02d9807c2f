// SPDX-License-Identifier: Apache-2.0
#pragma once
/// Not API.  SymbolBlock's (onnx/symbol_block.hpp) reading of an ONNX model: a node's op, inputs
/// and attributes (Node), checked against what the importer supports (parse); the tensors of
/// initializers and Constants; what the import keeps (Context) and a node's inputs and attributes
/// as run reads them (NodeArgs).  Values are float tensors or int64 ones (Kind, onnx/import_ints.hpp).
#include <onnx/onnx_pb.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "gluino/core/error.hpp"
#include "gluino/core/ndarray.hpp"
#include "gluino/nd/activations.hpp"

namespace gluino::detail::onnx_import {

/// What a value of the graph is.  real: a float tensor of the block's type; integer: an int64 tensor (shapes,
/// axes, pads, indices: a constant, or computed at run time from the input's shape); index: a float tensor cast
/// to an integer type, read only as Gather's indices (run as the identity); flag: a one-element bool constant
/// (Dropout's training_mode), read at import only.
enum class Kind { real, integer, index, flag };

/// An int64 tensor: its dimensions and its values in row-major order.
struct Ints {
  std::vector<std::size_t> dims;
  std::vector<std::int64_t> values;
};

/// One node as the importer keeps it: its attributes by type.
struct Node {
  std::string type, name;
  std::vector<std::string> in, out;
  std::map<std::string, std::int64_t> ints;
  std::map<std::string, double> reals;
  std::map<std::string, std::vector<std::int64_t>> lists;
  std::string mode;  // Pad's mode, or the auto_pad of Conv, ConvTranspose and the pools ("" for NOTSET)
};

/// ONNX's element type of T (1 float, 11 double).
template <class T>
constexpr int elem_type() {
  return std::is_same_v<T, float> ? ::onnx::TensorProto_DataType_FLOAT : ::onnx::TensorProto_DataType_DOUBLE;
}
inline std::string shape_str(const Shape& s) {
  std::ostringstream os;
  os << s;
  return os.str();
}

/// What the import reads besides the nodes: the model's name in messages, its opset, the kind of
/// each value, and the constants (float ones of Constant nodes, int64 ones, one-value ones).
template <class T>
struct Context {
  std::string where;
  int opset = 0;
  std::map<std::string, Kind> kinds;            // every value's, by name
  std::map<std::string, NDArray<T>> constants;  // Constant nodes' float tensors
  std::map<std::string, Ints> int_constants;    // int64 initializers and Constants
  // One-element float, double and bool initializers and Constants (Dropout's ratio and training_mode): read at
  // import only, so rebuild does not copy them.
  std::map<std::string, double> scalars;

  [[noreturn]] void refuse(const Node& n, const std::string& why) const {
    ::gluino::detail::raise<ValueError>("SymbolBlock::imports: '", where, "': node '", n.name, "' (op ", n.type,
                                        ", opset ", opset, "): ", why);
  }
};

/// A node's inputs (the float tensors computed so far, in env; the int64 ones in ints, or constants)
/// and attributes, as run reads them.
template <class T>
struct NodeArgs {
  const Context<T>& cx;
  const Node& n;
  const std::map<std::string, NDArray<T>>& env;
  const std::map<std::string, Ints>& ints;

  const NDArray<T>& in(std::size_t k) const {
    if (k >= n.in.size() || n.in[k].empty()) cx.refuse(n, "input " + std::to_string(k) + " is missing");
    auto it = env.find(n.in[k]);
    if (it == env.end()) cx.refuse(n, "input '" + n.in[k] + "' is not a float tensor");
    return it->second;
  }
  bool has(std::size_t k) const { return k < n.in.size() && !n.in[k].empty(); }
  /// Whether input k is an int64 tensor (computed, or a constant).
  bool is_ints(std::size_t k) const {
    return has(k) && (ints.count(n.in[k]) || cx.int_constants.count(n.in[k]));
  }
  const Ints& ints_in(std::size_t k) const {
    if (!has(k)) cx.refuse(n, "input " + std::to_string(k) + " is missing");
    if (auto it = ints.find(n.in[k]); it != ints.end()) return it->second;
    auto c = cx.int_constants.find(n.in[k]);
    if (c == cx.int_constants.end()) cx.refuse(n, "input '" + n.in[k] + "' is not an int64 tensor");
    return c->second;
  }
  std::int64_t int_or(const char* k, std::int64_t d) const { return n.ints.count(k) ? n.ints.at(k) : d; }
  double real_or(const char* k, double d) const { return n.reals.count(k) ? n.reals.at(k) : d; }
  std::vector<std::int64_t> list_or(const char* k, std::vector<std::int64_t> d) const {
    return n.lists.count(k) ? n.lists.at(k) : d;
  }
  std::size_t axis_of(std::int64_t a, std::size_t nd) const {
    const std::int64_t r = a < 0 ? a + std::int64_t(nd) : a;
    if (r < 0 || r >= std::int64_t(nd)) cx.refuse(n, "axis " + std::to_string(a) + " is out of range");
    return std::size_t(r);
  }
  std::array<std::size_t, 2> pair(const char* k, std::size_t d) const {
    const auto v = list_or(k, {std::int64_t(d), std::int64_t(d)});
    if (v.size() != 2) cx.refuse(n, std::string("attribute '") + k + "' must have 2 values");
    return std::array<std::size_t, 2>{std::size_t(v[0]), std::size_t(v[1])};
  }
};

// An int64 tensor (an initializer, or a Constant's value named by its output, `name`): its values must be as
// many as its dimensions say.
template <class T>
Ints int64_tensor(const Context<T>& cx, const ::onnx::TensorProto& t, const std::string& name) {
  GLUINO_CHECK(ValueError, t.data_location() != ::onnx::TensorProto_DataLocation_EXTERNAL, "SymbolBlock::imports: '",
               cx.where, "': tensor '", name, "' is stored in an external file, which is not supported");
  std::vector<std::int64_t> v(t.int64_data().begin(), t.int64_data().end());
  if (t.has_raw_data()) {
    const std::string& raw = t.raw_data();
    GLUINO_CHECK(ValueError, raw.size() % 8 == 0, "SymbolBlock::imports: '", cx.where, "': tensor '", name,
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
    GLUINO_CHECK(ValueError, d >= 0, "SymbolBlock::imports: '", cx.where, "': tensor '", name, "' of shape ",
                 shape.str(), " has a negative dimension");
    n = d == 0 ? 0 : n > (v.size() + 1) / std::uint64_t(d) ? v.size() + 1 : n * std::uint64_t(d);
  }
  GLUINO_CHECK(ValueError, n == v.size(), "SymbolBlock::imports: '", cx.where, "': tensor '", name, "' of shape ",
               shape.str(), " holds ", v.size(), " values");
  return Ints{std::vector<std::size_t>(dims.begin(), dims.end()), std::move(v)};
}
template <class T>
NDArray<T> tensor_values(const Context<T>& cx, const ::onnx::TensorProto& t, const char* what) {
  GLUINO_CHECK(ValueError, t.data_type() == elem_type<T>(), "SymbolBlock::imports: '", cx.where, "': ", what, " '",
               t.name(), "' has element type ", t.data_type(), ", this block is of ", elem_type<T>(),
               " (1 float, 11 double)");
  GLUINO_CHECK(ValueError, t.data_location() != ::onnx::TensorProto_DataLocation_EXTERNAL, "SymbolBlock::imports: '",
               cx.where, "': ", what, " '", t.name(), "' is stored in an external file, which is not supported");
  // The element count from the dimensions, checked against what the tensor holds before
  // anything is allocated (a file cannot make it allocate more than it brings).
  Shape s;
  std::size_t n = 1;
  bool overflow = false;
  for (auto d : t.dims()) {
    GLUINO_CHECK(ValueError, d >= 0, "SymbolBlock::imports: '", cx.where, "': ", what, " '", t.name(),
                 "' has a negative dimension");
    s.push_back(std::size_t(d));
    overflow = overflow || (d != 0 && n > std::size_t(PTRDIFF_MAX) / sizeof(T) / std::size_t(d));
    n = overflow ? 0 : n * std::size_t(d);
  }
  const std::size_t held = t.has_raw_data() ? t.raw_data().size() / sizeof(T)
                           : std::is_same_v<T, float> ? std::size_t(t.float_data_size())
                                                      : std::size_t(t.double_data_size());
  GLUINO_CHECK(ValueError, !overflow && n == held && (!t.has_raw_data() || t.raw_data().size() % sizeof(T) == 0),
               "SymbolBlock::imports: '", cx.where, "': ", what, " '", t.name(), "' of shape ", s, " holds ",
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
inline std::optional<double> scalar_value(const ::onnx::TensorProto& t) {
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

// A Constant's value (attribute a) under its output's name: an int64 tensor in int_constants, a float one in
// constants, and a one-element float or bool one in scalars (a bool one only there).  value_int and value_ints
// are int64 tensors of no axis and one, value_float and value_floats float ones.
template <class T>
void read_constant(Context<T>& cx, const Node& n, const ::onnx::AttributeProto& a) {
  using A = ::onnx::AttributeProto;
  const std::string& out = n.out.at(0);
  ::onnx::TensorProto t;
  t.set_name(out);
  if (a.name() == "value" && a.type() == A::TENSOR) {
    t = a.t();
  } else if (a.name() == "value_int" || a.name() == "value_ints") {
    t.set_data_type(::onnx::TensorProto_DataType_INT64);
    if (a.name() == "value_ints") t.add_dims(a.ints_size());
    if (a.name() == "value_int") t.add_int64_data(a.i());
    for (auto v : a.ints()) t.add_int64_data(v);
  } else if (a.name() == "value_float" || a.name() == "value_floats") {
    t.set_data_type(::onnx::TensorProto_DataType_FLOAT);
    if (a.name() == "value_floats") t.add_dims(a.floats_size());
    if (a.name() == "value_float") t.add_float_data(a.f());
    for (auto v : a.floats()) t.add_float_data(v);
  } else {
    cx.refuse(n, "attribute '" + a.name() + "' is not supported (a Constant's value, value_float, value_floats, "
                 "value_int or value_ints is)");
  }
  if (auto v = scalar_value(t)) cx.scalars[out] = *v;
  if (t.data_type() == ::onnx::TensorProto_DataType_BOOL && cx.scalars.count(out)) {
    cx.kinds[out] = Kind::flag;  // Dropout's training_mode, read at import
  } else if (t.data_type() == ::onnx::TensorProto_DataType_INT64) {
    cx.int_constants[out] = int64_tensor(cx, t, out);
    cx.kinds[out] = Kind::integer;
  } else {
    cx.constants[out] = tensor_values(cx, t, "constant");
    cx.kinds[out] = Kind::real;
  }
}

// Reads a node's attributes and checks that the op and its attributes are supported.
template <class T>
Node parse(Context<T>& cx, const ::onnx::NodeProto& p) {
  Node n;
  n.type = p.op_type();
  n.name = p.name().empty() ? (p.output_size() ? p.output(0) : n.type) : p.name();
  n.in.assign(p.input().begin(), p.input().end());
  n.out.assign(p.output().begin(), p.output().end());
  GLUINO_CHECK(ValueError, p.domain().empty() || p.domain() == "ai.onnx", "SymbolBlock::imports: '", cx.where,
               "': node '", n.name, "' (op ", n.type, ") is in domain '", p.domain(), "', not supported");
  GLUINO_CHECK(ValueError, n.out.size() >= 1 && !n.out[0].empty(), "SymbolBlock::imports: '", cx.where, "': node '",
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
      {"ratio", A::FLOAT},       {"start", A::INT},     {"end", A::INT},         {"value_int", A::INT},
      {"value_ints", A::INTS},   {"value_float", A::FLOAT}, {"value_floats", A::FLOATS},
      {"value", A::TENSOR}};
  for (const auto& a : p.attribute())
    if (auto k = types.find(a.name()); k != types.end() && a.type() != k->second)
      cx.refuse(n, "attribute '" + a.name() + "' is of type " + A::AttributeType_Name(a.type()) + ", ONNX's is " +
                    A::AttributeType_Name(k->second));
  if (n.type == "Constant" && p.attribute_size() != 1)
    cx.refuse(n, "a Constant has one attribute, its value; this one has " + std::to_string(p.attribute_size()));
  for (const auto& a : p.attribute()) {
    if (n.type == "Constant") {
      read_constant(cx, n, a);
      continue;
    }
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
        cx.refuse(n, "attribute '" + a.name() + "' = '" + a.s() + "' is not supported");
      default: cx.refuse(n, "attribute '" + a.name() + "' of this type is not supported");
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
      {"Pad", {2, 3}},     {"Shape", {1, 1}},        {"Slice", {3, 5}}};
  if (auto a = arity.find(n.type); a != arity.end()) {
    const std::size_t given = n.in.size();
    if (given < a->second.first || given > a->second.second)
      cx.refuse(n, std::to_string(given) + " inputs given, " + std::to_string(a->second.first) + " to " +
                    std::to_string(a->second.second) + " expected");
    for (std::size_t k = 0; k < a->second.first; ++k)
      if (n.in[k].empty()) cx.refuse(n, "input " + std::to_string(k) + " is required");
  } else if (n.in.size() != 1 || n.in[0].empty()) {  // the element-wise functions of one input
    cx.refuse(n, std::to_string(n.in.size()) + " inputs given, 1 expected");
  }
  auto only = [&](std::initializer_list<const char*> allowed) {
    std::vector<std::string> keys;
    for (const auto& kv : n.ints) keys.push_back(kv.first);
    for (const auto& kv : n.reals) keys.push_back(kv.first);
    for (const auto& kv : n.lists) keys.push_back(kv.first);
    for (const std::string& key : keys)
      if (std::none_of(allowed.begin(), allowed.end(), [&key](const char* a) { return key == a; }))
        cx.refuse(n, "attribute '" + key + "' is not supported");
  };
  auto int_or = [&](const char* k, std::int64_t d) { return n.ints.count(k) ? n.ints.at(k) : d; };
  for (const char* key : {"kernel_shape", "strides", "pads", "dilations"})
    if (n.lists.count(key))
      for (auto v : n.lists.at(key))
        if (v < 0 || v > (std::int64_t(1) << 30) || (v == 0 && std::string(key) != "pads"))
          cx.refuse(n, std::string("attribute '") + key + "' = " + std::to_string(v) + " is out of range");
  if (n.ints.count("group") && (n.ints.at("group") < 1 || n.ints.at("group") > (std::int64_t(1) << 30)))
    cx.refuse(n, "attribute 'group' = " + std::to_string(n.ints.at("group")) + " is out of range (1 to 2^30)");
  // pads (begins..., ends...): the same at both ends of each axis
  auto symmetric_pads = [&]() {
    const auto& pads = n.lists.count("pads") ? n.lists.at("pads") : std::vector<std::int64_t>{};
    bool same = pads.size() % 2 == 0;
    for (std::size_t d = 0; same && d < pads.size() / 2; ++d) same = pads[d] == pads[d + pads.size() / 2];
    return same;
  };
  // axes: an attribute before opset `from`, an input from it on; the other form would be ignored, so refused
  auto axes_where = [&](int from) {
    if (cx.opset >= from && n.lists.count("axes"))
      cx.refuse(n, "from opset " + std::to_string(from) + " axes is an input, not an attribute");
    if (cx.opset < from && n.in.size() > 1 && !n.in[1].empty())
      cx.refuse(n, "before opset " + std::to_string(from) + " axes is an attribute, not an input");
  };
  const std::string& t = n.type;
  if (!n.mode.empty() && n.lists.count("pads"))
    cx.refuse(n, "auto_pad '" + n.mode + "' together with explicit pads is invalid ONNX");
  if (t == "Conv" || t == "ConvTranspose") {  // Conv's pads may differ at the two ends (run pads the input first)
    if (t == "Conv")
      only({"kernel_shape", "strides", "pads", "dilations", "group"});
    else
      only({"kernel_shape", "strides", "pads", "dilations", "group", "output_padding"});
    if (t == "ConvTranspose" && !symmetric_pads())
      cx.refuse(n, "only the same padding at both ends of an axis is supported");
  } else if (t == "MaxPool" || t == "AveragePool") {
    only({"kernel_shape", "strides", "pads", "ceil_mode", "count_include_pad", "storage_order", "dilations"});
    const auto pads = n.lists.count("pads") ? n.lists.at("pads") : std::vector<std::int64_t>{};
    const std::size_t k = n.lists.count("kernel_shape") ? n.lists.at("kernel_shape").size() : 0;
    if (k != 1 && k != 2) cx.refuse(n, "only 1-D and 2-D pooling are supported");
    if (!pads.empty() && pads.size() != 2 * k)
      cx.refuse(n, "pads has " + std::to_string(pads.size()) + " values for a " + std::to_string(k) + "-D kernel");
    if (!symmetric_pads() && int_or("ceil_mode", 0) != 0)
      cx.refuse(n, "ceil_mode with different padding at the two ends of an axis is not supported");
    if (int_or("storage_order", 0) != 0) cx.refuse(n, "storage_order = 1 is not supported");
    if (n.lists.count("dilations"))
      for (auto d : n.lists.at("dilations"))
        if (d != 1) cx.refuse(n, "dilated pooling is not supported");
  } else if (t == "Gemm") {
    only({"alpha", "beta", "transA", "transB"});
  } else if (t == "Flatten" || t == "Softmax" || t == "LogSoftmax" || t == "Concat") {
    only({"axis"});
  } else if (t == "BatchNormalization") {
    only({"epsilon", "momentum", "training_mode", "spatial"});
    if (int_or("training_mode", 0) != 0) cx.refuse(n, "training_mode outputs are not supported");
  } else if (t == "Dropout") {  // ratio and training_mode read here: run sees one input
    only({"seed", "ratio"});
    auto constant = [&](std::size_t k, const char* what) -> std::optional<double> {
      if (k >= n.in.size() || n.in[k].empty()) return std::nullopt;
      auto s = cx.scalars.find(n.in[k]);
      if (s == cx.scalars.end())
        cx.refuse(n, std::string(what) + " must be a constant scalar (an initializer or a Constant), '" + n.in[k] +
                      "' is not");
      return s->second;
    };
    if (auto r = constant(1, "ratio")) n.reals["ratio"] = *r;
    // ONNX: with training_mode true Dropout drops at inference too (ONNX Runtime does), randomly: not supported.
    if (constant(2, "training_mode").value_or(0.0) != 0.0)
      cx.refuse(n, "training_mode = true (dropout at inference) is not supported; export the model in eval mode");
    const double ratio = n.reals.count("ratio") ? n.reals.at("ratio") : 0.5;
    std::ostringstream r;
    r << ratio;
    if (!(ratio >= 0.0 && ratio < 1.0)) cx.refuse(n, "ratio " + r.str() + " is out of [0, 1)");
    n.in.resize(1);
  } else if (t == "LayerNormalization") {
    only({"axis", "epsilon", "stash_type"});
  } else if (t == "InstanceNormalization") {
    only({"epsilon"});
  } else if (t == "Gather") {
    only({"axis"});  // of a float tensor along axis 0 only: check_kinds, which knows the data's kind
  } else if (t == "Shape") {
    only({"start", "end"});
    if (cx.opset < 15 && (n.ints.count("start") || n.ints.count("end")))
      cx.refuse(n, "start and end are attributes of Shape from opset 15 on");
  } else if (t == "Slice") {
    only({});
  } else if (t == "Cast") {
    only({"to", "saturate"});
    static const std::set<std::int64_t> to = {::onnx::TensorProto_DataType_INT64, ::onnx::TensorProto_DataType_INT32,
                                              elem_type<T>()};
    if (!n.ints.count("to") || !to.count(n.ints.at("to")))
      cx.refuse(n, "only a Cast to int64, int32 (Gather's indices) or to the block's element type is supported");
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
      cx.refuse(n, "only SELU's standard alpha and gamma are supported");
  } else if (t == "Transpose") {
    only({"perm"});
  } else if (t == "Reshape") {
    only({"allowzero"});
    if (int_or("allowzero", 0) != 0) cx.refuse(n, "allowzero = 1 is not supported");
  } else if (t == "Unsqueeze" || t == "Squeeze") {
    only({"axes"});
    axes_where(13);
  } else if (t == "ReduceSum" || t == "ReduceMean" || t == "ReduceMax" || t == "ReduceMin") {
    only({"axes", "keepdims", "noop_with_empty_axes"});
    axes_where(t == "ReduceSum" ? 13 : 18);
    if (int_or("noop_with_empty_axes", 0) != 0) cx.refuse(n, "noop_with_empty_axes = 1 is not supported");
  } else if (t == "Constant") {  // read above
  } else {
    static const std::set<std::string> plain = {"Relu", "Sigmoid", "Tanh", "Exp", "Log", "Sqrt", "Neg", "Abs",
                                                "Softplus", "Softsign", "Identity", "Add", "Sub", "Mul", "Div",
                                                "Pow", "Max", "Min", "MatMul", "GlobalAveragePool", "GlobalMaxPool",
                                                "Erf", "PRelu"};
    if (!plain.count(t)) cx.refuse(n, "this op is not supported (docs/hybridize.md lists those that are)");
    only({});
  }
  return n;
}

}  // namespace gluino::detail::onnx_import
