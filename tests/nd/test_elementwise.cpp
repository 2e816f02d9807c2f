// SPDX-License-Identifier: Apache-2.0
#include <gluino/nd/elementwise.hpp>

#include <doctest/doctest.h>

#include <cmath>
#include <string>
#include <vector>

#include <gluino/nd.hpp>  // NDArray with all its methods and ops
#include <gluino/nd/creation.hpp>
#include "support/check_close.hpp"
#include "support/gradcheck.hpp"

using namespace gluino;
using test::gradcheck;
using test::away_from_zero;
using test::check_values;
using test::rand_array;
using V = std::vector<NDArray<double>>;

namespace {
/// Inputs in [lo, hi) for ops defined only on part of the real line.
NDArray<double> positive(const Shape& s, std::uint64_t seed = 7) { return rand_array(s, seed, 0.5, 2.0); }
}  // namespace

TEST_SUITE("nd/elementwise") {
TEST_CASE("add broadcasts a row vector over a matrix") {
  auto a = nd::array<float>({1, 2, 3, 4, 5, 6}, {2, 3});
  auto b = nd::array<float>({10, 20, 30});
  auto c = a + b;
  CHECK(c.shape() == Shape{2, 3});
  CHECK(c.to_vector() == std::vector<float>{11, 22, 33, 14, 25, 36});
}

TEST_CASE("arithmetic: array/array values, same shape and broadcast") {
  auto a = nd::array<float>({1, 2, 3, 4, 5, 6}, {2, 3});
  auto b = nd::array<float>({2, 4, 8}, {3});
  SUBCASE("add") { check_values(nd::add(a, b), {3, 6, 11, 6, 9, 14}); }
  SUBCASE("subtract") { check_values(a - b, {-1, -2, -5, 2, 1, -2}); }
  SUBCASE("multiply") { check_values(a * b, {2, 8, 24, 8, 20, 48}); }
  SUBCASE("divide") { check_values(a / b, {0.5, 0.5, 0.375, 2, 1.25, 0.75}); }
  SUBCASE("same shape") { check_values(a * a, {1, 4, 9, 16, 25, 36}); }
  SUBCASE("column (2, 1) against row (3,) gives (2, 3)") {
    auto col = nd::array<float>({10, 20}, {2, 1});
    auto c = col - b;
    CHECK(c.shape() == Shape{2, 3});
    check_values(c, {8, 6, 2, 18, 16, 12});
  }
  SUBCASE("(2, 1, 3) * (4, 1) gives (2, 4, 3)") {
    auto x = nd::arange<float>(6).reshape({2, 1, 3});
    auto y = nd::arange<float>(4).reshape({4, 1});
    auto z = x * y;
    CHECK(z.shape() == Shape{2, 4, 3});
    for (std::size_t i = 0; i < 2; ++i)
      for (std::size_t j = 0; j < 4; ++j)
        for (std::size_t k = 0; k < 3; ++k) CHECK(z.at(i, j, k) == float((i * 3 + k) * j));
  }
  SUBCASE("0-d and (1,) arrays broadcast everywhere") {
    auto s0 = nd::full<float>(Shape{}, 2.f);
    auto s1 = nd::full<float>(Shape{1}, 3.f);
    check_values(a * s0, {2, 4, 6, 8, 10, 12});
    check_values(s1 - a, {2, 1, 0, -1, -2, -3});
    CHECK((s0 + s1).shape() == Shape{1});
    CHECK((s0 + s0).shape() == Shape{});
    CHECK((s1 + s1).to_vector() == std::vector<float>{6});
  }
}

TEST_CASE("arithmetic: array/scalar and scalar/array values") {
  auto x = nd::array<float>({1, 2, 4});
  check_values(x + 1.f, {2, 3, 5});
  check_values(1.f + x, {2, 3, 5});
  check_values(x - 1.f, {0, 1, 3});
  check_values(1.f - x, {0, -1, -3});
  check_values(x * 3.f, {3, 6, 12});
  check_values(3.f * x, {3, 6, 12});
  check_values(x / 2.f, {0.5, 1, 2});
  check_values(2.f / x, {2, 1, 0.5});
  check_values(-x, {-1, -2, -4});
  check_values(nd::negative(x), {-1, -2, -4});
  CHECK((x + 1.f).shape() == Shape{3});
}

TEST_CASE("math functions: values from the definition") {
  auto x = nd::array<double>({0.25, 1, 4});
  check_values(nd::exp(x), {std::exp(0.25), std::exp(1.0), std::exp(4.0)});
  check_values(nd::log(x), {std::log(0.25), 0, std::log(4.0)});
  check_values(nd::sqrt(x), {0.5, 1, 2});
  check_values(nd::square(x), {0.0625, 1, 16});
  check_values(nd::abs(nd::array<double>({-2, 0, 3})), {2, 0, 3});
}

TEST_CASE("power: array^array, array^scalar, scalar^array") {
  auto a = nd::array<double>({2, 3, 4});
  SUBCASE("nd::power with broadcasting") {
    auto b = nd::array<double>({2, 0.5}, {2, 1});
    auto z = nd::power(a, b);
    CHECK(z.shape() == Shape{2, 3});
    check_values(z, {4, 9, 16, std::sqrt(2.0), std::sqrt(3.0), 2});
  }
  SUBCASE("array ^ scalar") { check_values(nd::pow(a, 3.0), {8, 27, 64}); }
  SUBCASE("scalar ^ array") { check_values(nd::pow(2.0, a), {4, 8, 16}); }
}

TEST_CASE("maximum, minimum and clip") {
  auto a = nd::array<float>({1, 5, 3, -2}, {2, 2});
  auto b = nd::array<float>({2, 2}, {2});
  check_values(nd::maximum(a, b), {2, 5, 3, 2});
  check_values(nd::minimum(a, b), {1, 2, 2, -2});
  check_values(nd::clip(a, 0.f, 4.f), {1, 4, 3, 0});
  CHECK(nd::clip(a, 0.f, 4.f).shape() == Shape{2, 2});
}

TEST_CASE("clip: a_min above a_max is a ValueError naming both") {
  CHECK_THROWS_WITH_AS(nd::clip(nd::zeros<float>({2}), 2.f, 1.f), doctest::Contains("clip"), ValueError);
  CHECK_THROWS_WITH_AS(nd::clip(nd::zeros<float>({2}), 2.f, 1.f), doctest::Contains("(2)"), ValueError);
}

TEST_CASE("comparisons: 0/1 masks with broadcasting") {
  auto a = nd::array<float>({1, 2, 3, 4, 5, 6}, {2, 3});
  auto b = nd::array<float>({2, 2, 5}, {3});
  check_values(nd::equal(a, b), {0, 1, 0, 0, 0, 0});
  check_values(nd::not_equal(a, b), {1, 0, 1, 1, 1, 1});
  check_values(nd::greater(a, b), {0, 0, 0, 1, 1, 1});
  check_values(nd::greater_equal(a, b), {0, 1, 0, 1, 1, 1});
  check_values(nd::lesser(a, b), {1, 0, 1, 0, 0, 0});
  check_values(nd::lesser_equal(a, b), {1, 1, 1, 0, 0, 0});
  check_values(a > b, {0, 0, 0, 1, 1, 1});
  check_values(a >= b, {0, 1, 0, 1, 1, 1});
  check_values(a < b, {1, 0, 1, 0, 0, 0});
  check_values(a <= b, {1, 1, 1, 0, 0, 0});
  check_values(a > 3.f, {0, 0, 0, 1, 1, 1});
  check_values(a >= 3.f, {0, 0, 1, 1, 1, 1});
  check_values(a < 3.f, {1, 1, 0, 0, 0, 0});
  check_values(a <= 3.f, {1, 1, 1, 0, 0, 0});
  check_values(a == 3.f, {0, 0, 1, 0, 0, 0});
  check_values(a != 3.f, {1, 1, 0, 1, 1, 1});
  CHECK((a == 3.f).shape() == Shape{2, 3});
}

TEST_CASE("comparisons: the gradient is zero") {
  auto a = nd::array<double>({1, 2, 3});
  auto b = nd::array<double>({3, 2, 1});
  a.attach_grad();
  b.attach_grad();
  {
    autograd::record rec;
    auto m = nd::greater(a, b) + nd::lesser_equal(a, b) + nd::equal(a, b) + nd::not_equal(a, b) +
             nd::greater_equal(a, b) + nd::lesser(a, b);
    m.backward();
  }
  CHECK(a.grad().to_vector() == std::vector<double>{0, 0, 0});
  CHECK(b.grad().to_vector() == std::vector<double>{0, 0, 0});
  // A mask used as a weight passes gradient only through the other factor.
  a.attach_grad();
  {
    autograd::record rec;
    auto y = (a > 1.5) * a;
    y.backward();
  }
  CHECK(a.grad().to_vector() == std::vector<double>{0, 1, 1});
}

TEST_CASE("activations: values from the definition") {
  auto x = nd::array<double>({-2, -0.5, 0, 0.5, 2});
  std::vector<double> relu, sig, th, soft, sign, leaky;
  for (double v : x.to_vector()) {
    relu.push_back(v > 0 ? v : 0);
    sig.push_back(1 / (1 + std::exp(-v)));
    th.push_back(std::tanh(v));
    soft.push_back(std::log(1 + std::exp(v)));
    sign.push_back(v / (1 + std::abs(v)));
    leaky.push_back(v > 0 ? v : 0.1 * v);
  }
  check_values(nd::relu(x), relu);
  check_values(x.relu(), relu);
  check_values(nd::sigmoid(x), sig);
  check_values(nd::tanh(x), th);
  check_values(nd::softrelu(x), soft);
  check_values(nd::softsign(x), sign);
  check_values(nd::leaky_relu(x, 0.1), leaky);
  check_values(nd::leaky_relu(x), {-0.5, -0.125, 0, 0.5, 2});  // default slope 0.25
}

TEST_CASE("activations: no overflow or NaN for large |x|") {
  SUBCASE("float") {
    auto x = nd::array<float>({-1000.f, -100.f, 100.f, 1000.f});
    auto s = nd::sigmoid(x);
    check_values(s, {0, 0, 1, 1});
    for (float v : s.to_vector()) CHECK(std::isfinite(v));
    auto r = nd::softrelu(x);
    check_values(r, {0, 0, 100, 1000});
    for (float v : r.to_vector()) CHECK(std::isfinite(v));
    check_values(nd::tanh(x), {-1, -1, 1, 1});
    check_values(nd::softsign(x), {-1000. / 1001, -100. / 101, 100. / 101, 1000. / 1001});
  }
  SUBCASE("double, and gradients stay finite") {
    auto x = nd::array<double>({-800, 800});
    x.attach_grad();
    {
      autograd::record rec;
      auto y = nd::sigmoid(x) + nd::softrelu(x);
      y.backward();
    }
    // d/dx sigmoid -> 0 at both ends; d/dx softrelu = sigmoid(x) -> 0 and 1.
    check_values(x.grad(), {0, 1});
    for (double v : x.grad().to_vector()) CHECK(std::isfinite(v));
  }
}

TEST_CASE("activation: by Gluon's name") {
  auto x = nd::array<double>({-1, 0.5, 2});
  check_values(nd::activation(x, "relu"), nd::relu(x).to_vector());
  check_values(nd::activation(x, "sigmoid"), nd::sigmoid(x).to_vector());
  check_values(nd::activation(x, "tanh"), nd::tanh(x).to_vector());
  check_values(nd::activation(x, "softrelu"), nd::softrelu(x).to_vector());
  check_values(nd::activation(x, "softsign"), nd::softsign(x).to_vector());
  check_values(nd::activation(x, ""), {-1, 0.5, 2});
}

TEST_CASE("activation: an unknown name is a ValueError naming it") {
  CHECK_THROWS_WITH_AS(nd::activation(nd::zeros<float>({2}), "swishy"), doctest::Contains("'swishy'"), ValueError);
  CHECK_THROWS_WITH_AS(nd::activation(nd::zeros<float>({2}), "swishy"), doctest::Contains("activation:"), ValueError);
}

TEST_CASE("add: incompatible shapes name both") {
  CHECK_THROWS_WITH_AS(nd::zeros<float>({2, 3}) + nd::zeros<float>({4}), doctest::Contains("(2, 3) and (4,)"),
                       ShapeError);
  CHECK_THROWS_WITH_AS(nd::maximum(nd::zeros<float>({2, 3}), nd::zeros<float>({2})), doctest::Contains("maximum"),
                       ShapeError);
  CHECK_THROWS_WITH_AS(nd::zeros<float>({3, 1}) * nd::zeros<float>({2, 1}), doctest::Contains("multiply"),
                       ShapeError);
}

TEST_CASE("binary ops: gradients match central differences (double)") {
  SUBCASE("same shape") {
    CHECK(gradcheck([](const V& x) { return x[0] * x[1] + x[0] / (x[1] + 3.0); }, {rand_array({2, 3}), rand_array({2, 3}, 8)}));
  }
  SUBCASE("broadcast (2,1,3) with (4,1)") {
    CHECK(gradcheck([](const V& x) { return x[0] * x[1] - x[1]; }, {rand_array({2, 1, 3}), rand_array({4, 1}, 9)}));
  }
  // Every binary op over several broadcasting pairs; divide and power need b (or a) > 0.
  const std::vector<std::pair<Shape, Shape>> pairs = {
      {{2, 3}, {2, 3}}, {{2, 3}, {3}}, {{3}, {2, 3}}, {{2, 1, 3}, {4, 1}}, {{2, 3}, {}}, {{}, {2, 3}}, {{1}, {2, 3}},
      {{2, 3}, {1}}, {{2, 1}, {1, 3}}};
  for (const auto& pair : pairs) {
    const Shape &sa = pair.first, &sb = pair.second;  // named: clang 14 cannot capture a binding
    CAPTURE(sa);
    CAPTURE(sb);
    auto a = rand_array(sa, 3), b = rand_array(sb, 4);
    auto pa = positive(sa, 5), pb = positive(sb, 6);
    CHECK(gradcheck([](const V& x) { return x[0] + x[1]; }, {a, b}));
    CHECK(gradcheck([](const V& x) { return x[0] - x[1]; }, {a, b}));
    CHECK(gradcheck([](const V& x) { return x[0] * x[1]; }, {a, b}));
    CHECK(gradcheck([](const V& x) { return x[0] / x[1]; }, {a, pb}));
    CHECK(gradcheck([](const V& x) { return nd::power(x[0], x[1]); }, {pa, b}));
    // maximum/minimum: offset b so that no pair is within eps of a tie.
    auto b_far = rand_array(sb, 4, 0.2, 0.4);
    auto a_far = away_from_zero(sa, 3);
    CHECK(gradcheck([](const V& x) { return nd::maximum(x[0], x[1]); }, {a_far, b_far}));
    CHECK(gradcheck([](const V& x) { return nd::minimum(x[0], x[1]); }, {a_far, b_far}));
    CHECK(gradcheck([](const V& x) { return nd::greater(x[0], x[1]) + nd::lesser_equal(x[0], x[1]); }, {a_far, b_far}));
  }
}

TEST_CASE("scalar ops: gradients match central differences (double)") {
  auto x = rand_array({2, 3});
  auto p = positive({2, 3});
  CHECK(gradcheck([](const V& v) { return v[0] + 2.0; }, {x}));
  CHECK(gradcheck([](const V& v) { return 2.0 + v[0]; }, {x}));
  CHECK(gradcheck([](const V& v) { return v[0] - 2.0; }, {x}));
  CHECK(gradcheck([](const V& v) { return 2.0 - v[0]; }, {x}));
  CHECK(gradcheck([](const V& v) { return v[0] * 3.0; }, {x}));
  CHECK(gradcheck([](const V& v) { return 3.0 * v[0]; }, {x}));
  CHECK(gradcheck([](const V& v) { return v[0] / 3.0; }, {x}));
  CHECK(gradcheck([](const V& v) { return 3.0 / v[0]; }, {p}));
  CHECK(gradcheck([](const V& v) { return nd::pow(v[0], 2.5); }, {p}));
  CHECK(gradcheck([](const V& v) { return nd::pow(v[0], 3.0); }, {x}));
  CHECK(gradcheck([](const V& v) { return nd::pow(1.7, v[0]); }, {x}));
  CHECK(gradcheck([](const V& v) { return -v[0]; }, {x}));
}

TEST_CASE("unary ops and activations: gradients match central differences (double)") {
  auto x = rand_array({2, 3}, 11, -2.0, 2.0);
  auto p = positive({2, 3});
  auto k = away_from_zero({2, 3});
  CHECK(gradcheck([](const V& v) { return nd::negative(v[0]); }, {x}));
  CHECK(gradcheck([](const V& v) { return nd::exp(v[0]); }, {x}));
  CHECK(gradcheck([](const V& v) { return nd::log(v[0]); }, {p}));
  CHECK(gradcheck([](const V& v) { return nd::sqrt(v[0]); }, {p}));
  CHECK(gradcheck([](const V& v) { return nd::square(v[0]); }, {x}));
  CHECK(gradcheck([](const V& v) { return nd::abs(v[0]); }, {k}));
  CHECK(gradcheck([](const V& v) { return nd::relu(v[0]); }, {k}));
  CHECK(gradcheck([](const V& v) { return nd::sigmoid(v[0]); }, {x}));
  CHECK(gradcheck([](const V& v) { return nd::tanh(v[0]); }, {x}));
  CHECK(gradcheck([](const V& v) { return nd::softrelu(v[0]); }, {x}));
  CHECK(gradcheck([](const V& v) { return nd::softsign(v[0]); }, {k}));
  CHECK(gradcheck([](const V& v) { return nd::leaky_relu(v[0], 0.1); }, {k}));
  CHECK(gradcheck([](const V& v) { return nd::leaky_relu(v[0]); }, {k}));
  for (const char* act : {"relu", "sigmoid", "tanh", "softrelu", "softsign", ""}) {
    CAPTURE(std::string(act));
    CHECK(gradcheck([act](const V& v) { return nd::activation(v[0], act); }, {k}));
  }
  SUBCASE("large |x| keeps sigmoid and softrelu gradients exact") {
    auto big = nd::array<double>({-40, -30, 30, 40});
    CHECK(gradcheck([](const V& v) { return nd::sigmoid(v[0]) + nd::softrelu(v[0]); }, {big}));
  }
}

TEST_CASE("clip: gradient passes inside [lo, hi] only") {
  auto x = nd::array<double>({-2, -0.5, 0.25, 0.9, 3}, {5});
  CHECK(gradcheck([](const V& v) { return nd::clip(v[0], -1.0, 1.0); }, {x}));
  x.attach_grad();
  {
    autograd::record rec;
    nd::clip(x, -1.0, 1.0).backward();
  }
  CHECK(x.grad().to_vector() == std::vector<double>{0, 1, 1, 1, 0});
  // The bounds themselves pass the gradient (lo <= x <= hi).
  auto e = nd::array<double>({-1, 1});
  e.attach_grad();
  {
    autograd::record rec;
    nd::clip(e, -1.0, 1.0).backward();
  }
  CHECK(e.grad().to_vector() == std::vector<double>{1, 1});
}

TEST_CASE("special derivatives: abs and relu at 0, maximum/minimum ties") {
  auto x = nd::array<double>({-1, 0, 1});
  x.attach_grad();
  {
    autograd::record rec;
    nd::abs(x).backward();
  }
  CHECK(x.grad().to_vector() == std::vector<double>{-1, 0, 1});
  {
    autograd::record rec;
    nd::relu(x).backward();
  }
  CHECK(x.grad().to_vector() == std::vector<double>{0, 0, 1});
  auto a = nd::array<double>({1, 2}), b = nd::array<double>({1, 2});
  a.attach_grad();
  b.attach_grad();
  {
    autograd::record rec;
    (nd::maximum(a, b) + nd::minimum(a, b)).backward();
  }
  // Ties send the whole gradient to the first argument, as MXNet does.
  CHECK(a.grad().to_vector() == std::vector<double>{2, 2});
  CHECK(b.grad().to_vector() == std::vector<double>{0, 0});
}

TEST_CASE("broadcast gradients sum over the stretched axes") {
  auto a = nd::ones<double>({2, 3});
  auto b = nd::array<double>({1, 2, 3});
  a.attach_grad();
  b.attach_grad();
  {
    autograd::record rec;
    (a * b).backward();
  }
  CHECK(a.grad().to_vector() == std::vector<double>{1, 2, 3, 1, 2, 3});
  CHECK(b.grad().to_vector() == std::vector<double>{2, 2, 2});
  CHECK(b.grad().shape() == Shape{3});
}

TEST_CASE("float ops compute in float") {
  auto x = nd::array<float>({1.5f, -0.5f});
  static_assert(std::is_same_v<decltype(nd::sigmoid(x)), NDArray<float>>);
  static_assert(std::is_same_v<decltype(x * 2.f), NDArray<float>>);
  static_assert(std::is_same_v<decltype(nd::pow(2.f, x)), NDArray<float>>);
  check_values(nd::square(x), {2.25, 0.25});
}

TEST_CASE("empty arrays and arrays larger than one parallel block") {
  SUBCASE("(0, 3) + (3,) is (0, 3), and its gradient is zero") {
    auto a = nd::zeros<double>({0, 3});
    auto b = nd::array<double>({1, 2, 3});
    b.attach_grad();
    {
      autograd::record rec;
      auto c = a * b;
      CHECK(c.shape() == Shape{0, 3});
      c.backward();
    }
    CHECK(b.grad().to_vector() == std::vector<double>{0, 0, 0});
    CHECK(nd::exp(a).shape() == Shape{0, 3});
  }
  SUBCASE("backward of unary and same-shape binary ops over many blocks") {
    const std::size_t n = 50001;
    auto x = nd::arange<float>(float(n)) - 25000.5f;
    auto w = nd::arange<float>(float(n)) * 0.001f;
    x.attach_grad();
    w.attach_grad();
    {
      autograd::record rec;
      auto y = nd::relu(x) * w * 2.f;
      y.backward();
    }
    bool ok = true;
    for (std::size_t i = 0; i < n; ++i) {
      const float xi = float(i) - 25000.5f, wi = float(i) * 0.001f;
      ok = ok && x.grad().data()[i] == (xi > 0 ? 2.f * wi : 0.f);
      ok = ok && w.grad().data()[i] == 2.f * (xi > 0 ? xi : 0.f);
    }
    CHECK(ok);
  }
  SUBCASE("(300, 200) with a broadcast row and a scalar") {
    auto x = nd::arange<float>(60000).reshape({300, 200});
    auto r = nd::arange<float>(200);
    auto y = nd::relu(x - r * 300.f) + 1.f;
    bool ok = true;
    for (std::size_t i = 0; i < 300; ++i)
      for (std::size_t j = 0; j < 200; ++j) {
        const float v = float(i * 200 + j) - float(j) * 300.f;
        ok = ok && y.at(i, j) == (v > 0 ? v : 0.f) + 1.f;
      }
    CHECK(ok);
  }
}

TEST_CASE("float gradients (single precision backward)") {
  auto x = nd::array<float>({-1.f, 0.5f, 2.f});
  auto w = nd::array<float>({2.f, 3.f, 4.f});
  x.attach_grad();
  w.attach_grad();
  {
    autograd::record rec;
    (nd::tanh(x) * w + nd::square(w)).backward();
  }
  for (std::size_t i = 0; i < 3; ++i) {
    const float t = std::tanh(x.data()[i]);
    CHECK(x.grad().data()[i] == doctest::Approx((1 - t * t) * w.data()[i]).epsilon(1e-5));
    CHECK(w.grad().data()[i] == doctest::Approx(t + 2 * w.data()[i]).epsilon(1e-5));
  }
}
TEST_CASE("NaN propagates through relu and every activation, maximum, minimum and clip (IEEE, NumPy)") {
  const double nan = std::nan("");
  auto x = nd::array<double>({nan, -1.0, 2.0});
  for (const char* act : {"relu", "sigmoid", "tanh", "softrelu", "softsign"}) {
    CAPTURE(act);
    auto y = nd::activation(x, act);
    CHECK(std::isnan(y.data()[0]));
    CHECK(!std::isnan(y.data()[1]));
  }
  CHECK(std::isnan(nd::leaky_relu(x).data()[0]));
  CHECK(nd::relu(x).data()[1] == 0.0);
  CHECK(!std::signbit(nd::relu(nd::array<double>({-0.0})).data()[0]));  // relu(-0) = +0 as before
  auto fx = nd::array<float>({std::nanf(""), -1.f, 2.f, 0.f, 3.f, -2.f, 1.f, 5.f, std::nanf("")});
  auto fr = nd::relu(fx);  // long enough for the vectorised loop
  CHECK(std::isnan(fr.data()[0]));
  CHECK(std::isnan(fr.data()[8]));
  CHECK(fr.data()[7] == 5.f);
  // np.maximum / np.minimum: NaN on either side gives NaN.
  auto a = nd::array<double>({nan, 1.0, 3.0});
  auto b = nd::array<double>({1.0, nan, 2.0});
  for (auto r : {nd::maximum(a, b), nd::minimum(a, b), nd::maximum(b, a), nd::minimum(b, a)}) {
    CHECK(std::isnan(r.data()[0]));
    CHECK(std::isnan(r.data()[1]));
  }
  CHECK(nd::maximum(a, b).data()[2] == 3.0);
  CHECK(nd::minimum(a, b).data()[2] == 2.0);
  CHECK(std::isnan(nd::clip(x, -0.5, 0.5).data()[0]));
  CHECK(nd::clip(x, -0.5, 0.5).data()[1] == -0.5);
}
TEST_CASE("pow and power: the gradient of x^0 is 0, also at x = 0 (not 0 * inf = NaN; as PyTorch)") {
  auto x = nd::array<double>({0.0, 2.0});
  x.attach_grad();
  {
    autograd::record rec;
    nd::pow(x, 0.0).backward();
  }
  CHECK(x.grad().to_vector() == std::vector<double>{0, 0});
  auto a = nd::array<double>({0.0, 2.0, 0.0}), b = nd::array<double>({0.0, 0.0, 2.0});
  a.attach_grad();
  b.attach_grad();
  {
    autograd::record rec;
    nd::power(a, b).backward();
  }
  CHECK(a.grad().to_vector() == std::vector<double>{0, 0, 0});  // b a^(b-1): 0, 0, 2 * 0
  CHECK(b.grad().data()[0] == 0.0);                            // a <= 0: 0
  CHECK(b.grad().data()[1] == doctest::Approx(std::log(2.0)));  // a^b log a = log 2
  // the recorded gradient (create_graph) agrees
  auto a2 = nd::array<double>({0.0, 2.0}), b2 = nd::array<double>({0.0, 3.0});
  a2.attach_grad();
  b2.attach_grad();
  autograd::record rec;
  const auto g = autograd::grad(nd::sum(nd::power(a2, b2)), {a2}, {.create_graph = true})[0];
  CHECK(g.to_vector() == std::vector<double>{0, 12});  // 3 * 2^2
  const auto gs = autograd::grad(nd::sum(nd::pow(a2, 0.0)), {a2}, {.create_graph = true})[0];
  CHECK(gs.to_vector() == std::vector<double>{0, 0});
}
}
