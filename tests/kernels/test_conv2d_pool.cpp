// SPDX-License-Identifier: Apache-2.0
#include <gluino/kernels/conv2d.hpp>
#include <gluino/kernels/conv2d_pool.hpp>
#include <gluino/kernels/pool.hpp>

#include <doctest/doctest.h>

#include "support/random_values.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include <gluino/autograd/engine.hpp>
#include <gluino/autograd/mode.hpp>
#include <gluino/core/parallel.hpp>
#include <gluino/nd/conv_pool.hpp>

using gluino::kernels::Conv2DGeometry;
using gluino::kernels::Pool2DGeometry;
namespace kernels = gluino::kernels;

namespace conv2d_pool_test {
using gluino_test::max_abs_diff;
using gluino_test::random_values;

struct Case {
  std::size_t N, C, H, W, O, k, s, p, groups;  // the convolution
  std::size_t pk, ps, pp;                      // the pooling
  bool ceil;
};

Conv2DGeometry conv_of(const Case& c) {
  Conv2DGeometry g;
  g.N = c.N, g.C = c.C, g.H = c.H, g.W = c.W, g.O = c.O, g.groups = c.groups;
  g.kh = g.kw = c.k, g.sh = g.sw = c.s, g.ph = g.pw = c.p;
  g.infer_output();
  return g;
}

Pool2DGeometry pool_of(const Case& c, const Conv2DGeometry& g) {
  Pool2DGeometry p;
  p.H = g.Ho, p.W = g.Wo, p.kh = p.kw = c.pk, p.sh = p.sw = c.ps, p.ph = p.pw = c.pp;
  p.Ho = Pool2DGeometry::out_size(p.H, p.kh, p.sh, p.ph, c.ceil);
  p.Wo = Pool2DGeometry::out_size(p.W, p.kw, p.sw, p.pw, c.ceil);
  return p;
}

std::string describe(const Case& c) {
  return std::to_string(c.N) + "x" + std::to_string(c.C) + "x" + std::to_string(c.H) + "x" + std::to_string(c.W) +
         " -> " + std::to_string(c.O) + " k" + std::to_string(c.k) + " s" + std::to_string(c.s) + " p" +
         std::to_string(c.p) + " g" + std::to_string(c.groups) + ", pool k" + std::to_string(c.pk) + " s" +
         std::to_string(c.ps) + " p" + std::to_string(c.pp) + (c.ceil ? " ceil" : "");
}

// LeNet's two layers (the wide kernel; the first also with the single-channel kernel's shape),
// im2col + GEMM (stride 2, groups) with an overlapping padded window, the pointwise product
// with ceil mode (a clipped last window), one image (rows split over threads: the unfused
// path), a depthwise convolution (not conv2d_forward_rows: the unfused path), the wide
// kernels under overlapping padded windows (the scatter's general loop, adding up), and
// LeNet's layers on one image (on 2 and 3 threads its channels split, each thread pooling the
// planes it computed; an odd plane side, 15, leaves a column and a row out).
const std::vector<Case> cases = {
    {5, 1, 28, 28, 20, 5, 1, 0, 1, 2, 2, 0, false},  {4, 20, 12, 12, 50, 3, 1, 0, 1, 2, 2, 0, false},
    {3, 6, 15, 13, 8, 3, 2, 1, 2, 3, 2, 1, false},   {3, 4, 9, 9, 6, 1, 1, 0, 1, 2, 2, 0, true},
    {1, 8, 32, 32, 16, 3, 1, 1, 1, 2, 2, 0, false},  {4, 6, 10, 10, 6, 3, 1, 1, 6, 2, 2, 0, false},
    {7, 2, 11, 11, 3, 2, 1, 0, 1, 3, 3, 0, true},    {4, 8, 14, 14, 12, 3, 1, 1, 1, 3, 2, 1, false},
    {1, 1, 28, 28, 20, 5, 1, 0, 1, 2, 2, 0, false},  {1, 20, 17, 17, 50, 3, 1, 0, 1, 2, 2, 0, false},
};

template <class T>
void check_case(const Case& c, bool relu, bool with_bias) {
  const Conv2DGeometry g = conv_of(c);
  const Pool2DGeometry pg = pool_of(c, g);
  const std::size_t P = g.P(), Q = pg.Ho * pg.Wo, planes = g.N * g.O;
  const auto x = random_values<T>(g.N * g.C * g.H * g.W, 1);
  const auto w = random_values<T>(g.O * g.Cg() * g.kh * g.kw, 2);
  const auto b = random_values<T>(g.O, 3);
  const T* bp = with_bias ? b.data() : nullptr;
  std::vector<T> y(planes * Q), naive(planes * Q), unfused(planes * Q), conv(planes * P);
  std::vector<std::int32_t> idx(planes * Q, -7), unfused_idx(planes * Q, -9);
  kernels::conv2d_max_pool_forward(g, pg, x.data(), w.data(), bp, relu, y.data(), idx.data());
  kernels::conv2d_max_pool_forward_naive(g, pg, x.data(), w.data(), bp, relu, naive.data());
  CHECK(max_abs_diff(y, naive) < (sizeof(T) == 4 ? T(1e-4) : T(1e-10)));
  // The two calls it fuses: the same numbers and arg-max positions exactly.
  kernels::conv2d_forward(g, x.data(), w.data(), bp, conv.data(), relu);
  for (std::size_t p = 0; p < planes; ++p)
    kernels::max_pool2d_plane(pg, conv.data() + p * P, unfused.data() + p * Q, unfused_idx.data() + p * Q);
  CHECK(y == unfused);
  CHECK(idx == unfused_idx);
  // Without the arg-max: the same output.
  std::vector<T> y2(planes * Q);
  kernels::conv2d_max_pool_forward(g, pg, x.data(), w.data(), bp, relu, y2.data(), nullptr);
  CHECK(y2 == y);
  // The scatter: dy at the arg-max, masked by the pooled output's sign with relu.
  const auto dy = random_values<T>(planes * Q, 4);
  std::vector<T> dconv(planes * P, T(5)), want(planes * P, T(0));
  kernels::conv2d_max_pool_backward_scatter(g, pg, dy.data(), idx.data(), relu ? y.data() : nullptr, dconv.data());
  for (std::size_t p = 0; p < planes; ++p)
    for (std::size_t q = 0; q < Q; ++q) {
      const std::int32_t at = idx[p * Q + q];
      if (at >= 0 && (!relu || y[p * Q + q] > T(0))) want[p * P + static_cast<std::size_t>(at)] += dy[p * Q + q];
    }
  CHECK(dconv == want);
  // The gradients: as conv2d_backward computes them from the scattered array (the wide kernels
  // scatter dy themselves), all three and the weight gradient alone.
  const std::size_t xn = g.N * g.C * g.H * g.W, wn = g.O * g.Cg() * g.kh * g.kw;
  std::vector<T> dx(xn, T(7)), dw(wn, T(7)), db(g.O, T(7)), rx(xn), rw(wn), rb(g.O);
  const T* mask = relu ? y.data() : nullptr;
  kernels::conv2d_max_pool_backward(g, pg, x.data(), w.data(), dy.data(), idx.data(), mask, dx.data(), dw.data(),
                                    db.data());
  kernels::conv2d_backward(g, x.data(), w.data(), dconv.data(), rx.data(), rw.data(), rb.data());
  CHECK(dx == rx);
  CHECK(dw == rw);
  CHECK(db == rb);
  std::vector<T> dw_only(wn, T(9));
  kernels::conv2d_max_pool_backward(g, pg, x.data(), static_cast<const T*>(nullptr), dy.data(), idx.data(), mask,
                                    static_cast<T*>(nullptr), dw_only.data(), static_cast<T*>(nullptr));
  CHECK(dw_only == rw);
  std::vector<T> dx_only(xn, T(9));
  kernels::conv2d_max_pool_backward(g, pg, static_cast<const T*>(nullptr), w.data(), dy.data(), idx.data(), mask,
                                    dx_only.data(), static_cast<T*>(nullptr), static_cast<T*>(nullptr));
  CHECK(dx_only == rx);
}


// ---- the sweep: conv2d_max_pool_forward and _backward against the definition in double ----

/// A convolution's output (or gradient) in double from the definition, and each element's sum
/// of the magnitudes of its terms (its rounding error's scale).
struct Exact {
  std::vector<double> v, mag;
};

/// y = conv(x, w) + b from the definition (x, w, b exact in float).
Exact conv_exact(const Conv2DGeometry& g, const std::vector<double>& x, const std::vector<double>& w,
                 const std::vector<double>& b) {
  const std::size_t Cg = g.Cg(), Og = g.Og(), P = g.P();
  Exact y{std::vector<double>(g.N * g.O * P), std::vector<double>(g.N * g.O * P)};
  for (std::size_t n = 0; n < g.N; ++n)
    for (std::size_t o = 0; o < g.O; ++o)
      for (std::size_t q = 0; q < P; ++q) {
        const std::size_t oh = q / g.Wo, ow = q % g.Wo, yi = (n * g.O + o) * P + q;
        double acc = b[o], mag = std::abs(b[o]);
        for (std::size_t c = 0; c < Cg; ++c)
          for (std::size_t i = 0; i < g.kh; ++i)
            for (std::size_t j = 0; j < g.kw; ++j) {
              const std::size_t ih = oh * g.sh + i * g.dh, iw = ow * g.sw + j * g.dw;
              if (ih < g.ph || iw < g.pw || ih - g.ph >= g.H || iw - g.pw >= g.W) continue;
              const double t = w[((o * Cg + c) * g.kh + i) * g.kw + j] *
                               x[((n * g.C + (o / Og) * Cg + c) * g.H + ih - g.ph) * g.W + iw - g.pw];
              acc += t, mag += std::abs(t);
            }
        y.v[yi] = acc, y.mag[yi] = mag;
      }
  return y;
}

/// dx, dw, db of the convolution from the definition, given its output gradient dconv.
void conv_grads_exact(const Conv2DGeometry& g, const std::vector<double>& x, const std::vector<double>& w,
                      const std::vector<double>& dconv, Exact& dx, Exact& dw, Exact& db) {
  const std::size_t Cg = g.Cg(), Og = g.Og(), P = g.P();
  dx = {std::vector<double>(x.size()), std::vector<double>(x.size())};
  dw = {std::vector<double>(w.size()), std::vector<double>(w.size())};
  db = {std::vector<double>(g.O), std::vector<double>(g.O)};
  for (std::size_t n = 0; n < g.N; ++n)
    for (std::size_t o = 0; o < g.O; ++o)
      for (std::size_t q = 0; q < P; ++q) {
        const std::size_t oh = q / g.Wo, ow = q % g.Wo;
        const double gy = dconv[(n * g.O + o) * P + q];
        db.v[o] += gy, db.mag[o] += std::abs(gy);
        for (std::size_t c = 0; c < Cg; ++c)
          for (std::size_t i = 0; i < g.kh; ++i)
            for (std::size_t j = 0; j < g.kw; ++j) {
              const std::size_t ih = oh * g.sh + i * g.dh, iw = ow * g.sw + j * g.dw;
              if (ih < g.ph || iw < g.pw || ih - g.ph >= g.H || iw - g.pw >= g.W) continue;
              const std::size_t xi = ((n * g.C + (o / Og) * Cg + c) * g.H + ih - g.ph) * g.W + iw - g.pw;
              const std::size_t wi = ((o * Cg + c) * g.kh + i) * g.kw + j;
              dx.v[xi] += w[wi] * gy, dx.mag[xi] += std::abs(w[wi] * gy);
              dw.v[wi] += x[xi] * gy, dw.mag[wi] += std::abs(x[xi] * gy);
            }
      }
}

/// The definition's gradients for one output gradient dconv, kept while the next call passes the
/// same dconv (the arg-max positions and ReLU mask of every type and thread count agree but for ties).
struct GradsCache {
  std::vector<double> dconv;
  Exact dx, dw, db;
  void get(const Conv2DGeometry& g, const std::vector<double>& x, const std::vector<double>& w,
           const std::vector<double>& d) {
    if (d == dconv) return;
    dconv = d;
    conv_grads_exact(g, x, w, dconv, dx, dw, db);
  }
};

/// The largest error of got against e in units of each element's magnitude.
template <class T>
double worst(const std::vector<T>& got, const Exact& e) {
  double r = 0;
  for (std::size_t i = 0; i < got.size(); ++i) {
    const double d = std::abs(static_cast<double>(got[i]) - e.v[i]);
    if (!(d <= 0)) r = std::max(r, e.mag[i] > 0 ? d / e.mag[i] : HUGE_VAL);
  }
  return r;
}

template <class T>
constexpr double tolerance = sizeof(T) == 4 ? 1e-4 : 1e-10;

std::vector<double> float_values(std::size_t n, std::mt19937& rng) {
  std::uniform_real_distribution<double> u(-1.0, 1.0);
  std::vector<double> v(n);
  for (auto& e : v) e = static_cast<double>(static_cast<float>(u(rng)));
  return v;
}

/// conv2d_max_pool_forward against the definition's convolution, ReLU and max over each window
/// (clipped to the plane); the arg-max inside its window and at a maximum; then
/// conv2d_max_pool_backward (all three gradients, dx alone, dw alone, dw and db) against the
/// definition's gradients of dy scattered to those arg-max positions (masked by the pooled
/// output's sign with relu).
template <class T>
void sweep_case(const Case& c, bool relu, bool bias, const std::vector<double>& x, const std::vector<double>& w,
                const std::vector<double>& b, const std::vector<double>& dy, const Exact& conv, GradsCache& cache) {
  const Conv2DGeometry g = conv_of(c);
  const Pool2DGeometry pg = pool_of(c, g);
  const std::size_t P = g.P(), Q = pg.Ho * pg.Wo, planes = g.N * g.O;
  const std::vector<T> xt(x.begin(), x.end()), wt(w.begin(), w.end()), bt(b.begin(), b.end()),
      dyt(dy.begin(), dy.end());
  std::vector<T> y(planes * Q, T(-5));
  std::vector<std::int32_t> idx(planes * Q, -7);
  kernels::conv2d_max_pool_forward(g, pg, xt.data(), wt.data(), bias ? bt.data() : nullptr, relu, y.data(),
                                   idx.data());
  Exact want{std::vector<double>(planes * Q), std::vector<double>(planes * Q)};
  bool idx_ok = true;
  for (std::size_t p = 0; p < planes; ++p)
    for (std::size_t q = 0; q < Q; ++q) {
      const kernels::PoolWindow win = kernels::pool_window(pg, q / pg.Wo, q % pg.Wo);
      double m = -HUGE_VAL, mag = 0;
      for (std::size_t h = win.h0; h < win.h1; ++h)
        for (std::size_t v = win.w0; v < win.w1; ++v) {
          const double cv = conv.v[p * P + h * g.Wo + v];
          m = std::max(m, relu ? std::max(cv, 0.0) : cv), mag = std::max(mag, conv.mag[p * P + h * g.Wo + v]);
        }
      want.v[p * Q + q] = m, want.mag[p * Q + q] = mag;
      const std::int32_t at = idx[p * Q + q];
      const std::size_t ah = static_cast<std::size_t>(at) / g.Wo, aw = static_cast<std::size_t>(at) % g.Wo;
      const double av = at < 0 ? -HUGE_VAL : conv.v[p * P + static_cast<std::size_t>(at)];
      idx_ok = idx_ok && at >= 0 && ah >= win.h0 && ah < win.h1 && aw >= win.w0 && aw < win.w1 &&
               std::abs((relu ? std::max(av, 0.0) : av) - m) <= tolerance<T> * mag;
    }
  CHECK(worst(y, want) <= tolerance<T>);
  CHECK(idx_ok);
  std::vector<T> y2(planes * Q, T(-5));
  kernels::conv2d_max_pool_forward(g, pg, xt.data(), wt.data(), bias ? bt.data() : nullptr, relu, y2.data(),
                                   static_cast<std::int32_t*>(nullptr));
  CHECK(worst(y2, want) <= tolerance<T>);
  if (!idx_ok) return;
  std::vector<double> dconv(planes * P, 0.0);
  for (std::size_t p = 0; p < planes; ++p)
    for (std::size_t q = 0; q < Q; ++q)
      if (!relu || y[p * Q + q] > T(0)) dconv[p * P + static_cast<std::size_t>(idx[p * Q + q])] += dy[p * Q + q];
  cache.get(g, x, w, dconv);
  const Exact &dx = cache.dx, &dw = cache.dw, &db = cache.db;
  const T* mask = relu ? y.data() : nullptr;
  const T* none = nullptr;
  T* out = nullptr;
  std::vector<T> gx(x.size(), T(7)), gw(w.size(), T(7)), gb(g.O, T(7));
  kernels::conv2d_max_pool_backward(g, pg, xt.data(), wt.data(), dyt.data(), idx.data(), mask, gx.data(), gw.data(),
                                    gb.data());
  CHECK(worst(gx, dx) <= tolerance<T>);
  CHECK(worst(gw, dw) <= tolerance<T>);
  CHECK(worst(gb, db) <= tolerance<T>);
  std::fill(gx.begin(), gx.end(), T(3));
  kernels::conv2d_max_pool_backward(g, pg, none, wt.data(), dyt.data(), idx.data(), mask, gx.data(), out, out);
  CHECK(worst(gx, dx) <= tolerance<T>);
  std::fill(gw.begin(), gw.end(), T(3));
  kernels::conv2d_max_pool_backward(g, pg, xt.data(), none, dyt.data(), idx.data(), mask, out, gw.data(), out);
  CHECK(worst(gw, dw) <= tolerance<T>);
  std::fill(gw.begin(), gw.end(), T(3));
  std::fill(gb.begin(), gb.end(), T(3));
  kernels::conv2d_max_pool_backward(g, pg, xt.data(), none, dyt.data(), idx.data(), mask, out, gw.data(), gb.data());
  CHECK(worst(gw, dw) <= tolerance<T>);
  CHECK(worst(gb, db) <= tolerance<T>);
}

/// nd::convolution_max_pool recorded, its gradients by backward, against the definition.
template <class T>
void sweep_nd(const Case& c, bool relu, const std::vector<double>& x, const std::vector<double>& w,
              const std::vector<double>& b, const std::vector<double>& dy, const Exact& conv, GradsCache& cache) {
  const Conv2DGeometry g = conv_of(c);
  const Pool2DGeometry pg = pool_of(c, g);
  const auto array = [](const std::vector<double>& v, gluino::Shape s) {
    gluino::NDArray<T> a(s);
    std::copy(v.begin(), v.end(), a.data());
    return a;
  };
  auto xa = array(x, {g.N, g.C, g.H, g.W}), wa = array(w, {g.O, g.Cg(), g.kh, g.kw}), ba = array(b, {g.O});
  xa.attach_grad(), wa.attach_grad(), ba.attach_grad();
  const gluino::nd::ConvOptions co{.stride = {g.sh, g.sw}, .pad = {g.ph, g.pw}, .num_group = g.groups};
  const gluino::nd::PoolOptions po{.kernel = {c.pk, c.pk}, .stride = {c.ps, c.ps}, .pad = {c.pp, c.pp},
                                   .convention = c.ceil ? gluino::nd::pooling_convention::full
                                                        : gluino::nd::pooling_convention::valid};
  gluino::NDArray<T> y;
  {
    gluino::autograd::record rec;
    y = gluino::nd::convolution_max_pool(xa, wa, ba, co, po, relu);
  }
  REQUIRE(y.shape() == gluino::Shape{g.N, g.O, pg.Ho, pg.Wo});
  y.backward(array(dy, y.shape()));
  // the pooled values: the window maxima; the gradients: dy at each window's arg-max, found here
  const std::size_t P = g.P(), Q = pg.Ho * pg.Wo;
  const std::vector<T> yv = y.to_vector();
  std::vector<double> dconv(g.N * g.O * P, 0.0);
  Exact want{std::vector<double>(yv.size()), std::vector<double>(yv.size())};
  for (std::size_t p = 0; p < g.N * g.O; ++p)
    for (std::size_t q = 0; q < Q; ++q) {
      const kernels::PoolWindow win = kernels::pool_window(pg, q / pg.Wo, q % pg.Wo);
      std::size_t at = win.h0 * g.Wo + win.w0;
      double mag = 0;
      for (std::size_t h = win.h0; h < win.h1; ++h)
        for (std::size_t v = win.w0; v < win.w1; ++v) {
          if (conv.v[p * P + h * g.Wo + v] > conv.v[p * P + at]) at = h * g.Wo + v;
          mag = std::max(mag, conv.mag[p * P + h * g.Wo + v]);
        }
      const double m = conv.v[p * P + at];
      want.v[p * Q + q] = relu ? std::max(m, 0.0) : m, want.mag[p * Q + q] = mag;
      if (!relu || m > 0) dconv[p * P + at] += dy[p * Q + q];
    }
  CHECK(worst(yv, want) <= tolerance<T>);
  cache.get(g, x, w, dconv);
  const Exact &dx = cache.dx, &dw = cache.dw, &db = cache.db;
  CHECK(worst(xa.grad().to_vector(), dx) <= tolerance<T>);
  CHECK(worst(wa.grad().to_vector(), dw) <= tolerance<T>);
  CHECK(worst(ba.grad().to_vector(), db) <= tolerance<T>);
}

/// Shapes on both sides of the fused path's choices (conv2d_pool_fuses, batch_lanes_applies,
/// wide_channel_block), pooled 2x2/2 and 3x3/2 with odd planes whose windows reach the edge,
/// then shapes drawn at random.
std::vector<Case> sweep_cases() {
  std::vector<Case> v = {
      {3, 1, 28, 28, 6, 5, 1, 0, 1, 2, 2, 0, false},    {2, 1, 39, 37, 4, 5, 1, 1, 1, 3, 2, 0, true},
      {1, 20, 17, 17, 50, 3, 1, 0, 1, 2, 2, 0, false},  {1, 20, 17, 17, 50, 3, 1, 0, 1, 3, 2, 1, false},
      {1, 8, 33, 34, 12, 3, 1, 0, 1, 3, 2, 0, true},    {1, 8, 18, 30, 13, 3, 1, 0, 1, 2, 2, 0, false},
      {5, 6, 15, 13, 8, 3, 2, 1, 2, 2, 2, 0, true},     {4, 16, 11, 11, 16, 3, 1, 1, 16, 3, 2, 0, false},
      {2, 64, 16, 16, 64, 3, 1, 1, 1, 3, 2, 1, false},  {16, 1, 13, 13, 5, 5, 1, 0, 1, 2, 2, 0, false},
      {17, 2, 9, 12, 7, 5, 1, 2, 1, 2, 2, 0, false},    {8, 3, 12, 11, 6, 5, 1, 2, 1, 2, 2, 0, false},
      {2, 3, 3, 18, 8, 3, 1, 1, 1, 2, 2, 0, true},      {3, 70, 5, 7, 33, 1, 1, 0, 1, 3, 2, 0, true},
      {1, 64, 5, 122, 64, 3, 2, 0, 1, 2, 2, 0, false},  {2, 5, 4, 4, 3, 3, 1, 0, 1, 2, 2, 0, false},
      {3, 4, 2, 2, 5, 1, 1, 0, 1, 3, 2, 1, false},      {2, 9, 7, 9, 10, 3, 1, 1, 1, 3, 2, 0, true},
      {2, 1, 68, 68, 3, 3, 1, 0, 1, 2, 2, 0, false},    {1, 2, 67, 69, 2, 3, 1, 1, 1, 3, 2, 1, true},
  };
  std::mt19937 rng(20261207);
  const auto in = [&](std::size_t lo, std::size_t hi) {
    return std::uniform_int_distribution<std::size_t>(lo, hi)(rng);
  };
  while (v.size() < 32) {
    Case c{};
    c.N = in(1, 4), c.C = in(1, 40), c.O = in(1, 40), c.k = 2 * in(0, 3) + 1, c.s = in(1, 3) == 1 ? 2 : 1;
    c.p = std::min(in(0, 3), c.k - 1), c.groups = 1;
    if (in(0, 4) == 0) c.groups = c.C = c.O = std::max<std::size_t>(c.C, 2);
    c.H = in(2, 40), c.W = in(2, 40);
    const bool three = in(0, 1) == 1;
    c.pk = three ? 3 : 2, c.ps = 2, c.pp = three ? in(0, 1) : 0, c.ceil = in(0, 2) == 0;
    const Conv2DGeometry g = conv_of(c);
    if (g.Ho < 2 || g.Wo < 2 || static_cast<double>(g.N * g.O * g.P() * g.K()) > 1.5e6) continue;
    v.push_back(c);
  }
  return v;
}

TEST_SUITE("kernels/conv2d_pool") {
TEST_CASE("conv2d_max_pool_forward and _backward: as the naive loops and as the calls they fuse, on 1 to 3 threads") {
  const int saved = gluino::get_num_threads();
  for (int threads = 1; threads <= 3; ++threads)
    for (const Case& c : cases)
      for (bool relu : {false, true}) {
        CAPTURE(threads);
        CAPTURE(describe(c));
        CAPTURE(relu);
        gluino::set_num_threads(threads);
        check_case<float>(c, relu, true);
        check_case<double>(c, relu, c.N % 2 == 1);
      }
  gluino::set_num_threads(saved);
}

TEST_CASE("conv2d_pool_fuses: LeNet's layers on a batch fuse; one image on two threads and depthwise do not") {
  const int saved = gluino::get_num_threads();
  gluino::set_num_threads(2);
  CHECK(kernels::conv2d_pool_fuses<float>(conv_of(cases[0])));
  CHECK(kernels::conv2d_pool_fuses<float>(conv_of(cases[1])));
  CHECK(kernels::conv2d_pool_fuses<float>(conv_of(cases[2])));
  CHECK_FALSE(kernels::conv2d_pool_fuses<float>(conv_of(cases[4])));  // one image: rows split
  CHECK_FALSE(kernels::conv2d_pool_fuses<float>(conv_of(cases[5])));  // depthwise
  CHECK_FALSE(kernels::conv2d_pool_fuses<float>(conv_of(cases[8])));  // one image: channels split
  CHECK(kernels::conv2d_forward_workspace<float>(conv_of(cases[8])).channel_block == 5);
  CHECK(kernels::conv2d_forward_workspace<float>(conv_of(cases[9])).channel_block == 5);
  CHECK(kernels::direct_wide_weight_grad_applies<float>(conv_of(cases[7])));  // the general scatter
  CHECK(kernels::direct_wide_input_grad_applies<float>(conv_of(cases[7])));
  gluino::set_num_threads(1);
  CHECK(kernels::conv2d_pool_fuses<float>(conv_of(cases[4])));
  gluino::set_num_threads(saved);
}
TEST_CASE("conv2d_max_pool_forward keeps the wide kernel's packed filters across calls (WidePackCache)") {
  // LeNet's second layer on one image, one thread (the fused path, which packed the filters at
  // every call: 3.5 of 48 us of a batch-1 LeNet) and on a batch of 4 on two threads.
  const int saved = gluino::get_num_threads();
  auto& cache = kernels::WidePackCache<float>::instance();
  for (const auto& entry : {std::pair{cases[9], 1}, std::pair{cases[1], 2}}) {
    const auto& c = entry.first;  // a named variable: clang 14 cannot capture a binding
    const int threads = entry.second;
    CAPTURE(describe(c));
    gluino::set_num_threads(threads);
    const Conv2DGeometry g = conv_of(c);
    const Pool2DGeometry pg = pool_of(c, g);
    REQUIRE(kernels::conv2d_pool_fuses<float>(g));
    REQUIRE(kernels::direct_wide_applies<float>(g));
    const auto x = random_values<float>(g.N * g.C * g.H * g.W, 41), b = random_values<float>(g.O, 42);
    auto w = random_values<float>(g.O * g.K(), 43);
    const auto check = [&] {
      std::vector<float> want(g.N * g.O * pg.Ho * pg.Wo), got(want.size(), -7.0f);
      kernels::conv2d_max_pool_forward_naive(g, pg, x.data(), w.data(), b.data(), true, want.data());
      kernels::conv2d_max_pool_forward(g, pg, x.data(), w.data(), b.data(), true, got.data(), nullptr);
      CHECK(max_abs_diff(want, got) < 1e-4f);
    };
    check();
    const std::size_t packed = cache.packings();
    check();
    CHECK(cache.packings() == packed);  // the same weights: the kept packing
    w[w.size() / 2] += 1.0f;            // written through the raw pointer: packed again, right
    check();
    CHECK(cache.packings() == packed + 1);
  }
  gluino::set_num_threads(saved);
}

TEST_CASE("conv2d_max_pool sweep: fused forward and gradients against the definition, float and double, 1-3 threads") {
  const int saved = gluino::get_num_threads();
  std::mt19937 rng(11);
  std::size_t i = 0;
  for (const Case& c : sweep_cases()) {
    const bool relu = i % 3 == 1 || c.H > 60, bias = i % 4 != 3, nd = i % 4 == 0;
    ++i;
    const Conv2DGeometry g = conv_of(c);
    const Pool2DGeometry pg = pool_of(c, g);
    const auto x = float_values(g.N * g.C * g.H * g.W, rng), w = float_values(g.O * g.K(), rng);
    const auto b = bias ? float_values(g.O, rng) : std::vector<double>(g.O, 0.0);
    const auto dy = float_values(g.N * g.O * pg.Ho * pg.Wo, rng);
    const Exact conv = conv_exact(g, x, w, b);
    GradsCache cache;
    for (int threads = 1; threads <= 3; ++threads) {
      CAPTURE(describe(c));
      CAPTURE(relu);
      CAPTURE(bias);
      CAPTURE(threads);
      gluino::set_num_threads(threads);
      sweep_case<float>(c, relu, bias, x, w, b, dy, conv, cache);
      sweep_case<double>(c, relu, bias, x, w, b, dy, conv, cache);
      if (nd && threads != 2) {
        sweep_nd<float>(c, relu, x, w, b, dy, conv, cache);
        sweep_nd<double>(c, relu, x, w, b, dy, conv, cache);
      }
    }
  }
  gluino::set_num_threads(saved);
}
}
}  // namespace conv2d_pool_test
