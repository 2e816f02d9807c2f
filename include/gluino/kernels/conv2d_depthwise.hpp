// SPDX-License-Identifier: Apache-2.0
#pragma once
/// Depthwise 2-D convolution (groups == input channels: MobileNet's 3x3 layers), without im2col.
/// Each output channel reads one input plane, so the grouped im2col + GEMM path multiplies a
/// (multiplier x kh kw) matrix by a (kh kw x Ho Wo) one per group: tiny products whose packing
/// costs more than the arithmetic.  Here each plane is copied once into a zero-bordered buffer.
/// With stride 1 the output is computed in the buffer's own row pitch (Wp): output position
/// q = oh Wp + ow reads the buffer at q + i dh Wp + j dw for tap (i, j), so every tap is the same
/// shift of one flat range, and the kernel runs over the whole plane in blocks of 32 sums held in
/// registers (the few columns past Wo in each row are computed and dropped).  The backward uses
/// the same flat view: dw a dot product per tap, dx a correlation of the zero-bordered dy with the
/// taps reversed.  Other strides go row by row.  Forward: (image, channel) planes split over
/// threads; backward: channels split over threads, each computing its channels' dx, dw and db over
/// the whole batch, so the weight gradient needs no per-thread partial sums.  Raw pointers; kernels/conv2d.hpp dispatches here
/// when depthwise_applies(g), and its naive reference checks these in the tests.
#include <algorithm>
#include <cstddef>
#include <cstring>
#include <optional>
#include <vector>

#include "gluino/core/parallel.hpp"
#include "gluino/core/storage.hpp"
#include "gluino/detail/fold_lanes.hpp"
#include "gluino/kernels/conv2d_direct.hpp"
#include "gluino/kernels/im2col.hpp"

namespace gluino::kernels {

/// True when g is a depthwise convolution: one input channel per group (groups == C > 1), any
/// channel multiplier (O = multiplier * C), stride, dilation and padding.  g.generic (tests,
/// benches) turns it off.
inline bool depthwise_applies(const Conv2DGeometry& g) { return !g.generic && g.groups > 1 && g.groups == g.C; }

namespace detail_depthwise {

/// One zero-bordered plane: Hp x Wp with the input at (ph, pw).
struct Padded {
  std::size_t Hp, Wp;
  explicit Padded(const Conv2DGeometry& g) : Hp(g.H + 2 * g.ph), Wp(g.W + 2 * g.pw) {}
  std::size_t size() const { return Hp * Wp; }
};

template <class T>
void pad_plane(const Conv2DGeometry& g, const Padded& p, const T* __restrict x, T* __restrict buf) {
  std::fill(buf, buf + p.size(), T(0));
  for (std::size_t h = 0; h < g.H; ++h) std::memcpy(buf + (g.ph + h) * p.Wp + g.pw, x + h * g.W, g.W * sizeof(T));
}

/// acc[ow] += wv * src[ow * s] for ow < n; stride 1 separately, so that it vectorizes.
template <class T>
inline void axpy_strided(std::size_t n, T wv, const T* __restrict src, std::size_t s, T* __restrict acc) {
  if (s == 1) {
    for (std::size_t i = 0; i < n; ++i) acc[i] += wv * src[i];
  } else {
    for (std::size_t i = 0; i < n; ++i) acc[i] += wv * src[i * s];
  }
}

/// dst[ow * s] += wv * src[ow] for ow < n.
template <class T>
inline void scatter_strided(std::size_t n, T wv, const T* __restrict src, std::size_t s, T* __restrict dst) {
  if (s == 1) {
    for (std::size_t i = 0; i < n; ++i) dst[i] += wv * src[i];
  } else {
    for (std::size_t i = 0; i < n; ++i) dst[i * s] += wv * src[i];
  }
}

/// sum over ow < n of a[ow] * b[ow * s], in lanes of 8 partial sums (one vector register).
template <class T>
inline T dot_strided(std::size_t n, const T* __restrict a, const T* __restrict b, std::size_t s) {
  T lane[8] = {};
  std::size_t i = 0;
  if (s == 1) {
    for (; i + 8 <= n; i += 8)
      for (std::size_t k = 0; k < 8; ++k) lane[k] += a[i + k] * b[i + k];
  } else {
    for (; i + 8 <= n; i += 8)
      for (std::size_t k = 0; k < 8; ++k) lane[k] += a[i + k] * b[(i + k) * s];
  }
  T sum = T(0);
  for (; i < n; ++i) sum += a[i] * b[i * s];
  for (T v : lane) sum += v;
  return sum;
}

/// Sums per register block in the flat (stride 1) kernels: 4 vectors of 8 lanes
/// (conv2d_direct.hpp's Vec: explicit vectors, where plain loops over the block were vectorised
/// across the taps with gathers instead).
inline constexpr std::size_t vecs = 4;
inline constexpr std::size_t block = vecs * direct_lanes;
using detail_direct::Vec;

/// True when the flat kernels apply: stride 1.
inline bool flat(const Conv2DGeometry& g) { return g.sh == 1 && g.sw == 1; }

/// out[q] = init(q) + sum_t w[t] src[q + off[t]] for q < L, in blocks of `block` sums (src
/// readable up to L + max(off) + block); then relu when asked.  init: `bias`, or out's current
/// value when accumulate.
template <class T>
void flat_correlate(std::size_t L, const T* src, const std::ptrdiff_t* off, const T* w, std::size_t taps, T bias,
                    bool accumulate, bool relu, T* out) {
  for (std::size_t q0 = 0; q0 < L; q0 += block) {
    const std::size_t n = std::min(block, L - q0);
    T init[block];
    if (accumulate)
      for (std::size_t k = 0; k < block; ++k) init[k] = k < n ? out[q0 + k] : T(0);
    else
      std::fill(init, init + block, bias);
    Vec<T> acc[vecs];
    for (std::size_t v = 0; v < vecs; ++v) detail_direct::load(acc[v], init + v * direct_lanes);
    for (std::size_t t = 0; t < taps; ++t) {
      const T* x = src + static_cast<std::ptrdiff_t>(q0) + off[t];
      const Vec<T> wv = Vec<T>{} + w[t];
      for (std::size_t v = 0; v < vecs; ++v) {
        Vec<T> xv;
        detail_direct::load(xv, x + v * direct_lanes);
        acc[v] += wv * xv;
      }
    }
    T res[block];
    for (std::size_t v = 0; v < vecs; ++v) detail_direct::store(res + v * direct_lanes, acc[v]);
    if (relu)
      for (std::size_t k = 0; k < n; ++k) res[k] = res[k] <= T(0) ? T(0) : res[k];  // NaN stays NaN
    std::copy(res, res + n, out + q0);
  }
}

/// Sums the lanes of acc.
template <class T>
T sum_lanes(const Vec<T>* acc) {
  T res[block];
  for (std::size_t v = 0; v < vecs; ++v) detail_direct::store(res + v * direct_lanes, acc[v]);
  T sum = T(0);
  for (T r : res) sum += r;
  return sum;
}

/// sum of a[q] for q < L, in `block` partial sums (a readable, and zero, up to the next multiple
/// of block past L).
template <class T>
T flat_sum(std::size_t L, const T* a) {
  Vec<T> acc[vecs] = {};
  for (std::size_t q0 = 0; q0 < L; q0 += block)
    for (std::size_t v = 0; v < vecs; ++v) {
      Vec<T> av;
      detail_direct::load(av, a + q0 + v * direct_lanes);
      acc[v] += av;
    }
  return sum_lanes<T>(acc);
}

/// sum of a[q] b[q] for q < L, in `block` partial sums (a and b readable, and a zero, up to the
/// next multiple of block past L).
template <class T>
T flat_dot(std::size_t L, const T* a, const T* b) {
  Vec<T> acc[vecs] = {};
  for (std::size_t q0 = 0; q0 < L; q0 += block)
    for (std::size_t v = 0; v < vecs; ++v) {
      Vec<T> av, bv;
      detail_direct::load(av, a + q0 + v * direct_lanes);
      detail_direct::load(bv, b + q0 + v * direct_lanes);
      acc[v] += av * bv;
    }
  return sum_lanes<T>(acc);
}

}  // namespace detail_depthwise

/// Same result as conv2d_forward_naive for a depthwise g (depthwise_applies), with max(y, 0)
/// when relu.
template <class T>
void conv2d_forward_depthwise(const Conv2DGeometry& g, const T* x, const T* w, const T* b, T* y, bool relu = false) {
  const std::size_t M = g.Og(), P = g.P(), HW = g.H * g.W, taps = g.kh * g.kw;
  if (g.N == 0 || g.O == 0 || P == 0) return;
  namespace dd = detail_depthwise;
  const dd::Padded pad(g);
  const std::size_t planes = g.N * g.C;
  const bool flat = dd::flat(g);
  // flat: the output in the buffer's pitch (L positions), then its first Wo columns per row.
  const std::size_t L = (g.Ho - 1) * pad.Wp + g.Wo;
  std::vector<std::ptrdiff_t> off(taps);
  for (std::size_t i = 0; i < g.kh; ++i)
    for (std::size_t j = 0; j < g.kw; ++j) off[i * g.kw + j] = static_cast<std::ptrdiff_t>(i * g.dh * pad.Wp + j * g.dw);
  const std::size_t per = pad.size() + dd::block + (flat ? L : 0);
  const int threads = detail::team_size(planes, static_cast<double>(M * P * taps));
  Storage<T> storage(per * static_cast<std::size_t>(threads));
  detail::run_team(threads, [&](int tid, int team) {
    T* const buf = storage.data() + per * static_cast<std::size_t>(tid);
    T* const ext = buf + pad.size() + dd::block;
    std::fill(buf + pad.size(), ext, T(0));  // read past the plane by the last block
    const std::size_t q0 = planes * static_cast<std::size_t>(tid) / static_cast<std::size_t>(team);
    const std::size_t q1 = planes * static_cast<std::size_t>(tid + 1) / static_cast<std::size_t>(team);
    for (std::size_t q = q0; q < q1; ++q) {  // plane q = (n, c)
      const std::size_t n = q / g.C, c = q % g.C;
      dd::pad_plane(g, pad, x + q * HW, buf);
      for (std::size_t m = 0; m < M; ++m) {
        const std::size_t o = c * M + m;
        const T* const wo = w + o * taps;
        T* const yo = y + (n * g.O + o) * P;
        if (flat) {
          const bool direct = pad.Wp == g.Wo;  // no horizontal padding: the pitch is the output's
          dd::flat_correlate(L, static_cast<const T*>(buf), off.data(), wo, taps, b ? b[o] : T(0), false, relu,
                             direct ? yo : ext);
          if (!direct)
            for (std::size_t oh = 0; oh < g.Ho; ++oh) std::copy(ext + oh * pad.Wp, ext + oh * pad.Wp + g.Wo, yo + oh * g.Wo);
          continue;
        }
        for (std::size_t oh = 0; oh < g.Ho; ++oh) {
          T* __restrict row = yo + oh * g.Wo;
          std::fill(row, row + g.Wo, b ? b[o] : T(0));
          for (std::size_t i = 0; i < g.kh; ++i) {
            const T* src = buf + (oh * g.sh + i * g.dh) * pad.Wp;
            for (std::size_t j = 0; j < g.kw; ++j)
              detail_depthwise::axpy_strided(g.Wo, wo[i * g.kw + j], src + j * g.dw, g.sw, row);
          }
          if (relu)
            for (std::size_t k = 0; k < g.Wo; ++k) row[k] = row[k] <= T(0) ? T(0) : row[k];  // NaN stays NaN
        }
      }
    }
  });
}

/// Same result as conv2d_backward_naive for a depthwise g (dx, dw, db overwritten; null ones
/// skipped), with dy masked where relu_y (the output of the fused ReLU) is not positive.
template <class T>
void conv2d_backward_depthwise(const Conv2DGeometry& g, const T* x, const T* w, const T* dy, T* dx, T* dw, T* db,
                               const T* relu_y = nullptr) {
  const std::size_t M = g.Og(), P = g.P(), HW = g.H * g.W, taps = g.kh * g.kw;
  if (dw) std::fill(dw, dw + g.O * taps, T(0));
  if (db) std::fill(db, db + g.O, T(0));
  if (dx) std::fill(dx, dx + g.N * g.C * HW, T(0));
  if (g.N == 0 || g.O == 0 || P == 0 || (!dx && !dw && !db)) return;
  namespace dd = detail_depthwise;
  const dd::Padded pad(g);
  const bool flat = dd::flat(g);
  std::vector<std::ptrdiff_t> off(taps), back(taps);  // flat: each tap's shift, and its negation
  for (std::size_t i = 0; i < g.kh; ++i)
    for (std::size_t j = 0; j < g.kw; ++j) {
      off[i * g.kw + j] = static_cast<std::ptrdiff_t>(i * g.dh * pad.Wp + j * g.dw);
      back[i * g.kw + j] = -off[i * g.kw + j];
    }
  const std::size_t front = flat ? static_cast<std::size_t>(off[taps - 1]) : 0;
  const std::size_t L = (g.Ho - 1) * pad.Wp + g.Wo;  // flat output positions
  // Per thread: the padded input plane (dw) and dx plane (dx), each with a block of slack; and
  // dy: flat, zero-bordered in the buffer's pitch (front zeros first); otherwise a plane masked
  // by the ReLU's output.
  const std::size_t xbuf = dw ? pad.size() + dd::block : 0, dxbuf = dx ? pad.size() + dd::block : 0;
  const std::size_t dybuf = flat ? front + pad.size() + dd::block : (relu_y ? P : 0);
  const std::size_t per = xbuf + dxbuf + dybuf;
  const int threads = detail::team_size(g.C, static_cast<double>(g.N * M * P * taps * 2));
  std::optional<Storage<T>> storage;
  if (per) storage.emplace(per * static_cast<std::size_t>(threads));
  detail::run_team(threads, [&](int tid, int team) {
    T* const mine = storage ? storage->data() + per * static_cast<std::size_t>(tid) : nullptr;
    T* const xp = xbuf ? mine : nullptr;
    T* const dxp = dxbuf ? mine + xbuf : nullptr;
    T* const dyb = dybuf ? mine + xbuf + dxbuf : nullptr;
    if (xp) std::fill(xp + pad.size(), xp + xbuf, T(0));
    if (dxp) std::fill(dxp + pad.size(), dxp + dxbuf, T(0));
    const std::size_t c0 = g.C * static_cast<std::size_t>(tid) / static_cast<std::size_t>(team);
    const std::size_t c1 = g.C * static_cast<std::size_t>(tid + 1) / static_cast<std::size_t>(team);
    for (std::size_t c = c0; c < c1; ++c)
      for (std::size_t n = 0; n < g.N; ++n) {
        if (xp) dd::pad_plane(g, pad, x + (n * g.C + c) * HW, xp);
        if (dxp) std::fill(dxp, dxp + pad.size(), T(0));
        for (std::size_t m = 0; m < M; ++m) {
          const std::size_t o = c * M + m;
          const T* dyo = dy + (n * g.O + o) * P;
          const T* const yo = relu_y ? relu_y + (n * g.O + o) * P : nullptr;
          if (flat) {  // dy into the buffer's pitch, after `front` zeros; zero elsewhere
            T* const d = dyb + front;
            std::fill(dyb, dyb + dybuf, T(0));
            for (std::size_t oh = 0; oh < g.Ho; ++oh) {
              const T* __restrict src = dyo + oh * g.Wo;
              T* __restrict dst = d + oh * pad.Wp;
              if (yo) {
                const T* __restrict yr = yo + oh * g.Wo;
                for (std::size_t ow = 0; ow < g.Wo; ++ow) dst[ow] = yr[ow] > T(0) ? src[ow] : T(0);
              } else {
                std::copy(src, src + g.Wo, dst);
              }
            }
            if (db) db[o] += dd::flat_sum(L, static_cast<const T*>(d));
            if (dw)  // dw[t] = sum_q d[q] xp[q + off[t]]
              for (std::size_t t = 0; t < taps; ++t) dw[o * taps + t] += dd::flat_dot(L, d, xp + off[t]);
            if (dxp)  // dx rows of the buffer: the correlation of d with the taps shifted back
              dd::flat_correlate(g.H * pad.Wp, static_cast<const T*>(d + g.ph * pad.Wp), back.data(), w + o * taps,
                                 taps, T(0), true, false, dxp + g.ph * pad.Wp);
            continue;
          }
          if (yo) {
            for (std::size_t k = 0; k < P; ++k) dyb[k] = yo[k] > T(0) ? dyo[k] : T(0);
            dyo = dyb;
          }
          if (db) {
            const auto add = [](T a, T b) { return a + b; };
            db[o] += gluino::detail::fold_lanes(dyo, P, T(0), add);
          }
          for (std::size_t oh = 0; oh < g.Ho; ++oh) {
            const T* dyrow = dyo + oh * g.Wo;
            for (std::size_t i = 0; i < g.kh; ++i) {
              const std::size_t r = (oh * g.sh + i * g.dh) * pad.Wp;
              for (std::size_t j = 0; j < g.kw; ++j) {
                if (dw) dw[o * taps + i * g.kw + j] += dd::dot_strided(g.Wo, dyrow, xp + r + j * g.dw, g.sw);
                if (dxp) dd::scatter_strided(g.Wo, w[o * taps + i * g.kw + j], dyrow, g.sw, dxp + r + j * g.dw);
              }
            }
          }
        }
        if (dxp) {
          T* dxn = dx + (n * g.C + c) * HW;
          for (std::size_t h = 0; h < g.H; ++h)
            std::memcpy(dxn + h * g.W, dxp + (g.ph + h) * pad.Wp + g.pw, g.W * sizeof(T));
        }
      }
  });
}

}  // namespace gluino::kernels
