// SPDX-License-Identifier: Apache-2.0
#pragma once
/// 3x3 and 5x5 convolutions with stride 1 by Winograd's minimal filtering (Lavin and Gray, "Fast
/// Algorithms for Convolutional Neural Networks", 2016): F(4x4, 3x3) and F(2x2, 5x5), both on 6x6
/// tiles with the interpolation points 0, 1, -1, 2, -2 and infinity.  Each m x m block of output
/// pixels (a tile; m = 4 for 3x3 filters, 2 for 5x5) is read from a 6x6 patch of the input, and
///   y_tile = A^T [ (G g G^T) (.) (B^T d B) ] A
/// for an r x r filter g and the 6x6 patch d ((.) element-wise; B is the same for both sizes, G
/// is 6 x r, A^T m x 6).  Summed over input channels, the 36 element-wise products become 36
/// matrix products, U_xi (O x C) * V_xi (C x tiles), with 36 multiply-adds per tile and channel
/// pair where im2col + GEMM needs m * m * r * r (144 for 3x3, 100 for 5x5), plus the transforms,
/// which are linear in C + O, not in C * O.
///
/// conv2d_forward (kernels/conv2d.hpp) takes this path when winograd_applies(g), and
/// conv2d_backward takes it for the input gradient, which for a stride-1 convolution is again
/// one: dy padded by r - 1 - p, with each filter rotated by 180 degrees and the channel axes
/// swapped.  The weight gradient is the adjoint of the forward pass in g: per filter
/// G^T [ sum over tiles of (A dy_tile A^T) (.) (B^T d B) ] G, again 36 products (O x tiles times
/// tiles x C).  The naive loops of conv2d.hpp are the reference the tests compare this with.
///
/// The tiles of all images are numbered in one sequence (so a batch of small images fills the
/// products as well as one large image does) and split over threads in contiguous ranges; each
/// thread runs its range a chunk of tiles at a time: input transform (per channel and group of
/// 16 tiles), the 36 products (single-threaded GEMMs), output transform (per output channel and
/// group of 16 tiles), with no barrier between chunks (one per call: on these shared machines a
/// barrier per phase cost more than the products).  The transforms work on 16 tiles at once so
/// that their arithmetic is vector code; where each group's tiles lie (TileGroup) is found once
/// per chunk and used for every channel.  The transformed filters (36 * O * C) and each thread's
/// V and M for a chunk (36 * (C + O) per tile, at most winograd_chunk_bytes together) come from
/// the memory pool for the call.  The weight gradient splits the output channels over
/// the threads instead (each sums its rows of the transformed gradient over all tiles, so no
/// thread keeps partial sums of all 36 * O * C), and each thread transforms every input tile.
///
/// Rounding: the transforms multiply by up to 16 and 1/24, so results differ from the direct sum
/// by more than im2col's (float: up to about 4e-6 of the output's largest magnitude in the
/// tests), far less than training noise.
#include <algorithm>
#include <array>
#include <cstddef>
#include <vector>

#include "gluino/core/parallel.hpp"
#include "gluino/core/storage.hpp"
#include "gluino/detail/precompiled.hpp"
#include "gluino/kernels/gemm.hpp"
#include "gluino/kernels/im2col.hpp"

namespace gluino::kernels {

/// The most one thread's chunk of transformed inputs and products (or output gradients) may take
/// (bytes); a chunk holds at least one group of tiles.
inline constexpr std::size_t winograd_chunk_bytes = std::size_t(8) << 20;

/// True when conv2d_forward and conv2d_backward (both gradients) use Winograd for g: one group, a
/// 3x3 or 5x5 kernel, stride 1, no dilation, padding at most r - 1 (the input gradient pads dy by
/// r - 1 - p), at least 64 input and 64 output channels, at least 32 output tiles over the batch,
/// and tiles covering at most 4/3 of the output (a 10x10 output takes 3x3 tiles of 4x4, 1.44
/// times its area).  Measured by bench_conv2d's BM_Conv2D_Winograd (docs/performance.md),
/// forward + backward: AlexNet's layers 2-5 and VGG-11/4's layers with 64 channels or more run
/// 1.4-2.0x faster than on im2col + GEMM; VGG-11/4's 16- and 32-channel layers (the transforms
/// outweigh the thin products) and LeNet's second layer (20 -> 50 channels, 10x10 outputs) run
/// no faster or slower, so they stay on im2col.  g.generic turns it off (tests and benches
/// compare the paths).
inline bool winograd_applies(const Conv2DGeometry& g) {
  if (g.kh != g.kw || (g.kh != 3 && g.kh != 5)) return false;
  const std::size_t r = g.kh, m = 7 - r, th = (g.Ho + m - 1) / m, tw = (g.Wo + m - 1) / m;
  return !g.generic && g.groups == 1 && g.sh == 1 && g.sw == 1 && g.dh == 1 && g.dw == 1 && g.ph < r && g.pw < r &&
         g.C >= 64 && g.O >= 64 && g.N * th * tw >= 32 && 3 * m * m * th * tw <= 4 * g.Ho * g.Wo;
}

namespace detail_winograd {

inline constexpr std::size_t lanes = 16;  // tiles transformed together (vector lanes of the transforms)

/// One Winograd convolution: x (N, C, H, W), r x r filters (r = 3 or 5) to O channels, zero
/// padding (ph, pw), y (N, O, Ho, Wo) with Ho = H + 2 ph - r + 1, Wo = W + 2 pw - r + 1, in
/// tiles of m x m outputs, m = 7 - r.
struct Problem {
  std::size_t r, N, C, H, W, O, ph, pw, Ho, Wo;
  std::size_t m() const { return 7 - r; }
  std::size_t th() const { return (Ho + m() - 1) / m(); }
  std::size_t tw() const { return (Wo + m() - 1) / m(); }
  std::size_t tiles() const { return N * th() * tw(); }
  /// Image, tile row and tile column of tile t.
  std::array<std::size_t, 3> locate(std::size_t t) const {
    const std::size_t per_image = th() * tw(), at = t % per_image;
    return {t / per_image, at / tw(), at % tw()};
  }
};

/// Where the tiles t0 .. t0 + count - 1 (count <= lanes) lie: each one's image and the row and
/// column of its first output pixel.  Found once per group of tiles by stepping from t0 (no
/// division per tile) and used for every channel (locating each tile per channel made VGG-11/4's
/// 64-channel layer about 1.2x slower, forward and backward).
struct TileGroup {
  std::size_t count = 0;
  std::array<std::size_t, lanes> image{}, row{}, col{};
};

inline TileGroup tile_group(const Problem& p, std::size_t t0, std::size_t count) {
  TileGroup g;
  g.count = count;
  auto [n, ti, tj] = p.locate(t0);
  const std::size_t m = p.m(), th = p.th(), tw = p.tw();
  for (std::size_t l = 0; l < count; ++l) {
    g.image[l] = n, g.row[l] = m * ti, g.col[l] = m * tj;
    if (++tj == tw) {
      tj = 0;
      if (++ti == th) ti = 0, ++n;
    }
  }
  return g;
}

/// The groups of lanes tiles each that cover the tiles t0 .. t0 + count - 1, into `groups`.
inline void tile_groups(const Problem& p, std::size_t t0, std::size_t count, std::vector<TileGroup>& groups) {
  groups.clear();
  for (std::size_t at = 0; at < count; at += lanes)
    groups.push_back(tile_group(p, t0 + at, std::min(lanes, count - at)));
}

/// The interpolation points of the finite rows of G, B and A, and the scales of G's rows.
inline constexpr double point[5] = {0, 1, -1, 2, -2};
inline constexpr double scale[5] = {1.0 / 4, -1.0 / 6, -1.0 / 6, 1.0 / 24, 1.0 / 24};

/// G (6 x R): row k < 5 is scale[k] times the powers 1, p, p^2, ... of point[k]; row 5
/// (infinity) picks the last value.
template <std::size_t R>
constexpr std::array<std::array<double, R>, 6> filter_matrix() {
  std::array<std::array<double, R>, 6> G{};
  for (std::size_t k = 0; k < 5; ++k) {
    double power = 1;
    for (std::size_t i = 0; i < R; ++i, power *= point[k]) G[k][i] = scale[k] * power;
  }
  G[5][R - 1] = 1;
  return G;
}

/// U[xi][o][c] = (G g G^T)[xi] for the R x R filter g of output o and input c: w[o][c]
/// (O, C, R, R), or, when `adjoint`, w[c][o] rotated by 180 degrees (w is then (C, O, R, R): the
/// filters of the input gradient).  Computed in double, 16 filters at a time (filter i = o C + c
/// in lane i % 16), so that the arithmetic is vector code and each of the 36 rows of U is
/// written 16 elements at a time (one filter at a time, its 36 scattered stores took 7% of an
/// AlexNet step).
template <std::size_t R, class T>
void transform_filters(const T* w, std::size_t O, std::size_t C, bool adjoint, T* U) {
  static constexpr auto G = filter_matrix<R>();
  constexpr std::size_t RR = R * R;
  const std::size_t OC = O * C;
  gluino::detail::parallel_for(
      (OC + lanes - 1) / lanes,
      [&](std::size_t group) {
        const std::size_t i0 = group * lanes, count = std::min(lanes, OC - i0);
        alignas(64) double g[RR][lanes];
        alignas(64) double t[6 * R][lanes];  // G g, row k at t[k * R + s]
        alignas(64) double u[36][lanes];
        for (std::size_t l = 0; l < lanes; ++l) {
          const std::size_t i = i0 + std::min(l, count - 1);  // spare lanes repeat the last filter
          const std::size_t o = i / C, c = i % C;
          const T* src = adjoint ? w + (c * O + o) * RR : w + i * RR;
          for (std::size_t k = 0; k < RR; ++k) g[k][l] = static_cast<double>(adjoint ? src[RR - 1 - k] : src[k]);
        }
        for (std::size_t k = 0; k < 6; ++k)
          for (std::size_t s = 0; s < R; ++s)
            for (std::size_t l = 0; l < lanes; ++l) {
              double sum = 0;
              for (std::size_t j = 0; j < R; ++j) sum += G[k][j] * g[j * R + s][l];
              t[k * R + s][l] = sum;
            }
        for (std::size_t k = 0; k < 6; ++k)  // (G g) G^T, row k
          for (std::size_t m = 0; m < 6; ++m)
            for (std::size_t l = 0; l < lanes; ++l) {
              double sum = 0;
              for (std::size_t s = 0; s < R; ++s) sum += t[k * R + s][l] * G[m][s];
              u[k * 6 + m][l] = sum;
            }
        for (std::size_t k = 0; k < 36; ++k)
          for (std::size_t l = 0; l < count; ++l) U[k * OC + i0 + l] = static_cast<T>(u[k][l]);
      },
      64 * R * lanes);
}

/// B^T applied along one axis of 6 values, on `lanes` tiles at once: out[k] = sum_r B^T[k][r] in[r].
template <class T>
inline void input_rows(const T (*in)[lanes], std::size_t in_stride, T (*out)[lanes], std::size_t out_stride) {
  for (std::size_t l = 0; l < lanes; ++l) {
    const T d0 = in[0][l], d1 = in[in_stride][l], d2 = in[2 * in_stride][l], d3 = in[3 * in_stride][l],
            d4 = in[4 * in_stride][l], d5 = in[5 * in_stride][l];
    out[0][l] = T(4) * d0 - T(5) * d2 + d4;
    out[out_stride][l] = -T(4) * (d1 + d2) + d3 + d4;
    out[2 * out_stride][l] = T(4) * (d1 - d2) - d3 + d4;
    out[3 * out_stride][l] = T(2) * (d3 - d1) - d2 + d4;
    out[4 * out_stride][l] = T(2) * (d1 - d3) - d2 + d4;
    out[5 * out_stride][l] = T(4) * d1 - T(5) * d3 + d5;
  }
}

/// out[k * stride + l] = v[k][l] for the 36 rows and the first `count` lanes.  A full group is
/// copied with a constant length, so that it stays vector moves (a variable one became 36 calls
/// of memmove, 14% of VGG's second layer).
template <class T>
inline void store_lanes(const T (*v)[lanes], std::size_t count, T* out, std::size_t stride) {
  if (count == lanes) {
    for (std::size_t k = 0; k < 36; ++k)
      for (std::size_t l = 0; l < lanes; ++l) out[k * stride + l] = v[k][l];
    return;
  }
  for (std::size_t k = 0; k < 36; ++k)
    for (std::size_t l = 0; l < count; ++l) out[k * stride + l] = v[k][l];
}

/// V[xi][c][p0 + l] = (B^T d B)[xi] for tile l of group g, channel c; d is the tile's 6x6 input
/// patch, zero outside the input and, with a mask, where mask <= 0 (the input gradient through a
/// fused ReLU: mask is the ReLU's output).  V's rows are ldv apart and its xi blocks C * ldv.
template <class T>
void transform_inputs(const Problem& p, const T* x, const T* mask, std::size_t c, const TileGroup& g, T* V,
                      std::size_t ldv) {
  const std::size_t count = g.count;
  alignas(64) T d[36][lanes];
  alignas(64) T t[36][lanes];
  for (std::size_t l = 0; l < lanes; ++l) {
    if (l >= count) {
      for (std::size_t k = 0; k < 36; ++k) d[k][l] = T(0);
      continue;
    }
    const std::ptrdiff_t r0 = static_cast<std::ptrdiff_t>(g.row[l]) - static_cast<std::ptrdiff_t>(p.ph);
    const std::ptrdiff_t s0 = static_cast<std::ptrdiff_t>(g.col[l]) - static_cast<std::ptrdiff_t>(p.pw);
    const std::size_t plane = (g.image[l] * p.C + c) * p.H * p.W;
    const T* xc = x + plane;
    const T* mc = mask ? mask + plane : nullptr;
    const auto H = static_cast<std::ptrdiff_t>(p.H), W = static_cast<std::ptrdiff_t>(p.W);
    const std::ptrdiff_t s_lo = std::max<std::ptrdiff_t>(0, -s0), s_hi = std::min<std::ptrdiff_t>(6, W - s0);
    for (std::ptrdiff_t r = 0; r < 6; ++r) {
      const std::ptrdiff_t h = r0 + r;
      T* out = &d[r * 6][l];
      if (h < 0 || h >= H) {
        for (std::size_t s = 0; s < 6; ++s) out[s * lanes] = T(0);
        continue;
      }
      const std::ptrdiff_t at = h * W + s0;  // the patch row's first element (may lie left of the row)
      if (s_lo == 0 && s_hi == 6 && !mc) {  // inside the image: no checks
        const T* row = xc + at;
        for (std::size_t s = 0; s < 6; ++s) out[s * lanes] = row[s];
        continue;
      }
      for (std::ptrdiff_t s = 0; s < 6; ++s) {
        T v = T(0);
        if (s >= s_lo && s < s_hi) {
          v = xc[at + s];
          if (mc && !(mc[at + s] > T(0))) v = T(0);
        }
        out[static_cast<std::size_t>(s) * lanes] = v;
      }
    }
  }
  for (std::size_t s = 0; s < 6; ++s) input_rows<T>(d + s, 6, t + s, 6);  // B^T d: column s
  for (std::size_t k = 0; k < 6; ++k) input_rows<T>(t + k * 6, 1, d + k * 6, 1);  // (B^T d) B: row k
  const std::size_t xi_stride = p.C * ldv;
  store_lanes(d, count, V + c * ldv, xi_stride);
}

/// A^T applied along one axis of 6 values: M (4 or 2) outputs.
template <std::size_t M, class T>
inline void output_rows(const T (*in)[lanes], std::size_t in_stride, T (*out)[lanes], std::size_t out_stride) {
  for (std::size_t l = 0; l < lanes; ++l) {
    const T m0 = in[0][l], m1 = in[in_stride][l], m2 = in[2 * in_stride][l], m3 = in[3 * in_stride][l],
            m4 = in[4 * in_stride][l], m5 = in[5 * in_stride][l];
    const T a = m1 + m2, b = m1 - m2, c = m3 + m4, e = m3 - m4;
    out[0][l] = m0 + a + c;
    if constexpr (M == 2) {
      out[out_stride][l] = b + T(2) * e + m5;
    } else {
      out[out_stride][l] = b + T(2) * e;
      out[2 * out_stride][l] = a + T(4) * c;
      out[3 * out_stride][l] = b + T(8) * e + m5;
    }
  }
}

/// y's M x M tiles of group g of output channel o from M[xi][o][p0 + l] (rows ldm apart,
/// xi blocks O * ldm): A^T M A, plus bias, then max(., 0) when relu; pixels past Ho, Wo dropped.
template <std::size_t M, class T>
void transform_outputs(const Problem& p, const T* Mx, std::size_t ldm, std::size_t o, const TileGroup& g, T bias,
                       bool relu, T* y) {
  const std::size_t count = g.count;
  alignas(64) T m[36][lanes];
  alignas(64) T t[6 * M][lanes];
  const std::size_t xi_stride = p.O * ldm;
  for (std::size_t k = 0; k < 36; ++k) {
    const T* in = Mx + k * xi_stride + o * ldm;
    if (count == lanes) {
      for (std::size_t l = 0; l < lanes; ++l) m[k][l] = in[l];
    } else {
      for (std::size_t l = 0; l < lanes; ++l) m[k][l] = l < count ? in[l] : T(0);
    }
  }
  for (std::size_t s = 0; s < 6; ++s) output_rows<M, T>(m + s, 6, t + s, 6);  // A^T M: M x 6
  for (std::size_t k = 0; k < M; ++k) output_rows<M, T>(t + k * 6, 1, m + k * M, 1);  // (A^T M) A: M x M
  for (std::size_t l = 0; l < count; ++l) {
    T* yo = y + (g.image[l] * p.O + o) * p.Ho * p.Wo;
    const std::size_t rows = std::min(M, p.Ho - g.row[l]), cols = std::min(M, p.Wo - g.col[l]);
    for (std::size_t i = 0; i < rows; ++i) {
      T* row = yo + (g.row[l] + i) * p.Wo + g.col[l];
      T v[M];
      for (std::size_t j = 0; j < M; ++j) {
        v[j] = m[i * M + j][l] + bias;
        if (relu) v[j] = v[j] <= T(0) ? T(0) : v[j];  // NaN stays NaN, as nd::relu
      }
      if (cols == M) {
        for (std::size_t j = 0; j < M; ++j) row[j] = v[j];
      } else {
        for (std::size_t j = 0; j < cols; ++j) row[j] = v[j];
      }
    }
  }
}

/// y = the convolution of p (overwritten), with bias b (null: none) and max(y, 0) when relu;
/// x masked by `mask` when given (see transform_inputs); filters as transform_filters reads them.
/// Each thread takes a contiguous range of the tiles and runs it a chunk at a time through its own
/// V and M, with no barrier until the end; a chunk's V and M take at most chunk_bytes (tests pass
/// small ones to get many chunks).
template <class T>
void run(const Problem& p, const T* x, const T* mask, const T* w, bool adjoint, const T* b, bool relu, T* y,
         std::size_t chunk_bytes = winograd_chunk_bytes) {
  const std::size_t C = p.C, O = p.O, NT = p.tiles();
  if (NT == 0 || O == 0) return;
  Storage<T> filters(36 * O * C);
  T* const U = filters.data();
  if (p.r == 5) transform_filters<5>(w, O, C, adjoint, U);
  else transform_filters<3>(w, O, C, adjoint, U);
  const std::size_t groups_total = (NT + lanes - 1) / lanes;
  const int team = gluino::detail::team_size(groups_total, 36.0 * lanes * static_cast<double>(C * O));
  const std::size_t per_tile = 36 * (C + O) * sizeof(T);
  const std::size_t fit = std::max<std::size_t>(lanes, chunk_bytes / per_tile / lanes * lanes);
  const std::size_t per_thread = (NT + static_cast<std::size_t>(team) - 1) / static_cast<std::size_t>(team);
  const std::size_t chunk = std::min(fit, (per_thread + lanes - 1) / lanes * lanes);
  const std::size_t panel = 36 * (C + O) * chunk;
  Storage<T> work(panel * static_cast<std::size_t>(team));  // taken before the team starts
  gluino::detail::run_team(team, [&](int tid, int nt) {
    const auto t = static_cast<std::size_t>(tid), n = static_cast<std::size_t>(nt);
    const std::size_t first = NT * t / n, last = NT * (t + 1) / n;
    T* const Vp = work.data() + panel * t;
    T* const Mp = Vp + 36 * C * chunk;
    std::vector<TileGroup> tg;
    for (std::size_t t0 = first; t0 < last; t0 += chunk) {
      const std::size_t pc = std::min(chunk, last - t0), groups = (pc + lanes - 1) / lanes;
      tile_groups(p, t0, pc, tg);
      for (std::size_t c = 0; c < C; ++c)
        for (std::size_t gi = 0; gi < groups; ++gi) transform_inputs(p, x, mask, c, tg[gi], Vp + gi * lanes, pc);
      for (std::size_t xi = 0; xi < 36; ++xi)
        gemm(false, false, O, pc, C, T(1), U + xi * O * C, C, Vp + xi * C * pc, pc, T(0), Mp + xi * O * pc, pc);
      for (std::size_t o = 0; o < O; ++o) {
        const T bias = b ? b[o] : T(0);
        for (std::size_t gi = 0; gi < groups; ++gi) {
          if (p.m() == 2) transform_outputs<2>(p, Mp + gi * lanes, pc, o, tg[gi], bias, relu, y);
          else transform_outputs<4>(p, Mp + gi * lanes, pc, o, tg[gi], bias, relu, y);
        }
      }
    }
  });
}

/// The adjoint of transform_outputs: D[xi][o][p0 + l] = (A g A^T)[xi] for the M x M tile g of dy
/// (zero past Ho, Wo and, with a mask, where mask <= 0) of output channel o, the tiles of group
/// g.  A's row k (point 0, 1, -1, 2, -2) is 1, p, p^2, ...; row 5 (infinity) picks the tile's
/// last value.  D's rows are ldd apart and its xi blocks od * ldd (od: the output
/// channels of this D).
template <std::size_t M, class T>
void transform_output_grads(const Problem& p, const T* dy, const T* mask, std::size_t o, const TileGroup& g, T* D,
                            std::size_t ldd, std::size_t od) {
  const std::size_t count = g.count;
  alignas(64) T gt[M * M][lanes];
  alignas(64) T t[6 * M][lanes];
  alignas(64) T d[36][lanes];
  for (std::size_t l = 0; l < lanes; ++l) {
    for (std::size_t k = 0; k < M * M; ++k) gt[k][l] = T(0);
    if (l >= count) continue;
    const std::size_t plane = (g.image[l] * p.O + o) * p.Ho * p.Wo;
    const std::size_t rows = std::min(M, p.Ho - g.row[l]), cols = std::min(M, p.Wo - g.col[l]);
    for (std::size_t i = 0; i < rows; ++i) {
      const std::size_t at = plane + (g.row[l] + i) * p.Wo + g.col[l];
      for (std::size_t j = 0; j < cols; ++j) gt[i * M + j][l] = mask && !(mask[at + j] > T(0)) ? T(0) : dy[at + j];
    }
  }
  const auto apply_a = [](const T (*in)[lanes], std::size_t in_stride, T (*out)[lanes], std::size_t out_stride) {
    for (std::size_t l = 0; l < lanes; ++l) {
      T v[M];
      for (std::size_t i = 0; i < M; ++i) v[i] = in[i * in_stride][l];
      T even = v[0], odd = v[1], even2 = v[0], odd2 = v[1];  // sums at points 1 and 2
      if constexpr (M == 4) {
        even += v[2], odd += v[3];
        even2 += T(4) * v[2], odd2 = T(2) * v[1] + T(8) * v[3];
      } else {
        odd2 = T(2) * v[1];
      }
      out[0][l] = v[0];
      out[out_stride][l] = even + odd;
      out[2 * out_stride][l] = even - odd;
      out[3 * out_stride][l] = even2 + odd2;
      out[4 * out_stride][l] = even2 - odd2;
      out[5 * out_stride][l] = v[M - 1];
    }
  };
  for (std::size_t j = 0; j < M; ++j) apply_a(gt + j, M, t + j, M);  // A g: 6 x M, column j
  for (std::size_t k = 0; k < 6; ++k) apply_a(t + k * M, 1, d + k * 6, 1);  // (A g) A^T: row k
  const std::size_t xi_stride = od * ldd;
  store_lanes(d, count, D, xi_stride);
}

/// dw (O, C, R, R), overwritten, from dU[xi][o][c] = sum over tiles of D (.) V: the adjoint of
/// transform_filters, G^T dU G per filter, in double, 16 filters at a time as there.
template <std::size_t R, class T>
void untransform_filters(const T* dU, std::size_t O, std::size_t C, T* dw) {
  static constexpr auto G = filter_matrix<R>();
  const std::size_t OC = O * C;
  gluino::detail::parallel_for(
      (OC + lanes - 1) / lanes,
      [&](std::size_t group) {
        const std::size_t f0 = group * lanes, count = std::min(lanes, OC - f0);
        alignas(64) double v[36][lanes];
        alignas(64) double t[R * 6][lanes];  // G^T dU, row i at t[i * 6 + m]
        for (std::size_t k = 0; k < 36; ++k)  // spare lanes repeat the last filter
          for (std::size_t l = 0; l < lanes; ++l)
            v[k][l] = static_cast<double>(dU[k * OC + f0 + std::min(l, count - 1)]);
        for (std::size_t i = 0; i < R; ++i)
          for (std::size_t m = 0; m < 6; ++m)
            for (std::size_t l = 0; l < lanes; ++l) {
              double sum = 0;
              for (std::size_t k = 0; k < 6; ++k) sum += G[k][i] * v[k * 6 + m][l];
              t[i * 6 + m][l] = sum;
            }
        for (std::size_t l = 0; l < count; ++l) {
          T* out = dw + (f0 + l) * R * R;
          for (std::size_t i = 0; i < R; ++i)
            for (std::size_t j = 0; j < R; ++j) {
              double sum = 0;
              for (std::size_t m = 0; m < 6; ++m) sum += t[i * 6 + m][l] * G[m][j];
              out[i * R + j] = static_cast<T>(sum);
            }
        }
      },
      64 * R * lanes);
}

/// dw (overwritten) of the convolution p given dy (N, O, Ho, Wo), masked by `mask` when given:
/// dU[xi] (O x C) = sum over tiles of D[xi] (O x tiles) V[xi]^T (tiles x C), then G^T dU G.  The
/// output channels are split over threads, each summing its rows of dU over all tiles, so no
/// partial sums need adding up; each thread transforms every input tile itself (the input
/// transform is done once per thread, a small share of the work).
template <class T>
void run_weight_grad(const Problem& p, const T* x, const T* dy, const T* mask, T* dw,
                     std::size_t chunk_bytes = winograd_chunk_bytes) {
  const std::size_t C = p.C, O = p.O, NT = p.tiles(), r = p.r;
  if (O == 0 || C == 0) return;
  if (NT == 0) {
    std::fill(dw, dw + O * C * r * r, T(0));
    return;
  }
  Storage<T> grads(36 * O * C);
  T* const dU = grads.data();
  const int team = gluino::detail::team_size(O, 36.0 * static_cast<double>(C * NT));
  const std::size_t most_o = (O + static_cast<std::size_t>(team) - 1) / static_cast<std::size_t>(team);
  const std::size_t per_tile = 36 * (C + most_o) * sizeof(T);
  const std::size_t fit = std::max<std::size_t>(lanes, chunk_bytes / per_tile / lanes * lanes);
  const std::size_t chunk = std::min(fit, (NT + lanes - 1) / lanes * lanes);
  const std::size_t panel = 36 * (C + most_o) * chunk;
  Storage<T> work(panel * static_cast<std::size_t>(team));  // taken before the team starts
  gluino::detail::run_team(team, [&](int tid, int nt) {
    const auto t = static_cast<std::size_t>(tid), n = static_cast<std::size_t>(nt);
    const std::size_t o0 = O * t / n, o1 = O * (t + 1) / n, od = o1 - o0;
    T* const Vp = work.data() + panel * t;
    T* const Dp = Vp + 36 * C * chunk;
    std::vector<TileGroup> tg;
    for (std::size_t t0 = 0; t0 < NT; t0 += chunk) {
      const std::size_t pc = std::min(chunk, NT - t0), groups = (pc + lanes - 1) / lanes;
      tile_groups(p, t0, pc, tg);
      for (std::size_t c = 0; c < C; ++c)
        for (std::size_t gi = 0; gi < groups; ++gi)
          transform_inputs(p, x, static_cast<const T*>(nullptr), c, tg[gi], Vp + gi * lanes, pc);
      for (std::size_t o = o0; o < o1; ++o)
        for (std::size_t gi = 0; gi < groups; ++gi) {
          T* const out = Dp + (o - o0) * pc + gi * lanes;
          if (p.m() == 2) transform_output_grads<2>(p, dy, mask, o, tg[gi], out, pc, od);
          else transform_output_grads<4>(p, dy, mask, o, tg[gi], out, pc, od);
        }
      for (std::size_t xi = 0; xi < 36 && od > 0; ++xi)
        gemm(false, true, od, C, pc, T(1), Dp + xi * od * pc, pc, Vp + xi * C * pc, pc, t0 == 0 ? T(0) : T(1),
             dU + xi * O * C + o0 * C, C);
    }
  });
  if (r == 5) untransform_filters<5>(dU, O, C, dw);
  else untransform_filters<3>(dU, O, C, dw);
}

}  // namespace detail_winograd

/// Same result as conv2d_forward_naive (up to rounding; see the top of this header) for g with
/// winograd_applies(g), followed by max(y, 0) when relu.  b may be null.
template <class T>
void conv2d_forward_winograd(const Conv2DGeometry& g, const T* x, const T* w, const T* b, T* y, bool relu = false) {
  const detail_winograd::Problem p{g.kh, g.N, g.C, g.H, g.W, g.O, g.ph, g.pw, g.Ho, g.Wo};
  detail_winograd::run(p, x, static_cast<const T*>(nullptr), w, false, b, relu, y);
}

/// dx (overwritten) of conv2d_backward_naive for g with winograd_applies(g): the convolution of
/// dy, padded by r - 1 - p, with the rotated and transposed filters.  With relu_y (the output of a
/// convolution fused with ReLU), dy counts only where relu_y > 0.
template <class T>
void conv2d_input_grad_winograd(const Conv2DGeometry& g, const T* w, const T* dy, T* dx, const T* relu_y = nullptr) {
  const std::size_t r = g.kh;
  const detail_winograd::Problem p{r, g.N, g.O, g.Ho, g.Wo, g.C, r - 1 - g.ph, r - 1 - g.pw, g.H, g.W};
  detail_winograd::run(p, dy, relu_y, w, true, static_cast<const T*>(nullptr), false, dx);
}

/// dw (overwritten) of conv2d_backward_naive for g with winograd_applies(g), by the adjoint of
/// the forward pass's transforms.  With relu_y (the output of a convolution fused with ReLU), dy
/// counts only where relu_y > 0.
template <class T>
void conv2d_weight_grad_winograd(const Conv2DGeometry& g, const T* x, const T* dy, T* dw, const T* relu_y = nullptr) {
  const detail_winograd::Problem p{g.kh, g.N, g.C, g.H, g.W, g.O, g.ph, g.pw, g.Ho, g.Wo};
  detail_winograd::run_weight_grad(p, x, dy, relu_y, dw);
}

}  // namespace gluino::kernels

// Precompiled mode (detail/precompiled.hpp): this header's float and double instantiations.
#define GLUINO_KERNELS_CONV2D_WINOGRAD_INSTANTIATIONS(X, T)                                    \
  X void conv2d_forward_winograd<T>(const Conv2DGeometry&, const T*, const T*, const T*, T*, bool); \
  X void conv2d_input_grad_winograd<T>(const Conv2DGeometry&, const T*, const T*, T*, const T*);  \
  X void conv2d_weight_grad_winograd<T>(const Conv2DGeometry&, const T*, const T*, T*, const T*);
namespace gluino::kernels {
GLUINO_EXTERN_INSTANTIATIONS(GLUINO_KERNELS_CONV2D_WINOGRAD_INSTANTIATIONS)
}  // namespace gluino::kernels
