// SPDX-License-Identifier: Apache-2.0
#pragma once
/// Not API.  SymbolBlock's (onnx/symbol_block.hpp) int64 tensors.  At import, check_kinds works out
/// which values are float tensors and which int64 ones (Kind) and refuses a node reading one where the
/// other is expected.  In forward, run_ints runs the nodes whose output is an int64 tensor: Shape,
/// Gather, Slice, Unsqueeze, Squeeze, Concat, Reshape, Identity and Cast, on constants and on the
/// input's shape, as PyTorch's export of x.view(x.size(0), -1) computes a Reshape's target.  They run
/// in plain C++ on each call: a hybridized block traces one graph per input shape, which holds the
/// values of that shape.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "gluino/onnx/import_node.hpp"

namespace gluino::detail::onnx_import {

inline const char* kind_name(Kind k) {
  switch (k) {
    case Kind::real: return "a float tensor";
    case Kind::integer: return "an int64 tensor";
    case Kind::index: return "a float tensor cast to an integer type";
    case Kind::flag: return "a bool constant";
  }
  return "?";
}

/// Checks the kinds of node n's inputs (parsed; every input given by the input, an initializer or an earlier
/// node) against its op's, and records its output's in cx.kinds.  A value of kind index read by anything
/// but Gather's indices is left to the constructor, which names the Cast that made it.
template <class T>
void check_kinds(Context<T>& cx, const Node& n) {
  auto kind = [&](std::size_t k) {
    auto it = cx.kinds.find(n.in[k]);
    if (it == cx.kinds.end()) cx.refuse(n, "input '" + n.in[k] + "' is not a tensor this importer reads");
    return it->second;
  };
  auto given = [&](std::size_t k) { return k < n.in.size() && !n.in[k].empty(); };
  auto need = [&](std::size_t k, Kind want) {
    if (!given(k)) return;
    const Kind got = kind(k);
    if (got == want || (want == Kind::real && got == Kind::index)) return;
    cx.refuse(n, "input " + std::to_string(k) + " ('" + n.in[k] + "') is " + kind_name(got) + ", " +
                     kind_name(want) + " is expected");
  };
  const std::string& t = n.type;
  Kind out = Kind::real;
  if (t == "Constant") {
    return;  // parse recorded its kind
  } else if (t == "Shape") {
    if (kind(0) == Kind::flag) need(0, Kind::real);
    out = Kind::integer;
  } else if (t == "Gather") {
    if (kind(0) == Kind::integer) {  // along any axis
      need(1, Kind::integer);
      out = Kind::integer;
    } else {  // an embedding lookup: indices an int64 tensor, or a float one cast to an integer type
      need(0, Kind::real);
      if (kind(1) != Kind::index) need(1, Kind::integer);
      if (n.ints.count("axis") && n.ints.at("axis") > 0)
        cx.refuse(n, "only Gather along axis 0 (an embedding lookup) is supported");
    }
  } else if (t == "Slice") {
    if (kind(0) != Kind::integer)
      cx.refuse(n, "input 0 ('" + n.in[0] + "') is " + kind_name(kind(0)) +
                       ": only a Slice of an int64 tensor (a shape's values) is supported");
    for (std::size_t k = 1; k < n.in.size(); ++k) need(k, Kind::integer);
    out = Kind::integer;
  } else if (t == "Unsqueeze" || t == "Squeeze" || t == "Reshape" || t == "Identity" || t == "Concat") {
    // The data's kind (input 0's, every input's for Concat) is the output's; axes and shape are int64.
    out = kind(0) == Kind::integer ? Kind::integer : Kind::real;
    for (std::size_t k = 0; k < n.in.size(); ++k) need(k, k == 0 || t == "Concat" ? out : Kind::integer);
  } else if (t == "Cast") {
    const bool to_float = n.ints.at("to") == elem_type<T>();
    if (kind(0) == Kind::integer) {
      out = to_float ? Kind::real : Kind::integer;
    } else {
      need(0, Kind::real);
      out = to_float ? Kind::real : Kind::index;
    }
  } else if (t == "Pad") {
    need(0, Kind::real);
    need(1, Kind::integer);
    need(2, Kind::real);
  } else if (t == "ReduceSum") {  // axes an input from opset 13 (parse refused it before)
    need(0, Kind::real);
    need(1, Kind::integer);
  } else {
    for (std::size_t k = 0; k < n.in.size(); ++k) need(k, Kind::real);
  }
  cx.kinds[n.out[0]] = out;
}

/// dims with axes inserted (unsqueeze: axes of the output) or removed (squeeze: each of size 1, or every axis of
/// size 1 for no axes), as ONNX's Unsqueeze and Squeeze.
template <class T>
std::vector<std::size_t> squeeze_dims(const NodeArgs<T>& args, const std::vector<std::size_t>& dims,
                                      const std::vector<std::int64_t>& axes, bool unsqueeze) {
  std::vector<std::size_t> out;
  if (unsqueeze) {
    const std::size_t out_nd = dims.size() + axes.size();
    std::vector<bool> is_new(out_nd, false);
    for (auto a : axes) {
      const std::size_t ax = args.axis_of(a, out_nd);
      if (is_new[ax]) args.cx.refuse(args.n, "axis " + std::to_string(a) + " is given twice");
      is_new[ax] = true;
    }
    for (std::size_t d = 0, k = 0; d < out_nd; ++d) out.push_back(is_new[d] ? 1 : dims[k++]);
  } else {
    std::vector<bool> drop(dims.size(), false);
    for (auto a : axes) {
      const std::size_t ax = args.axis_of(a, dims.size());
      if (dims[ax] != 1)
        args.cx.refuse(args.n, "axis " + std::to_string(a) + " has size " + std::to_string(dims[ax]) + ", not 1");
      drop[ax] = true;
    }
    for (std::size_t d = 0; d < dims.size(); ++d)
      if (!(axes.empty() ? dims[d] == 1 : drop[d])) out.push_back(dims[d]);
  }
  return out;
}

/// The output of node n, an int64 tensor (cx.kinds says so: check_kinds).
template <class T>
Ints run_ints(const NodeArgs<T>& args) {
  const Context<T>& cx = args.cx;
  const Node& n = args.n;
  const std::string& t = n.type;
  auto count = [](const std::vector<std::size_t>& dims, std::size_t from, std::size_t to) {
    std::size_t c = 1;
    for (std::size_t d = from; d < to; ++d) c *= dims[d];
    return c;
  };
  // A computed int64 tensor is a shape's values, or indices: refused past 2^24 values (chained Concats could
  // otherwise double one node after node).
  constexpr std::size_t most = std::size_t(1) << 24;
  auto check_size = [&](std::size_t a, std::size_t b) {
    if (a != 0 && b > most / a)
      cx.refuse(n, "an int64 tensor of more than 2^24 values would be made (only shapes and indices are computed)");
  };
  Ints y;
  if (t == "Shape") {
    std::vector<std::size_t> dims;
    if (args.is_ints(0)) {
      dims = args.ints_in(0).dims;
    } else {
      const Shape& s = args.in(0).shape();
      dims.assign(s.begin(), s.end());
    }
    const std::int64_t r = std::int64_t(dims.size());
    auto bound = [&](std::int64_t v) { return std::clamp(v < 0 ? v + r : v, std::int64_t(0), r); };
    const std::int64_t from = bound(args.int_or("start", 0)), to = bound(args.int_or("end", r));
    for (std::int64_t d = from; d < to; ++d) y.values.push_back(std::int64_t(dims[std::size_t(d)]));
    y.dims = {y.values.size()};
  } else if (t == "Gather") {  // ONNX's: data's axes before axis, the indices' axes, data's axes after axis
    const Ints& x = args.ints_in(0);
    const Ints& idx = args.ints_in(1);
    const std::size_t axis = args.axis_of(args.int_or("axis", 0), x.dims.size());
    const std::size_t outer = count(x.dims, 0, axis), len = x.dims[axis];
    const std::size_t inner = count(x.dims, axis + 1, x.dims.size());
    check_size(outer * inner, idx.values.size());
    y.dims.assign(x.dims.begin(), x.dims.begin() + std::ptrdiff_t(axis));
    y.dims.insert(y.dims.end(), idx.dims.begin(), idx.dims.end());
    y.dims.insert(y.dims.end(), x.dims.begin() + std::ptrdiff_t(axis) + 1, x.dims.end());
    for (std::size_t o = 0; o < outer; ++o)
      for (std::int64_t v : idx.values) {
        const std::int64_t r = std::int64_t(len);
        if (v < -r || v >= r)
          cx.refuse(n, "index " + std::to_string(v) + " is out of range for axis " + std::to_string(axis) +
                           " of size " + std::to_string(len));
        const std::size_t row = std::size_t(v < 0 ? v + r : v);
        const auto first = x.values.begin() + std::ptrdiff_t((o * len + row) * inner);
        y.values.insert(y.values.end(), first, first + std::ptrdiff_t(inner));
      }
  } else if (t == "Slice") {  // ONNX's: starts and ends clamped to the axis (for a negative step, to [-1, dim - 1])
    const Ints& x = args.ints_in(0);
    const std::vector<std::int64_t>& starts = args.ints_in(1).values;
    const std::vector<std::int64_t>& ends = args.ints_in(2).values;
    std::vector<std::int64_t> axes, steps(starts.size(), 1);
    if (args.has(3)) {
      axes = args.ints_in(3).values;
    } else {
      for (std::size_t k = 0; k < starts.size(); ++k) axes.push_back(std::int64_t(k));
    }
    if (args.has(4)) steps = args.ints_in(4).values;
    if (ends.size() != starts.size() || axes.size() != starts.size() || steps.size() != starts.size())
      cx.refuse(n, "starts, ends, axes and steps differ in length");
    const std::size_t rank = x.dims.size();
    std::vector<std::int64_t> first(rank, 0), step(rank, 1);
    std::vector<std::size_t> dims = x.dims;
    std::vector<bool> seen(rank, false);
    for (std::size_t k = 0; k < starts.size(); ++k) {
      const std::size_t a = args.axis_of(axes[k], rank);
      if (seen[a]) cx.refuse(n, "axis " + std::to_string(axes[k]) + " is given twice");
      seen[a] = true;
      if (steps[k] == 0) cx.refuse(n, "a step of 0");
      const std::int64_t dim = std::int64_t(x.dims[a]), s = steps[k];
      if (dim == 0) continue;  // stays empty
      auto from_back = [&](std::int64_t v) { return v < 0 ? v + dim : v; };  // no overflow: dim < 2^63
      const std::int64_t b = std::clamp(from_back(starts[k]), std::int64_t(0), s > 0 ? dim : dim - 1);
      const std::int64_t e = std::clamp(from_back(ends[k]), s > 0 ? std::int64_t(0) : std::int64_t(-1),
                                        s > 0 ? dim : dim - 1);
      const std::int64_t span = s > 0 ? e - b : b - e;
      const std::uint64_t mag = s > 0 ? std::uint64_t(s) : std::uint64_t(0) - std::uint64_t(s);  // INT64_MIN too
      dims[a] = span > 0 ? std::size_t((std::uint64_t(span) - 1) / mag + 1) : 0;
      first[a] = b;
      step[a] = s;
    }
    y.dims = dims;
    const std::size_t total = count(dims, 0, rank);
    std::vector<std::size_t> at(rank, 0);  // the output's multi-index
    for (std::size_t i = 0; i < total; ++i) {
      std::size_t src = 0;
      for (std::size_t d = 0; d < rank; ++d)
        src = src * x.dims[d] + std::size_t(first[d] + std::int64_t(at[d]) * step[d]);
      y.values.push_back(x.values[src]);
      for (std::size_t d = rank; d-- > 0;) {
        if (++at[d] < dims[d]) break;
        at[d] = 0;
      }
    }
  } else if (t == "Unsqueeze" || t == "Squeeze") {
    y = args.ints_in(0);
    const std::vector<std::int64_t> axes = cx.opset >= 13
                                               ? (args.has(1) ? args.ints_in(1).values : std::vector<std::int64_t>{})
                                               : args.list_or("axes", {});
    y.dims = squeeze_dims(args, y.dims, axes, t == "Unsqueeze");
  } else if (t == "Concat") {
    const Ints& x0 = args.ints_in(0);
    const std::size_t axis = args.axis_of(args.int_or("axis", 0), x0.dims.size());
    y.dims = x0.dims;
    y.dims[axis] = 0;
    std::size_t total = 0;
    for (std::size_t k = 0; k < n.in.size(); ++k) {
      const Ints& x = args.ints_in(k);
      bool same = x.dims.size() == x0.dims.size();
      for (std::size_t d = 0; same && d < x.dims.size(); ++d) same = d == axis || x.dims[d] == x0.dims[d];
      if (!same) cx.refuse(n, "input " + std::to_string(k) + "'s shape differs from input 0's off the axis");
      y.dims[axis] += x.dims[axis];
      total += x.values.size();
      check_size(1, total);
    }
    const std::size_t outer = count(x0.dims, 0, axis), inner = count(x0.dims, axis + 1, x0.dims.size());
    for (std::size_t o = 0; o < outer; ++o)
      for (std::size_t k = 0; k < n.in.size(); ++k) {
        const Ints& x = args.ints_in(k);
        const auto first = x.values.begin() + std::ptrdiff_t(o * x.dims[axis] * inner);
        y.values.insert(y.values.end(), first, first + std::ptrdiff_t(x.dims[axis] * inner));
      }
  } else if (t == "Reshape") {  // 0 keeps the axis (allowzero is refused), one -1 takes what is left
    const Ints& x = args.ints_in(0);
    const std::vector<std::int64_t>& target = args.ints_in(1).values;
    y.values = x.values;
    std::size_t known = 1, infer = target.size();
    for (std::size_t d = 0; d < target.size(); ++d) {
      std::int64_t v = target[d];
      if (v == 0) {
        if (d >= x.dims.size()) cx.refuse(n, "a 0 in the target shape copies an axis the input does not have");
        v = std::int64_t(x.dims[d]);
      }
      if (v == -1 && infer < target.size()) cx.refuse(n, "the target shape has more than one -1");
      if (v == -1) {
        infer = d;
        y.dims.push_back(0);
        continue;
      }
      if (v < 0) cx.refuse(n, "the target shape has " + std::to_string(v));
      check_size(known, std::size_t(v));
      known *= std::size_t(v);
      y.dims.push_back(std::size_t(v));
    }
    if (infer < target.size() && known != 0) y.dims[infer] = x.values.size() / known;
    if (count(y.dims, 0, y.dims.size()) != x.values.size())
      cx.refuse(n, "an int64 tensor of " + std::to_string(x.values.size()) + " values cannot take the target shape");
  } else if (t == "Identity") {
    y = args.ints_in(0);
  } else if (t == "Cast") {  // to int64 or int32 (parse): int32's wrap
    y = args.ints_in(0);
    if (n.ints.at("to") == ::onnx::TensorProto_DataType_INT32)
      for (auto& v : y.values) v = std::int64_t(std::int32_t(std::uint32_t(std::uint64_t(v))));
  } else {
    cx.refuse(n, "this op is not supported on int64 tensors");
  }
  return y;
}

}  // namespace gluino::detail::onnx_import
