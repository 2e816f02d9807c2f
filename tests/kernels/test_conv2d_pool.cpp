// SPDX-License-Identifier: Apache-2.0
#include <gluino/kernels/conv2d.hpp>
#include <gluino/kernels/conv2d_pool.hpp>
#include <gluino/kernels/pool.hpp>

#include <doctest/doctest.h>

#include "support/random_values.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

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
}
}  // namespace conv2d_pool_test
