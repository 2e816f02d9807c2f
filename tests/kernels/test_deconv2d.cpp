// SPDX-License-Identifier: Apache-2.0
#include <gluino/kernels/deconv2d.hpp>

#include <doctest/doctest.h>

#include <gluino/nd/deconvolution.hpp>
#include "support/gradcheck.hpp"

#include <algorithm>
#include <cmath>

using namespace gluino;
using test::rand_array;

namespace {
struct Case {
  std::size_t N, C, H, W, O, kh, kw;
  nd::DeconvOptions opt;
};
// Every option: stride, pad, adj, dilation, groups, 1x1, one output channel (the convolution's
// single-channel direct kernel), depthwise.
const Case cases[] = {
    {2, 3, 4, 5, 4, 3, 3, {}},
    {2, 4, 3, 3, 6, 3, 2, {.stride = {2, 3}, .pad = {1, 0}, .adj = {1, 2}, .num_group = 2}},
    {1, 2, 4, 3, 3, 2, 3, {.stride = {2, 2}, .dilate = {2, 1}, .pad = {1, 1}, .adj = {1, 0}}},
    {3, 4, 5, 6, 8, 1, 1, {}},
    {2, 4, 3, 3, 2, 1, 1, {.stride = {2, 2}, .adj = {1, 0}, .num_group = 2}},
    {2, 5, 6, 7, 1, 3, 3, {.pad = {1, 1}}},
    {2, 3, 7, 5, 1, 4, 4, {.stride = {2, 2}, .pad = {1, 1}}},
    {2, 4, 4, 4, 4, 3, 3, {.stride = {2, 2}, .pad = {1, 1}, .adj = {1, 1}, .num_group = 4}},
    {4, 8, 9, 9, 8, 3, 3, {.pad = {1, 1}}},  // large enough to split over threads
};
NDArray<float> rand_float(const Shape& s, std::uint64_t seed) {
  NDArray<float> x(s);
  const auto d = rand_array(s, seed);
  for (std::size_t i = 0; i < x.size(); ++i) x.data()[i] = static_cast<float>(d.data()[i]);
  return x;
}
double max_diff(const NDArray<float>& a, const NDArray<float>& b) {
  double worst = 0;
  for (std::size_t i = 0; i < a.size(); ++i)
    worst = std::max(worst, std::abs(double(a.data()[i]) - double(b.data()[i])) / (1.0 + std::abs(double(b.data()[i]))));
  return worst;
}
}  // namespace

TEST_SUITE("kernels/deconv2d") {
TEST_CASE("the fast path (convolution kernels with roles swapped) equals the naive scatter loop") {
  for (const Case& c : cases) {
    CAPTURE(c.C);
    CAPTURE(c.O);
    const auto x = rand_float({c.N, c.C, c.H, c.W}, 5), w = rand_float({c.C, c.O / c.opt.num_group, c.kh, c.kw}, 6);
    const auto b = rand_float({c.O}, 7);
    const auto g = nd::ops::Deconvolution<float>::make_geometry(x, w, b, c.opt);
    NDArray<float> naive(Shape{g.N, g.C, g.H, g.W});
    kernels::deconv2d_forward_naive(g, x.data(), w.data(), b.data(), naive.data());
    NDArray<float> fast(naive.shape());
    kernels::deconv2d_forward(g, x.data(), w.data(), b.data(), fast.data());
    REQUIRE(fast.shape() == naive.shape());
    CHECK(max_diff(fast, naive) < 1e-5);
  }
}
TEST_CASE("the backward pass equals the naive convolution loops with the roles swapped") {
  for (const Case& c : cases) {
    CAPTURE(c.C);
    CAPTURE(c.O);
    const auto x = rand_float({c.N, c.C, c.H, c.W}, 8), w = rand_float({c.C, c.O / c.opt.num_group, c.kh, c.kw}, 9);
    const auto g = nd::ops::Deconvolution<float>::make_geometry(x, w, {}, c.opt);
    const auto dy = rand_float({g.N, g.C, g.H, g.W}, 10);
    NDArray<float> dx(x.shape()), dw(w.shape()), db(Shape{g.C});
    kernels::deconv2d_backward(g, x.data(), w.data(), dy.data(), dx.data(), dw.data(), db.data());
    // dx: the convolution of dy by w; dw: that convolution's weight gradient for output gradient x
    NDArray<float> ref_dx(x.shape()), ref_dw(w.shape());
    kernels::conv2d_forward_naive<float>(g, dy.data(), w.data(), nullptr, ref_dx.data());
    kernels::conv2d_backward_naive<float>(g, dy.data(), w.data(), x.data(), nullptr, ref_dw.data(), nullptr);
    CHECK(max_diff(dx, ref_dx) < 1e-5);
    CHECK(max_diff(dw, ref_dw) < 1e-5);
    for (std::size_t co = 0; co < g.C; ++co) {
      double s = 0;
      for (std::size_t n = 0; n < g.N; ++n)
        for (std::size_t k = 0; k < g.H * g.W; ++k) s += dy.data()[(n * g.C + co) * g.H * g.W + k];
      CHECK(db.data()[co] == doctest::Approx(s).epsilon(1e-5));
    }
  }
}
}
