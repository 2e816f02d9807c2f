// SPDX-License-Identifier: Apache-2.0
#pragma once
/// Direct 2-D convolution without im2col, for the layers where unfolding and packing the column
/// matrix costs more than the products:
/// - one input channel (LeNet's first layer: 1 -> 20 channels, 5x5; VGG's: 3x3 with padding
///   1).  The column matrix has only kh * kw rows.  Each output row is computed 8 pixels at a
///   time for a block of output channels, the sums held in registers while the kernel's taps
///   stream past.  Blocks of 8 channels where there are 8: eight independent sums hide the
///   latency of the multiply-adds, four do not.  Forward and weight gradient.
/// - a few input channels with 3x3 filters (direct_small_applies: VGG-11/4's second layer,
///   16 -> 32 channels on 112x112; there im2col + GEMM reached 42% of peak).  The filters are
///   packed so that a block of output channels' weights for one tap lie together; a register
///   tile holds direct_small_block channels x direct_small_vectors vectors of 8 pixels, and
///   each tap adds one broadcast weight times the shifted input vectors.  The input gradient is
///   the same kernel run on dy padded by 2 - p with the filters rotated and transposed; the
///   weight gradient sums, per input channel and filter row, a block of output channels x 3 taps
///   of vector partial sums over bands of output rows.
/// Raw pointers; kernels/conv2d.hpp decides when to use them and splits the batch over
/// threads (the small-channel path splits it itself).  Needs GCC or Clang (vector extensions),
/// as the OpenMP pragmas elsewhere do in practice.
#include <algorithm>
#include <cstddef>
#include <cstring>
#include <type_traits>
#if defined(__AVX512F__)
#include <immintrin.h>
#endif

#include "gluino/core/parallel.hpp"
#include "gluino/core/storage.hpp"
#include "gluino/kernels/im2col.hpp"

namespace gluino::kernels {

/// Pixels per register tile; 8 floats fill an AVX register (two SSE ones, half an AVX-512 one).
inline constexpr std::size_t direct_lanes = 8;

/// True when the direct kernels handle g: one input channel, no groups, stride and dilation 1,
/// and an output row at least one tile wide.  Padding is handled by the caller copying the image
/// into a zero-bordered buffer (direct_c1_pad) and running the kernels on that.
inline bool direct_c1_applies(const Conv2DGeometry& g) {
  return g.C == 1 && g.groups == 1 && g.sh == 1 && g.sw == 1 && g.dh == 1 && g.dw == 1 && g.Wo >= direct_lanes;
}

/// The geometry of one padded image as the direct kernels see it: the zero border made part of
/// the input, padding 0, batch 1.
inline Conv2DGeometry direct_c1_padded(const Conv2DGeometry& g) {
  Conv2DGeometry p = g;
  p.N = 1;
  p.H = g.H + 2 * g.ph;
  p.W = g.W + 2 * g.pw;
  p.ph = p.pw = 0;
  return p;
}

namespace detail_direct {
/// dst[0, W) = src, zero where m <= 0 (or NaN) when m is given.  AVX-512, for floats: 16 at a
/// time with masked loads and stores (the rows are short, 10 to 56 elements in LeNet, AlexNet and
/// VGG-11/4: a call per row, or a fill per border, cost more than the copy).
template <class T>
inline void copy_row(const T* __restrict src, const T* __restrict m, std::size_t W, T* __restrict dst) {
#if defined(__AVX512F__)
  if constexpr (std::is_same_v<T, float>) {
    for (std::size_t w = 0; w < W; w += 16) {
      const auto in = static_cast<__mmask16>(W - w >= 16 ? 0xFFFFu : (1u << (W - w)) - 1u);
      __mmask16 keep = in;
      if (m) keep = _mm512_mask_cmp_ps_mask(in, _mm512_maskz_loadu_ps(in, m + w), _mm512_setzero_ps(), _CMP_GT_OQ);
      _mm512_mask_storeu_ps(dst + w, in, _mm512_maskz_loadu_ps(keep, src + w));
    }
    return;
  }
#endif
  for (std::size_t w = 0; w < W; ++w) dst[w] = m && !(m[w] > T(0)) ? T(0) : src[w];
}

/// Copies one image x (C, H, W) into buf with a zero border: ph rows above and below, `left`
/// zeros before each row and `right` after it (row pitch W + left + right, plane Hp times that);
/// with a mask (the output of a convolution fused with ReLU, the input gradient's case) an
/// element counts only where the mask is positive.
template <class T>
void pad_image_rows(const T* x, const T* mask, std::size_t C, std::size_t H, std::size_t W, std::size_t ph,
                    std::size_t left, std::size_t right, T* buf) {
  const std::size_t Wp = W + left + right, Hp = H + 2 * ph;
  // No border: one copy (a call per row cost LeNet 4% of its training).
  if (ph == 0 && left == 0 && right == 0 && !mask) {
    std::memcpy(buf, x, C * H * W * sizeof(T));
    return;
  }
  for (std::size_t c = 0; c < C; ++c) {
    T* plane = buf + c * Hp * Wp;
    std::fill(plane, plane + ph * Wp, T(0));
    for (std::size_t h = 0; h < H; ++h) {
      T* row = plane + (ph + h) * Wp;
      const T* src = x + (c * H + h) * W;
      std::fill(row, row + left, T(0));
      if (mask)
        copy_row(src, mask + (c * H + h) * W, W, row + left);
      else
        std::memcpy(row + left, src, W * sizeof(T));
      std::fill(row + left + W, row + Wp, T(0));
    }
    std::fill(plane + (ph + H) * Wp, plane + Hp * Wp, T(0));
  }
}

/// Copies one image x (C, H, W) into buf (C, H + 2 ph, W + 2 pw) with a zero border (masked as
/// pad_image_rows).
template <class T>
void pad_image(const T* x, const T* mask, std::size_t C, std::size_t H, std::size_t W, std::size_t ph,
               std::size_t pw, T* buf) {
  pad_image_rows(x, mask, C, H, W, ph, pw, pw, buf);
}
}  // namespace detail_direct

/// Copies one image x (1, H, W) into buf (H + 2 ph, W + 2 pw) with a zero border; returns x itself,
/// untouched, when g has no padding.  buf holds direct_c1_padded(g).H * .W elements.
template <class T>
const T* direct_c1_pad(const Conv2DGeometry& g, const T* x, T* buf) {
  if (g.ph == 0 && g.pw == 0) return x;
  detail_direct::pad_image(x, static_cast<const T*>(nullptr), 1, g.H, g.W, g.ph, g.pw, buf);
  return buf;
}

namespace detail_direct {
/// 8 lanes of T as one value (GCC/Clang vector extension): arithmetic on it compiles to SIMD
/// instructions of whatever width the target has, where plain loops over 8-element arrays were
/// left scalar by the auto-vectoriser.
template <class T>
struct VecOf;
template <>
struct VecOf<float> {
  typedef float type __attribute__((vector_size(direct_lanes * sizeof(float))));
};
template <>
struct VecOf<double> {
  typedef double type __attribute__((vector_size(direct_lanes * sizeof(double))));
};
template <class T>
using Vec = typename VecOf<T>::type;

/// (Out-parameters: returning a 64-byte double vector by value would draw g++'s ABI warning.)
template <class T>
inline void load(Vec<T>& v, const T* p) {
  std::memcpy(&v, p, sizeof v);
}
template <class T>
inline void store(T* p, const Vec<T>& v) {
  std::memcpy(p, &v, sizeof v);
}

/// Output channels [o0, o0 + OB), rows [oh0, oh1) of one image: y[o, oh, ow] = b[o] +
/// sum_{i,j} w[o, i, j] x[oh + i, ow + j].  A row's last tile is moved left to end at the row's
/// end (recomputing a few pixels) rather than read past the image.
template <class T, std::size_t OB>
void forward_tile(const Conv2DGeometry& g, const T* x, const T* w, const T* b, T* y, std::size_t o0, bool relu,
                  std::size_t oh0, std::size_t oh1) {
  constexpr std::size_t L = direct_lanes;
  const std::size_t kh = g.kh, kw = g.kw, K = kh * kw, W = g.W, Wo = g.Wo, P = g.Ho * Wo;
  const Vec<T> zero = {};
  for (std::size_t oh = oh0; oh < oh1; ++oh)
    for (std::size_t t = 0; t < Wo; t += L) {
      const std::size_t ow = std::min(t, Wo - L);
      Vec<T> acc[OB];
      for (std::size_t c = 0; c < OB; ++c) acc[c] = zero + (b ? b[o0 + c] : T(0));
      for (std::size_t i = 0; i < kh; ++i) {
        const T* xr = x + (oh + i) * W + ow;
        const T* wr = w + o0 * K + i * kw;
        for (std::size_t j = 0; j < kw; ++j) {
          Vec<T> xv;
          load(xv, xr + j);
          for (std::size_t c = 0; c < OB; ++c) acc[c] += wr[c * K + j] * xv;
        }
      }
      for (std::size_t c = 0; c < OB; ++c) {
        Vec<T> v = acc[c];
        if (relu) v = v <= zero ? zero : v;  // NaN stays NaN, as nd::relu
        store(y + (o0 + c) * P + oh * Wo + ow, v);
      }
    }
}

/// dw[o, i, j] += sum_{oh, ow} dy[o, oh, ow] x[oh + i, ow + j] for o in [o0, o0 + OB) and oh in
/// [oh0, oh1), where dy + o * ldy points at dy[o, oh0, 0]: per tap, 8 lanes of partial sums per
/// channel, then the row tails that do not fill a tile.
template <class T, std::size_t OB>
void weight_grad_tile(const Conv2DGeometry& g, const T* x, const T* dy, std::size_t ldy, std::size_t oh0,
                      std::size_t oh1, T* dw, std::size_t o0) {
  constexpr std::size_t L = direct_lanes;
  const std::size_t kh = g.kh, kw = g.kw, K = kh * kw, W = g.W, Wo = g.Wo;
  const std::size_t full = Wo - Wo % L;
  for (std::size_t i = 0; i < kh; ++i)
    for (std::size_t j = 0; j < kw; ++j) {
      Vec<T> acc[OB] = {};
      T tail[OB] = {};
      for (std::size_t oh = oh0; oh < oh1; ++oh) {
        const T* xr = x + (oh + i) * W + j;
        const T* d = dy + o0 * ldy + (oh - oh0) * Wo;
        for (std::size_t ow = 0; ow < full; ow += L) {
          Vec<T> xv, dv;
          load(xv, xr + ow);
          for (std::size_t c = 0; c < OB; ++c) {
            load(dv, d + c * ldy + ow);
            acc[c] += dv * xv;
          }
        }
        for (std::size_t ow = full; ow < Wo; ++ow)
          for (std::size_t c = 0; c < OB; ++c) tail[c] += d[c * ldy + ow] * xr[ow];
      }
      for (std::size_t c = 0; c < OB; ++c) {
        T s = tail[c];
        for (std::size_t l = 0; l < L; ++l) s += acc[c][l];
        dw[(o0 + c) * K + i * kw + j] += s;
      }
    }
}
}  // namespace detail_direct

/// One image x (1, H, W) -> y (O, Ho, Wo) = conv2d(x, w) + b, then max(y, 0) when relu; b may be
/// null.  Only output rows [oh0, oh1) when given (the rest of y untouched).  Requires
/// direct_c1_applies(g) and no padding (see direct_c1_pad).
template <class T>
void conv2d_forward_direct_c1(const Conv2DGeometry& g, const T* x, const T* w, const T* b, T* y, bool relu,
                              std::size_t oh0 = 0, std::size_t oh1 = static_cast<std::size_t>(-1)) {
  oh1 = std::min(oh1, g.Ho);
  std::size_t o = 0;
  for (; o + 8 <= g.O; o += 8) detail_direct::forward_tile<T, 8>(g, x, w, b, y, o, relu, oh0, oh1);
  for (; o + 4 <= g.O; o += 4) detail_direct::forward_tile<T, 4>(g, x, w, b, y, o, relu, oh0, oh1);
  for (; o < g.O; ++o) detail_direct::forward_tile<T, 1>(g, x, w, b, y, o, relu, oh0, oh1);
}

/// dw (O, 1, kh, kw) += the weight gradient of one image x (1, H, W) given its dy (O, Ho, Wo), or
/// the part of it from output rows [oh0, oh1) when dy holds only those rows, channel o at
/// dy + o * ldy (a tile of kernels/conv2d.hpp; by default ldy = Ho * Wo and all rows).
/// Requires direct_c1_applies(g) and no padding (see direct_c1_pad).
template <class T>
void conv2d_weight_grad_direct_c1(const Conv2DGeometry& g, const T* x, const T* dy, T* dw, std::size_t oh0 = 0,
                                  std::size_t oh1 = static_cast<std::size_t>(-1), std::size_t ldy = 0) {
  oh1 = std::min(oh1, g.Ho);
  if (ldy == 0) ldy = g.Ho * g.Wo;
  std::size_t o = 0;
  for (; o + 8 <= g.O; o += 8) detail_direct::weight_grad_tile<T, 8>(g, x, dy, ldy, oh0, oh1, dw, o);
  for (; o + 4 <= g.O; o += 4) detail_direct::weight_grad_tile<T, 4>(g, x, dy, ldy, oh0, oh1, dw, o);
  for (; o < g.O; ++o) detail_direct::weight_grad_tile<T, 1>(g, x, dy, ldy, oh0, oh1, dw, o);
}

// ---------------------------------------------------------------------------------------------
// A few input channels, 3x3 filters: packed filters and register tiles of channels x pixels.
// ---------------------------------------------------------------------------------------------

/// Output channels per register tile of the small-channel kernel, and vectors of direct_lanes
/// pixels per tile: 8 x 2 sums (16 registers) where AVX-512 gives 32 vector registers, 4 x 2
/// where AVX2 gives 16 (not measured: no AVX2-only machine was at hand).  Measured on VGG-11/4's
/// 16 -> 32 forward pass (AMD EPYC with AVX-512, two threads): 8 x 2 28 ms, 8 x 1 33 ms, 4 x 3
/// 46 ms, 16 x 2 and 8 x 3 over 50; im2col + GEMM 49 ms.
#if defined(__AVX512VL__)
inline constexpr std::size_t direct_small_block = 8;
#else
inline constexpr std::size_t direct_small_block = 4;
#endif
inline constexpr std::size_t direct_small_vectors = 2;

/// True when the small-channel kernels handle g's forward pass and weight gradient (and its
/// input gradient, up to direct_small_max_grad_channels output channels): 3x3 filters, stride
/// and dilation 1, no groups, padding at most 2 (so the input gradient's dy padding, 2 - p, is
/// not negative), 2 to 16 input channels, output rows and input rows at least one register tile
/// wide.  At 32 channels im2col + GEMM was as fast or faster (VGG-11/4's 32 -> 64 layer,
/// docs/performance.md); Winograd takes the layers of 64 channels and more.
inline bool direct_small_applies(const Conv2DGeometry& g) {
  constexpr std::size_t tile = direct_lanes * direct_small_vectors;
  return !g.generic && g.groups == 1 && g.C >= 2 && g.C <= 16 && g.kh == 3 && g.kw == 3 && g.sh == 1 &&
         g.sw == 1 && g.dh == 1 && g.dw == 1 && g.ph <= 2 && g.pw <= 2 && g.Wo >= tile && g.W >= tile && g.O > 0;
}

/// The input gradient runs the forward kernel with the output channels as its input channels;
/// it takes that path only up to this many output channels (VGG-11/4's 32, where it was measured:
/// their packed filters and a tile's input rows then fit in L1 together).  Above it, im2col +
/// GEMM computes the input gradient.
inline constexpr std::size_t direct_small_max_grad_channels = 32;

namespace detail_direct {
/// Filters w (O, C, 3, 3) packed for small_image: blocks of OB output channels (the last one
/// zero-filled past O), each block tap by tap, so that one tap's OB weights lie together:
/// packed[((blk * C + c) * 9 + tap) * OB + o] = w[blk * OB + o, c, tap].  With `rotate`, the
/// filters of the input gradient instead: output channel and input channel swapped and each
/// filter rotated by 180 degrees, packed[((blk * O + o) * 9 + tap) * OB + c] = w[o, blk * OB + c, 8 - tap].
template <class T, std::size_t OB>
void pack_small(const T* w, std::size_t O, std::size_t C, bool rotate, T* packed) {
  const std::size_t outs = rotate ? C : O, ins = rotate ? O : C, blocks = (outs + OB - 1) / OB;
  std::fill(packed, packed + blocks * OB * ins * 9, T(0));
  for (std::size_t o = 0; o < O; ++o)
    for (std::size_t c = 0; c < C; ++c)
      for (std::size_t tap = 0; tap < 9; ++tap) {
        const T v = w[(o * C + c) * 9 + tap];
        if (rotate) packed[(((c / OB) * O + o) * 9 + 8 - tap) * OB + c % OB] = v;
        else packed[(((o / OB) * C + c) * 9 + tap) * OB + o % OB] = v;
      }
}

/// One image: y (O, Ho, Wo) = conv(x, w) + b, then max(y, 0) when relu, for x (C, Ho + 2, Wo + 2)
/// already padded and w packed by pack_small (b may be null).  Per output row, tiles of
/// NV * direct_lanes pixels (the row's last tile moved left to end at the row's end, recomputing
/// a few pixels); per tile every block of OB channels, so the tile's input rows stay in L1.
template <class T, std::size_t OB, std::size_t NV>
void small_image(const T* x, std::size_t C, const T* packed, std::size_t O, const T* b, bool relu, T* y,
                 std::size_t Ho, std::size_t Wo) {
  constexpr std::size_t L = direct_lanes, S = L * NV;
  const std::size_t Wp = Wo + 2, plane = (Ho + 2) * Wp, P = Ho * Wo;
  const Vec<T> zero = {};
  for (std::size_t oh = 0; oh < Ho; ++oh)
    for (std::size_t t = 0; t < Wo; t += S) {
      const std::size_t ow = std::min(t, Wo - S);
      for (std::size_t o0 = 0; o0 < O; o0 += OB) {
        Vec<T> acc[OB][NV];
        for (std::size_t o = 0; o < OB; ++o)
          for (std::size_t v = 0; v < NV; ++v) acc[o][v] = zero + (b && o0 + o < O ? b[o0 + o] : T(0));
        const T* wb = packed + (o0 / OB) * C * 9 * OB;
        for (std::size_t c = 0; c < C; ++c)
          for (std::size_t i = 0; i < 3; ++i) {
            const T* xr = x + c * plane + (oh + i) * Wp + ow;
            const T* wr = wb + (c * 9 + i * 3) * OB;
            for (std::size_t j = 0; j < 3; ++j) {
              Vec<T> xv[NV];
              for (std::size_t v = 0; v < NV; ++v) load(xv[v], xr + j + v * L);
              for (std::size_t o = 0; o < OB; ++o) {
                const T wv = wr[j * OB + o];
                for (std::size_t v = 0; v < NV; ++v) acc[o][v] += wv * xv[v];
              }
            }
          }
        for (std::size_t o = 0; o < OB && o0 + o < O; ++o)
          for (std::size_t v = 0; v < NV; ++v) {
            Vec<T> r = acc[o][v];
            if (relu) r = r <= zero ? zero : r;  // NaN stays NaN, as nd::relu
            store(y + (o0 + o) * P + oh * Wo + ow + v * L, r);
          }
      }
    }
}

/// A batch through small_image: x (N, C, H, W) padded by (ph, pw) into each thread's buffer
/// (from the memory pool), filters packed once, images split over threads.  The forward pass
/// (rotate false) or, with x = dy, C = O, the input gradient (rotate true, padding 2 - p, dy
/// masked by relu_y).  Out (N, outs, Ho, Wo) with Ho = H + 2 ph - 2.
template <class T>
void run_small(const T* x, const T* mask, std::size_t N, std::size_t C, std::size_t H, std::size_t W,
               std::size_t ph, std::size_t pw, const T* w, std::size_t outs, bool rotate, const T* b, bool relu,
               T* out) {
  constexpr std::size_t OB = direct_small_block, NV = direct_small_vectors;
  const std::size_t Ho = H + 2 * ph - 2, Wo = W + 2 * pw - 2, Hp = H + 2 * ph, Wp = W + 2 * pw;
  if (N == 0 || outs == 0) return;
  const std::size_t blocks = (outs + OB - 1) / OB;
  Storage<T> packed(blocks * OB * C * 9);
  if (rotate) pack_small<T, OB>(w, C, outs, true, packed.data());  // w is (C, outs, 3, 3) here
  else pack_small<T, OB>(w, outs, C, false, packed.data());
  const double flops = 9.0 * static_cast<double>(C * outs) * static_cast<double>(Ho * Wo);
  const int team = gluino::detail::team_size(N, flops);
  const std::size_t buf = C * Hp * Wp;
  Storage<T> work(buf * static_cast<std::size_t>(team));  // taken before the team starts
  gluino::detail::run_team(team, [&](int tid, int nt) {
    const auto t = static_cast<std::size_t>(tid), n = static_cast<std::size_t>(nt);
    T* const mine = work.data() + buf * t;
    for (std::size_t i = N * t / n; i < N * (t + 1) / n; ++i) {
      pad_image(x + i * C * H * W, mask ? mask + i * C * H * W : nullptr, C, H, W, ph, pw, mine);
      small_image<T, OB, NV>(mine, C, packed.data(), outs, b, relu, out + i * outs * Ho * Wo, Ho, Wo);
    }
  });
}

/// Keeps v in a vector register, where the target has one of its width: without this, GCC folds
/// the load of dy into each of the three multiply-adds that use it (three loads instead of one:
/// VGG-11/4's 16 -> 32 weight gradient took 47-61 ms instead of 30-34).  An empty asm statement,
/// so no instruction is emitted.
template <class V>
inline void keep_in_register(V& v) {
#if (defined(__x86_64__) || defined(__i386__)) && defined(__AVX512F__)
  if constexpr (sizeof(V) <= 64) __asm__("" : "+v"(v));
#elif (defined(__x86_64__) || defined(__i386__)) && defined(__AVX__)
  if constexpr (sizeof(V) <= 32) __asm__("" : "+x"(v));
#elif defined(__aarch64__)
  if constexpr (sizeof(V) <= 16) __asm__("" : "+w"(v));
#else
  (void)v;
#endif
}

/// dw (O, C, 3, 3) += the weight gradient of one image for output channels [o0, o0 + OB):
/// dw[o, c, i, j] += sum_{oh, ow} dy[o, oh, ow] xp[c, oh + i, ow + j], xp (C, Ho + 2, Wo + 2) the
/// padded input, dy (O, Ho, Wo).  Per input channel and filter row i, OB x 3 vectors of partial
/// sums over a band of output rows (so the band of dy, OB rows of it, stays in L1 across the
/// channels), then added to dw; the pixels past the last full vector of a row one by one.
template <class T, std::size_t OB>
void small_weight_grad_block(const T* xp, std::size_t C, const T* dy, std::size_t Ho, std::size_t Wo, T* dw,
                             std::size_t o0) {
  constexpr std::size_t L = direct_lanes;
  const std::size_t Wp = Wo + 2, plane = (Ho + 2) * Wp, P = Ho * Wo, full = Wo - Wo % L;
  const std::size_t band = std::max<std::size_t>(1, 512 / Wo);
  for (std::size_t h0 = 0; h0 < Ho; h0 += band) {
    const std::size_t h1 = std::min(h0 + band, Ho);
    for (std::size_t c = 0; c < C; ++c)
      for (std::size_t i = 0; i < 3; ++i) {
        Vec<T> acc[OB][3] = {};
        T tail[OB][3] = {};
        for (std::size_t oh = h0; oh < h1; ++oh) {
          const T* xr = xp + c * plane + (oh + i) * Wp;
          const T* d = dy + o0 * P + oh * Wo;
          for (std::size_t ow = 0; ow < full; ow += L) {
            Vec<T> xv[3];
            for (std::size_t j = 0; j < 3; ++j) load(xv[j], xr + ow + j);
            for (std::size_t o = 0; o < OB; ++o) {
              Vec<T> dv;
              load(dv, d + o * P + ow);
              keep_in_register(dv);
              for (std::size_t j = 0; j < 3; ++j) acc[o][j] += dv * xv[j];
            }
          }
          for (std::size_t ow = full; ow < Wo; ++ow)
            for (std::size_t o = 0; o < OB; ++o)
              for (std::size_t j = 0; j < 3; ++j) tail[o][j] += d[o * P + ow] * xr[ow + j];
        }
        for (std::size_t o = 0; o < OB; ++o)
          for (std::size_t j = 0; j < 3; ++j) {
            T sum = tail[o][j];
            for (std::size_t l = 0; l < L; ++l) sum += acc[o][j][l];
            dw[((o0 + o) * C + c) * 9 + i * 3 + j] += sum;
          }
      }
  }
}

/// dw (O, C, 3, 3), overwritten, of a batch: each thread pads its images' x (and masks their dy
/// by relu_y, when given) into buffers from the memory pool and sums its images' gradients into
/// its own dw (thread 0 into dw itself); the sums are added at the end.
template <class T>
void run_small_weight_grad(const Conv2DGeometry& g, const T* x, const T* dy, const T* relu_y, T* dw) {
  constexpr std::size_t OB = direct_small_block;
  const std::size_t C = g.C, O = g.O, H = g.H, W = g.W, Ho = g.Ho, Wo = g.Wo, P = Ho * Wo;
  const std::size_t nw = O * C * 9, buf = C * (Ho + 2) * (Wo + 2) + (relu_y ? O * P : 0);
  std::fill(dw, dw + nw, T(0));
  if (g.N == 0) return;
  const int team = gluino::detail::team_size(g.N, 9.0 * static_cast<double>(C * O) * static_cast<double>(P));
  const auto nt = static_cast<std::size_t>(team);
  Storage<T> work(buf * nt + nw * (nt - 1));  // taken before the team starts
  std::size_t used = 1;  // the team run_team gave (one thread inside another team)
  gluino::detail::run_team(team, [&](int tid, int n_threads) {
    const auto t = static_cast<std::size_t>(tid), n = static_cast<std::size_t>(n_threads);
    if (t == 0) used = n;
    T* const xp = work.data() + buf * t;
    T* const masked = relu_y ? xp + C * (Ho + 2) * (Wo + 2) : nullptr;
    T* const mine = t == 0 ? dw : work.data() + buf * nt + nw * (t - 1);
    if (t > 0) std::fill(mine, mine + nw, T(0));
    for (std::size_t im = g.N * t / n; im < g.N * (t + 1) / n; ++im) {
      pad_image(x + im * C * H * W, static_cast<const T*>(nullptr), C, H, W, g.ph, g.pw, xp);
      const T* d = dy + im * O * P;
      if (relu_y) {
        const T* m = relu_y + im * O * P;
        for (std::size_t k = 0; k < O * P; ++k) masked[k] = m[k] > T(0) ? d[k] : T(0);
        d = masked;
      }
      std::size_t o = 0;
      for (; o + OB <= O; o += OB) small_weight_grad_block<T, OB>(xp, C, d, Ho, Wo, mine, o);
      for (; o < O; ++o) small_weight_grad_block<T, 1>(xp, C, d, Ho, Wo, mine, o);
    }
  });
  for (std::size_t t = 1; t < used; ++t) {  // the partial sums of the threads that ran
    const T* part = work.data() + buf * nt + nw * (t - 1);
    for (std::size_t k = 0; k < nw; ++k) dw[k] += part[k];
  }
}
}  // namespace detail_direct

/// conv2d_forward_naive for g with direct_small_applies(g), then max(y, 0) when relu.
template <class T>
void conv2d_forward_direct_small(const Conv2DGeometry& g, const T* x, const T* w, const T* b, T* y, bool relu) {
  detail_direct::run_small(x, static_cast<const T*>(nullptr), g.N, g.C, g.H, g.W, g.ph, g.pw, w, g.O, false, b,
                           relu, y);
}

/// dx (overwritten) of conv2d_backward_naive for g with direct_small_applies(g): the convolution
/// of dy, padded by 2 - p, with the filters rotated and transposed.  With relu_y (the output of
/// a convolution fused with ReLU), dy counts only where relu_y > 0.
template <class T>
void conv2d_input_grad_direct_small(const Conv2DGeometry& g, const T* w, const T* dy, T* dx,
                                    const T* relu_y = nullptr) {
  detail_direct::run_small(dy, relu_y, g.N, g.O, g.Ho, g.Wo, 2 - g.ph, 2 - g.pw, w, g.C, true,
                           static_cast<const T*>(nullptr), false, dx);
}

/// dw (overwritten) of conv2d_backward_naive for g with direct_small_applies(g).  With relu_y
/// (the output of a convolution fused with ReLU), dy counts only where relu_y > 0.
template <class T>
void conv2d_weight_grad_direct_small(const Conv2DGeometry& g, const T* x, const T* dy, T* dw,
                                     const T* relu_y = nullptr) {
  detail_direct::run_small_weight_grad(g, x, dy, relu_y, dw);
}

}  // namespace gluino::kernels
