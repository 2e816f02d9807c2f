// SPDX-License-Identifier: Apache-2.0
#pragma once
/// im2col / col2im on raw NCHW pointers, and the geometry of a 2-D convolution that they (and
/// kernels/conv2d.hpp) share.  No NDArray, no autograd.
#include <algorithm>
#include <cassert>
#include <cstddef>
#include <cstring>

#include "gluino/detail/precompiled.hpp"

namespace gluino::kernels {

/// Everything that fixes a 2-D convolution's index arithmetic.
/// x: (N, C, H, W), weight: (O, C / groups, kh, kw), y: (N, O, Ho, Wo).
struct Conv2DGeometry {
  std::size_t N = 0, C = 0, H = 0, W = 0;  // input
  std::size_t O = 0, groups = 1;           // output channels, channel groups
  std::size_t kh = 1, kw = 1;              // kernel
  std::size_t sh = 1, sw = 1;              // stride
  std::size_t ph = 0, pw = 0;              // zero padding on each side
  std::size_t dh = 1, dw = 1;              // dilation
  std::size_t Ho = 0, Wo = 0;              // output
  /// Output rows per workspace tile (kernels/conv2d.hpp); 0 = chosen from conv_panel_bytes.
  /// Tests set it to force several tiles on small shapes.
  std::size_t tile_rows = 0;
  /// Tests and benches: true runs every convolution through the general im2col + GEMM path,
  /// skipping the special kernels (depthwise; kernels/conv2d_depthwise.hpp).
  bool generic = false;

  /// Input / output channels of one group.
  std::size_t Cg() const { return C / groups; }
  std::size_t Og() const { return O / groups; }
  /// Rows of one group's column matrix (= the GEMM inner dimension): Cg * kh * kw.
  std::size_t K() const { return Cg() * kh * kw; }
  /// Output pixels per image (= the column matrix's width): Ho * Wo.
  std::size_t P() const { return Ho * Wo; }
  /// True when the column matrix is the input itself (1x1 kernel, stride 1, no padding).
  bool is_pointwise() const { return kh == 1 && kw == 1 && sh == 1 && sw == 1 && ph == 0 && pw == 0; }
  /// Output size along one axis: (in + 2 pad - dilate (k - 1) - 1) / stride + 1 (0 if the
  /// dilated kernel does not fit into the padded input).
  static std::size_t out_size(std::size_t in, std::size_t k, std::size_t s, std::size_t p, std::size_t d) {
    const std::size_t span = d * (k - 1) + 1;
    return in + 2 * p < span ? 0 : (in + 2 * p - span) / s + 1;
  }
  /// Fills Ho and Wo from the other fields.
  void infer_output() {
    Ho = out_size(H, kh, sh, ph, dh);
    Wo = out_size(W, kw, sw, pw, dw);
  }
};

}  // namespace gluino::kernels

namespace gluino::detail {
/// The output indices o in [0, out) whose input index o * stride + offset - pad lies in [0, in).
struct WindowSpan {
  std::size_t lo, hi;
};
inline WindowSpan window_valid_span(std::size_t out, std::size_t in, std::size_t stride, std::size_t pad, std::size_t offset) {
  const long long s = static_cast<long long>(stride);
  const long long lo_num = static_cast<long long>(pad) - static_cast<long long>(offset);
  const long long hi_num = static_cast<long long>(in) - 1 + static_cast<long long>(pad) - static_cast<long long>(offset);
  const std::size_t lo = lo_num > 0 ? static_cast<std::size_t>((lo_num + s - 1) / s) : 0;
  const std::size_t hi = hi_num < 0 ? 0 : std::min(out, static_cast<std::size_t>(hi_num / s + 1));
  return {std::min(lo, hi), hi};
}
}  // namespace gluino::detail

namespace gluino::kernels {

/// dst[0, n) = src[0, n) for the short rows of im2col (LeNet's are 10 to 24 wide): fixed-size
/// 8-element copies that compile to vector moves, then at most 7 scalar ones; a call to memcpy
/// per row cost more than the copy itself.
template <class T>
inline void copy_short(const T* src, std::size_t n, T* dst) {
  std::size_t k = 0;
  for (; k + 8 <= n; k += 8) std::memcpy(dst + k, src + k, 8 * sizeof(T));
  if (k + 4 <= n) {
    std::memcpy(dst + k, src + k, 4 * sizeof(T));
    k += 4;
  }
  switch (n - k) {
    case 3: dst[k + 2] = src[k + 2]; [[fallthrough]];
    case 2: dst[k + 1] = src[k + 1]; [[fallthrough]];
    case 1: dst[k] = src[k]; break;
    default: break;
  }
}
/// dst[0, n) += src[0, n), the same for col2im.
template <class T>
inline void add_short(const T* __restrict src, std::size_t n, T* __restrict dst) {
  for (std::size_t k = 0; k < n; ++k) dst[k] += src[k];
}

/// im2col for stride 1 without padding, the common case: every row of every window is inside
/// the image, so each column row is a run of Wo contiguous input elements per output row.
template <class T>
void im2col_dense(const T* x, std::size_t channels, const Conv2DGeometry& g, T* cols, std::size_t oh0,
                  std::size_t oh1) {
  // locals: the byte copies could alias g's fields, which the compiler would then reload
  const std::size_t H = g.H, W = g.W, Wo = g.Wo, kh = g.kh, kw = g.kw, dh = g.dh, dw = g.dw;
  const std::size_t Pt = (oh1 - oh0) * Wo;
  for (std::size_t c = 0; c < channels; ++c)
    for (std::size_t i = 0; i < kh; ++i)
      for (std::size_t j = 0; j < kw; ++j) {
        const T* src = x + (c * H + i * dh) * W + j * dw;
        T* row = cols + ((c * kh + i) * kw + j) * Pt;
        for (std::size_t oh = oh0; oh < oh1; ++oh) copy_short(src + oh * W, Wo, row + (oh - oh0) * Wo);
      }
}

/// Unfolds `channels` channels of one image x (channels, H, W) into
/// cols (channels * kh * kw, (oh1 - oh0) * Wo): row (c, i, j) holds
/// x[c, oh*sh + i*dh - ph, ow*sw + j*dw - pw] over the output pixels (oh, ow) with oh in
/// [oh0, oh1), zero where that falls into the padding.  By default all Ho output rows; a
/// narrower range fills one tile of the column matrix (kernels/conv2d.hpp).
template <class T>
void im2col(const T* x, std::size_t channels, const Conv2DGeometry& g, T* cols, std::size_t oh0 = 0,
            std::size_t oh1 = static_cast<std::size_t>(-1)) {
  using gluino::detail::window_valid_span;
  oh1 = std::min(oh1, g.Ho);
  if (g.sh == 1 && g.sw == 1 && g.ph == 0 && g.pw == 0) return im2col_dense(x, channels, g, cols, oh0, oh1);
  const std::size_t Pt = (oh1 - oh0) * g.Wo;
  for (std::size_t c = 0; c < channels; ++c) {
    const T* xc = x + c * g.H * g.W;
    for (std::size_t i = 0; i < g.kh; ++i) {
      // rows of the tile: zeros in [oh0, lo), copies in [lo, hi), zeros in [hi, oh1)
      const auto hs = window_valid_span(g.Ho, g.H, g.sh, g.ph, i * g.dh);
      const std::size_t lo = std::min(std::max(hs.lo, oh0), oh1), hi = std::max(std::min(hs.hi, oh1), lo);
      for (std::size_t j = 0; j < g.kw; ++j) {
        T* const row = cols + ((c * g.kh + i) * g.kw + j) * Pt;
        const auto ws = window_valid_span(g.Wo, g.W, g.sw, g.pw, j * g.dw);
        std::fill(row, row + (lo - oh0) * g.Wo, T(0));
        for (std::size_t oh = lo; oh < hi; ++oh) {
          T* dst = row + (oh - oh0) * g.Wo;
          std::fill(dst, dst + ws.lo, T(0));
          if (ws.hi > ws.lo) {
            const T* src = xc + (oh * g.sh + i * g.dh - g.ph) * g.W + (ws.lo * g.sw + j * g.dw - g.pw);
            if (g.sw == 1) {
              copy_short(src, ws.hi - ws.lo, dst + ws.lo);
            } else {
              for (std::size_t ow = ws.lo; ow < ws.hi; ++ow) dst[ow] = src[(ow - ws.lo) * g.sw];
            }
          }
          std::fill(dst + ws.hi, dst + g.Wo, T(0));
        }
        std::fill(row + (hi - oh0) * g.Wo, row + Pt, T(0));
      }
    }
  }
}

/// col2im for stride 1 without padding (see im2col_dense).
template <class T>
void col2im_dense(const T* cols, std::size_t channels, const Conv2DGeometry& g, T* dx, std::size_t oh0,
                  std::size_t oh1) {
  const std::size_t H = g.H, W = g.W, Wo = g.Wo, kh = g.kh, kw = g.kw, dh = g.dh, dw = g.dw;
  const std::size_t Pt = (oh1 - oh0) * Wo;
  for (std::size_t c = 0; c < channels; ++c)
    for (std::size_t i = 0; i < kh; ++i)
      for (std::size_t j = 0; j < kw; ++j) {
        T* dst = dx + (c * H + i * dh) * W + j * dw;
        const T* row = cols + ((c * kh + i) * kw + j) * Pt;
        for (std::size_t oh = oh0; oh < oh1; ++oh) add_short(row + (oh - oh0) * Wo, Wo, dst + oh * W);
      }
}

/// The adjoint of im2col: adds every entry of cols (channels * kh * kw, (oh1 - oh0) * Wo) into
/// the input position it was read from in dx (channels, H, W).  dx is accumulated into, not
/// overwritten.  By default all Ho output rows; a narrower range takes one tile.
template <class T>
void col2im(const T* cols, std::size_t channels, const Conv2DGeometry& g, T* dx, std::size_t oh0 = 0,
            std::size_t oh1 = static_cast<std::size_t>(-1)) {
  using gluino::detail::window_valid_span;
  oh1 = std::min(oh1, g.Ho);
  if (g.sh == 1 && g.sw == 1 && g.ph == 0 && g.pw == 0) return col2im_dense(cols, channels, g, dx, oh0, oh1);
  const std::size_t Pt = (oh1 - oh0) * g.Wo;
  for (std::size_t c = 0; c < channels; ++c) {
    T* dc = dx + c * g.H * g.W;
    for (std::size_t i = 0; i < g.kh; ++i) {
      const auto hs = window_valid_span(g.Ho, g.H, g.sh, g.ph, i * g.dh);
      const std::size_t lo = std::max(hs.lo, oh0), hi = std::min(hs.hi, oh1);
      for (std::size_t j = 0; j < g.kw; ++j) {
        const T* row = cols + ((c * g.kh + i) * g.kw + j) * Pt;
        const auto ws = window_valid_span(g.Wo, g.W, g.sw, g.pw, j * g.dw);
        if (ws.hi <= ws.lo) continue;
        for (std::size_t oh = lo; oh < hi; ++oh) {
          const T* src = row + (oh - oh0) * g.Wo;
          T* dst = dc + (oh * g.sh + i * g.dh - g.ph) * g.W + (ws.lo * g.sw + j * g.dw - g.pw);
          if (g.sw == 1) {
            add_short(src + ws.lo, ws.hi - ws.lo, dst);
          } else {
            for (std::size_t ow = ws.lo; ow < ws.hi; ++ow) dst[(ow - ws.lo) * g.sw] += src[ow];
          }
        }
      }
    }
  }
}

}  // namespace gluino::kernels

// Precompiled mode (detail/precompiled.hpp): this header's float and double instantiations.
#define GLUINO_KERNELS_IM2COL_INSTANTIATIONS(X, T) \
  X void im2col<T>(const T*, std::size_t, const Conv2DGeometry&, T*, std::size_t, std::size_t); \
  X void col2im<T>(const T*, std::size_t, const Conv2DGeometry&, T*, std::size_t, std::size_t);
namespace gluino::kernels {
GLUINO_EXTERN_INSTANTIATIONS(GLUINO_KERNELS_IM2COL_INSTANTIATIONS)
}  // namespace gluino::kernels
