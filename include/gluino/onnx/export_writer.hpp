// SPDX-License-Identifier: Apache-2.0
#pragma once
/// ONNX export's per-op emitters (include onnx/export.hpp): OnnxExportOptions, and
/// detail::onnx_export::Writer, which writes each node of a traced graph as ONNX nodes and the
/// graph's parameters and constants as initializers.  onnx/export.hpp makes the model around it
/// (the input and outputs with their batch axis, the checks of names) and writes the file.
#include <onnx/onnx_pb.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "gluino/autograd/trace.hpp"
#include "gluino/core/error.hpp"
#include "gluino/graph/graph.hpp"
#include "gluino/nd/activations.hpp"

namespace gluino {

/// Options of export_onnx.
struct OnnxExportOptions {
  int opset = 13;                       ///< 13 to 17; from 17 a layer norm over the last axis is LayerNormalization
  std::string input_name = "data";      ///< the graph input's name (Gluon's default)
  std::string output_name = "output";   ///< the graph output's name
  bool dynamic_batch = true;            ///< the input's axis 0, and the outputs' axis holding it, is "batch"
  std::string graph_name = "";          ///< "" = the block's name
};

namespace detail::onnx_export {

template <class T>
constexpr int elem_type() {
  return std::is_same_v<T, float> ? ::onnx::TensorProto_DataType_FLOAT : ::onnx::TensorProto_DataType_DOUBLE;
}

inline std::int64_t attr_int(const autograd::Attributes& a, const char* key) {
  for (const auto& [k, v] : a)
    if (k == key) return std::get<std::int64_t>(v);
  ::gluino::detail::raise<ValueError>("onnx export: attribute '", key, "' missing");
}
inline double attr_real(const autograd::Attributes& a, const char* key) {
  for (const auto& [k, v] : a)
    if (k == key) return std::get<double>(v);
  ::gluino::detail::raise<ValueError>("onnx export: attribute '", key, "' missing");
}
inline std::vector<std::int64_t> attr_ints(const autograd::Attributes& a, const char* key) {
  for (const auto& [k, v] : a)
    if (k == key) return std::get<std::vector<std::int64_t>>(v);
  ::gluino::detail::raise<ValueError>("onnx export: attribute '", key, "' missing");
}
inline std::string attr_str(const autograd::Attributes& a, const char* key) {
  for (const auto& [k, v] : a)
    if (k == key) return std::get<std::string>(v);
  ::gluino::detail::raise<ValueError>("onnx export: attribute '", key, "' missing");
}

/// Builds the ModelProto's graph node by node.
template <class T>
class Writer {
 public:
  Writer(const graph::Graph<T>& g, ::onnx::GraphProto& out, const OnnxExportOptions& opt)
      : g_(g), out_(out), opt_(opt) {}

  void write() {
    const Shape& in_shape = value(g_.inputs.at(0)).shape;
    batch_ = in_shape.ndim() ? in_shape[0] : 0;
    std::vector<bool> used(g_.values.size(), false);  // parameters no node reads are left out
    for (const auto& n : g_.nodes) {
      for (int v : n.inputs)
        if (v >= 0) used[std::size_t(v)] = true;
      for (int v : n.state) used[std::size_t(v)] = true;
    }
    for (int v : g_.outputs) used[std::size_t(v)] = true;
    for (std::size_t i = 0; i < g_.values.size(); ++i) {
      const graph::Value<T>& v = g_.values[i];
      if (used[i] && (v.kind == graph::ValueKind::parameter || v.kind == graph::ValueKind::constant))
        add_initializer(name_of(int(i)), v.array);
    }
    find_height1_views();
    for (std::size_t i = 0; i < g_.nodes.size(); ++i)
      if (!skipped_.count(i)) node(i);
    // An output that no node makes, or that an earlier output already names (one value returned
    // twice): copied by an Identity.
    for (std::size_t k = 0; k < g_.outputs.size(); ++k) {
      const int v = g_.outputs[k];
      const bool earlier = std::find(g_.outputs.begin(), g_.outputs.begin() + std::ptrdiff_t(k), v) !=
                           g_.outputs.begin() + std::ptrdiff_t(k);
      if (value(v).kind != graph::ValueKind::node || earlier) emit("Identity", {name_of(v)}, output_name(k));
    }
  }
  /// The graph's k-th output's name.
  std::string output_name(std::size_t k) const {
    return g_.outputs.size() == 1 ? opt_.output_name : opt_.output_name + std::to_string(k);
  }
  /// The value of id v (>= 0).
  const graph::Value<T>& value(int v) const { return g_.values[graph::detail::idx(v)]; }
  std::string name_of(int v) const {
    const graph::Value<T>& x = value(v);
    if (x.kind == graph::ValueKind::input) return opt_.input_name;
    if (x.kind == graph::ValueKind::node)
      for (std::size_t k = 0; k < g_.outputs.size(); ++k)
        if (g_.outputs[k] == v) return output_name(k);
    if (x.kind == graph::ValueKind::node) return "node" + std::to_string(x.producer) + "_output";
    if (x.kind == graph::ValueKind::constant) return "constant" + std::to_string(v);
    return x.name;
  }

 private:
  // A node of op_type with inputs and one output; returns it for attributes.
  ::onnx::NodeProto& emit(const std::string& op_type, const std::vector<std::string>& in, const std::string& out) {
    ::onnx::NodeProto& n = *out_.add_node();
    n.set_op_type(op_type);
    n.set_name(out + "_" + op_type);
    for (const auto& s : in) n.add_input(s);
    n.add_output(out);
    return n;
  }
  static void set_ints(::onnx::NodeProto& n, const char* key, const std::vector<std::int64_t>& v) {
    auto& a = *n.add_attribute();
    a.set_name(key);
    a.set_type(::onnx::AttributeProto_AttributeType_INTS);
    for (auto x : v) a.add_ints(x);
  }
  static void set_int(::onnx::NodeProto& n, const char* key, std::int64_t v) {
    auto& a = *n.add_attribute();
    a.set_name(key);
    a.set_type(::onnx::AttributeProto_AttributeType_INT);
    a.set_i(v);
  }
  static void set_float(::onnx::NodeProto& n, const char* key, double v) {
    auto& a = *n.add_attribute();
    a.set_name(key);
    a.set_type(::onnx::AttributeProto_AttributeType_FLOAT);
    a.set_f(static_cast<float>(v));
  }
  void add_initializer(const std::string& name, const NDArray<T>& a) {
    ::onnx::TensorProto& t = *out_.add_initializer();
    t.set_name(name);
    t.set_data_type(elem_type<T>());
    for (std::size_t d : a.shape()) t.add_dims(static_cast<std::int64_t>(d));
    t.set_raw_data(std::string(reinterpret_cast<const char*>(a.data()), a.size() * sizeof(T)));  // little-endian hosts
  }
  void add_int64_initializer(const std::string& name, const std::vector<std::int64_t>& v) {
    ::onnx::TensorProto& t = *out_.add_initializer();
    t.set_name(name);
    t.set_data_type(::onnx::TensorProto_DataType_INT64);
    t.add_dims(static_cast<std::int64_t>(v.size()));
    for (auto x : v) t.add_int64_data(x);
  }
  void add_scalar_initializer(const std::string& name, double s) {
    ::onnx::TensorProto& t = *out_.add_initializer();
    t.set_name(name);
    t.set_data_type(elem_type<T>());
    const T v = static_cast<T>(s);
    t.set_raw_data(std::string(reinterpret_cast<const char*>(&v), sizeof(T)));
  }
  [[noreturn]] void refuse(std::size_t i, const std::string& why) const {
    ::gluino::detail::raise<ValueError>("onnx export: node ", i, " ('", g_.nodes[i].op->name(), "', output ",
                                        value(g_.nodes[i].output).shape, "): ", why);
  }

  // A 1-D convolution or pooling (nd::convolution1d, nd::pooling1d) runs as the 2-D op of a
  // height-1 view: reshape (N, C, W) -> (N, C, 1, W) (and the weight likewise), the op, reshape
  // back.  Each such triple is written as one ONNX op with a 1-D kernel (view_ maps the 2-D op to
  // its 3-D input, weight and output values; the reshapes are skipped).
  struct View1D {
    int x, w, y;
  };
  const graph::Node<T>* producer_if(int v, const char* op) const {
    if (v < 0 || value(v).kind != graph::ValueKind::node) return nullptr;
    const graph::Node<T>& p = g_.nodes[std::size_t(value(v).producer)];
    return p.op->name() == std::string(op) ? &p : nullptr;
  }
  // (a, b, c) -> (a, b, 1, c): the height-1 view of a 3-D value.
  bool is_view(const Shape& from, const Shape& to) const {
    return from.ndim() == 3 && to.ndim() == 4 && to[0] == from[0] && to[1] == from[1] && to[2] == 1 && to[3] == from[2];
  }
  void find_height1_views() {
    std::vector<std::vector<std::size_t>> readers(g_.values.size());
    for (std::size_t i = 0; i < g_.nodes.size(); ++i)
      for (int v : g_.nodes[i].inputs)
        if (v >= 0) readers[std::size_t(v)].push_back(i);
    std::set<int> outputs(g_.outputs.begin(), g_.outputs.end());
    auto only_reader = [&](int v) { return readers[std::size_t(v)].size() == 1 && !outputs.count(v); };
    for (std::size_t i = 0; i < g_.nodes.size(); ++i) {
      const graph::Node<T>& n = g_.nodes[i];
      const std::string op = n.op->name();
      if (op != "convolution" && op != "pooling") continue;
      const graph::Node<T>* rx = producer_if(n.inputs[0], "reshape");
      if (!rx || !is_view(value(rx->inputs[0]).shape, value(n.inputs[0]).shape) || !only_reader(n.inputs[0])) continue;
      const graph::Node<T>* rw = nullptr;
      if (op == "convolution") {
        rw = producer_if(n.inputs[1], "reshape");
        if (!rw || !is_view(value(rw->inputs[0]).shape, value(n.inputs[1]).shape) || !only_reader(n.inputs[1]))
          continue;
      }
      if (!only_reader(n.output)) continue;
      const std::size_t back = readers[std::size_t(n.output)][0];
      const graph::Node<T>& ry = g_.nodes[back];
      if (ry.op->name() != std::string("reshape") || !is_view(value(ry.output).shape, value(n.output).shape)) continue;
      view_[i] = {rx->inputs[0], rw ? rw->inputs[0] : -1, ry.output};
      skipped_.insert(std::size_t(value(n.inputs[0]).producer));
      if (rw) skipped_.insert(std::size_t(value(n.inputs[1]).producer));
      skipped_.insert(back);
    }
  }

  // Conv of in (x, w and a bias unless in[2] is empty) into out, with its Relu when the
  // convolution's attributes a say relu; w: the weight's shape; spatial: node()'s (the width
  // entries only for a 1-D view); tmp: the node's prefix for intermediate names.
  template <class Spatial>
  void write_conv(const autograd::Attributes& a, const std::vector<std::string>& in, const Shape& w,
                  const std::string& out, const std::string& tmp, const Spatial& spatial) {
    const std::string conv_out = attr_int(a, "relu") ? tmp + "conv" : out;
    std::vector<std::string> ins = {in[0], in[1]};
    if (!in[2].empty()) ins.push_back(in[2]);
    auto& c = emit("Conv", ins, conv_out);
    set_ints(c, "kernel_shape", spatial({std::int64_t(w[2]), std::int64_t(w[3])}));
    set_ints(c, "strides", spatial(attr_ints(a, "stride")));
    set_ints(c, "dilations", spatial(attr_ints(a, "dilate")));
    set_ints(c, "pads", both_ends(spatial(attr_ints(a, "pad"))));
    set_int(c, "group", attr_int(a, "num_group"));
    if (attr_int(a, "relu")) emit("Relu", {conv_out}, out);
  }
  // MaxPool or AveragePool (global or not) of x into out, then a Relu when the pooling's
  // attributes a say relu (graph::fuse_relu_pool's); spatial and tmp as write_conv's; x_shape:
  // the 2-D pooling's (N, C, H, W) input (a 1-D one's height-1 view); i: the graph node.
  template <class Spatial>
  void write_pool(std::size_t i, const autograd::Attributes& a, const std::string& x, const Shape& x_shape,
                  const std::string& out, const std::string& tmp, const Spatial& spatial) {
    const bool max = attr_str(a, "pool_type") == "max";
    const bool relu = attr_int(a, "relu") != 0;
    const std::string pool_out = relu ? tmp + "pool" : out;
    if (attr_int(a, "global_pool")) {
      emit(max ? "GlobalMaxPool" : "GlobalAveragePool", {x}, pool_out);
    } else {
      const auto k = attr_ints(a, "kernel"), s = attr_ints(a, "stride"), pad = attr_ints(a, "pad");
      const bool full = attr_str(a, "pooling_convention") == "full";
      // Gluon's ceil_mode keeps a last window that starts in the right padding (its output is 0).
      // ONNX's drops it (its text, ONNX Runtime's kernels, PyTorch), but ONNX Runtime's shape
      // inference keeps it, so such an axis is pooled rounding down (the same windows before it,
      // read alike by all) and its zero put back by a Pad.  Per axis: 1 for that case, 2 where
      // rounding up adds a window that starts in the input, 0 where the rounding does not matter.
      std::vector<std::int64_t> kind(2, 0);
      for (std::size_t d = 0; d < 2 && full; ++d) {
        const auto len = std::int64_t(x_shape[2 + d]), span = len + 2 * pad[d] - k[d];
        if (span >= 0 && span % s[d] != 0) kind[d] = (span + s[d] - 1) / s[d] * s[d] >= len + pad[d] ? 1 : 2;
      }
      const std::vector<std::int64_t> axes = spatial(kind);
      const bool dropped = std::count(axes.begin(), axes.end(), 1) > 0;
      const bool up = std::count(axes.begin(), axes.end(), 2) > 0;
      if (dropped && up)
        refuse(i, "ceil_mode (the full convention) with a last window in the right padding along one axis and one "
                  "starting in the input along the other has no ONNX form");
      std::vector<std::int64_t> ends;  // 1 at the end of a dropped axis
      for (auto v : axes) ends.push_back(v == 1);
      auto& p = emit(max ? "MaxPool" : "AveragePool", {x}, dropped ? tmp + "ceil" : pool_out);
      set_ints(p, "kernel_shape", spatial(k));
      set_ints(p, "strides", spatial(s));
      set_ints(p, "pads", both_ends(spatial(pad)));
      set_int(p, "ceil_mode", up);
      if (!max) set_int(p, "count_include_pad", attr_int(a, "count_include_pad"));
      if (dropped) {  // (begins..., ends...) of (N, C, spatial...): zeros, then one at the dropped axes' ends
        std::vector<std::int64_t> pads(2 * (2 + ends.size()), 0);
        std::copy(ends.begin(), ends.end(), pads.end() - std::ptrdiff_t(ends.size()));
        add_int64_initializer(tmp + "ceil_pads", pads);
        emit("Pad", {tmp + "ceil", tmp + "ceil_pads"}, pool_out);
      }
    }
    if (relu) emit("Relu", {pool_out}, out);
  }
  // BatchNormalization's scale: gamma, or with fix_gamma (attributes a) an initializer of ones
  // of gamma's shape.
  std::string batch_norm_scale(const autograd::Attributes& a, const std::string& gamma, const Shape& shape,
                               const std::string& tmp) {
    if (!attr_int(a, "fix_gamma")) return gamma;
    NDArray<T> ones(shape);
    ones.fill(T(1));
    add_initializer(tmp + "ones", ones);
    return tmp + "ones";
  }
  // ONNX pads: all begins, then all ends.
  static std::vector<std::int64_t> both_ends(const std::vector<std::int64_t>& p) {
    std::vector<std::int64_t> r = p;
    r.insert(r.end(), p.begin(), p.end());
    return r;
  }

  void node(std::size_t i) {
    const graph::Node<T>& n = g_.nodes[i];
    const std::string op = n.op->name();
    const autograd::Attributes a = n.op->attributes();
    std::vector<std::string> in;
    for (int v : n.inputs) in.push_back(v < 0 ? std::string() : name_of(v));
    std::string out = name_of(n.output);
    const std::string tmp = "node" + std::to_string(i) + "_";
    auto shape_of = [&](std::size_t k) -> const Shape& { return value(n.inputs.at(k)).shape; };
    // 1-D (a height-1 view, see find_height1_views): the 3-D values, and the width entries of pairs
    const auto view = view_.find(i);
    const bool is_1d = view != view_.end();
    if (is_1d) {
      in[0] = name_of(view->second.x);
      if (view->second.w >= 0) in[1] = name_of(view->second.w);
      out = name_of(view->second.y);
    }
    auto spatial = [&](std::vector<std::int64_t> v) {
      return is_1d ? std::vector<std::int64_t>{v.back()} : v;
    };
    static const std::map<std::string, std::string> unary = {
        {"relu", "Relu"}, {"sigmoid", "Sigmoid"}, {"tanh", "Tanh"}, {"exp", "Exp"},     {"log", "Log"},
        {"sqrt", "Sqrt"}, {"abs", "Abs"},         {"negative", "Neg"}, {"softrelu", "Softplus"},
        {"softsign", "Softsign"}};
    static const std::map<std::string, std::string> binary = {{"add", "Add"},         {"subtract", "Sub"},
                                                              {"multiply", "Mul"},    {"divide", "Div"},
                                                              {"maximum", "Max"},     {"minimum", "Min"},
                                                              {"power", "Pow"}};
    if (auto u = unary.find(op); u != unary.end()) {
      emit(u->second, {in[0]}, out);
    } else if (auto b = binary.find(op); b != binary.end()) {
      emit(b->second, {in[0], in[1]}, out);
    } else if (op == "square") {
      emit("Mul", {in[0], in[0]}, out);
    } else if (op == "leaky_relu") {
      set_float(emit("LeakyRelu", {in[0]}, out), "alpha", attr_real(a, "scalar"));
    } else if (op == "elu") {
      set_float(emit("Elu", {in[0]}, out), "alpha", attr_real(a, "scalar"));
    } else if (op == "selu") {
      auto& s = emit("Selu", {in[0]}, out);
      set_float(s, "alpha", nd::selu_alpha);
      set_float(s, "gamma", nd::selu_lambda);
    } else if (op == "erf") {
      emit("Erf", {in[0]}, out);
    } else if (op == "gelu") {  // no Gelu before opset 20: x * (1 + erf(x / sqrt 2)) * 0.5
      add_scalar_initializer(tmp + "sqrt2", std::sqrt(2.0));
      add_scalar_initializer(tmp + "one", 1.0);
      add_scalar_initializer(tmp + "half", 0.5);
      emit("Div", {in[0], tmp + "sqrt2"}, tmp + "scaled");
      emit("Erf", {tmp + "scaled"}, tmp + "erf");
      emit("Add", {tmp + "erf", tmp + "one"}, tmp + "cdf2");
      emit("Mul", {in[0], tmp + "cdf2"}, tmp + "xcdf2");
      emit("Mul", {tmp + "xcdf2", tmp + "half"}, out);
    } else if (op == "swish") {  // x * sigmoid(beta x)
      std::string arg = in[0];
      if (attr_real(a, "scalar") != 1.0) {
        add_scalar_initializer(tmp + "beta", attr_real(a, "scalar"));
        emit("Mul", {in[0], tmp + "beta"}, tmp + "scaled");
        arg = tmp + "scaled";
      }
      emit("Sigmoid", {arg}, tmp + "sigmoid");
      emit("Mul", {in[0], tmp + "sigmoid"}, out);
    } else if (op == "prelu") {  // a slope per channel (C,) becomes (C, 1, ...) to broadcast over axis 1
      const Shape& x = shape_of(0);
      std::string slope = in[1];
      if (shape_of(1)[0] != 1 && x.ndim() > 2) {
        std::vector<std::int64_t> to(x.ndim() - 1, 1);
        to[0] = std::int64_t(x[1]);
        add_int64_initializer(tmp + "slope_shape", to);
        emit("Reshape", {in[1], tmp + "slope_shape"}, tmp + "slope");
        slope = tmp + "slope";
      }
      emit("PRelu", {in[0], slope}, out);
    } else if (op == "rminus_scalar" || op == "rdiv_scalar" || op == "power_scalar" || op == "rpower_scalar") {
      const std::string s = tmp + "scalar";
      add_scalar_initializer(s, attr_real(a, "scalar"));
      if (op == "rminus_scalar") emit("Sub", {s, in[0]}, out);
      if (op == "rdiv_scalar") emit("Div", {s, in[0]}, out);
      if (op == "power_scalar") emit("Pow", {in[0], s}, out);
      if (op == "rpower_scalar") emit("Pow", {s, in[0]}, out);
    } else if (op == "convolution") {
      write_conv(a, in, shape_of(1), out, tmp, spatial);
    } else if (op == "convolution_max_pool") {  // graph::fuse_conv_max_pool's: Conv, its Relu, MaxPool
      autograd::Attributes conv, pool;  // the pooling's attributes are named "pool_" + its own
      for (const auto& [k, v] : a) {
        if (k.rfind("pool_", 0) == 0)
          pool.emplace_back(k.substr(5), v);
        else
          conv.emplace_back(k, v);
      }
      pool.emplace_back("relu", std::int64_t(0));
      write_conv(conv, in, shape_of(1), tmp + "conv_out", tmp, spatial);
      Shape conv_out = shape_of(0);  // (N, O, H, W) the pooling reads
      conv_out[1] = shape_of(1)[0];
      const auto cs = attr_ints(conv, "stride"), cd = attr_ints(conv, "dilate"), cp = attr_ints(conv, "pad");
      for (std::size_t d = 0; d < 2; ++d)
        conv_out[2 + d] = std::size_t((std::int64_t(shape_of(0)[2 + d]) + 2 * cp[d] -
                                       cd[d] * (std::int64_t(shape_of(1)[2 + d]) - 1) - 1) / cs[d] + 1);
      write_pool(i, pool, tmp + "conv_out", conv_out, out, tmp, spatial);
    } else if (op == "convolution3d") {
      const Shape& w = shape_of(1);
      std::vector<std::string> ins = {in[0], in[1]};
      if (!in[2].empty()) ins.push_back(in[2]);
      auto& c = emit("Conv", ins, out);
      set_ints(c, "kernel_shape", {std::int64_t(w[2]), std::int64_t(w[3]), std::int64_t(w[4])});
      set_ints(c, "strides", attr_ints(a, "stride"));
      set_ints(c, "dilations", attr_ints(a, "dilate"));
      set_ints(c, "pads", both_ends(attr_ints(a, "pad")));
      set_int(c, "group", attr_int(a, "num_group"));
    } else if (op == "deconvolution") {  // weights (C, O / groups, kh, kw): ConvTranspose's layout
      const Shape& w = shape_of(1);
      std::vector<std::string> ins = {in[0], in[1]};
      if (!in[2].empty()) ins.push_back(in[2]);
      auto& c = emit("ConvTranspose", ins, out);
      set_ints(c, "kernel_shape", {std::int64_t(w[2]), std::int64_t(w[3])});
      set_ints(c, "strides", attr_ints(a, "stride"));
      set_ints(c, "dilations", attr_ints(a, "dilate"));
      set_ints(c, "pads", both_ends(attr_ints(a, "pad")));
      set_ints(c, "output_padding", attr_ints(a, "adj"));
      set_int(c, "group", attr_int(a, "num_group"));
    } else if (op == "pooling") {
      write_pool(i, a, in[0], shape_of(0), out, tmp, spatial);
    } else if (op == "fully_connected") {
      const Shape& x = shape_of(0);
      const auto rows = std::size_t(x.size() / std::size_t(attr_int(a, "in_units")));
      std::vector<std::string> ins = {in[0], in[1]};
      if (!in[2].empty()) ins.push_back(in[2]);
      // (N, ...) flattened to (N, in_units): Gemm.  Not (N, 1, in_units) without flattening: its
      // output keeps the axes.
      if (value(n.output).shape.ndim() == 2 && (x.ndim() == 2 || rows == x[0])) {
        if (x.ndim() != 2) {
          set_int(emit("Flatten", {in[0]}, tmp + "flat"), "axis", 1);
          ins[0] = tmp + "flat";
        }
        auto& gm = emit("Gemm", ins, out);
        set_int(gm, "transB", 1);
      } else {  // flatten = false: x (..., in_units) times W^T over the last axis
        set_ints(emit("Transpose", {in[1]}, tmp + "wt"), "perm", {1, 0});
        if (in[2].empty()) {
          emit("MatMul", {in[0], tmp + "wt"}, out);
        } else {
          emit("MatMul", {in[0], tmp + "wt"}, tmp + "mm");
          emit("Add", {tmp + "mm", in[2]}, out);
        }
      }
    } else if (op == "convolution_batch_norm") {  // graph::fold_batch_norm's: the pair it computes
      // Inputs x, w, b (or none), gamma, beta, running mean, running variance; the convolution's
      // attributes, then eps and fix_gamma.
      write_conv(a, {in[0], in[1], in[2]}, shape_of(1), tmp + "conv_out", tmp, spatial);
      auto& bn = emit("BatchNormalization", {tmp + "conv_out", batch_norm_scale(a, in[3], shape_of(3), tmp), in[4],
                                             in[5], in[6]}, out);
      set_float(bn, "epsilon", attr_real(a, "eps"));
    } else if (op == "batch_norm") {
      if (attr_int(a, "batch_stats"))
        refuse(i, "a batch norm with batch statistics (train mode) has no ONNX inference form; export traces in "
                  "predict mode, so this comes from a graph traced in train mode");
      if (attr_int(a, "axis") != 1 && attr_int(a, "axis") != -std::int64_t(shape_of(0).ndim()) + 1)
        refuse(i, "ONNX BatchNormalization normalizes axis 1 only");
      auto& bn = emit("BatchNormalization", {in[0], batch_norm_scale(a, in[1], shape_of(1), tmp), in[2],
                                             name_of(n.state.at(0)), name_of(n.state.at(1))}, out);
      set_float(bn, "epsilon", attr_real(a, "eps"));
      set_float(bn, "momentum", attr_real(a, "momentum"));
    } else if (op == "layer_norm" || op == "instance_norm" || op == "group_norm") {
      normalization(i, op, a, in, out, tmp);
    } else if (op == "embedding") {  // indices held as T: cast to int64 for Gather
      set_int(emit("Cast", {in[0]}, tmp + "index"), "to", ::onnx::TensorProto_DataType_INT64);
      set_int(emit("Gather", {in[1], tmp + "index"}, out), "axis", 0);
    } else if (op == "pad") {
      const std::string mode = attr_str(a, "mode");
      std::vector<std::int64_t> pads;  // MXNet's (before0, after0, ...) -> ONNX's (begins..., ends...)
      const auto w = attr_ints(a, "pad_width");
      for (std::size_t d = 0; d < w.size(); d += 2) pads.push_back(w[d]);
      for (std::size_t d = 1; d < w.size(); d += 2) pads.push_back(w[d]);
      add_int64_initializer(tmp + "pads", pads);
      std::vector<std::string> ins = {in[0], tmp + "pads"};
      if (mode == "constant") {
        add_scalar_initializer(tmp + "value", attr_real(a, "constant_value"));
        ins.push_back(tmp + "value");
      }
      auto& p = emit("Pad", ins, out);
      auto& m = *p.add_attribute();
      m.set_name("mode");
      m.set_type(::onnx::AttributeProto_AttributeType_STRING);
      m.set_s(mode);
    } else if (op == "dropout") {
      emit("Identity", {in[0]}, out);  // inference
    } else if (op == "softmax" || op == "log_softmax") {
      set_int(emit(op == "softmax" ? "Softmax" : "LogSoftmax", {in[0]}, out), "axis", attr_int(a, "axis"));
    } else if (op == "reshape") {
      const Shape& from = shape_of(0);
      std::vector<std::int64_t> to = attr_ints(a, "shape");
      if (to.size() == 2 && from.ndim() >= 2 && std::size_t(to[0]) == from[0]) {
        set_int(emit("Flatten", {in[0]}, out), "axis", 1);
      } else {
        if (!to.empty() && from.ndim() && std::size_t(to[0]) == from[0] && from[0] == batch_) to[0] = 0;  // copy
        add_int64_initializer(tmp + "shape", to);
        emit("Reshape", {in[0], tmp + "shape"}, out);
      }
    } else if (op == "transpose") {
      set_ints(emit("Transpose", {in[0]}, out), "perm", attr_ints(a, "axes"));
    } else if (op == "concat") {
      const std::int64_t axis = attr_int(a, "axis");
      if (attr_int(a, "new_axis")) {  // stack: unsqueeze each, then concatenate
        std::vector<std::string> parts;
        add_int64_initializer(tmp + "axes", {axis});
        for (std::size_t k = 0; k < in.size(); ++k) {
          parts.push_back(tmp + "part" + std::to_string(k));
          emit("Unsqueeze", {in[k], tmp + "axes"}, parts.back());
        }
        set_int(emit("Concat", parts, out), "axis", axis);
      } else {
        set_int(emit("Concat", in, out), "axis", axis);
      }
    } else if (op == "dot") {
      if (shape_of(0).ndim() != 2 || shape_of(1).ndim() != 2) refuse(i, "only 2-D dot has an ONNX form here");
      emit("MatMul", {in[0], in[1]}, out);
    } else if (op == "reduce") {
      static const std::map<std::string, std::string> kinds = {
          {"sum", "ReduceSum"}, {"mean", "ReduceMean"}, {"max", "ReduceMax"}, {"min", "ReduceMin"}};
      const std::string kind = kinds.at(attr_str(a, "kind"));
      std::vector<std::int64_t> axes = attr_ints(a, "axes");
      if (axes.empty())
        for (std::size_t d = 0; d < shape_of(0).ndim(); ++d) axes.push_back(std::int64_t(d));
      if (kind == "ReduceSum") {  // opset 13: axes as an input
        add_int64_initializer(tmp + "axes", axes);
        set_int(emit(kind, {in[0], tmp + "axes"}, out), "keepdims", attr_int(a, "keepdims"));
      } else {
        auto& r = emit(kind, {in[0]}, out);
        set_ints(r, "axes", axes);
        set_int(r, "keepdims", attr_int(a, "keepdims"));
      }
    } else {
      refuse(i, "this op has no ONNX export (docs/hybridize.md lists those that have)");
    }
  }

  // Layer norm: LayerNormalization (opset 17) over the last axis, else the composed form
  // (x - mean) / sqrt(var + eps) * gamma + beta with ReduceMean over the axis.  Instance norm:
  // InstanceNormalization, its channel axis swapped to 1 around it if it is another.  Group norm
  // (MXNet 1.x: gamma and beta per group): (N, C, ...) viewed as (N, G, rest), whose instance
  // norm with the per-group gamma and beta is exactly it, and viewed back.
  void normalization(std::size_t i, const std::string& op, const autograd::Attributes& a,
                     const std::vector<std::string>& in, const std::string& out, const std::string& tmp) {
    const Shape& x = value(g_.nodes[i].inputs[0]).shape;
    const auto nd = std::int64_t(x.ndim());
    const double eps = attr_real(a, "eps");
    if (op == "group_norm") {
      const auto groups = attr_int(a, "num_groups");
      add_int64_initializer(tmp + "grouped", {0, groups, -1});
      emit("Reshape", {in[0], tmp + "grouped"}, tmp + "x");
      set_float(emit("InstanceNormalization", {tmp + "x", in[1], in[2]}, tmp + "y"), "epsilon", eps);
      std::vector<std::int64_t> back(x.begin(), x.end());
      back[0] = 0;  // the batch axis copied
      add_int64_initializer(tmp + "shape", back);
      emit("Reshape", {tmp + "y", tmp + "shape"}, out);
      return;
    }
    std::int64_t axis = attr_int(a, "axis");
    if (axis < 0) axis += nd;
    if (op == "instance_norm") {
      if (axis == 1) {
        set_float(emit("InstanceNormalization", in, out), "epsilon", eps);
        return;
      }
      std::vector<std::int64_t> perm(std::size_t(nd), 0);
      for (std::int64_t d = 0; d < nd; ++d) perm[std::size_t(d)] = d;
      std::swap(perm[1], perm[std::size_t(axis)]);
      set_ints(emit("Transpose", {in[0]}, tmp + "x"), "perm", perm);
      set_float(emit("InstanceNormalization", {tmp + "x", in[1], in[2]}, tmp + "y"), "epsilon", eps);
      set_ints(emit("Transpose", {tmp + "y"}, out), "perm", perm);
      return;
    }
    if (opt_.opset >= 17 && axis == nd - 1) {
      auto& ln = emit("LayerNormalization", in, out);
      set_int(ln, "axis", -1);
      set_float(ln, "epsilon", eps);
      return;
    }
    auto& mean = emit("ReduceMean", {in[0]}, tmp + "mean");
    set_ints(mean, "axes", {axis});
    emit("Sub", {in[0], tmp + "mean"}, tmp + "centered");
    emit("Mul", {tmp + "centered", tmp + "centered"}, tmp + "squared");
    auto& var = emit("ReduceMean", {tmp + "squared"}, tmp + "var");
    set_ints(var, "axes", {axis});
    add_scalar_initializer(tmp + "eps", eps);
    emit("Add", {tmp + "var", tmp + "eps"}, tmp + "var_eps");
    emit("Sqrt", {tmp + "var_eps"}, tmp + "std");
    emit("Div", {tmp + "centered", tmp + "std"}, tmp + "normalized");
    std::string gamma = in[1], beta = in[2];
    if (axis != nd - 1) {  // (C,) -> (C, 1, ...) to broadcast along the axis
      std::vector<std::int64_t> to(std::size_t(nd - axis), 1);
      to[0] = -1;
      add_int64_initializer(tmp + "affine_shape", to);
      emit("Reshape", {in[1], tmp + "affine_shape"}, tmp + "gamma");
      emit("Reshape", {in[2], tmp + "affine_shape"}, tmp + "beta");
      gamma = tmp + "gamma", beta = tmp + "beta";
    }
    emit("Mul", {tmp + "normalized", gamma}, tmp + "scaled");
    emit("Add", {tmp + "scaled", beta}, out);
  }

  const graph::Graph<T>& g_;
  ::onnx::GraphProto& out_;
  const OnnxExportOptions& opt_;
  std::size_t batch_ = 0;
  std::map<std::size_t, View1D> view_;  // 2-D ops written as 1-D, by node index
  std::set<std::size_t> skipped_;       // the reshapes around them
};

}  // namespace detail::onnx_export
}  // namespace gluino
