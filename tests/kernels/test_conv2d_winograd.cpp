// SPDX-License-Identifier: Apache-2.0
#include <gluino/kernels/conv2d.hpp>

#include <doctest/doctest.h>

#include "support/random_values.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#include <gluino/core/parallel.hpp>

using gluino::kernels::Conv2DGeometry;
namespace kernels = gluino::kernels;
namespace wino = gluino::kernels::detail_winograd;

namespace {
using gluino_test::random_values;

Conv2DGeometry make_winograd_conv(std::size_t r, std::size_t N, std::size_t C, std::size_t H, std::size_t W,
                                  std::size_t O, std::size_t ph, std::size_t pw) {
  Conv2DGeometry g;
  g.N = N, g.C = C, g.H = H, g.W = W, g.O = O, g.kh = g.kw = r, g.ph = ph, g.pw = pw;
  g.infer_output();
  return g;
}
Conv2DGeometry make_wino_3x3(std::size_t N, std::size_t C, std::size_t H, std::size_t W, std::size_t O, std::size_t ph,
                             std::size_t pw) {
  return make_winograd_conv(3, N, C, H, W, O, ph, pw);
}
Conv2DGeometry make_wino_5x5(std::size_t N, std::size_t C, std::size_t H, std::size_t W, std::size_t O, std::size_t ph,
                             std::size_t pw) {
  return make_winograd_conv(5, N, C, H, W, O, ph, pw);
}

std::string describe_winograd(const Conv2DGeometry& g) {
 return std::to_string(g.N) + "x" + std::to_string(g.C) + "x" + std::to_string(g.H) + "x" + std::to_string(g.W) +
         " -> " + std::to_string(g.O) + ", kernel " + std::to_string(g.kh) + ", pad " + std::to_string(g.ph) + "x" +
         std::to_string(g.pw);
}

/// The largest |a - b| over the largest |b| (at least 1).
template <class T, class U>
double winograd_error(const std::vector<T>& a, const std::vector<U>& b) {
  double worst = 0, scale = 1;
  for (std::size_t i = 0; i < a.size(); ++i) {
    worst = std::max(worst, std::abs(static_cast<double>(a[i]) - static_cast<double>(b[i])));
    scale = std::max(scale, std::abs(static_cast<double>(b[i])));
  }
  return worst / scale;
}

template <class T>
std::vector<double> widen_winograd(const std::vector<T>& v) {
  return {v.begin(), v.end()};
}

// Padding 0, 1 and 2, outputs that are and are not multiples of the 4x4 tile, non-square
// images, channel counts that are not multiples of anything, VGG's and AlexNet's 3x3 shapes in
// small, LeNet's second layer, two shapes conv2d sends here, and 5x5 ones.
const Conv2DGeometry winograd_cases[] = {
    make_wino_3x3(2, 8, 10, 10, 8, 1, 1),   make_wino_3x3(3, 9, 13, 11, 10, 0, 0),
    make_wino_3x3(1, 16, 14, 14, 24, 2, 2), make_wino_3x3(4, 20, 12, 12, 50, 0, 0),
    make_wino_3x3(2, 12, 7, 19, 8, 1, 2),   make_wino_3x3(2, 32, 12, 12, 48, 1, 1),
    make_wino_3x3(1, 8, 30, 6, 9, 2, 0),
    // shapes conv2d takes through Winograd (winograd_applies): 48 and 40 tiles
    make_wino_3x3(3, 64, 16, 16, 64, 1, 1), make_wino_3x3(2, 64, 12, 20, 64, 2, 1),
    // 5x5, F(4x4, 5x5) on 8x8 patches: padding 0 to 4, odd outputs, AlexNet's second layer in
    // small; the last two go through conv2d
    make_wino_5x5(2, 8, 9, 9, 8, 0, 0), make_wino_5x5(1, 9, 11, 8, 10, 3, 4), make_wino_5x5(2, 16, 10, 10, 12, 2, 2),
    make_wino_5x5(2, 64, 12, 12, 64, 2, 2), make_wino_5x5(3, 64, 9, 13, 80, 2, 1),
};

// The tolerances: double agrees with the direct sum to rounding; float within 2e-5 of the
// output's largest magnitude (measured: at most about 1e-5 on AlexNet-like shapes, with 6x6 and
// 8x8 patches alike).
template <class T>
double winograd_tolerance() {
  return sizeof(T) == sizeof(double) ? 1e-12 : 2e-5;
}

template <class T>
void check_winograd_forward(const Conv2DGeometry& g, bool relu, std::size_t chunk_bytes) {
  INFO(describe_winograd(g), ", relu ", relu, ", chunk bytes ", chunk_bytes);
  const auto x = random_values<T>(g.N * g.C * g.H * g.W, 11);
  const auto w = random_values<T>(g.O * g.C * g.kh * g.kw, 12);
  const auto b = random_values<T>(g.O, 13);
  std::vector<double> want(g.N * g.O * g.P());
  const auto xd = widen_winograd(x), wd = widen_winograd(w), bd = widen_winograd(b);
  kernels::conv2d_forward_naive(g, xd.data(), wd.data(), bd.data(), want.data());
  if (relu)
    for (double& v : want) v = std::max(v, 0.0);
  std::vector<T> got(want.size(), T(-7));
  const wino::Problem p{g.kh, g.N, g.C, g.H, g.W, g.O, g.ph, g.pw, g.Ho, g.Wo};
  wino::run(p, x.data(), static_cast<const T*>(nullptr), w.data(), false, b.data(), relu, got.data(), chunk_bytes);
  CHECK(winograd_error(got, want) <= winograd_tolerance<T>());
}

template <class T>
void check_winograd_grads(const Conv2DGeometry& g, bool relu) {
  INFO(describe_winograd(g), ", relu ", relu);  // dx and dw
  const auto x = random_values<T>(g.N * g.C * g.H * g.W, 21);
  const auto w = random_values<T>(g.O * g.C * g.kh * g.kw, 22);
  auto dy = random_values<T>(g.N * g.O * g.P(), 23);
  const auto y = random_values<T>(dy.size(), 24);  // a ReLU output: about half <= 0
  std::vector<T> relu_y(y.size());
  for (std::size_t i = 0; i < y.size(); ++i) relu_y[i] = std::max(y[i], T(0));
  std::vector<double> masked = widen_winograd(dy);
  if (relu)
    for (std::size_t i = 0; i < masked.size(); ++i) masked[i] = relu_y[i] > 0 ? masked[i] : 0.0;
  std::vector<double> dx_want(x.size()), dw_want(w.size()), db_want(g.O);
  const auto xd = widen_winograd(x), wd = widen_winograd(w);
  kernels::conv2d_backward_naive(g, xd.data(), wd.data(), masked.data(), dx_want.data(), dw_want.data(),
                                 db_want.data());
  std::vector<T> dx(x.size(), T(-7));
  kernels::conv2d_input_grad_winograd(g, w.data(), dy.data(), dx.data(), relu ? relu_y.data() : nullptr);
  CHECK(winograd_error(dx, dx_want) <= winograd_tolerance<T>());
  std::vector<T> dw1(w.size(), T(-7)), dw2(w.size(), T(-7));
  kernels::conv2d_weight_grad_winograd(g, x.data(), dy.data(), dw1.data(), relu ? relu_y.data() : nullptr);
  CHECK(winograd_error(dw1, dw_want) <= winograd_tolerance<T>());
  // chunks of one group of 16 tiles: dU summed over many products
  const wino::Problem p{g.kh, g.N, g.C, g.H, g.W, g.O, g.ph, g.pw, g.Ho, g.Wo};
  wino::run_weight_grad(p, x.data(), dy.data(), relu ? relu_y.data() : nullptr, dw2.data(), 1);
  CHECK(winograd_error(dw2, dw_want) <= winograd_tolerance<T>());
  if (!kernels::winograd_applies(g)) return;
  // conv2d_backward: dx through Winograd, dw and db through im2col in the same call
  std::vector<T> dx2(x.size(), T(-7)), dw(w.size(), T(-7)), db(g.O, T(-7));
  kernels::conv2d_backward(g, x.data(), w.data(), dy.data(), dx2.data(), dw.data(), db.data(),
                           relu ? relu_y.data() : nullptr);
  CHECK(dx2 == dx);
  CHECK(dw == dw1);
  CHECK(winograd_error(db, db_want) <= winograd_tolerance<T>());
}
}  // namespace

TEST_SUITE("kernels/conv2d_winograd") {
TEST_CASE("winograd_applies: one group, 3x3 or 5x5, stride 1, no dilation, pad < r, >= 64 channels, enough tiles") {
  Conv2DGeometry g = make_wino_3x3(2, 64, 16, 16, 64, 1, 1);  // 2 * 16 tiles
  CHECK(kernels::winograd_applies(g));
  const auto refused = [&](auto change) {
    Conv2DGeometry h = g;
    change(h);
    h.infer_output();
    return !kernels::winograd_applies(h);
  };
  CHECK(refused([](Conv2DGeometry& h) { h.generic = true; }));
  CHECK(refused([](Conv2DGeometry& h) { h.groups = 2; }));
  CHECK(refused([](Conv2DGeometry& h) { h.kh = 5; }));  // 5x3
  CHECK(refused([](Conv2DGeometry& h) { h.kh = h.kw = 7; }));
  CHECK(refused([](Conv2DGeometry& h) { h.kw = 1; }));
  CHECK(refused([](Conv2DGeometry& h) { h.sh = 2; }));
  CHECK(refused([](Conv2DGeometry& h) { h.sw = 2; }));
  CHECK(refused([](Conv2DGeometry& h) { h.dh = 2; }));
  CHECK(refused([](Conv2DGeometry& h) { h.dw = 2; }));
  CHECK(refused([](Conv2DGeometry& h) { h.ph = 3; }));
  CHECK(refused([](Conv2DGeometry& h) { h.pw = 3; }));
  CHECK(refused([](Conv2DGeometry& h) { h.C = 63; }));
  CHECK(refused([](Conv2DGeometry& h) { h.O = 63; }));
  CHECK(refused([](Conv2DGeometry& h) { h.N = 1; }));  // 16 tiles
  // LeNet's second layer: 10x10 outputs on 3x3 tiles of 4x4 (1.44 times the area)
  CHECK_FALSE(kernels::winograd_applies(make_wino_3x3(256, 20, 12, 12, 50, 0, 0)));
  CHECK(kernels::winograd_applies(make_wino_3x3(32, 128, 14, 14, 128, 1, 1)));  // 16x16 over 14x14: 1.31
  // AlexNet's second layer (5x5, pad 2, 26x26: 7x7 tiles of 4x4, 1.16 times the area); pad 5 would not
  // fit the input gradient
  CHECK(kernels::winograd_applies(make_wino_5x5(32, 96, 26, 26, 256, 2, 2)));
  CHECK(kernels::winograd_applies(make_wino_5x5(32, 96, 26, 26, 256, 4, 4)));
  CHECK_FALSE(kernels::winograd_applies(make_wino_5x5(32, 96, 26, 26, 256, 5, 5)));
}

TEST_CASE("the spelled-out transforms equal the matrices built from the interpolation points") {
  // 6x6 patches: the rows of Lavin and Gray's F(4x4, 3x3) (B^T's first row 4, 0, -5, 0, 1, 0)
  static constexpr auto B6 = wino::input_matrix<6>();
  CHECK(B6[0] == std::array<double, 6>{4, 0, -5, 0, 1, 0});
  CHECK(B6[5] == std::array<double, 6>{0, 4, 0, -5, 0, 1});
  static constexpr auto B8 = wino::input_matrix<8>();  // F(6x6, 3x3)'s B^T: 5.25 and 4.25
  CHECK(B8[0] == std::array<double, 8>{-1, 0, 5.25, 0, -5.25, 0, 1, 0});
  CHECK(B8[1] == std::array<double, 8>{0, 1, 1, -4.25, -4.25, 1, 1, 0});
  // G's rows reproduce g at the points: row k . (1, p, p^2, ...) scaled back
  static constexpr auto G8 = wino::filter_matrix<5, 8>();
  CHECK(G8[7] == std::array<double, 5>{0, 0, 0, 0, 1});
  CHECK(G8[0][0] == doctest::Approx(-1.0));  // 1 / (-1 * 1 * -2 * 2 * -1/2 * 1/2)

  constexpr std::size_t lanes = wino::lanes;
  const auto v = random_values<float>(8 * lanes, 51);
  float in[8][lanes], got[8][lanes], want[8][lanes];
  for (std::size_t k = 0; k < 8; ++k)
    for (std::size_t l = 0; l < lanes; ++l) in[k][l] = v[k * lanes + l];
  auto close = [&](std::size_t rows) {
    double worst = 0;
    for (std::size_t k = 0; k < rows; ++k)
      for (std::size_t l = 0; l < lanes; ++l) worst = std::max(worst, double(std::abs(got[k][l] - want[k][l])));
    return worst;
  };
  wino::input_rows<float>(in, 1, got, 1);
  wino::apply_matrix(B6, in, 1, want, 1);
  CHECK(close(6) <= 1e-5);
  wino::input_rows8<float>(in, 1, got, 1);
  wino::apply_matrix(B8, in, 1, want, 1);
  CHECK(close(8) <= 1e-5);
  wino::output_rows<float>(in, 1, got, 1);
  wino::apply_matrix(wino::output_matrix<6>(), in, 1, want, 1);
  CHECK(close(4) <= 1e-5);
  wino::output_rows8<float>(in, 1, got, 1);
  wino::apply_matrix(wino::output_matrix<8>(), in, 1, want, 1);
  CHECK(close(4) <= 1e-5);
  wino::adjoint_rows8<float>(in, 1, got, 1);
  wino::apply_matrix(wino::transposed(wino::output_matrix<8>()), in, 1, want, 1);
  CHECK(close(8) <= 1e-5);
}

TEST_CASE("gather_patches: each lane's patch (4x4, 6x6, 8x8), row by row, and zeros in the spare lanes") {
  // The AVX-512 path for floats (row vectors transposed in registers) against the element by
  // element one for doubles; patches at scattered places of a padded buffer, 1 to 16 lanes.
  constexpr std::size_t lanes = wino::lanes, cols = 37, rows = 40;
  std::vector<float> xf(rows * cols + 16);
  std::vector<double> xd(xf.size());
  for (std::size_t i = 0; i < xf.size(); ++i) xf[i] = float(i % 251) - 125.f, xd[i] = double(xf[i]);
  const auto check = [&](auto a_tag) {
    constexpr std::size_t A = decltype(a_tag)::value;
    for (std::size_t count = 1; count <= lanes; ++count) {
      CAPTURE(A);
      CAPTURE(count);
      const float* pf[lanes] = {};
      const double* pd[lanes] = {};
      for (std::size_t l = 0; l < count; ++l) {
        const std::size_t at = (l * 7 % (rows - A)) * cols + (l * 5 + count) % (cols - A);
        pf[l] = xf.data() + at, pd[l] = xd.data() + at;
      }
      alignas(64) float df[A * A][lanes];
      alignas(64) double dd[A * A][lanes];
      wino::gather_patches<A>(pf, count, cols, df);
      wino::gather_patches<A>(pd, count, cols, dd);
      for (std::size_t k = 0; k < A * A; ++k)
        for (std::size_t l = 0; l < lanes; ++l) {
          const double want = l < count ? xd[static_cast<std::size_t>(pd[l] - xd.data()) + k / A * cols + k % A] : 0.0;
          CHECK(double(df[k][l]) == want);
          CHECK(dd[k][l] == want);
        }
    }
  };
  check(std::integral_constant<std::size_t, 4>{});  // dy's 4x4 tiles
  check(std::integral_constant<std::size_t, 6>{});
  check(std::integral_constant<std::size_t, 8>{});
}

TEST_CASE("scatter_tiles: each lane's 4x4 tile clipped to its rows and columns, nothing else written") {
  // The AVX-512 path for floats (4x4 transposes in registers) against the element by element
  // one for doubles: 1 to 16 lanes, tiles cut at 1 to 4 rows and columns, the rest untouched.
  constexpr std::size_t lanes = wino::lanes, ld = 70, M = wino::tile;
  alignas(64) float mf[M * M][lanes];
  alignas(64) double md[M * M][lanes];
  for (std::size_t k = 0; k < M * M; ++k)
    for (std::size_t l = 0; l < lanes; ++l) mf[k][l] = float(k * 100 + l), md[k][l] = double(mf[k][l]);
  for (std::size_t count = 1; count <= lanes; ++count) {
    CAPTURE(count);
    std::vector<float> yf(ld * 5, -1.f);
    std::vector<double> yd(yf.size(), -1.0);
    float* of[lanes] = {};
    double* od[lanes] = {};
    std::size_t rows[lanes] = {}, cols[lanes] = {};
    for (std::size_t l = 0; l < count; ++l) {
      of[l] = yf.data() + 4 * l, od[l] = yd.data() + 4 * l;  // side by side along a row
      rows[l] = 1 + (l + count) % M, cols[l] = 1 + (l * 3 + count) % M;
    }
    wino::scatter_tiles(mf, of, rows, cols, count, ld);
    wino::scatter_tiles(md, od, rows, cols, count, ld);
    std::vector<double> want(yf.size(), -1.0);
    for (std::size_t l = 0; l < count; ++l)
      for (std::size_t i = 0; i < rows[l]; ++i)
        for (std::size_t j = 0; j < cols[l]; ++j) want[4 * l + i * ld + j] = double(mf[i * M + j][l]);
    for (std::size_t e = 0; e < want.size(); ++e) {
      CAPTURE(e);
      CHECK(double(yf[e]) == want[e]);
      CHECK(yd[e] == want[e]);
    }
  }
}

TEST_CASE("product: the packed register tiles equal the plain triple loop") {
  // O not a multiple of the 6-row blocks, C below and above a pass's depth (128), n of 1 to 9
  // groups of 16 columns (one vector more than a tile splits 3 + 2), ldv and ldm wider than n
  auto check = [](auto zero, std::size_t O, std::size_t C, std::size_t n) {
    using T = decltype(zero);
    INFO("O ", O, ", C ", C, ", n ", n, ", ", sizeof(T) == 4 ? "float" : "double");
    const std::size_t ldv = n + 16, ldm = n + 32, rows = wino::packed_rows(O);
    auto U = random_values<T>(rows * C, 61);
    for (std::size_t o = O; o < rows; ++o)  // the packed spare rows are zeros (transform_filters)
      for (std::size_t c = 0; c < C; ++c) U[wino::product_index(o, c, C)] = T(0);
    const auto V = random_values<T>(C * ldv, 62);
    std::vector<T> got(O * ldm, T(-7)), want(O * ldm, T(-7));
    wino::product(U.data(), O, C, V.data(), ldv, n, got.data(), ldm);
    wino::product_naive(U.data(), O, C, V.data(), ldv, n, want.data(), ldm);
    double worst = 0;
    bool outside = true;  // columns n .. ldm untouched
    for (std::size_t o = 0; o < O; ++o)
      for (std::size_t j = 0; j < ldm; ++j) {
        if (j < n) worst = std::max(worst, std::abs(double(got[o * ldm + j]) - double(want[o * ldm + j])));
        else outside = outside && got[o * ldm + j] == T(-7);
      }
    CHECK(worst <= (sizeof(T) == 4 ? 2e-5 : 1e-13) * double(C));
    CHECK(outside);
  };
  const std::size_t Os[] = {1, 6, 13, 64}, Cs[] = {3, 128, 200}, ns[] = {16, 48, 64, 80, 144};
  for (std::size_t O : Os)
    for (std::size_t C : Cs)
      for (std::size_t n : ns) {
        check(0.0f, O, C, n);
        check(0.0, O, C, n);
      }
}

TEST_CASE("chunk_tiles: whole groups of 16 tiles for every register tile width, within the bytes and the share") {
  // The register tile is 64 columns with AVX-512 floats, 32 doubles, 16 or 8 with 32-byte vectors:
  // a chunk of 40 tiles (8-column tiles) once wrote V's 48-tile rows past the thread's panel.
  const std::size_t columns[] = {8, 16, 24, 32, 64}, budgets[] = {1, 17, 40, 70, 130, 1000};
  for (std::size_t cols : columns)
    for (std::size_t fits : budgets)
      for (std::size_t NT : {std::size_t{5}, std::size_t{100}, std::size_t{5000}})
        for (std::size_t team : {std::size_t{1}, std::size_t{2}, std::size_t{3}}) {
          INFO("columns ", cols, ", tiles the bytes hold ", fits, ", tiles ", NT, ", threads ", team);
          const std::size_t per_tile = 1000, chunk = wino::chunk_tiles(NT, team, per_tile, fits * per_tile, cols);
          CHECK(chunk % wino::lanes == 0);
          CHECK(chunk >= wino::lanes);
          CHECK((chunk <= fits || chunk == wino::lanes));  // the bytes, or one group at least
          CHECK(chunk < (NT + team - 1) / team + wino::lanes);  // no more than a thread's share needs
        }
}

TEST_CASE("the forward pass equals the direct sum: bias, ReLU, one chunk and many") {
  for (const Conv2DGeometry& g : winograd_cases) {
    for (bool relu : {false, true}) {
      check_winograd_forward<double>(g, relu, kernels::winograd_chunk_bytes);
      check_winograd_forward<float>(g, relu, kernels::winograd_chunk_bytes);
    }
    // the smallest chunks: one group of 16 tiles each, the last one partly filled
    check_winograd_forward<float>(g, false, 1);
    const std::size_t patch = (g.kh + 3) * (g.kh + 3);  // 6x6 or 8x8
    check_winograd_forward<double>(g, true, patch * (g.C + g.O) * sizeof(double) * 40);  // chunks of 32 tiles
  }
}

TEST_CASE("conv2d_forward takes this path when it applies, and gives im2col's result up to rounding") {
  const Conv2DGeometry g = make_wino_3x3(4, 64, 12, 12, 64, 1, 1);
  REQUIRE(kernels::winograd_applies(g));
  Conv2DGeometry generic = g;
  generic.generic = true;
  const auto x = random_values<float>(g.N * g.C * g.H * g.W, 31), w = random_values<float>(g.O * g.C * 9, 32);
  std::vector<float> fast(g.N * g.O * g.P()), direct(fast.size()), wanted(fast.size());
  kernels::conv2d_forward(g, x.data(), w.data(), static_cast<const float*>(nullptr), fast.data());
  kernels::conv2d_forward_winograd(g, x.data(), w.data(), static_cast<const float*>(nullptr), wanted.data());
  kernels::conv2d_forward(generic, x.data(), w.data(), static_cast<const float*>(nullptr), direct.data());
  CHECK(fast == wanted);
  CHECK(winograd_error(fast, direct) <= 1e-5);
  CHECK(fast != direct);  // a different rounding: the Winograd path ran
}

TEST_CASE("the input and weight gradients equal the direct sums, through a fused ReLU too; conv2d_backward uses them") {
  REQUIRE(std::any_of(std::begin(winograd_cases), std::end(winograd_cases),
                      [](const Conv2DGeometry& g) { return kernels::winograd_applies(g); }));
  for (const Conv2DGeometry& g : winograd_cases) {
    for (bool relu : {false, true}) {
      check_winograd_grads<double>(g, relu);
      check_winograd_grads<float>(g, relu);
    }
  }
}

TEST_CASE("the weight gradient splits the tiles or the output channels over 1-3 threads: the direct sums either way") {
  const int saved = gluino::get_num_threads();
  // 48 tiles for 8 channels: by tiles (3x3, and 5x5 with 8x8 patches); 8 tiles for 40: by channels
  const Conv2DGeometry by_tiles = make_wino_3x3(3, 16, 16, 16, 8, 1, 1);
  const Conv2DGeometry by_tiles5 = make_wino_5x5(3, 16, 16, 16, 8, 2, 2);
  const Conv2DGeometry by_channels = make_wino_3x3(2, 32, 8, 8, 40, 1, 1);
  const auto problem = [](const Conv2DGeometry& g) {
    return wino::Problem{g.kh, g.N, g.C, g.H, g.W, g.O, g.ph, g.pw, g.Ho, g.Wo};
  };
  CHECK(wino::weight_grad_splits_tiles(problem(by_tiles), 36, sizeof(float), 2));
  CHECK(wino::weight_grad_splits_tiles(problem(by_tiles5), 64, sizeof(float), 3));
  CHECK_FALSE(wino::weight_grad_splits_tiles(problem(by_tiles), 36, sizeof(float), 1));  // one thread
  CHECK_FALSE(wino::weight_grad_splits_tiles(problem(by_channels), 36, sizeof(float), 2));
  // AlexNet's 12x12 layers by channels, VGG-11/4's 56x56 one by tiles (batch 32)
  CHECK_FALSE(wino::weight_grad_splits_tiles(problem(make_wino_3x3(32, 384, 12, 12, 384, 1, 1)), 36, 4, 2));
  CHECK(wino::weight_grad_splits_tiles(problem(make_wino_3x3(32, 64, 56, 56, 64, 1, 1)), 36, 4, 2));
  for (int threads = 1; threads <= 3; ++threads) {
    CAPTURE(threads);
    gluino::set_num_threads(threads);
    for (const Conv2DGeometry& g : {by_tiles, by_tiles5, by_channels}) {
      check_winograd_grads<double>(g, true);
      check_winograd_grads<float>(g, false);
    }
  }
  gluino::set_num_threads(saved);
}

TEST_CASE("non-finite inputs reach the outputs they touch, as in the direct sum") {
  Conv2DGeometry g = make_wino_3x3(2, 16, 16, 16, 8, 1, 1);
  auto x = random_values<float>(g.N * g.C * g.H * g.W, 41);
  const auto w = random_values<float>(g.O * g.C * 9, 42);
  x[(1 * g.C + 3) * g.H * g.W + 5 * g.W + 9] = std::nanf("");  // image 1, channel 3, (5, 9)
  std::vector<float> y(g.N * g.O * g.P());
  kernels::conv2d_forward_winograd(g, x.data(), w.data(), static_cast<const float*>(nullptr), y.data());
  // image 0 untouched; in image 1 the pixels whose 3x3 window covers (5, 9) are NaN in every channel
  const auto image0_end = y.begin() + static_cast<std::ptrdiff_t>(g.O * g.P());
  CHECK(std::none_of(y.begin(), image0_end, [](float v) { return std::isnan(v); }));
  CHECK(std::isnan(y[(1 * g.O + 4) * g.P() + 5 * g.Wo + 9]));
  CHECK(std::isnan(y[(1 * g.O + 7) * g.P() + 4 * g.Wo + 8]));
}

// The transforms spread a NaN or an infinity over the whole tile (and its neighbours whose
// patches hold it), so conv2d_forward and conv2d_backward compute a result that comes out not
// finite again by im2col + GEMM: non-finite exactly where the direct sum is.
TEST_CASE("conv2d_forward and conv2d_backward: non-finite exactly where the direct sum is, not over whole tiles") {
  const Conv2DGeometry g = make_wino_3x3(2, 64, 16, 16, 64, 1, 1);
  REQUIRE(kernels::winograd_applies(g));
  const auto same_class = [](auto a, auto b) {  // NaN, +inf, -inf or finite (then close), alike
    if (std::isnan(a) || std::isnan(b)) return std::isnan(a) && std::isnan(b);
    if (std::isinf(a) || std::isinf(b)) return a == b;
    return std::abs(double(a) - double(b)) <= 1e-4 * (1 + std::abs(double(b)));
  };
  const auto mismatches = [&](const auto& fast, const auto& direct) {
    std::size_t n = 0;
    for (std::size_t i = 0; i < fast.size(); ++i) n += !same_class(fast[i], direct[i]);
    return n;
  };
  for (bool relu : {false, true}) {
    auto x = random_values<float>(g.N * g.C * g.H * g.W, 51);
    const auto w = random_values<float>(g.O * g.C * 9, 52), b = random_values<float>(g.O, 53);
    x[(1 * g.C + 3) * g.H * g.W + 5 * g.W + 9] = std::nanf("");                          // image 1, channel 3, (5, 9)
    x[(0 * g.C + 60) * g.H * g.W + 12 * g.W + 2] = std::numeric_limits<float>::infinity();  // image 0, channel 60
    std::vector<float> y(g.N * g.O * g.P()), want(y.size());
    kernels::conv2d_forward(g, x.data(), w.data(), b.data(), y.data(), relu);
    kernels::conv2d_forward_naive(g, x.data(), w.data(), b.data(), want.data());
    if (relu)
      for (float& v : want) v = v <= 0 ? 0.f : v;
    CHECK(std::count_if(want.begin(), want.end(), [](float v) { return !std::isfinite(v); }) > 0);
    CHECK(mismatches(y, want) == 0);
  }
  // Backward: a NaN in dy at an output pixel whose every tap lies inside the image (so that
  // im2col's zeros for the padding do not meet it), an infinity in another.
  const auto x = random_values<double>(g.N * g.C * g.H * g.W, 54), w = random_values<double>(g.O * g.C * 9, 55);
  auto dy = random_values<double>(g.N * g.O * g.P(), 56);
  dy[(0 * g.O + 7) * g.P() + 6 * g.Wo + 6] = std::nan("");
  dy[(1 * g.O + 40) * g.P() + 9 * g.Wo + 3] = std::numeric_limits<double>::infinity();
  std::vector<double> dx(x.size()), dw(w.size()), db(g.O), want_dx(x.size()), want_dw(w.size()), want_db(g.O);
  kernels::conv2d_backward(g, x.data(), w.data(), dy.data(), dx.data(), dw.data(), db.data());
  kernels::conv2d_backward_naive(g, x.data(), w.data(), dy.data(), want_dx.data(), want_dw.data(), want_db.data());
  CHECK(std::count_if(want_dx.begin(), want_dx.end(), [](double v) { return !std::isfinite(v); }) > 0);
  CHECK(mismatches(dx, want_dx) == 0);
  CHECK(mismatches(dw, want_dw) == 0);
  CHECK(mismatches(db, want_db) == 0);
}
}
