// SPDX-License-Identifier: Apache-2.0
#pragma once
/// A stride-1 convolution and the 2x2/2 max pooling of its output with a batch's images in the
/// vector lanes ("batch lanes"): LeNet's layers at a batch of 16 images or more.
///
/// The wide kernel (kernels/conv2d_wide.hpp) puts an image's output pixels in the lanes, so it
/// computes the pixels between the output rows too (LeNet's second layer: 128 lanes for its 100
/// pixels, 78% of them kept), its loads straddle cache lines, and every tile ends in masked
/// stores.  Here one vector holds one pixel of L images (L = wide_lanes<T>: 16 floats with
/// AVX-512): a group of L images is copied into a zero-bordered buffer in lane order (C, Hp, Wp,
/// L), a register tile of `block` output channels x 5 or 4 pixels of one output row adds each tap's
/// weight times whole aligned vectors, no lane wasted, and the ReLU'd output (O, Ho, Wo, L) is
/// pooled in the same order, lane by lane as max_pool2d_plane does it (the same selects, so the
/// same maxima, arg-max positions and NaN rule), before the pooled planes and arg-max positions
/// go back to each image's (N, O, Ho', Wo') place.  The sums run in the wide kernel's order (bias,
/// then channel by channel, tap by tap), so the results are the wide kernel's, bit for bit.
/// The backward (conv2d_max_pool_backward_lanes) keeps the layout: the pooled gradient scattered
/// in lane order, the weight gradient as each lane's products summed in vectors, the input
/// gradient by the same tiles with the filters rotated.
///
/// Used by conv2d_max_pool_forward and conv2d_max_pool_backward (kernels/conv2d_pool.hpp) where
/// batch_lanes_applies (batch_lanes_grad_applies): builds
/// with AVX-512 (32 vector registers hold a 5 x 5 tile; AVX2's 16 do not), filters of at
/// least lanes_min_taps taps (the copies in and out weigh more the fewer taps each output sums:
/// measured down to LeNet's first layer's 25, where it still ran 1.5x the wide kernel with its
/// pooling; docs/performance.md).  Needs GCC or Clang (vector extensions).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>
#include <vector>
#if defined(__AVX512F__)
#include <immintrin.h>
#endif

#include "gluino/core/parallel.hpp"
#include "gluino/core/storage.hpp"
#include "gluino/detail/precompiled.hpp"
#include "gluino/kernels/conv2d_wide.hpp"
#include "gluino/kernels/im2col.hpp"
#include "gluino/kernels/pool.hpp"

namespace gluino::kernels {

/// Fewest filter taps per output (C * kh * kw) for the batch-lanes path: LeNet's first layer's.
inline constexpr std::size_t lanes_min_taps = 25;
/// The most a thread's two group buffers (lane-ordered input and convolution output) may take.
inline constexpr std::size_t lanes_group_bytes = std::size_t(2) << 20;

/// The batch-lanes layout for g: padded input size, register tile, buffer sizes (elements of T).
struct LanesLayout {
  std::size_t Hp = 0, Wp = 0;   ///< zero-bordered input rows and columns
  std::size_t input = 0;        ///< one group's input, C * Hp * Wp * L
  std::size_t output = 0;       ///< one group's convolution output, O * Ho * Wo * L
  std::size_t block = 0;        ///< output channels per register tile (wide_block_for: 5 or 6)
  std::size_t packed = 0;       ///< the filters packed as direct_wide_pack packs them
};

template <class T>
LanesLayout lanes_layout(const Conv2DGeometry& g) {
  constexpr std::size_t L = wide_lanes<T>;
  LanesLayout l;
  l.Hp = g.H + 2 * g.ph, l.Wp = g.W + 2 * g.pw;
  l.input = g.C * l.Hp * l.Wp * L;
  l.output = g.O * g.P() * L;
  l.block = wide_block_for(g.O);
  l.packed = (g.O + l.block - 1) / l.block * l.block * g.K();
  return l;
}

/// True when conv2d_max_pool_forward takes the batch-lanes path for convolution g and pooling
/// pg: an AVX-512 build, g stride 1 without dilation or groups, at least lanes_min_taps taps,
/// a batch of at least one group of wide_lanes<T> images, a thread's two group buffers within
/// lanes_group_bytes, and pg the 2x2/2 pooling of g's output.
template <class T>
bool batch_lanes_applies(const Conv2DGeometry& g, const Pool2DGeometry& pg) {
  if constexpr (wide_bytes != 64) {
    (void)g, (void)pg;
    return false;
  } else {
    if (g.generic || g.groups != 1 || g.sh != 1 || g.sw != 1 || g.dh != 1 || g.dw != 1 || g.O == 0 ||
        g.P() == 0 || g.K() < lanes_min_taps || g.N < wide_lanes<T>)
      return false;
    if (!pg.is_2x2_s2() || pg.H != g.Ho || pg.W != g.Wo || pg.Ho == 0 || pg.Wo == 0) return false;
    const double bytes = (static_cast<double>(g.C) * static_cast<double>(g.H + 2 * g.ph) *
                              static_cast<double>(g.W + 2 * g.pw) +
                          static_cast<double>(g.O) * static_cast<double>(g.P())) *
                         static_cast<double>(wide_lanes<T> * sizeof(T));
    return bytes <= static_cast<double>(lanes_group_bytes);
  }
}

namespace detail_lanes {
using detail_wide::Vec;

/// Sums of output channels [o0, o0 + OB) (the first nb real) at output pixels (oh, ow .. ow +
/// NP) of a group: bias first, then each channel's taps in order, of filter rows [i0, i1) (the
/// others read only the zero border); ReLU'd when relu; stored to out (O, Ho, Wo, L) from
/// channel o0 on.
template <class T, std::size_t OB, std::size_t NP>
void tile(const T* xg, std::size_t C, std::size_t Hp, std::size_t Wp, std::size_t kh, std::size_t i0, std::size_t i1,
          std::size_t kw, const T* wb, const T* b, std::size_t nb, bool relu, std::size_t oh, std::size_t ow, T* out,
          std::size_t P, std::size_t Wo) {
  constexpr std::size_t L = wide_lanes<T>;
  const Vec<T> zero = {};
  Vec<T> acc[OB][NP];
  for (std::size_t o = 0; o < OB; ++o)
    for (std::size_t p = 0; p < NP; ++p) acc[o][p] = zero + (b && o < nb ? b[o] : T(0));
  for (std::size_t c = 0; c < C; ++c)
    for (std::size_t i = i0; i < i1; ++i) {
      const T* xr = xg + ((c * Hp + oh + i) * Wp + ow) * L;
      const T* wr = wb + (c * kh + i) * kw * OB;
      for (std::size_t j = 0; j < kw; ++j) {
        Vec<T> xv[NP];
        for (std::size_t p = 0; p < NP; ++p) std::memcpy(&xv[p], xr + (j + p) * L, sizeof(Vec<T>));
        for (std::size_t o = 0; o < OB; ++o) {
          const T wv = wr[j * OB + o];
          for (std::size_t p = 0; p < NP; ++p) acc[o][p] += wv * xv[p];
        }
      }
    }
  for (std::size_t o = 0; o < nb; ++o)
    for (std::size_t p = 0; p < NP; ++p) {
      Vec<T> v = acc[o][p];
      if (relu) v = v <= zero ? zero : v;  // NaN stays NaN
      std::memcpy(out + (o * P + oh * Wo + ow + p) * L, &v, sizeof v);
    }
}

/// Every register tile of one group: blocks of OB output channels, output rows, NP pixels at a
/// time and a last tile of the rest of a row.  The filter rows that would read only the zero
/// rows of the border (g.ph above and below the image) are skipped: they add products of zeros
/// (the input gradient's border of kh - 1 - ph rows: a sixth of LeNet's second layer's taps).
template <class T, std::size_t OB, std::size_t NP>
void group_tiles(const Conv2DGeometry& g, const LanesLayout& l, const T* xg, const T* packed, const T* b, bool relu,
                 T* out) {
  const std::size_t K = g.K(), P = g.P(), Wo = g.Wo, rest = Wo % NP, full = Wo - rest;
  for (std::size_t o0 = 0; o0 < g.O; o0 += OB) {
    const T* const wb = packed + o0 * K;
    const T* const bb = b ? b + o0 : nullptr;
    const std::size_t nb = std::min(OB, g.O - o0);
    T* const ob = out + o0 * P * wide_lanes<T>;
    for (std::size_t oh = 0; oh < g.Ho; ++oh) {
      // Padded rows oh + i within [ph, ph + H): the image's.
      const std::size_t i0 = oh < g.ph ? g.ph - oh : 0, i1 = std::min(g.kh, g.ph + g.H - std::min(oh, g.ph + g.H));
      for (std::size_t ow = 0; ow < full; ow += NP)
        tile<T, OB, NP>(xg, g.C, l.Hp, l.Wp, g.kh, i0, i1, g.kw, wb, bb, nb, relu, oh, ow, ob, P, Wo);
      if constexpr (NP > 1) {
        auto last = [&]<std::size_t R>() {
          tile<T, OB, R>(xg, g.C, l.Hp, l.Wp, g.kh, i0, i1, g.kw, wb, bb, nb, relu, oh, full, ob, P, Wo);
        };
        switch (rest) {
          case 1: last.template operator()<1>(); break;
          case 2: if constexpr (NP > 2) last.template operator()<2>(); break;
          case 3: if constexpr (NP > 3) last.template operator()<3>(); break;
          case 4: if constexpr (NP > 4) last.template operator()<4>(); break;
          default: break;
        }
      }
    }
  }
}

/// Integers as wide as T, and their vectors (the type of T's vector comparisons): arg-max
/// positions kept in lanes.
template <class T>
struct IndexOf;
template <>
struct IndexOf<float> {
  typedef std::int32_t scalar;
  typedef std::int32_t type __attribute__((vector_size(wide_bytes)));
};
template <>
struct IndexOf<double> {
  typedef std::int64_t scalar;
  typedef std::int64_t type __attribute__((vector_size(wide_bytes)));
};
template <class T>
using Index = typename IndexOf<T>::scalar;
template <class T>
using IndexVec = typename IndexOf<T>::type;

/// The 2x2/2 max pooling of a group's output conv (O, Ho, Wo, L) into pooled (O, pg.Ho, pg.Wo,
/// L), the arg-max positions into at (same layout) when at is not null: max_pool2d_plane's
/// selects (max_nan without positions; max_key and nan_key with them) on whole vectors.
template <class T>
void pool_group(const Conv2DGeometry& g, const Pool2DGeometry& pg, const T* conv, T* pooled, Index<T>* at) {
  constexpr std::size_t L = wide_lanes<T>;
  const Vec<T> vinf = Vec<T>{} + std::numeric_limits<T>::infinity(), vbig = Vec<T>{} + std::numeric_limits<T>::max();
  const std::size_t W = g.Wo, P = g.P(), Q = pg.Ho * pg.Wo;
  Vec<T> v[4];
  for (std::size_t o = 0; o < g.O; ++o)
    for (std::size_t oh = 0; oh < pg.Ho; ++oh)
      for (std::size_t ow = 0; ow < pg.Wo; ++ow) {
        const std::size_t p00 = 2 * oh * W + 2 * ow;
        const std::size_t pos[4] = {p00, p00 + 1, p00 + W, p00 + W + 1};
        const T* const base = conv + o * P * L;
        for (std::size_t k = 0; k < 4; ++k) std::memcpy(&v[k], base + pos[k] * L, sizeof(Vec<T>));
        const std::size_t q = (o * Q + oh * pg.Wo + ow) * L;
        Vec<T> m = v[0];
        if (!at) {  // max_nan(max_nan(v0, v1), max_nan(v2, v3)): the second operand when it is NaN
          const Vec<T> a = v[0] < v[1] ? v[1] : v[0], c = v[2] < v[3] ? v[3] : v[2];
          const Vec<T> left = v[1] != v[1] ? v[1] : a, right = v[3] != v[3] ? v[3] : c;
          const Vec<T> top = left < right ? right : left;
          m = right != right ? right : top;
          std::memcpy(pooled + q, &m, sizeof m);
          continue;
        }
        Vec<T> key = m == vinf ? vbig : m;  // max_key
        IndexVec<T> arg = IndexVec<T>{} + static_cast<Index<T>>(pos[0]);
        for (std::size_t k = 1; k < 4; ++k) {
          const auto t = (v[k] != v[k] ? vinf : v[k]) > key;  // nan_key(v) > key
          key = t ? (v[k] == vinf ? vbig : v[k]) : key;
          m = t ? v[k] : m;
          arg = t ? IndexVec<T>{} + static_cast<Index<T>>(pos[k]) : arg;
        }
        std::memcpy(pooled + q, &m, sizeof m);
        std::memcpy(at + q, &arg, sizeof arg);
      }
}

#if defined(__AVX512F__)
/// r[i] (16 floats) the i-th row of a 16 x 16 matrix in, its i-th column out: pairs of rows
/// interleaved by 32, then 64 bits, then their 128-bit quarters exchanged twice.  (The masked
/// forms with all lanes set: GCC 12's unmasked ones read an undefined vector, -Wuninitialized.)
inline void transpose16(__m512 r[16]) {
  constexpr __mmask16 all = 0xFFFF;
  __m512 t[16];
  for (int i = 0; i < 16; i += 2) {
    t[i] = _mm512_maskz_unpacklo_ps(all, r[i], r[i + 1]);
    t[i + 1] = _mm512_maskz_unpackhi_ps(all, r[i], r[i + 1]);
  }
  for (int i = 0; i < 16; i += 4)
    for (int k = 0; k < 2; ++k) {
      const __m512d a = _mm512_castps_pd(t[i + k]), b = _mm512_castps_pd(t[i + k + 2]);
      r[i + 2 * k] = _mm512_castpd_ps(_mm512_maskz_unpacklo_pd(0xFF, a, b));
      r[i + 2 * k + 1] = _mm512_castpd_ps(_mm512_maskz_unpackhi_pd(0xFF, a, b));
    }
  for (int i = 0; i < 16; i += 8)
    for (int k = 0; k < 4; ++k) {
      t[i + k] = _mm512_maskz_shuffle_f32x4(all, r[i + k], r[i + k + 4], 0x88);
      t[i + k + 4] = _mm512_maskz_shuffle_f32x4(all, r[i + k], r[i + k + 4], 0xdd);
    }
  for (int k = 0; k < 8; ++k) {
    r[k] = _mm512_maskz_shuffle_f32x4(all, t[k], t[k + 8], 0x88);
    r[k + 8] = _mm512_maskz_shuffle_f32x4(all, t[k], t[k + 8], 0xdd);
  }
}
#endif

/// The interior of each image n < count of x (N, C, H, W) into lane n of xg (C, Hp, Wp, L).
/// AVX-512 float: 16 pixels of a row of each image (masked loads, zeros past count), transposed
/// in registers (transpose16), stored as 16 vectors in lane order.
template <class T>
void to_lanes(const Conv2DGeometry& g, const LanesLayout& l, const T* x, std::size_t count, T* xg) {
  constexpr std::size_t L = wide_lanes<T>;
  const std::size_t HW = g.H * g.W, in_n = g.C * HW;
#if defined(__AVX512F__)
  if constexpr (std::is_same_v<T, float> && L == 16) {
    __m512 r[16];
    for (std::size_t c = 0; c < g.C; ++c)
      for (std::size_t h = 0; h < g.H; ++h) {
        const float* src = x + c * HW + h * g.W;
        float* dst = xg + ((c * l.Hp + h + g.ph) * l.Wp + g.pw) * L;
        for (std::size_t w0 = 0; w0 < g.W; w0 += 16) {
          const std::size_t m = std::min<std::size_t>(16, g.W - w0);
          const auto mask = static_cast<__mmask16>(m == 16 ? 0xFFFFu : (1u << m) - 1u);
          for (std::size_t n = 0; n < 16; ++n)
            r[n] = n < count ? _mm512_maskz_loadu_ps(mask, src + n * in_n + w0) : _mm512_setzero_ps();
          transpose16(r);
          for (std::size_t k = 0; k < m; ++k) _mm512_storeu_ps(dst + (w0 + k) * L, r[k]);
        }
      }
    return;
  }
#endif
  for (std::size_t n = 0; n < count; ++n)
    for (std::size_t c = 0; c < g.C; ++c)
      for (std::size_t h = 0; h < g.H; ++h) {
        const T* row = x + n * in_n + c * HW + h * g.W;
        T* dst = xg + ((c * l.Hp + h + g.ph) * l.Wp + g.pw) * L + n;
        for (std::size_t w = 0; w < g.W; ++w) dst[w * L] = row[w];
      }
}

/// Lanes n < count of pooled (and of at, when not null) (out_n, L) to image n's out_n elements of
/// y (and idx).  AVX-512 float: 16 elements' vectors transposed in registers (transpose16) into
/// 16 consecutive elements of each image.
template <class T>
void from_lanes(const T* pooled, const Index<T>* at, std::size_t count, std::size_t out_n, T* y, std::int32_t* idx) {
  constexpr std::size_t L = wide_lanes<T>;
  std::size_t done = 0;  // elements of each image copied by the vector loop
#if defined(__AVX512F__)
  if constexpr (std::is_same_v<T, float> && L == 16) {
    done = out_n / 16 * 16;
    __m512 r[16];
    for (std::size_t e = 0; e < done; e += 16) {
      for (std::size_t k = 0; k < 16; ++k) r[k] = _mm512_loadu_ps(pooled + (e + k) * L);
      transpose16(r);
      for (std::size_t n = 0; n < count; ++n) _mm512_storeu_ps(y + n * out_n + e, r[n]);
      if (!idx) continue;
      for (std::size_t k = 0; k < 16; ++k)  // the positions' bits, moved as floats
        r[k] = _mm512_castsi512_ps(_mm512_loadu_si512(at + (e + k) * L));
      transpose16(r);
      for (std::size_t n = 0; n < count; ++n) _mm512_storeu_si512(idx + n * out_n + e, _mm512_castps_si512(r[n]));
    }
  }
#endif
  for (std::size_t n = 0; n < count; ++n) {
    for (std::size_t e = done; e < out_n; ++e) y[n * out_n + e] = pooled[e * L + n];
    if (idx)
      for (std::size_t e = done; e < out_n; ++e) idx[n * out_n + e] = static_cast<std::int32_t>(at[e * L + n]);
  }
}
}  // namespace detail_lanes

/// Images [n0, n0 + count) of conv2d_max_pool_forward(g, pg, x, w, b, relu, y, idx) for
/// batch_lanes_applies(g, pg), count at most wide_lanes<T>: `packed` the filters as
/// direct_wide_pack packs them for l.block, `xg` (l.input elements), `conv` (l.output) and
/// `pooled` (2 * O * pg.Ho * pg.Wo * L, the pooled values then the positions) the thread's
/// buffers, xg's borders zero (the caller zero-fills it once: only its interior is written).  y
/// and idx (may be null) point at image n0.
template <class T>
void conv2d_max_pool_forward_lanes(const Conv2DGeometry& g, const Pool2DGeometry& pg, const LanesLayout& l,
                                   const T* x, std::size_t count, const T* packed, const T* b, bool relu, T* y,
                                   std::int32_t* idx, T* xg, T* conv, T* pooled) {
  constexpr std::size_t L = wide_lanes<T>;
  const std::size_t out_n = g.O * pg.Ho * pg.Wo;
  // The group's images in lane order (the borders stay zero; lanes past count are zeroed).
  if (count < L) std::fill(xg, xg + l.input, T(0));
  detail_lanes::to_lanes(g, l, x, count, xg);
  // Tiles of 5 channels x 5 pixels, or 6 x 4: 30 and 28 of AVX-512's 32 registers with the loads.
  if (l.block == 5) detail_lanes::group_tiles<T, 5, 5>(g, l, xg, packed, b, relu, conv);
  else detail_lanes::group_tiles<T, 6, 4>(g, l, xg, packed, b, relu, conv);
  using Index = detail_lanes::Index<T>;
  Index* const at = idx ? reinterpret_cast<Index*>(pooled + out_n * L) : nullptr;
  detail_lanes::pool_group(g, pg, conv, pooled, at);
  // Back to each image's place.
  detail_lanes::from_lanes(pooled, at, count, out_n, y, idx);
}

// ---- the backward ----

/// Output channels and taps of the batch-lanes weight gradient's register tile (25 sums, with
/// 5 vectors of dy and one of x: 31 of AVX-512's 32 registers).
inline constexpr std::size_t lanes_wgrad_channels = 5, lanes_wgrad_taps = 5;
/// The most bytes of one thread's vector sums of the weight gradient (LeNet's second layer: 563 KiB).
inline constexpr std::size_t lanes_wgrad_sum_bytes = std::size_t(1) << 20;

/// The batch-lanes backward's buffers for g (elements of T): the forward's input layout, the
/// output gradient in lane order (O rounded up to the tile, Ho and Wo padded by kh - 1 - ph and
/// kw - 1 - pw when the input gradient is asked for, so that it is a convolution of that buffer),
/// the input gradient's layout and the weight gradient's vector sums.
struct LanesGradLayout {
  LanesLayout x;                 ///< the forward's input layout (x.input, x.Hp, x.Wp)
  LanesLayout d;                 ///< the input gradient's convolution (input_grad_geometry)
  std::size_t qh = 0, qw = 0;    ///< the output gradient's zero border
  std::size_t Hq = 0, Wq = 0;    ///< its padded rows and columns
  std::size_t O = 0, K = 0;      ///< output channels and taps rounded up to the tile
  std::size_t dy = 0;            ///< one group's output gradient, O * Hq * Wq * L
  std::size_t dx = 0;            ///< one group's input gradient, C * H * W * L (0 without dx)
  std::size_t sums = 0;          ///< one thread's weight gradient vector sums, O * K * L
};

template <class T>
LanesGradLayout lanes_grad_layout(const Conv2DGeometry& g, bool input_grad) {
  constexpr std::size_t L = wide_lanes<T>, OB = lanes_wgrad_channels, TB = lanes_wgrad_taps;
  LanesGradLayout l;
  l.x = lanes_layout<T>(g);
  if (input_grad) {
    l.qh = g.kh - 1 - g.ph, l.qw = g.kw - 1 - g.pw;
    l.d = lanes_layout<T>(input_grad_geometry(g));
    l.dx = g.C * g.H * g.W * L;
  }
  l.Hq = g.Ho + 2 * l.qh, l.Wq = g.Wo + 2 * l.qw;
  l.O = (g.O + OB - 1) / OB * OB, l.K = (g.K() + TB - 1) / TB * TB;
  l.dy = l.O * l.Hq * l.Wq * L;
  l.sums = l.O * l.K * L;
  return l;
}

/// True when conv2d_max_pool_backward takes the batch-lanes path: where the forward did
/// (batch_lanes_applies), with padding below the filter size when the input gradient is asked
/// for, and one thread's buffers within lanes_wgrad_sum_bytes (sums) and 2 lanes_group_bytes.
template <class T>
bool batch_lanes_grad_applies(const Conv2DGeometry& g, const Pool2DGeometry& pg, bool input_grad) {
  if (!batch_lanes_applies<T>(g, pg)) return false;
  if (input_grad && (g.ph >= g.kh || g.pw >= g.kw)) return false;
  const LanesGradLayout l = lanes_grad_layout<T>(g, input_grad);
  return l.sums * sizeof(T) <= lanes_wgrad_sum_bytes &&
         (l.x.input + l.dy + l.dx) * sizeof(T) <= 2 * lanes_group_bytes;
}

namespace detail_lanes {
/// The output gradient of a group in lane order from the pooled one (AVX-512 float: 16 pooled
/// elements of each image transposed in registers at a time): for each pooled element of
/// the count images at dy (N, O, pg.Ho, pg.Wo; idx its arg-max positions, relu_y the fused
/// ReLU's pooled output or null) the 2x2 window's four positions of dyl (l.O, l.Hq, l.Wq, L,
/// interior from (qh, qw)) get dy at the arg-max and zeros elsewhere, lanes past count zeros;
/// dy counts only where relu_y is positive (max_pool2d_backward_plane's sums: each position is
/// in one window).  bsum[o] (vectors) += each lane's sum of channel o.
template <class T>
void scatter_group(const Conv2DGeometry& g, const Pool2DGeometry& pg, const LanesGradLayout& l, const T* dy,
                   const std::int32_t* idx, const T* relu_y, std::size_t count, T* dyl, T* bsum) {
  constexpr std::size_t L = wide_lanes<T>;
  const std::size_t Q = pg.Ho * pg.Wo, stride = g.O * Q, Wo = g.Wo;
  const Vec<T> zero = {};
  for (std::size_t o = 0; o < g.O; ++o) {
    Vec<T> sum;
    std::memcpy(&sum, bsum + o * L, sizeof sum);
    T* const plane = dyl + ((o * l.Hq + l.qh) * l.Wq + l.qw) * L;
    for (std::size_t q0 = 0; q0 < Q; q0 += 16) {  // 16 pooled elements of each image at a time
      const std::size_t m = std::min<std::size_t>(16, Q - q0), first = o * Q + q0;
      Vec<T> d[16];
      IndexVec<T> at[16];
#if defined(__AVX512F__)
      if constexpr (std::is_same_v<T, float> && L == 16) {  // rows of each image, transposed
        const auto mask = static_cast<__mmask16>(m == 16 ? 0xFFFFu : (1u << m) - 1u);
        __m512 r[16], a[16];
        auto rows = [&](const float* src, __m512* v) {
          for (std::size_t n = 0; n < 16; ++n)
            v[n] = n < count ? _mm512_maskz_loadu_ps(mask, src + n * stride + first) : _mm512_setzero_ps();
          transpose16(v);
        };
        rows(dy, r);
        if (relu_y) {
          rows(relu_y, a);
          for (std::size_t k = 0; k < m; ++k)
            r[k] = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(a[k], _mm512_setzero_ps(), _CMP_GT_OQ), r[k]);
        }
        rows(reinterpret_cast<const float*>(idx), a);  // the positions' bits, moved as floats
        std::memcpy(d, r, m * sizeof(Vec<T>));
        std::memcpy(at, a, m * sizeof(IndexVec<T>));
      } else
#endif
      {
        for (std::size_t k = 0; k < m; ++k) {
          d[k] = zero, at[k] = IndexVec<T>{} - 1;
          for (std::size_t n = 0; n < count; ++n) {
            const std::size_t i = n * stride + first + k;
            d[k][n] = !relu_y || relu_y[i] > T(0) ? dy[i] : T(0);
            at[k][n] = static_cast<Index<T>>(idx[i]);
          }
        }
      }
      for (std::size_t k = 0; k < m; ++k) {
        sum += d[k];
        const std::size_t r = (q0 + k) / pg.Wo * 2, c = (q0 + k) % pg.Wo * 2;
        const std::size_t pos[4] = {r * Wo + c, r * Wo + c + 1, (r + 1) * Wo + c, (r + 1) * Wo + c + 1};
        T* const out[4] = {plane + (r * l.Wq + c) * L, plane + (r * l.Wq + c + 1) * L, plane + ((r + 1) * l.Wq + c) * L,
                           plane + ((r + 1) * l.Wq + c + 1) * L};
        for (std::size_t j = 0; j < 4; ++j) {
          const Vec<T> v = at[k] == IndexVec<T>{} + static_cast<Index<T>>(pos[j]) ? d[k] : zero;
          std::memcpy(out[j], &v, sizeof v);
        }
      }
    }
    std::memcpy(bsum + o * L, &sum, sizeof sum);
  }
}

/// Adds to the OB x TB vector sums at s (channel-major, row pitch ld vectors) each lane's
/// products of OB channels of the group's output gradient (dyl at d0, planes dplane apart, rows
/// Wq vectors) and TB taps of its input (xg at the offsets off, rows Wp vectors) over the Ho x Wo
/// output pixels.
template <class T, std::size_t OB, std::size_t TB>
void wgrad_tile(const T* d0, std::size_t dplane, std::size_t Wq, const T* xg, std::size_t Wp, const std::size_t* off,
                std::size_t Ho, std::size_t Wo, T* s, std::size_t ld) {
  constexpr std::size_t L = wide_lanes<T>;
  Vec<T> acc[OB][TB];
  for (std::size_t o = 0; o < OB; ++o)
    for (std::size_t t = 0; t < TB; ++t) std::memcpy(&acc[o][t], s + (o * ld + t) * L, sizeof(Vec<T>));
  for (std::size_t oh = 0; oh < Ho; ++oh) {
    const T* const d = d0 + oh * Wq * L;
    const T* xp[TB];
    for (std::size_t t = 0; t < TB; ++t) xp[t] = xg + oh * Wp * L + off[t];
    for (std::size_t ow = 0; ow < Wo; ++ow) {
      Vec<T> dv[OB];
      for (std::size_t o = 0; o < OB; ++o) std::memcpy(&dv[o], d + o * dplane + ow * L, sizeof(Vec<T>));
      for (std::size_t t = 0; t < TB; ++t) {
        Vec<T> xv;
        std::memcpy(&xv, xp[t] + ow * L, sizeof xv);
        for (std::size_t o = 0; o < OB; ++o) acc[o][t] += dv[o] * xv;
      }
    }
  }
  for (std::size_t o = 0; o < OB; ++o)
    for (std::size_t t = 0; t < TB; ++t) std::memcpy(s + (o * ld + t) * L, &acc[o][t], sizeof(Vec<T>));
}

/// The sum of v's lanes in order.
template <class T>
T lane_sum(const T* v) {
  T s = T(0);
  for (std::size_t i = 0; i < wide_lanes<T>; ++i) s += v[i];
  return s;
}
}  // namespace detail_lanes

/// dx, dw, db (overwritten; null ones skipped) of the convolution g under the 2x2/2 max
/// pooling pg, as conv2d_max_pool_backward computes them, for batch_lanes_grad_applies(g, pg, dx
/// != null): groups of wide_lanes<T> images split over threads; per group, the pooled dy
/// scattered to its arg-max positions idx (masked by relu_y's sign when the convolution had a
/// ReLU) in lane order, the weight gradient as each lane's products summed in vectors (the
/// lanes added up at the end, threads in order), and the input gradient as the convolution of
/// that zero-bordered buffer with the rotated filters (the sums of the wide kernel's input
/// gradient, conv2d_input_grad_direct_wide, bit for bit when the filters are finite: the
/// border's zero rows are skipped), copied back to each image.  x is read only for dw, w only
/// for dx.
template <class T>
void conv2d_max_pool_backward_lanes(const Conv2DGeometry& g, const Pool2DGeometry& pg, const T* x, const T* w,
                                    const T* dy, const std::int32_t* idx, const T* relu_y, T* dx, T* dw, T* db) {
  constexpr std::size_t L = wide_lanes<T>, OB = lanes_wgrad_channels, TB = lanes_wgrad_taps;
  const std::size_t K = g.K(), taps = g.kh * g.kw, in_n = g.C * g.H * g.W, Q = pg.Ho * pg.Wo;
  const LanesGradLayout l = lanes_grad_layout<T>(g, dx != nullptr);
  const Conv2DGeometry d = input_grad_geometry(g);
  // Each tap's offset in the lane-ordered input; the taps that round K up to the tile read the
  // first one and are dropped.
  std::vector<std::size_t> off(l.K, 0);
  for (std::size_t k = 0; k < K; ++k)
    off[k] = ((k / taps * l.x.Hp + k % taps / g.kw) * l.x.Wp + k % g.kw) * L;
  const std::size_t groups = (g.N + L - 1) / L;
  const std::size_t out = detail::round_panel(g.O * K + g.O);  // a thread's dw and db
  const std::size_t per_thread = detail::round_panel(l.sums) + detail::round_panel(g.O * L) +
                                 detail::round_panel(l.x.input) + detail::round_panel(l.dy) +
                                 detail::round_panel(l.dx) + out;
  const double flops = static_cast<double>(L * g.O * K * g.P()) * ((dw ? 1.0 : 0.0) + (dx ? 1.0 : 0.0));
  const int threads = detail::team_size(groups, flops);
  const std::size_t packed_n = dx ? detail::round_panel(l.d.packed) : 0;
  Storage<T> storage(packed_n + per_thread * static_cast<std::size_t>(threads));
  T* const packed = storage.data();
  if (dx) direct_wide_pack(d, wide_layout<T>(d), w, packed, true);
  std::size_t used = 1;  // the team run_team gave (one thread inside another team)
  detail::run_team(threads, [&](int tid, int team) {
    if (tid == 0) used = static_cast<std::size_t>(team);
    const auto t = static_cast<std::size_t>(tid), k = static_cast<std::size_t>(team);
    T* const sums = storage.data() + packed_n + per_thread * t;
    T* const bsum = sums + detail::round_panel(l.sums);
    T* const xg = bsum + detail::round_panel(g.O * L);
    T* const dyl = xg + detail::round_panel(l.x.input);
    T* const dxl = dyl + detail::round_panel(l.dy);
    T* const mine = dxl + detail::round_panel(l.dx);
    // The sums from zero; of the buffers only what no group writes: the input's border, and
    // dy's border, its channels past O and the rows and columns no pooling window covers.
    std::fill(sums, xg, T(0));
    if (g.ph || g.pw) std::fill(xg, dyl, T(0));
    if (l.qh || l.qw || l.O > g.O || 2 * pg.Ho < g.Ho || 2 * pg.Wo < g.Wo) std::fill(dyl, dxl, T(0));
    for (std::size_t gi = groups * t / k, g1 = groups * (t + 1) / k; gi < g1; ++gi) {
      const std::size_t n0 = gi * L, count = std::min(L, g.N - n0);
      detail_lanes::scatter_group(g, pg, l, dy + n0 * g.O * Q, idx + n0 * g.O * Q,
                                  relu_y ? relu_y + n0 * g.O * Q : nullptr, count, dyl, bsum);
      if (dw) {
        if (count < L) std::fill(xg, xg + l.x.input, T(0));
        detail_lanes::to_lanes(g, l.x, x + n0 * in_n, count, xg);
        const std::size_t dplane = l.Hq * l.Wq * L, d0 = (l.qh * l.Wq + l.qw) * L;
        for (std::size_t o0 = 0; o0 < l.O; o0 += OB)
          for (std::size_t k0 = 0; k0 < l.K; k0 += TB)
            detail_lanes::wgrad_tile<T, OB, TB>(dyl + o0 * dplane + d0, dplane, l.Wq, xg, l.x.Wp, off.data() + k0,
                                                g.Ho, g.Wo, sums + (o0 * l.K + k0) * L, l.K);
      }
      if (dx) {
        if (l.d.block == 5) detail_lanes::group_tiles<T, 5, 5>(d, l.d, dyl, packed, nullptr, false, dxl);
        else detail_lanes::group_tiles<T, 6, 4>(d, l.d, dyl, packed, nullptr, false, dxl);
        detail_lanes::from_lanes(dxl, static_cast<const detail_lanes::Index<T>*>(nullptr), count, in_n,
                                 dx + n0 * in_n, nullptr);
      }
    }
    // The lanes of each sum added up: this thread's dw and db.
    for (std::size_t o = 0; o < g.O; ++o) {
      for (std::size_t kk = 0; kk < K; ++kk) mine[o * K + kk] = detail_lanes::lane_sum(sums + (o * l.K + kk) * L);
      mine[g.O * K + o] = detail_lanes::lane_sum(bsum + o * L);
    }
  });
  // Threads in order.
  if (dw) std::fill(dw, dw + g.O * K, T(0));
  if (db) std::fill(db, db + g.O, T(0));
  for (std::size_t t = 0; t < used; ++t) {
    const T* const mine = storage.data() + packed_n + per_thread * t + (per_thread - out);
    if (dw)
      for (std::size_t i = 0; i < g.O * K; ++i) dw[i] += mine[i];
    if (db)
      for (std::size_t o = 0; o < g.O; ++o) db[o] += mine[g.O * K + o];
  }
}

}  // namespace gluino::kernels

// Precompiled mode (detail/precompiled.hpp): this header's float and double instantiations.
#define GLUINO_KERNELS_CONV2D_LANES_INSTANTIATIONS(X, T)                                                         \
  X void conv2d_max_pool_forward_lanes<T>(const Conv2DGeometry&, const Pool2DGeometry&, const LanesLayout&,       \
                                          const T*, std::size_t, const T*, const T*, bool, T*, std::int32_t*, T*, \
                                          T*, T*);                                                                  \
  X void conv2d_max_pool_backward_lanes<T>(const Conv2DGeometry&, const Pool2DGeometry&, const T*, const T*,      \
                                           const T*, const std::int32_t*, const T*, T*, T*, T*);
namespace gluino::kernels {
GLUINO_EXTERN_INSTANTIATIONS(GLUINO_KERNELS_CONV2D_LANES_INSTANTIATIONS)
}  // namespace gluino::kernels
