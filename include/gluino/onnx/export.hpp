// SPDX-License-Identifier: Apache-2.0
#pragma once
/// ONNX export: a block traced in predict mode (graph::trace) written as an ONNX model (opset
/// 13 by default, up to 17), its parameters as initializers, with a symbolic batch axis.  Needs ONNX's protobuf
/// classes: link the optional CMake target gluino::onnx (Debian's libonnx-dev and
/// libprotobuf-dev); the rest of gluino does not include this header.  Gluon:
/// mx.onnx.export_model and HybridBlock.export (`export` is a C++ keyword, hence export_onnx;
/// the functions are in namespace gluino, since gluino::onnx would clash with ONNX's ::onnx).
/// docs/hybridize.md lists the ops and how each maps to ONNX.  The options (OnnxExportOptions)
/// and the writing of each op are in onnx/export_writer.hpp; the model around them is here.
#include <onnx/onnx_pb.h>

#include <cstddef>
#include <cstdint>
#include <ostream>
#include <set>
#include <string>
#include <vector>

#include "gluino/autograd/mode.hpp"
#include "gluino/core/error.hpp"
#include "gluino/graph/graph.hpp"
#include "gluino/io/safetensors.hpp"  // detail::write_file_atomically
#include "gluino/nd/creation.hpp"
#include "gluino/nn/block.hpp"
#include "gluino/nn/hybrid_block.hpp"
#include "gluino/onnx/export_writer.hpp"  // OnnxExportOptions, the per-op emitters

namespace gluino {

/// The ONNX model of a traced graph (one input, any number of outputs).  ValueError naming
/// the node and op for an op that has no ONNX form (see docs/hybridize.md).
template <class T>
::onnx::ModelProto to_onnx(const graph::Graph<T>& g, const OnnxExportOptions& opt = {}, const std::string& name = "gluino");

/// Traces net in predict mode on an input of input_shape (values do not matter) and writes the
/// ONNX model to path (atomically: a failed export leaves an existing file whole).  Returns the
/// model.  Deferred parameters are initialized by the trace if the block was never called.
template <class T>
::onnx::ModelProto export_onnx(nn::BasicBlock<T>& net, const std::string& path, const Shape& input_shape,
                                const OnnxExportOptions& opt = {});

/// Writes a model to path atomically, as save_parameters does (a temporary file of its own in
/// the same folder, synced to disk, renamed over path: a failure leaves an existing file whole;
/// through a symbolic link the file it points to is replaced).  ValueError naming the path.
inline void save_onnx(const ::onnx::ModelProto& model, const std::string& path);

// ---- implementation ----

namespace detail::onnx_export {

// Writes the input or output value_info: element type and shape, axis `batch_axis` symbolic
// ("batch") unless it is -1.
template <class T>
void describe(::onnx::ValueInfoProto& info, const std::string& name, const Shape& shape, int batch_axis) {
  info.set_name(name);
  auto& tensor = *info.mutable_type()->mutable_tensor_type();
  tensor.set_elem_type(elem_type<T>());
  auto& dims = *tensor.mutable_shape();
  for (std::size_t d = 0; d < shape.ndim(); ++d) {
    auto& dim = *dims.add_dim();
    if (int(d) == batch_axis)
      dim.set_dim_param("batch");
    else
      dim.set_dim_value(static_cast<std::int64_t>(shape[d]));
  }
}

// Whether every node works for any batch size (no op fixes the input's axis 0 from the traced
// shape), and then, per value, the axis that holds the batch: the input's axis 0, moved by a
// transpose, shifted by a stack or by broadcasting against a value of higher rank; -1 for values
// not computed from the input and where an op reduced the batch away (a sum over it), whose
// shapes are fixed.  An output's axis 0 is the batch only where this says so.
struct BatchAxes {
  bool free = false;
  std::vector<int> axis;
};
template <class T>
BatchAxes batch_axes(const graph::Graph<T>& g) {
  const Shape& in_shape = g.values[graph::detail::idx(g.inputs.at(0))].shape;
  if (in_shape.ndim() == 0) return {};
  const std::size_t n = in_shape[0];
  // Ops whose output has the batch where their (broadcast) inputs have it, whatever its axis.
  static const std::set<std::string> pointwise = {
      "relu",  "sigmoid", "tanh",     "exp",      "log",      "sqrt",     "abs",           "negative",
      "softrelu", "softsign", "square", "leaky_relu", "elu",   "selu",     "erf",           "gelu",
      "swish", "add",     "subtract", "multiply", "divide",   "maximum",  "minimum",       "power",
      "rminus_scalar", "rdiv_scalar", "power_scalar", "rpower_scalar", "softmax", "log_softmax", "dropout"};
  BatchAxes r;
  r.axis.assign(g.values.size(), -1);
  std::vector<bool> from_input(g.values.size(), false);  // values computed from the input
  from_input[std::size_t(g.inputs[0])] = true;
  r.axis[std::size_t(g.inputs[0])] = 0;
  auto normalized = [](std::int64_t a, std::size_t ndim) { return int(a < 0 ? a + std::int64_t(ndim) : a); };
  for (const auto& node : g.nodes) {
    const std::string op = node.op->name();
    const std::size_t y = std::size_t(node.output), out_ndim = g.values[y].shape.ndim();
    const bool pw = pointwise.count(op) > 0;
    int b = -1;  // where the inputs hold the batch (in the output's axes, for a pointwise op)
    for (int v : node.inputs) {
      if (v < 0 || !from_input[std::size_t(v)]) continue;
      from_input[y] = true;
      int bv = r.axis[std::size_t(v)];
      if (bv < 0) continue;
      if (pw) bv += int(out_ndim) - int(g.values[std::size_t(v)].shape.ndim());  // broadcasting aligns the last axes
      if (b >= 0 && bv != b) return {};  // inputs holding the batch at different axes
      b = bv;
    }
    if (!from_input[y]) continue;  // parameters reshaped: fixed shapes either way
    if (op == "slice" || op == "broadcast_to" || op == "dot") return {};
    if (b < 0) continue;  // the batch was reduced away before: fixed shapes from here
    const autograd::Attributes a = node.op->attributes();
    if (pw) {
      r.axis[y] = b;
    } else if (op == "transpose") {
      const auto perm = attr_ints(a, "axes");
      for (std::size_t k = 0; k < perm.size(); ++k)
        if (perm[k] == b) r.axis[y] = int(k);
    } else if (op == "reduce") {
      const auto axes = attr_ints(a, "axes");
      const std::size_t in_ndim = g.values[std::size_t(node.inputs[0])].shape.ndim();
      int before = 0;  // reduced axes before the batch's
      bool reduced = axes.empty();
      for (auto x : axes) {
        const int k = normalized(x, in_ndim);
        reduced = reduced || k == b;
        before += k < b;
      }
      r.axis[y] = reduced ? -1 : attr_int(a, "keepdims") ? b : b - before;
    } else if (op == "concat") {
      const int axis = normalized(attr_int(a, "axis"), out_ndim);
      if (attr_int(a, "new_axis")) {  // stack: a new axis at `axis`
        r.axis[y] = b + (axis <= b);
      } else {
        if (axis == b) return {};  // joined along the batch
        r.axis[y] = b;
      }
    } else if (op == "reshape") {
      const auto to = attr_ints(a, "shape");
      const Shape& from = g.values[std::size_t(node.inputs[0])].shape;
      if (b != 0 || to.empty() || std::size_t(to[0]) != from[0] || from[0] != n) return {};
      r.axis[y] = 0;
    } else {
      // Any other op (convolution, pooling, dense, normalizations, embedding, pad...) reads the
      // batch on axis 0 and keeps it there.
      if (b != 0) return {};
      if (op == "pad") {
        const auto w = attr_ints(a, "pad_width");
        if (w.size() >= 2 && (w[0] || w[1])) return {};  // padded along the batch
      }
      r.axis[y] = 0;
    }
    // The batch's axis keeps its size (not broadcast against another value's, at a batch of 1).
    if (r.axis[y] >= 0 && (std::size_t(r.axis[y]) >= out_ndim || g.values[y].shape[std::size_t(r.axis[y])] != n))
      return {};
  }
  for (const auto& v : g.values)
    if (v.kind == graph::ValueKind::constant && v.shape.ndim() && v.shape[0] == n && n > 1) return {};
  r.free = true;
  return r;
}

// Each name defined once (ONNX's single assignment): the input, the initializers and the nodes'
// outputs.  The options' names could clash with a parameter's or with each other, which ONNX
// Runtime refuses or, for an input named as an initializer, reads as that initializer's default.
inline void check_names(const ::onnx::GraphProto& gp) {
  std::set<std::string> defined;
  auto define = [&](const std::string& n, const char* what) {
    GLUINO_CHECK(ValueError, !n.empty(), "onnx export: ", what, " has an empty name");
    GLUINO_CHECK(ValueError, defined.insert(n).second, "onnx export: the name '", n, "' (", what, ") is defined "
                 "twice; input_name and output_name must differ from each other and from the parameters' names");
  };
  for (const auto& i : gp.input()) define(i.name(), "the input");
  for (const auto& t : gp.initializer()) define(t.name(), "an initializer");
  for (const auto& n : gp.node())
    for (const auto& o : n.output()) define(o, ("the output of node '" + n.name() + "'").c_str());
  for (const auto& o : gp.output())
    GLUINO_CHECK(ValueError, !o.name().empty(), "onnx export: an output has an empty name");
}

}  // namespace detail::onnx_export

template <class T>
::onnx::ModelProto to_onnx(const graph::Graph<T>& g, const OnnxExportOptions& opt, const std::string& name) {
  GLUINO_CHECK(ValueError, opt.opset >= 13 && opt.opset <= 17, "onnx export: opset ", opt.opset,
               " is not supported (13 to 17)");
  GLUINO_CHECK(ValueError, g.inputs.size() == 1, "onnx export: a graph of one input is expected, got ",
               g.inputs.size());
  ::onnx::ModelProto m;
  m.set_ir_version(8);
  m.set_producer_name("gluino");
  m.set_model_version(1);
  auto& opset = *m.add_opset_import();
  opset.set_domain("");
  opset.set_version(opt.opset);
  ::onnx::GraphProto& gp = *m.mutable_graph();
  gp.set_name(opt.graph_name.empty() ? name : opt.graph_name);
  detail::onnx_export::Writer<T> w(g, gp, opt);
  w.write();
  const detail::onnx_export::BatchAxes batch =
      opt.dynamic_batch ? detail::onnx_export::batch_axes(g) : detail::onnx_export::BatchAxes{};
  detail::onnx_export::describe<T>(*gp.add_input(), opt.input_name, w.value(g.inputs[0]).shape, batch.free ? 0 : -1);
  for (std::size_t k = 0; k < g.outputs.size(); ++k)
    detail::onnx_export::describe<T>(*gp.add_output(), w.output_name(k), w.value(g.outputs[k]).shape,
                                     batch.free ? batch.axis[std::size_t(g.outputs[k])] : -1);
  detail::onnx_export::check_names(gp);
  return m;
}

template <class T>
::onnx::ModelProto export_onnx(nn::BasicBlock<T>& net, const std::string& path, const Shape& input_shape,
                                const OnnxExportOptions& opt) {
  graph::Graph<T> g;
  {
    autograd::pause no_record(false);  // predict mode, not recording
    const NDArray<T> x = nd::zeros<T>(input_shape);
    g = nn::trace_block<T>(
        net, [&](const std::vector<NDArray<T>>& in) { return std::vector<NDArray<T>>{net(in[0])}; },
        {{opt.input_name, x}}, nullptr, autograd::TracePurpose::onnx_export);
  }
  ::onnx::ModelProto m = to_onnx(g, opt, net.name());
  save_onnx(m, path);
  return m;
}

inline void save_onnx(const ::onnx::ModelProto& model, const std::string& path) {
  std::string bytes;
  GLUINO_CHECK(ValueError, model.SerializeToString(&bytes), "onnx export: cannot serialize the model for '", path, "'");
  // As save_parameters: a temporary of its own in the same folder, synced, then renamed.
  detail::write_file_atomically(path, "onnx export: '" + path + "': ", [&](std::ostream& out) {
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  });
}

}  // namespace gluino
