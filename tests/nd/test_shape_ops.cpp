// SPDX-License-Identifier: Apache-2.0
#include <gluino/nd/shape_ops.hpp>

#include <doctest/doctest.h>

#include <limits>
#include <vector>

#include <gluino/nd/creation.hpp>
#include "support/gradcheck.hpp"

using namespace gluino;
using test::gradcheck;
using test::rand_array;
using V = std::vector<NDArray<double>>;

namespace {
NDArray<float> iota(const Shape& s) { return nd::arange<float>(double(s.size())).reshape(s); }
}  // namespace

TEST_SUITE("nd/shape_ops") {
TEST_CASE("reshape: shapes, -1 inference and shared storage") {
  auto x = iota({2, 3, 4});
  CHECK(nd::reshape(x, {6, 4}).shape() == Shape{6, 4});
  CHECK(x.reshape({-1, 4}).shape() == Shape{6, 4});
  CHECK(x.reshape({2, -1}).shape() == Shape{2, 12});
  CHECK(x.reshape({-1}).shape() == Shape{24});
  CHECK(x.reshape(Shape{4, 6}).shape() == Shape{4, 6});
  CHECK(nd::reshape(x, Shape{3, 8}).shape() == Shape{3, 8});
  CHECK(nd::reshape(x, std::vector<long long>{-1, 2}).shape() == Shape{12, 2});
  CHECK(nd::reshape(nd::full<float>({1}, 5.f), std::vector<long long>{}).shape() == Shape{});
  CHECK(nd::zeros<float>({0, 3}).reshape({-1, 3}).shape() == Shape{0, 3});
  auto y = x.reshape({4, 6});
  CHECK(y.to_vector() == x.to_vector());  // row-major order kept
  y.at(0, 1) = 100.f;                     // a view: writes show through
  CHECK(x.at(0, 0, 1) == 100.f);
}

TEST_CASE("reshape: errors name the shapes") {
  auto x = nd::zeros<float>({2, 3});
  CHECK_THROWS_WITH_AS(x.reshape({-1, -1}), doctest::Contains("more than one -1"), ShapeError);
  CHECK_THROWS_WITH_AS(x.reshape({4, 2}), doctest::Contains("cannot reshape array of shape (2, 3) (6 elements) into shape (4, 2)"),
                       ShapeError);
  CHECK_THROWS_WITH_AS(x.reshape({4, -1}), doctest::Contains("(2, 3)"), ShapeError);
  CHECK_THROWS_WITH_AS(x.reshape({0, -1}), doctest::Contains("reshape:"), ShapeError);
  CHECK_THROWS_WITH_AS(x.reshape({-2, 3}), doctest::Contains("bad dimension -2"), ShapeError);
}
TEST_CASE("reshape: a target whose size overflows is a ShapeError naming both shapes") {
  auto x = nd::zeros<float>({2, 3});
  constexpr long long m = std::numeric_limits<long long>::max();  // 2^63 - 1
  CHECK_THROWS_WITH_AS(x.reshape({m, m, 6}),
                       "reshape: cannot reshape array of shape (2, 3) (6 elements) into shape "
                       "(9223372036854775807, 9223372036854775807, 6): the number of elements overflows",
                       ShapeError);
  // The -1 path: the known dimensions' product overflows (2^62 * 4 = 2^64).
  CHECK_THROWS_WITH_AS(x.reshape({1LL << 62, 4, -1}),
                       "reshape: cannot reshape array of shape (2, 3) (6 elements) into shape "
                       "(4611686018427387904, 4, -1): the number of elements overflows",
                       ShapeError);
  CHECK_THROWS_AS(x.reshape({-1, m, m}), ShapeError);
  CHECK_THROWS_AS(nd::reshape(x, Shape{std::size_t(1) << 32, std::size_t(1) << 32}), ShapeError);
  // A 0 makes the product 0, as for Shape::size(): an empty array may take such a shape.
  auto e = nd::zeros<float>({0, 3});
  CHECK(e.reshape({m, m, 0}).shape() == Shape{std::size_t(m), std::size_t(m), 0});
  CHECK_THROWS_WITH_AS(e.reshape({m, m, 0, -1}), doctest::Contains("reshape:"), ShapeError);
}

TEST_CASE("flatten and expand_dims") {
  auto x = iota({2, 3, 4});
  CHECK(nd::flatten(x).shape() == Shape{2, 12});
  CHECK(x.flatten().to_vector() == x.to_vector());
  CHECK(nd::flatten(iota({5})).shape() == Shape{5, 1});
  CHECK(nd::flatten(iota({2, 3})).shape() == Shape{2, 3});
  CHECK_THROWS_WITH_AS(nd::flatten(nd::zeros<float>(Shape{})), doctest::Contains("flatten: needs at least one axis"),
                       ShapeError);
  CHECK(nd::expand_dims(x, 0).shape() == Shape{1, 2, 3, 4});
  CHECK(nd::expand_dims(x, 1).shape() == Shape{2, 1, 3, 4});
  CHECK(nd::expand_dims(x, 3).shape() == Shape{2, 3, 4, 1});
  CHECK(x.expand_dims(-1).shape() == Shape{2, 3, 4, 1});
  CHECK(x.expand_dims(-4).shape() == Shape{1, 2, 3, 4});
  CHECK(nd::expand_dims(nd::zeros<float>(Shape{}), 0).shape() == Shape{1});
  CHECK_THROWS_WITH_AS(nd::expand_dims(x, 4), doctest::Contains("expand_dims: axis 4 out of range for shape (2, 3, 4)"),
                       ShapeError);
  CHECK_THROWS_WITH_AS(nd::expand_dims(x, -5), doctest::Contains("expand_dims"), ShapeError);
}

TEST_CASE("transpose: default reverses the axes, or a permutation") {
  auto m = iota({2, 3});
  auto t = nd::transpose(m);
  CHECK(t.shape() == Shape{3, 2});
  CHECK(t.to_vector() == std::vector<float>{0, 3, 1, 4, 2, 5});
  CHECK(m.transpose({0, 1}).to_vector() == m.to_vector());
  auto x = iota({2, 3, 4});
  auto r = x.transpose();
  CHECK(r.shape() == Shape{4, 3, 2});
  auto p = nd::transpose(x, {1, 2, 0});
  CHECK(p.shape() == Shape{3, 4, 2});
  for (std::size_t i = 0; i < 2; ++i)
    for (std::size_t j = 0; j < 3; ++j)
      for (std::size_t k = 0; k < 4; ++k) {
        CHECK(r.at(k, j, i) == x.at(i, j, k));
        CHECK(p.at(j, k, i) == x.at(i, j, k));
      }
  SUBCASE("large matrix (blocked path) and a copy, not a view") {
    auto big = iota({37, 70});
    auto bt = big.transpose();
    bool ok = true;
    for (std::size_t i = 0; i < 37; ++i)
      for (std::size_t j = 0; j < 70; ++j) ok = ok && bt.at(j, i) == big.at(i, j);
    CHECK(ok);
    bt.at(0, 1) = -1.f;
    CHECK(big.at(1, 0) == 70.f);
  }
  SUBCASE("1-D and 0-d") {
    CHECK(iota({3}).transpose().to_vector() == std::vector<float>{0, 1, 2});
    CHECK(nd::full<float>(Shape{}, 2.f).transpose().asscalar() == 2.f);
  }
}

TEST_CASE("transpose: a bad permutation is a ShapeError naming the shape") {
  auto x = nd::zeros<float>({2, 3, 4});
  CHECK_THROWS_WITH_AS(nd::transpose(x, {0, 1}), doctest::Contains("transpose: 2 axes given for shape (2, 3, 4)"),
                       ShapeError);
  CHECK_THROWS_WITH_AS(nd::transpose(x, {0, 1, 1}), doctest::Contains("not a permutation"), ShapeError);
  CHECK_THROWS_WITH_AS(nd::transpose(x, {0, 1, 3}), doctest::Contains("(2, 3, 4)"), ShapeError);
}

TEST_CASE("broadcast_to: stretches size-1 and missing axes") {
  auto r = nd::array<float>({1, 2, 3});
  auto b = nd::broadcast_to(r, {2, 3});
  CHECK(b.shape() == Shape{2, 3});
  CHECK(b.to_vector() == std::vector<float>{1, 2, 3, 1, 2, 3});
  auto c = nd::array<float>({1, 2}, {2, 1}).broadcast_to({2, 3});
  CHECK(c.to_vector() == std::vector<float>{1, 1, 1, 2, 2, 2});
  auto d = nd::full<float>(Shape{}, 7.f).broadcast_to({2, 2});
  CHECK(d.to_vector() == std::vector<float>{7, 7, 7, 7});
  auto e = nd::array<float>({1, 2}, {2, 1, 1}).broadcast_to({3, 2, 2, 2});
  CHECK(e.shape() == Shape{3, 2, 2, 2});
  CHECK(e.at(2, 1, 1, 0) == 2.f);
  CHECK(e.at(1, 0, 1, 1) == 1.f);
  CHECK(r.broadcast_to({3}).to_vector() == r.to_vector());
}

TEST_CASE("broadcast_to: incompatible target is a ShapeError naming both shapes") {
  CHECK_THROWS_WITH_AS(nd::broadcast_to(nd::zeros<float>({3}), {2, 4}), doctest::Contains("(3,)"), ShapeError);
  CHECK_THROWS_WITH_AS(nd::broadcast_to(nd::zeros<float>({3}), {2, 4}), doctest::Contains("(2, 4)"), ShapeError);
  CHECK_THROWS_WITH_AS(nd::broadcast_to(nd::zeros<float>({2, 3}), {3}), doctest::Contains("broadcast_to"), ShapeError);
  CHECK_THROWS_WITH_AS(nd::broadcast_to(nd::zeros<float>({3, 1}), {3}), doctest::Contains("(3, 1)"), ShapeError);
}

TEST_CASE("slice and operator[] are views of the first axis") {
  auto x = iota({4, 3});
  auto s = x.slice(1, 3);
  CHECK(s.shape() == Shape{2, 3});
  CHECK(s.to_vector() == std::vector<float>{3, 4, 5, 6, 7, 8});
  CHECK(nd::slice_axis0(x, 2, 2).shape() == Shape{0, 3});
  s.at(0, 0) = -1.f;
  CHECK(x.at(1, 0) == -1.f);
  auto row = x[3];
  CHECK(row.shape() == Shape{3});
  CHECK(row.to_vector() == std::vector<float>{9, 10, 11});
  row.at(2) = 42.f;
  CHECK(x.at(3, 2) == 42.f);
  auto y = iota({2, 3, 2});
  CHECK(y[1][2].to_vector() == std::vector<float>{10, 11});
  CHECK(y.slice(1, 2)[0][1].to_vector() == std::vector<float>{8, 9});
  CHECK(iota({3})[1].shape() == Shape{});
  CHECK(iota({3})[1].asscalar() == 1.f);
  // A view of a view keeps its offset.
  CHECK(x.slice(1, 4).slice(1, 2).to_vector() == std::vector<float>{6, 7, 8});
}

TEST_CASE("slice and operator[]: out of range is a ShapeError naming the shape") {
  auto x = nd::zeros<float>({4, 3});
  CHECK_THROWS_WITH_AS(x.slice(2, 5), doctest::Contains("slice: rows [2, 5) out of range for shape (4, 3)"), ShapeError);
  CHECK_THROWS_WITH_AS(x.slice(3, 2), doctest::Contains("(4, 3)"), ShapeError);
  CHECK_THROWS_WITH_AS(x[4], doctest::Contains("(4, 3)"), ShapeError);
  CHECK_THROWS_WITH_AS(nd::zeros<float>(Shape{})[0], doctest::Contains("0-d"), ShapeError);
  CHECK_THROWS_WITH_AS(nd::slice_axis0(nd::zeros<float>(Shape{}), 0, 0), doctest::Contains("slice"), ShapeError);
}

TEST_CASE("concat: along any axis, negative axes") {
  auto a = iota({2, 2});
  auto b = nd::array<float>({10, 11, 12, 13, 14, 15}, {2, 3});
  auto c1 = nd::concat<float>({a, b}, 1);
  CHECK(c1.shape() == Shape{2, 5});
  CHECK(c1.to_vector() == std::vector<float>{0, 1, 10, 11, 12, 2, 3, 13, 14, 15});
  CHECK(nd::concat<float>({a, b}, -1).to_vector() == c1.to_vector());
  CHECK(nd::concat<float>({a, b}).to_vector() == c1.to_vector());  // Gluon's default dim=1
  auto c0 = nd::concat<float>({a, b.reshape({3, 2}), a}, 0);
  CHECK(c0.shape() == Shape{7, 2});
  CHECK(c0.to_vector() == std::vector<float>{0, 1, 2, 3, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3});
  auto x = iota({2, 1, 2}), y = iota({2, 2, 2});
  auto c3 = nd::concat<float>({x, y}, -2);
  CHECK(c3.shape() == Shape{2, 3, 2});
  CHECK(c3.to_vector() == std::vector<float>{0, 1, 0, 1, 2, 3, 2, 3, 4, 5, 6, 7});
  CHECK(nd::concat<float>({a}, 0).to_vector() == a.to_vector());
}

TEST_CASE("stack: along a new axis, negative axes") {
  auto a = iota({2, 3});
  auto b = nd::full<float>({2, 3}, 9.f);
  auto s0 = nd::stack<float>({a, b});
  CHECK(s0.shape() == Shape{2, 2, 3});
  CHECK(s0.to_vector() == std::vector<float>{0, 1, 2, 3, 4, 5, 9, 9, 9, 9, 9, 9});
  auto s1 = nd::stack<float>({a, b}, 1);
  CHECK(s1.shape() == Shape{2, 2, 3});
  CHECK(s1.to_vector() == std::vector<float>{0, 1, 2, 9, 9, 9, 3, 4, 5, 9, 9, 9});
  auto s2 = nd::stack<float>({a, b, a}, -1);
  CHECK(s2.shape() == Shape{2, 3, 3});
  CHECK(s2.at(1, 2, 0) == 5.f);
  CHECK(s2.at(1, 2, 1) == 9.f);
  CHECK(s2.at(0, 1, 2) == 1.f);
  CHECK(nd::stack<float>({a, b}, -3).to_vector() == s0.to_vector());
  CHECK(nd::stack<float>({iota({3}), iota({3})}, 1).shape() == Shape{3, 2});
}

TEST_CASE("concat and stack: errors name the op and the shapes") {
  auto a = nd::zeros<float>({2, 3});
  CHECK_THROWS_WITH_AS(nd::concat<float>({a, nd::zeros<float>({3, 3})}, 1),
                       doctest::Contains("concat: shapes (2, 3) and (3, 3) differ outside the concatenation axis"), ShapeError);
  CHECK_THROWS_WITH_AS(nd::concat<float>({a, nd::zeros<float>({2, 3, 1})}, 0), doctest::Contains("(2, 3, 1)"), ShapeError);
  CHECK_THROWS_WITH_AS(nd::concat<float>({a, a}, 2), doctest::Contains("concat: axis 2 out of range for shape (2, 3)"),
                       ShapeError);
  CHECK_THROWS_WITH_AS(nd::concat<float>({}, 0), doctest::Contains("concat: needs at least one array"), ValueError);
  CHECK_THROWS_WITH_AS(nd::stack<float>({a, nd::zeros<float>({2, 4})}), doctest::Contains("stack: shapes (2, 3) and (2, 4) differ"),
                       ShapeError);
  CHECK_THROWS_WITH_AS(nd::stack<float>({a, a}, 3), doctest::Contains("stack: axis 3"), ShapeError);
  CHECK_THROWS_WITH_AS(nd::stack<float>({a, a}, -4), doctest::Contains("(2, 3)"), ShapeError);
  CHECK_THROWS_WITH_AS(nd::stack<float>({}), doctest::Contains("stack"), ValueError);
  // An empty (default-constructed) array in the list is named by the op and its position.
  CHECK_THROWS_WITH_AS(nd::concat<float>({a, NDArray<float>{}}, 0),
                       "concat: array 1 of 2 is empty (default-constructed)", StateError);
  CHECK_THROWS_WITH_AS(nd::stack<float>({NDArray<float>{}, a}), "stack: array 0 of 2 is empty (default-constructed)",
                       StateError);
}

TEST_CASE("concat and stack of zero-size arrays: the shape, and gradients of that shape") {
  // A 0 after the joined axis makes every block empty (it used to divide by that 0 and crash).
  auto a = nd::zeros<float>({2, 3, 0}), b = nd::zeros<float>({2, 1, 0});
  a.attach_grad(), b.attach_grad();
  {
    autograd::record rec;
    auto c = nd::concat<float>({a, b}, 1);
    CHECK(c.shape() == Shape{2, 4, 0});
    c.backward();
  }
  CHECK(a.grad().shape() == Shape{2, 3, 0});
  CHECK(b.grad().shape() == Shape{2, 1, 0});
  CHECK(nd::stack<float>({nd::zeros<float>({2, 0}), nd::zeros<float>({2, 0})}, 0).shape() == Shape{2, 2, 0});
  CHECK(nd::stack<float>({nd::zeros<float>({0, 3}), nd::zeros<float>({0, 3})}, 1).shape() == Shape{0, 2, 3});
  // A 0 before the axis, and an empty part beside a full one along it.
  auto x = iota({2, 2});
  CHECK(nd::concat<float>({x, nd::zeros<float>({2, 0}), x}, 1).to_vector() ==
        std::vector<float>{0, 1, 0, 1, 2, 3, 2, 3});
  CHECK(nd::concat<float>({nd::zeros<float>({0, 2}), x}, 0).to_vector() == x.to_vector());
}

TEST_CASE("shape ops: gradients match central differences (double)") {
  auto x = rand_array({2, 3, 4});
  // Each op followed by a non-linear function, so that a wrong gradient layout shows up.
  CHECK(gradcheck([](const V& v) { return nd::square(nd::reshape(v[0], {4, -1})); }, {x}));
  CHECK(gradcheck([](const V& v) { return nd::square(nd::flatten(v[0])); }, {x}));
  CHECK(gradcheck([](const V& v) { return nd::square(nd::expand_dims(v[0], 1)); }, {x}));
  CHECK(gradcheck([](const V& v) { return nd::square(nd::transpose(v[0])); }, {x}));
  CHECK(gradcheck([](const V& v) { return nd::square(nd::transpose(v[0], {1, 2, 0})); }, {x}));
  CHECK(gradcheck([](const V& v) { return nd::square(nd::transpose(v[0], {2, 0, 1})); }, {x}));
  CHECK(gradcheck([](const V& v) { return nd::square(nd::transpose(v[0][1])); }, {x}));
  CHECK(gradcheck([](const V& v) { return nd::square(nd::broadcast_to(v[0], {3, 2, 4})); }, {rand_array({2, 1})}));
  CHECK(gradcheck([](const V& v) { return nd::square(nd::broadcast_to(v[0], {2, 3})); }, {rand_array({3})}));
  CHECK(gradcheck([](const V& v) { return nd::square(nd::broadcast_to(v[0], {2, 3})); }, {rand_array({})}));
  CHECK(gradcheck([](const V& v) { return nd::square(v[0].slice(1, 2)); }, {x}));
  CHECK(gradcheck([](const V& v) { return nd::square(v[0][1]); }, {x}));
  CHECK(gradcheck([](const V& v) { return nd::square(v[0][1][2]); }, {x}));
  CHECK(gradcheck([](const V& v) { return nd::square(v[0].slice(0, 2).slice(1, 2)); }, {x}));
  SUBCASE("concat and stack") {
    auto a = rand_array({2, 3}, 1), b = rand_array({2, 2}, 2), c = rand_array({2, 3}, 3);
    CHECK(gradcheck([](const V& v) { return nd::square(nd::concat(v, 1)); }, {a, b, a}));
    CHECK(gradcheck([](const V& v) { return nd::square(nd::concat(v, -1)); }, {b, a}));
    CHECK(gradcheck([](const V& v) { return nd::square(nd::concat(v, 0)); }, {a, c}));
    CHECK(gradcheck([](const V& v) { return nd::square(nd::stack(v, 0)); }, {a, c}));
    CHECK(gradcheck([](const V& v) { return nd::square(nd::stack(v, 1)); }, {a, c}));
    CHECK(gradcheck([](const V& v) { return nd::square(nd::stack(v, -1)); }, {a, c, a}));
    // Only some inputs need a gradient.
    CHECK(gradcheck([](const V& v) { return nd::square(nd::concat(v, 0)); }, {a, c}, 1e-6, 1e-4, 1e-6, {0}));
    CHECK(gradcheck([](const V& v) { return nd::square(nd::stack(v, 2)); }, {a, c}, 1e-6, 1e-4, 1e-6, {1}));
  }
}

TEST_CASE("shape ops: gradients of the same input used in several places accumulate") {
  auto x = nd::array<double>({1, 2, 3, 4}, {2, 2});
  x.attach_grad();
  {
    autograd::record rec;
    auto y = nd::concat<double>({x, x.transpose(), x[0].reshape({1, 2})}, 0);
    y.backward();
  }
  CHECK(x.grad().to_vector() == std::vector<double>{3, 3, 2, 2});
}
TEST_CASE("concat whose joined axis overflows, and a seventh axis: ShapeErrors naming the op") {
  const std::size_t half = std::size_t(1) << 63;  // (0, 2^63) twice along axis 1: (0, 2^64) is no shape
  CHECK_THROWS_WITH_AS(nd::concat<float>({nd::zeros<float>({0, half}), nd::zeros<float>({0, half})}, 1),
                       doctest::Contains("concat: the joined axis 1 overflows"), ShapeError);
  const auto x6 = nd::zeros<float>({1, 1, 1, 1, 1, 2});
  CHECK_THROWS_WITH_AS(nd::expand_dims(x6, 0), doctest::Contains("expand_dims: shape (1, 1, 1, 1, 1, 2) has 6 axes"),
                       ShapeError);
  CHECK_THROWS_WITH_AS(nd::stack<float>({x6, x6}), doctest::Contains("stack: arrays of shape (1, 1, 1, 1, 1, 2)"),
                       ShapeError);
  CHECK_THROWS_WITH_AS(nd::reshape(x6, {1, 1, 1, 1, 1, 1, 2}), doctest::Contains("reshape: a target shape of 7 axes"),
                       ShapeError);
}
}
