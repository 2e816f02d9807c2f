// SPDX-License-Identifier: Apache-2.0
#include <gluino/nd/linalg.hpp>

#include <doctest/doctest.h>

#include "support/check_close.hpp"

#include <gluino/nd.hpp>  // NDArray with all its methods and ops
#include <gluino/nd/creation.hpp>
#include "support/gradcheck.hpp"

using namespace gluino;
using gluino::test::check_close;
using test::gradcheck;
using test::rand_array;
using V = std::vector<NDArray<double>>;

namespace {
/// Reference: sum over k of a[i, k] * b[k, j] for row-major a (m, k) and b (k, n).
std::vector<double> naive_matmul(const NDArray<double>& a, const NDArray<double>& b, std::size_t m, std::size_t k,
                                 std::size_t n) {
  std::vector<double> c(m * n, 0.0);
  for (std::size_t i = 0; i < m; ++i)
    for (std::size_t j = 0; j < n; ++j)
      for (std::size_t p = 0; p < k; ++p) c[i * n + j] += a.data()[i * k + p] * b.data()[p * n + j];
  return c;
}
}  // namespace

TEST_SUITE("nd/linalg") {
TEST_CASE("dot: 2-D x 2-D by hand") {
  auto a = nd::array<float>({1, 2, 3, 4, 5, 6}, {2, 3});
  auto b = nd::array<float>({7, 8, 9, 10, 11, 12}, {3, 2});
  auto c = nd::dot(a, b);
  CHECK(c.shape() == Shape{2, 2});
  CHECK(c.to_vector() == std::vector<float>{58, 64, 139, 154});
}
TEST_CASE("dot: transpose flags by hand") {
  auto a = nd::array<float>({1, 2, 3, 4, 5, 6}, {3, 2});  // a^T = [[1 3 5] [2 4 6]]
  auto b = nd::array<float>({7, 8, 9, 10, 11, 12}, {2, 3});  // b^T = [[7 10] [8 11] [9 12]]
  SUBCASE("transpose_a") {
    auto c = nd::dot(a, nd::array<float>({7, 8, 9, 10, 11, 12}, {3, 2}), true);
    CHECK(c.shape() == Shape{2, 2});
    CHECK(c.to_vector() == std::vector<float>{89, 98, 116, 128});
  }
  SUBCASE("transpose_b") {
    auto c = nd::dot(a, b, false, false);
    CHECK(c.shape() == Shape{3, 3});
    auto d = nd::dot(b, b, false, true);  // b b^T
    CHECK(d.shape() == Shape{2, 2});
    CHECK(d.to_vector() == std::vector<float>{194, 266, 266, 365});
  }
  SUBCASE("both") {
    auto c = nd::dot(a, b, true, true);  // a^T (2, 3) . b^T (3, 2)
    CHECK(c.shape() == Shape{2, 2});
    CHECK(c.to_vector() == std::vector<float>{76, 103, 100, 136});
  }
}
TEST_CASE("dot: 1-D forms") {
  auto u = nd::array<float>({1, 2, 3});
  auto v = nd::array<float>({4, 5, 6});
  SUBCASE("1-D . 1-D is the inner product with shape (1,)") {
    auto c = nd::dot(u, v);
    CHECK(c.shape() == Shape{1});
    CHECK(c.asscalar() == 32.0f);
  }
  SUBCASE("2-D . 1-D") {
    auto c = nd::dot(nd::array<float>({1, 2, 3, 4, 5, 6}, {2, 3}), u);
    CHECK(c.shape() == Shape{2});
    CHECK(c.to_vector() == std::vector<float>{14, 32});
  }
  SUBCASE("1-D . 2-D") {
    auto c = nd::dot(u, nd::array<float>({1, 2, 3, 4, 5, 6}, {3, 2}));
    CHECK(c.shape() == Shape{2});
    CHECK(c.to_vector() == std::vector<float>{22, 28});
  }
}
TEST_CASE("dot: N-D contracts a's last axis with b's first") {
  auto a = rand_array({2, 3, 4}, 1);
  auto b = rand_array({4, 5, 2}, 2);
  auto c = nd::dot(a, b);
  CHECK(c.shape() == Shape{2, 3, 5, 2});
  check_close(c.to_vector(), naive_matmul(a, b, 6, 4, 10));
  SUBCASE("transpose_a contracts a's first axis, transpose_b b's last") {
    auto at = rand_array({4, 2, 3}, 3);   // contracted axis first
    auto bt = rand_array({5, 2, 4}, 4);   // contracted axis last
    auto d = nd::dot(at, bt, true, true);
    CHECK(d.shape() == Shape{2, 3, 5, 2});
    CHECK(nd::dot(a, bt, false, true).shape() == Shape{2, 3, 5, 2});
    CHECK(nd::dot(at, b, true, false).shape() == Shape{2, 3, 5, 2});
    // d[i, j] = sum_k at[k, i] bt[j, k]
    const std::size_t M = 6, N = 10, K = 4;
    std::vector<double> want(M * N, 0.0);
    for (std::size_t i = 0; i < M; ++i)
      for (std::size_t j = 0; j < N; ++j)
        for (std::size_t k = 0; k < K; ++k) want[i * N + j] += at.data()[k * M + i] * bt.data()[j * K + k];
    check_close(d.to_vector(), want);
  }
}
TEST_CASE("dot: (64, 784) x (784, 256)") {
  auto a = nd::ones<float>({64, 784});
  auto b = nd::full<float>({784, 256}, 0.5f);
  auto c = nd::dot(a, b);
  CHECK(c.shape() == Shape{64, 256});
  CHECK(c.at(63, 255) == doctest::Approx(392.0));
}
TEST_CASE("dot: gradients match central differences (double)") {
  auto f = [](bool ta, bool tb) { return [=](const V& x) { return nd::dot(x[0], x[1], ta, tb); }; };
  SUBCASE("2-D x 2-D") { CHECK(gradcheck(f(false, false), {rand_array({2, 3}), rand_array({3, 4}, 8)})); }
  SUBCASE("transpose_a") { CHECK(gradcheck(f(true, false), {rand_array({3, 2}), rand_array({3, 4}, 8)})); }
  SUBCASE("transpose_b") { CHECK(gradcheck(f(false, true), {rand_array({2, 3}), rand_array({4, 3}, 8)})); }
  SUBCASE("both") { CHECK(gradcheck(f(true, true), {rand_array({3, 2}), rand_array({4, 3}, 8)})); }
  SUBCASE("1-D x 1-D") { CHECK(gradcheck(f(false, false), {rand_array({3}), rand_array({3}, 8)})); }
  SUBCASE("2-D x 1-D") { CHECK(gradcheck(f(false, false), {rand_array({2, 3}), rand_array({3}, 8)})); }
  SUBCASE("1-D x 2-D") { CHECK(gradcheck(f(false, false), {rand_array({3}), rand_array({3, 2}, 8)})); }
  SUBCASE("N-D x M-D") { CHECK(gradcheck(f(false, false), {rand_array({2, 2, 3}), rand_array({3, 2, 2}, 8)})); }
  SUBCASE("N-D x M-D, both transposed") {
    CHECK(gradcheck(f(true, true), {rand_array({3, 2, 2}), rand_array({2, 2, 3}, 8)}));
  }
}
TEST_CASE("dot: backward skips inputs that need no gradient") {
  auto a = rand_array({2, 3});
  auto b = rand_array({3, 4}, 8);
  a.attach_grad();
  {
    autograd::record rec;
    auto c = nd::dot(a, b);
    c.backward();
  }
  // d sum(a b) / da[i, k] = sum_j b[k, j]
  for (std::size_t k = 0; k < 3; ++k) {
    double s = 0;
    for (std::size_t j = 0; j < 4; ++j) s += b.at(k, j);
    CHECK(a.grad().at(1, k) == doctest::Approx(s));
  }
}
TEST_CASE("dot: errors") {
  CHECK_THROWS_WITH_AS(nd::dot(nd::zeros<float>({2, 3}), nd::zeros<float>({4, 5})),
                       "dot: shapes (2, 3) and (4, 5) not aligned: 3 != 4", ShapeError);
  CHECK_THROWS_WITH_AS(nd::dot(nd::zeros<float>({3}), nd::zeros<float>({4})),
                       "dot: shapes (3,) and (4,) not aligned: 3 != 4", ShapeError);
  CHECK_THROWS_WITH_AS(nd::dot(nd::zeros<float>({2, 3}), nd::zeros<float>({3, 4}), true),
                       "dot: shapes (2, 3) and (3, 4) not aligned: 2 != 3", ShapeError);
  CHECK_THROWS_WITH_AS(nd::dot(nd::zeros<float>({2, 3}), nd::zeros<float>({3, 4}), false, true),
                       "dot: shapes (2, 3) and (3, 4) not aligned: 3 != 4", ShapeError);
  CHECK_THROWS_WITH_AS(nd::dot(nd::zeros<float>(Shape{}), nd::zeros<float>({3})), doctest::Contains("() and (3,)"),
                       ShapeError);
  CHECK_THROWS_AS(nd::dot(NDArray<float>{}, nd::zeros<float>({3})), StateError);
}

TEST_CASE("batch_dot: by hand and against dot per batch") {
  auto a = nd::array<float>({1, 2, 3, 4, 1, 0, 0, 1}, {2, 2, 2});
  auto b = nd::array<float>({1, 1, 1, 1, 5, 6, 7, 8}, {2, 2, 2});
  auto c = nd::batch_dot(a, b);
  CHECK(c.shape() == Shape{2, 2, 2});
  CHECK(c.to_vector() == std::vector<float>{3, 3, 7, 7, 5, 6, 7, 8});
  SUBCASE("transpose flags") {
    auto x = rand_array({3, 4, 2}, 1), y = rand_array({3, 5, 4}, 2);
    auto z = nd::batch_dot(x, y, true, true);  // (3, 2, 5)
    CHECK(z.shape() == Shape{3, 2, 5});
    for (std::size_t i = 0; i < 3; ++i) check_close(z[i].to_vector(), nd::dot(x[i], y[i], true, true).to_vector());
  }
  SUBCASE("several batch axes") {
    auto x = rand_array({2, 3, 4, 2}, 1), y = rand_array({2, 3, 2, 5}, 2);
    CHECK(nd::batch_dot(x, y).shape() == Shape{2, 3, 4, 5});
  }
}
TEST_CASE("batch_dot: gradients match central differences (double)") {
  auto f = [](bool ta, bool tb) { return [=](const V& x) { return nd::batch_dot(x[0], x[1], ta, tb); }; };
  SUBCASE("plain") { CHECK(gradcheck(f(false, false), {rand_array({2, 2, 3}), rand_array({2, 3, 4}, 8)})); }
  SUBCASE("transpose_a") { CHECK(gradcheck(f(true, false), {rand_array({2, 3, 2}), rand_array({2, 3, 4}, 8)})); }
  SUBCASE("transpose_b") { CHECK(gradcheck(f(false, true), {rand_array({2, 2, 3}), rand_array({2, 4, 3}, 8)})); }
  SUBCASE("both") { CHECK(gradcheck(f(true, true), {rand_array({2, 3, 2}), rand_array({2, 4, 3}, 8)})); }
  SUBCASE("two batch axes, each transpose") {
    CHECK(gradcheck(f(false, false), {rand_array({2, 3, 2, 4}), rand_array({2, 3, 4, 2}, 8)}));
    CHECK(gradcheck(f(true, false), {rand_array({2, 3, 4, 2}), rand_array({2, 3, 4, 3}, 8)}));
    CHECK(gradcheck(f(false, true), {rand_array({2, 3, 2, 4}), rand_array({2, 3, 3, 4}, 8)}));
    CHECK(gradcheck(f(true, true), {rand_array({2, 3, 4, 2}), rand_array({2, 3, 3, 4}, 8)}));
  }
}
TEST_CASE("batch_dot: errors") {
  CHECK_THROWS_WITH_AS(nd::batch_dot(nd::zeros<float>({2, 3}), nd::zeros<float>({3, 4})),
                       doctest::Contains("(2, 3) and (3, 4)"), ShapeError);
  CHECK_THROWS_WITH_AS(nd::batch_dot(nd::zeros<float>({2, 2, 3}), nd::zeros<float>({3, 3, 4})),
                       "batch_dot: batch dimensions of shapes (2, 2, 3) and (3, 3, 4) differ", ShapeError);
  CHECK_THROWS_WITH_AS(nd::batch_dot(nd::zeros<float>({2, 2, 3}), nd::zeros<float>({2, 4, 5})),
                       "batch_dot: shapes (2, 2, 3) and (2, 4, 5) not aligned: 3 != 4", ShapeError);
  CHECK_THROWS_WITH_AS(nd::batch_dot(nd::zeros<float>({2, 2, 3}), nd::zeros<float>({2, 3, 5}), true),
                       doctest::Contains("not aligned: 2 != 3"), ShapeError);
}

TEST_CASE("fully_connected: by hand") {
  auto x = nd::array<float>({1, 2, 3, 4, 5, 6}, {2, 3});
  auto w = nd::array<float>({1, 0, 0, 0, 1, 1}, {2, 3});
  auto b = nd::array<float>({10, 20});
  auto y = nd::fully_connected(x, w, b);
  CHECK(y.shape() == Shape{2, 2});
  CHECK(y.to_vector() == std::vector<float>{11, 25, 14, 31});
  CHECK(nd::fully_connected(x, w).to_vector() == std::vector<float>{1, 5, 4, 11});
}
TEST_CASE("fully_connected: flatten and not") {
  auto w = nd::ones<float>({4, 6});
  CHECK(nd::fully_connected(nd::ones<float>({5, 2, 3}), w).shape() == Shape{5, 4});
  auto w3 = nd::ones<float>({4, 3});
  auto y = nd::fully_connected(nd::ones<float>({5, 2, 3}), w3, nd::zeros<float>({4}), false);
  CHECK(y.shape() == Shape{5, 2, 4});
  CHECK(y.at(4, 1, 3) == 3.0f);
  CHECK(nd::fully_connected(nd::ones<float>({3}), w3, NDArray<float>{}, false).shape() == Shape{4});
}
TEST_CASE("fully_connected: gradients match central differences (double)") {
  SUBCASE("with bias, flatten") {
    CHECK(gradcheck([](const V& x) { return nd::fully_connected(x[0], x[1], x[2]); },
                    {rand_array({3, 2, 2}), rand_array({5, 4}, 8), rand_array({5}, 9)}));
  }
  SUBCASE("no bias") {
    CHECK(gradcheck([](const V& x) { return nd::fully_connected(x[0], x[1]); },
                    {rand_array({3, 4}), rand_array({2, 4}, 8)}));
  }
  SUBCASE("flatten = false") {
    CHECK(gradcheck([](const V& x) { return nd::fully_connected(x[0], x[1], x[2], false); },
                    {rand_array({2, 3, 4}), rand_array({5, 4}, 8), rand_array({5}, 9)}));
  }
}
TEST_CASE("fully_connected: backward computes only the gradients needed") {
  auto x = rand_array({3, 4}), w = rand_array({2, 4}, 8), b = rand_array({2}, 9);
  b.attach_grad();
  {
    autograd::record rec;
    nd::fully_connected(x, w, b).backward();
  }
  CHECK(b.grad().to_vector() == std::vector<double>{3.0, 3.0});  // db = column sums of ones (3 rows)
}
TEST_CASE("fully_connected: errors name x's and weight's shapes") {
  CHECK_THROWS_WITH_AS(nd::fully_connected(nd::zeros<float>({2, 5}), nd::zeros<float>({3, 4})),
                       doctest::Contains("x of shape (2, 5) has 5 input features but weight of shape (3, 4) expects 4"),
                       ShapeError);
  CHECK_THROWS_WITH_AS(nd::fully_connected(nd::zeros<float>({2, 2, 3}), nd::zeros<float>({3, 4})),
                       doctest::Contains("(2, 2, 3) has 6 input features"), ShapeError);
  CHECK_THROWS_WITH_AS(nd::fully_connected(nd::zeros<float>({2, 4, 3}), nd::zeros<float>({3, 4}), NDArray<float>{}, false),
                       doctest::Contains("(2, 4, 3) has 3 input features but weight of shape (3, 4)"), ShapeError);
  CHECK_THROWS_WITH_AS(nd::fully_connected(nd::zeros<float>({2, 4}), nd::zeros<float>({12})),
                       doctest::Contains("weight must be 2-D (units, in_units), got shape (12,)"), ShapeError);
  CHECK_THROWS_WITH_AS(nd::fully_connected(nd::zeros<float>({2, 4}), nd::zeros<float>({3, 4}), nd::zeros<float>({4})),
                       "fully_connected: bias of shape (4,) does not match weight of shape (3, 4); expected (3,)",
                       ShapeError);
  CHECK_THROWS_WITH_AS(nd::fully_connected(nd::zeros<float>(Shape{}), nd::zeros<float>({3, 4})),
                       doctest::Contains("x needs at least one axis"), ShapeError);
}
}
