// SPDX-License-Identifier: Apache-2.0
#include <gluino/kernels/conv2d.hpp>

#include <doctest/doctest.h>

#include "support/random_values.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <string>
#include <utility>
#include <vector>

using gluino::kernels::Conv2DGeometry;
namespace kernels = gluino::kernels;

namespace {
using gluino_test::max_abs_diff;
using gluino_test::random_values;

struct SmallCase {
  std::size_t N, C, H, W, O, ph, pw;
};

Conv2DGeometry make_small(const SmallCase& c) {
  Conv2DGeometry g;
  g.N = c.N, g.C = c.C, g.H = c.H, g.W = c.W, g.O = c.O;
  g.kh = g.kw = 3, g.ph = c.ph, g.pw = c.pw;
  g.infer_output();
  return g;
}

std::string describe_small(const Conv2DGeometry& g) {
  return std::to_string(g.N) + "x" + std::to_string(g.C) + "x" + std::to_string(g.H) + "x" + std::to_string(g.W) +
         " -> " + std::to_string(g.O) + ", pad " + std::to_string(g.ph) + "x" + std::to_string(g.pw);
}

// VGG-11/4's second layer scaled down, and the corners: output channels not a multiple of the
// register block (1, 5, 12), rows exactly one tile wide, rows whose last tile overlaps the one
// before, no padding, padding 2 (the input gradient's dy then unpadded), uneven paddings,
// 2 and 16 channels, one image and an odd batch split over two threads.
const SmallCase small_cases[] = {
    {2, 16, 20, 20, 32, 1, 1}, {1, 3, 9, 16, 5, 1, 1},  {3, 2, 18, 18, 1, 0, 0}, {2, 8, 7, 37, 12, 1, 1},
    {1, 4, 6, 16, 9, 2, 2},    {2, 5, 11, 19, 8, 0, 2}, {3, 16, 5, 16, 16, 2, 1},
    {2, 3, 6, 17, 40, 1, 1},  // more outputs than direct_small_max_grad_channels: dx by im2col + GEMM
};
}  // namespace

TEST_SUITE("kernels/conv2d_direct") {
TEST_CASE("direct_small_applies: 3x3, stride 1, 2 to 16 channels, rows of a tile, padding <= 2") {
  Conv2DGeometry g = make_small({1, 16, 112, 112, 32, 1, 1});  // VGG-11/4's second layer
  CHECK(kernels::direct_small_applies(g));
  const auto refused = [&](auto change) {
    Conv2DGeometry h = g;
    change(h);
    h.infer_output();
    return !kernels::direct_small_applies(h);
  };
  CHECK(refused([](Conv2DGeometry& h) { h.C = 1; }));  // the single-channel kernel's
  CHECK(refused([](Conv2DGeometry& h) { h.C = 17; }));
  CHECK(refused([](Conv2DGeometry& h) { h.kh = h.kw = 5; }));
  CHECK(refused([](Conv2DGeometry& h) { h.sh = h.sw = 2; }));
  CHECK(refused([](Conv2DGeometry& h) { h.dh = h.dw = 2; }));
  CHECK(refused([](Conv2DGeometry& h) { h.groups = 2; }));
  CHECK(refused([](Conv2DGeometry& h) { h.ph = h.pw = 3; }));
  CHECK(refused([](Conv2DGeometry& h) { h.generic = true; }));
  CHECK(refused([](Conv2DGeometry& h) { h.W = 15, h.pw = 0; }));  // output rows narrower than a tile
  for (const SmallCase& c : small_cases) CHECK(kernels::direct_small_applies(make_small(c)));
}

TEST_CASE("forward equals the naive loops and the im2col path, with and without bias and ReLU (double)") {
  for (const SmallCase& c : small_cases) {
    const Conv2DGeometry g = make_small(c);
    INFO(describe_small(g));
    const auto x = random_values<double>(g.N * g.C * g.H * g.W, 1);
    const auto w = random_values<double>(g.O * g.C * 9, 2);
    const auto b = random_values<double>(g.O, 3);
    const std::size_t ny = g.N * g.O * g.P();
    std::vector<double> ref(ny), fast(ny, 7.0), generic(ny);
    kernels::conv2d_forward_naive(g, x.data(), w.data(), b.data(), ref.data());
    kernels::conv2d_forward(g, x.data(), w.data(), b.data(), fast.data());
    Conv2DGeometry gg = g;
    gg.generic = true;
    kernels::conv2d_forward(gg, x.data(), w.data(), b.data(), generic.data());
    CHECK(max_abs_diff(ref, fast) < 1e-12);
    CHECK(max_abs_diff(ref, generic) < 1e-12);
    // The small-channel kernel itself (conv2d_forward takes the wide kernel where both apply).
    std::fill(fast.begin(), fast.end(), 7.0);
    kernels::conv2d_forward_direct_small(g, x.data(), w.data(), b.data(), fast.data(), false);
    CHECK(max_abs_diff(ref, fast) < 1e-12);
    kernels::conv2d_forward(g, x.data(), w.data(), static_cast<const double*>(nullptr), fast.data(), true);
    kernels::conv2d_forward_naive(g, x.data(), w.data(), static_cast<const double*>(nullptr), ref.data());
    for (double& v : ref) v = std::max(v, 0.0);
    CHECK(max_abs_diff(ref, fast) < 1e-12);
    kernels::conv2d_forward_direct_small(g, x.data(), w.data(), static_cast<const double*>(nullptr), fast.data(), true);
    CHECK(max_abs_diff(ref, fast) < 1e-12);
  }
}

TEST_CASE("the input and weight gradients equal the naive loops, together and alone, with and without a fused ReLU (double)") {
  for (const SmallCase& c : small_cases)
    for (bool relu : {false, true}) {
      const Conv2DGeometry g = make_small(c);
      INFO(describe_small(g));
      CAPTURE(relu);
      const auto x = random_values<double>(g.N * g.C * g.H * g.W, 4);
      const auto w = random_values<double>(g.O * g.C * 9, 5);
      const auto b = random_values<double>(g.O, 6);
      const auto dy = random_values<double>(g.N * g.O * g.P(), 7);
      std::vector<double> y(dy.size());
      kernels::conv2d_forward(g, x.data(), w.data(), b.data(), y.data(), true);
      std::vector<double> masked = dy;
      if (relu)
        for (std::size_t i = 0; i < dy.size(); ++i) masked[i] = y[i] > 0 ? dy[i] : 0.0;
      std::vector<double> dx0(x.size()), dw0(w.size()), db0(g.O), dx(x.size(), 7.0), dw(w.size(), 7.0),
          db(g.O, 7.0);
      kernels::conv2d_backward_naive(g, x.data(), w.data(), masked.data(), dx0.data(), dw0.data(), db0.data());
      kernels::conv2d_backward(g, x.data(), w.data(), dy.data(), dx.data(), dw.data(), db.data(),
                               relu ? y.data() : nullptr);
      CHECK(max_abs_diff(dx0, dx) < 1e-12);
      CHECK(max_abs_diff(dw0, dw) < 1e-11);
      CHECK(max_abs_diff(db0, db) < 1e-11);
      std::fill(dx.begin(), dx.end(), 7.0);  // dx alone
      kernels::conv2d_backward(g, static_cast<const double*>(nullptr), w.data(), dy.data(), dx.data(),
                               static_cast<double*>(nullptr), static_cast<double*>(nullptr),
                               relu ? y.data() : nullptr);
      CHECK(max_abs_diff(dx0, dx) < 1e-12);
      if (g.O <= kernels::direct_small_max_grad_channels) {  // the small-channel kernel itself
        std::fill(dx.begin(), dx.end(), 7.0);
        kernels::conv2d_input_grad_direct_small(g, w.data(), dy.data(), dx.data(), relu ? y.data() : nullptr);
        CHECK(max_abs_diff(dx0, dx) < 1e-12);
      }
      std::fill(dw.begin(), dw.end(), 7.0);  // dw alone
      kernels::conv2d_backward(g, x.data(), static_cast<const double*>(nullptr), dy.data(),
                               static_cast<double*>(nullptr), dw.data(), static_cast<double*>(nullptr),
                               relu ? y.data() : nullptr);
      CHECK(max_abs_diff(dw0, dw) < 1e-11);
    }
}

TEST_CASE("float agrees with double") {
  const Conv2DGeometry g = make_small(small_cases[0]);
  const auto xd = random_values<double>(g.N * g.C * g.H * g.W, 8);
  const auto wd = random_values<double>(g.O * g.C * 9, 9);
  const std::vector<float> xf(xd.begin(), xd.end()), wf(wd.begin(), wd.end());
  std::vector<double> yd(g.N * g.O * g.P());
  std::vector<float> yf(yd.size());
  kernels::conv2d_forward(g, xd.data(), wd.data(), static_cast<const double*>(nullptr), yd.data());
  kernels::conv2d_forward(g, xf.data(), wf.data(), static_cast<const float*>(nullptr), yf.data());
  for (std::size_t i = 0; i < yd.size(); ++i) CHECK(std::abs(double(yf[i]) - yd[i]) < 1e-4);
}

TEST_CASE("single-channel weight gradient equals the naive loops: kernel widths 2-7, channel remainders, bands of rows") {
  // The kernel called directly (conv2d_backward takes it only for single-channel layers the
  // wide weight gradient does not, such as VGG's 224x224 first layer): blocks of 8, 4 and 1
  // channels, output rows not a multiple of the vector (the scalar tails), and dy given a band
  // of rows at a time.
  for (std::size_t k : {2, 3, 5, 7})
    for (std::size_t O : {1, 3, 4, 6, 9, 20}) {
      Conv2DGeometry g;
      g.N = 1, g.C = 1, g.H = 13, g.W = 21 + k, g.O = O, g.kh = g.kw = k;
      g.infer_output();
      REQUIRE(kernels::direct_c1_applies(g));
      CAPTURE(k);
      CAPTURE(O);
      const auto x = random_values<double>(g.H * g.W, 21), dy = random_values<double>(O * g.P(), 22);
      std::vector<double> want(O * g.K()), dw_all(O * g.K(), 0.0), dw_bands(O * g.K(), 0.0);
      kernels::conv2d_backward_naive(g, x.data(), static_cast<const double*>(nullptr), dy.data(),
                                     static_cast<double*>(nullptr), want.data(), static_cast<double*>(nullptr));
      kernels::conv2d_weight_grad_direct_c1(g, x.data(), dy.data(), dw_all.data());
      CHECK(max_abs_diff(dw_all, want) < 1e-11);
      // bands [0, 4), [4, 5), [5, Ho), each dy holding only its rows (ldy = a band's rows * Wo)
      for (auto [r0, r1] : {std::pair<std::size_t, std::size_t>{0, 4}, {4, 5}, {5, g.Ho}}) {
        std::vector<double> band(O * (r1 - r0) * g.Wo);
        for (std::size_t o = 0; o < O; ++o)
          std::copy(dy.begin() + static_cast<std::ptrdiff_t>(o * g.P() + r0 * g.Wo),
                    dy.begin() + static_cast<std::ptrdiff_t>(o * g.P() + r1 * g.Wo),
                    band.begin() + static_cast<std::ptrdiff_t>(o * (r1 - r0) * g.Wo));
        kernels::conv2d_weight_grad_direct_c1(g, x.data(), band.data(), dw_bands.data(), r0, r1, (r1 - r0) * g.Wo);
      }
      CHECK(max_abs_diff(dw_bands, want) < 1e-11);
      // float: the same sums to float precision
      std::vector<float> xf(x.begin(), x.end()), dyf(dy.begin(), dy.end()), dwf(O * g.K(), 0.f);
      kernels::conv2d_weight_grad_direct_c1(g, xf.data(), dyf.data(), dwf.data());
      for (std::size_t i = 0; i < want.size(); ++i) CHECK(static_cast<double>(dwf[i]) == doctest::Approx(want[i]).epsilon(1e-4));
    }
}
}
