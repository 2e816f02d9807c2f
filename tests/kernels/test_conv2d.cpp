// SPDX-License-Identifier: Apache-2.0
#include <gluino/kernels/conv2d.hpp>

#include <doctest/doctest.h>

#include "support/random_values.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <random>
#include <string>
#include <utility>
#include <vector>

#if defined(__GLIBC__)
#include <malloc.h>
#endif
#if defined(_OPENMP)
#include <omp.h>
#endif

#include <gluino/autograd/engine.hpp>
#include <gluino/autograd/mode.hpp>
#include <gluino/core/parallel.hpp>
#include <gluino/core/storage.hpp>
#include <gluino/nd/conv.hpp>

using gluino::kernels::Conv2DGeometry;
namespace kernels = gluino::kernels;

namespace {
using gluino_test::max_abs_diff;
using gluino_test::random_values;

Conv2DGeometry make(std::size_t N, std::size_t C, std::size_t H, std::size_t W, std::size_t O, std::size_t k,
                    std::size_t s, std::size_t p, std::size_t d, std::size_t groups) {
  Conv2DGeometry g;
  g.N = N, g.C = C, g.H = H, g.W = W, g.O = O, g.groups = groups;
  g.kh = g.kw = k, g.sh = g.sw = s, g.ph = g.pw = p, g.dh = g.dw = d;
  g.infer_output();
  return g;
}

/// Bytes the C heap has handed out and not taken back (0 where glibc's counters are missing).
std::size_t heap_in_use() {
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33))
  const struct mallinfo2 m = mallinfo2();
  return m.uordblks + m.hblkhd;
#else
  return 0;
#endif
}

/// True when a freed Storage stays cached in the pool (a sanitizer build may bypass the cache).
bool pool_caches() {
  gluino::detail::memory_pool().release();
  { gluino::Storage<float> probe(1000); }
  const bool cached = gluino::detail::memory_pool().cached_bytes() > 0;
  gluino::detail::memory_pool().release();
  return cached;
}
}  // namespace

namespace {
namespace sweep {
#if defined(__OPTIMIZE__)
constexpr bool optimized = true;
#else
constexpr bool optimized = false;  // the sanitizer and header-only passes: fewer, smaller cases
#endif
/// One convolution of the sweep: (N, C, H, W) -> O with a kh x kw kernel, stride, padding,
/// dilation and groups; tile_rows forces tiles of output rows (0: chosen); relu fuses a ReLU.
struct Case {
  std::size_t N, C, H, W, O, kh, kw, sh, sw, ph, pw, dh, dw, groups, tile_rows;
  bool relu, bias;
};

Conv2DGeometry geometry(const Case& c) {
  Conv2DGeometry g;
  g.N = c.N, g.C = c.C, g.H = c.H, g.W = c.W, g.O = c.O, g.groups = c.groups;
  g.kh = c.kh, g.kw = c.kw, g.sh = c.sh, g.sw = c.sw, g.ph = c.ph, g.pw = c.pw, g.dh = c.dh, g.dw = c.dw;
  g.tile_rows = c.tile_rows;
  g.infer_output();
  return g;
}

std::string describe(const Case& c) {
  const auto s = [](std::size_t v) { return std::to_string(v); };
  return s(c.N) + "x" + s(c.C) + "x" + s(c.H) + "x" + s(c.W) + " -> " + s(c.O) + " k" + s(c.kh) + "x" + s(c.kw) +
         " s" + s(c.sh) + "," + s(c.sw) + " p" + s(c.ph) + "," + s(c.pw) + " d" + s(c.dh) + "," + s(c.dw) + " g" +
         s(c.groups) + " tile" + s(c.tile_rows) + (c.relu ? " relu" : "") + (c.bias ? " bias" : "");
}

/// Inputs of a case, values exact in float (so that both types compute on the same numbers),
/// and the definition's results in double with, for each element, the sum of the magnitudes of
/// its terms (the scale its rounding error is measured against).
struct Reference {
  std::vector<double> x, w, b, dy, relu_y;    // inputs; relu_y: max(y, 0) (the fused ReLU's output)
  std::vector<double> y, dx, dw, db;          // y with the ReLU when relu; gradients of dy masked by y > 0
  std::vector<double> y_mag, dx_mag, dw_mag, db_mag;
};

std::vector<double> float_values(std::size_t n, std::mt19937& rng) {
  std::uniform_real_distribution<double> u(-1.0, 1.0);
  std::vector<double> v(n);
  for (auto& e : v) e = static_cast<double>(static_cast<float>(u(rng)));
  return v;
}

/// Output pixels [lo, hi) of a row whose input column o * s + off - p lies in [0, in).
std::pair<std::size_t, std::size_t> inside(std::size_t out, std::size_t in, std::size_t s, std::size_t off,
                                           std::size_t p) {
  std::size_t lo = 0;
  while (lo < out && lo * s + off < p) ++lo;
  std::size_t hi = lo;
  while (hi < out && hi * s + off < p + in) ++hi;
  return {lo, hi};
}

/// The definition, term by term: y[n, o, oh, ow] += w[o, c, i, j] * x[n, (o / Og) * Cg + c,
/// oh * sh + i * dh - ph, ow * sw + j * dw - pw] for every term inside the input; `backward`
/// instead adds each term's share of dx, dw (r.dy masked already) and the magnitudes.
void terms(const Conv2DGeometry& g, Reference& r, bool backward) {
  const std::size_t Cg = g.C / g.groups, Og = g.O / g.groups;
  for (std::size_t n = 0; n < g.N; ++n)
    for (std::size_t o = 0; o < g.O; ++o)
      for (std::size_t c = 0; c < Cg; ++c)
        for (std::size_t i = 0; i < g.kh; ++i)
          for (std::size_t j = 0; j < g.kw; ++j) {
            const std::size_t wi = ((o * Cg + c) * g.kh + i) * g.kw + j, xp = (n * g.C + (o / Og) * Cg + c) * g.H;
            const auto [h0, h1] = inside(g.Ho, g.H, g.sh, i * g.dh, g.ph);
            const auto [w0, w1] = inside(g.Wo, g.W, g.sw, j * g.dw, g.pw);
            const double wv = r.w[wi];
            double dw = 0, dw_mag = 0;
            for (std::size_t oh = h0; oh < h1; ++oh) {
              const std::size_t yr = ((n * g.O + o) * g.Ho + oh) * g.Wo;
              const std::size_t xr = (xp + oh * g.sh + i * g.dh - g.ph) * g.W + j * g.dw - g.pw;
              if (!backward) {
                for (std::size_t ow = w0; ow < w1; ++ow) {
                  const double t = wv * r.x[xr + ow * g.sw];
                  r.y[yr + ow] += t;
                  r.y_mag[yr + ow] += std::abs(t);
                }
                continue;
              }
              for (std::size_t ow = w0; ow < w1; ++ow) {
                const double gy = r.dy[yr + ow], xv = r.x[xr + ow * g.sw];
                r.dx[xr + ow * g.sw] += wv * gy;
                r.dx_mag[xr + ow * g.sw] += std::abs(wv * gy);
                dw += xv * gy;
                dw_mag += std::abs(xv * gy);
              }
            }
            if (backward) r.dw[wi] += dw, r.dw_mag[wi] += dw_mag;
          }
}

Reference reference(const Conv2DGeometry& g, bool relu, bool bias, std::mt19937& rng) {
  Reference r;
  const std::size_t nx = g.N * g.C * g.H * g.W, nw = g.O * g.K(), ny = g.N * g.O * g.P(), P = g.P();
  r.x = float_values(nx, rng), r.w = float_values(nw, rng), r.dy = float_values(ny, rng);
  r.b = bias ? float_values(g.O, rng) : std::vector<double>(g.O, 0.0);
  r.y.assign(ny, 0.0), r.y_mag.assign(ny, 0.0);
  for (std::size_t i = 0; i < ny; ++i) r.y[i] = r.b[i / P % g.O], r.y_mag[i] = std::abs(r.y[i]);
  terms(g, r, false);
  r.relu_y = r.y;
  for (auto& v : r.relu_y) v = std::max(v, 0.0);
  if (relu) {
    r.y = r.relu_y;
    for (std::size_t i = 0; i < ny; ++i) r.dy[i] = r.relu_y[i] > 0.0 ? r.dy[i] : 0.0;
  }
  r.dx.assign(nx, 0.0), r.dx_mag.assign(nx, 0.0), r.dw.assign(nw, 0.0), r.dw_mag.assign(nw, 0.0);
  r.db.assign(g.O, 0.0), r.db_mag.assign(g.O, 0.0);
  for (std::size_t i = 0; i < ny; ++i) r.db[i / P % g.O] += r.dy[i], r.db_mag[i / P % g.O] += std::abs(r.dy[i]);
  terms(g, r, true);
  return r;
}

/// The largest error of `got` against `want` in units of each element's magnitude (infinite
/// where an element without terms is not exactly `want`).
template <class T>
double worst(const std::vector<T>& got, const std::vector<double>& want, const std::vector<double>& mag) {
  double e = 0;
  for (std::size_t i = 0; i < want.size(); ++i) {
    const double d = std::abs(static_cast<double>(got[i]) - want[i]);
    if (!(d <= 0)) e = std::max(e, mag[i] > 0 ? d / mag[i] : HUGE_VAL);
  }
  return e;
}

template <class T>
std::vector<T> as(const std::vector<double>& v) {
  return std::vector<T>(v.begin(), v.end());
}

template <class T>
constexpr double tolerance = sizeof(T) == 4 ? 1e-4 : 1e-10;

/// conv2d_forward and conv2d_backward (all three gradients, dx alone, dw and db, dw alone, db
/// alone) against r.
template <class T>
void check_kernels(const Conv2DGeometry& g, bool relu, bool bias, const Reference& r) {
  const auto x = as<T>(r.x), w = as<T>(r.w), b = as<T>(r.b), dy = as<T>(r.dy), ry = as<T>(r.relu_y);
  const T* bp = bias ? b.data() : nullptr;
  const T* mask = relu ? ry.data() : nullptr;
  const T* none = nullptr;
  std::vector<T> y(r.y.size(), T(-3));
  kernels::conv2d_forward(g, x.data(), w.data(), bp, y.data(), relu);
  CHECK(worst(y, r.y, r.y_mag) <= tolerance<T>);
  std::vector<T> dx(r.dx.size(), T(7)), dw(r.dw.size(), T(7)), db(g.O, T(7));
  kernels::conv2d_backward(g, x.data(), w.data(), dy.data(), dx.data(), dw.data(), db.data(), mask);
  CHECK(worst(dx, r.dx, r.dx_mag) <= tolerance<T>);
  CHECK(worst(dw, r.dw, r.dw_mag) <= tolerance<T>);
  CHECK(worst(db, r.db, r.db_mag) <= tolerance<T>);
  std::fill(dx.begin(), dx.end(), T(5));
  kernels::conv2d_backward(g, none, w.data(), dy.data(), dx.data(), static_cast<T*>(nullptr),
                           static_cast<T*>(nullptr), mask);
  CHECK(worst(dx, r.dx, r.dx_mag) <= tolerance<T>);
  std::fill(dw.begin(), dw.end(), T(5));
  std::fill(db.begin(), db.end(), T(5));
  kernels::conv2d_backward(g, x.data(), none, dy.data(), static_cast<T*>(nullptr), dw.data(), db.data(), mask);
  CHECK(worst(dw, r.dw, r.dw_mag) <= tolerance<T>);
  CHECK(worst(db, r.db, r.db_mag) <= tolerance<T>);
  std::fill(dw.begin(), dw.end(), T(4));
  std::fill(db.begin(), db.end(), T(4));
  kernels::conv2d_backward(g, x.data(), none, dy.data(), static_cast<T*>(nullptr), dw.data(), static_cast<T*>(nullptr),
                           mask);
  CHECK(worst(dw, r.dw, r.dw_mag) <= tolerance<T>);
  kernels::conv2d_backward(g, none, none, dy.data(), static_cast<T*>(nullptr), static_cast<T*>(nullptr), db.data(),
                           mask);
  CHECK(worst(db, r.db, r.db_mag) <= tolerance<T>);
  if (!kernels::winograd_applies(g)) return;
  // Winograd in chunks of one group of tiles (each thread's sums over several products)
  namespace wino = kernels::detail_winograd;
  const wino::Problem p{g.kh, g.N, g.C, g.H, g.W, g.O, g.ph, g.pw, g.Ho, g.Wo};
  wino::run(p, x.data(), none, w.data(), false, bp, relu, y.data(), 1);
  CHECK(worst(y, r.y, r.y_mag) <= tolerance<T>);
  wino::run_weight_grad(p, x.data(), dy.data(), mask, dw.data(), 1);
  CHECK(worst(dw, r.dw, r.dw_mag) <= tolerance<T>);
}

/// The largest error, in units of tolerance<T>, of conv2d_forward and conv2d_backward (all three
/// gradients) against r: what check_kernels checks, for a caller that may not use doctest's
/// assertions (a thread of a parallel region).
template <class T>
double kernels_error(const Conv2DGeometry& g, bool relu, bool bias, const Reference& r) {
  const auto x = as<T>(r.x), w = as<T>(r.w), b = as<T>(r.b), dy = as<T>(r.dy), ry = as<T>(r.relu_y);
  std::vector<T> y(r.y.size(), T(-3)), dx(r.dx.size(), T(7)), dw(r.dw.size(), T(7)), db(g.O, T(7));
  kernels::conv2d_forward(g, x.data(), w.data(), bias ? b.data() : nullptr, y.data(), relu);
  kernels::conv2d_backward(g, x.data(), w.data(), dy.data(), dx.data(), dw.data(), db.data(),
                           relu ? ry.data() : nullptr);
  return std::max({worst(y, r.y, r.y_mag), worst(dx, r.dx, r.dx_mag), worst(dw, r.dw, r.dw_mag),
                   worst(db, r.db, r.db_mag)}) / tolerance<T>;
}

/// The largest error, in units of tolerance<T>, of the Winograd weight gradient in chunks of one
/// group of tiles (the threads' panels used over and over) against r.
template <class T>
double winograd_chunked_error(const Conv2DGeometry& g, bool relu, const Reference& r) {
  const auto x = as<T>(r.x), dy = as<T>(r.dy), ry = as<T>(r.relu_y);
  std::vector<T> dw(r.dw.size(), T(7));
  const kernels::detail_winograd::Problem p{g.kh, g.N, g.C, g.H, g.W, g.O, g.ph, g.pw, g.Ho, g.Wo};
  kernels::detail_winograd::run_weight_grad(p, x.data(), dy.data(), relu ? ry.data() : nullptr, dw.data(), 1);
  return worst(dw, r.dw, r.dw_mag) / tolerance<T>;
}

/// nd::convolution (or convolution_relu) recorded, its gradients by backward, against r.
template <class T>
void check_nd(const Conv2DGeometry& g, bool relu, const Reference& r) {
  const auto array = [](const std::vector<double>& v, gluino::Shape s) {
    gluino::NDArray<T> a(s);
    std::copy(v.begin(), v.end(), a.data());
    return a;
  };
  auto x = array(r.x, {g.N, g.C, g.H, g.W}), w = array(r.w, {g.O, g.Cg(), g.kh, g.kw}), b = array(r.b, {g.O});
  const auto dy = array(r.dy, {g.N, g.O, g.Ho, g.Wo});
  x.attach_grad(), w.attach_grad(), b.attach_grad();
  const gluino::nd::ConvOptions opt{.stride = {g.sh, g.sw}, .dilate = {g.dh, g.dw}, .pad = {g.ph, g.pw},
                                    .num_group = g.groups};
  gluino::NDArray<T> y;
  {
    gluino::autograd::record rec;
    y = relu ? gluino::nd::convolution_relu(x, w, b, opt) : gluino::nd::convolution(x, w, b, opt);
  }
  y.backward(dy);
  CHECK(worst(y.to_vector(), r.y, r.y_mag) <= tolerance<T>);
  CHECK(worst(x.grad().to_vector(), r.dx, r.dx_mag) <= tolerance<T>);
  CHECK(worst(w.grad().to_vector(), r.dw, r.dw_mag) <= tolerance<T>);
  CHECK(worst(b.grad().to_vector(), r.db, r.db_mag) <= tolerance<T>);
}

/// Shapes on both sides of the dispatch's thresholds (kernels/conv2d.hpp and the headers it
/// dispatches to), then shapes drawn at random, each of at most a few million multiply-adds.
std::vector<Case> cases() {
  std::vector<Case> v = {
      // depthwise: stride 1-3, padding, dilation, a channel multiplier, 1x1 outputs
      {2, 6, 9, 11, 6, 3, 3, 1, 1, 1, 1, 1, 1, 6, 0, false, true},
      {1, 16, 15, 13, 32, 5, 5, 2, 2, 2, 2, 1, 1, 16, 0, true, true},
      {3, 5, 8, 7, 5, 7, 7, 3, 3, 3, 3, 1, 1, 5, 0, false, false},
      {1, 17, 12, 12, 17, 3, 3, 1, 1, 0, 0, 2, 2, 17, 0, false, true},
      {2, 3, 1, 1, 3, 3, 3, 1, 1, 1, 1, 1, 1, 3, 0, false, true},
      {4, 33, 20, 19, 66, 3, 3, 1, 1, 1, 1, 1, 1, 33, 0, true, true},
      // Winograd: 16 and 32 tiles over the batch; 5x5; the weight gradient split by tiles (256
      // tiles = 4 O; else by channels)
      {1, 64, 16, 16, 64, 3, 3, 1, 1, 1, 1, 1, 1, 1, 0, false, true},
      {2, 64, 16, 16, 64, 3, 3, 1, 1, 1, 1, 1, 1, 1, 0, true, true},
      {2, 65, 16, 16, 64, 5, 5, 1, 1, 2, 2, 1, 1, 1, 0, false, true},
      {2, 64, 18, 17, 67, 3, 3, 1, 1, 0, 0, 1, 1, 1, 0, false, true},
      {4, 64, 32, 32, 64, 3, 3, 1, 1, 1, 1, 1, 1, 1, 0, false, true},
      {3, 64, 28, 28, 64, 3, 3, 1, 1, 1, 1, 1, 1, 1, 0, false, true},
      {2, 64, 12, 12, 64, 5, 5, 1, 1, 4, 4, 1, 1, 1, 0, true, true},
      {2, 64, 14, 14, 65, 3, 3, 1, 1, 2, 2, 1, 1, 1, 0, false, false},
      // small-channel direct kernels (3x3, 2-16 channels, rows of at least 16), 16 and 17
      // channels, 32 and 33 outputs (the input gradient's limit)
      {2, 3, 1, 18, 8, 3, 3, 1, 1, 1, 1, 1, 1, 1, 0, false, true},
      {1, 16, 3, 18, 33, 3, 3, 1, 1, 0, 0, 1, 1, 1, 0, false, true},
      {1, 16, 3, 18, 32, 3, 3, 1, 1, 0, 0, 1, 1, 1, 0, true, true},
      {1, 17, 3, 18, 32, 3, 3, 1, 1, 0, 0, 1, 1, 1, 0, false, true},
      {2, 5, 20, 40, 9, 3, 3, 1, 1, 2, 2, 1, 1, 1, 0, false, true},
      {2, 2, 20, 16, 7, 3, 3, 1, 1, 1, 1, 1, 1, 1, 0, false, false},
      {4, 16, 3, 18, 33, 3, 3, 1, 1, 0, 0, 1, 1, 1, 0, true, true},
      {4, 16, 3, 19, 33, 3, 3, 1, 1, 0, 0, 1, 1, 1, 0, false, true},  // 17 outputs a row: not the wide kernel
      {2, 4, 5, 20, 6, 3, 3, 1, 1, 2, 0, 1, 1, 1, 0, false, true},
      // single-channel direct kernel: outputs over 32 rows, rows of 8 and 7
      {2, 1, 40, 37, 7, 5, 5, 1, 1, 2, 2, 1, 1, 1, 0, false, true},
      {1, 1, 34, 10, 5, 3, 3, 1, 1, 0, 0, 1, 1, 1, 0, true, true},
      {1, 1, 34, 9, 5, 3, 3, 1, 1, 0, 0, 1, 1, 1, 0, false, true},
      {3, 1, 33, 33, 6, 3, 3, 1, 1, 0, 0, 1, 1, 1, 2, false, true},
      // wide kernel: one image's channels split (planes under 4096 bytes, enough blocks) or rows
      {1, 8, 33, 34, 12, 3, 3, 1, 1, 0, 0, 1, 1, 1, 0, false, true},
      {1, 8, 34, 34, 12, 3, 3, 1, 1, 0, 0, 1, 1, 1, 0, false, true},
      {1, 8, 18, 30, 13, 3, 3, 1, 1, 0, 0, 1, 1, 1, 0, true, true},
      {1, 20, 12, 12, 50, 3, 3, 1, 1, 0, 0, 1, 1, 1, 0, false, true},
      {1, 20, 12, 12, 11, 5, 5, 1, 1, 3, 3, 1, 1, 1, 0, false, true},
      {2, 7, 9, 30, 17, 7, 7, 1, 1, 0, 0, 1, 1, 1, 0, false, true},
      {1, 3, 60, 58, 5, 7, 7, 1, 1, 3, 3, 1, 1, 1, 0, false, true},
      {1, 70, 12, 12, 70, 5, 5, 1, 1, 2, 2, 1, 1, 1, 0, false, true},  // filters too large to cache packed
      // wide weight gradient: (O + 5) (K + 5) 64 bytes of sums just within 1 MiB and just over
      {2, 27, 10, 10, 59, 3, 3, 1, 1, 1, 1, 1, 1, 1, 0, false, true},
      {2, 28, 10, 10, 59, 3, 3, 1, 1, 1, 1, 1, 1, 1, 0, false, true},
      // pointwise, 1x1 planes
      {2, 70, 5, 7, 33, 1, 1, 1, 1, 0, 0, 1, 1, 1, 0, true, true},
      {3, 9, 1, 1, 4, 1, 1, 1, 1, 0, 0, 1, 1, 1, 0, false, true},
      {1, 64, 12, 12, 64, 1, 1, 1, 1, 0, 0, 1, 1, 1, 0, false, true},
      // gemm_split outside a team: one image of fewer rows than threads (columns), a 1x1
      // output (matrix-vector: rows), one output channel (matrix-vector: columns)
      {1, 64, 5, 122, 64, 3, 3, 2, 2, 0, 0, 1, 1, 1, 0, false, true},
      {1, 64, 3, 121, 64, 3, 3, 2, 2, 0, 0, 1, 1, 1, 0, false, true},
      {1, 70, 7, 7, 64, 7, 7, 1, 1, 0, 0, 1, 1, 1, 0, false, true},
      {1, 64, 40, 40, 1, 3, 3, 2, 2, 1, 1, 1, 1, 1, 0, false, true},
      // im2col + GEMM: groups, strides, dilation, tiles of rows
      {2, 12, 9, 10, 18, 3, 3, 2, 2, 1, 1, 1, 1, 3, 0, false, true},
      {1, 8, 13, 11, 8, 5, 5, 1, 1, 2, 2, 2, 2, 2, 3, false, true},
      {3, 4, 17, 6, 5, 3, 3, 3, 1, 0, 2, 1, 2, 1, 1, true, true},
      {2, 6, 3, 3, 4, 3, 3, 1, 1, 0, 0, 1, 1, 2, 0, false, true},
  };
  std::mt19937 rng(20261206);
  const auto pick = [&](std::initializer_list<std::size_t> l) {
    return *(l.begin() + std::uniform_int_distribution<std::size_t>(0, l.size() - 1)(rng));
  };
  const auto in = [&](std::size_t lo, std::size_t hi) {
    return std::uniform_int_distribution<std::size_t>(lo, hi)(rng);
  };
  while (v.size() < 34) {
    Case c{};
    const std::size_t kind = in(0, 3);  // general, depthwise, stride 1 without groups, pointwise
    c.N = in(1, 4), c.C = in(1, 70), c.O = in(1, 70), c.groups = 1, c.relu = in(0, 3) == 0, c.bias = in(0, 3) != 0;
    c.kh = pick({1, 3, 5, 7}), c.kw = in(0, 3) == 0 ? pick({1, 3, 5, 7}) : c.kh;
    c.sh = c.sw = kind == 0 ? pick({1, 2, 3}) : 1, c.dh = c.dw = kind == 0 ? pick({1, 1, 2}) : 1;
    c.ph = std::min(in(0, 3), c.kh), c.pw = std::min(in(0, 3), c.kw);
    if (kind == 0 && in(0, 2) == 0) c.sw = pick({1, 2, 3});
    if (kind == 0 && in(0, 2) == 0) {
      c.groups = pick({2, 3, 4});
      c.C = (c.C + c.groups - 1) / c.groups * c.groups, c.O = (c.O + c.groups - 1) / c.groups * c.groups;
    }
    if (kind == 1) c.groups = c.C = std::max<std::size_t>(c.C, 2), c.O = c.C * in(1, 2), c.sh = c.sw = pick({1, 2, 3});
    if (kind == 3) c.kh = c.kw = 1, c.ph = c.pw = 0;
    c.H = in(1, 60), c.W = in(1, 60);
    if (in(0, 4) == 0) c.tile_rows = in(1, 3);
    const Conv2DGeometry g = geometry(c);
    const double work = static_cast<double>(g.N * g.O * g.P()) * static_cast<double>(g.K());
    if (g.Ho == 0 || g.Wo == 0 || work > 2e6) continue;
    v.push_back(c);
  }
  // Unoptimized test code (the sanitizer and header-only passes) computes the reference too
  // slowly for the two largest shapes (87 and 151 million multiply-adds); test_conv2d_winograd
  // covers the weight gradient's tile split at every optimization level.
  if (!optimized)
    std::erase_if(v, [](const Case& c) {
      const Conv2DGeometry g = geometry(c);
      return static_cast<double>(g.N * g.O * g.P()) * static_cast<double>(g.K()) > 5e7;
    });
  return v;
}
}  // namespace sweep
}  // namespace

TEST_SUITE("kernels/conv2d") {
TEST_CASE("conv2d: tiles of output rows give the naive reference's values, forward and backward (double)") {
  // Geometries of every path (im2col dense and strided/padded, pointwise, single-channel direct
  // with and without padding, groups, dilation), each cut into tiles of 1, 2 and 3 output rows
  // and untiled, with and without the fused ReLU.
  const Conv2DGeometry geoms[] = {
      make(2, 3, 7, 9, 4, 3, 1, 0, 1, 1),    make(3, 4, 8, 8, 6, 3, 2, 1, 1, 1), make(2, 6, 9, 7, 6, 3, 1, 1, 2, 3),
      make(2, 4, 5, 6, 8, 1, 1, 0, 1, 1),    make(2, 4, 7, 6, 4, 1, 2, 0, 1, 2), make(3, 1, 13, 13, 13, 3, 1, 0, 1, 1),
      make(2, 1, 11, 12, 10, 3, 1, 1, 1, 1), make(4, 8, 12, 12, 8, 3, 1, 1, 1, 1),
  };
  for (const auto& g0 : geoms)
    for (std::size_t rows : {1, 2, 3, 0})
      for (bool relu : {false, true}) {
        Conv2DGeometry g = g0;
        g.tile_rows = rows;
        CAPTURE(g.C);
        CAPTURE(g.H);
        CAPTURE(g.kh);
        CAPTURE(g.sh);
        CAPTURE(g.ph);
        CAPTURE(rows);
        CAPTURE(relu);
        const std::size_t nx = g.N * g.C * g.H * g.W, nw = g.O * g.K(), ny = g.N * g.O * g.P();
        const auto x = random_values<double>(nx, 1), w = random_values<double>(nw, 2), b = random_values<double>(g.O, 3);
        const auto dy = random_values<double>(ny, 4);
        std::vector<double> y(ny), y_ref(ny);
        kernels::conv2d_forward(g, x.data(), w.data(), b.data(), y.data(), relu);
        kernels::conv2d_forward_naive(g, x.data(), w.data(), b.data(), y_ref.data());
        if (relu)
          for (auto& v : y_ref) v = std::max(v, 0.0);
        CHECK(max_abs_diff(y, y_ref) < 1e-12);
        // the reference backward of relu(conv): dy masked by y > 0
        std::vector<double> dy_ref = dy;
        if (relu)
          for (std::size_t i = 0; i < ny; ++i) dy_ref[i] = y_ref[i] > 0 ? dy[i] : 0.0;
        std::vector<double> dx(nx), dw(nw), db(g.O), dx_ref(nx), dw_ref(nw), db_ref(g.O);
        kernels::conv2d_backward(g, x.data(), w.data(), dy.data(), dx.data(), dw.data(), db.data(),
                                 relu ? y.data() : nullptr);
        kernels::conv2d_backward_naive(g, x.data(), w.data(), dy_ref.data(), dx_ref.data(), dw_ref.data(), db_ref.data());
        CHECK(max_abs_diff(dx, dx_ref) < 1e-12);
        CHECK(max_abs_diff(dw, dw_ref) < 1e-11);
        CHECK(max_abs_diff(db, db_ref) < 1e-11);
      }
}

TEST_CASE("conv2d: a batch smaller than the thread count splits each image's output rows (naive values)") {
  // im2col + GEMM, the single-channel direct kernel (padded), the pointwise product, groups with
  // stride and dilation; batch 1 and 2 on 2, 3 and 4 threads, with and without the ReLU.
  const Conv2DGeometry geoms[] = {make(1, 8, 14, 14, 32, 3, 1, 1, 1, 1), make(1, 1, 30, 30, 20, 5, 1, 2, 1, 1),
                                  make(1, 32, 12, 12, 64, 1, 1, 0, 1, 1), make(1, 8, 25, 23, 64, 3, 2, 1, 2, 2),
                                  make(2, 8, 14, 14, 32, 3, 1, 1, 1, 1)};
  const int saved = gluino::get_num_threads();
  for (int threads : {2, 3, 4}) {
    gluino::set_num_threads(threads);
    for (const auto& g : geoms)
      for (bool relu : {false, true}) {
        CAPTURE(threads);
        CAPTURE(g.N);
        CAPTURE(g.C);
        CAPTURE(g.groups);
        CAPTURE(relu);
        const bool split = kernels::conv2d_forward_workspace<double>(g).split_rows;
#if defined(_OPENMP)
        CHECK(split == (g.N < static_cast<std::size_t>(threads)));
#else
        CHECK_FALSE(split);
#endif
        const std::size_t nx = g.N * g.C * g.H * g.W, nw = g.O * g.K(), ny = g.N * g.O * g.P();
        const auto x = random_values<double>(nx, 5), w = random_values<double>(nw, 6), b = random_values<double>(g.O, 7);
        std::vector<double> y(ny, -1.0), y_ref(ny);
        kernels::conv2d_forward(g, x.data(), w.data(), b.data(), y.data(), relu);
        kernels::conv2d_forward_naive(g, x.data(), w.data(), b.data(), y_ref.data());
        if (relu)
          for (auto& v : y_ref) v = std::max(v, 0.0);
        CHECK(max_abs_diff(y, y_ref) < 1e-12);
      }
  }
  gluino::set_num_threads(saved);
}

TEST_CASE("conv2d: the workspace is bounded by conv_panel_bytes, comes from the pool and goes back to it") {
  // VGG's second layer on a 224x224 image: a whole image's column matrix is 576 x 50176 floats
  // (115 MB); the tiles keep each thread's panel within conv_panel_bytes.
  const Conv2DGeometry g = make(2, 64, 224, 224, 4, 3, 1, 1, 1, 1);
  const auto fw = kernels::conv2d_forward_workspace<float>(g);
  CHECK(fw.tile_rows < g.Ho);
  CHECK(fw.tile_rows >= 1);
  CHECK(fw.cols * sizeof(float) <= kernels::conv_panel_bytes);
  CHECK(fw.cols == g.K() * fw.tile_rows * g.Wo);
  const auto bw = kernels::conv2d_backward_workspace<float>(g, true, true, true, true);
  CHECK(bw.cols * sizeof(float) <= kernels::conv_panel_bytes);
  CHECK(bw.dcols * sizeof(float) <= kernels::conv_panel_bytes);
  CHECK(bw.masked * sizeof(float) <= kernels::conv_panel_bytes);
  // at least one output row, whatever the budget
  const Conv2DGeometry wide = make(1, 512, 1, 20000, 1, 1, 2, 0, 1, 1);
  CHECK(kernels::conv2d_forward_workspace<float>(wide).tile_rows == 1);

  const auto x = random_values<float>(g.N * g.C * g.H * g.W, 1), w = random_values<float>(g.O * g.K(), 2);
  std::vector<float> y(g.N * g.O * g.P()), dx(x.size()), dw(w.size());
  auto& pool = gluino::detail::memory_pool();
  if (pool_caches()) {
    // With room in the cache, the workspace is exactly what the pool holds after the call.
    gluino::set_memory_cache_limit(std::size_t(1) << 30);
    kernels::conv2d_forward(g, x.data(), w.data(), static_cast<const float*>(nullptr), y.data());
    const std::size_t bytes = fw.elements() * sizeof(float);
    CHECK(pool.cached_bytes() >= bytes);
    CHECK(pool.cached_bytes() < bytes + 64);
  }
  // With no cache, nothing stays held after the call: no per-thread scratch survives it.
  gluino::set_memory_cache_limit(0);
  const std::size_t before = heap_in_use();
  kernels::conv2d_forward(g, x.data(), w.data(), static_cast<const float*>(nullptr), y.data());
  kernels::conv2d_backward(g, x.data(), w.data(), y.data(), dx.data(), dw.data(), static_cast<float*>(nullptr));
  CHECK(pool.cached_bytes() == 0);
  CHECK(heap_in_use() <= before + (std::size_t(1) << 20));
  gluino::set_memory_cache_limit(gluino::default_memory_cache_limit);
}

TEST_CASE("conv2d sweep: every path's forward and gradients against the definition, float and double, 1-3 threads") {
  const int saved = gluino::get_num_threads();
  std::mt19937 rng(7);
  for (const sweep::Case& c : sweep::cases()) {
    const Conv2DGeometry g = sweep::geometry(c);
    const sweep::Reference r = sweep::reference(g, c.relu, c.bias, rng);
    const bool large = static_cast<double>(g.N * g.O * g.P()) * static_cast<double>(g.K()) > 2e7;
    // the largest, and every shape in unoptimized test code, on 1 and 3 threads
    for (int threads = 1; threads <= 3; threads += large || !sweep::optimized ? 2 : 1) {
      CAPTURE(sweep::describe(c));
      CAPTURE(threads);
      gluino::set_num_threads(threads);
      sweep::check_kernels<float>(g, c.relu, c.bias, r);
      sweep::check_kernels<double>(g, c.relu, c.bias, r);
    }
  }
  gluino::set_num_threads(saved);
}

TEST_CASE("conv2d sweep: inside a parallel region and in a thread limit, kernels get fewer threads than they ask") {
  // Inside a parallel region get_num_threads() still says 3, but run_team runs each kernel's
  // team on the calling thread alone: every path must size and sum its work by the team it got
  // (the small-channel weight gradient once added the partial sums of the threads it had asked
  // for: whatever the memory pool's blocks held, here the sums of the run on 3 threads before).
  const int saved = gluino::get_num_threads();
  const std::vector<sweep::Case> all = sweep::cases();
  std::mt19937 rng(9);
  gluino::set_num_threads(3);
  for (std::size_t i = 0; i < all.size(); ++i) {
    const sweep::Case& c = all[i];
    const Conv2DGeometry g = sweep::geometry(c);
    const bool winograd = kernels::winograd_applies(g) && g.N * g.P() < 4096;  // by channels (< 4 O tiles)
    if (i % 3 != 0 && !winograd) continue;
    const sweep::Reference r = sweep::reference(g, c.relu, c.bias, rng);
    CAPTURE(sweep::describe(c));
    CHECK(sweep::kernels_error<float>(g, c.relu, c.bias, r) <= 1.0);  // on 3 threads
    double err[2] = {};
#if defined(_OPENMP)
#pragma omp parallel num_threads(2)
#endif
    {
#if defined(_OPENMP)
      const auto t = static_cast<std::size_t>(omp_get_thread_num()) % 2;
#else
      const std::size_t t = 0;
#endif
      err[t] = sweep::kernels_error<float>(g, c.relu, c.bias, r);
    }
    CHECK(std::max(err[0], err[1]) <= 1.0);
    // A team of fewer threads than asked for (at most 2 of the 3): the Winograd weight gradient
    // split by channels once sized each thread's panel for a third of them, and a thread with
    // half wrote into the next thread's panel while that one used it.
    double limited = 0;
#if defined(_OPENMP) && _OPENMP >= 201811
#pragma omp teams num_teams(1) thread_limit(2)
#endif
    {
      limited = sweep::kernels_error<float>(g, c.relu, c.bias, r);
      if (kernels::winograd_applies(g)) limited = std::max(limited, sweep::winograd_chunked_error<float>(g, c.relu, r));
    }
    CHECK(limited <= 1.0);
  }
  gluino::set_num_threads(saved);
}

TEST_CASE("conv2d sweep: nd::convolution and its recorded gradients reach the same kernels") {
  const int saved = gluino::get_num_threads();
  const std::vector<sweep::Case> all = sweep::cases();
  std::mt19937 rng(8);
  for (std::size_t i = 0; i < all.size(); i += 5) {
    sweep::Case c = all[i];
    if (c.N * c.O * c.H * c.W * c.C > (std::size_t(4) << 20)) continue;  // the largest Winograd shape
    c.tile_rows = 0, c.bias = true;
    const Conv2DGeometry g = sweep::geometry(c);
    const sweep::Reference r = sweep::reference(g, c.relu, true, rng);
    for (int threads : {1, 3}) {
      CAPTURE(sweep::describe(c));
      CAPTURE(threads);
      gluino::set_num_threads(threads);
      sweep::check_nd<float>(g, c.relu, r);
      sweep::check_nd<double>(g, c.relu, r);
    }
  }
  gluino::set_num_threads(saved);
}
}
