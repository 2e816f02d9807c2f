// SPDX-License-Identifier: Apache-2.0
#pragma once
/// 2-D max and average pooling on raw pointers, one (H, W) plane at a time, with MXNet's window
/// rules; a fast path for the common 2x2 stride-2 window, AVX-512 paths for it and for windows
/// inside the plane (AlexNet's 3x3/2), and a naive reference for tests.
/// No NDArray, no autograd: nd/pool.hpp checks arguments and runs these over N * C planes.
#include <algorithm>
#include <cassert>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <type_traits>
#if defined(__AVX512F__)
#include <immintrin.h>
#endif

#include "gluino/detail/precompiled.hpp"

namespace gluino::kernels {

/// The geometry of pooling one plane: input (H, W) -> output (Ho, Wo).
struct Pool2DGeometry {
  std::size_t H = 0, W = 0;
  std::size_t kh = 1, kw = 1;  // window
  std::size_t sh = 1, sw = 1;  // stride
  std::size_t ph = 0, pw = 0;  // padding on each side
  std::size_t Ho = 0, Wo = 0;

  /// Output size along one axis: floor ("valid") or ceil ("full") of (in + 2p - k) / s, plus 1.
  static std::size_t out_size(std::size_t in, std::size_t k, std::size_t s, std::size_t p, bool full) {
    if (in + 2 * p < k) return 0;
    const std::size_t span = in + 2 * p - k;
    return (full ? (span + s - 1) / s : span / s) + 1;
  }
  /// True for the 2x2, stride-2, unpadded window that tiles the input without clipping.
  bool is_2x2_s2() const {
    return kh == 2 && kw == 2 && sh == 2 && sw == 2 && ph == 0 && pw == 0 && 2 * Ho <= H && 2 * Wo <= W;
  }
};

/// One output's window, as MXNet computes it: [h0, h1) x [w0, w1) clipped to the input, and
/// `padded_count`, the window's size clipped only to the padded input (the divisor of average
/// pooling with count_include_pad).
struct PoolWindow {
  std::size_t h0, h1, w0, w1, padded_count;
  std::size_t count() const { return (h1 - h0) * (w1 - w0); }
};

inline PoolWindow pool_window(const Pool2DGeometry& g, std::size_t oh, std::size_t ow) {
  using ll = long long;
  const ll H = static_cast<ll>(g.H), W = static_cast<ll>(g.W);
  ll hs = static_cast<ll>(oh * g.sh) - static_cast<ll>(g.ph), ws = static_cast<ll>(ow * g.sw) - static_cast<ll>(g.pw);
  ll he = std::min(hs + static_cast<ll>(g.kh), H + static_cast<ll>(g.ph));
  ll we = std::min(ws + static_cast<ll>(g.kw), W + static_cast<ll>(g.pw));
  const ll padded = std::max(he - hs, ll(0)) * std::max(we - ws, ll(0));
  hs = std::max(hs, ll(0)), ws = std::max(ws, ll(0));
  he = std::max(std::min(he, H), hs), we = std::max(std::min(we, W), ws);
  return {static_cast<std::size_t>(hs), static_cast<std::size_t>(he), static_cast<std::size_t>(ws),
          static_cast<std::size_t>(we), static_cast<std::size_t>(padded)};
}

/// True when v replaces m as a window's running maximum: v is larger, or v is a NaN and m is
/// not.  So a NaN anywhere in a window makes its maximum NaN (as np.max), the first NaN is the
/// arg-max, and ties keep the first maximum.  (The rule of every path; the fast ones below get
/// the same result with selects that vectorise, which `&` of two comparisons does not.)
template <class T>
inline bool max_pool_takes(T v, T m) {
  return !(v <= m) & (m == m);
}
/// max(a, b) that gives NaN when either is NaN; two selects, so loops over it vectorise.
template <class T>
inline T max_nan(T a, T b) {
  const T m = a < b ? b : a;  // a when either is NaN
  return b != b ? b : m;
}
/// The key the 2x2/2 path keeps for its running maximum: +inf as the largest finite value (so
/// that a NaN, keyed +inf by nan_key, still beats it; the one cost: among several +inf in a
/// window the last gets the gradient), a NaN stays NaN (nothing beats it).  Plain selects on
/// floats: unlike `&` of two comparisons, they keep the loop vectorised.
template <class T>
inline T max_key(T v) {
  return v == std::numeric_limits<T>::infinity() ? std::numeric_limits<T>::max() : v;
}
/// The key a candidate is compared with: a NaN as +inf, so that it beats any non-NaN maximum.
template <class T>
inline T nan_key(T v) {
  return v != v ? std::numeric_limits<T>::infinity() : v;
}

/// Rows of at most this many outputs take the vector 2x2/2 path without the arg-max (below).
inline constexpr std::size_t max_pool_2x2_narrow_width = 8;

namespace detail_pool {
#if defined(__AVX512F__)
/// Lanes [0, n) of a 16-lane mask (n <= 16).
inline __mmask16 first_lanes(std::size_t n) { return static_cast<__mmask16>((1u << n) - 1u); }
/// max_nan, max_key and nan_key above, on 16 lanes (the same selects, so the same results).
inline __m512 max_nan16(__m512 a, __m512 b) {
  const __m512 m = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(a, b, _CMP_LT_OQ), a, b);
  return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(b, b, _CMP_UNORD_Q), m, b);
}
inline __m512 max_key16(__m512 v) {
  const __m512 inf = _mm512_set1_ps(std::numeric_limits<float>::infinity());
  return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(v, inf, _CMP_EQ_OQ), v, _mm512_set1_ps(std::numeric_limits<float>::max()));
}
inline __m512 nan_key16(__m512 v) {
  return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q), v,
                              _mm512_set1_ps(std::numeric_limits<float>::infinity()));
}

/// The 2x2/2 max pooling of one float plane, 16 outputs of a row at a time: the two input rows'
/// 32 floats under the outputs are loaded (masked at the row's end) and split into even and odd
/// columns by two permutes, and the four candidates go through the scalar path's selects.
/// max_pool2d_plane takes it when it keeps the arg-max (whose scalar loop GCC does not
/// vectorise), and without the arg-max only for rows of at most 8 outputs (where GCC's own
/// vectorised loop, 8 outputs a vector, does not run); measured in docs/performance.md.  The
/// gradient keeps the scalar loop: a vector version (compare, interleave, masked stores) was
/// slower on LeNet's planes.
inline void max_pool_2x2_avx512(const Pool2DGeometry& g, const float* x, float* y, std::int32_t* idx) {
  const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512i odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
  const std::size_t W = g.W, Wo = g.Wo;
  const auto w = static_cast<std::int32_t>(W);
  for (std::size_t oh = 0; oh < g.Ho; ++oh) {
    const float* r0 = x + 2 * oh * W;
    const float* r1 = r0 + W;
    for (std::size_t ow = 0; ow < Wo; ow += 16) {
      const std::size_t n = std::min<std::size_t>(16, Wo - ow);
      const __mmask16 lo = first_lanes(std::min<std::size_t>(16, 2 * n)), hi = first_lanes(2 * n - std::min<std::size_t>(16, 2 * n));
      const __m512 a0 = _mm512_maskz_loadu_ps(lo, r0 + 2 * ow), a1 = _mm512_maskz_loadu_ps(hi, r0 + 2 * ow + 16);
      const __m512 b0 = _mm512_maskz_loadu_ps(lo, r1 + 2 * ow), b1 = _mm512_maskz_loadu_ps(hi, r1 + 2 * ow + 16);
      const __m512 e0 = _mm512_permutex2var_ps(a0, even, a1), o0 = _mm512_permutex2var_ps(a0, odd, a1);
      const __m512 e1 = _mm512_permutex2var_ps(b0, even, b1), o1 = _mm512_permutex2var_ps(b0, odd, b1);
      const __mmask16 out = first_lanes(n);
      if (!idx) {
        _mm512_mask_storeu_ps(y + oh * Wo + ow, out, max_nan16(max_nan16(e0, o0), max_nan16(e1, o1)));
        continue;
      }
      // positions of each lane's top-left input: 2 oh W + 2 (ow + lane)
      const __m512i at0 = _mm512_add_epi32(_mm512_set1_epi32(static_cast<std::int32_t>(2 * oh * W + 2 * ow)), even);
      __m512 m = e0, key = max_key16(e0);
      __m512i at = at0;
      const auto step = [&](__m512 v, std::int32_t offset) {
        const __mmask16 t = _mm512_cmp_ps_mask(nan_key16(v), key, _CMP_GT_OQ);
        key = _mm512_mask_blend_ps(t, key, max_key16(v));
        m = _mm512_mask_blend_ps(t, m, v);
        at = _mm512_mask_blend_epi32(t, at, _mm512_add_epi32(at0, _mm512_set1_epi32(offset)));
      };
      step(o0, 1);
      step(e1, w);
      step(o1, w + 1);
      _mm512_mask_storeu_ps(y + oh * Wo + ow, out, m);
      _mm512_mask_storeu_epi32(idx + oh * Wo + ow, out, at);
    }
  }
}

/// The max pooling of one float plane whose windows all lie inside it (no padding; AlexNet's
/// 3x3/2), stride 1 or 2 along the rows, 16 outputs of a row at a time: each window position's
/// 16 candidates are one masked load (stride 1) or two and a permute of the even lanes (stride
/// 2), and go through the scalar path's rule with selects: the running maximum taken by v > m
/// (ties keep the first), the first NaN kept aside and, where one was seen, made the maximum and
/// its arg-max.  Without the arg-max, max_nan in the scalar path's order.  The same values and
/// arg-max as the scalar loops, bit for bit (tested against double's).
inline void max_pool_inside_avx512(const Pool2DGeometry& g, const float* x, float* y, std::int32_t* idx) {
  const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  const __m512i even = _mm512_add_epi32(lane, lane);
  const std::size_t W = g.W, Wo = g.Wo, sw = g.sw, kh = g.kh, kw = g.kw;
  const __m512i step = _mm512_mullo_epi32(lane, _mm512_set1_epi32(static_cast<std::int32_t>(sw)));
  for (std::size_t oh = 0; oh < g.Ho; ++oh)
    for (std::size_t ow = 0; ow < Wo; ow += 16) {
      const std::size_t n = std::min<std::size_t>(16, Wo - ow), start = oh * g.sh * W + ow * sw;
      const __mmask16 out = first_lanes(n);
      // lanes l < n: x[start + offset + l * sw]
      const auto candidates = [&](std::size_t offset) {
        const float* p = x + start + offset;
        if (sw == 1) return _mm512_maskz_loadu_ps(out, p);
        const std::size_t span = 2 * n - 1, first = std::min<std::size_t>(16, span);  // elements read
        const __m512 a = _mm512_maskz_loadu_ps(first_lanes(first), p);
        const __m512 b = _mm512_maskz_loadu_ps(first_lanes(span - first), p + 16);
        return _mm512_permutex2var_ps(a, even, b);
      };
      __m512 m = candidates(0);
      if (!idx) {
        for (std::size_t i = 0; i < kh; ++i)
          for (std::size_t j = i == 0 ? 1 : 0; j < kw; ++j) m = max_nan16(m, candidates(i * W + j));
        _mm512_mask_storeu_ps(y + oh * Wo + ow, out, m);
        continue;
      }
      const __m512i at0 = _mm512_add_epi32(_mm512_set1_epi32(static_cast<std::int32_t>(start)), step);
      __m512i at = at0, nan_at = at0;
      __m512 nan = m;
      __mmask16 seen = _mm512_cmp_ps_mask(m, m, _CMP_UNORD_Q);  // lanes whose window showed a NaN
      for (std::size_t i = 0; i < kh; ++i)
        for (std::size_t j = i == 0 ? 1 : 0; j < kw; ++j) {
          const __m512 v = candidates(i * W + j);
          const __m512i pos = _mm512_add_epi32(at0, _mm512_set1_epi32(static_cast<std::int32_t>(i * W + j)));
          const __mmask16 take = _mm512_cmp_ps_mask(v, m, _CMP_GT_OQ);
          m = _mm512_mask_blend_ps(take, m, v);
          at = _mm512_mask_blend_epi32(take, at, pos);
          const __mmask16 first_nan = _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q) & static_cast<__mmask16>(~seen);
          nan = _mm512_mask_blend_ps(first_nan, nan, v);
          nan_at = _mm512_mask_blend_epi32(first_nan, nan_at, pos);
          seen = static_cast<__mmask16>(seen | first_nan);
        }
      _mm512_mask_storeu_ps(y + oh * Wo + ow, out, _mm512_mask_blend_ps(seen, m, nan));
      _mm512_mask_storeu_epi32(idx + oh * Wo + ow, out, _mm512_mask_blend_epi32(seen, at, nan_at));
    }
}
#endif
}  // namespace detail_pool

/// Max pooling of one plane x (H, W) into y (Ho, Wo).  When idx is not null it receives, per
/// output, the flat position h * W + w of the maximum (the first one in row-major order on
/// ties, the first NaN when the window holds one: NaN propagates), or -1 for a window that lies
/// entirely in the padding (whose output is 0).
template <class T>
void max_pool2d_plane(const Pool2DGeometry& g, const T* x, T* y, std::int32_t* idx) {
#if defined(__AVX512F__)
  if constexpr (std::is_same_v<T, float>) {
    if (g.is_2x2_s2() && (idx || g.Wo <= max_pool_2x2_narrow_width))
      return detail_pool::max_pool_2x2_avx512(g, x, y, idx);
  }
#endif
  if (g.is_2x2_s2()) {
    for (std::size_t oh = 0; oh < g.Ho; ++oh) {
      const T* r0 = x + 2 * oh * g.W;
      const T* r1 = r0 + g.W;
      T* out = y + oh * g.Wo;
      if (!idx) {
        for (std::size_t ow = 0; ow < g.Wo; ++ow) {
          out[ow] = max_nan(max_nan(r0[2 * ow], r0[2 * ow + 1]), max_nan(r1[2 * ow], r1[2 * ow + 1]));
        }
      } else {
        std::int32_t* io = idx + oh * g.Wo;
        const auto base = static_cast<std::int32_t>(2 * oh * g.W);
        const auto w = static_cast<std::int32_t>(g.W);
        for (std::size_t ow = 0; ow < g.Wo; ++ow) {
          const auto c = static_cast<std::int32_t>(2 * ow);
          T m = r0[2 * ow], key = max_key(m);
          std::int32_t at = base + c;
          auto step = [&](T v, std::int32_t pos) {
            const bool t = nan_key(v) > key;
            key = t ? max_key(v) : key;
            m = t ? v : m;
            at = t ? pos : at;
          };
          step(r0[2 * ow + 1], base + c + 1);
          step(r1[2 * ow], base + w + c);
          step(r1[2 * ow + 1], base + w + c + 1);
          out[ow] = m;
          io[ow] = at;
        }
      }
    }
    return;
  }
  if (g.ph == 0 && g.pw == 0 && g.Ho > 0 && g.Wo > 0 && (g.Ho - 1) * g.sh + g.kh <= g.H &&
      (g.Wo - 1) * g.sw + g.kw <= g.W) {
#if defined(__AVX512F__)
    if constexpr (std::is_same_v<T, float>) {
      if (g.sw == 1 || g.sw == 2) return detail_pool::max_pool_inside_avx512(g, x, y, idx);
    }
#endif
    // Every window lies inside the plane (AlexNet's 3x3/2): no clipping per window, and the
    // running maximum kept with selects (where it lies is random: a branch on it mispredicts).
    const std::size_t W = g.W, kh = g.kh, kw = g.kw, sh = g.sh, sw = g.sw, Wo = g.Wo;
    for (std::size_t oh = 0; oh < g.Ho; ++oh)
      for (std::size_t ow = 0; ow < Wo; ++ow) {
        const std::size_t start = oh * sh * W + ow * sw;
        T m = x[start];
        if (!idx) {
          for (std::size_t i = 0; i < kh; ++i)
            for (std::size_t j = 0; j < kw; ++j) m = max_nan(m, x[start + i * W + j]);
          y[oh * Wo + ow] = m;
          continue;
        }
        std::int32_t at = static_cast<std::int32_t>(start);
        T nan = T(0);  // becomes NaN when the window holds one
        for (std::size_t i = 0; i < kh; ++i) {
          const std::size_t row = start + i * W;
          for (std::size_t j = 0; j < kw; ++j) {
            const T v = x[row + j];
            const std::int32_t take = -static_cast<std::int32_t>(v > m);  // all ones or zero
            m = v > m ? v : m;
            at = (at & ~take) | (static_cast<std::int32_t>(row + j) & take);
            nan += v * T(0);  // NaN for a NaN, and for an infinity too (the check below tells them apart)
          }
        }
        if (nan != nan) {  // rare (a predictable branch): a NaN, if any, is the maximum
          for (std::size_t i = kh; i-- > 0;)
            for (std::size_t j = kw; j-- > 0;)
              if (x[start + i * W + j] != x[start + i * W + j]) at = static_cast<std::int32_t>(start + i * W + j);
          m = x[at];
        }
        y[oh * Wo + ow] = m;
        idx[oh * Wo + ow] = at;
      }
    return;
  }
  for (std::size_t oh = 0; oh < g.Ho; ++oh)
    for (std::size_t ow = 0; ow < g.Wo; ++ow) {
      const PoolWindow win = pool_window(g, oh, ow);
      T m = T(0);
      std::int32_t at = -1;
      for (std::size_t h = win.h0; h < win.h1; ++h)
        for (std::size_t w = win.w0; w < win.w1; ++w) {
          const T v = x[h * g.W + w];
          if (at < 0 || max_pool_takes(v, m)) m = v, at = static_cast<std::int32_t>(h * g.W + w);
        }
      y[oh * g.Wo + ow] = m;
      if (idx) idx[oh * g.Wo + ow] = at;
    }
}

/// Average pooling of one plane x (H, W) into y (Ho, Wo): the window's sum divided by its size
/// clipped to the padded input (count_include_pad) or by its valid element count; 0 for an
/// empty window.
template <class T>
void avg_pool2d_plane(const Pool2DGeometry& g, const T* x, T* y, bool count_include_pad) {
  if (g.is_2x2_s2()) {
    for (std::size_t oh = 0; oh < g.Ho; ++oh) {
      const T* r0 = x + 2 * oh * g.W;
      const T* r1 = r0 + g.W;
      T* out = y + oh * g.Wo;
      for (std::size_t ow = 0; ow < g.Wo; ++ow)
        out[ow] = T(0.25) * ((r0[2 * ow] + r0[2 * ow + 1]) + (r1[2 * ow] + r1[2 * ow + 1]));
    }
    return;
  }
  for (std::size_t oh = 0; oh < g.Ho; ++oh)
    for (std::size_t ow = 0; ow < g.Wo; ++ow) {
      const PoolWindow win = pool_window(g, oh, ow);
      const std::size_t div = count_include_pad ? win.padded_count : win.count();
      T s = T(0);
      for (std::size_t h = win.h0; h < win.h1; ++h)
        for (std::size_t w = win.w0; w < win.w1; ++w) s += x[h * g.W + w];
      y[oh * g.Wo + ow] = (div == 0 || win.count() == 0) ? T(0) : s / static_cast<T>(div);
    }
}

/// Gradient of max pooling for one plane: dx (H, W) = 0, then dy of each output added at the
/// position idx saved by max_pool2d_plane.
template <class T>
void max_pool2d_backward_plane(const Pool2DGeometry& g, const T* dy, const std::int32_t* idx, T* dx) {
  if (g.is_2x2_s2()) {
    // The windows do not overlap: zero each window's four positions, then store dy at its
    // arg-max (no branch on where the maximum was: that one mispredicts), in one pass; then zero
    // what no window covers (an odd trailing row or column).
    const std::size_t W = g.W, Ho = g.Ho, Wo = g.Wo;
    for (std::size_t oh = 0; oh < Ho; ++oh) {
      T* r0 = dx + 2 * oh * W;
      T* r1 = r0 + W;
      const std::int32_t* io = idx + oh * Wo;
      const T* d = dy + oh * Wo;
      for (std::size_t ow = 0; ow < Wo; ++ow) {
        r0[2 * ow] = r0[2 * ow + 1] = r1[2 * ow] = r1[2 * ow + 1] = T(0);
        dx[io[ow]] = d[ow];
      }
      std::fill(r0 + 2 * Wo, r0 + W, T(0));
      std::fill(r1 + 2 * Wo, r1 + W, T(0));
    }
    std::fill(dx + 2 * Ho * W, dx + g.H * W, T(0));
    return;
  }
  std::fill(dx, dx + g.H * g.W, T(0));
  for (std::size_t o = 0, n = g.Ho * g.Wo; o < n; ++o)
    if (idx[o] >= 0) dx[idx[o]] += dy[o];
}

/// Gradient of average pooling for one plane: dx (H, W) = sum over the windows covering each
/// position of dy / divisor.
template <class T>
void avg_pool2d_backward_plane(const Pool2DGeometry& g, const T* dy, T* dx, bool count_include_pad) {
  std::fill(dx, dx + g.H * g.W, T(0));
  for (std::size_t oh = 0; oh < g.Ho; ++oh)
    for (std::size_t ow = 0; ow < g.Wo; ++ow) {
      const PoolWindow win = pool_window(g, oh, ow);
      const std::size_t div = count_include_pad ? win.padded_count : win.count();
      if (div == 0 || win.count() == 0) continue;
      const T v = dy[oh * g.Wo + ow] / static_cast<T>(div);
      for (std::size_t h = win.h0; h < win.h1; ++h)
        for (std::size_t w = win.w0; w < win.w1; ++w) dx[h * g.W + w] += v;
    }
}

/// Naive reference for tests: pools one plane straight from the definition, scanning the
/// window in padded coordinates (positions past the padded input do not count, padding counts
/// for the average divisor only when count_include_pad; max ignores padding).
template <class T>
void pool2d_plane_naive(const Pool2DGeometry& g, const T* x, T* y, bool is_max, bool count_include_pad) {
  using ll = long long;
  for (std::size_t oh = 0; oh < g.Ho; ++oh)
    for (std::size_t ow = 0; ow < g.Wo; ++ow) {
      T m = T(0), s = T(0);
      std::size_t valid = 0, padded = 0;
      for (std::size_t i = 0; i < g.kh; ++i)
        for (std::size_t j = 0; j < g.kw; ++j) {
          const ll h = static_cast<ll>(oh * g.sh + i) - static_cast<ll>(g.ph);
          const ll w = static_cast<ll>(ow * g.sw + j) - static_cast<ll>(g.pw);
          if (h >= static_cast<ll>(g.H + g.ph) || w >= static_cast<ll>(g.W + g.pw)) continue;
          ++padded;
          if (h < 0 || w < 0 || h >= static_cast<ll>(g.H) || w >= static_cast<ll>(g.W)) continue;
          const T v = x[static_cast<std::size_t>(h) * g.W + static_cast<std::size_t>(w)];
          if (valid == 0 || v > m || (v != v && m == m)) m = v;  // a NaN in the window: NaN
          s += v;
          ++valid;
        }
      T out = T(0);
      if (valid > 0) out = is_max ? m : s / static_cast<T>(count_include_pad ? padded : valid);
      y[oh * g.Wo + ow] = out;
    }
}

}  // namespace gluino::kernels

// Precompiled mode (detail/precompiled.hpp): this header's float and double instantiations.
#define GLUINO_KERNELS_POOL_INSTANTIATIONS(X, T) \
  X void max_pool2d_plane<T>(const Pool2DGeometry&, const T*, T*, std::int32_t*); \
  X void avg_pool2d_plane<T>(const Pool2DGeometry&, const T*, T*, bool); \
  X void max_pool2d_backward_plane<T>(const Pool2DGeometry&, const T*, const std::int32_t*, T*); \
  X void avg_pool2d_backward_plane<T>(const Pool2DGeometry&, const T*, T*, bool); \
  X void pool2d_plane_naive<T>(const Pool2DGeometry&, const T*, T*, bool, bool);
namespace gluino::kernels {
GLUINO_EXTERN_INSTANTIATIONS(GLUINO_KERNELS_POOL_INSTANTIATIONS)
}  // namespace gluino::kernels
