// SPDX-License-Identifier: Apache-2.0
#pragma once
/// The argument checks of the 1-D, 3-D and transposed convolutions (nd/conv1d.hpp,
/// nd/conv3d.hpp, nd/deconvolution.hpp): one rule for every spatial rank, messages that name the
/// op and print the shapes as the caller gave them.  (nd/conv.hpp's 2-D convolution keeps its
/// own checks.)
#include <cstddef>
#include <string>
#include <vector>

#include "gluino/core/error.hpp"
#include "gluino/core/shape.hpp"
#include "gluino/detail/precompiled.hpp"

namespace gluino::detail {

/// What a convolution of `stride.size()` spatial axes (1 to 3) is asked to do.
struct ConvSpec {
  const char* op = "convolution";        ///< the op's name, first in every message
  bool transposed = false;               ///< deconvolution: weight (C, O / groups, k...), out grows
  std::vector<std::size_t> stride, dilate, pad;
  std::vector<std::size_t> adj;          ///< transposed only: extra output on the far side (empty: 0)
  std::size_t num_group = 1;
};

/// The sizes a checked convolution works with: batch, input channels C, output channels O, and
/// per spatial axis the input size, the kernel size and the output size.
struct ConvSizes {
  std::size_t N = 0, C = 0, O = 0;
  std::vector<std::size_t> in, kernel, out;
};

/// Checks x, w and b (b may be null: no bias) for `spec` and returns the sizes.
///  convolution:   x (N, C, in...), w (O, C / groups, k...), out = (in + 2 pad - dilate (k - 1) - 1) / stride + 1
///  deconvolution: x (N, C, in...), w (C, O / groups, k...), out = (in - 1) stride - 2 pad + dilate (k - 1) + 1 + adj
/// ShapeError for a wrong rank, a channel or bias mismatch, channels not multiples of the groups,
/// an empty kernel, input (a spatial axis of size 0, whatever the padding, as PyTorch; the batch
/// may be 0) or weight, a kernel larger than the padded input (convolution) or an output of size
/// < 1 (deconvolution), an output too large to index; ValueError for a zero stride, dilation or
/// num_group, adj >= stride, any size of 2^40 or more (a negative number converted to size_t),
/// and a dilation times kernel size of 2^62 or more (the dilated kernel's span would wrap).
/// Every message names the op, the input's and the weight's shapes.
GLUINO_FUNC ConvSizes check_conv_args(const ConvSpec& spec, const Shape& x, const Shape& w, const Shape* b);

}  // namespace gluino::detail

#if GLUINO_FUNCTION_BODIES
namespace gluino::detail {

GLUINO_FUNC ConvSizes check_conv_args(const ConvSpec& spec, const Shape& x, const Shape& w, const Shape* b) {
  const std::size_t D = spec.stride.size();
  GLUINO_CHECK(ValueError, D >= 1 && D <= 3, spec.op, ": 1 to 3 spatial axes, got ", D);
  static const char* const layouts[] = {"", "(N, C, W)", "(N, C, H, W)", "(N, C, D, H, W)"};
  static const char* const kernels[] = {"", "k", "kh, kw", "kd, kh, kw"};
  const std::string wl = std::string(spec.transposed ? "(C, O/groups, " : "(O, C/groups, ") + kernels[D] + ")";
  const char* op = spec.op;
  GLUINO_CHECK(ShapeError, x.ndim() == D + 2, op, ": input must be ", D + 2, "-D ", layouts[D], ", got ", x);
  GLUINO_CHECK(ShapeError, w.ndim() == D + 2, op, ": weight must be ", D + 2, "-D ", wl, ", got ", w,
               " for input ", x);
  // A size of 2^40 or more is a negative number converted to size_t: it would wrap the arithmetic.
  constexpr std::size_t lim = std::size_t(1) << 40;
  const auto list = [](const std::vector<std::size_t>& v) {
    std::string s = "(";
    for (std::size_t i = 0; i < v.size(); ++i) {
      if (i) s += ", ";
      s += std::to_string(static_cast<long long>(v[i]));
    }
    return s + (v.size() == 1 ? ",)" : ")");
  };
  const auto check_list = [&](const char* what, const std::vector<std::size_t>& v, bool positive) {
    for (std::size_t a : v) {
      GLUINO_CHECK(ValueError, !positive || a > 0, op, ": ", what, " must be > 0, got ", list(v), ": input ", x,
                   " vs weight ", w);
      GLUINO_CHECK(ValueError, a < lim, op, ": ", what, " ", list(v),
                   " too large (a negative value converted to size_t?): input ", x, " vs weight ", w);
    }
  };
  check_list("stride", spec.stride, true);
  check_list("dilate", spec.dilate, true);
  check_list("pad", spec.pad, false);
  check_list("adj", spec.adj, false);
  GLUINO_CHECK(ValueError, spec.dilate.size() == D && spec.pad.size() == D && (spec.adj.empty() || spec.adj.size() == D),
               op, ": stride, dilate, pad and adj must have ", D, " entries each");
  GLUINO_CHECK(ValueError, spec.num_group > 0 && spec.num_group < lim, op, ": num_group must be > 0, got ",
               static_cast<long long>(spec.num_group), ": input ", x, " vs weight ", w);
  ConvSizes s;
  const std::size_t g = spec.num_group;
  s.N = x[0], s.C = x[1];
  GLUINO_CHECK(ShapeError, s.C > 0, op, ": input has 0 channels: input ", x, " vs weight ", w);
  GLUINO_CHECK(ShapeError, s.C % g == 0, op, ": input channels must be a multiple of num_group = ", g, ": input ", x,
               " vs weight ", w);
  if (spec.transposed) {
    GLUINO_CHECK(ShapeError, w[0] == s.C, op, ": weight expects ", w[0], " input channels (weight's axis 0): input ",
                 x, " vs weight ", w);
    s.O = w[1] * g;
  } else {
    GLUINO_CHECK(ShapeError, w[1] * g == s.C, op, ": weight expects ", w[1] * g, " input channels (", w[1],
                 " per group x ", g, " groups): input ", x, " vs weight ", w);
    s.O = w[0];
    GLUINO_CHECK(ShapeError, s.O % g == 0, op, ": filters must be a multiple of num_group = ", g, ": input ", x,
                 " vs weight ", w);
  }
  GLUINO_CHECK(ShapeError, s.O > 0, op, ": weight has 0 output channels: input ", x, " vs weight ", w);
  if (b)
    GLUINO_CHECK(ShapeError, b->ndim() == 1 && (*b)[0] == s.O, op, ": bias must have shape (", s.O, ",) for weight ", w,
                 ", got ", *b);
  std::size_t numel = 0;
  GLUINO_CHECK(ShapeError, !__builtin_mul_overflow(s.N, s.O, &numel), op, ": output too large: input ", x,
               " vs weight ", w);
  for (std::size_t a = 0; a < D; ++a) {
    const std::size_t in = x[2 + a], k = w[2 + a], st = spec.stride[a], d = spec.dilate[a], p = spec.pad[a];
    const std::size_t adj = spec.adj.empty() ? 0 : spec.adj[a];
    GLUINO_CHECK(ShapeError, k > 0 && k < lim, op, ": empty or huge kernel in weight ", w, " for input ", x);
    GLUINO_CHECK(ShapeError, in < lim, op, ": input ", x, " too large");
    // d (k - 1) and (in - 1) stride: each factor below 2^40, so a product can reach 2^80 and wrap
    // (a dilation of 2^39 and a kernel of 2^25 + 1 taps wrapped to a span of 1: convolution3d
    // then added the last tap in, deconvolution's col2im read out of bounds).
    std::size_t span = 0;
    GLUINO_CHECK(ValueError, !__builtin_mul_overflow(d, k - 1, &span) && span < (std::size_t(1) << 62), op,
                 ": dilate ", list(spec.dilate), " times kernel size ", k, " along axis ", 2 + a,
                 " overflows the kernel's span: input ", x, " vs weight ", w);
    ++span;
    std::size_t out = 0;
    if (spec.transposed) {
      GLUINO_CHECK(ValueError, adj < st, op, ": adj ", list(spec.adj), " must be smaller than stride ",
                   list(spec.stride), ": input ", x, " vs weight ", w);
      GLUINO_CHECK(ShapeError, in > 0, op, ": empty input ", x, " vs weight ", w);
      std::size_t grown = 0;
      GLUINO_CHECK(ShapeError,
                   !__builtin_mul_overflow(in - 1, st, &grown) && grown < (std::size_t(1) << 62) &&
                       span + adj < (std::size_t(1) << 62) - grown,
                   op, ": output too large along axis ", 2 + a,
                   " ((in - 1) stride + dilate (k - 1) + 1 + adj with stride ", list(spec.stride), "): input ", x,
                   " vs weight ", w);
      grown += span + adj;
      GLUINO_CHECK(ShapeError, grown > 2 * p, op, ": pad ", list(spec.pad), " leaves no output: input ", x,
                   " vs weight ", w);
      out = grown - 2 * p;
    } else {
      // Padding around nothing is no image (PyTorch refuses it too): only the batch may be empty.
      GLUINO_CHECK(ShapeError, in > 0, op, ": empty input ", x, ": axis ", 2 + a,
                   " has size 0 (only the batch may be empty) vs weight ", w);
      GLUINO_CHECK(ShapeError, span <= in + 2 * p, op, ": kernel (dilated to ", span, " along axis ", 2 + a,
                   ") larger than the padded input (", in + 2 * p, "): input ", x, " vs weight ", w);
      out = (in + 2 * p - span) / st + 1;
    }
    s.in.push_back(in);
    s.kernel.push_back(k);
    s.out.push_back(out);
    GLUINO_CHECK(ShapeError, !__builtin_mul_overflow(numel, out, &numel) && numel < (std::size_t(1) << 62), op,
                 ": output too large: input ", x, " vs weight ", w);
  }
  return s;
}

}  // namespace gluino::detail
#endif  // GLUINO_FUNCTION_BODIES
