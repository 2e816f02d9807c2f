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
namespace wino = gluino::kernels::detail_winograd;

namespace {
using gluino_test::random_values;

Conv2DGeometry make_3x3(std::size_t N, std::size_t C, std::size_t H, std::size_t W, std::size_t O, std::size_t ph,
                        std::size_t pw) {
  Conv2DGeometry g;
  g.N = N, g.C = C, g.H = H, g.W = W, g.O = O, g.kh = g.kw = 3, g.ph = ph, g.pw = pw;
  g.infer_output();
  return g;
}

std::string describe(const Conv2DGeometry& g) {
  return std::to_string(g.N) + "x" + std::to_string(g.C) + "x" + std::to_string(g.H) + "x" + std::to_string(g.W) +
         " -> " + std::to_string(g.O) + ", pad " + std::to_string(g.ph) + "x" + std::to_string(g.pw);
}

/// The largest |a - b| over the largest |b| (at least 1).
template <class T, class U>
double relative_error(const std::vector<T>& a, const std::vector<U>& b) {
  double worst = 0, scale = 1;
  for (std::size_t i = 0; i < a.size(); ++i) {
    worst = std::max(worst, std::abs(static_cast<double>(a[i]) - static_cast<double>(b[i])));
    scale = std::max(scale, std::abs(static_cast<double>(b[i])));
  }
  return worst / scale;
}

template <class T>
std::vector<double> widen(const std::vector<T>& v) {
  return {v.begin(), v.end()};
}

// Padding 0, 1 and 2, outputs that are and are not multiples of the 4x4 tile, non-square
// images, channel counts that are not multiples of anything, VGG's and AlexNet's 3x3 shapes in
// small, LeNet's second layer, and two shapes conv2d sends here.
const Conv2DGeometry cases[] = {
    make_3x3(2, 8, 10, 10, 8, 1, 1),  make_3x3(3, 9, 13, 11, 10, 0, 0), make_3x3(1, 16, 14, 14, 24, 2, 2),
    make_3x3(4, 20, 12, 12, 50, 0, 0), make_3x3(2, 12, 7, 19, 8, 1, 2), make_3x3(2, 32, 12, 12, 48, 1, 1),
    make_3x3(1, 8, 30, 6, 9, 2, 0),
    // shapes conv2d takes through Winograd (winograd_applies): 48 and 84 tiles
    make_3x3(3, 16, 16, 16, 24, 1, 1), make_3x3(2, 24, 20, 28, 16, 2, 1),
};

// The tolerances: double agrees with the direct sum to rounding; float within 2e-5 of the
// output's largest magnitude (measured: at most 4e-6 on these shapes).
template <class T>
double tolerance() {
  return sizeof(T) == sizeof(double) ? 1e-12 : 2e-5;
}

template <class T>
void check_forward(const Conv2DGeometry& g, bool relu, std::size_t chunk_bytes) {
  INFO(describe(g), ", relu ", relu, ", chunk bytes ", chunk_bytes);
  const auto x = random_values<T>(g.N * g.C * g.H * g.W, 11);
  const auto w = random_values<T>(g.O * g.C * 9, 12);
  const auto b = random_values<T>(g.O, 13);
  std::vector<double> want(g.N * g.O * g.P());
  const auto xd = widen(x), wd = widen(w), bd = widen(b);
  kernels::conv2d_forward_naive(g, xd.data(), wd.data(), bd.data(), want.data());
  if (relu)
    for (double& v : want) v = std::max(v, 0.0);
  std::vector<T> got(want.size(), T(-7));
  const wino::Problem p{g.N, g.C, g.H, g.W, g.O, g.ph, g.pw, g.Ho, g.Wo};
  wino::run(p, x.data(), static_cast<const T*>(nullptr), w.data(), false, b.data(), relu, got.data(), chunk_bytes);
  CHECK(relative_error(got, want) <= tolerance<T>());
}

template <class T>
void check_input_grad(const Conv2DGeometry& g, bool relu) {
  INFO(describe(g), ", relu ", relu);
  const auto x = random_values<T>(g.N * g.C * g.H * g.W, 21);
  const auto w = random_values<T>(g.O * g.C * 9, 22);
  auto dy = random_values<T>(g.N * g.O * g.P(), 23);
  const auto y = random_values<T>(dy.size(), 24);  // a ReLU output: about half <= 0
  std::vector<T> relu_y(y.size());
  for (std::size_t i = 0; i < y.size(); ++i) relu_y[i] = std::max(y[i], T(0));
  std::vector<double> masked = widen(dy);
  if (relu)
    for (std::size_t i = 0; i < masked.size(); ++i) masked[i] = relu_y[i] > 0 ? masked[i] : 0.0;
  std::vector<double> dx_want(x.size()), dw_want(w.size()), db_want(g.O);
  const auto xd = widen(x), wd = widen(w);
  kernels::conv2d_backward_naive(g, xd.data(), wd.data(), masked.data(), dx_want.data(), dw_want.data(),
                                 db_want.data());
  std::vector<T> dx(x.size(), T(-7));
  kernels::conv2d_input_grad_winograd(g, w.data(), dy.data(), dx.data(), relu ? relu_y.data() : nullptr);
  CHECK(relative_error(dx, dx_want) <= tolerance<T>());
  if (!kernels::winograd_applies(g)) return;
  // conv2d_backward: dx through Winograd, dw and db through im2col in the same call
  std::vector<T> dx2(x.size(), T(-7)), dw(w.size(), T(-7)), db(g.O, T(-7));
  kernels::conv2d_backward(g, x.data(), w.data(), dy.data(), dx2.data(), dw.data(), db.data(),
                           relu ? relu_y.data() : nullptr);
  CHECK(dx2 == dx);
  CHECK(relative_error(dw, dw_want) <= tolerance<T>());
  CHECK(relative_error(db, db_want) <= tolerance<T>());
}
}  // namespace

TEST_SUITE("kernels/conv2d_winograd") {
TEST_CASE("winograd_applies: one group, 3x3, stride 1, no dilation, pad <= 2, >= 16 channels, enough tiles") {
  Conv2DGeometry g = make_3x3(2, 16, 16, 16, 16, 1, 1);  // 2 * 16 tiles
  CHECK(kernels::winograd_applies(g));
  const auto refused = [&](auto change) {
    Conv2DGeometry h = g;
    change(h);
    h.infer_output();
    return !kernels::winograd_applies(h);
  };
  CHECK(refused([](Conv2DGeometry& h) { h.generic = true; }));
  CHECK(refused([](Conv2DGeometry& h) { h.groups = 2; }));
  CHECK(refused([](Conv2DGeometry& h) { h.kh = 5; }));
  CHECK(refused([](Conv2DGeometry& h) { h.kw = 1; }));
  CHECK(refused([](Conv2DGeometry& h) { h.sh = 2; }));
  CHECK(refused([](Conv2DGeometry& h) { h.sw = 2; }));
  CHECK(refused([](Conv2DGeometry& h) { h.dh = 2; }));
  CHECK(refused([](Conv2DGeometry& h) { h.dw = 2; }));
  CHECK(refused([](Conv2DGeometry& h) { h.ph = 3; }));
  CHECK(refused([](Conv2DGeometry& h) { h.pw = 3; }));
  CHECK(refused([](Conv2DGeometry& h) { h.C = 15; }));
  CHECK(refused([](Conv2DGeometry& h) { h.O = 15; }));
  CHECK(refused([](Conv2DGeometry& h) { h.N = 1; }));  // 16 tiles
  // LeNet's second layer: 10x10 outputs on 3x3 tiles of 4x4 (1.44 times the area)
  CHECK_FALSE(kernels::winograd_applies(make_3x3(256, 20, 12, 12, 50, 0, 0)));
  CHECK(kernels::winograd_applies(make_3x3(32, 128, 14, 14, 128, 1, 1)));  // 16x16 over 14x14: 1.31
}

TEST_CASE("the forward pass equals the direct sum: bias, ReLU, one chunk and many") {
  for (const Conv2DGeometry& g : cases) {
    for (bool relu : {false, true}) {
      check_forward<double>(g, relu, kernels::winograd_chunk_bytes);
      check_forward<float>(g, relu, kernels::winograd_chunk_bytes);
    }
    // the smallest chunks: one group of 16 tiles each, the last one partly filled
    check_forward<float>(g, false, 1);
    check_forward<double>(g, true, 36 * (g.C + g.O) * sizeof(double) * 40);  // chunks of 32 tiles
  }
}

TEST_CASE("conv2d_forward takes this path when it applies, and gives im2col's result up to rounding") {
  const Conv2DGeometry g = make_3x3(4, 16, 12, 12, 24, 1, 1);
  REQUIRE(kernels::winograd_applies(g));
  Conv2DGeometry generic = g;
  generic.generic = true;
  const auto x = random_values<float>(g.N * g.C * g.H * g.W, 31), w = random_values<float>(g.O * g.C * 9, 32);
  std::vector<float> fast(g.N * g.O * g.P()), direct(fast.size()), wanted(fast.size());
  kernels::conv2d_forward(g, x.data(), w.data(), static_cast<const float*>(nullptr), fast.data());
  kernels::conv2d_forward_winograd(g, x.data(), w.data(), static_cast<const float*>(nullptr), wanted.data());
  kernels::conv2d_forward(generic, x.data(), w.data(), static_cast<const float*>(nullptr), direct.data());
  CHECK(fast == wanted);
  CHECK(relative_error(fast, direct) <= 1e-5);
  CHECK(fast != direct);  // a different rounding: the Winograd path ran
}

TEST_CASE("the input gradient equals the direct sum, through a fused ReLU too; conv2d_backward uses it") {
  REQUIRE(std::any_of(std::begin(cases), std::end(cases), [](const Conv2DGeometry& g) { return kernels::winograd_applies(g); }));
  for (const Conv2DGeometry& g : cases) {
    for (bool relu : {false, true}) {
      check_input_grad<double>(g, relu);
      check_input_grad<float>(g, relu);
    }
  }
}

TEST_CASE("non-finite inputs reach the outputs they touch, as in the direct sum") {
  Conv2DGeometry g = make_3x3(2, 16, 16, 16, 8, 1, 1);
  auto x = random_values<float>(g.N * g.C * g.H * g.W, 41);
  const auto w = random_values<float>(g.O * g.C * 9, 42);
  x[(1 * g.C + 3) * g.H * g.W + 5 * g.W + 9] = std::nanf("");  // image 1, channel 3, (5, 9)
  std::vector<float> y(g.N * g.O * g.P());
  kernels::conv2d_forward_winograd(g, x.data(), w.data(), static_cast<const float*>(nullptr), y.data());
  // image 0 untouched; in image 1 the pixels whose 3x3 window covers (5, 9) are NaN in every channel
  CHECK(std::none_of(y.begin(), y.begin() + static_cast<std::ptrdiff_t>(g.O * g.P()), [](float v) { return std::isnan(v); }));
  CHECK(std::isnan(y[(1 * g.O + 4) * g.P() + 5 * g.Wo + 9]));
  CHECK(std::isnan(y[(1 * g.O + 7) * g.P() + 4 * g.Wo + 8]));
}
}
