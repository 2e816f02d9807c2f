// SPDX-License-Identifier: Apache-2.0
#pragma once
/// Not API.  SymbolBlock's (onnx/symbol_block.hpp) sliding-window nodes: Conv (1-D, 2-D, 3-D),
/// ConvTranspose, MaxPool and AveragePool (1-D, 2-D), GlobalAveragePool and GlobalMaxPool, with
/// ONNX's padding (auto_pad, pads that differ at the two ends) and ceil_mode.
#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "gluino/nd/conv.hpp"
#include "gluino/nd/conv1d.hpp"
#include "gluino/nd/conv3d.hpp"
#include "gluino/nd/creation.hpp"
#include "gluino/nd/deconvolution.hpp"
#include "gluino/nd/elementwise.hpp"
#include "gluino/nd/pad.hpp"
#include "gluino/nd/pool.hpp"
#include "gluino/nd/pool1d.hpp"
#include "gluino/nd/shape_ops.hpp"
#include "gluino/onnx/import_node.hpp"

namespace gluino::detail::onnx_import {

/// The ops run_window runs.
inline bool is_window_op(const std::string& t) {
  return t == "Conv" || t == "ConvTranspose" || t == "MaxPool" || t == "AveragePool" || t == "GlobalAveragePool" ||
         t == "GlobalMaxPool";
}

/// The output of a node whose op is_window_op.
template <class T>
NDArray<T> run_window(const NodeArgs<T>& args) {
  const Context<T>& cx = args.cx;
  const Node& n = args.n;
  const std::string& t = n.type;
  NDArray<T> y;
  // The spatial entries of a pads or strides list, checked against the kernel's rank k.
  auto spatial = [&](const char* key, std::size_t k, std::int64_t d) {
    const auto v = args.list_or(key, std::vector<std::int64_t>(key == std::string("pads") ? 2 * k : k, d));
    if (v.size() != (key == std::string("pads") ? 2 * k : k))
      cx.refuse(n, std::string("attribute '") + key + "' has " + std::to_string(v.size()) + " values for a " +
                    std::to_string(k) + "-D kernel");
    return std::vector<std::size_t>(v.begin(), v.begin() + std::ptrdiff_t(k));
  };
  // ONNX's ceil_mode (as ONNX Runtime and PyTorch) rounds the output count up but drops a last window that would
  // start in the right padding; gluino's full convention keeps it.  True for an axis of size len where it would:
  // there the count rounded down (the valid convention, with the same windows before it) is ONNX's.
  // With auto_pad SAME the output count is ceil(in / s) whatever ceil_mode says (as ONNX Runtime).
  const bool ceil_mode = args.int_or("ceil_mode", 0) != 0 && n.mode.rfind("SAME", 0) != 0;
  auto drops_last = [&](std::size_t len, std::size_t k, std::size_t s, std::size_t p) {
    if (!ceil_mode || len + 2 * p < k) return false;
    return (len + 2 * p - k + s - 1) / s * s >= len + p;
  };
  auto check_kernel = [&](const NDArray<T>& w) {
    if (!n.lists.count("kernel_shape")) return;
    const std::vector<std::int64_t> ks(w.shape().begin() + 2, w.shape().end());
    if (n.lists.at("kernel_shape") != ks) cx.refuse(n, "kernel_shape differs from the weight's spatial shape");
  };
  // Each spatial axis' padding (begin, end) for input x: the pads attribute, or auto_pad's.  ONNX's SAME:
  // out = ceil(in / s), total = max(0, (out - 1) s + (k - 1) d + 1 - in), the odd one at the end (SAME_UPPER)
  // or at the beginning (SAME_LOWER); VALID: none.
  using Pads = std::vector<std::array<std::size_t, 2>>;
  auto pads_of = [&](const NDArray<T>& x, const std::vector<std::size_t>& kernel) {
    const std::size_t k = kernel.size();
    if (x.ndim() != k + 2)
      cx.refuse(n, "input of shape " + shape_str(x.shape()) + " for a " + std::to_string(k) + "-D kernel");
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
    Shape ones = args.in(0).shape();
    ones[0] = ones[1] = 1;
    std::vector<std::size_t> sym;
    return nd::divide(pool(x), pool(prepad(nd::ones<T>(ones), p, 0.0, sym)));
  };
  if (t == "Conv" && args.in(1).ndim() == 3) {
    check_kernel(args.in(1));
    std::vector<std::size_t> sym;
    const NDArray<T> x = prepad(args.in(0), pads_of(args.in(0), kernel_of(args.in(1))), 0.0, sym);
    nd::Conv1DOptions o{.stride = spatial("strides", 1, 1)[0], .dilate = spatial("dilations", 1, 1)[0],
                        .pad = sym[0], .num_group = std::size_t(args.int_or("group", 1))};
    y = nd::convolution1d(x, args.in(1), args.has(2) ? args.in(2) : NDArray<T>(), o);
  } else if (t == "Conv" && args.in(1).ndim() == 5) {
    check_kernel(args.in(1));
    nd::Conv3DOptions o;
    std::vector<std::size_t> p;
    const NDArray<T> x = prepad(args.in(0), pads_of(args.in(0), kernel_of(args.in(1))), 0.0, p);
    const auto s = spatial("strides", 3, 1), d = spatial("dilations", 3, 1);
    std::copy(s.begin(), s.end(), o.stride.begin());
    std::copy(d.begin(), d.end(), o.dilate.begin());
    std::copy(p.begin(), p.end(), o.pad.begin());
    o.num_group = std::size_t(args.int_or("group", 1));
    y = nd::convolution3d(x, args.in(1), args.has(2) ? args.in(2) : NDArray<T>(), o);
  } else if (t == "ConvTranspose") {
    if (args.in(1).ndim() != 4) cx.refuse(n, "only 2-D ConvTranspose is supported");
    check_kernel(args.in(1));
    nd::DeconvOptions o;
    const auto s = spatial("strides", 2, 1), d = spatial("dilations", 2, 1), a = spatial("output_padding", 2, 0);
    auto p = spatial("pads", 2, 0);  // symmetric (checked at import)
    for (std::size_t k = 0; k < 2 && n.mode.rfind("SAME", 0) == 0; ++k) {
      // ONNX: out = in * stride, so total = (kernel - 1) d + 1 + output_padding - stride, split as Conv's
      const auto total = std::int64_t((args.in(1).shape()[2 + k] - 1) * d[k] + 1 + a[k]) - std::int64_t(s[k]);
      if (total < 0 || total % 2 != 0)
        cx.refuse(n, "auto_pad '" + n.mode + "' gives a total padding of " + std::to_string(total) + " along axis " +
                      std::to_string(2 + k) + ", which gluino's symmetric padding cannot " +
                      (total < 0 ? "give" : "split"));
      p[k] = std::size_t(total / 2);
    }
    o.stride = {s[0], s[1]}, o.dilate = {d[0], d[1]}, o.pad = {p[0], p[1]}, o.adj = {a[0], a[1]};
    o.num_group = std::size_t(args.int_or("group", 1));
    y = nd::deconvolution(args.in(0), args.in(1), args.has(2) ? args.in(2) : NDArray<T>(), o);
  } else if ((t == "MaxPool" || t == "AveragePool") && n.lists.at("kernel_shape").size() == 1) {
    const auto kernel = spatial("kernel_shape", 1, 1);
    const Pads pads = pads_of(args.in(0), kernel);
    std::vector<std::size_t> sym;
    const NDArray<T> x = prepad(args.in(0), pads, t == "MaxPool" ? -std::numeric_limits<double>::infinity() : 0.0, sym);
    nd::Pool1DOptions o{.kernel = kernel[0], .stride = spatial("strides", 1, 1)[0], .pad = sym[0],
                        .type = t == "MaxPool" ? nd::pool_type::max : nd::pool_type::avg,
                        .global_pool = false,
                        .convention = ceil_mode ? nd::pooling_convention::full : nd::pooling_convention::valid,
                        .count_include_pad = args.int_or("count_include_pad", 0) != 0};
    if (drops_last(x.shape(2), o.kernel, o.stride, o.pad)) o.convention = nd::pooling_convention::valid;
    if (t == "AveragePool" && !o.count_include_pad && x.shape() != args.in(0).shape()) {
      o.count_include_pad = true;
      y = avg_of_inputs([&](const NDArray<T>& a) { return nd::pooling1d(a, o); }, x, pads);
    } else {
      y = nd::pooling1d(x, o);
    }
  } else if ((t == "GlobalAveragePool" || t == "GlobalMaxPool") && args.in(0).ndim() == 3) {
    nd::Pool1DOptions o;
    o.global_pool = true;
    o.type = t == "GlobalMaxPool" ? nd::pool_type::max : nd::pool_type::avg;
    y = nd::pooling1d(args.in(0), o);
  } else if (t == "Conv") {
    if (args.in(1).ndim() != 4)
      cx.refuse(n, "a weight of shape " + shape_str(args.in(1).shape()) + ": 1-D, 2-D and 3-D kernels are supported");
    check_kernel(args.in(1));
    nd::ConvOptions o;
    o.stride = args.pair("strides", 1);
    o.dilate = args.pair("dilations", 1);
    std::vector<std::size_t> sym;
    const NDArray<T> x = prepad(args.in(0), pads_of(args.in(0), kernel_of(args.in(1))), 0.0, sym);
    o.pad = {sym[0], sym[1]};
    o.num_group = std::size_t(args.int_or("group", 1));
    y = nd::convolution(x, args.in(1), args.has(2) ? args.in(2) : NDArray<T>(), o);
  } else if (t == "MaxPool" || t == "AveragePool") {
    nd::PoolOptions o;
    o.kernel = args.pair("kernel_shape", 1);
    o.stride = args.pair("strides", 1);
    const Pads pads = pads_of(args.in(0), {o.kernel[0], o.kernel[1]});
    std::vector<std::size_t> sym;
    const NDArray<T> x = prepad(args.in(0), pads, t == "MaxPool" ? -std::numeric_limits<double>::infinity() : 0.0, sym);
    o.pad = {sym[0], sym[1]};
    o.type = t == "MaxPool" ? nd::pool_type::max : nd::pool_type::avg;
    o.convention = ceil_mode ? nd::pooling_convention::full : nd::pooling_convention::valid;
    o.count_include_pad = args.int_or("count_include_pad", 0) != 0;
    std::array<bool, 2> drop = {false, false};
    for (std::size_t d = 0; d < 2; ++d) drop[d] = drops_last(x.shape()[2 + d], o.kernel[d], o.stride[d], o.pad[d]);
    if (drop[0] && drop[1]) o.convention = nd::pooling_convention::valid;
    if (t == "AveragePool" && !o.count_include_pad && x.shape() != args.in(0).shape()) {
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
    y = nd::pooling(args.in(0), o);
  }
  return y;
}

}  // namespace gluino::detail::onnx_import
