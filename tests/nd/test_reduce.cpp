// SPDX-License-Identifier: Apache-2.0
#include <gluino/nd/reduce.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include <gluino/nd.hpp>  // NDArray with all its methods and ops
#include <gluino/nd/creation.hpp>
#include "support/gradcheck.hpp"

using namespace gluino;
using test::gradcheck;
using test::rand_array;
using V = std::vector<NDArray<double>>;

namespace {
enum class K { sum, mean, max, min };

/// Reference reduction straight from the definition: for every output position, visit every
/// input element whose unreduced coordinates match it.  Returns the keepdims result.
NDArray<double> reference(const NDArray<double>& x, std::vector<int> axes, K kind) {
  const Shape& s = x.shape();
  const int n = static_cast<int>(s.ndim());
  std::vector<bool> red(s.ndim(), axes.empty());
  for (int a : axes) red[static_cast<std::size_t>(a < 0 ? a + n : a)] = true;
  Shape ks;
  for (std::size_t i = 0; i < s.ndim(); ++i) ks.push_back(red[i] ? 1 : s[i]);
  NDArray<double> out(ks);
  const auto st = s.strides(), kst = ks.strides();
  for (std::size_t o = 0; o < out.size(); ++o) {
    double acc = kind == K::max ? -INFINITY : kind == K::min ? INFINITY : 0.0;
    std::size_t count = 0;
    for (std::size_t e = 0; e < x.size(); ++e) {
      bool match = true;
      for (std::size_t d = 0; d < s.ndim(); ++d) {
        const std::size_t c = (e / st[d]) % s[d];
        if (!red[d] && c != (o / kst[d]) % ks[d]) match = false;
      }
      if (!match) continue;
      const double v = x.data()[e];
      ++count;
      if (kind == K::max) acc = std::max(acc, v);
      else if (kind == K::min) acc = std::min(acc, v);
      else acc += v;
    }
    out.data()[o] = kind == K::mean ? acc / double(count) : acc;
  }
  return out;
}

NDArray<double> run(const NDArray<double>& x, const std::vector<int>& axes, bool keepdims, K kind) {
  switch (kind) {
    case K::sum: return nd::sum(x, axes, keepdims);
    case K::mean: return nd::mean(x, axes, keepdims);
    case K::max: return nd::max(x, axes, keepdims);
    case K::min: return nd::min(x, axes, keepdims);
  }
  return {};
}

/// The expected output shape: reduced axes dropped, or kept as 1.
Shape expected_shape(const Shape& s, std::vector<int> axes, bool keepdims) {
  const int n = static_cast<int>(s.ndim());
  std::vector<bool> red(s.ndim(), axes.empty());
  for (int a : axes) red[static_cast<std::size_t>(a < 0 ? a + n : a)] = true;
  Shape out;
  for (std::size_t i = 0; i < s.ndim(); ++i)
    if (!red[i]) out.push_back(s[i]);
    else if (keepdims) out.push_back(1);
  return out;
}

/// Distinct values (a shuffled ramp), so that max/min have no ties.
NDArray<double> distinct(const Shape& s, std::uint64_t seed = 3) {
  auto x = nd::arange<double>(double(s.size())).reshape(s).copy();
  random::Generator gen(seed);
  for (std::size_t i = x.size(); i > 1; --i) {
    const auto j = static_cast<std::size_t>(gen.uniform(0.0, double(i))) % i;
    std::swap(x.data()[i - 1], x.data()[j]);
  }
  for (double& v : x) v = v * 0.1 - 1.0;
  return x;
}
}  // namespace

TEST_SUITE("nd/reduce") {
TEST_CASE("sum/mean/max/min: small hand-computed cases") {
  auto x = nd::array<float>({1, 5, 3, 4, 2, 6}, {2, 3});
  CHECK(nd::sum(x).shape() == Shape{});
  CHECK(nd::sum(x).asscalar() == 21.f);
  CHECK(nd::mean(x).asscalar() == 3.5f);
  CHECK(nd::max(x).asscalar() == 6.f);
  CHECK(nd::min(x).asscalar() == 1.f);
  CHECK(nd::sum(x, 0).to_vector() == std::vector<float>{5, 7, 9});
  CHECK(nd::sum(x, 1).to_vector() == std::vector<float>{9, 12});
  CHECK(nd::sum(x, -1).to_vector() == std::vector<float>{9, 12});
  CHECK(nd::mean(x, 0).to_vector() == std::vector<float>{2.5, 3.5, 4.5});
  CHECK(nd::max(x, 1).to_vector() == std::vector<float>{5, 6});
  CHECK(nd::min(x, 0).to_vector() == std::vector<float>{1, 2, 3});
  CHECK(nd::sum(x, 1, true).shape() == Shape{2, 1});
  CHECK(nd::sum(x, 1).shape() == Shape{2});
  CHECK(x.sum({}, true).shape() == Shape{1, 1});
  CHECK(x.sum({0, 1}).shape() == Shape{});
  CHECK(x.max({1}).to_vector() == std::vector<float>{5, 6});
  CHECK(x.min().asscalar() == 1.f);
  CHECK(x.mean({-2}, true).shape() == Shape{1, 3});
}

TEST_CASE("reductions agree with the definition over every kind of axis set") {
  const std::vector<std::pair<Shape, std::vector<std::vector<int>>>> cases = {
      {{5}, {{}, {0}, {-1}}},
      {{2, 3}, {{}, {0}, {1}, {-1}, {-2}, {0, 1}, {1, 0}}},
      {{2, 3, 4}, {{}, {0}, {1}, {2}, {-1}, {0, 2}, {2, 0}, {-3, -1}, {0, 1}, {1, 2}, {0, 1, 2}}},
      {{2, 1, 3}, {{0, 2}, {1}, {0, 1}}},
      {{2, 3, 2, 3}, {{0, 2}, {1, 3}, {0, 3}, {-1, 1}, {0, 1, 3}, {1, 2}, {3}}},
      {{3, 1, 2, 1}, {{0, 2}, {1, 3}, {0, 1, 2, 3}}},
      // rows longer than the 8-lane folding loop, of a length that leaves a tail, and rows long
      // enough to be split over threads
      {{3, 37}, {{}, {1}, {-1}}},
      {{2, 20003}, {{1}}},
  };
  for (const auto& entry : cases) {
    const auto& shape = entry.first;  // a named variable: clang 14 cannot capture a binding
    const auto& axis_sets = entry.second;
    const auto x = distinct(shape);
    for (const auto& axes : axis_sets) {
      for (bool keepdims : {false, true}) {
        for (K kind : {K::sum, K::mean, K::max, K::min}) {
          CAPTURE(shape);
          CAPTURE(keepdims);
          CAPTURE(int(kind));
          INFO("axes size ", axes.size(), axes.empty() ? "" : " first " + std::to_string(axes[0]));
          const auto got = run(x, axes, keepdims, kind);
          CHECK(got.shape() == expected_shape(shape, axes, keepdims));
          const auto want = reference(x, axes, kind);
          REQUIRE(got.size() == want.size());
          for (std::size_t i = 0; i < want.size(); ++i) CHECK(got.data()[i] == doctest::Approx(want.data()[i]));
        }
      }
    }
  }
}

TEST_CASE("reductions: gradients match central differences (double)") {
  const std::vector<std::pair<Shape, std::vector<std::vector<int>>>> cases = {
      {{2, 3}, {{}, {0}, {-1}}},
      {{2, 3, 4}, {{0, 2}, {1}, {-2, 0}}},
      {{2, 1, 2, 3}, {{0, 2}, {1, 3}, {3, 0}}},
  };
  for (const auto& entry : cases) {
    const auto& shape = entry.first;  // a named variable: clang 14 cannot capture a binding
    const auto& axis_sets = entry.second;
    const auto x = distinct(shape);  // no ties: max/min are differentiable there
    for (const auto& axes : axis_sets)
      for (bool keepdims : {false, true}) {
        CAPTURE(shape);
        CAPTURE(keepdims);
        INFO("axes size ", axes.size());
        CHECK(gradcheck([&](const V& v) { return nd::sum(v[0], axes, keepdims); }, {x}));
        CHECK(gradcheck([&](const V& v) { return nd::mean(v[0], axes, keepdims); }, {x}));
        CHECK(gradcheck([&](const V& v) { return nd::max(v[0], axes, keepdims); }, {x}));
        CHECK(gradcheck([&](const V& v) { return nd::min(v[0], axes, keepdims); }, {x}));
      }
  }
  SUBCASE("single-axis overloads and methods") {
    const auto x = distinct({3, 4});
    CHECK(gradcheck([](const V& v) { return nd::sum(v[0], 1); }, {x}));
    CHECK(gradcheck([](const V& v) { return nd::mean(v[0], -1, true); }, {x}));
    CHECK(gradcheck([](const V& v) { return nd::max(v[0], 0); }, {x}));
    CHECK(gradcheck([](const V& v) { return nd::min(v[0]); }, {x}));
    CHECK(gradcheck([](const V& v) { return v[0].mean(); }, {x}));
  }
}

TEST_CASE("reductions: hand-computed gradients") {
  auto x = nd::array<double>({1, 5, 3, 4, 2, 6}, {2, 3});
  x.attach_grad();
  {
    autograd::record rec;
    nd::mean(x, 1).backward();
  }
  for (double g : x.grad().to_vector()) CHECK(g == doctest::Approx(1.0 / 3));
  {
    autograd::record rec;
    nd::max(x, 1).backward();
  }
  CHECK(x.grad().to_vector() == std::vector<double>{0, 1, 0, 0, 0, 1});
  {
    autograd::record rec;
    nd::min(x, {0}, true).backward();
  }
  CHECK(x.grad().to_vector() == std::vector<double>{1, 0, 1, 0, 1, 0});
  SUBCASE("max with ties sends dy to every tied element (documented)") {
    auto t = nd::array<double>({2, 2, 1});
    t.attach_grad();
    {
      autograd::record rec;
      nd::max(t).backward();
    }
    CHECK(t.grad().to_vector() == std::vector<double>{1, 1, 0});
  }
}

TEST_CASE("reductions: 0-d input and empty arrays") {
  auto s = nd::full<double>(Shape{}, 4.0);
  CHECK(nd::sum(s).asscalar() == 4.0);
  CHECK(nd::max(s).shape() == Shape{});
  auto e = nd::zeros<double>({0, 3});
  CHECK(nd::sum(e, 0).to_vector() == std::vector<double>{0, 0, 0});
  CHECK(nd::sum(e, 1).shape() == Shape{0});
  CHECK_THROWS_WITH_AS(nd::max(e), doctest::Contains("(0, 3)"), ShapeError);
  CHECK_THROWS_WITH_AS(nd::min(e, 0), doctest::Contains("min:"), ShapeError);
}
TEST_CASE("reductions over nothing: mean is NaN (as NumPy), max / min are ShapeErrors, empty outputs are fine") {
  auto e = nd::zeros<double>({0, 3});
  CHECK(std::isnan(nd::mean(e).asscalar()));
  CHECK(std::isnan(nd::mean(nd::zeros<float>({0})).asscalar()));
  const auto m0 = nd::mean(e, 0);  // three means of nothing
  CHECK(m0.shape() == Shape{3});
  for (double v : m0) CHECK(std::isnan(v));
  CHECK(nd::mean(e, 1).shape() == Shape{0});  // no output element: nothing to be NaN
  CHECK(nd::max(e, 1).shape() == Shape{0});   // NumPy: np.zeros((0, 3)).max(axis=1) -> array([])
  CHECK(nd::min(e, 1, true).shape() == Shape{0, 1});
  CHECK_THROWS_WITH_AS(nd::max(e), "max: zero-size reduction with no identity: an empty axis of shape (0, 3) is reduced",
                       ShapeError);
  CHECK_THROWS_WITH_AS(nd::max(nd::zeros<float>({3, 0}), 1), doctest::Contains("max: zero-size reduction"), ShapeError);
  CHECK_THROWS_WITH_AS(nd::min(nd::zeros<float>({0})), doctest::Contains("min: zero-size reduction"), ShapeError);
  CHECK(nd::sum(e).asscalar() == 0.0);  // sum has an identity
}

TEST_CASE("reductions: axis out of range and repeated axes are ShapeErrors") {
  auto x = nd::zeros<float>({2, 3, 4});
  CHECK_THROWS_WITH_AS(nd::sum(x, 3), doctest::Contains("sum: axis 3 out of range for shape (2, 3, 4)"), ShapeError);
  CHECK_THROWS_WITH_AS(nd::mean(x, -4), doctest::Contains("mean: axis -4"), ShapeError);
  CHECK_THROWS_WITH_AS(nd::max(x, {0, 5}, false), doctest::Contains("(2, 3, 4)"), ShapeError);
  CHECK_THROWS_WITH_AS(nd::min(x, {1, 1}, false), doctest::Contains("min: axis 1 repeated"), ShapeError);
  CHECK_THROWS_WITH_AS(nd::sum(x, {2, -1}, false), doctest::Contains("repeated"), ShapeError);
}

TEST_CASE("argmax: first index of the largest element") {
  auto x = nd::array<float>({1, 7, 7, 3, 9, 9, 0, 2}, {2, 4});
  SUBCASE("last axis, ties -> first") {
    auto a = nd::argmax(x);
    CHECK(a.shape() == Shape{2});
    CHECK(a.to_vector() == std::vector<float>{1, 0});
    CHECK(x.argmax(1, true).shape() == Shape{2, 1});
  }
  SUBCASE("axis 0") {
    CHECK(nd::argmax(x, 0).to_vector() == std::vector<float>{1, 1, 0, 0});
    CHECK(nd::argmax(x, -2, true).shape() == Shape{1, 4});
  }
  SUBCASE("middle axis of a 3-D array") {
    auto y = nd::array<double>({0, 5, 1, 1, 2, 2, /**/ 3, 0, 3, 4, 0, 4}, {2, 3, 2});
    auto a = nd::argmax(y, 1);
    CHECK(a.shape() == Shape{2, 2});
    CHECK(a.to_vector() == std::vector<double>{2, 0, 0, 1});
  }
  SUBCASE("all equal -> 0, and negative values") {
    CHECK(nd::argmax(nd::full<float>({4}, -3.f)).to_vector() == std::vector<float>{0});
    CHECK(nd::argmax(nd::array<float>({-5, -1, -2})).to_vector() == std::vector<float>{1});
  }
  SUBCASE("not recorded") {
    auto v = nd::array<double>({1, 3, 2});
    v.attach_grad();
    autograd::record rec;
    auto a = nd::argmax(v);
    CHECK(a.impl()->grad_fn == nullptr);
  }
}

TEST_CASE("argmax: errors name the op and the shape") {
  CHECK_THROWS_WITH_AS(nd::argmax(nd::zeros<float>({3, 0}), 1), doctest::Contains("argmax: axis 1 of shape (3, 0) is empty"),
                       ShapeError);
  CHECK_THROWS_WITH_AS(nd::argmax(nd::zeros<float>({2, 3}), 2), doctest::Contains("argmax: axis 2"), ShapeError);
  CHECK_THROWS_WITH_AS(nd::argmax(nd::zeros<float>({2, 3}), -3), doctest::Contains("(2, 3)"), ShapeError);
}
TEST_CASE("max and min propagate NaN wherever it lies (NumPy's max)") {
  for (std::size_t p = 0; p < 12; ++p) {
    CAPTURE(p);
    auto x = rand_array({3, 4}, 5 + p).astype<float>();
    x.data()[p] = std::nanf("");
    CHECK(std::isnan(nd::max(x).asscalar()));
    CHECK(std::isnan(nd::min(x).asscalar()));
    for (int axis : {0, 1}) {
      auto mx = nd::max(x, axis), mn = nd::min(x, axis);
      const std::size_t hit = axis == 0 ? p % 4 : p / 4;  // the output whose slice holds the NaN
      for (std::size_t o = 0; o < mx.size(); ++o) {
        CHECK(std::isnan(mx.data()[o]) == (o == hit));
        CHECK(std::isnan(mn.data()[o]) == (o == hit));
      }
    }
  }
}
TEST_CASE("argmax: a NaN counts as the largest, the first one wins (np.argmax, torch.argmax, as max)") {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  CHECK(nd::argmax(nd::array<float>({1, nan, 3})).to_vector() == std::vector<float>{1});
  CHECK(nd::argmax(nd::array<float>({nan, 1, 3})).to_vector() == std::vector<float>{0});
  CHECK(nd::argmax(nd::array<float>({1, 3, nan, nan})).to_vector() == std::vector<float>{2});
  // along axis 0 of (3, 2): column 0 has its NaN in row 2, column 1 has none (largest in row 0)
  CHECK(nd::argmax(nd::array<float>({1, 5, 2, 4, nan, 3}, {3, 2}), 0).to_vector() == std::vector<float>{2, 0});
}
TEST_CASE("max / min: an in-place change of the output is detected, keepdims or not; sum / mean read no values") {
  auto x = nd::array<double>({1, 3, 2});
  x.attach_grad();
  for (bool keepdims : {false, true}) {
    CAPTURE(keepdims);
    autograd::record rec;
    auto y = nd::max(x, {0}, keepdims);  // keepdims = false returns a view of what backward reads
    y.fill(5.0);                         // without the check: no element equals 5, a zero gradient
    CHECK_THROWS_WITH_AS(y.backward(), doctest::Contains("the output (shape "), StateError);
    auto z = nd::min(x, {0}, keepdims);
    x.fill(0.5);
    CHECK_THROWS_WITH_AS(z.backward(), doctest::Contains("input 0 (shape (3,)) of 'reduce' was modified"), StateError);
    x.assign(nd::array<double>({1, 3, 2}));
  }
  {  // sum and mean need the shapes only: changing x or the result after them is no error
    autograd::record rec;
    auto s = nd::sum(x) + nd::mean(x, {0}, true).reshape({});
    x.fill(7.0);
    s.backward();
  }
  CHECK(x.grad().to_vector() == std::vector<double>{4.0 / 3, 4.0 / 3, 4.0 / 3});
}
}
