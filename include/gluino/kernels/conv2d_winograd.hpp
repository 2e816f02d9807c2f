// SPDX-License-Identifier: Apache-2.0
#pragma once
/// 3x3 and 5x5 convolutions with stride 1 by Winograd's minimal filtering (Lavin and Gray, "Fast
/// Algorithms for Convolutional Neural Networks", 2016): F(4x4, 3x3) on 6x6 patches with the
/// interpolation points 0, 1, -1, 2, -2 and infinity, and F(4x4, 5x5) on 8x8 patches with 1/2 and
/// -1/2 too (the matrices are built from the points by Cook-Toom's construction, points(),
/// filter_matrix(), input_matrix(), output_matrix(); the transforms spell out their rows).  Each
/// 4x4 block of output pixels (a tile) is read from an A x A patch of the input (A = 4 + r - 1), and
///   y_tile = A^T [ (G g G^T) (.) (B^T d B) ] A
/// for an r x r filter g and the patch d ((.) element-wise; G is A x r, B^T A x A, A^T 4 x A).
/// Summed over input channels, the A * A element-wise products become A * A matrix products,
/// U_xi (O x C) * V_xi (C x tiles), with A * A multiply-adds per tile and channel pair where
/// im2col + GEMM needs 16 r r (36 against 144 for 3x3, 64 against 400 for 5x5), plus the
/// transforms, which are linear in C + O, not in C * O.  (5x5 filters took F(2x2, 5x5) on 6x6
/// patches before: 36 against 100 per 2x2 outputs, 2.25 times the products of F(4x4, 5x5);
/// AlexNet's training step ran 1.3x faster with the 8x8 patches, docs/performance.md.)
///
/// conv2d_forward (kernels/conv2d.hpp) takes this path when winograd_applies(g), and
/// conv2d_backward takes it for the input gradient, which for a stride-1 convolution is again
/// one: dy padded by r - 1 - p, with each filter rotated by 180 degrees and the channel axes
/// swapped.  The weight gradient is the adjoint of the forward pass in g: per filter
/// G^T [ sum over tiles of (A dy_tile A^T) (.) (B^T d B) ] G, again A * A products (O x tiles
/// times tiles x C).  The naive loops of conv2d.hpp are the reference the tests compare this with.
///
/// The tiles of all images are numbered in one sequence (so a batch of small images fills the
/// products as well as one large image does) and split over threads in contiguous ranges; each
/// thread runs its range a chunk of tiles at a time: input transform (per channel and group of
/// 16 tiles), the A * A products (product(): register tiles on filters packed once per call and
/// on V as the input transform wrote it, nothing copied per product; AlexNet's forward pass ran
/// 1.2x faster than on OpenBLAS's products), output transform (per output channel and group of
/// 16 tiles), with no barrier between chunks (one per call: on these shared machines a barrier
/// per phase cost more than the products).  The transforms work on 16 tiles at once so
/// that their arithmetic is vector code; where each group's tiles lie (TileGroup) is found once
/// per chunk and used for every channel.  Each channel of a chunk's input (and of dy, for the
/// weight gradient) is first copied with its zero padding spelled out (Bands; the input
/// gradient's ReLU mask applied there), so every patch lies inside its band and a group's 16
/// patches are read row by row as vectors and transposed in registers (gather_patches; element
/// by element, with bounds checks, the reads took half of the input transform); output tiles
/// are stored the same way (scatter_tiles).  The transformed filters (A * A * O * C, O rounded
/// up to blocks of 6) and each thread's V and M for a chunk (A * A * (C + O) per tile, at most
/// winograd_chunk_bytes together) come from the memory pool for the call.  The weight gradient
/// splits the output channels over the threads instead (each sums its rows of the transformed
/// gradient over all tiles, so no thread keeps partial sums of all A * A * O * C), and each
/// thread transforms every input tile; its products (a sum over tiles) stay single-threaded
/// GEMMs.
///
/// Rounding: the transforms multiply by up to 16 and 1/24 (6x6) or by 5.25, 8 and 0.125 with
/// G's rows divided by up to 4.5 (8x8), so results differ from the direct sum by more than
/// im2col's (float: up to about 1e-5 of the output's largest magnitude on AlexNet-like shapes,
/// for both patch sizes), far less than training noise.
#include <algorithm>
#include <array>
#include <cstddef>
#include <cstring>
#include <optional>
#include <type_traits>
#include <vector>

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

#include "gluino/core/parallel.hpp"
#include "gluino/core/storage.hpp"
#include "gluino/detail/precompiled.hpp"
#include "gluino/kernels/conv2d_wide.hpp"
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
  const std::size_t r = g.kh, m = 4, th = (g.Ho + m - 1) / m, tw = (g.Wo + m - 1) / m;
  return !g.generic && g.groups == 1 && g.sh == 1 && g.sw == 1 && g.dh == 1 && g.dw == 1 && g.ph < r && g.pw < r &&
         g.C >= 64 && g.O >= 64 && g.N * th * tw >= 32 && 3 * m * m * th * tw <= 4 * g.Ho * g.Wo;
}

namespace detail_winograd {

inline constexpr std::size_t lanes = 16;  // tiles transformed together (vector lanes of the transforms)

/// The output tile's side: F(4x4, 3x3) on 6x6 patches, F(4x4, 5x5) on 8x8.
inline constexpr std::size_t tile = 4;

/// One Winograd convolution: x (N, C, H, W), r x r filters (r = 3 or 5) to O channels, zero
/// padding (ph, pw), y (N, O, Ho, Wo) with Ho = H + 2 ph - r + 1, Wo = W + 2 pw - r + 1, in
/// tiles of m x m = 4 x 4 outputs, each from an alpha x alpha patch, alpha = m + r - 1.
struct Problem {
  std::size_t r, N, C, H, W, O, ph, pw, Ho, Wo;
  std::size_t m() const { return tile; }
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

/// The interpolation points of the finite rows of G, B^T and A^T for alpha x alpha patches
/// (Cook-Toom): 0, 1, -1, 2, -2 for alpha = 6, and 1/2, -1/2 too for alpha = 8; the last row of
/// each matrix is the point at infinity.
template <std::size_t A>
constexpr std::array<double, A - 1> points() {
  static_assert(A == 6 || A == 8, "Winograd patches are 6x6 or 8x8");
  if constexpr (A == 6) return {0, 1, -1, 2, -2};
  else return {0, 1, -1, 2, -2, 0.5, -0.5};
}

/// The coefficients (constant term first) of the product of (x - p) over the finite points p
/// other than points()[skip] (skip = A - 1: over all of them).
template <std::size_t A>
constexpr std::array<double, A> point_polynomial(std::size_t skip) {
  constexpr auto p = points<A>();
  std::array<double, A> c{};
  c[0] = 1;
  for (std::size_t j = 0; j + 1 < A; ++j) {
    if (j == skip) continue;
    for (std::size_t i = A - 1; i > 0; --i) c[i] = c[i - 1] - p[j] * c[i];  // times (x - p_j)
    c[0] = -p[j] * c[0];
  }
  return c;
}

/// G (A x R): row k < A - 1 is the powers 1, p, p^2, ... of p = points()[k] over the product of
/// (p - q) for the other finite points q; the last row (infinity) picks the last value.
template <std::size_t R, std::size_t A>
constexpr std::array<std::array<double, R>, A> filter_matrix() {
  constexpr auto p = points<A>();
  std::array<std::array<double, R>, A> G{};
  for (std::size_t k = 0; k + 1 < A; ++k) {
    double f = 1;
    for (std::size_t j = 0; j + 1 < A; ++j)
      if (j != k) f *= p[k] - p[j];
    double power = 1;
    for (std::size_t i = 0; i < R; ++i, power *= p[k]) G[k][i] = power / f;
  }
  G[A - 1][R - 1] = 1;
  return G;
}

/// B^T (A x A): row k < A - 1 holds the coefficients of the product of (x - q) over the finite
/// points q other than points()[k]; the last row, those of the product over all of them (for
/// alpha = 6, the rows input_rows spells out).
template <std::size_t A>
constexpr std::array<std::array<double, A>, A> input_matrix() {
  std::array<std::array<double, A>, A> B{};
  for (std::size_t k = 0; k < A; ++k) B[k] = point_polynomial<A>(k);
  return B;
}

/// A^T (tile x A): column k < A - 1 holds the powers 1, p, p^2, p^3 of p = points()[k]; the last
/// column (infinity) adds into the last output only.
template <std::size_t A>
constexpr std::array<std::array<double, A>, tile> output_matrix() {
  constexpr auto p = points<A>();
  std::array<std::array<double, A>, tile> At{};
  for (std::size_t k = 0; k + 1 < A; ++k) {
    double power = 1;
    for (std::size_t i = 0; i < tile; ++i, power *= p[k]) At[i][k] = power;
  }
  At[tile - 1][A - 1] = 1;
  return At;
}

/// The transpose of a K x J matrix.
template <std::size_t K, std::size_t J>
constexpr std::array<std::array<double, K>, J> transposed(const std::array<std::array<double, J>, K>& m) {
  std::array<std::array<double, K>, J> t{};
  for (std::size_t k = 0; k < K; ++k)
    for (std::size_t j = 0; j < J; ++j) t[j][k] = m[k][j];
  return t;
}

/// out[k * out_stride][l] = sum over j of Mx[k][j] in[j * in_stride][l] for the K rows of Mx
/// (K x J), on `lanes` tiles at once: one axis of a transform by a matrix.  The reference the
/// tests hold the spelled-out rows (input_rows, output_rows, input_rows8, ...) to; the kernels do
/// not use it (with it, AlexNet's 5x5 layer ran slower on 8x8 patches than on 6x6 ones).
template <std::size_t K, std::size_t J, class T>
inline void apply_matrix(const std::array<std::array<double, J>, K>& Mx, const T (*in)[lanes], std::size_t in_stride,
                         T (*out)[lanes], std::size_t out_stride) {
  for (std::size_t k = 0; k < K; ++k) {
    alignas(64) T acc[lanes] = {};
    for (std::size_t j = 0; j < J; ++j) {
      if (Mx[k][j] == 0) continue;
      const T c = static_cast<T>(Mx[k][j]);
      for (std::size_t l = 0; l < lanes; ++l) acc[l] += c * in[j * in_stride][l];
    }
    for (std::size_t l = 0; l < lanes; ++l) out[k * out_stride][l] = acc[l];
  }
}

/// Output rows per register tile of product(): 6 rows times wide_vectors vectors of sums.
inline constexpr std::size_t product_block = 6;
/// O rounded up to whole blocks of product_block rows.
inline std::size_t packed_rows(std::size_t O) { return (O + product_block - 1) / product_block * product_block; }
/// Where element (o, c) of an O x C matrix lies when packed for product(): blocks of
/// product_block rows, each C columns of product_block values.
inline std::size_t product_index(std::size_t o, std::size_t c, std::size_t C) {
  return (o / product_block) * C * product_block + c * product_block + o % product_block;
}

/// Columns of a register tile of product().
template <class T>
inline constexpr std::size_t product_columns = wide_vectors * wide_lanes<T>;

/// Input channels per pass of product(): a panel of V (product_depth x wide_vectors vectors, 32
/// KiB of floats) stays in the L1 cache while every block of output rows reads it.
inline constexpr std::size_t product_depth = 128;

/// Rows [0, nb) of a block of product_block rows of M at columns [0, NV * L): the packed block up
/// (C x product_block) times V's columns (rows ldv apart), added to M's values with `add`.
/// Vector sums in registers (the wide kernel's tile, kernels/conv2d_wide.hpp, on a plain matrix).
template <class T, std::size_t NV>
inline void product_tile(const T* up, const T* v, std::size_t ldv, std::size_t C, T* m, std::size_t ldm,
                         std::size_t nb, bool add) {
  using Vec = detail_wide::Vec<T>;
  constexpr std::size_t OB = product_block, L = wide_lanes<T>;
  Vec acc[OB][NV];
  for (std::size_t o = 0; o < OB; ++o)
    for (std::size_t k = 0; k < NV; ++k) {
      acc[o][k] = Vec{};
      if (add && o < nb) std::memcpy(&acc[o][k], m + o * ldm + k * L, sizeof(Vec));
    }
  for (std::size_t c = 0; c < C; ++c) {
    Vec xv[NV];
    for (std::size_t k = 0; k < NV; ++k) std::memcpy(&xv[k], v + c * ldv + k * L, sizeof(Vec));
    for (std::size_t o = 0; o < OB; ++o) {
      const T u = up[c * OB + o];
      for (std::size_t k = 0; k < NV; ++k) acc[o][k] += u * xv[k];
    }
  }
  for (std::size_t o = 0; o < nb; ++o)
    for (std::size_t k = 0; k < NV; ++k) std::memcpy(m + o * ldm + k * L, &acc[o][k], sizeof(Vec));
}

/// M (O x n, rows ldm apart) = U (O x C, packed: product_index) times V (C x n, rows ldv apart),
/// n a multiple of lanes (16).  The Winograd products without a BLAS: U is packed once per call
/// by transform_filters and V is written by the input transform in the order the tile reads it,
/// so nothing is copied per product (OpenBLAS packed both operands of each of the A * A
/// products of every chunk: 15% of AlexNet's convolutions).  product_naive is the reference.
template <class T>
void product(const T* U, std::size_t O, std::size_t C, const T* V, std::size_t ldv, std::size_t n, T* M,
             std::size_t ldm) {
  constexpr std::size_t L = wide_lanes<T>, NV = wide_vectors;
  static_assert(lanes % L == 0, "a group of tiles fills whole vectors");
  for (std::size_t p = 0, nv = 0; p < n; p += nv * L) {
    // whole tiles; one vector more than a tile splits into two tiles of 3 and 2 (a one-vector
    // tile does 6 multiply-adds per load)
    const std::size_t left = (n - p) / L;
    nv = left == NV + 1 && NV > 2 ? 3 : std::min(left, NV);
    for (std::size_t c0 = 0; c0 < C; c0 += product_depth) {
      const std::size_t kc = std::min(product_depth, C - c0);
      const T* const vp = V + c0 * ldv + p;
      for (std::size_t o0 = 0; o0 < O; o0 += product_block) {
        const std::size_t nb = std::min(product_block, O - o0);
        const T* const up = U + o0 * C + c0 * product_block;  // block o0 / product_block, from row c0
        T* const mp = M + o0 * ldm + p;
        if (nv == NV) product_tile<T, NV>(up, vp, ldv, kc, mp, ldm, nb, c0 > 0);
        if constexpr (NV > 1) if (nv == 1) product_tile<T, 1>(up, vp, ldv, kc, mp, ldm, nb, c0 > 0);
        if constexpr (NV > 2) if (nv == 2) product_tile<T, 2>(up, vp, ldv, kc, mp, ldm, nb, c0 > 0);
        if constexpr (NV > 3) if (nv == 3) product_tile<T, 3>(up, vp, ldv, kc, mp, ldm, nb, c0 > 0);
      }
    }
  }
}

/// product()'s reference: the plain triple loop, in double.
template <class T>
void product_naive(const T* U, std::size_t O, std::size_t C, const T* V, std::size_t ldv, std::size_t n, T* M,
                   std::size_t ldm) {
  for (std::size_t o = 0; o < O; ++o)
    for (std::size_t j = 0; j < n; ++j) {
      double sum = 0;
      for (std::size_t c = 0; c < C; ++c)
        sum += static_cast<double>(U[product_index(o, c, C)]) * static_cast<double>(V[c * ldv + j]);
      M[o * ldm + j] = static_cast<T>(sum);
    }
}

/// U[xi][o][c] = (G g G^T)[xi] for the R x R filter g of output o and input c: w[o][c]
/// (O, C, R, R), or, when `adjoint`, w[c][o] rotated by 180 degrees (w is then (C, O, R, R): the
/// filters of the input gradient), xi over the A * A = (4 + R - 1)^2 points, in product()'s
/// packed layout (product_index; xi blocks of packed_rows(O) * C, the rows past O zero).
/// Computed in double, 16 packed positions at a time (lane l: position i0 + l), so that the
/// arithmetic is vector code and each row of U is written 16 elements at a time (one filter at a
/// time, its 36 scattered stores took 7% of an AlexNet step; 16 filters in plain order, then
/// packed with stride-6 stores, 32% of AlexNet's fourth layer's forward).
template <std::size_t R, class T>
void transform_filters(const T* w, std::size_t O, std::size_t C, bool adjoint, T* U) {
  constexpr std::size_t A = tile + R - 1;
  static constexpr auto G = filter_matrix<R, A>();
  constexpr std::size_t RR = R * R;
  const std::size_t xi_stride = packed_rows(O) * C;  // the packed positions of one xi
  gluino::detail::parallel_for(
      (xi_stride + lanes - 1) / lanes,
      [&](std::size_t group) {
        // Lane l: packed position i0 + l (product_index order), so each row of U is written 16
        // elements at a time; a row past O (the last block's spare rows) transforms zeros.
        const std::size_t i0 = group * lanes, count = std::min(lanes, xi_stride - i0);
        alignas(64) double g[RR][lanes];
        alignas(64) double t[A * R][lanes];  // G g, row k at t[k * R + s]
        alignas(64) double u[A * A][lanes];
        for (std::size_t l = 0; l < lanes; ++l) {
          const std::size_t at = i0 + std::min(l, count - 1);  // spare lanes repeat the last position
          const std::size_t o = at / (C * product_block) * product_block + at % product_block;
          const std::size_t c = at / product_block % C;
          if (o >= O) {
            for (std::size_t k = 0; k < RR; ++k) g[k][l] = 0;
            continue;
          }
          const T* src = adjoint ? w + (c * O + o) * RR : w + (o * C + c) * RR;
          for (std::size_t k = 0; k < RR; ++k) g[k][l] = static_cast<double>(adjoint ? src[RR - 1 - k] : src[k]);
        }
        for (std::size_t k = 0; k < A; ++k)
          for (std::size_t s = 0; s < R; ++s)
            for (std::size_t l = 0; l < lanes; ++l) {
              double sum = 0;
              for (std::size_t j = 0; j < R; ++j) sum += G[k][j] * g[j * R + s][l];
              t[k * R + s][l] = sum;
            }
        for (std::size_t k = 0; k < A; ++k)  // (G g) G^T, row k
          for (std::size_t m = 0; m < A; ++m)
            for (std::size_t l = 0; l < lanes; ++l) {
              double sum = 0;
              for (std::size_t s = 0; s < R; ++s) sum += t[k * R + s][l] * G[m][s];
              u[k * A + m][l] = sum;
            }
        for (std::size_t k = 0; k < A * A; ++k)
          for (std::size_t l = 0; l < count; ++l) U[k * xi_stride + i0 + l] = static_cast<T>(u[k][l]);
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

/// B^T applied along one axis of 8 values (input_matrix<8>, points 0, +-1, +-2, +-1/2 and
/// infinity), in pairs of rows for each pair of points +-p: the even and odd terms once each.
template <class T>
inline void input_rows8(const T (*in)[lanes], std::size_t in_stride, T (*out)[lanes], std::size_t out_stride) {
  for (std::size_t l = 0; l < lanes; ++l) {
    T d[8];
    for (std::size_t j = 0; j < 8; ++j) d[j] = in[j * in_stride][l];
    out[0][l] = d[6] - d[0] + T(5.25) * (d[2] - d[4]);
    const T e1 = d[2] - T(4.25) * d[4] + d[6], o1 = d[1] - T(4.25) * d[3] + d[5];  // point +-1
    out[out_stride][l] = e1 + o1;
    out[2 * out_stride][l] = e1 - o1;
    const T e2 = T(0.25) * d[2] - T(1.25) * d[4] + d[6], o2 = T(0.5) * d[1] - T(2.5) * d[3] + T(2) * d[5];  // +-2
    out[3 * out_stride][l] = e2 + o2;
    out[4 * out_stride][l] = e2 - o2;
    const T e3 = T(4) * d[2] - T(5) * d[4] + d[6], o3 = T(2) * d[1] - T(2.5) * d[3] + T(0.5) * d[5];  // +-1/2
    out[5 * out_stride][l] = e3 + o3;
    out[6 * out_stride][l] = e3 - o3;
    out[7 * out_stride][l] = d[7] - d[1] + T(5.25) * (d[3] - d[5]);
  }
}

/// A^T applied along one axis of 8 values (output_matrix<8>): 4 outputs.
template <class T>
inline void output_rows8(const T (*in)[lanes], std::size_t in_stride, T (*out)[lanes], std::size_t out_stride) {
  for (std::size_t l = 0; l < lanes; ++l) {
    T m[8];
    for (std::size_t j = 0; j < 8; ++j) m[j] = in[j * in_stride][l];
    const T a1 = m[1] + m[2], s1 = m[1] - m[2], a2 = m[3] + m[4], s2 = m[3] - m[4], a3 = m[5] + m[6],
            s3 = m[5] - m[6];
    out[0][l] = m[0] + a1 + a2 + a3;
    out[out_stride][l] = s1 + T(2) * s2 + T(0.5) * s3;
    out[2 * out_stride][l] = a1 + T(4) * a2 + T(0.25) * a3;
    out[3 * out_stride][l] = s1 + T(8) * s2 + T(0.125) * s3 + m[7];
  }
}

/// A (the transpose of output_matrix<8>) applied to 4 values: 8 outputs (transform_output_grads).
template <class T>
inline void adjoint_rows8(const T (*in)[lanes], std::size_t in_stride, T (*out)[lanes], std::size_t out_stride) {
  for (std::size_t l = 0; l < lanes; ++l) {
    const T v0 = in[0][l], v1 = in[in_stride][l], v2 = in[2 * in_stride][l], v3 = in[3 * in_stride][l];
    const T e1 = v0 + v2, o1 = v1 + v3, e2 = v0 + T(4) * v2, o2 = T(2) * v1 + T(8) * v3;
    const T e3 = v0 + T(0.25) * v2, o3 = T(0.5) * v1 + T(0.125) * v3;
    out[0][l] = v0;
    out[out_stride][l] = e1 + o1;
    out[2 * out_stride][l] = e1 - o1;
    out[3 * out_stride][l] = e2 + o2;
    out[4 * out_stride][l] = e2 - o2;
    out[5 * out_stride][l] = e3 + o3;
    out[6 * out_stride][l] = e3 - o3;
    out[7 * out_stride][l] = v3;
  }
}

/// out[k * stride + l] = v[k][l] for the K rows and all the lanes (a group's spare lanes hold
/// zeros: V and D have a whole number of groups per row, so the products need no ragged edge).
/// Copied with a constant length, so that it stays vector moves (a variable one became 36 calls
/// of memmove, 14% of VGG's second layer).
template <std::size_t K, class T>
inline void store_lanes(const T (*v)[lanes], T* out, std::size_t stride) {
  for (std::size_t k = 0; k < K; ++k)
    for (std::size_t l = 0; l < lanes; ++l) out[k * stride + l] = v[k][l];
}

/// One channel of a chunk's tiles, copied with the zero padding spelled out: for each image the
/// chunk's tiles touch, a band of rows from its first tile row's patches to its last one's, as
/// wide as the padded plane (the tile columns' patches), zeros outside the image and, with a
/// mask, where mask <= 0 (a fused ReLU's output).  Every patch of the chunk then lies inside
/// its band, with no bounds to check, and the band, filled right before the transform reads
/// it, is still in the cache (a padded copy of the whole input, made first, cost as much as
/// the bounds checks it saved).  The input transform's bands (patch side A = 4 + r - 1, the
/// convolution's padding) or the output gradient's (side 4, no padding: dy's rows and columns
/// rounded up to whole tiles).
struct Bands {
  std::size_t channels = 0, H = 0, W = 0, top = 0, left = 0;  ///< the planes (N, channels, H, W) and padding
  std::size_t side = 0, cols = 0;                              ///< the patches' side, the bands' row length
  std::size_t n0 = 0;                                           ///< the chunk's first image
  std::vector<std::size_t> first, rows, offset;                 ///< per image: first padded row, rows, where
  std::size_t size = 0;                                         ///< elements, with a vector's slack
  /// The bands of tiles t0 .. t0 + count - 1 of p (count >= 1).
  void layout(const Problem& p, std::size_t t0, std::size_t count) {
    const auto [na, ra, ca] = p.locate(t0);
    const auto [nb, rb, cb] = p.locate(t0 + count - 1);
    (void)ca, (void)cb;
    n0 = na;
    first.assign(nb - na + 1, 0), rows.assign(nb - na + 1, 0), offset.assign(nb - na + 1, 0);
    size = 0;
    for (std::size_t n = na; n <= nb; ++n) {
      const std::size_t r0 = n == na ? ra : 0, r1 = n == nb ? rb : p.th() - 1;  // tile rows
      first[n - na] = r0 * tile, rows[n - na] = (r1 - r0) * tile + side, offset[n - na] = size;
      size += rows[n - na] * cols;
    }
    size += 16;  // gather_patches reads 8 elements of each patch row
  }
  /// Where lane l of g's patch starts in buf.
  template <class T>
  const T* patch(const T* buf, const TileGroup& g, std::size_t l) const {
    const std::size_t i = g.image[l] - n0;
    return buf + offset[i] + (g.row[l] - first[i]) * cols + g.col[l];
  }
  /// Zeros the bands of this layout in buf (size elements): the padding, which fill() does not
  /// write, then stays zero for every channel.
  template <class T>
  void clear(T* buf) const {
    std::fill(buf, buf + size, T(0));
  }
  /// Channel c's image rows of x (N, channels, H, W) into buf's bands (cleared for this layout),
  /// zero where mask <= 0 when mask is given.
  template <class T>
  void fill(const T* x, const T* mask, std::size_t c, T* buf) const {
    for (std::size_t i = 0; i < first.size(); ++i) {
      const std::size_t plane = ((n0 + i) * channels + c) * H * W;
      const std::size_t h_end = std::min(first[i] + rows[i], top + H);  // padded rows; image row h - top
      for (std::size_t h = std::max(first[i], top); h < h_end; ++h) {
        const std::size_t at = plane + (h - top) * W;
        T* const dst = buf + offset[i] + (h - first[i]) * cols + left;
        detail_direct::copy_row(x + at, mask ? mask + at : nullptr, W, dst);  // conv2d_direct.hpp
      }
    }
  }
};
/// The bands transform_inputs reads (x (N, C, H, W) with p's padding).
inline Bands input_bands(const Problem& p) {
  Bands b;
  b.channels = p.C, b.H = p.H, b.W = p.W, b.top = p.ph, b.left = p.pw;
  b.side = tile + p.r - 1, b.cols = p.tw() * tile + p.r - 1;
  return b;
}
/// The bands transform_output_grads reads (dy (N, O, Ho, Wo)).
inline Bands output_grad_bands(const Problem& p) {
  Bands b;
  b.channels = p.O, b.H = p.Ho, b.W = p.Wo;
  b.side = tile, b.cols = p.tw() * tile;
  return b;
}

/// d[r * A + s][l] = patch[l][r * cols + s] for the A x A patches of the first `count` lanes, 0 in
/// the other lanes.  The lanes of a row of d come from 16 places: with AVX-512, for floats, each
/// patch row is read as a vector of 8 (for A < 8 past the patch, into the next elements of the
/// bands or their slack) and the 16 x 8 block transposed in registers (two 8 x 8 transposes side
/// by side, the halves of 512-bit vectors); elsewhere element by element.
template <std::size_t A, class T>
inline void gather_patches(const T* const* patch, std::size_t count, std::size_t cols, T (*d)[lanes]) {
#if defined(__AVX512F__)
  if constexpr (std::is_same_v<T, float> && A <= 8 && lanes == 16) {
    const __m512i lo = _mm512_setr_epi32(0, 1, 2, 3, 16, 17, 18, 19, 8, 9, 10, 11, 24, 25, 26, 27);
    const __m512i hi = _mm512_setr_epi32(4, 5, 6, 7, 20, 21, 22, 23, 12, 13, 14, 15, 28, 29, 30, 31);
    const auto keep = static_cast<__mmask16>((1u << count) - 1u);
    const float* at[lanes];
    for (std::size_t l = 0; l < lanes; ++l) at[l] = patch[l < count ? l : 0];  // spare lanes zeroed below
    for (std::size_t r = 0; r < A; ++r) {
      __m512 z[8];  // z[i]: patch i's row r in the low half, patch i + 8's in the high half
      for (std::size_t i = 0; i < 8; ++i)
        z[i] = _mm512_insertf32x8(_mm512_castps256_ps512(_mm256_loadu_ps(at[i] + r * cols)),
                                  _mm256_loadu_ps(at[i + 8] + r * cols), 1);
      __m512 t[8], u[8];
      for (std::size_t i = 0; i < 4; ++i) {  // the zero-masking forms: GCC 12 warns of the plain ones'
        t[2 * i] = _mm512_maskz_unpacklo_ps(0xFFFF, z[2 * i], z[2 * i + 1]);  // undefined operand
        t[2 * i + 1] = _mm512_maskz_unpackhi_ps(0xFFFF, z[2 * i], z[2 * i + 1]);
      }
      for (std::size_t i = 0; i < 2; ++i) {  // u[4 i + s]: column s of rows 4 i .. 4 i + 3 (and s + 4)
        u[4 * i] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], 0x44);
        u[4 * i + 1] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], 0xEE);
        u[4 * i + 2] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0x44);
        u[4 * i + 3] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0xEE);
      }
      for (std::size_t s = 0; s < 4; ++s) {
        _mm512_store_ps(d[r * A + s], _mm512_maskz_mov_ps(keep, _mm512_permutex2var_ps(u[s], lo, u[s + 4])));
        if (s + 4 < A)
          _mm512_store_ps(d[r * A + s + 4], _mm512_maskz_mov_ps(keep, _mm512_permutex2var_ps(u[s], hi, u[s + 4])));
      }
    }
    return;
  }
#endif
  for (std::size_t l = 0; l < lanes; ++l)
    for (std::size_t r = 0; r < A; ++r)
      for (std::size_t s = 0; s < A; ++s) d[r * A + s][l] = l < count ? patch[l][r * cols + s] : T(0);
}

/// V[xi][c][p0 + l] = (B^T d B)[xi] for tile l of group g, channel c of C; d is the tile's A x A
/// input patch (A = 4 + p.r - 1) in buf, channel c's bands (Bands::fill).  V's rows are ldv apart
/// and its xi blocks C * ldv.
template <std::size_t A, class T>
void transform_inputs(const Bands& bands, const T* buf, std::size_t c, std::size_t C, const TileGroup& g, T* V,
                      std::size_t ldv) {
  alignas(64) T d[A * A][lanes];
  alignas(64) T t[A * A][lanes];
  const T* patch[lanes] = {};
  for (std::size_t l = 0; l < g.count; ++l) patch[l] = bands.patch(buf, g, l);
  gather_patches<A>(patch, g.count, bands.cols, d);
  if constexpr (A == 6) {
    for (std::size_t s = 0; s < 6; ++s) input_rows<T>(d + s, 6, t + s, 6);  // B^T d: column s
    for (std::size_t k = 0; k < 6; ++k) input_rows<T>(t + k * 6, 1, d + k * 6, 1);  // (B^T d) B: row k
  } else {
    for (std::size_t s = 0; s < 8; ++s) input_rows8<T>(d + s, 8, t + s, 8);  // B^T d: column s
    for (std::size_t k = 0; k < 8; ++k) input_rows8<T>(t + k * 8, 1, d + k * 8, 1);  // (B^T d) B: row k
  }
  store_lanes<A * A>(d, V + c * ldv, C * ldv);
}

/// A^T applied along one axis of 6 values: 4 outputs.
template <class T>
inline void output_rows(const T (*in)[lanes], std::size_t in_stride, T (*out)[lanes], std::size_t out_stride) {
  for (std::size_t l = 0; l < lanes; ++l) {
    const T m0 = in[0][l], m1 = in[in_stride][l], m2 = in[2 * in_stride][l], m3 = in[3 * in_stride][l],
            m4 = in[4 * in_stride][l], m5 = in[5 * in_stride][l];
    const T a = m1 + m2, b = m1 - m2, c = m3 + m4, e = m3 - m4;
    out[0][l] = m0 + a + c;
    out[out_stride][l] = b + T(2) * e;
    out[2 * out_stride][l] = a + T(4) * c;
    out[3 * out_stride][l] = b + T(8) * e + m5;
  }
}

/// Lane l's 4 x 4 tile of m (m[i * 4 + j][l]: row i, column j) stored at out[l] + i * ld, rows
/// [0, rows[l]) and columns [0, cols[l]), for the first `count` lanes.  With AVX-512, for floats,
/// each row's 16 tile rows come from a 4 x 4 transpose in every 128-bit lane of the four vectors
/// m[4 i .. 4 i + 3] (then one 16-byte copy per tile row); elsewhere element by element.
template <class T>
inline void scatter_tiles(const T (*m)[lanes], T* const* out, const std::size_t* rows, const std::size_t* cols,
                          std::size_t count, std::size_t ld) {
  constexpr std::size_t M = tile;
#if defined(__AVX512F__)
  if constexpr (std::is_same_v<T, float> && lanes == 16 && M == 4) {
    for (std::size_t i = 0; i < M; ++i) {
      const __m512 a = _mm512_load_ps(m[4 * i]), b = _mm512_load_ps(m[4 * i + 1]);
      const __m512 c = _mm512_load_ps(m[4 * i + 2]), d = _mm512_load_ps(m[4 * i + 3]);
      const __m512 t0 = _mm512_maskz_unpacklo_ps(0xFFFF, a, b), t1 = _mm512_maskz_unpackhi_ps(0xFFFF, a, b);
      const __m512 t2 = _mm512_maskz_unpacklo_ps(0xFFFF, c, d), t3 = _mm512_maskz_unpackhi_ps(0xFFFF, c, d);
      alignas(64) float u[4][lanes];  // u[j][4 k ..]: row i of lane 4 k + j's tile
      _mm512_store_ps(u[0], _mm512_shuffle_ps(t0, t2, 0x44));
      _mm512_store_ps(u[1], _mm512_shuffle_ps(t0, t2, 0xEE));
      _mm512_store_ps(u[2], _mm512_shuffle_ps(t1, t3, 0x44));
      _mm512_store_ps(u[3], _mm512_shuffle_ps(t1, t3, 0xEE));
      for (std::size_t l = 0; l < count; ++l) {
        if (i >= rows[l]) continue;
        const float* src = &u[l % 4][4 * (l / 4)];
        if (cols[l] == M) {
          std::memcpy(out[l] + i * ld, src, M * sizeof(float));  // one 16-byte copy
        } else {
          for (std::size_t j = 0; j < cols[l]; ++j) out[l][i * ld + j] = src[j];  // no memmove call
        }
      }
    }
    return;
  }
#endif
  for (std::size_t l = 0; l < count; ++l)
    for (std::size_t i = 0; i < rows[l]; ++i)
      for (std::size_t j = 0; j < cols[l]; ++j) out[l][i * ld + j] = m[i * M + j][l];
}

/// y's 4 x 4 tiles of group g of output channel o from M[xi][o][p0 + l] (rows ldm apart,
/// xi blocks O * ldm, xi over A x A): A^T M A, plus bias, then max(., 0) when relu; pixels past
/// Ho, Wo dropped.
template <std::size_t A, class T>
void transform_outputs(const Problem& p, const T* Mx, std::size_t ldm, std::size_t o, const TileGroup& g, T bias,
                       bool relu, T* y) {
  constexpr std::size_t M = tile;
  const std::size_t count = g.count;
  alignas(64) T m[A * A][lanes];
  alignas(64) T t[A * M][lanes];
  const std::size_t xi_stride = p.O * ldm;
  for (std::size_t k = 0; k < A * A; ++k) {
    const T* in = Mx + k * xi_stride + o * ldm;
    for (std::size_t l = 0; l < lanes; ++l) m[k][l] = in[l];  // whole groups; spare lanes never stored
  }
  if constexpr (A == 6) {
    for (std::size_t s = 0; s < 6; ++s) output_rows<T>(m + s, 6, t + s, 6);  // A^T M: M x 6
    for (std::size_t k = 0; k < M; ++k) output_rows<T>(t + k * 6, 1, m + k * M, 1);  // (A^T M) A: M x M
  } else {
    for (std::size_t s = 0; s < 8; ++s) output_rows8<T>(m + s, 8, t + s, 8);  // A^T M: M x 8
    for (std::size_t k = 0; k < M; ++k) output_rows8<T>(t + k * 8, 1, m + k * M, 1);  // (A^T M) A: M x M
  }
  for (std::size_t k = 0; k < M * M; ++k)
    for (std::size_t l = 0; l < lanes; ++l) {
      const T v = m[k][l] + bias;
      m[k][l] = relu && v <= T(0) ? T(0) : v;  // NaN stays NaN, as nd::relu
    }
  T* out[lanes] = {};
  std::size_t rows[lanes] = {}, cols[lanes] = {};
  for (std::size_t l = 0; l < count; ++l) {
    out[l] = y + (g.image[l] * p.O + o) * p.Ho * p.Wo + g.row[l] * p.Wo + g.col[l];
    rows[l] = std::min(M, p.Ho - g.row[l]), cols[l] = std::min(M, p.Wo - g.col[l]);
  }
  scatter_tiles(m, out, rows, cols, count, p.Wo);
}

/// Tiles per chunk of run_filters (and of run_weight_grad_filters, with team 1): as many as
/// chunk_bytes holds at per_tile bytes each, at most a thread's share of NT tiles over `team`
/// threads, in whole groups of 16 tiles (V's and M's rows are whole groups long, so a chunk of
/// another count would write past its panel), and in whole register tiles of product()
/// (`columns` tiles) where a chunk holds one.
inline std::size_t chunk_tiles(std::size_t NT, std::size_t team, std::size_t per_tile, std::size_t chunk_bytes,
                               std::size_t columns) {
  const std::size_t step_big = std::max(lanes, (columns + lanes - 1) / lanes * lanes);
  const std::size_t step = chunk_bytes / per_tile >= step_big ? step_big : lanes;
  const std::size_t fit = std::max<std::size_t>(lanes, chunk_bytes / per_tile / step * step);
  const std::size_t per_thread = (NT + team - 1) / team;
  return std::min(fit, (per_thread + lanes - 1) / lanes * lanes);
}

/// y = the convolution of p (overwritten), with bias b (null: none) and max(y, 0) when relu;
/// x masked by `mask` when given (see transform_inputs); filters as transform_filters reads them.
/// Each thread takes a contiguous range of the tiles and runs it a chunk at a time through its own
/// V and M, with no barrier until the end; a chunk's V and M take at most chunk_bytes (tests pass
/// small ones to get many chunks).  R = p.r.
template <std::size_t R, class T>
void run_filters(const Problem& p, const T* x, const T* mask, const T* w, bool adjoint, const T* b, bool relu, T* y,
                 std::size_t chunk_bytes) {
  constexpr std::size_t A = tile + R - 1, AA = A * A;
  const std::size_t C = p.C, O = p.O, NT = p.tiles();
  if (NT == 0 || O == 0) return;
  const std::size_t u_stride = packed_rows(O) * C;  // U's xi blocks (packed for product)
  Storage<T> filters(AA * u_stride);
  T* const U = filters.data();
  transform_filters<R>(w, O, C, adjoint, U);
  const std::size_t groups_total = (NT + lanes - 1) / lanes;
  const int team = gluino::detail::team_size(groups_total, double(AA) * lanes * static_cast<double>(C * O));
  const std::size_t per_tile = AA * (C + O) * sizeof(T);
  const std::size_t chunk = chunk_tiles(NT, static_cast<std::size_t>(team), per_tile, chunk_bytes, product_columns<T>);
  const std::size_t panel = AA * (C + O) * chunk;
  Storage<T> work(panel * static_cast<std::size_t>(team));  // taken before the team starts
  gluino::detail::run_team(team, [&](int tid, int nt) {
    const auto t = static_cast<std::size_t>(tid), n = static_cast<std::size_t>(nt);
    const std::size_t first = NT * t / n, last = NT * (t + 1) / n;
    T* const Vp = work.data() + panel * t;
    T* const Mp = Vp + AA * C * chunk;
    std::vector<TileGroup> tg;
    Bands bands = input_bands(p);
    std::vector<T> buf;
    for (std::size_t t0 = first; t0 < last; t0 += chunk) {
      const std::size_t pc = std::min(chunk, last - t0), groups = (pc + lanes - 1) / lanes;
      const std::size_t ld = groups * lanes;  // whole groups: the spare lanes hold zeros
      tile_groups(p, t0, pc, tg);
      bands.layout(p, t0, pc);
      if (buf.size() < bands.size) buf.resize(bands.size);
      bands.clear(buf.data());
      for (std::size_t c = 0; c < C; ++c) {
        bands.fill(x, mask, c, buf.data());
        for (std::size_t gi = 0; gi < groups; ++gi)
          transform_inputs<A>(bands, buf.data(), c, C, tg[gi], Vp + gi * lanes, ld);
      }
      for (std::size_t xi = 0; xi < AA; ++xi)
        product(U + xi * u_stride, O, C, Vp + xi * C * ld, ld, ld, Mp + xi * O * ld, ld);
      for (std::size_t o = 0; o < O; ++o) {
        const T bias = b ? b[o] : T(0);
        for (std::size_t gi = 0; gi < groups; ++gi)
          transform_outputs<A>(p, Mp + gi * lanes, ld, o, tg[gi], bias, relu, y);
      }
    }
  });
}

/// run_filters for p's filter size.
template <class T>
void run(const Problem& p, const T* x, const T* mask, const T* w, bool adjoint, const T* b, bool relu, T* y,
         std::size_t chunk_bytes = winograd_chunk_bytes) {
  if (p.r == 5) run_filters<5>(p, x, mask, w, adjoint, b, relu, y, chunk_bytes);
  else run_filters<3>(p, x, mask, w, adjoint, b, relu, y, chunk_bytes);
}

/// The adjoint of transform_outputs: D[xi][o][p0 + l] = (A g A^T)[xi] for the 4 x 4 tile g of dy
/// of one output channel, the tiles of group g, xi over A x A, read from buf, that channel's
/// bands (output_grad_bands: zeros past Ho, Wo and where a fused ReLU's output is not positive).
/// A's row k (point 0, 1, -1, 2, -2, ...) is 1, p, p^2, p^3; the last row (infinity) picks the
/// tile's last value.  D's rows are ldd apart and its xi blocks od * ldd (od: the output
/// channels of this D).
template <std::size_t A, class T>
void transform_output_grads(const Bands& bands, const T* buf, const TileGroup& g, T* D, std::size_t ldd,
                            std::size_t od) {
  constexpr std::size_t M = tile;
  alignas(64) T gt[M * M][lanes];
  alignas(64) T t[A * M][lanes];
  alignas(64) T d[A * A][lanes];
  const T* patch[lanes] = {};
  for (std::size_t l = 0; l < g.count; ++l) patch[l] = bands.patch(buf, g, l);
  gather_patches<M>(patch, g.count, bands.cols, gt);
  const auto apply_a = [](const T (*in)[lanes], std::size_t in_stride, T (*out)[lanes], std::size_t out_stride) {
    for (std::size_t l = 0; l < lanes; ++l) {  // 6 points
      T v[M];
      for (std::size_t i = 0; i < M; ++i) v[i] = in[i * in_stride][l];
      const T even = v[0] + v[2], odd = v[1] + v[3];  // sums at points 1 and 2
      const T even2 = v[0] + T(4) * v[2], odd2 = T(2) * v[1] + T(8) * v[3];
      out[0][l] = v[0];
      out[out_stride][l] = even + odd;
      out[2 * out_stride][l] = even - odd;
      out[3 * out_stride][l] = even2 + odd2;
      out[4 * out_stride][l] = even2 - odd2;
      out[5 * out_stride][l] = v[M - 1];
    }
  };
  if constexpr (A == 6) {
    for (std::size_t j = 0; j < M; ++j) apply_a(gt + j, M, t + j, M);  // A g: 6 x M, column j
    for (std::size_t k = 0; k < 6; ++k) apply_a(t + k * M, 1, d + k * 6, 1);  // (A g) A^T: row k
  } else {
    for (std::size_t j = 0; j < M; ++j) adjoint_rows8<T>(gt + j, M, t + j, M);  // A g: 8 x M, column j
    for (std::size_t k = 0; k < 8; ++k) adjoint_rows8<T>(t + k * M, 1, d + k * 8, 1);  // (A g) A^T: row k
  }
  const std::size_t xi_stride = od * ldd;
  store_lanes<A * A>(d, D, xi_stride);
}

/// dw (O, C, R, R), overwritten, from dU[xi][o][c] = sum over tiles of D (.) V: the adjoint of
/// transform_filters, G^T dU G per filter, in double, 16 filters at a time as there.
template <std::size_t R, class T>
void untransform_filters(const T* dU, std::size_t O, std::size_t C, T* dw) {
  constexpr std::size_t A = tile + R - 1;
  static constexpr auto G = filter_matrix<R, A>();
  const std::size_t OC = O * C;
  gluino::detail::parallel_for(
      (OC + lanes - 1) / lanes,
      [&](std::size_t group) {
        const std::size_t f0 = group * lanes, count = std::min(lanes, OC - f0);
        alignas(64) double v[A * A][lanes];
        alignas(64) double t[R * A][lanes];  // G^T dU, row i at t[i * A + m]
        for (std::size_t k = 0; k < A * A; ++k)  // spare lanes repeat the last filter
          for (std::size_t l = 0; l < lanes; ++l)
            v[k][l] = static_cast<double>(dU[k * OC + f0 + std::min(l, count - 1)]);
        for (std::size_t i = 0; i < R; ++i)
          for (std::size_t m = 0; m < A; ++m)
            for (std::size_t l = 0; l < lanes; ++l) {
              double sum = 0;
              for (std::size_t k = 0; k < A; ++k) sum += G[k][i] * v[k * A + m][l];
              t[i * A + m][l] = sum;
            }
        for (std::size_t l = 0; l < count; ++l) {
          T* out = dw + (f0 + l) * R * R;
          for (std::size_t i = 0; i < R; ++i)
            for (std::size_t j = 0; j < R; ++j) {
              double sum = 0;
              for (std::size_t m = 0; m < A; ++m) sum += t[i * A + m][l] * G[m][j];
              out[i * R + j] = static_cast<T>(sum);
            }
        }
      },
      64 * R * lanes);
}

/// How run_weight_grad_filters splits its work over `team` threads: by tiles, each thread summing
/// dU over its own range of the tiles into a partial of its own (A x A x O x C elements), the
/// partials added at the end; else by output channels, each thread summing its rows of dU over
/// all the tiles, which needs no partial sums but has every thread transform every input tile.
/// By tiles when there are at least 4 tiles per output channel (the input transform repeated
/// per thread then outweighs adding up the partials: VGG-11/4's 64- and 128-channel layers,
/// AlexNet's second) and a partial takes at most winograd_partial_bytes; by channels otherwise
/// (AlexNet's 12x12 layers: 288 tiles a batch of 32 against 256-384 channels).
inline constexpr std::size_t winograd_partial_bytes = std::size_t(8) << 20;
inline bool weight_grad_splits_tiles(const Problem& p, std::size_t AA, std::size_t elem_bytes, int team) {
  return team > 1 && p.tiles() >= 4 * p.O && AA * p.O * p.C * elem_bytes <= winograd_partial_bytes;
}

/// dw (overwritten) of the convolution p given dy (N, O, Ho, Wo), masked by `mask` when given:
/// dU[xi] (O x C) = sum over tiles of D[xi] (O x tiles) V[xi]^T (tiles x C), then G^T dU G.  The
/// threads split the tiles or the output channels (weight_grad_splits_tiles); either way each
/// thread runs its share a chunk at a time through its own V and D, and each product adds into
/// its thread's sums.  R = p.r.
template <std::size_t R, class T>
void run_weight_grad_filters(const Problem& p, const T* x, const T* dy, const T* mask, T* dw, std::size_t chunk_bytes) {
  constexpr std::size_t A = tile + R - 1, AA = A * A;
  const std::size_t C = p.C, O = p.O, NT = p.tiles();
  if (O == 0 || C == 0) return;
  if (NT == 0) {
    std::fill(dw, dw + O * C * R * R, T(0));
    return;
  }
  const std::size_t grad_size = AA * O * C;
  Storage<T> grads(grad_size);
  T* const dU = grads.data();
  const int team = gluino::detail::team_size(O, double(AA) * static_cast<double>(C * NT));
  const auto threads = static_cast<std::size_t>(team);
  const bool by_tiles = weight_grad_splits_tiles(p, AA, sizeof(T), team);
  const std::size_t most_o = by_tiles ? O : (O + threads - 1) / threads;
  const std::size_t per_tile = AA * (C + most_o) * sizeof(T);
  // by channels every thread sums over all the tiles; the products are OpenBLAS's (whole groups suffice)
  const std::size_t chunk = chunk_tiles(NT, by_tiles ? threads : 1, per_tile, chunk_bytes, lanes);
  const std::size_t panel = AA * (C + most_o) * chunk;
  Storage<T> work(panel * threads);  // taken before the team starts
  std::optional<Storage<T>> partials;  // threads 1.. when splitting the tiles
  if (by_tiles) partials.emplace(grad_size * (threads - 1));
  std::size_t used = 1;  // the team OpenMP gave (it may give fewer threads than asked)
  gluino::detail::run_team(team, [&](int tid, int nt) {
    const auto t = static_cast<std::size_t>(tid), n = static_cast<std::size_t>(nt);
    if (t == 0) used = n;
    // By channels, the shares of the threads asked for (at most most_o channels, what a panel
    // holds): several each when OpenMP gave fewer.
    const std::size_t s0 = by_tiles ? 0 : threads * t / n, s1 = by_tiles ? 1 : threads * (t + 1) / n;
    for (std::size_t s = s0; s < s1; ++s) {
      const std::size_t o0 = by_tiles ? 0 : O * s / threads, o1 = by_tiles ? O : O * (s + 1) / threads;
      const std::size_t od = o1 - o0;
      const std::size_t first = by_tiles ? NT * t / n : 0, last = by_tiles ? NT * (t + 1) / n : NT;
      T* const sums = by_tiles && t > 0 ? partials->data() + grad_size * (t - 1) : dU;
      if (first == last) std::fill(sums, sums + grad_size, T(0));  // a thread without tiles adds zeros
      T* const Vp = work.data() + panel * t;
      T* const Dp = Vp + AA * C * chunk;
      std::vector<TileGroup> tg;
      Bands bands = input_bands(p), dy_bands = output_grad_bands(p);
      std::vector<T> buf, dy_buf;
      for (std::size_t t0 = first; t0 < last; t0 += chunk) {
        const std::size_t pc = std::min(chunk, last - t0), groups = (pc + lanes - 1) / lanes;
        const std::size_t ld = groups * lanes;  // whole groups: the spare lanes hold zeros
        tile_groups(p, t0, pc, tg);
        bands.layout(p, t0, pc);
        dy_bands.layout(p, t0, pc);
        if (buf.size() < bands.size) buf.resize(bands.size);
        if (dy_buf.size() < dy_bands.size) dy_buf.resize(dy_bands.size);
        bands.clear(buf.data());
        dy_bands.clear(dy_buf.data());
        for (std::size_t c = 0; c < C; ++c) {
          bands.fill(x, static_cast<const T*>(nullptr), c, buf.data());
          for (std::size_t gi = 0; gi < groups; ++gi)
            transform_inputs<A>(bands, buf.data(), c, C, tg[gi], Vp + gi * lanes, ld);
        }
        for (std::size_t o = o0; o < o1; ++o) {
          dy_bands.fill(dy, mask, o, dy_buf.data());
          for (std::size_t gi = 0; gi < groups; ++gi)
            transform_output_grads<A>(dy_bands, dy_buf.data(), tg[gi], Dp + (o - o0) * ld + gi * lanes, ld, od);
        }
        for (std::size_t xi = 0; xi < AA && od > 0; ++xi)
          gemm(false, true, od, C, pc, T(1), Dp + xi * od * ld, ld, Vp + xi * C * ld, ld, t0 == first ? T(0) : T(1),
               sums + xi * O * C + o0 * C, C);
      }
    }
  });
  if (by_tiles && used > 1)  // dU += the other threads' partial sums
    gluino::detail::parallel_for(
        grad_size,
        [&](std::size_t i) {
          T sum = dU[i];
          for (std::size_t k = 0; k + 1 < used; ++k) sum += partials->data()[grad_size * k + i];
          dU[i] = sum;
        },
        used);
  untransform_filters<R>(dU, O, C, dw);
}

/// run_weight_grad_filters for p's filter size.
template <class T>
void run_weight_grad(const Problem& p, const T* x, const T* dy, const T* mask, T* dw,
                     std::size_t chunk_bytes = winograd_chunk_bytes) {
  if (p.r == 5) run_weight_grad_filters<5>(p, x, dy, mask, dw, chunk_bytes);
  else run_weight_grad_filters<3>(p, x, dy, mask, dw, chunk_bytes);
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
