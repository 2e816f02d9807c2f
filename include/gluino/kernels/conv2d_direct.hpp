// SPDX-License-Identifier: Apache-2.0
#pragma once
/// Direct 2-D convolution of one single-channel image (LeNet's first layer: 1 -> 20 channels,
/// 5x5; VGG's: 3x3 with padding 1), without im2col.  With one input channel the column matrix
/// has only kh * kw rows, so im2col + GEMM spends more time unfolding and packing than
/// multiplying; here each output row is computed 8 pixels at a time for a block of output
/// channels, the sums held in registers while the kernel's taps stream past.  Blocks of 8
/// channels where there are 8: eight independent sums hide the latency of the multiply-adds,
/// four do not.  Raw pointers, one image; kernels/conv2d.hpp decides when to use it
/// (direct_c1_applies) and splits the batch over threads.  Needs GCC or Clang (vector
/// extensions), as the OpenMP pragmas elsewhere do in practice.
#include <algorithm>
#include <cstddef>
#include <cstring>

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

/// Copies one image x (1, H, W) into buf (H + 2 ph, W + 2 pw) with a zero border; returns x itself,
/// untouched, when g has no padding.  buf holds direct_c1_padded(g).H * .W elements.
template <class T>
const T* direct_c1_pad(const Conv2DGeometry& g, const T* x, T* buf) {
  if (g.ph == 0 && g.pw == 0) return x;
  const std::size_t Wp = g.W + 2 * g.pw, Hp = g.H + 2 * g.ph;
  std::fill(buf, buf + g.ph * Wp, T(0));
  for (std::size_t h = 0; h < g.H; ++h) {
    T* row = buf + (g.ph + h) * Wp;
    std::fill(row, row + g.pw, T(0));
    std::memcpy(row + g.pw, x + h * g.W, g.W * sizeof(T));
    std::fill(row + g.pw + g.W, row + Wp, T(0));
  }
  std::fill(buf + (g.ph + g.H) * Wp, buf + Hp * Wp, T(0));
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

/// Output channels [o0, o0 + OB) of one image: y[o, oh, ow] = b[o] + sum_{i,j} w[o, i, j] x[oh + i, ow + j].
/// A row's last tile is moved left to end at the row's end (recomputing a few pixels) rather
/// than read past the image.
template <class T, std::size_t OB>
void forward_tile(const Conv2DGeometry& g, const T* x, const T* w, const T* b, T* y, std::size_t o0, bool relu) {
  constexpr std::size_t L = direct_lanes;
  const std::size_t kh = g.kh, kw = g.kw, K = kh * kw, W = g.W, Ho = g.Ho, Wo = g.Wo, P = Ho * Wo;
  const Vec<T> zero = {};
  for (std::size_t oh = 0; oh < Ho; ++oh)
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
/// null.  Requires direct_c1_applies(g) and no padding (see direct_c1_pad).
template <class T>
void conv2d_forward_direct_c1(const Conv2DGeometry& g, const T* x, const T* w, const T* b, T* y, bool relu) {
  std::size_t o = 0;
  for (; o + 8 <= g.O; o += 8) detail_direct::forward_tile<T, 8>(g, x, w, b, y, o, relu);
  for (; o + 4 <= g.O; o += 4) detail_direct::forward_tile<T, 4>(g, x, w, b, y, o, relu);
  for (; o < g.O; ++o) detail_direct::forward_tile<T, 1>(g, x, w, b, y, o, relu);
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

}  // namespace gluino::kernels
