// SPDX-License-Identifier: Apache-2.0
#include <gluino/kernels/conv2d_lanes.hpp>

#include <doctest/doctest.h>

#include <gluino/core/parallel.hpp>
#include <gluino/kernels/conv2d.hpp>
#include <gluino/kernels/conv2d_pool.hpp>
#include <gluino/kernels/conv2d_wide.hpp>
#include <gluino/kernels/pool.hpp>

#include "support/random_values.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

using gluino::kernels::Conv2DGeometry;
using gluino::kernels::Pool2DGeometry;
namespace kernels = gluino::kernels;

namespace conv2d_lanes_test {
using gluino_test::max_abs_diff;
using gluino_test::random_values;

struct Case {
  std::size_t N, C, H, W, O, k, p;
};

Conv2DGeometry conv_of(const Case& c) {
  Conv2DGeometry g;
  g.N = c.N, g.C = c.C, g.H = c.H, g.W = c.W, g.O = c.O;
  g.kh = g.kw = c.k, g.ph = g.pw = c.p;
  g.infer_output();
  return g;
}
Pool2DGeometry pool_of(const Conv2DGeometry& g) {
  Pool2DGeometry p;
  p.H = g.Ho, p.W = g.Wo, p.kh = p.kw = 2, p.sh = p.sw = 2;
  p.Ho = Pool2DGeometry::out_size(p.H, 2, 2, 0, false);
  p.Wo = Pool2DGeometry::out_size(p.W, 2, 2, 0, false);
  return p;
}
std::string describe(const Case& c) {
  return std::to_string(c.N) + "x" + std::to_string(c.C) + "x" + std::to_string(c.H) + "x" + std::to_string(c.W) +
         " -> " + std::to_string(c.O) + " k" + std::to_string(c.k) + " p" + std::to_string(c.p);
}

// LeNet's second layer (blocks of 5 channels, tiles of 5 pixels: two per row), its first (rows
// of 24: tiles of 5 and a last one of 4),
// blocks of 6 (O = 12) with a padded input and odd output rows (the pooling drops the last row
// and column), and one group of fewer images than lanes.
const std::vector<Case> cases = {
    {37, 20, 12, 12, 50, 3, 0}, {18, 1, 28, 28, 20, 5, 0}, {21, 7, 9, 11, 12, 3, 1}, {3, 20, 12, 12, 50, 3, 0}};

/// Runs the kernel group by group (as conv2d_max_pool_forward does) into y and idx.
template <class T>
void run_lanes(const Conv2DGeometry& g, const Pool2DGeometry& pg, const std::vector<T>& x, const std::vector<T>& w,
               const T* b, bool relu, std::vector<T>& y, std::int32_t* idx) {
  constexpr std::size_t L = kernels::wide_lanes<T>;
  const kernels::LanesLayout l = kernels::lanes_layout<T>(g);
  std::vector<T> packed(l.packed), xg(l.input, T(0)), conv(l.output, T(3)), pooled(2 * g.O * pg.Ho * pg.Wo * L, T(3));
  kernels::direct_wide_pack(g, kernels::wide_layout<T>(g), w.data(), packed.data());
  const std::size_t Q = pg.Ho * pg.Wo;
  for (std::size_t n0 = 0; n0 < g.N; n0 += L)
    kernels::conv2d_max_pool_forward_lanes(g, pg, l, x.data() + n0 * g.C * g.H * g.W, std::min(L, g.N - n0),
                                           packed.data(), b, relu, y.data() + n0 * g.O * Q,
                                           idx ? idx + n0 * g.O * Q : nullptr, xg.data(), conv.data(), pooled.data());
}

/// What the kernel stands for: the wide kernel image by image (the same sums in the same
/// order), then max_pool2d_plane per plane.
template <class T>
void reference(const Conv2DGeometry& g, const Pool2DGeometry& pg, const std::vector<T>& x, const std::vector<T>& w,
               const T* b, bool relu, std::vector<T>& y, std::vector<std::int32_t>& idx) {
  const std::size_t P = g.P(), Q = pg.Ho * pg.Wo, planes = g.N * g.O;
  const kernels::WideLayout l = kernels::wide_layout<T>(g);
  std::vector<T> conv(planes * P), packed(l.packed), padded(l.padded);
  kernels::direct_wide_pack(g, l, w.data(), packed.data());
  for (std::size_t n = 0; n < g.N; ++n)
    kernels::conv2d_forward_direct_wide(g, l, x.data() + n * g.C * g.H * g.W, packed.data(), b,
                                        conv.data() + n * g.O * P, relu, 0, g.Ho, padded.data());
  for (std::size_t p = 0; p < planes; ++p)
    kernels::max_pool2d_plane(pg, conv.data() + p * P, y.data() + p * Q, idx.data() + p * Q);
}

template <class T>
void check_case(const Case& c, bool relu, bool with_bias, bool specials) {
  const Conv2DGeometry g = conv_of(c);
  const Pool2DGeometry pg = pool_of(g);
  const std::size_t n = g.N * g.O * pg.Ho * pg.Wo;
  auto x = random_values<T>(g.N * g.C * g.H * g.W, 11);
  if (specials) {  // a NaN and infinities reach some windows (and spread through the sums)
    x[5] = std::numeric_limits<T>::quiet_NaN();
    x[x.size() / 2] = std::numeric_limits<T>::infinity();
    x[x.size() - 3] = -std::numeric_limits<T>::infinity();
  }
  const auto w = random_values<T>(g.O * g.C * g.kh * g.kw, 12);
  const auto b = random_values<T>(g.O, 13);
  const T* bp = with_bias ? b.data() : nullptr;
  std::vector<T> y(n, T(7)), want(n), naive(n), y2(n, T(8));
  std::vector<std::int32_t> idx(n, -7), want_idx(n, -9);
  run_lanes(g, pg, x, w, bp, relu, y, idx.data());
  reference(g, pg, x, w, bp, relu, want, want_idx);
  // Bit for bit the wide kernel's sums, and max_pool2d_plane's maxima and positions (NaN too).
  auto same = [](T a, T e) { return a == e || (a != a && e != e); };
  CHECK(std::equal(y.begin(), y.end(), want.begin(), same));
  CHECK(idx == want_idx);
  run_lanes(g, pg, x, w, bp, relu, y2, nullptr);
  CHECK(std::equal(y2.begin(), y2.end(), want.begin(), same));
  if (!specials) {
    kernels::conv2d_max_pool_forward_naive(g, pg, x.data(), w.data(), bp, relu, naive.data());
    CHECK(max_abs_diff(y, naive) < (sizeof(T) == 4 ? T(1e-4) : T(1e-12)));
  }
}

/// The backward's inputs and what it stands for: the forward (any path) for the pooled output
/// and arg-max, a random pooled dy, the scattered dy (conv2d_max_pool_backward_scatter), then
/// conv2d_backward_naive on it, and the wide kernel's input gradient on it.
template <class T>
struct GradCase {
  Conv2DGeometry g;
  Pool2DGeometry pg;
  std::vector<T> x, w, b, y, dy, dconv, dx, dw, db, dx_wide;
  std::vector<std::int32_t> idx;
  GradCase(const Case& c, bool relu, bool specials = false) : g(conv_of(c)), pg(pool_of(g)) {
    const std::size_t n = g.N * g.O * pg.Ho * pg.Wo;
    x = random_values<T>(g.N * g.C * g.H * g.W, 31);
    if (specials) x[x.size() / 3] = std::numeric_limits<T>::infinity();
    w = random_values<T>(g.O * g.K(), 32);
    b = random_values<T>(g.O, 33);
    y.assign(n, T(0));
    idx.assign(n, 0);
    kernels::conv2d_max_pool_forward(g, pg, x.data(), w.data(), b.data(), relu, y.data(), idx.data());
    dy = random_values<T>(n, 34);
    if (specials) {  // a NaN and an infinity of dy reach the scattered gradient
      dy[7] = std::numeric_limits<T>::quiet_NaN();
      dy[n / 2] = -std::numeric_limits<T>::infinity();
    }
    dconv.assign(g.N * g.O * g.P(), T(0));
    kernels::conv2d_max_pool_backward_scatter(g, pg, dy.data(), idx.data(), relu ? y.data() : nullptr, dconv.data());
    dx.assign(x.size(), T(0)), dw.assign(w.size(), T(0)), db.assign(b.size(), T(0));
    kernels::conv2d_backward_naive(g, x.data(), w.data(), dconv.data(), dx.data(), dw.data(), db.data());
    dx_wide.assign(x.size(), T(0));
    if (kernels::direct_wide_input_grad_applies<T>(g))
      kernels::conv2d_input_grad_direct_wide(g, w.data(), dconv.data(), dx_wide.data());
  }
};

/// Within float's (double's) rounding of sums over the batch: relative to the largest element.
template <class T>
bool close(const std::vector<T>& a, const std::vector<T>& want) {
  T big = T(1);
  for (T v : want) big = std::max(big, std::abs(v));
  return max_abs_diff(a, want) <= (sizeof(T) == 4 ? T(2e-5) : T(1e-13)) * big * T(16);
}

template <class T>
void check_grad_case(const Case& c, bool relu) {
  const GradCase<T> k(c, relu);
  std::vector<T> dx(k.x.size(), T(7)), dw(k.w.size(), T(7)), db(k.b.size(), T(7));
  kernels::conv2d_max_pool_backward_lanes(k.g, k.pg, k.x.data(), k.w.data(), k.dy.data(), k.idx.data(),
                                          relu ? k.y.data() : nullptr, dx.data(), dw.data(), db.data());
  CHECK(close(dx, k.dx));
  CHECK(close(dw, k.dw));
  CHECK(close(db, k.db));
  if (kernels::direct_wide_input_grad_applies<T>(k.g)) CHECK(dx == k.dx_wide);  // the wide kernel's sums, bit for bit
  // Each gradient alone (x and w not read where not needed).
  std::vector<T> dx1(k.x.size(), T(8)), dw1(k.w.size(), T(8)), db1(k.b.size(), T(8));
  kernels::conv2d_max_pool_backward_lanes<T>(k.g, k.pg, nullptr, k.w.data(), k.dy.data(), k.idx.data(),
                                             relu ? k.y.data() : nullptr, dx1.data(), nullptr, nullptr);
  CHECK(dx1 == dx);
  kernels::conv2d_max_pool_backward_lanes<T>(k.g, k.pg, k.x.data(), nullptr, k.dy.data(), k.idx.data(),
                                             relu ? k.y.data() : nullptr, nullptr, dw1.data(), nullptr);
  CHECK(dw1 == dw);
  kernels::conv2d_max_pool_backward_lanes<T>(k.g, k.pg, nullptr, nullptr, k.dy.data(), k.idx.data(),
                                             relu ? k.y.data() : nullptr, nullptr, nullptr, db1.data());
  CHECK(close(db1, db));  // summed on fewer threads, in another order
}

TEST_SUITE("kernels/conv2d_lanes") {
TEST_CASE("conv2d_max_pool_backward_lanes: the naive gradients of the scattered dy, dx the wide kernel's bit for bit") {
  for (const Case& c : cases)
    for (bool relu : {false, true}) {
      CAPTURE(describe(c));
      CAPTURE(relu);
      check_grad_case<float>(c, relu);
      check_grad_case<double>(c, relu);
    }
}

TEST_CASE("conv2d_max_pool_backward_lanes: NaN and infinities land where the naive loops put them") {
  for (const Case& c : cases)
    for (bool relu : {false, true}) {
      CAPTURE(describe(c));
      CAPTURE(relu);
      const GradCase<float> k(c, relu, true);
      std::vector<float> dx(k.x.size(), 7.0f), dw(k.w.size(), 7.0f), db(k.b.size(), 7.0f);
      kernels::conv2d_max_pool_backward_lanes(k.g, k.pg, k.x.data(), k.w.data(), k.dy.data(), k.idx.data(),
                                              relu ? k.y.data() : nullptr, dx.data(), dw.data(), db.data());
      // Each element finite where the naive one is, equal to it within rounding, and NaN or
      // the same infinity where it is not.
      auto agree = [](const std::vector<float>& a, const std::vector<float>& want) {
        float big = 1.0f;
        for (float v : want)
          if (std::isfinite(v)) big = std::max(big, std::abs(v));
        std::size_t bad = 0;
        for (std::size_t i = 0; i < a.size(); ++i) {
          const float e = want[i];
          const bool ok = std::isnan(e) ? std::isnan(a[i]) : std::isinf(e) ? a[i] == e
                                                                         : std::abs(a[i] - e) <= 3e-4f * big;
          bad += !ok;
        }
        return bad;
      };
      CHECK(agree(dx, k.dx) == 0);
      CHECK(agree(dw, k.dw) == 0);
      CHECK(agree(db, k.db) == 0);
      std::size_t nans = 0;  // the specials did reach the gradients
      for (float v : k.dw) nans += std::isnan(v);
      CHECK(nans > 0);
    }
}

TEST_CASE("conv2d_max_pool_backward takes it on 1 to 3 threads: the gradients of the calls it fuses") {
  const int saved = gluino::get_num_threads();
  const GradCase<float> k(cases[0], true);
  const bool avx512 = kernels::wide_bytes == 64;
  CHECK(kernels::batch_lanes_grad_applies<float>(k.g, k.pg, true) == avx512);
  for (int threads = 1; threads <= 3; ++threads) {
    CAPTURE(threads);
    gluino::set_num_threads(threads);
    std::vector<float> dx(k.x.size(), 5.0f), dw(k.w.size(), 5.0f), db(k.b.size(), 5.0f);
    kernels::conv2d_max_pool_backward(k.g, k.pg, k.x.data(), k.w.data(), k.dy.data(), k.idx.data(), k.y.data(),
                                      dx.data(), dw.data(), db.data());
    CHECK(close(dx, k.dx));
    CHECK(close(dw, k.dw));
    CHECK(close(db, k.db));
  }
  gluino::set_num_threads(saved);
}


TEST_CASE("conv2d_max_pool_forward_lanes: the wide kernel's sums and max_pool2d_plane's pooling, bit for bit") {
  for (const Case& c : cases)
    for (bool relu : {false, true})
      for (bool specials : {false, true}) {
        CAPTURE(describe(c));
        CAPTURE(relu);
        CAPTURE(specials);
        check_case<float>(c, relu, true, specials);
        check_case<double>(c, relu, c.N % 2 == 0, specials);
      }
}

TEST_CASE("batch_lanes_applies: LeNet's layers from one group of images on, with AVX-512 only") {
  const Conv2DGeometry lenet2 = conv_of(cases[0]), lenet1 = conv_of(cases[1]), few_taps = conv_of({16, 2, 12, 12, 8, 3, 0});
  const Pool2DGeometry pool2 = pool_of(lenet2);
  Conv2DGeometry few = lenet2;
  few.N = kernels::wide_lanes<float> - 1;
  Pool2DGeometry overlapping = pool2;
  overlapping.kh = overlapping.kw = 3;
  overlapping.Ho = overlapping.Wo = 4;
  Conv2DGeometry strided = lenet2;
  strided.sh = strided.sw = 2;
  strided.infer_output();
  const bool avx512 = kernels::wide_bytes == 64;
  CHECK(kernels::batch_lanes_applies<float>(lenet2, pool2) == avx512);
  CHECK(kernels::batch_lanes_applies<double>(lenet2, pool2) == avx512);
  CHECK(kernels::batch_lanes_applies<float>(lenet1, pool_of(lenet1)) == avx512);  // 25 taps
  CHECK_FALSE(kernels::batch_lanes_applies<float>(few_taps, pool_of(few_taps)));  // 18
  CHECK_FALSE(kernels::batch_lanes_applies<float>(few, pool2));
  CHECK_FALSE(kernels::batch_lanes_applies<float>(lenet2, overlapping));
  CHECK_FALSE(kernels::batch_lanes_applies<float>(strided, pool_of(strided)));
}

TEST_CASE("conv2d_max_pool_forward takes it on 1 to 3 threads: the same outputs as the calls it fuses") {
  const int saved = gluino::get_num_threads();
  const Conv2DGeometry g = conv_of(cases[0]);
  const Pool2DGeometry pg = pool_of(g);
  const std::size_t n = g.N * g.O * pg.Ho * pg.Wo;
  const auto x = random_values<float>(g.N * g.C * g.H * g.W, 21);
  const auto w = random_values<float>(g.O * g.C * g.kh * g.kw, 22);
  const auto b = random_values<float>(g.O, 23);
  std::vector<float> want(n);
  std::vector<std::int32_t> want_idx(n);
  reference(g, pg, x, w, b.data(), true, want, want_idx);
  for (int threads = 1; threads <= 3; ++threads) {
    CAPTURE(threads);
    gluino::set_num_threads(threads);
    std::vector<float> y(n, 5.0f);
    std::vector<std::int32_t> idx(n, -5);
    kernels::conv2d_max_pool_forward(g, pg, x.data(), w.data(), b.data(), true, y.data(), idx.data());
    CHECK(y == want);
    CHECK(idx == want_idx);
  }
  gluino::set_num_threads(saved);
}
}
}  // namespace conv2d_lanes_test
