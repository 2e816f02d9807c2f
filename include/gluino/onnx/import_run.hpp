// SPDX-License-Identifier: Apache-2.0
#pragma once
/// Not API.  SymbolBlock's (onnx/symbol_block.hpp) running of one node on the tensors computed so
/// far: the float ones in env, the int64 ones in ints (onnx/import_ints.hpp).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "gluino/nd/activations.hpp"
#include "gluino/nd/batch_norm.hpp"
#include "gluino/nd/creation.hpp"
#include "gluino/nd/dropout.hpp"
#include "gluino/nd/elementwise.hpp"
#include "gluino/nd/embedding.hpp"
#include "gluino/nd/layer_norm.hpp"
#include "gluino/nd/linalg.hpp"
#include "gluino/nd/pad.hpp"
#include "gluino/nd/reduce.hpp"
#include "gluino/nd/shape_ops.hpp"
#include "gluino/nd/softmax.hpp"
#include "gluino/onnx/import_ints.hpp"
#include "gluino/onnx/import_node.hpp"
#include "gluino/onnx/import_window.hpp"

namespace gluino::detail::onnx_import {

/// Runs node n (parsed and checked at import) on the tensors computed so far; its output goes into env, or
/// into ints for an int64 tensor.
template <class T>
void run(const Context<T>& cx, const Node& n, std::map<std::string, NDArray<T>>& env,
         std::map<std::string, Ints>& ints) {
  const NodeArgs<T> args{cx, n, env, ints};
  const std::string& t = n.type;
  if (t == "Constant") return;  // read at import
  if (cx.kinds.at(n.out[0]) == Kind::integer) {
    ints[n.out[0]] = run_ints(args);
    return;
  }
  NDArray<T> y;
  if (is_window_op(t)) {
    y = run_window(args);
  } else if (t == "LayerNormalization") {  // over axes [axis, ndim): viewed as one last axis
    const NDArray<T>& x = args.in(0);
    const std::size_t a = args.axis_of(args.int_or("axis", -1), x.ndim());
    std::vector<std::size_t> lead(x.shape().begin(), x.shape().begin() + std::ptrdiff_t(a));
    std::size_t inner = 1;
    for (std::size_t d = a; d < x.ndim(); ++d) inner *= x.shape()[d];
    lead.push_back(inner);
    auto affine = [&](std::size_t k) {
      if (!args.has(k)) return nd::zeros<T>(Shape{inner});
      if (args.in(k).size() != inner) cx.refuse(n, "Scale and B must have the normalized axes' shape");
      return nd::reshape(args.in(k), Shape{inner});
    };
    const double eps = args.real_or("epsilon", 1e-5);
    y = nd::reshape(nd::layer_norm(nd::reshape(x, Shape(lead)), affine(1), affine(2), -1, eps), x.shape());
  } else if (t == "InstanceNormalization") {
    y = nd::instance_norm(args.in(0), args.in(1), args.in(2), args.real_or("epsilon", 1e-5));
  } else if (t == "Gather") {  // rows of data (D0, ...) by index: an embedding of data viewed as (D0, rest)
    const NDArray<T>& data = args.in(0);
    if (data.ndim() < 1) cx.refuse(n, "data must have at least one axis");
    if (args.axis_of(args.int_or("axis", 0), data.ndim()) != 0)
      cx.refuse(n, "only Gather along axis 0 (an embedding lookup) is supported");
    const std::size_t rows = data.shape(0), rest = rows ? data.size() / rows : 0;
    NDArray<T> index;
    Shape out;  // the indices' shape (none for a scalar index: x[1]), then data's other axes
    if (args.is_ints(1)) {  // an int64 tensor: a constant, or computed
      const Ints& c = args.ints_in(1);
      if (c.dims.size() + data.ndim() - 1 > Shape::max_dims)
        cx.refuse(n, "indices of " + std::to_string(c.dims.size()) + " axes give more axes than an array has");
      for (auto d : c.dims) out.push_back(d);
      index = NDArray<T>(Shape{c.values.size()});
      for (std::size_t k = 0; k < c.values.size(); ++k) {  // ONNX: an index in [-D0, D0), negative from the back
        const std::int64_t v = c.values[k], r = std::int64_t(rows);
        if (v < -r || v >= r)
          cx.refuse(n, "index " + std::to_string(v) + " is out of range for axis 0 of size " + std::to_string(rows));
        index.data()[k] = static_cast<T>(v < 0 ? v + r : v);
      }
    } else {
      index = args.in(1);
      out = index.shape();
    }
    for (std::size_t d = 1; d < data.ndim(); ++d) out.push_back(data.shape()[d]);
    y = nd::reshape(nd::embedding(index, nd::reshape(data, Shape{rows, rest})), out);
  } else if (t == "Cast" && args.is_ints(0)) {  // an int64 tensor's values as floats
    const Ints& c = args.ints_in(0);
    if (c.dims.size() > Shape::max_dims) cx.refuse(n, "an int64 tensor of more axes than an array has");
    y = NDArray<T>(Shape(c.dims));
    std::transform(c.values.begin(), c.values.end(), y.data(), [](std::int64_t v) { return static_cast<T>(v); });
  } else if (t == "Cast") {
    y = args.in(0);  // to T, or to integers read as Gather's indices only (checked at import)
  } else if (t == "Pad") {
    const NDArray<T>& x = args.in(0);
    const auto& pads = args.ints_in(1).values;
    if (pads.size() != 2 * x.ndim())
      cx.refuse(n, "pads has " + std::to_string(pads.size()) + " values for an input of " + std::to_string(x.ndim()) +
                       " axes");
    std::vector<std::size_t> width;  // ONNX's (begins..., ends...) -> MXNet's (before0, after0, ...)
    for (std::size_t d = 0; d < x.ndim(); ++d) {
      if (pads[d] < 0 || pads[d + x.ndim()] < 0) cx.refuse(n, "negative pads (cropping) are not supported");
      if (pads[d] > (std::int64_t(1) << 30) || pads[d + x.ndim()] > (std::int64_t(1) << 30))
        cx.refuse(n, "a pad of more than 2^30 is out of range");
      width.push_back(std::size_t(pads[d]));
      width.push_back(std::size_t(pads[d + x.ndim()]));
    }
    double value = 0;
    if (args.has(2)) {
      if (args.in(2).size() != 1) cx.refuse(n, "constant_value must be a scalar");
      value = double(args.in(2).data()[0]);
    }
    y = nd::pad(x, n.mode, width, value);
  } else if (t == "Gemm") {
    const double alpha = args.real_or("alpha", 1.0), beta = args.real_or("beta", 1.0);
    const bool ta = args.int_or("transA", 0) != 0, tb = args.int_or("transB", 0) != 0;
    const NDArray<T>& a = args.in(0);
    const NDArray<T>& b = args.in(1);
    if (a.ndim() != 2 || b.ndim() != 2)  // as ONNX Runtime: not a batched or a vector product
      cx.refuse(n, "A and B must be matrices, got shapes " + shape_str(a.shape()) + " and " + shape_str(b.shape()));
    const bool plain_bias = !args.has(2) || (args.in(2).ndim() == 1 && args.in(2).shape(0) == b.shape(0));
    if (!ta && tb && alpha == 1.0 && beta == 1.0 && plain_bias)
      y = nd::fully_connected(a, b, args.has(2) ? args.in(2) : NDArray<T>(), false);
    else {
      y = nd::dot(a, b, ta, tb);
      if (alpha != 1.0) y = y * static_cast<T>(alpha);
      if (args.has(2)) y = y + (beta == 1.0 ? args.in(2) : args.in(2) * static_cast<T>(beta));
    }
  } else if (t == "MatMul") {  // (..., K) x (K, M) -> (..., M): the leading axes as rows (NumPy's matmul)
    const NDArray<T>& a = args.in(0);
    if (a.ndim() < 1 || args.in(1).ndim() != 2)
      cx.refuse(n, "only MatMul of a matrix second operand is supported, got shapes " + shape_str(a.shape()) + " and " +
                    shape_str(args.in(1).shape()));
    Shape lead;
    std::size_t rows = 1;
    for (std::size_t d = 0; d + 1 < a.ndim(); ++d) lead.push_back(a.shape()[d]), rows *= a.shape()[d];
    const std::size_t k = a.shape()[a.ndim() - 1];
    if (a.ndim() == 2)
      y = nd::dot(a, args.in(1));
    else {
      y = nd::dot(nd::reshape(a, Shape{rows, k}), args.in(1));
      lead.push_back(args.in(1).shape(1));
      y = nd::reshape(y, lead);
    }
  } else if (t == "Flatten") {
    const NDArray<T>& x = args.in(0);
    std::int64_t axis = args.int_or("axis", 1);
    if (axis < 0) axis += std::int64_t(x.ndim());
    if (axis < 0 || axis > std::int64_t(x.ndim()))
      cx.refuse(n, "axis is out of range for shape of " + std::to_string(x.ndim()) + " axes");
    std::size_t outer = 1, inner = 1;
    for (std::size_t d = 0; d < x.ndim(); ++d) (std::int64_t(d) < axis ? outer : inner) *= x.shape()[d];
    y = nd::reshape(x, Shape{outer, inner});
  } else if (t == "Reshape") {
    const NDArray<T>& x = args.in(0);
    std::vector<long long> to;
    const auto& target = args.ints_in(1).values;
    for (std::size_t d = 0; d < target.size(); ++d) {
      if (target[d] == 0) {
        if (d >= x.ndim()) cx.refuse(n, "a 0 in the target shape copies an axis the input does not have");
        to.push_back(static_cast<long long>(x.shape()[d]));
      } else {
        to.push_back(static_cast<long long>(target[d]));
      }
    }
    y = nd::reshape(x, to);
  } else if (t == "Unsqueeze" || t == "Squeeze") {
    const NDArray<T>& x = args.in(0);
    const std::vector<std::int64_t> axes = cx.opset >= 13
                                               ? (args.has(1) ? args.ints_in(1).values : std::vector<std::int64_t>{})
                                               : args.list_or("axes", {});
    const std::vector<std::size_t> dims(x.shape().begin(), x.shape().end());
    y = nd::reshape(x, Shape(squeeze_dims(args, dims, axes, t == "Unsqueeze")));
  } else if (t == "BatchNormalization") {
    nd::BatchNormOptions o;
    o.eps = args.real_or("epsilon", 1e-5);
    o.momentum = args.real_or("momentum", 0.9);
    y = nd::batch_norm(args.in(0), args.in(1), args.in(2), args.in(3), args.in(4), o);
  } else if (t == "Dropout") {  // ratio and training_mode (false) read at import
    y = nd::dropout(args.in(0), args.real_or("ratio", 0.5));  // the identity in predict mode
  } else if (t == "Identity") {
    y = args.in(0);
  } else if (t == "Softmax" || t == "LogSoftmax") {
    auto norm = [&](const NDArray<T>& a, int axis) {
      return t == "Softmax" ? nd::softmax(a, axis) : nd::log_softmax(a, axis);
    };
    const NDArray<T>& x = args.in(0);
    if (cx.opset >= 13) {
      y = norm(x, int(args.axis_of(args.int_or("axis", -1), x.ndim())));
    } else {  // before 13: x coerced to 2-D (the axes before axis, those from it on), normalized along the second
      const std::size_t a = args.axis_of(args.int_or("axis", 1), x.ndim());
      std::size_t outer = 1, inner = 1;
      for (std::size_t d = 0; d < x.ndim(); ++d) (d < a ? outer : inner) *= x.shape()[d];
      y = nd::reshape(norm(nd::reshape(x, Shape{outer, inner}), 1), x.shape());
    }
  } else if (t == "Concat") {
    std::vector<NDArray<T>> xs;
    for (std::size_t k = 0; k < n.in.size(); ++k) xs.push_back(args.in(k));
    y = nd::concat(xs, int(args.axis_of(args.int_or("axis", 0), xs[0].ndim())));
  } else if (t == "Transpose") {
    const auto perm = args.list_or("perm", {});
    y = nd::transpose(args.in(0), std::vector<std::size_t>(perm.begin(), perm.end()));
  } else if (t == "LeakyRelu") {
    y = nd::leaky_relu(args.in(0), static_cast<T>(args.real_or("alpha", 0.01)));
  } else if (t == "Elu") {
    y = nd::elu(args.in(0), static_cast<T>(args.real_or("alpha", 1.0)));
  } else if (t == "Selu") {
    y = nd::selu(args.in(0));
  } else if (t == "PRelu") {  // one slope, or one per channel shaped to broadcast over axis 1: nd::prelu
    const NDArray<T>& x = args.in(0);
    const NDArray<T>& slope = args.in(1);
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
    const std::vector<std::int64_t> axes = (t == "ReduceSum" && cx.opset >= 13)
                                               ? (args.has(1) ? args.ints_in(1).values : std::vector<std::int64_t>{})
                                               : args.list_or("axes", {});
    const NDArray<T>& x = args.in(0);
    std::vector<int> ax;
    for (auto a : axes) ax.push_back(int(args.axis_of(a, x.ndim())));
    const bool keep = args.int_or("keepdims", 1) != 0;
    y = t == "ReduceSum"    ? x.sum(ax, keep)
        : t == "ReduceMean" ? x.mean(ax, keep)
        : t == "ReduceMax"  ? x.max(ax, keep)
                            : x.min(ax, keep);
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
      y = u->second(args.in(0));
    } else if (auto b = binary.find(t); b != binary.end()) {
      y = args.in(0);
      for (std::size_t k = 1; k < n.in.size(); ++k) y = b->second(y, args.in(k));
    } else {
      cx.refuse(n, "this op is not supported");
    }
  }
  env[n.out[0]] = std::move(y);
}

}  // namespace gluino::detail::onnx_import
