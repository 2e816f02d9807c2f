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
/// taps reversed.  A stride s > 1 becomes stride 1 by splitting the padded plane into its sh x sw
/// phase planes (rows = a mod sh, columns = b mod sw; Layout): tap (i, j) then reads one phase
/// plane at a fixed shift, and the same flat kernels run, dx per phase plane with that phase's
/// taps (row by row with strided loads these layers ran at 2.5% of peak).  Forward: (image, channel) planes split over
/// threads; backward: channels split over threads, each computing its channels' dx, dw and db over
/// the whole batch, so the weight gradient needs no per-thread partial sums.  Raw pointers; kernels/conv2d.hpp dispatches here
/// when depthwise_applies(g), and its naive reference checks these in the tests.
#include <algorithm>
#include <cstddef>
#include <cstring>
#include <vector>

#include "gluino/core/parallel.hpp"
#include "gluino/core/storage.hpp"
#include "gluino/kernels/conv2d_direct.hpp"
#include "gluino/kernels/im2col.hpp"

namespace gluino::kernels {

/// True when g is a depthwise convolution: one input channel per group (groups == C > 1), any
/// channel multiplier (O = multiplier * C), stride, dilation and padding.  g.generic (tests,
/// benches) turns it off.
inline bool depthwise_applies(const Conv2DGeometry& g) { return !g.generic && g.groups > 1 && g.groups == g.C; }

namespace detail_depthwise {

/// Where the flat kernels find one zero-bordered input plane (Hp x Wp, the input at (ph, pw)): with
/// stride 1 the padded plane itself, pitch Wq = Wp; with strides (sh, sw) its sh * sw phase planes
/// one after another, phase (a, b) holding the padded rows a, a + sh, ... and columns b, b + sw, ...
/// as an Hq x Wq plane (Hq = ceil(Hp / sh), Wq = ceil(Wp / sw)).  Output (oh, ow) is at flat
/// position oh Wq + ow, and tap (i, j) reads position + offset(i, j).
struct Layout {
  std::size_t sh, sw, Hp, Wp, Hq, Wq;
  explicit Layout(const Conv2DGeometry& g)
      : sh(g.sh), sw(g.sw), Hp(g.H + 2 * g.ph), Wp(g.W + 2 * g.pw), Hq((Hp + sh - 1) / sh), Wq((Wp + sw - 1) / sw) {}
  std::size_t plane() const { return Hq * Wq; }
  std::size_t size() const { return sh * sw * plane(); }
  /// The phase plane of padded row r and column c, and the tap (i, j)'s shift.
  std::size_t phase(std::size_t r, std::size_t c) const { return (r % sh) * sw + c % sw; }
  std::ptrdiff_t offset(const Conv2DGeometry& g, std::size_t i, std::size_t j) const {
    const std::size_t r = i * g.dh, c = j * g.dw;
    return static_cast<std::ptrdiff_t>(phase(r, c) * plane() + (r / sh) * Wq + c / sw);
  }
};

/// Copies one input plane x (H, W) into buf in the layout lay, zeros in the border (and in the
/// phase planes' last row or column past the padded plane).
template <class T>
void fill_layout(const Conv2DGeometry& g, const Layout& lay, const T* __restrict x, T* __restrict buf) {
  std::fill(buf, buf + lay.size(), T(0));
  if (lay.sh == 1 && lay.sw == 1) {
    for (std::size_t h = 0; h < g.H; ++h) std::memcpy(buf + (g.ph + h) * lay.Wq + g.pw, x + h * g.W, g.W * sizeof(T));
    return;
  }
  for (std::size_t h = 0; h < g.H; ++h) {
    const std::size_t r = h + g.ph;
    for (std::size_t b = 0; b < lay.sw; ++b) {
      // columns w with (w + pw) % sw == b, in order, land at (w + pw) / sw
      const std::size_t w0 = (b + lay.sw - g.pw % lay.sw) % lay.sw;
      T* __restrict dst = buf + lay.phase(r, b) * lay.plane() + (r / lay.sh) * lay.Wq + (w0 + g.pw) / lay.sw;
      const T* __restrict src = x + h * g.W;
      for (std::size_t w = w0, k = 0; w < g.W; w += lay.sw, ++k) dst[k] = src[w];
    }
  }
}

/// The inverse for a gradient: dx (H, W) = the input positions of buf (in the layout lay).
template <class T>
void unfill_layout(const Conv2DGeometry& g, const Layout& lay, const T* __restrict buf, T* __restrict dx) {
  for (std::size_t h = 0; h < g.H; ++h) {
    const std::size_t r = h + g.ph;
    if (lay.sh == 1 && lay.sw == 1) {
      std::memcpy(dx + h * g.W, buf + r * lay.Wq + g.pw, g.W * sizeof(T));
      continue;
    }
    for (std::size_t b = 0; b < lay.sw; ++b) {
      const std::size_t w0 = (b + lay.sw - g.pw % lay.sw) % lay.sw;
      const T* __restrict src = buf + lay.phase(r, b) * lay.plane() + (r / lay.sh) * lay.Wq + (w0 + g.pw) / lay.sw;
      T* __restrict dst = dx + h * g.W;
      for (std::size_t w = w0, k = 0; w < g.W; w += lay.sw, ++k) dst[w] = src[k];
    }
  }
}

/// Sums per register block in the flat (stride 1) kernels: 4 vectors of 8 lanes
/// (conv2d_direct.hpp's Vec: explicit vectors, where plain loops over the block were vectorised
/// across the taps with gathers instead).
inline constexpr std::size_t vecs = 4;
inline constexpr std::size_t block = vecs * direct_lanes;
using detail_direct::Vec;

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
  const dd::Layout lay(g);
  const std::size_t planes = g.N * g.C;
  // The output in the layout's pitch (L positions), then its first Wo columns per row.
  const std::size_t L = (g.Ho - 1) * lay.Wq + g.Wo;
  std::vector<std::ptrdiff_t> off(taps);
  for (std::size_t i = 0; i < g.kh; ++i)
    for (std::size_t j = 0; j < g.kw; ++j) off[i * g.kw + j] = lay.offset(g, i, j);
  const bool direct = lay.Wq == g.Wo;  // the pitch is the output's: written in place
  const std::size_t per = lay.size() + dd::block + (direct ? 0 : L);
  const int threads = detail::team_size(planes, static_cast<double>(M * P * taps));
  Storage<T> storage(per * static_cast<std::size_t>(threads));
  detail::run_team(threads, [&](int tid, int team) {
    T* const buf = storage.data() + per * static_cast<std::size_t>(tid);
    T* const ext = buf + lay.size() + dd::block;
    std::fill(buf + lay.size(), ext, T(0));  // read past the planes by the last block
    const std::size_t q0 = planes * static_cast<std::size_t>(tid) / static_cast<std::size_t>(team);
    const std::size_t q1 = planes * static_cast<std::size_t>(tid + 1) / static_cast<std::size_t>(team);
    for (std::size_t q = q0; q < q1; ++q) {  // plane q = (n, c)
      const std::size_t n = q / g.C, c = q % g.C;
      dd::fill_layout(g, lay, x + q * HW, buf);
      for (std::size_t m = 0; m < M; ++m) {
        const std::size_t o = c * M + m;
        T* const yo = y + (n * g.O + o) * P;
        dd::flat_correlate(L, static_cast<const T*>(buf), off.data(), w + o * taps, taps, b ? b[o] : T(0), false, relu,
                           direct ? yo : ext);
        if (!direct)
          for (std::size_t oh = 0; oh < g.Ho; ++oh) std::copy(ext + oh * lay.Wq, ext + oh * lay.Wq + g.Wo, yo + oh * g.Wo);
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
  const dd::Layout lay(g);
  const std::size_t phases = lay.sh * lay.sw;
  // Each tap's shift; and per phase plane, its taps (index, shift within the plane negated).
  std::vector<std::ptrdiff_t> off(taps);
  std::vector<std::vector<std::size_t>> phase_taps(phases);
  std::vector<std::vector<std::ptrdiff_t>> back(phases);
  for (std::size_t i = 0; i < g.kh; ++i)
    for (std::size_t j = 0; j < g.kw; ++j) {
      const std::size_t t = i * g.kw + j, k = lay.phase(i * g.dh, j * g.dw);
      off[t] = lay.offset(g, i, j);
      phase_taps[k].push_back(t);
      back[k].push_back(-(off[t] - static_cast<std::ptrdiff_t>(k * lay.plane())));
    }
  const bool unit = phases == 1;
  std::size_t front = 0;  // zeros before dy: the largest shift within a plane
  for (std::size_t k = 0; k < phases; ++k)
    for (std::ptrdiff_t v : back[k]) front = std::max(front, static_cast<std::size_t>(-v));
  const std::size_t L = (g.Ho - 1) * lay.Wq + g.Wo;  // flat output positions
  // Per thread: the input in the layout (dw) and dx in the layout (dx), each with a block of
  // slack; dy in the layout's pitch after `front` zeros, zero up to a plane and a block past it.
  const std::size_t xbuf = dw ? lay.size() + dd::block : 0, dxbuf = dx ? lay.size() + dd::block : 0;
  const std::size_t dybuf = front + lay.plane() + dd::block;
  const std::size_t per = xbuf + dxbuf + dybuf;
  const int threads = detail::team_size(g.C, static_cast<double>(g.N * M * P * taps * 2));
  Storage<T> storage(per * static_cast<std::size_t>(threads));
  detail::run_team(threads, [&](int tid, int team) {
    T* const mine = storage.data() + per * static_cast<std::size_t>(tid);
    T* const xp = xbuf ? mine : nullptr;
    T* const dxp = dxbuf ? mine + xbuf : nullptr;
    T* const dyb = mine + xbuf + dxbuf;
    if (xp) std::fill(xp + lay.size(), xp + xbuf, T(0));
    if (dxp) std::fill(dxp + lay.size(), dxp + dxbuf, T(0));
    std::vector<T> wk(taps);  // one phase's taps of one output channel
    const std::size_t c0 = g.C * static_cast<std::size_t>(tid) / static_cast<std::size_t>(team);
    const std::size_t c1 = g.C * static_cast<std::size_t>(tid + 1) / static_cast<std::size_t>(team);
    for (std::size_t c = c0; c < c1; ++c)
      for (std::size_t n = 0; n < g.N; ++n) {
        if (xp) dd::fill_layout(g, lay, x + (n * g.C + c) * HW, xp);
        if (dxp) std::fill(dxp, dxp + lay.size(), T(0));
        for (std::size_t m = 0; m < M; ++m) {
          const std::size_t o = c * M + m;
          const T* dyo = dy + (n * g.O + o) * P;
          const T* const yo = relu_y ? relu_y + (n * g.O + o) * P : nullptr;
          T* const d = dyb + front;  // dy into the layout's pitch; zero elsewhere
          std::fill(dyb, dyb + dybuf, T(0));
          for (std::size_t oh = 0; oh < g.Ho; ++oh) {
            const T* __restrict src = dyo + oh * g.Wo;
            T* __restrict dst = d + oh * lay.Wq;
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
          if (!dxp) continue;
          // dx in the layout: per phase plane, the correlation of d with that phase's taps
          // shifted back (stride 1: only the rows that hold input, ph to ph + H).
          for (std::size_t k = 0; k < phases; ++k) {
            if (phase_taps[k].empty()) continue;
            for (std::size_t e = 0; e < phase_taps[k].size(); ++e) wk[e] = w[o * taps + phase_taps[k][e]];
            const std::size_t first = unit ? g.ph * lay.Wq : 0;
            const std::size_t count = unit ? g.H * lay.Wq : lay.plane();
            dd::flat_correlate(count, static_cast<const T*>(d + first), back[k].data(), wk.data(), phase_taps[k].size(),
                               T(0), true, false, dxp + k * lay.plane() + first);
          }
        }
        if (dxp) dd::unfill_layout(g, lay, static_cast<const T*>(dxp), dx + (n * g.C + c) * HW);
      }
  });
}

}  // namespace gluino::kernels
