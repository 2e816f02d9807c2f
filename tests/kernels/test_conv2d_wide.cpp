// SPDX-License-Identifier: Apache-2.0
#include <gluino/kernels/conv2d.hpp>
#include <gluino/kernels/conv2d_wide.hpp>

#include <doctest/doctest.h>

#include "support/random_values.hpp"

#include <cmath>
#include <cstddef>
#include <limits>
#include <string>
#include <thread>
#include <vector>

using gluino::kernels::Conv2DGeometry;
namespace kernels = gluino::kernels;

namespace {
using gluino_test::max_abs_diff;
using gluino_test::random_values;

struct WideCase {
  std::size_t N, C, H, W, O, kh, kw, ph, pw;
};

Conv2DGeometry make_wide(const WideCase& c) {
  Conv2DGeometry g;
  g.N = c.N, g.C = c.C, g.H = c.H, g.W = c.W, g.O = c.O;
  g.kh = c.kh, g.kw = c.kw, g.ph = c.ph, g.pw = c.pw;
  g.infer_output();
  return g;
}

std::string describe(const Conv2DGeometry& g) {
  return std::to_string(g.N) + "x" + std::to_string(g.C) + "x" + std::to_string(g.H) + "x" + std::to_string(g.W) +
         " -> " + std::to_string(g.O) + ", " + std::to_string(g.kh) + "x" + std::to_string(g.kw) + " pad " +
         std::to_string(g.ph) + "x" + std::to_string(g.pw);
}

// LeNet's second layer, and the corners: output channels not a multiple of any block (7, 13),
// fewer than a block (1, 3), images smaller than one register tile, rectangular and 1xk filters,
// uneven paddings, rows of the output a tile apart or one pixel, one image whose wide rows end
// exactly on the last plane (the slack after it is read), an image larger than 32x32, and a
// padding wider than the filter (zeros after each row besides the next row's).
const WideCase wide_cases[] = {
    {2, 20, 12, 12, 50, 3, 3, 0, 0}, {1, 3, 5, 5, 7, 3, 3, 1, 1},   {3, 2, 9, 14, 13, 2, 4, 0, 1},
    {1, 4, 16, 16, 1, 5, 5, 2, 2},   {2, 6, 7, 3, 3, 1, 3, 0, 1},   {1, 8, 11, 11, 24, 3, 1, 1, 0},
    {2, 5, 30, 30, 16, 3, 3, 1, 1},  {1, 16, 3, 3, 10, 3, 3, 0, 0},  {1, 3, 45, 38, 7, 3, 3, 1, 1},
    {2, 3, 9, 9, 5, 3, 2, 1, 2},
};

template <class T>
void check_forward(const Conv2DGeometry& g, bool relu, bool bias, double tol) {
  const std::vector<T> x = random_values<T>(g.N * g.C * g.H * g.W, 1), w = random_values<T>(g.O * g.K(), 2),
                       b = random_values<T>(g.O, 3);
  std::vector<T> want(g.N * g.O * g.P()), got(want.size(), T(-7));
  kernels::conv2d_forward_naive(g, x.data(), w.data(), bias ? b.data() : nullptr, want.data());
  if (relu)
    for (T& v : want) v = v > T(0) ? v : T(0);
  const kernels::WideLayout l = kernels::wide_layout<T>(g);
  std::vector<T> packed(l.packed), padded(l.padded);
  kernels::direct_wide_pack(g, l, w.data(), packed.data());
  for (std::size_t n = 0; n < g.N; ++n)
    kernels::conv2d_forward_direct_wide(g, l, x.data() + n * g.C * g.H * g.W, packed.data(),
                                        bias ? b.data() : nullptr, got.data() + n * g.O * g.P(), relu, 0, g.Ho,
                                        padded.data());
  CHECK(max_abs_diff(want, got) < tol);
  // Bands of rows, as a team splits them: each writes only its rows.
  std::vector<T> banded(want.size(), T(-7));
  for (std::size_t n = 0; n < g.N; ++n)
    for (std::size_t r0 = 0; r0 < g.Ho; r0 += 2)
      kernels::conv2d_forward_direct_wide(g, l, x.data() + n * g.C * g.H * g.W, packed.data(),
                                          bias ? b.data() : nullptr, banded.data() + n * g.O * g.P(), relu, r0,
                                          r0 + 2, padded.data());
  CHECK(max_abs_diff(want, banded) < tol);
  // Blocks of channels, one and two blocks a call, as a team splits small planes: each call
  // writes only its channels (a channel left out keeps its -7).
  for (std::size_t per_call : {l.block, 2 * l.block}) {
    CAPTURE(per_call);
    std::vector<T> blocked(want.size(), T(-7));
    for (std::size_t n = 0; n < g.N; ++n)
      for (std::size_t o0 = 0; o0 < g.O; o0 += per_call)
        kernels::conv2d_forward_direct_wide_channels(g, l, x.data() + n * g.C * g.H * g.W, packed.data(),
                                                     bias ? b.data() : nullptr, blocked.data() + n * g.O * g.P(),
                                                     relu, o0, std::min(g.O, o0 + per_call), padded.data());
    CHECK(max_abs_diff(want, blocked) < tol);
  }
}
}  // namespace

TEST_SUITE("kernels/conv2d_wide") {
TEST_CASE("wide_block_for: the block of 6, 5 or 4 that rounds the channels up least") {
  CHECK(kernels::wide_block_for(50) == 5);
  CHECK(kernels::wide_block_for(48) == 6);
  CHECK(kernels::wide_block_for(64) == 5);  // 65 against 66
  CHECK(kernels::wide_block_for(60) == 6);  // a tie goes to 6
  CHECK(kernels::wide_block_for(256) == 6);
  CHECK(kernels::wide_block_for(9) == 5);
  CHECK(kernels::wide_block_for(1) == 5);
}

TEST_CASE("wide_channel_block: small planes on the wide kernel, at least a block per thread") {
  const Conv2DGeometry conv2 = make_wide({1, 20, 12, 12, 50, 3, 3, 0, 0});
  const Conv2DGeometry conv1 = make_wide({1, 1, 28, 28, 20, 5, 5, 0, 0});
  CHECK(kernels::wide_channel_block<float>(conv2, 2) == 5);  // LeNet's layers: 400 and 2,304 bytes a plane
  CHECK(kernels::wide_channel_block<float>(conv1, 2) == 5);
  CHECK(kernels::wide_channel_block<float>(conv1, 4) == 5);  // 4 blocks
  CHECK(kernels::wide_channel_block<float>(conv1, 5) == 0);  // fewer blocks than threads
  CHECK(kernels::wide_channel_block<float>(conv2, 1) == 0);
  CHECK(kernels::wide_channel_block<double>(make_wide({1, 20, 24, 24, 50, 3, 3, 1, 1}), 2) == 0);  // 4,608 bytes
  CHECK(kernels::wide_channel_block<float>(make_wide({1, 20, 24, 24, 50, 3, 3, 1, 1}), 2) == 5);   // 2,304
  CHECK(kernels::wide_channel_block<float>(make_wide({1, 20, 12, 12, 50, 1, 1, 0, 0}), 2) == 0);   // not wide
  CHECK(kernels::wide_channel_block<float>(make_wide({1, 20, 12, 12, 6, 3, 3, 0, 0}), 2) == 0);    // one block
}

TEST_CASE("direct_wide_applies: stride and dilation 1, no groups, several channels, small images") {
  Conv2DGeometry g = make_wide({1, 20, 12, 12, 50, 3, 3, 0, 0});  // LeNet's conv2
  CHECK(kernels::direct_wide_applies<float>(g));
  const auto refused = [&](auto change) {
    Conv2DGeometry h = g;
    change(h);
    h.infer_output();
    return !kernels::direct_wide_applies<float>(h);
  };
  CHECK(!refused([](Conv2DGeometry& h) { h.C = 1; }));  // LeNet's conv1 too
  CHECK(refused([](Conv2DGeometry& h) { h.kh = h.kw = 1; }));
  CHECK(refused([](Conv2DGeometry& h) { h.sh = 2; }));
  CHECK(refused([](Conv2DGeometry& h) { h.dw = 2; }));
  CHECK(refused([](Conv2DGeometry& h) { h.groups = 2; }));
  CHECK(!refused([](Conv2DGeometry& h) { h.H = h.W = 58; }));  // VGG-11/4's third layer's size
  CHECK(refused([](Conv2DGeometry& h) { h.C = 1, h.H = h.W = 64; }));  // the single-channel kernel's
  CHECK(refused([](Conv2DGeometry& h) { h.C = 512, h.H = h.W = 128; }));  // a 34 MB padded image
  CHECK(refused([](Conv2DGeometry& h) { h.H = h.W = 6; }));  // 4x4 outputs in 64-pixel tiles
  CHECK(refused([](Conv2DGeometry& h) { h.generic = true; }));
}

TEST_CASE("wide direct convolution: as the naive loops, float and double, bias and ReLU or not") {
  for (const WideCase& c : wide_cases) {
    const Conv2DGeometry g = make_wide(c);
    CAPTURE(describe(g));
    check_forward<double>(g, false, true, 1e-12);
    check_forward<double>(g, true, false, 1e-12);
    check_forward<float>(g, true, true, 1e-4);
  }
}

TEST_CASE("conv2d_forward takes the wide kernel for LeNet's conv2: as the naive loops, on 1 to 3 threads") {
  Conv2DGeometry g = make_wide({3, 20, 12, 12, 50, 3, 3, 0, 0});
  REQUIRE(kernels::direct_wide_applies<double>(g));
  const std::vector<double> x = random_values<double>(g.N * g.C * g.H * g.W, 4),
                            w = random_values<double>(g.O * g.K(), 5), b = random_values<double>(g.O, 6);
  std::vector<double> want(g.N * g.O * g.P());
  kernels::conv2d_forward_naive(g, x.data(), w.data(), b.data(), want.data());
  for (double& v : want) v = v > 0.0 ? v : 0.0;
  const int saved = gluino::get_num_threads();
  for (int threads = 1; threads <= 3; ++threads)
    for (std::size_t n : {std::size_t(1), std::size_t(3)}) {
      CAPTURE(threads);
      CAPTURE(n);
      gluino::set_num_threads(threads);
      Conv2DGeometry h = g;
      h.N = n;
      // one image on several threads: its channels split (wide_channel_block), 10 blocks of 5
      CHECK(kernels::conv2d_forward_workspace<double>(h).channel_block == (n < std::size_t(threads) ? 5 : 0));
      std::vector<double> got(n * g.O * g.P(), -7.0);
      kernels::conv2d_forward(h, x.data(), w.data(), b.data(), got.data(), true);
      CHECK(max_abs_diff(std::vector<double>(want.begin(), want.begin() + static_cast<std::ptrdiff_t>(got.size())),
                         got) < 1e-12);
    }
  gluino::set_num_threads(saved);
}

TEST_CASE("conv2d_forward keeps the wide packing across calls and packs again when the weights change") {
  const Conv2DGeometry g = make_wide({1, 20, 12, 12, 50, 3, 3, 0, 0});
  REQUIRE(g.O * g.K() <= kernels::wide_pack_cache_elements);
  const std::vector<double> x = random_values<double>(g.C * g.H * g.W, 31), b = random_values<double>(g.O, 32);
  std::vector<double> w = random_values<double>(g.O * g.K(), 33);
  auto& cache = kernels::WidePackCache<double>::instance();
  const auto check = [&] {
    std::vector<double> want(g.O * g.P()), got(want.size(), -7.0);
    kernels::conv2d_forward_naive(g, x.data(), w.data(), b.data(), want.data());
    kernels::conv2d_forward(g, x.data(), w.data(), b.data(), got.data());
    CHECK(max_abs_diff(want, got) < 1e-12);
  };
  check();
  const std::size_t packed = cache.packings();
  check();
  CHECK(cache.packings() == packed);  // the same weights: the kept packing
  // Written through the raw pointer (no version bump), first and last weight: packed again.
  w.front() += 1.0;
  check();
  CHECK(cache.packings() == packed + 1);
  w.back() = -w.back();
  check();
  CHECK(cache.packings() == packed + 2);
  check();
  CHECK(cache.packings() == packed + 2);
  // More filter arrays than entries, in turn: each call right, the oldest entries replaced.
  std::vector<std::vector<double>> many;
  for (std::size_t k = 0; k < kernels::wide_pack_cache_entries + 3; ++k)
    many.push_back(random_values<double>(w.size(), 40 + static_cast<unsigned>(k)));
  for (int round = 0; round < 2; ++round)
    for (const auto& v : many) {
      std::vector<double> want(g.O * g.P()), got(want.size(), -7.0);
      kernels::conv2d_forward_naive(g, x.data(), v.data(), b.data(), want.data());
      kernels::conv2d_forward(g, x.data(), v.data(), b.data(), got.data());
      CHECK(max_abs_diff(want, got) < 1e-12);
    }
}

TEST_CASE("the wide packing cache from several threads at once, each with weights of its own") {
  const Conv2DGeometry g = make_wide({1, 6, 12, 12, 11, 3, 3, 0, 0});
  REQUIRE(kernels::direct_wide_applies<float>(g));
  const std::vector<float> x = random_values<float>(g.C * g.H * g.W, 50);
  const int saved = gluino::get_num_threads();
  gluino::set_num_threads(1);
  std::vector<int> bad(12, 0);
  std::vector<std::thread> threads;
  for (std::size_t t = 0; t < bad.size(); ++t)
    threads.emplace_back([&, t] {
      std::vector<float> w = random_values<float>(g.O * g.K(), 60 + static_cast<unsigned>(t));
      for (int i = 0; i < 20; ++i) {
        w[static_cast<std::size_t>(i) % w.size()] += 0.5f;  // changed before each pair of calls
        std::vector<float> want(g.O * g.P()), got(want.size(), -7.0f);
        kernels::conv2d_forward_naive(g, x.data(), w.data(), static_cast<const float*>(nullptr), want.data());
        for (int again = 0; again < 2; ++again) {
          kernels::conv2d_forward(g, x.data(), w.data(), static_cast<const float*>(nullptr), got.data());
          bad[t] += max_abs_diff(want, got) > 1e-4;
        }
      }
    });
  for (auto& th : threads) th.join();
  gluino::set_num_threads(saved);
  for (int b : bad) CHECK(b == 0);
}

TEST_CASE("wide input gradient: as the naive loops, with and without a fused ReLU's mask") {
  for (const WideCase& c : wide_cases) {
    const Conv2DGeometry g = make_wide(c);
    if (!kernels::direct_wide_input_grad_applies<double>(g)) continue;
    CAPTURE(describe(g));
    const std::vector<double> w = random_values<double>(g.O * g.K(), 7), dy = random_values<double>(g.N * g.O * g.P(), 8),
                              relu_y = random_values<double>(dy.size(), 9);
    std::vector<double> want(g.N * g.C * g.H * g.W), got(want.size(), -7.0);
    kernels::conv2d_backward_naive(g, static_cast<const double*>(nullptr), w.data(), dy.data(), want.data(),
                                   static_cast<double*>(nullptr), static_cast<double*>(nullptr));
    kernels::conv2d_input_grad_direct_wide(g, w.data(), dy.data(), got.data());
    CHECK(max_abs_diff(want, got) < 1e-12);
    std::vector<double> masked = dy;
    for (std::size_t i = 0; i < masked.size(); ++i) masked[i] = relu_y[i] > 0.0 ? dy[i] : 0.0;
    kernels::conv2d_backward_naive(g, static_cast<const double*>(nullptr), w.data(), masked.data(), want.data(),
                                   static_cast<double*>(nullptr), static_cast<double*>(nullptr));
    kernels::conv2d_input_grad_direct_wide(g, w.data(), dy.data(), got.data(), relu_y.data());
    CHECK(max_abs_diff(want, got) < 1e-12);
  }
  // The cases above that the input gradient takes: LeNet's conv2 among them.
  CHECK(kernels::direct_wide_input_grad_applies<double>(make_wide(wide_cases[0])));
  CHECK(!kernels::direct_wide_input_grad_applies<double>(make_wide({1, 4, 16, 16, 1, 3, 3, 3, 3})));  // pad >= filter
}

TEST_CASE("conv2d_backward takes the wide input gradient for LeNet's conv2: dx, dw, db as the naive loops") {
  const Conv2DGeometry g = make_wide({5, 20, 12, 12, 50, 3, 3, 0, 0});
  const std::vector<double> x = random_values<double>(g.N * g.C * g.H * g.W, 10),
                            w = random_values<double>(g.O * g.K(), 11), dy = random_values<double>(g.N * g.O * g.P(), 12);
  std::vector<double> dx0(x.size()), dw0(w.size()), db0(g.O);
  kernels::conv2d_backward_naive(g, x.data(), w.data(), dy.data(), dx0.data(), dw0.data(), db0.data());
  const int saved = gluino::get_num_threads();
  for (int threads = 1; threads <= 3; ++threads) {
    CAPTURE(threads);
    gluino::set_num_threads(threads);
    std::vector<double> dx(x.size(), -7.0), dw(w.size(), -7.0), db(g.O, -7.0);
    kernels::conv2d_backward(g, x.data(), w.data(), dy.data(), dx.data(), dw.data(), db.data());
    CHECK(max_abs_diff(dx0, dx) < 1e-11);
    CHECK(max_abs_diff(dw0, dw) < 1e-11);
    CHECK(max_abs_diff(db0, db) < 1e-11);
  }
  gluino::set_num_threads(saved);
}
}

namespace {
// The wide weight gradient against the naive loops on g: dw and db (or dw alone), dy masked by a
// fused ReLU's output or not, on 1 to 3 threads.
template <class T>
void check_weight_grad(const Conv2DGeometry& g, double tol) {
  const std::vector<T> x = random_values<T>(g.N * g.C * g.H * g.W, 13), dy = random_values<T>(g.N * g.O * g.P(), 14),
                       relu_y = random_values<T>(dy.size(), 15);
  std::vector<T> masked = dy;
  for (std::size_t i = 0; i < masked.size(); ++i) masked[i] = relu_y[i] > T(0) ? dy[i] : T(0);
  const int saved = gluino::get_num_threads();
  for (const bool relu : {false, true}) {
    std::vector<T> dw0(g.O * g.K()), db0(g.O);
    kernels::conv2d_backward_naive(g, x.data(), static_cast<const T*>(nullptr), relu ? masked.data() : dy.data(),
                                   static_cast<T*>(nullptr), dw0.data(), db0.data());
    for (int threads = 1; threads <= 3; ++threads) {
      CAPTURE(relu);
      CAPTURE(threads);
      gluino::set_num_threads(threads);
      std::vector<T> dw(dw0.size(), T(-7)), db(g.O, T(-7));
      CHECK(kernels::conv2d_weight_grad_direct_wide(g, x.data(), dy.data(), dw.data(), db.data(),
                                                    relu ? relu_y.data() : nullptr));
      CHECK(max_abs_diff(dw0, dw) < tol);
      CHECK(max_abs_diff(db0, db) < tol);
      std::vector<T> dw_only(dw0.size(), T(-7));
      CHECK(kernels::conv2d_weight_grad_direct_wide(g, x.data(), dy.data(), dw_only.data(), static_cast<T*>(nullptr),
                                                    relu ? relu_y.data() : nullptr));
      CHECK(max_abs_diff(dw0, dw_only) < tol);
    }
  }
  gluino::set_num_threads(saved);
}
}  // namespace

TEST_SUITE("kernels/conv2d_wide") {
TEST_CASE("wide weight gradient: as the naive loops, float and double, masked or not, 1 to 3 threads") {
  int taken = 0;
  for (const WideCase& c : wide_cases) {
    const Conv2DGeometry g = make_wide(c);
    if (!kernels::direct_wide_weight_grad_applies<double>(g)) continue;
    ++taken;
    CAPTURE(describe(g));
    check_weight_grad<double>(g, 1e-11);
    check_weight_grad<float>(g, 2e-4);
  }
  CHECK(taken >= 6);
  // LeNet's two layers; more images than one chunk holds (the chunk's last images and the next
  // chunk's); channels and taps not multiples of the tile.
  for (const WideCase& c : {WideCase{3, 1, 28, 28, 20, 5, 5, 0, 0}, WideCase{40, 2, 14, 14, 4, 2, 2, 1, 0},
                            WideCase{4, 20, 12, 12, 50, 3, 3, 0, 0}}) {
    const Conv2DGeometry g = make_wide(c);
    CAPTURE(describe(g));
    REQUIRE(kernels::direct_wide_weight_grad_applies<double>(g));
    check_weight_grad<double>(g, 1e-11);
  }
  CHECK(kernels::wide_wgrad_layout<double>(make_wide({40, 2, 14, 14, 4, 2, 2, 1, 0})).chunk < 40);
  // Refused: a thread's vector sums past 1 MiB (VGG-11/4's 128 -> 128 layer).
  CHECK(!kernels::direct_wide_weight_grad_applies<float>(make_wide({1, 128, 14, 14, 128, 3, 3, 1, 1})));
}

TEST_CASE("wide weight gradient: an infinite pixel that only a wide row's extra lanes read") {
  // x's last column is read by the last tap column only; the wide rows also multiply it, by dy's
  // zeros, into the first tap column's sums, which the naive loops keep finite.  The kernel says
  // so, and conv2d_backward then gives what im2col + GEMM gives.
  Conv2DGeometry g = make_wide({2, 3, 12, 12, 6, 3, 3, 0, 0});
  REQUIRE(kernels::direct_wide_weight_grad_applies<double>(g));
  std::vector<double> x = random_values<double>(g.N * g.C * g.H * g.W, 16);
  const std::vector<double> dy = random_values<double>(g.N * g.O * g.P(), 17);
  x[2 * g.W + g.W - 1] = std::numeric_limits<double>::infinity();  // image 0, channel 0, row 2, last column
  std::vector<double> dw(g.O * g.K()), db(g.O);
  CHECK(!kernels::conv2d_weight_grad_direct_wide(g, x.data(), dy.data(), dw.data(), db.data()));
  Conv2DGeometry generic = g;
  generic.generic = true;
  std::vector<double> want(dw.size()), want_db(g.O), got(dw.size()), got_db(g.O);
  kernels::conv2d_backward(generic, x.data(), static_cast<const double*>(nullptr), dy.data(),
                           static_cast<double*>(nullptr), want.data(), want_db.data());
  kernels::conv2d_backward(g, x.data(), static_cast<const double*>(nullptr), dy.data(), static_cast<double*>(nullptr),
                           got.data(), got_db.data());
  std::size_t finite = 0;
  for (std::size_t i = 0; i < want.size(); ++i) {
    CAPTURE(i);
    finite += std::isfinite(want[i]) ? 1 : 0;
    CHECK(std::isnan(want[i]) == std::isnan(got[i]));
    if (std::isinf(want[i])) CHECK(got[i] == want[i]);
    if (std::isfinite(want[i])) CHECK(std::abs(want[i] - got[i]) <= 1e-12);
  }
  CHECK(finite > 0);
  CHECK(max_abs_diff(want_db, got_db) < 1e-12);
}
}
