// SPDX-License-Identifier: Apache-2.0
#include <gluino/nd/pool.hpp>

#include <doctest/doctest.h>

#include <gluino/nd.hpp>  // NDArray with all its methods and ops
#include <gluino/autograd/grad.hpp>
#include <gluino/kernels/pool.hpp>
#include <gluino/nd/creation.hpp>
#include "support/gradcheck.hpp"
#include "support/hessian_check.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

using namespace gluino;
using test::gradcheck;
using test::rand_array;
using V = std::vector<NDArray<double>>;

namespace {
test::Fn pool_fn(nd::PoolOptions opt) {
  return [opt](const V& x) { return nd::pooling(x[0], opt); };
}
}  // namespace

TEST_SUITE("nd/pool") {
TEST_CASE("pooling: output shapes (valid, full, global)") {
  auto x = nd::zeros<float>({2, 3, 5, 7});
  CHECK(nd::pooling(x, {.kernel = {2, 2}, .stride = {2, 2}}).shape() == Shape{2, 3, 2, 3});
  CHECK(nd::pooling(x, {.kernel = {2, 2}, .stride = {2, 2}, .convention = nd::pooling_convention::full}).shape() ==
        Shape{2, 3, 3, 4});
  CHECK(nd::pooling(x, {.kernel = {3, 3}, .stride = {1, 1}, .pad = {1, 1}}).shape() == Shape{2, 3, 5, 7});
  CHECK(nd::pooling(x).shape() == Shape{2, 3, 4, 6});  // nd.Pooling's defaults: kernel 2, stride 1
  CHECK(nd::pooling(x, {.kernel = {9, 9}, .global_pool = true}).shape() == Shape{2, 3, 1, 1});
  CHECK(nd::global_avg_pool(x).shape() == Shape{2, 3, 1, 1});
  // AlexNet's 3x3 stride-2 pools.
  CHECK(nd::pooling(nd::zeros<float>({1, 96, 54, 54}), {.kernel = {3, 3}, .stride = {2, 2}}).shape() ==
        Shape{1, 96, 26, 26});
}

TEST_CASE("pooling: small cases computed by hand") {
  auto x = nd::arange<float>(16).reshape({1, 1, 4, 4});
  SUBCASE("2x2 stride 2 max and avg") {
    CHECK(nd::pooling(x, {.kernel = {2, 2}, .stride = {2, 2}}).to_vector() == std::vector<float>{5, 7, 13, 15});
    CHECK(nd::pooling(x, {.kernel = {2, 2}, .stride = {2, 2}, .type = nd::pool_type::avg}).to_vector() ==
          std::vector<float>{2.5f, 4.5f, 10.5f, 12.5f});
  }
  SUBCASE("3x3 stride 1 pad 1 avg, with and without padding in the count") {
    auto ones = nd::ones<float>({1, 1, 3, 3});
    auto inc = nd::pooling(ones, {.kernel = {3, 3}, .pad = {1, 1}, .type = nd::pool_type::avg});
    CHECK(inc.at(0, 0, 0, 0) == doctest::Approx(4.0 / 9));
    CHECK(inc.at(0, 0, 0, 1) == doctest::Approx(6.0 / 9));
    CHECK(inc.at(0, 0, 1, 1) == doctest::Approx(1.0));
    auto exc = nd::pooling(ones, {.kernel = {3, 3}, .pad = {1, 1}, .type = nd::pool_type::avg, .count_include_pad = false});
    for (float v : exc.to_vector()) CHECK(v == doctest::Approx(1.0));
  }
  SUBCASE("max ignores the padding") {
    auto neg = nd::full<float>({1, 1, 2, 2}, -3.0f);
    CHECK(nd::pooling(neg, {.kernel = {2, 2}, .pad = {1, 1}}).to_vector() == std::vector<float>(9, -3.0f));
  }
  SUBCASE("full convention clips the last window (as MXNet)") {
    auto x3 = nd::arange<float>(9).reshape({1, 1, 3, 3});
    auto m = nd::pooling(x3, {.kernel = {2, 2}, .stride = {2, 2}, .convention = nd::pooling_convention::full});
    CHECK(m.to_vector() == std::vector<float>{4, 5, 7, 8});
    auto a = nd::pooling(x3, {.kernel = {2, 2}, .stride = {2, 2}, .type = nd::pool_type::avg,
                              .convention = nd::pooling_convention::full});
    CHECK(a.to_vector() == std::vector<float>{2, 3.5f, 6.5f, 8});
  }
  SUBCASE("global max and average") {
    CHECK(nd::global_max_pool(x).to_vector() == std::vector<float>{15});
    CHECK(nd::global_avg_pool(x).to_vector() == std::vector<float>{7.5f});
  }
}

TEST_CASE("pooling: kernels match the naive reference on random shapes") {
  struct Case {
    std::size_t H, W;
    nd::PoolOptions opt;
  };
  const Case cases[] = {
      {24, 24, {.kernel = {2, 2}, .stride = {2, 2}}},  // the 2x2/2 fast path
      {7, 9, {.kernel = {2, 2}, .stride = {2, 2}}},    // fast path, odd sizes
      {7, 9, {.kernel = {2, 2}, .stride = {2, 2}, .convention = nd::pooling_convention::full}},
      {13, 13, {.kernel = {3, 3}, .stride = {2, 2}}},
      {12, 11, {.kernel = {3, 2}, .stride = {2, 1}, .pad = {1, 1}}},
      {12, 11, {.kernel = {3, 3}, .stride = {2, 3}, .pad = {2, 1}, .convention = nd::pooling_convention::full}},
      {8, 8, {.kernel = {8, 8}, .global_pool = true}},
      {5, 6, {.kernel = {2, 2}, .stride = {3, 3}, .pad = {1, 1}, .convention = nd::pooling_convention::full}},
  };
  for (const Case& c : cases)
    for (auto type : {nd::pool_type::max, nd::pool_type::avg})
      for (bool inc : {true, false}) {
        nd::PoolOptions opt = c.opt;
        opt.type = type, opt.count_include_pad = inc;
        const std::string what = std::to_string(c.H) + "x" + std::to_string(c.W) + " kernel " +
                                 std::to_string(opt.kernel[0]) + "x" + std::to_string(opt.kernel[1]) + " stride " +
                                 std::to_string(opt.stride[0]) + " pad " + std::to_string(opt.pad[0]) +
                                 (type == nd::pool_type::max ? " max" : " avg") + (inc ? " incl. pad" : "");
        CAPTURE(what);
        auto x = rand_array({3, 2, c.H, c.W}, 5).astype<float>();
        auto y = nd::pooling(x, opt);
        const auto g = nd::ops::Pooling<float>::make_geometry(x, opt);
        NDArray<float> ref(y.shape());
        const std::size_t in_plane = c.H * c.W, out_plane = g.Ho * g.Wo;
        for (std::size_t p = 0; p < 6; ++p)
          kernels::pool2d_plane_naive(g, x.data() + p * in_plane, ref.data() + p * out_plane, type == nd::pool_type::max, inc);
        for (std::size_t i = 0; i < y.size(); ++i) CHECK(y.data()[i] == doctest::Approx(ref.data()[i]).epsilon(1e-5));
      }
}

TEST_CASE("pooling: planes split over threads give the same result, forward and backward") {
  auto x = rand_array({8, 16, 24, 24}, 9);  // large enough for parallel_for to use every thread
  x.attach_grad();
  for (auto type : {nd::pool_type::max, nd::pool_type::avg}) {
    const nd::PoolOptions opt{.kernel = {2, 2}, .stride = {2, 2}, .type = type};
    NDArray<double> y;
    {
      autograd::record rec;
      y = nd::pooling(x, opt);
    }
    y.backward();
    const auto g = nd::ops::Pooling<double>::make_geometry(x, opt);
    NDArray<double> ref(y.shape());
    bool same = true;
    for (std::size_t p = 0; p < 8 * 16; ++p) {
      kernels::pool2d_plane_naive(g, x.data() + p * 576, ref.data() + p * 144, type == nd::pool_type::max, true);
      for (std::size_t i = 0; i < 144; ++i) same = same && ref.data()[p * 144 + i] == doctest::Approx(y.data()[p * 144 + i]);
    }
    CHECK(same);
    // Each 2x2 window is disjoint: max puts a single 1 in each window, avg 0.25 everywhere.
    double total = 0;
    for (double v : x.grad()) total += v;
    CHECK(total == doctest::Approx(8 * 16 * 144));
    if (type == nd::pool_type::avg) CHECK(std::all_of(x.grad().begin(), x.grad().end(), [](double v) { return v == 0.25; }));
  }
}

TEST_CASE("pooling: max with the fused relu is relu then max pooling, values, gradients and second order") {
  // The op graph::fuse_relu_pool makes; not reachable through nd::pooling.
  auto fused = [](nd::PoolOptions opt) {
    return [opt](const V& x) {
      nd::ops::Pooling<double> op;
      op.opt = opt;
      op.relu = true;
      return autograd::apply(std::move(op), x[0]);
    };
  };
  const nd::PoolOptions opts[] = {{.kernel = {2, 2}, .stride = {2, 2}},
                                  {.kernel = {3, 3}, .stride = {2, 2}, .pad = {1, 1}},
                                  {.global_pool = true}};
  for (const nd::PoolOptions& opt : opts) {
    const NDArray<double> x = rand_array({2, 3, 7, 6}, 11);
    const auto f = fused(opt);
    CHECK(gradcheck(f, V{x}));
    // The same values and gradient as the unfused pair.
    NDArray<double> a = x.copy(), b = x.copy();
    a.attach_grad(), b.attach_grad();
    NDArray<double> ya, yb;
    {
      autograd::record rec;
      ya = f({a});
      yb = nd::pooling(nd::relu(b), opt);
      ((ya * ya).sum() + (yb * yb).sum()).backward();
    }
    CHECK(ya.to_vector() == yb.to_vector());
    CHECK(a.grad().to_vector() == b.grad().to_vector());
    // Second order (create_graph): d/dx sum(dy/dx ^2) with y = sum(pool(x)^3).
    auto second = [&](const V& in, bool use_fused) {
      NDArray<double> v = in[0];
      autograd::record rec;
      NDArray<double> y = use_fused ? f({v}) : nd::pooling(nd::relu(v), opt);
      const NDArray<double> dx = autograd::grad((y * y * y).sum(), {v}, {.create_graph = true})[0];
      return (dx * dx).sum();
    };
    CHECK(gradcheck([&](const V& in) { return second(in, true); }, V{x}));
    NDArray<double> c = x.copy(), d = x.copy();
    c.attach_grad(), d.attach_grad();
    {
      autograd::record rec;
      (second({c}, true) + second({d}, false)).backward();
    }
    const auto gc = c.grad().to_vector(), gd = d.grad().to_vector();
    for (std::size_t i = 0; i < gc.size(); ++i) CHECK(gc[i] == doctest::Approx(gd[i]).epsilon(1e-12));
  }
}

TEST_CASE("pooling: the fused relu keeps a NaN as nd::relu does, values and gradient as the unfused pair") {
  // relu(NaN) is NaN (nd::relu, the convolution's fused ReLU); the pooling's fused ReLU made it
  // 0, so a hybridized graph (graph::fuse_relu_pool) gave 0 where the imperative one gave NaN.
  const float nan = std::nanf("");
  for (const nd::PoolOptions& opt : {nd::PoolOptions{.kernel = {2, 2}, .stride = {2, 2}},
                                     nd::PoolOptions{.kernel = {3, 3}, .stride = {1, 1}, .pad = {1, 1}}}) {
    NDArray<float> a = nd::array<float>({nan, -1, -2, 3, -4, -5, -6, -7, 8, -9, nan, -0.f, 1, 2, -3, 4}, {1, 1, 4, 4});
    NDArray<float> b = a.copy();
    a.attach_grad(), b.attach_grad();
    NDArray<float> ya, yb;
    {
      autograd::record rec;
      nd::ops::Pooling<float> op;
      op.opt = opt;
      op.relu = true;
      ya = autograd::apply(std::move(op), a);
      yb = nd::pooling(nd::relu(b), opt);
    }
    ya.backward(nd::ones<float>(ya.shape()));
    yb.backward(nd::ones<float>(yb.shape()));
    const auto va = ya.to_vector(), vb = yb.to_vector();
    REQUIRE(va.size() == vb.size());
    CHECK(std::any_of(vb.begin(), vb.end(), [](float v) { return std::isnan(v); }));
    for (std::size_t i = 0; i < va.size(); ++i) {
      CHECK(std::isnan(va[i]) == std::isnan(vb[i]));
      if (!std::isnan(vb[i])) CHECK(va[i] == vb[i]);
    }
    CHECK(a.grad().to_vector() == b.grad().to_vector());
  }
}

TEST_CASE("pooling: max backward routes dy to the arg-max") {
  auto x = nd::array<double>({1, 9, 3, 4, 5, 2, 8, 7, 6}, {1, 1, 3, 3});
  x.attach_grad();
  {
    autograd::record rec;
    auto y = nd::pooling(x, {.kernel = {2, 2}, .stride = {1, 1}});  // maxima: 9, 9, 8, 7
    CHECK(y.to_vector() == std::vector<double>{9, 9, 8, 7});
    y.backward(nd::array<double>({1, 10, 100, 1000}, {1, 1, 2, 2}));
  }
  CHECK(x.grad().to_vector() == std::vector<double>{0, 11, 0, 0, 0, 0, 100, 1000, 0});
}

TEST_CASE("pooling: the 2x2/2 max backward overwrites every input position") {
  // 5x7 and 5x35: the last row and column lie in no window and must come out 0 whatever dx held
  // before; the arg-max is each window's first maximum
  for (std::size_t W : {7u, 35u}) {
    CAPTURE(W);
    kernels::Pool2DGeometry g;
    g.H = 5, g.W = W, g.kh = g.kw = 2, g.sh = g.sw = 2, g.Ho = 2, g.Wo = W / 2;
    REQUIRE(g.is_2x2_s2());
    const std::size_t n = g.H * W, m = g.Ho * g.Wo;
    std::vector<float> x(n), y(m), dy(m), dx(n, std::nanf(""));
    for (std::size_t i = 0; i < n; ++i) x[i] = float((i * 7) % 11);
    for (std::size_t o = 0; o < m; ++o) dy[o] = float(o + 1);
    std::vector<std::int32_t> idx(m);
    kernels::max_pool2d_plane(g, x.data(), y.data(), idx.data());
    for (std::size_t o = 0; o < m; ++o) {  // the arg-max: the window's first maximum in row-major order (ties)
      const std::size_t top = 2 * (o / g.Wo) * W + 2 * (o % g.Wo);
      std::size_t at = top;
      for (std::size_t k : {top + 1, top + W, top + W + 1})
        if (x[k] > x[at]) at = k;
      CHECK(idx[o] == static_cast<std::int32_t>(at));
      CHECK(y[o] == x[at]);
    }
    kernels::max_pool2d_backward_plane(g, dy.data(), idx.data(), dx.data());
    std::vector<float> want(n, 0.f);
    for (std::size_t o = 0; o < m; ++o) want[static_cast<std::size_t>(idx[o])] += dy[o];
    CHECK(dx == want);
  }
}

TEST_CASE("pooling: the 2x2/2 max in float (the AVX-512 path where built) equals double's scalar path") {
  // Rows of 1 to 40 outputs (one, two and three vectors of 16, with a remainder), odd trailing
  // rows and columns, ties, +-inf and NaNs: same maxima, same arg-max, same gradient.
  const float inf = std::numeric_limits<float>::infinity();
  const float specials[] = {0.f, 0.f, 1.f, -inf, inf, std::nanf(""), -1.f};
  std::uint32_t state = 12345;
  const auto next = [&] { return state = state * 1664525u + 1013904223u; };
  for (std::size_t Wo : {1u, 5u, 12u, 15u, 16u, 17u, 31u, 32u, 33u, 40u})
    for (std::size_t extra : {0u, 1u}) {
      CAPTURE(Wo);
      CAPTURE(extra);
      kernels::Pool2DGeometry g;
      g.H = 6 + extra, g.W = 2 * Wo + extra, g.kh = g.kw = 2, g.sh = g.sw = 2, g.Ho = 3, g.Wo = Wo;
      REQUIRE(g.is_2x2_s2());
      const std::size_t n = g.H * g.W, m = g.Ho * g.Wo;
      std::vector<float> xf(n), yf(m), dyf(m), dxf(n, 5.f);
      std::vector<double> xd(n), yd(m), dyd(m), dxd(n, 5.0);
      for (std::size_t i = 0; i < n; ++i) {
        const std::uint32_t r = next() >> 8;
        xf[i] = r % 4 == 0 ? specials[(r >> 4) % 7] : float(r % 9) - 4.f;  // small integers: many ties
        xd[i] = double(xf[i]);
      }
      for (std::size_t o = 0; o < m; ++o) dyf[o] = float(o + 1), dyd[o] = double(o + 1);
      std::vector<std::int32_t> idf(m), idd(m);
      kernels::max_pool2d_plane(g, xf.data(), yf.data(), idf.data());
      kernels::max_pool2d_plane(g, xd.data(), yd.data(), idd.data());
      CHECK(idf == idd);
      for (std::size_t o = 0; o < m; ++o) {
        CAPTURE(o);
        if (std::isnan(yd[o])) CHECK(std::isnan(yf[o]));
        else CHECK(double(yf[o]) == yd[o]);
      }
      std::vector<float> nf(m);
      kernels::max_pool2d_plane(g, xf.data(), nf.data(), static_cast<std::int32_t*>(nullptr));  // no arg-max
      for (std::size_t o = 0; o < m; ++o) {
        CAPTURE(o);
        if (std::isnan(yd[o])) CHECK(std::isnan(nf[o]));
        else CHECK(double(nf[o]) == yd[o]);
      }
      kernels::max_pool2d_backward_plane(g, dyf.data(), idf.data(), dxf.data());
      kernels::max_pool2d_backward_plane(g, dyd.data(), idd.data(), dxd.data());
      for (std::size_t i = 0; i < n; ++i) {
        CAPTURE(i);
        CHECK(double(dxf[i]) == dxd[i]);
      }
    }
}

TEST_CASE("pooling: the windows-inside max in float (the AVX-512 path where built) equals double's scalar path") {
  // AlexNet's 3x3/2 and other unpadded windows that all lie inside the plane, strides 1 and 2
  // along the rows (the vector path's), 3 along them (the scalar path on both sides); rows of 1
  // to 40 outputs, ties, +-inf and NaNs: same maxima, same arg-max, with and without it.
  const float inf = std::numeric_limits<float>::infinity();
  const float specials[] = {0.f, 0.f, 1.f, -inf, inf, std::nanf(""), -1.f};
  std::uint32_t state = 777;
  const auto next = [&] { return state = state * 1664525u + 1013904223u; };
  struct Window {
    std::size_t kh, kw, sh, sw;
  };
  for (const Window win : {Window{3, 3, 2, 2}, Window{3, 3, 1, 1}, Window{2, 3, 3, 2}, Window{1, 2, 1, 2},
                           Window{3, 2, 2, 1}, Window{2, 2, 1, 3}})
    for (std::size_t Wo : {1u, 5u, 12u, 15u, 16u, 17u, 31u, 32u, 33u, 40u})
      for (std::size_t extra : {0u, 1u}) {
        CAPTURE(win.kh);
        CAPTURE(win.kw);
        CAPTURE(win.sw);
        CAPTURE(Wo);
        CAPTURE(extra);
        kernels::Pool2DGeometry g;
        g.kh = win.kh, g.kw = win.kw, g.sh = win.sh, g.sw = win.sw;
        g.H = 3 * g.sh + g.kh + extra, g.W = (Wo - 1) * g.sw + g.kw + extra;  // extra: rows and columns left out
        g.Ho = kernels::Pool2DGeometry::out_size(g.H, g.kh, g.sh, 0, false);
        g.Wo = kernels::Pool2DGeometry::out_size(g.W, g.kw, g.sw, 0, false);  // Wo, or Wo + 1 at stride 1
        const std::size_t n = g.H * g.W, m = g.Ho * g.Wo;
        std::vector<float> xf(n), yf(m), nf(m);
        std::vector<double> xd(n), yd(m);
        for (std::size_t i = 0; i < n; ++i) {
          const std::uint32_t r = next() >> 8;
          xf[i] = r % 5 == 0 ? specials[(r >> 4) % 7] : float(r % 9) - 4.f;  // small integers: many ties
          xd[i] = double(xf[i]);
        }
        std::vector<std::int32_t> idf(m), idd(m);
        kernels::max_pool2d_plane(g, xf.data(), yf.data(), idf.data());
        kernels::max_pool2d_plane(g, xd.data(), yd.data(), idd.data());
        kernels::max_pool2d_plane(g, xf.data(), nf.data(), static_cast<std::int32_t*>(nullptr));
        CHECK(idf == idd);
        for (std::size_t o = 0; o < m; ++o) {
          CAPTURE(o);
          CHECK(std::isnan(yf[o]) == std::isnan(yd[o]));
          CHECK(std::isnan(nf[o]) == std::isnan(yd[o]));
          if (!std::isnan(yd[o])) {
            CHECK(double(yf[o]) == yd[o]);
            CHECK(double(nf[o]) == yd[o]);
          }
        }
      }
}

TEST_CASE("pooling: gradients match central differences (double)") {
  const V in{rand_array({2, 2, 5, 6}, 3)};
  using nd::pool_type, nd::pooling_convention;
  SUBCASE("max 2x2 stride 2 (fast path)") { CHECK(gradcheck(pool_fn({.kernel = {2, 2}, .stride = {2, 2}}), in)); }
  SUBCASE("max 2x2 stride 2, odd height and width (fast path, uncovered row and column)") {
    CHECK(gradcheck(pool_fn({.kernel = {2, 2}, .stride = {2, 2}}), V{rand_array({2, 2, 5, 7}, 4)}));
  }
  SUBCASE("max 3x3 stride 2, unpadded (windows inside the plane: the select path)") {
    CHECK(gradcheck(pool_fn({.kernel = {3, 3}, .stride = {2, 2}}), V{rand_array({2, 2, 7, 9}, 6)}));
  }
  SUBCASE("max 3x3 stride 1 pad 1 (overlapping)") {
    CHECK(gradcheck(pool_fn({.kernel = {3, 3}, .stride = {1, 1}, .pad = {1, 1}}), in));
  }
  SUBCASE("max full convention") {
    CHECK(gradcheck(pool_fn({.kernel = {3, 2}, .stride = {2, 2}, .convention = pooling_convention::full}), in));
  }
  SUBCASE("avg 2x2 stride 2 (fast path)") {
    CHECK(gradcheck(pool_fn({.kernel = {2, 2}, .stride = {2, 2}, .type = pool_type::avg}), in));
  }
  SUBCASE("avg pad 1, count_include_pad") {
    CHECK(gradcheck(pool_fn({.kernel = {3, 3}, .stride = {2, 1}, .pad = {1, 1}, .type = pool_type::avg}), in));
  }
  SUBCASE("avg pad 1, count_include_pad = false") {
    CHECK(gradcheck(
        pool_fn({.kernel = {3, 3}, .stride = {2, 1}, .pad = {1, 1}, .type = pool_type::avg, .count_include_pad = false}),
        in));
  }
  SUBCASE("avg full convention") {
    CHECK(gradcheck(pool_fn({.kernel = {2, 3}, .stride = {2, 2}, .pad = {1, 1}, .type = pool_type::avg,
                             .convention = pooling_convention::full}),
                    in));
  }
  SUBCASE("global max and avg") {
    CHECK(gradcheck([](const V& x) { return nd::global_max_pool(x[0]); }, in));
    CHECK(gradcheck([](const V& x) { return nd::global_avg_pool(x[0]); }, in));
  }
}

TEST_CASE("pooling: ceil mode with padding, windows past the edge or wholly in the padding: first and second order") {
  using nd::pool_type, nd::pooling_convention;
  const auto full = pooling_convention::full;
  // (5, 6) with kernel (3, 2) or (2, 3), stride 2, pad 1, full: the last windows end past the
  // padded input.
  const V in{rand_array({2, 2, 5, 6}, 41)};
  // (5, 5) with kernel 2, stride 2, pad 1, full: the last row and column of windows lie wholly in
  // the padding (outputs 0, no gradient), the first ones half in it.
  const V edge{rand_array({1, 2, 5, 5}, 42)};
  const auto squared = [](nd::PoolOptions o) {
    return [o](const V& x) { return nd::square(nd::pooling(x[0], o)); };
  };
  SUBCASE("avg, with and without the padding in the divisor") {
    for (const bool include : {true, false}) {
      CAPTURE(include);
      const nd::PoolOptions avg{.kernel = {3, 2}, .stride = {2, 2}, .pad = {1, 1}, .type = pool_type::avg,
                                .convention = full, .count_include_pad = include};
      const nd::PoolOptions avg_edge{.kernel = {2, 2}, .stride = {2, 2}, .pad = {1, 1}, .type = pool_type::avg,
                                     .convention = full, .count_include_pad = include};
      // Stride above the kernel: gaps between the windows, the first ones half in the padding.
      const nd::PoolOptions gaps{.kernel = {2, 2}, .stride = {3, 3}, .pad = {1, 1}, .type = pool_type::avg,
                                 .count_include_pad = include};
      CHECK(gradcheck(pool_fn(avg), in));
      CHECK(gradcheck(pool_fn(avg_edge), edge));
      CHECK(gradcheck(pool_fn(gaps), V{rand_array({1, 2, 7, 8}, 43)}));
      CHECK(test::hessian_check(squared(avg), in));
      CHECK(test::hessian_check(squared(avg_edge), edge));
    }
  }
  SUBCASE("max") {
    const nd::PoolOptions max{.kernel = {2, 3}, .stride = {2, 2}, .pad = {1, 1}, .convention = full};
    const nd::PoolOptions max_edge{.kernel = {2, 2}, .stride = {2, 2}, .pad = {1, 1}, .convention = full};
    CHECK(gradcheck(pool_fn(max), in));
    CHECK(gradcheck(pool_fn(max_edge), edge));
    CHECK(test::hessian_check(squared(max), in));
    CHECK(test::hessian_check(squared(max_edge), edge));
  }
}

TEST_CASE("pooling: random combinations of every option: first and second order (double)") {
  random::Generator gen(97);
  const auto in = [&](std::size_t lo, std::size_t hi) { return lo + gen.randint(hi - lo + 1); };  // in [lo, hi]
  for (int t = 0; t < 100; ++t) {
    nd::PoolOptions o;
    o.kernel = {in(1, 4), in(1, 4)};
    o.stride = {in(1, 4), in(1, 4)};
    o.pad = {in(0, o.kernel[0] - 1), in(0, o.kernel[1] - 1)};
    o.type = in(0, 1) == 1 ? nd::pool_type::max : nd::pool_type::avg;
    o.convention = in(0, 1) == 1 ? nd::pooling_convention::full : nd::pooling_convention::valid;
    o.count_include_pad = in(0, 1) == 1;
    // At least the kernel, padding included: every draw is a valid pooling.
    const std::size_t H = std::max(in(1, 7), o.kernel[0]), W = std::max(in(1, 7), o.kernel[1]);
    const V x{rand_array({in(1, 2), in(1, 2), H, W}, 1000 + static_cast<std::uint64_t>(t))};
    CAPTURE(t);
    CHECK(gradcheck(pool_fn(o), x));
    CHECK(test::hessian_check([o](const V& v) { return nd::square(nd::pooling(v[0], o)); }, x));
  }
}

TEST_CASE("pooling: errors name the op and the shapes") {
  auto x = nd::zeros<float>({1, 3, 8, 8});
  CHECK_THROWS_WITH_AS(nd::pooling(nd::zeros<float>({3, 8, 8})),
                       doctest::Contains("pooling: input must be 4-D (N, C, H, W), got (3, 8, 8)"), ShapeError);
  CHECK_THROWS_WITH_AS(nd::pooling(x, {.kernel = {9, 3}}), doctest::Contains("(1, 3, 8, 8)"), ShapeError);
  CHECK_THROWS_WITH_AS(nd::pooling(x, {.kernel = {9, 3}}), doctest::Contains("pooling: kernel (9, 3) larger than"),
                       ShapeError);
  CHECK_NOTHROW(nd::pooling(x, {.kernel = {9, 3}, .pad = {1, 0}}));
  CHECK_THROWS_WITH_AS(nd::pooling(x, {.kernel = {0, 2}}), doctest::Contains("kernel must be > 0"), ValueError);
  CHECK_THROWS_WITH_AS(nd::pooling(x, {.stride = {1, 0}}), doctest::Contains("stride must be > 0"), ValueError);
  CHECK_THROWS_WITH_AS(nd::pooling(x, {.kernel = {2, 2}, .pad = {2, 0}}),
                       doctest::Contains("pad (2, 0) must be smaller than kernel (2, 2)"), ValueError);
  CHECK_THROWS_WITH_AS(nd::global_max_pool(nd::zeros<float>({1, 3, 0, 4})), doctest::Contains("(1, 3, 0, 4)"),
                       ShapeError);
}
TEST_CASE("pooling: max propagates NaN from any window position, on every path, forward and backward") {
  // Each case hits one kernel path: 2x2/2 (with and without arg-max), every window inside
  // (3x3/2, AlexNet's), and the generic clipped windows (padding).  A NaN is put at every input
  // position in turn; an output is NaN exactly when its window holds the NaN (NumPy's max), and
  // the gradient of a NaN output goes to the NaN (the forward's arg-max).
  struct Case {
    std::size_t H, W;
    nd::PoolOptions opt;
  };
  const Case cases[] = {
      {6, 8, {.kernel = {2, 2}, .stride = {2, 2}}},
      {5, 7, {.kernel = {2, 2}, .stride = {2, 2}}},
      {4, 34, {.kernel = {2, 2}, .stride = {2, 2}}},  // 2x2/2, rows wider than a vector register
      {7, 9, {.kernel = {3, 3}, .stride = {2, 2}}},
      {6, 5, {.kernel = {3, 3}, .stride = {2, 1}, .pad = {1, 1}}},
      {5, 5, {.kernel = {2, 2}, .stride = {2, 2}, .convention = nd::pooling_convention::full}},
  };
  for (const Case& c : cases)
    for (bool record : {false, true})
      for (std::size_t p = 0; p < c.H * c.W; ++p) {
        CAPTURE(c.H);
        CAPTURE(c.W);
        CAPTURE(c.opt.kernel[0]);
        CAPTURE(c.opt.pad[0]);
        CAPTURE(record);
        CAPTURE(p);
        auto x = rand_array({1, 1, c.H, c.W}, 3 + p).astype<float>();
        x.data()[p] = std::nanf("");
        if (p % 2) x.data()[p - 1] = INFINITY;  // an infinity before the NaN does not hide it
        x.attach_grad();
        NDArray<float> y;
        {
          autograd::record rec;
          if (!record) autograd::set_recording(false);
          y = nd::pooling(x, c.opt);
        }
        const auto g = nd::ops::Pooling<float>::make_geometry(x, c.opt);
        // Reference straight from the definition: the window in padded coordinates, clipped.
        bool ok = true;
        std::size_t nan_outputs = 0;
        for (std::size_t oh = 0; oh < g.Ho; ++oh)
          for (std::size_t ow = 0; ow < g.Wo; ++ow) {
            bool has_nan = false;
            float m = -INFINITY;
            for (std::size_t i = 0; i < g.kh; ++i)
              for (std::size_t j = 0; j < g.kw; ++j) {
                const long long h = static_cast<long long>(oh * g.sh + i) - static_cast<long long>(g.ph);
                const long long w = static_cast<long long>(ow * g.sw + j) - static_cast<long long>(g.pw);
                if (h < 0 || w < 0 || h >= static_cast<long long>(g.H) || w >= static_cast<long long>(g.W)) continue;
                const float v = x.data()[static_cast<std::size_t>(h) * g.W + static_cast<std::size_t>(w)];
                has_nan = has_nan || std::isnan(v);
                m = std::max(m, v);
              }
            const float got = y.data()[oh * g.Wo + ow];
            nan_outputs += has_nan;
            ok = ok && (has_nan ? std::isnan(got) : got == m);
          }
        CHECK(ok);
        if (record) {
          y.backward();
          // dy = 1: the NaN position gets 1 from every NaN output, and no other position does.
          CHECK(x.grad().data()[p] == float(nan_outputs));
        }
      }
  // The kernel's naive reference agrees.
  kernels::Pool2DGeometry g;
  g.H = 2, g.W = 2, g.kh = g.kw = 2, g.sh = g.sw = 2, g.Ho = g.Wo = 1;
  for (std::size_t p = 0; p < 4; ++p) {
    float x[4] = {1, 2, 3, 4}, y = 0;
    x[p] = std::nanf("");
    kernels::pool2d_plane_naive(g, x, &y, true, false);
    CHECK(std::isnan(y));
  }
}
TEST_CASE("pooling: sizes near 2^64 (negative numbers converted) are ValueErrors naming the input") {
  auto x = nd::zeros<float>({1, 3, 8, 8});
  const std::size_t minus_one = static_cast<std::size_t>(-1);
  // before: stride 2^64 - 1 wrapped the full convention's (span + stride - 1) to a wrong size
  CHECK_THROWS_WITH_AS(nd::pooling(x, {.kernel = {2, 2}, .stride = {minus_one, 1}, .convention = nd::pooling_convention::full}),
                       doctest::Contains("pooling: kernel (2, 2) or stride (18446744073709551615, 1) too large"),
                       ValueError);
  CHECK_THROWS_WITH_AS(nd::pooling(x, {.kernel = {minus_one, 2}, .pad = {minus_one - 1, 0}}),
                       doctest::Contains("(1, 3, 8, 8)"), ValueError);
  CHECK_THROWS_WITH_AS(nd::pooling(x, {.kernel = {0, 2}}), doctest::Contains("got (0, 2): input (1, 3, 8, 8)"),
                       ValueError);
  // a plane whose H * W would wrap is refused before the int32 arg-max positions could
  CHECK_THROWS_WITH_AS(nd::pooling(NDArray<float>(Shape{0, 1, std::size_t(1) << 33, std::size_t(1) << 33})),
                       doctest::Contains("more than 2^31 elements"), ShapeError);
}
}
