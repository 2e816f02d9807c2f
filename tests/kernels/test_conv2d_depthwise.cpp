// SPDX-License-Identifier: Apache-2.0
#include <gluino/kernels/conv2d.hpp>

#include <doctest/doctest.h>

#include "support/random_values.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <string>
#include <vector>

using gluino::kernels::Conv2DGeometry;
namespace kernels = gluino::kernels;

namespace {
using gluino_test::max_abs_diff;
using gluino_test::random_values;

struct DepthwiseCase {
  std::size_t N, C, H, W, multiplier, kh, kw, sh, sw, ph, pw, dh, dw;
};

Conv2DGeometry make_depthwise(const DepthwiseCase& c) {
  Conv2DGeometry g;
  g.N = c.N, g.C = c.C, g.H = c.H, g.W = c.W, g.O = c.C * c.multiplier, g.groups = c.C;
  g.kh = c.kh, g.kw = c.kw, g.sh = c.sh, g.sw = c.sw, g.ph = c.ph, g.pw = c.pw, g.dh = c.dh, g.dw = c.dw;
  g.infer_output();
  return g;
}

std::string describe_depthwise(const Conv2DGeometry& g) {
  return std::to_string(g.N) + "x" + std::to_string(g.C) + "x" + std::to_string(g.H) + "x" + std::to_string(g.W) +
         " -> " + std::to_string(g.O) + ", kernel " + std::to_string(g.kh) + "x" + std::to_string(g.kw) + ", stride " +
         std::to_string(g.sh) + "x" + std::to_string(g.sw) + ", pad " + std::to_string(g.ph) + "x" +
         std::to_string(g.pw) + ", dilation " + std::to_string(g.dh) + "x" + std::to_string(g.dw);
}

// MobileNet's shapes (3x3, pad 1, stride 1 and 2) and the corners: multipliers, dilation,
// non-square kernels and strides, no padding, output rows narrower and wider than a vector.
const DepthwiseCase depthwise_cases[] = {
    {2, 8, 12, 12, 1, 3, 3, 1, 1, 1, 1, 1, 1},  {2, 8, 12, 12, 1, 3, 3, 2, 2, 1, 1, 1, 1},
    {1, 3, 7, 9, 2, 3, 3, 1, 1, 1, 1, 1, 1},    {3, 4, 9, 11, 3, 5, 3, 2, 1, 2, 0, 1, 1},
    {2, 5, 10, 10, 1, 3, 3, 1, 1, 2, 2, 2, 2},  {1, 2, 6, 17, 1, 1, 4, 1, 3, 0, 1, 1, 1},
    {2, 6, 5, 5, 1, 5, 5, 1, 1, 0, 0, 1, 1},    {1, 4, 3, 3, 1, 3, 3, 1, 1, 1, 1, 1, 1},
    {1, 2, 12, 12, 1, 8, 7, 1, 1, 3, 3, 1, 1},   // 56 taps, a kernel wider than a block of 8
    {4, 32, 16, 16, 1, 3, 3, 1, 1, 1, 1, 1, 1},  // large enough to split over two threads
    // strides > 1 run on the phase planes (Layout): every tap in one phase, stride 3, odd padded
    // sizes, no padding with rows wider than a block, stride and dilation on different axes
    {2, 3, 11, 13, 1, 3, 3, 2, 2, 1, 1, 2, 2},   {1, 4, 10, 9, 2, 3, 3, 3, 3, 1, 2, 1, 1},
    {2, 3, 8, 40, 1, 3, 3, 2, 2, 0, 0, 1, 1},    {1, 2, 9, 7, 1, 2, 3, 1, 2, 1, 0, 2, 1},
};
}  // namespace

TEST_SUITE("kernels/conv2d_depthwise") {
TEST_CASE("depthwise_applies: groups == input channels, > 1") {
  Conv2DGeometry g = make_depthwise({1, 4, 8, 8, 1, 3, 3, 1, 1, 1, 1, 1, 1});
  CHECK(kernels::depthwise_applies(g));
  g.generic = true;
  CHECK_FALSE(kernels::depthwise_applies(g));
  g.generic = false;
  g.groups = 2;
  CHECK_FALSE(kernels::depthwise_applies(g));
  g.C = g.groups = 1;
  CHECK_FALSE(kernels::depthwise_applies(g));  // one channel: the single-channel direct kernel's
}

TEST_CASE("forward equals the naive loops and the generic im2col path, with and without ReLU") {
  for (const DepthwiseCase& c : depthwise_cases) {
    const Conv2DGeometry g = make_depthwise(c);
    INFO(describe_depthwise(g));
    REQUIRE(kernels::depthwise_applies(g));
    const auto x = random_values<double>(g.N * g.C * g.H * g.W, 1);
    const auto w = random_values<double>(g.O * g.kh * g.kw, 2);
    const auto b = random_values<double>(g.O, 3);
    const std::size_t ny = g.N * g.O * g.P();
    std::vector<double> ref(ny), fast(ny), generic(ny);
    kernels::conv2d_forward_naive(g, x.data(), w.data(), b.data(), ref.data());
    kernels::conv2d_forward(g, x.data(), w.data(), b.data(), fast.data());
    Conv2DGeometry gg = g;
    gg.generic = true;
    kernels::conv2d_forward(gg, x.data(), w.data(), b.data(), generic.data());
    CHECK(max_abs_diff(ref, fast) < 1e-12);
    CHECK(max_abs_diff(ref, generic) < 1e-12);
    kernels::conv2d_forward(g, x.data(), w.data(), static_cast<const double*>(nullptr), fast.data(), true);
    kernels::conv2d_forward_naive(g, x.data(), w.data(), static_cast<const double*>(nullptr), ref.data());
    for (double& v : ref) v = std::max(v, 0.0);
    CHECK(max_abs_diff(ref, fast) < 1e-12);
  }
}

TEST_CASE("backward equals the naive loops: dx, dw, db together and one at a time") {
  for (const DepthwiseCase& c : depthwise_cases) {
    const Conv2DGeometry g = make_depthwise(c);
    INFO(describe_depthwise(g));
    const auto x = random_values<double>(g.N * g.C * g.H * g.W, 4);
    const auto w = random_values<double>(g.O * g.kh * g.kw, 5);
    const auto dy = random_values<double>(g.N * g.O * g.P(), 6);
    std::vector<double> dx0(x.size()), dw0(w.size()), db0(g.O), dx(x.size(), 7.0), dw(w.size(), 7.0), db(g.O, 7.0);
    kernels::conv2d_backward_naive(g, x.data(), w.data(), dy.data(), dx0.data(), dw0.data(), db0.data());
    kernels::conv2d_backward(g, x.data(), w.data(), dy.data(), dx.data(), dw.data(), db.data());
    CHECK(max_abs_diff(dx0, dx) < 1e-12);
    CHECK(max_abs_diff(dw0, dw) < 1e-12);
    CHECK(max_abs_diff(db0, db) < 1e-12);
    std::fill(dw.begin(), dw.end(), 7.0);
    kernels::conv2d_backward(g, x.data(), w.data(), dy.data(), static_cast<double*>(nullptr), dw.data(),
                             static_cast<double*>(nullptr));
    CHECK(max_abs_diff(dw0, dw) < 1e-12);
    std::fill(dx.begin(), dx.end(), 7.0);
    kernels::conv2d_backward(g, static_cast<const double*>(nullptr), w.data(), dy.data(), dx.data(),
                             static_cast<double*>(nullptr), static_cast<double*>(nullptr));
    CHECK(max_abs_diff(dx0, dx) < 1e-12);
  }
}

TEST_CASE("backward with a fused ReLU masks dy by the output's sign") {
  for (const DepthwiseCase& c : depthwise_cases) {
    const Conv2DGeometry g = make_depthwise(c);
    INFO(describe_depthwise(g));
    const auto x = random_values<double>(g.N * g.C * g.H * g.W, 8);
    const auto w = random_values<double>(g.O * g.kh * g.kw, 9);
    const auto b = random_values<double>(g.O, 10);
    const auto dy = random_values<double>(g.N * g.O * g.P(), 11);
    std::vector<double> y(dy.size());
    kernels::conv2d_forward(g, x.data(), w.data(), b.data(), y.data(), true);
    std::vector<double> masked(dy.size());
    for (std::size_t i = 0; i < dy.size(); ++i) masked[i] = y[i] > 0 ? dy[i] : 0.0;
    std::vector<double> dx0(x.size()), dw0(w.size()), db0(g.O), dx(x.size()), dw(w.size()), db(g.O);
    kernels::conv2d_backward_naive(g, x.data(), w.data(), masked.data(), dx0.data(), dw0.data(), db0.data());
    kernels::conv2d_backward(g, x.data(), w.data(), dy.data(), dx.data(), dw.data(), db.data(), y.data());
    CHECK(max_abs_diff(dx0, dx) < 1e-12);
    CHECK(max_abs_diff(dw0, dw) < 1e-12);
    CHECK(max_abs_diff(db0, db) < 1e-12);
  }
}

TEST_CASE("float agrees with double") {
  const Conv2DGeometry g = make_depthwise(depthwise_cases[1]);
  const auto xd = random_values<double>(g.N * g.C * g.H * g.W, 12);
  const auto wd = random_values<double>(g.O * g.kh * g.kw, 13);
  const std::vector<float> xf(xd.begin(), xd.end()), wf(wd.begin(), wd.end());
  std::vector<double> yd(g.N * g.O * g.P());
  std::vector<float> yf(yd.size());
  kernels::conv2d_forward(g, xd.data(), wd.data(), static_cast<const double*>(nullptr), yd.data());
  kernels::conv2d_forward(g, xf.data(), wf.data(), static_cast<const float*>(nullptr), yf.data());
  for (std::size_t i = 0; i < yd.size(); ++i) CHECK(std::abs(double(yf[i]) - yd[i]) < 1e-5);
}
}
