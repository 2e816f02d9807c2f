// SPDX-License-Identifier: Apache-2.0
#pragma once
/// Direct 2-D convolution over "wide rows" for stride-1 layers (LeNet's second: 20 -> 50
/// channels, 3x3, 12x12, where the column matrix of im2col + GEMM is small (100 columns) and
/// unfolding and packing it each call costs as much as the product; VGG-11/4's second and third).
///
/// The image is copied into a zero-bordered buffer whose rows share their side borders: pw zeros
/// before each row serve as its left border and as the row above's right one, so the row pitch
/// is Wp = W + pw (wide_pitch; W + pw + 1 - kw zeros more after each row should the padding be
/// wider than the filter).  Output pixel (oh, ow) is given the index q = oh * Wp + ow; the input
/// element that filter tap (c, i, j) multiplies into it is then buf[c * plane + q + i * Wp + j],
/// for every pixel of the image the same offset from q.  So a vector of consecutive q is one
/// unaligned load per tap, also across the end of an output row: the Wp - Wo indexes past a
/// row's end are computed and dropped (the "wide" rows: LeNet's conv2 computes 12 of each 10
/// pixels; its input gradient, a full correlation of 10x10 planes bordered by 2, 12 of each
/// 12).  A register tile holds wide_block_for(O) (5 or 6) output channels x wide_vectors vectors
/// of q: each tap loads them once and adds each channel's weight times them, as a GEMM
/// micro-kernel whose second operand is read straight from the image.  The filters are packed
/// so that a block's weights of one tap lie together (direct_wide_pack).
///
/// Forward pass and input gradient (the same kernel on dy with the filters rotated), and the
/// weight gradient in the same layout (conv2d_weight_grad_direct_wide: dy at the image's row
/// pitch, vector sums over q); conv2d.hpp decides when to use them (direct_wide_applies,
/// direct_wide_input_grad_applies, direct_wide_weight_grad_applies), the forward pass for
/// whole images and for bands of output rows (a graph's team schedule, a batch smaller than the
/// thread count).
/// Needs GCC or Clang (vector extensions), as the other direct kernels.
#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <mutex>
#include <type_traits>
#include <vector>
#if defined(__AVX512F__)
#include <immintrin.h>
#endif

#include "gluino/core/parallel.hpp"
#include "gluino/core/storage.hpp"
#include "gluino/detail/precompiled.hpp"
#include "gluino/kernels/conv2d_direct.hpp"
#include "gluino/kernels/im2col.hpp"
#include "gluino/kernels/pool.hpp"

namespace gluino::kernels {

/// Bytes of the vectors the wide kernel computes on: 64 where AVX-512 gives 32 such registers,
/// 32 otherwise (AVX2's 16 registers; without AVX the compiler splits them in halves).
#if defined(__AVX512F__)
inline constexpr std::size_t wide_bytes = 64;
inline constexpr std::size_t wide_vectors = 4;  ///< vectors of q per register tile
#else
inline constexpr std::size_t wide_bytes = 32;
inline constexpr std::size_t wide_vectors = 2;
#endif
/// Lanes of T per vector.
template <class T>
inline constexpr std::size_t wide_lanes = wide_bytes / sizeof(T);
/// Most output channels per register tile: wide_vectors * 6 sums and wide_vectors loaded
/// vectors take 28 of AVX-512's 32 registers, 14 of AVX2's 16.  Blocks of 5 or 6 only: blocks of
/// 4 ran at half their speed (70 against 150 GFLOP/s on one core, AMD EPYC with AVX-512).
inline constexpr std::size_t wide_max_block = 6;

/// The layout the wide kernel works in for g: padded input planes, the block of output
/// channels per tile, and the sizes of the two buffers it needs (elements of T).
struct WideLayout {
  std::size_t Hp = 0, Wp = 0, plane = 0;  ///< padded input rows, row pitch (wide_pitch), plane size
  std::size_t right = 0;                  ///< zeros after each row (besides the next one's pw)
  std::size_t block = 0;                  ///< output channels per register tile (5 or 6)
  std::size_t padded = 0;                 ///< the zero-bordered image plus a tile and pw of slack
  std::size_t packed = 0;                 ///< the packed filters (O rounded up to the block)
};

/// The block of output channels for O channels: 6 or 5, the one that rounds O up the least (6
/// on a tie: more sums per loaded vector).
inline std::size_t wide_block_for(std::size_t O) {
  std::size_t best = wide_max_block, best_waste = static_cast<std::size_t>(-1);
  for (std::size_t b = wide_max_block; b >= 5; --b) {
    const std::size_t waste = (O + b - 1) / b * b - O;
    if (waste < best_waste) best = b, best_waste = waste;
  }
  return best;
}

/// Zeros after each padded row besides the next row's pw leading ones: enough for the output
/// row, Wo <= Wp (0 unless the padding is as wide as the filter).
inline std::size_t wide_right_zeros(const Conv2DGeometry& g) { return g.pw + 1 > g.kw ? g.pw + 1 - g.kw : 0; }
/// The row pitch of the wide layout: W + pw + wide_right_zeros(g).
inline std::size_t wide_pitch(const Conv2DGeometry& g) { return g.W + g.pw + wide_right_zeros(g); }

template <class T>
WideLayout wide_layout(const Conv2DGeometry& g) {
  WideLayout l;
  l.right = wide_right_zeros(g);
  l.Hp = g.H + 2 * g.ph, l.Wp = wide_pitch(g), l.plane = l.Hp * l.Wp;
  l.block = wide_block_for(g.O);
  // A tile's last lanes may reach one tile past the last pixel's index in the last plane, and the
  // last row's right border pw - right zeros past the plane.
  l.padded = g.C * l.plane + wide_vectors * wide_lanes<T> + g.pw;
  l.packed = (g.O + l.block - 1) / l.block * l.block * g.K();
  return l;
}

/// The output pixels the wide kernel computes for each one it keeps, on one image: the wide
/// rows (Wp / Wo) and the last tile's rounding.  1 means no waste.
inline double wide_overhead(const Conv2DGeometry& g, std::size_t lanes) {
  const std::size_t Wp = wide_pitch(g), span = (g.Ho - 1) * Wp + g.Wo, tile = wide_vectors * lanes;
  return static_cast<double>((span + tile - 1) / tile * tile) / static_cast<double>(g.P());
}

/// The most bytes a thread's zero-bordered copy of one image may take (as im2col's panels).
inline constexpr std::size_t wide_image_bytes = std::size_t(8) << 20;

/// True when the wide kernel computes g's forward pass: no groups, stride and dilation 1, a
/// filter larger than 1x1 (the pointwise product takes those), at most a third of the computed
/// pixels dropped (wide_overhead), the padded image within wide_image_bytes, and one input
/// channel only on images of at most 32x32 outputs.  Where it was measured (bench_conv2d's
/// BM_Conv2D_Wide, docs/performance.md) it beat im2col + GEMM on every layer with several input
/// channels (1.4-2.1x), the small-channel kernel on VGG-11/4's second layer (1.3x) and the
/// single-channel kernel on LeNet's first, not on VGG's 224x224 first layer (hence the limit).
/// conv2d.hpp asks the depthwise and Winograd kernels first.
template <class T>
bool direct_wide_applies(const Conv2DGeometry& g) {
  if (g.generic || g.groups != 1 || g.sh != 1 || g.sw != 1 || g.dh != 1 || g.dw != 1 || (g.kh == 1 && g.kw == 1) ||
      g.O == 0 || g.P() == 0 || (g.C == 1 && (g.Ho > 32 || g.Wo > 32)))
    return false;
  const double image = static_cast<double>(g.C) * static_cast<double>(g.H + 2 * g.ph) *
                       static_cast<double>(wide_pitch(g)) * static_cast<double>(sizeof(T));
  return image <= static_cast<double>(wide_image_bytes) && wide_overhead(g, wide_lanes<T>) <= 4.0 / 3.0;
}

/// Filters w (O, C, kh, kw) packed for the wide kernel on geometry g: blocks of l.block output
/// channels (the last one zero-filled past O), each block tap by tap, so that one tap's weights
/// of a block lie together: packed[((blk * C + c) * kh * kw + tap) * block + o] =
/// w[blk * block + o, c, tap].  With `rotate`, g is the input gradient's geometry
/// (input_grad_geometry: its C the forward's O and its O the forward's C) and w the forward's
/// filters (g.C, g.O, kh, kw), packed rotated by 180 degrees with the channel axes swapped.
template <class T>
void direct_wide_pack(const Conv2DGeometry& g, const WideLayout& l, const T* w, T* packed, bool rotate = false) {
  const std::size_t taps = g.kh * g.kw, B = l.block, blocks = (g.O + B - 1) / B;
  // Written in order, each block reading B rows of w side by side: 1.4 us for LeNet's conv2,
  // where a loop in w's order with a division per element took 2.1 (the team schedule keeps
  // the packing across runs, graph/team.hpp).
  T* dst = packed;
  for (std::size_t blk = 0; blk < blocks; ++blk)
    for (std::size_t c = 0; c < g.C; ++c)
      for (std::size_t t = 0; t < taps; ++t)
        for (std::size_t ob = 0; ob < B; ++ob) {
          const std::size_t o = blk * B + ob;
          *dst++ = o >= g.O ? T(0) : rotate ? w[(c * g.O + o) * taps + taps - 1 - t] : w[(o * g.C + c) * taps + t];
        }
}

/// Entries and largest filter array (elements) of WidePackCache: LeNet's and VGG-11/4's wide
/// layers fit; larger filters are packed per call (a larger batch's convolution costs far more).
inline constexpr std::size_t wide_pack_cache_entries = 8;
inline constexpr std::size_t wide_pack_cache_elements = std::size_t(64) << 10;

/// Filters packed by direct_wide_pack, kept across calls of conv2d_forward (kernels/conv2d.hpp):
/// at batch 1, packing LeNet's second filters (9,000 weights) took 5.5 us against the
/// convolution's 20-30 (docs/performance.md), and the team's other thread then read the new
/// packing from the packing thread's cache.  An entry per filter array (its address and
/// geometry) holds a copy of the weights it packed and is used only while the array still holds
/// exactly those (compared at every use: a change through gluino's API or through a raw
/// pointer packs again, as does another array at a freed one's address).  At most
/// wide_pack_cache_entries entries of at most wide_pack_cache_elements weights each, the least
/// recently used replaced first.  Thread-safe (a mutex; an entry handed out stays valid while
/// its caller holds it).  One cache a process: instance().
template <class T>
class WidePackCache {
 public:
  using Packed = std::shared_ptr<const std::vector<T>>;
  /// The packing of filters w (g.O * g.K() elements) for g and l = wide_layout<T>(g).
  Packed get(const Conv2DGeometry& g, const WideLayout& l, const T* w);
  /// How many packings get made (tests).
  std::size_t packings() const {
    const std::lock_guard<std::mutex> lock(mutex_);
    return packings_;
  }
  /// The process's cache (never destroyed: a call during static destruction still finds it).
  static WidePackCache& instance() {
    static WidePackCache* cache = new WidePackCache;
    return *cache;
  }

 private:
  struct Entry {
    const T* w = nullptr;
    std::size_t O = 0, C = 0, kh = 0, kw = 0, block = 0;
    std::vector<T> weights;  // what w held when packed
    Packed packed;
    std::uint64_t used = 0;  // the clock at the last use
  };
  mutable std::mutex mutex_;
  std::vector<Entry> entries_;
  std::uint64_t clock_ = 0;
  std::size_t packings_ = 0;
};

template <class T>
typename WidePackCache<T>::Packed WidePackCache<T>::get(const Conv2DGeometry& g, const WideLayout& l, const T* w) {
  const std::size_t n = g.O * g.K();
  const auto same_key = [&](const Entry& e) {
    return e.w == w && e.O == g.O && e.C == g.C && e.kh == g.kh && e.kw == g.kw && e.block == l.block;
  };
  const std::lock_guard<std::mutex> lock(mutex_);
  ++clock_;
  Entry* slot = nullptr;  // the entry to replace: this key's, else the least recently used one
  for (Entry& e : entries_) {
    if (same_key(e)) {
      if (std::memcmp(e.weights.data(), w, n * sizeof(T)) == 0) {
        e.used = clock_;
        return e.packed;
      }
      slot = &e;
      break;
    }
    if (!slot || e.used < slot->used) slot = &e;
  }
  // Built aside first: a std::bad_alloc leaves the cache as it was.
  auto packed = std::make_shared<std::vector<T>>(l.packed);
  direct_wide_pack(g, l, w, packed->data());
  const Packed result = packed;
  Entry fresh{w, g.O, g.C, g.kh, g.kw, l.block, std::vector<T>(w, w + n), std::move(packed), clock_};
  if (slot && (same_key(*slot) || entries_.size() >= wide_pack_cache_entries))
    *slot = std::move(fresh);
  else
    entries_.push_back(std::move(fresh));
  ++packings_;
  return result;
}

/// w packed for the wide kernel on g, kept across calls by WidePackCache when small enough
/// (wide_pack_cache_elements); null when larger (the caller packs into its workspace).  What
/// conv2d_forward and conv2d_max_pool_forward (kernels/conv2d_pool.hpp) use: the fused one
/// packed at every call, 3.5 of the 48 us of a batch-1 LeNet on one thread (AMD EPYC, AVX-512).
template <class T>
typename WidePackCache<T>::Packed cached_wide_packing(const Conv2DGeometry& g, const T* w) {
  if (g.O * g.K() > wide_pack_cache_elements) return nullptr;
  return WidePackCache<T>::instance().get(g, wide_layout<T>(g), w);
}

/// The input gradient of a stride-1 convolution g as a convolution the wide kernel computes:
/// dy (N, O, Ho, Wo) padded by kh - 1 - ph and kw - 1 - pw, with g's filters rotated and their
/// channel axes swapped, gives dx (N, C, H, W).  Requires padding below the filter size.
inline Conv2DGeometry input_grad_geometry(const Conv2DGeometry& g) {
  Conv2DGeometry d;
  d.N = g.N, d.C = g.O, d.H = g.Ho, d.W = g.Wo, d.O = g.C;
  d.kh = g.kh, d.kw = g.kw, d.ph = g.kh - 1 - g.ph, d.pw = g.kw - 1 - g.pw;
  d.infer_output();
  return d;
}

/// True when conv2d_input_grad_direct_wide computes g's input gradient: g stride-1 without
/// dilation or groups, padding below the filter size, and the wide kernel applying to the
/// input gradient's geometry.
template <class T>
bool direct_wide_input_grad_applies(const Conv2DGeometry& g) {
  return !g.generic && g.groups == 1 && g.sh == 1 && g.sw == 1 && g.dh == 1 && g.dw == 1 && g.ph < g.kh &&
         g.pw < g.kw && g.P() > 0 && direct_wide_applies<T>(input_grad_geometry(g));
}

namespace detail_wide {
template <class T>
struct VecOf;
template <>
struct VecOf<float> {
  typedef float type __attribute__((vector_size(wide_bytes)));
};
template <>
struct VecOf<double> {
  typedef double type __attribute__((vector_size(wide_bytes)));
};
template <class T>
using Vec = typename VecOf<T>::type;

/// Lanes [a, b) of vector v of a tile, kept pixels of one output row: stored to y_o + dst for
/// each output channel's plane y_o.
struct Segment {
  std::size_t v, a, b, dst;
};

/// Stores lanes [a, b) of v to p[0, b - a).  AVX-512: the lanes compressed to the bottom and one
/// masked store (a copy through memory and a loop where that is missing).
template <class T>
inline void store_lanes(T* p, const Vec<T>& v, std::size_t a, std::size_t b) {
  if (a == 0 && b == wide_lanes<T>) {  // a whole vector in one row: a plain store
    std::memcpy(p, &v, sizeof v);
    return;
  }
#if defined(__AVX512F__)
  if constexpr (sizeof(Vec<T>) == 64 && std::is_same_v<T, float>) {
    const auto keep = static_cast<__mmask16>(((1u << (b - a)) - 1u) << a);
    _mm512_mask_storeu_ps(p, static_cast<__mmask16>((1u << (b - a)) - 1u),
                          _mm512_maskz_compress_ps(keep, reinterpret_cast<const __m512&>(v)));
    return;
  } else if constexpr (sizeof(Vec<T>) == 64 && std::is_same_v<T, double>) {
    const auto keep = static_cast<__mmask8>(((1u << (b - a)) - 1u) << a);
    _mm512_mask_storeu_pd(p, static_cast<__mmask8>((1u << (b - a)) - 1u),
                          _mm512_maskz_compress_pd(keep, reinterpret_cast<const __m512d&>(v)));
    return;
  }
#endif
  T lanes[wide_lanes<T>];
  std::memcpy(lanes, &v, sizeof v);
  for (std::size_t i = a; i < b; ++i) p[i - a] = lanes[i];
}

/// Output channels [o0, o0 + OB) (the first nb of them real; the last block may have fewer) at
/// wide indexes [q, q + NV * L) of one padded image xp: the sums (bias first, ReLU last when
/// relu), each segment's lanes stored into the channel's plane y + o * P.
template <class T, std::size_t OB, std::size_t NV>
void tile(const T* xp, std::size_t C, const WideLayout& l, std::size_t kh, std::size_t kw, const T* wb, const T* b,
          std::size_t nb, bool relu, std::size_t q, const Segment* seg, std::size_t nseg, T* y, std::size_t P) {
  constexpr std::size_t L = wide_lanes<T>;
  const Vec<T> zero = {};
  Vec<T> acc[OB][NV];
  for (std::size_t o = 0; o < OB; ++o)
    for (std::size_t v = 0; v < NV; ++v) acc[o][v] = zero + (b && o < nb ? b[o] : T(0));
  for (std::size_t c = 0; c < C; ++c)
    for (std::size_t i = 0; i < kh; ++i) {
      const T* xr = xp + c * l.plane + i * l.Wp + q;
      const T* wr = wb + (c * kh + i) * kw * OB;
      for (std::size_t j = 0; j < kw; ++j) {
        Vec<T> xv[NV];
        for (std::size_t v = 0; v < NV; ++v) std::memcpy(&xv[v], xr + j + v * L, sizeof(Vec<T>));
        for (std::size_t o = 0; o < OB; ++o) {
          const T wv = wr[j * OB + o];
          for (std::size_t v = 0; v < NV; ++v) acc[o][v] += wv * xv[v];
        }
      }
    }
  for (std::size_t o = 0; o < nb; ++o) {
    if (relu)
      for (std::size_t v = 0; v < NV; ++v) acc[o][v] = acc[o][v] <= zero ? zero : acc[o][v];  // NaN stays NaN
    for (std::size_t k = 0; k < nseg; ++k) store_lanes(y + o * P + seg[k].dst, acc[o][seg[k].v], seg[k].a, seg[k].b);
  }
}

/// Output channels [oa, ob) (oa a multiple of OB) at wide indexes [qa, qb) of one padded image,
/// the kept pixels stored into y (O, Ho, Wo).
template <class T, std::size_t OB>
void rows(const Conv2DGeometry& g, const WideLayout& l, const T* xp, const T* packed, const T* b, T* y, bool relu,
          std::size_t qa, std::size_t qb, std::size_t oa, std::size_t ob) {
  constexpr std::size_t L = wide_lanes<T>, NV = wide_vectors, S = L * NV;
  // A vector meets at most L / Wp + 2 output rows.
  Segment seg[NV * (L + 2)];
  const std::size_t K = g.K(), P = g.P(), Wp = l.Wp, Wo = g.Wo;
  for (std::size_t q = qa; q < qb; q += S) {
    std::size_t nseg = 0;
    for (std::size_t v = 0; v < NV; ++v) {
      const std::size_t vs = q + v * L, ve = std::min(vs + L, qb);
      for (std::size_t oh = vs / Wp; oh * Wp < ve; ++oh) {
        const std::size_t s0 = std::max(vs, oh * Wp), e0 = std::min(ve, oh * Wp + Wo);
        if (s0 < e0) seg[nseg++] = {v, s0 - vs, e0 - vs, oh * Wo + (s0 - oh * Wp)};
      }
    }
    // The last tile only as many vectors as reach qb (its segments lie in those).
    const std::size_t nv = std::min(NV, (qb - q + L - 1) / L);
    for (std::size_t o0 = oa; o0 < ob; o0 += OB) {
      const T* const wb = packed + o0 * K;
      const T* const bb = b ? b + o0 : nullptr;
      const std::size_t nb = std::min(OB, ob - o0);
      T* const yb = y + o0 * P;
      if (nv == NV)
        tile<T, OB, NV>(xp, g.C, l, g.kh, g.kw, wb, bb, nb, relu, q, seg, nseg, yb, P);
      else if (nv == 3)
        tile<T, OB, 3>(xp, g.C, l, g.kh, g.kw, wb, bb, nb, relu, q, seg, nseg, yb, P);
      else if (nv == 2)
        tile<T, OB, 2>(xp, g.C, l, g.kh, g.kw, wb, bb, nb, relu, q, seg, nseg, yb, P);
      else
        tile<T, OB, 1>(xp, g.C, l, g.kh, g.kw, wb, bb, nb, relu, q, seg, nseg, yb, P);
    }
  }
}

/// Output rows [oh0, oh1) of channels [oa, ob) (oa a multiple of l.block; all of them by
/// default) of one image from its zero-bordered copy `padded` (the layout
/// conv2d_forward_direct_wide fills, slack included).
template <class T>
void padded_rows(const Conv2DGeometry& g, const WideLayout& l, const T* padded, const T* packed, const T* b, T* y,
                 bool relu, std::size_t oh0, std::size_t oh1, std::size_t oa = 0,
                 std::size_t ob = static_cast<std::size_t>(-1)) {
  oh1 = std::min(oh1, g.Ho);
  ob = std::min(ob, g.O);
  if (oh0 >= oh1 || oa >= ob) return;
  const std::size_t qa = oh0 * l.Wp, qb = (oh1 - 1) * l.Wp + g.Wo;
  switch (l.block) {
    case 5:
      return rows<T, 5>(g, l, padded, packed, b, y, relu, qa, qb, oa, ob);
    default:
      return rows<T, 6>(g, l, padded, packed, b, y, relu, qa, qb, oa, ob);
  }
}
}  // namespace detail_wide

/// The output gradient of a convolution whose output only a max pooling read
/// (kernels/conv2d_pool.hpp): the pooled output's gradient dy (N, O, pool.Ho, pool.Wo), the
/// arg-max positions idx within each convolution output plane (max_pool2d_plane's) and, when the
/// convolution had a ReLU, the pooled output relu_y, whose sign masks dy.  The convolution's
/// output gradient is that dy at the arg-max positions (added up where windows share one) and
/// zero elsewhere: the wide kernels write it straight into their padded layouts instead of
/// copying it from an array of its own.
template <class T>
struct PooledGrad {
  Pool2DGeometry pool;  ///< pool.H, pool.W: the convolution's Ho, Wo
  const T* dy = nullptr;
  const std::int32_t* idx = nullptr;
  const T* relu_y = nullptr;
};

namespace detail_wide {
/// Image n's convolution output gradient from p (O channels): channel o's plane at
/// buf + o * plane, zero but for the element (h, w) of each arg-max, at first + h * Wp + w.
/// The values are added in the order of the pooled outputs, as max_pool2d_backward_plane adds
/// them.
template <class T>
void scatter_pooled(const PooledGrad<T>& p, std::size_t n, std::size_t O, std::size_t plane, std::size_t first,
                    std::size_t Wp, T* buf) {
  const Pool2DGeometry& pg = p.pool;
  const std::size_t Q = pg.Ho * pg.Wo, Wo = pg.W;
  // dy masked first, in a loop of selects the compiler vectorises (a select per element in the
  // scatter loop became a branch on the mask, mispredicted half the time); on the stack for up
  // to 1024 pooled outputs a plane, in chunks of that beyond.
  constexpr std::size_t chunk = 1024;
  T masked[chunk];
  for (std::size_t o = 0; o < O; ++o) {
    T* const pl = buf + o * plane + first;
    std::fill(buf + o * plane, buf + (o + 1) * plane, T(0));
    const std::size_t at = (n * O + o) * Q;
    const T* const d = p.dy + at;
    const T* const r = p.relu_y ? p.relu_y + at : nullptr;
    const std::int32_t* const idx = p.idx + at;
    const bool tiles = pg.is_2x2_s2() && pg.Wo <= chunk;
    const std::size_t step = tiles ? chunk / pg.Wo * pg.Wo : chunk;  // whole rows of windows
    for (std::size_t q0 = 0; q0 < Q; q0 += step) {
      const std::size_t q1 = std::min(Q, q0 + step);
      const T* v = d + q0;
      if (r) {
        for (std::size_t q = q0; q < q1; ++q) masked[q - q0] = r[q] > T(0) ? d[q] : T(0);
        v = masked;
      }
      if (tiles) {
        // Windows tile the plane: each of a window's four positions gets dy or 0 by a select on
        // where the arg-max lies, no addition (the zeros of the fill above stay where no window
        // reaches: an odd last row or column).
        for (std::size_t q = q0; q < q1; q += pg.Wo) {
          const std::size_t qh = q / pg.Wo;
          T* const top = pl + 2 * qh * Wp;
          T* const bottom = top + Wp;
          const std::int32_t* const arg = idx + q;
          const T* const vq = v + (q - q0);
          const auto base = static_cast<std::int32_t>(2 * qh * Wo), w1 = static_cast<std::int32_t>(Wo);
          // Selects as bit masks: written as ?: GCC branched on them, mispredicted.
          using Bits = std::conditional_t<sizeof(T) == 4, std::uint32_t, std::uint64_t>;
          const auto pick = [](Bits x, bool take) { return std::bit_cast<T>(x & (Bits(0) - Bits(take))); };
          for (std::size_t qw = 0; qw < pg.Wo; ++qw) {
            const std::int32_t off = arg[qw] - base - 2 * static_cast<std::int32_t>(qw);
            const auto x = std::bit_cast<Bits>(vq[qw]);
            top[2 * qw] = pick(x, off == 0);
            top[2 * qw + 1] = pick(x, off == 1);
            bottom[2 * qw] = pick(x, off == w1);
            bottom[2 * qw + 1] = pick(x, off == w1 + 1);
          }
        }
        continue;
      }
      std::size_t qh = q0 / pg.Wo, row_end = (qh + 1) * pg.Wo;
      for (std::size_t q = q0; q < q1; ++q) {
        if (q == row_end) ++qh, row_end += pg.Wo;
        if (idx[q] < 0) continue;  // a window entirely in the padding (rare: a predictable branch)
        const std::size_t h0 = qh * pg.sh > pg.ph ? qh * pg.sh - pg.ph : 0;  // the window's first row
        // The arg-max's row within the window without a branch on it (where a maximum lies is
        // random: a branch is mispredicted half the time).
        std::size_t h = h0, w = static_cast<std::size_t>(idx[q]) - h0 * Wo;
        for (std::size_t i = 1; i < pg.kh; ++i) {
          const std::size_t down = w >= Wo;
          w -= down * Wo, h += down;
        }
        pl[h * Wp + w] += v[q - q0];
      }
    }
  }
}
}  // namespace detail_wide

/// Output rows [oh0, oh1) of one image x (C, H, W) into y (O, Ho, Wo): conv2d(x, w) + b, then
/// max(y, 0) when relu (b may be null; the rest of y untouched).  packed holds w packed by
/// direct_wide_pack, padded l.padded elements of scratch (the image is copied there with its
/// zero border; with a mask, an element counts only where the mask is positive: the input
/// gradient's dy and a fused ReLU's output).  Requires direct_wide_applies(g).
template <class T>
void conv2d_forward_direct_wide(const Conv2DGeometry& g, const WideLayout& l, const T* x, const T* packed,
                                const T* b, T* y, bool relu, std::size_t oh0, std::size_t oh1, T* padded,
                                const T* mask = nullptr) {
  if (std::min(oh1, g.Ho) <= oh0) return;
  detail_direct::pad_image_rows(x, mask, g.C, g.H, g.W, g.ph, g.pw, l.right, padded);
  std::fill(padded + g.C * l.plane, padded + l.padded, T(0));
  detail_wide::padded_rows(g, l, padded, packed, b, y, relu, oh0, oh1);
}

/// Output channels [o0, o1) of one image x (C, H, W), all rows, into y (O, Ho, Wo) as
/// conv2d_forward_direct_wide computes them (the rest of y untouched): o0 a multiple of l.block,
/// o1 one too or g.O.  A graph's team schedule splits a small image's channels over threads
/// with it (graph/team.hpp).  Requires direct_wide_applies(g).
template <class T>
void conv2d_forward_direct_wide_channels(const Conv2DGeometry& g, const WideLayout& l, const T* x, const T* packed,
                                         const T* b, T* y, bool relu, std::size_t o0, std::size_t o1, T* padded) {
  if (std::min(o1, g.O) <= o0 || g.Ho == 0) return;
  detail_direct::pad_image_rows(x, static_cast<const T*>(nullptr), g.C, g.H, g.W, g.ph, g.pw, l.right, padded);
  std::fill(padded + g.C * l.plane, padded + l.padded, T(0));
  detail_wide::padded_rows(g, l, padded, packed, b, y, relu, 0, g.Ho, o0, o1);
}

/// dx (N, C, H, W, overwritten) of conv2d_backward_naive for g with
/// direct_wide_input_grad_applies(g): the wide kernel on each image's dy (masked where relu_y,
/// the output of a convolution fused with ReLU, is not positive) with the filters rotated.
/// With `pooled`, dy and relu_y are not read: each image's dy is scattered from it.
/// Images split over threads; the packed filters and each thread's padded dy come from the
/// memory pool for the call.
template <class T>
void conv2d_input_grad_direct_wide(const Conv2DGeometry& g, const T* w, const T* dy, T* dx,
                                   const T* relu_y = nullptr, const PooledGrad<T>* pooled = nullptr) {
  const Conv2DGeometry d = input_grad_geometry(g);
  const WideLayout l = wide_layout<T>(d);
  const double flops = static_cast<double>(g.O) * static_cast<double>(g.K()) * static_cast<double>(g.P());
  const int threads = ::gluino::detail::team_size(g.N, flops);
  const std::size_t per_thread = ::gluino::detail::round_panel(l.padded);
  Storage<T> scratch(l.packed + per_thread * static_cast<std::size_t>(threads));
  T* const packed = scratch.data();
  direct_wide_pack(d, l, w, packed, true);
  const std::size_t in_n = g.O * g.P(), out_n = g.C * g.H * g.W;
  ::gluino::detail::run_team(threads, [&](int tid, int team) {
    const auto t = static_cast<std::size_t>(tid), k = static_cast<std::size_t>(team);
    T* const padded = packed + l.packed + per_thread * t;
    for (std::size_t n = g.N * t / k; n < g.N * (t + 1) / k; ++n) {
      if (!pooled) {
        conv2d_forward_direct_wide(d, l, dy + n * in_n, packed, static_cast<const T*>(nullptr), dx + n * out_n, false,
                                   0, d.Ho, padded, relu_y ? relu_y + n * in_n : nullptr);
        continue;
      }
      detail_wide::scatter_pooled(*pooled, n, d.C, l.plane, d.ph * l.Wp + d.pw, l.Wp, padded);
      std::fill(padded + d.C * l.plane, padded + l.padded, T(0));
      detail_wide::padded_rows(d, l, padded, packed, static_cast<const T*>(nullptr), dx + n * out_n, false, 0, d.Ho);
    }
  });
}


// ---- the weight gradient ----

/// Output channels and filter taps of the weight gradient's register tile: wide_wgrad_channels
/// x wide_wgrad_taps sums, one vector of dy per channel and one of x at a time: 31 of AVX-512's
/// 32 registers (13 of AVX2's 16).
#if defined(__AVX512F__)
inline constexpr std::size_t wide_wgrad_channels = 5, wide_wgrad_taps = 5;
#else
inline constexpr std::size_t wide_wgrad_channels = 3, wide_wgrad_taps = 3;
#endif

/// The buffers of the wide weight gradient for g (elements of T).  Its vector sums run along
/// the wide indexes q of the output pixels: dw[o, tap] = sum over images and q of dy_wide[o, q] *
/// xp[off(tap) + q], dy_wide being dy at the row pitch of the padded input (zeros past each row's
/// Wo pixels and past the last one), so each lane adds the products of its own pixels.
struct WideWeightGradLayout {
  WideLayout x;               ///< the padded image (the forward's layout)
  std::size_t span = 0;       ///< one channel's wide dy: (Ho - 1) * Wp + Wo rounded up to a vector
  std::size_t O = 0, K = 0;   ///< output channels and taps rounded up to the tile
  std::size_t image = 0;      ///< one image's buffers: wide dy (O * span) and the padded image
  std::size_t chunk = 0;      ///< images whose buffers a thread fills before it sums over them
  std::size_t sums = 0;       ///< one thread's vector sums: O * K vectors
};

/// The most bytes of one thread's vector sums (direct_wide_weight_grad_applies).
inline constexpr std::size_t wide_wgrad_sum_bytes = std::size_t(1) << 20;
/// About the bytes of one chunk of images' buffers (kept in a core's L2 cache).
inline constexpr std::size_t wide_wgrad_chunk_bytes = std::size_t(256) << 10;

template <class T>
WideWeightGradLayout wide_wgrad_layout(const Conv2DGeometry& g) {
  constexpr std::size_t L = wide_lanes<T>, OB = wide_wgrad_channels, TB = wide_wgrad_taps;
  WideWeightGradLayout l;
  l.x = wide_layout<T>(g);
  l.span = ((g.Ho - 1) * l.x.Wp + g.Wo + L - 1) / L * L;
  l.O = (g.O + OB - 1) / OB * OB, l.K = (g.K() + TB - 1) / TB * TB;
  l.image = ::gluino::detail::round_panel(l.O * l.span) + ::gluino::detail::round_panel(l.x.padded);
  l.chunk = std::clamp<std::size_t>(wide_wgrad_chunk_bytes / (l.image * sizeof(T)), 1, 16);
  l.sums = l.O * l.K * L;
  return l;
}

/// True when conv2d_weight_grad_direct_wide computes g's weight gradient: where the wide kernel
/// computes the forward pass (direct_wide_applies) and one thread's vector sums fit in
/// wide_wgrad_sum_bytes.  Measured on LeNet's two layers (bench_conv2d's
/// BM_Conv2D_WideWeightGrad, docs/performance.md).
template <class T>
bool direct_wide_weight_grad_applies(const Conv2DGeometry& g) {
  if (!direct_wide_applies<T>(g)) return false;
  const double sums = static_cast<double>(g.O + wide_wgrad_channels) * static_cast<double>(g.K() + wide_wgrad_taps) *
                      static_cast<double>(wide_bytes);
  return sums <= static_cast<double>(wide_wgrad_sum_bytes);
}

namespace detail_wide {
/// Adds to the OB x TB vector sums at s (channel-major, row pitch ld vectors of L lanes) the
/// products of OB channels of wide dy (planes `span` apart from dyw) and TB taps of the padded
/// image (at offsets off from xp), over images of `stride` elements each.
template <class T, std::size_t OB, std::size_t TB>
void wgrad_tile(const T* dyw, const T* xp, std::size_t images, std::size_t stride, std::size_t span,
                const std::size_t* off, T* s, std::size_t ld) {
  constexpr std::size_t L = wide_lanes<T>;
  Vec<T> acc[OB][TB];
  for (std::size_t o = 0; o < OB; ++o)
    for (std::size_t t = 0; t < TB; ++t) std::memcpy(&acc[o][t], s + (o * ld + t) * L, sizeof(Vec<T>));
  for (std::size_t n = 0; n < images; ++n) {
    const T* d = dyw + n * stride;
    const T* x = xp + n * stride;
    for (std::size_t q = 0; q < span; q += L) {
      Vec<T> dv[OB];
      for (std::size_t o = 0; o < OB; ++o) std::memcpy(&dv[o], d + o * span + q, sizeof(Vec<T>));
      for (std::size_t t = 0; t < TB; ++t) {
        Vec<T> xv;
        std::memcpy(&xv, x + off[t] + q, sizeof(Vec<T>));
        for (std::size_t o = 0; o < OB; ++o) acc[o][t] += dv[o] * xv;
      }
    }
  }
  for (std::size_t o = 0; o < OB; ++o)
    for (std::size_t t = 0; t < TB; ++t) std::memcpy(s + (o * ld + t) * L, &acc[o][t], sizeof(Vec<T>));
}

/// sum += the elements of plane [0, span), span a multiple of the vector: four chains of
/// vector adds, then the lanes in order.
template <class T>
void add_plane_sum(const T* plane, std::size_t span, T& sum) {
  constexpr std::size_t L = wide_lanes<T>;
  Vec<T> part[4] = {};
  std::size_t q = 0;
  for (; q + 4 * L <= span; q += 4 * L)
    for (std::size_t k = 0; k < 4; ++k) {
      Vec<T> v;
      std::memcpy(&v, plane + q + k * L, sizeof v);
      part[k] += v;
    }
  for (; q < span; q += L) {
    Vec<T> v;
    std::memcpy(&v, plane + q, sizeof v);
    part[0] += v;
  }
  const Vec<T> all = (part[0] + part[1]) + (part[2] + part[3]);
  T lanes[L];
  std::memcpy(lanes, &all, sizeof lanes);
  for (std::size_t i = 0; i < L; ++i) sum += lanes[i];
}

/// One image's wide dy: dy (O, Ho, Wo), masked where relu_y is not positive, at row pitch Wp
/// into dst (O planes of span, zeros between and after the rows); each channel's sum of the
/// masked dy added to db when given.
template <class T>
void wide_dy(const Conv2DGeometry& g, std::size_t Wp, std::size_t span, const T* dy, const T* relu_y, T* dst, T* db) {
  const std::size_t Ho = g.Ho, Wo = g.Wo;
  for (std::size_t o = 0; o < g.O; ++o) {
    T* const plane = dst + o * span;
    for (std::size_t oh = 0; oh < Ho; ++oh) {
      const T* __restrict src = dy + (o * Ho + oh) * Wo;
      T* __restrict row = plane + oh * Wp;
      if (relu_y) {
        const T* __restrict m = relu_y + (o * Ho + oh) * Wo;
        for (std::size_t w = 0; w < Wo; ++w) {
          const T v = src[w];  // read unconditionally: a select, not a masked load per vector
          row[w] = m[w] > T(0) ? v : T(0);
        }
      } else {
        std::memcpy(row, src, Wo * sizeof(T));
      }
      const std::size_t end = std::min(span, (oh + 1) * Wp) - oh * Wp;
      for (std::size_t w = Wo; w < end; ++w) row[w] = T(0);  // a few elements: no memset call
    }
    std::fill(plane + std::min(span, Ho * Wp), plane + span, T(0));
    if (db) add_plane_sum(plane, span, db[o]);
  }
}
}  // namespace detail_wide

/// dw (O, C, kh, kw) and db (O) of conv2d_backward_naive for g with
/// direct_wide_weight_grad_applies(g), overwritten (db may be null), with dy masked where
/// relu_y (a fused ReLU's output) is not positive (with `pooled`, dy and relu_y are not read:
/// each image's dy is scattered from it).  Images split over threads; each thread fills
/// a chunk of images' wide dy and padded input, then adds each register tile's products over the
/// chunk to its vector sums, whose lanes are added up at the end (threads in order).  A wide
/// row's extra lanes multiply zeros of dy by pixels the naive loops never read: should one of
/// those be infinite or NaN, dw comes out not finite: then it returns false and the caller
/// computes dw and db another way (conv2d_backward: im2col + GEMM, the naive products).  True
/// otherwise.
template <class T>
bool conv2d_weight_grad_direct_wide(const Conv2DGeometry& g, const T* x, const T* dy, T* dw, T* db,
                                    const T* relu_y = nullptr, const PooledGrad<T>* pooled = nullptr) {
  constexpr std::size_t L = wide_lanes<T>, OB = wide_wgrad_channels, TB = wide_wgrad_taps;
  const WideWeightGradLayout l = wide_wgrad_layout<T>(g);
  const std::size_t K = g.K(), taps = g.kh * g.kw, in_n = g.C * g.H * g.W, out_n = g.O * g.P();
  const std::size_t dy_part = ::gluino::detail::round_panel(l.O * l.span);
  // Each tap's offset in the padded image (the forward's q + c * plane + i * Wp + j); the taps
  // that round K up to the tile read the first ones and are dropped.
  std::vector<std::size_t> off(l.K, 0);
  for (std::size_t k = 0; k < K; ++k)
    off[k] = k / taps * l.x.plane + k % taps / g.kw * l.x.Wp + k % g.kw;
  const double flops = static_cast<double>(g.O) * static_cast<double>(K) * static_cast<double>(g.P());
  const int threads = ::gluino::detail::team_size(g.N, flops);
  const auto nt = static_cast<std::size_t>(threads);
  // Per thread: the vector sums, a chunk of images' buffers, then O * K + O scalar sums.
  const std::size_t per_thread = ::gluino::detail::round_panel(l.sums) + l.image * l.chunk +
                                 ::gluino::detail::round_panel(K * g.O + g.O);
  Storage<T> scratch(per_thread * nt);
  std::size_t used = 1;  // the team run_team gave (one thread inside another team)
  ::gluino::detail::run_team(threads, [&](int tid, int team) {
    if (tid == 0) used = static_cast<std::size_t>(team);
    const auto t = static_cast<std::size_t>(tid), k = static_cast<std::size_t>(team);
    T* const mine = scratch.data() + per_thread * t;
    T* const sums = mine;  // O * K vectors of L lanes, 64-byte aligned (per_thread is whole panels)
    T* const buf = mine + ::gluino::detail::round_panel(l.sums);
    T* const out = buf + l.image * l.chunk;  // this thread's dw, then db
    std::fill(mine, mine + l.sums, T(0));
    for (std::size_t i = 0; i < l.chunk; ++i) {  // what no image writes: the rows past O, the slack
      T* const img = buf + i * l.image;
      std::fill(img + g.O * l.span, img + dy_part, T(0));
      std::fill(img + dy_part + g.C * l.x.plane, img + l.image, T(0));
    }
    std::fill(out + g.O * K, out + g.O * K + g.O, T(0));
    for (std::size_t n0 = g.N * t / k, n1 = g.N * (t + 1) / k; n0 < n1; n0 += l.chunk) {
      const std::size_t images = std::min(l.chunk, n1 - n0);
      for (std::size_t i = 0; i < images; ++i) {
        T* const img = buf + i * l.image;
        if (pooled) {
          detail_wide::scatter_pooled(*pooled, n0 + i, g.O, l.span, 0, l.x.Wp, img);
          if (db)
            for (std::size_t o = 0; o < g.O; ++o)
              detail_wide::add_plane_sum(img + o * l.span, l.span, out[g.O * K + o]);
        } else {
          detail_wide::wide_dy(g, l.x.Wp, l.span, dy + (n0 + i) * out_n,
                               relu_y ? relu_y + (n0 + i) * out_n : nullptr, img, db ? out + g.O * K : nullptr);
        }
        detail_direct::pad_image_rows(x + (n0 + i) * in_n, static_cast<const T*>(nullptr), g.C, g.H, g.W, g.ph,
                                      g.pw, l.x.right, img + dy_part);
      }
      for (std::size_t o0 = 0; o0 < l.O; o0 += OB)
        for (std::size_t k0 = 0; k0 < l.K; k0 += TB)
          detail_wide::wgrad_tile<T, OB, TB>(buf + o0 * l.span, buf + dy_part, images, l.image, l.span, off.data() + k0,
                                             sums + (o0 * l.K + k0) * L, l.K);
    }
    // The lanes of each sum added up: this thread's dw.
    for (std::size_t o = 0; o < g.O; ++o)
      for (std::size_t kk = 0; kk < K; ++kk) {
        T lanes[L];
        std::memcpy(lanes, sums + (o * l.K + kk) * L, sizeof lanes);
        T v = T(0);
        for (std::size_t i = 0; i < L; ++i) v += lanes[i];
        out[o * K + kk] = v;
      }
  });
  // Threads in order.
  std::fill(dw, dw + g.O * K, T(0));
  if (db) std::fill(db, db + g.O, T(0));
  for (std::size_t t = 0; t < used; ++t) {
    const T* const out = scratch.data() + per_thread * t + ::gluino::detail::round_panel(l.sums) + l.image * l.chunk;
    for (std::size_t i = 0; i < g.O * K; ++i) dw[i] += out[i];
    if (db)
      for (std::size_t o = 0; o < g.O; ++o) db[o] += out[g.O * K + o];
  }
  T check = T(0);  // NaN when any of dw is infinite or NaN
  for (std::size_t i = 0; i < g.O * K; ++i) check += dw[i] * T(0);
  return check == T(0);
}
}  // namespace gluino::kernels

// Precompiled mode (detail/precompiled.hpp): this header's float and double instantiations.
#define GLUINO_KERNELS_CONV2D_WIDE_INSTANTIATIONS(X, T)                                                      \
  X void direct_wide_pack<T>(const Conv2DGeometry&, const WideLayout&, const T*, T*, bool);                 \
  X class WidePackCache<T>;                                                                                   \
  X typename WidePackCache<T>::Packed cached_wide_packing<T>(const Conv2DGeometry&, const T*);                  \
  X void conv2d_forward_direct_wide<T>(const Conv2DGeometry&, const WideLayout&, const T*, const T*, const T*, \
                                       T*, bool, std::size_t, std::size_t, T*, const T*);                     \
  X void conv2d_forward_direct_wide_channels<T>(const Conv2DGeometry&, const WideLayout&, const T*, const T*,     \
                                                const T*, T*, bool, std::size_t, std::size_t, T*);             \
  X void conv2d_input_grad_direct_wide<T>(const Conv2DGeometry&, const T*, const T*, T*, const T*,            \
                                          const PooledGrad<T>*);                                              \
  X bool conv2d_weight_grad_direct_wide<T>(const Conv2DGeometry&, const T*, const T*, T*, T*, const T*,       \
                                           const PooledGrad<T>*);
namespace gluino::kernels {
GLUINO_EXTERN_INSTANTIATIONS(GLUINO_KERNELS_CONV2D_WIDE_INSTANTIATIONS)
}  // namespace gluino::kernels
