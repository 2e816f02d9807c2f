// SPDX-License-Identifier: Apache-2.0
#include <gluino/core/ndarray.hpp>

#include <doctest/doctest.h>

#include <gluino/nd.hpp>  // NDArray with all its methods and ops
#include <gluino/nd/creation.hpp>

#include <type_traits>

using namespace gluino;

TEST_SUITE("core/ndarray") {
TEST_CASE("copying a handle aliases; copy() is deep") {
  auto a = nd::array<float>({1, 2, 3, 4}, {2, 2});
  NDArray<float> alias = a;
  alias.at(0, 1) = 20;
  CHECK(a.at(0, 1) == 20.0f);
  CHECK(alias.data() == a.data());
  auto deep = a.copy();
  CHECK(deep.data() != a.data());
  deep.at(1, 1) = -1;
  CHECK(a.at(1, 1) == 4.0f);
  CHECK(deep.shape() == a.shape());
  CHECK(deep.to_vector() == std::vector<float>{1, 20, 3, -1});
}
TEST_CASE("shape queries") {
  NDArray<double> x(Shape{2, 3, 4});
  CHECK(x.ndim() == 3);
  CHECK(x.size() == 24);
  CHECK(x.shape(-1) == 4);
  CHECK(x.shape(0) == 2);
  CHECK(x.defined());
  CHECK_FALSE(NDArray<double>().defined());
  static_assert(!std::is_constructible_v<bool, NDArray<double>>);  // not a bool: defined() or asscalar()
  CHECK_THROWS_WITH_AS(x.shape(3), doctest::Contains("(2, 3, 4)"), ShapeError);
}
TEST_CASE("reshape, slice and operator[] are views: writes are seen through them") {
  auto a = nd::arange<float>(0, 6);
  SUBCASE("reshape") {
    auto r = a.reshape({2, 3});
    CHECK(r.shape() == Shape{2, 3});
    r.at(1, 2) = 50;
    CHECK(a.at(5) == 50.0f);
    CHECK(a.reshape({-1, 2}).shape() == Shape{3, 2});
  }
  SUBCASE("slice") {
    auto m = a.reshape({3, 2});
    auto s = m.slice(1, 3);
    CHECK(s.shape() == Shape{2, 2});
    CHECK(s.to_vector() == std::vector<float>{2, 3, 4, 5});
    s.fill(9);
    CHECK(a.to_vector() == std::vector<float>{0, 1, 9, 9, 9, 9});
  }
  SUBCASE("operator[]") {
    auto m = a.reshape({3, 2});
    auto row = m[2];
    CHECK(row.shape() == Shape{2});
    CHECK(row.to_vector() == std::vector<float>{4, 5});
    row.at(0) = -4;
    CHECK(a.at(4) == -4.0f);
    a.at(5) = -5;
    CHECK(row.at(1) == -5.0f);
  }
  SUBCASE("view_as and detach share storage") {
    auto v = a.view_as(Shape{2}, 3);
    CHECK(v.to_vector() == std::vector<float>{3, 4});
    a.detach().at(3) = 33;
    CHECK(v.at(0) == 33.0f);
  }
}
TEST_CASE("reshape and slice errors name the shape") {
  auto a = nd::zeros<float>({2, 3});
  CHECK_THROWS_WITH_AS(a.reshape({4, 2}), doctest::Contains("(2, 3)"), ShapeError);
  CHECK_THROWS_WITH_AS(a.slice(1, 3), doctest::Contains("(2, 3)"), ShapeError);
  CHECK_THROWS_AS(a[2], ShapeError);
}
TEST_CASE("slice: negative bounds count from the back, as x[-2:] in Gluon; past -n names the bounds") {
  auto m = nd::arange<float>(0, 6).reshape({3, 2});
  CHECK(m.slice(-2, 3).to_vector() == std::vector<float>{2, 3, 4, 5});
  CHECK(m.slice(0, -1).to_vector() == std::vector<float>{0, 1, 2, 3});
  CHECK(m.slice(-3, -2).to_vector() == std::vector<float>{0, 1});
  CHECK(m.slice(1u, 2L).to_vector() == std::vector<float>{2, 3});
  CHECK(m.slice(-1, -1).shape() == Shape{0, 2});
  m.slice(-1, 3).fill(7);  // a view
  CHECK(m.to_vector() == std::vector<float>{0, 1, 2, 3, 7, 7});
  // was "slice: rows [18446744073709551612, 1) out of range for shape (3, 2)"
  CHECK_THROWS_WITH_AS(m.slice(-4, 1), "slice: rows [-4, 1) out of range for shape (3, 2)", ShapeError);
  CHECK_THROWS_WITH_AS(m.slice(0, -4), "slice: rows [0, -4) out of range for shape (3, 2)", ShapeError);
  CHECK_THROWS_WITH_AS(m.slice(-1, -2), "slice: rows [2, 1) out of range for shape (3, 2)", ShapeError);
  CHECK_THROWS_WITH_AS(m.slice(0, SIZE_MAX), doctest::Contains("rows [0, 18446744073709551615)"), ShapeError);
  CHECK_THROWS_AS(nd::zeros<float>(Shape{}).slice(-1, 0), ShapeError);
}
TEST_CASE("assign copies values, with broadcasting") {
  auto x = nd::zeros<float>({2, 3});
  x.assign(nd::array<float>({1, 2, 3}));
  CHECK(x.to_vector() == std::vector<float>{1, 2, 3, 1, 2, 3});
  x.assign(nd::array<float>({7, 8}, {2, 1}));
  CHECK(x.to_vector() == std::vector<float>{7, 7, 7, 8, 8, 8});
  auto src = nd::arange<float>(0, 6).reshape({2, 3});
  x.assign(src);
  src.at(0, 0) = 100;  // assign copied, it did not alias
  CHECK(x.at(0, 0) == 0.0f);
  CHECK_THROWS_WITH_AS(x.assign(nd::zeros<float>({4})), doctest::Contains("(2, 3)"), ShapeError);
  // NumPy's x[...] = src drops src's extra leading axes of length 1 (a (1, 1, 3) row into (2, 3))
  x.assign(nd::array<float>({4, 5, 6}, {1, 1, 3}));
  CHECK(x.to_vector() == std::vector<float>{4, 5, 6, 4, 5, 6});
  x.assign(nd::arange<float>(0, 6).reshape({1, 2, 3}));
  CHECK(x.to_vector() == std::vector<float>{0, 1, 2, 3, 4, 5});
  CHECK_THROWS_WITH_AS(x.assign(nd::zeros<float>({2, 2, 3})), doctest::Contains("(2, 2, 3)"), ShapeError);
}
TEST_CASE("fill, zeros_like, ones_like") {
  NDArray<float> x(Shape{3});
  x.fill(2.5f);
  CHECK(x.to_vector() == std::vector<float>{2.5f, 2.5f, 2.5f});
  CHECK(x.zeros_like().to_vector() == std::vector<float>{0, 0, 0});
  CHECK(x.ones_like().to_vector() == std::vector<float>{1, 1, 1});
  CHECK(x.zeros_like().data() != x.data());
}
TEST_CASE("astype<double> converts values into new storage") {
  auto x = nd::array<float>({0.5f, -1.25f, 3.0f});
  NDArray<double> y = x.astype<double>();
  CHECK(y.shape() == x.shape());
  CHECK(y.to_vector() == std::vector<double>{0.5, -1.25, 3.0});
  auto z = y.astype<float>();
  z.at(0) = 9;
  CHECK(x.at(0) == 0.5f);
}
TEST_CASE("at() checks the index count and each index") {
  auto x = nd::zeros<float>({2, 3});
  CHECK_THROWS_WITH_AS(x.at(2, 0), "at: index 2 out of range for axis 0 of shape (2, 3)", ShapeError);
  CHECK_THROWS_WITH_AS(x.at(0, 3), "at: index 3 out of range for axis 1 of shape (2, 3)", ShapeError);
  CHECK_THROWS_WITH_AS(x.at(1), "at: 1 indices for an array of shape (2, 3)", ShapeError);
  const auto& cx = x;
  CHECK_THROWS_AS(cx.at(0, 5), ShapeError);
}
TEST_CASE("operator[]: a negative index counts from the back, as x[-1] in Gluon; out of range names the index") {
  auto m = nd::arange<float>(0, 6).reshape({3, 2});
  CHECK(m[-1].to_vector() == std::vector<float>{4, 5});
  CHECK(m[-3].to_vector() == std::vector<float>{0, 1});
  CHECK(m[2u].to_vector() == std::vector<float>{4, 5});
  m[-2].fill(7);  // a view
  CHECK(m.to_vector() == std::vector<float>{0, 1, 7, 7, 4, 5});
  // was "slice: rows [18446744073709551615, 0) out of range for shape (3, 2)"
  CHECK_THROWS_WITH_AS(m[-4], "operator[]: index -4 out of range for axis 0 of shape (3, 2)", ShapeError);
  CHECK_THROWS_WITH_AS(m[3], "operator[]: index 3 out of range for axis 0 of shape (3, 2)", ShapeError);
  CHECK_THROWS_WITH_AS(m[SIZE_MAX], doctest::Contains("index 18446744073709551615 out of range"), ShapeError);
  CHECK_THROWS_AS(nd::zeros<float>({0, 2})[0], ShapeError);
  CHECK_THROWS_WITH_AS(nd::zeros<float>(Shape{})[0], doctest::Contains("0-d"), ShapeError);
  NDArray<float> e;
  CHECK_THROWS_AS(e[0], StateError);
}
TEST_CASE("at() takes negative indices from the back, as numpy's item(); past -n is an error naming the index") {
  auto x = nd::arange<float>(0, 6).reshape({2, 3});  // x[i][j] = 3 i + j
  CHECK(x.at(-1, -1) == 5.0f);
  CHECK(x.at(-2, 1) == 1.0f);
  CHECK(x.at(1, -3) == 3.0f);
  CHECK(x.at(1L, 2u) == 5.0f);
  x.at(-1, 0) = 30.0f;
  CHECK(x.to_vector() == std::vector<float>{0, 1, 2, 30, 4, 5});
  // was "at: index 18446744073709551615 out of range ..."
  CHECK_THROWS_WITH_AS(x.at(-3, 0), "at: index -3 out of range for axis 0 of shape (2, 3)", ShapeError);
  CHECK_THROWS_WITH_AS(x.at(0, -4), "at: index -4 out of range for axis 1 of shape (2, 3)", ShapeError);
  // an unsigned index never wraps: SIZE_MAX is not -1
  CHECK_THROWS_WITH_AS(x.at(std::size_t(0), SIZE_MAX), doctest::Contains("index 18446744073709551615"), ShapeError);
  const auto& cx = x;
  CHECK(cx.at(-1, -2) == 4.0f);
  auto s = nd::full<double>(Shape{}, 7.0);
  CHECK(s.at() == 7.0);
  CHECK_THROWS_WITH_AS(s.at(0), "at: 1 indices for an array of shape ()", ShapeError);
}
// at(1.5, 0) used to read at(1, 0) and at(-1.0, 0) converted -1.0 to an unsigned index (undefined behaviour)
template <class A, class... I>
concept indexable_at = requires(A a, I... i) { a.at(i...); };
TEST_CASE("at() takes integer indices only: a floating-point index does not compile") {
  CHECK(indexable_at<NDArray<float>, int, long>);
  CHECK(indexable_at<const NDArray<float>, std::size_t, int>);
  CHECK_FALSE(indexable_at<NDArray<float>, double, int>);
  CHECK_FALSE(indexable_at<NDArray<float>, int, float>);
  CHECK_FALSE(indexable_at<const NDArray<double>, double>);
}
TEST_CASE("view_as: a view past the end of the storage is a ShapeError, not a read out of bounds") {
  auto x = nd::arange<float>(0, 12);
  auto v = x.view_as(Shape{2, 3}, 6);  // the second half
  CHECK(v.to_vector() == std::vector<float>{6, 7, 8, 9, 10, 11});
  auto w = v.view_as(Shape{2}, 4);  // a view of a view: offsets add up
  CHECK(w.to_vector() == std::vector<float>{10, 11});
  CHECK(x.view_as(Shape{0}, 12).size() == 0);
  CHECK_THROWS_WITH_AS(x.view_as(Shape{13}),
                       doctest::Contains("view_as: shape (13,) at offset 0 + 0 needs 13 elements, "
                                         "but the storage holds 12"),
                       ShapeError);
  CHECK_THROWS_AS(v.view_as(Shape{3}, 4), ShapeError);
  CHECK_THROWS_AS(x.view_as(Shape{1}, SIZE_MAX), ShapeError);  // offset + size wraps around
  CHECK_THROWS_AS(x.view_as(Shape{std::size_t(1) << 62, 8}), ShapeError);
}
TEST_CASE("views of views: slices, rows, copy, astype and detach see the right elements") {
  auto x = nd::arange<double>(0, 24).reshape({4, 6});  // x[i][j] = 6 i + j
  auto v = x.slice(1, 4);                               // rows 1..3
  auto w = v.slice(1, 3);                               // rows 2..3
  auto r = w[1];                                        // row 3
  CHECK(r.to_vector() == std::vector<double>{18, 19, 20, 21, 22, 23});
  CHECK(w.at(0, 5) == 17.0);
  auto c = w.copy();
  auto f = w.astype<float>();
  auto d = w.detach();
  x.fill(-1.0);
  CHECK(c.to_vector()[0] == 12.0);
  CHECK(f.to_vector()[11] == 23.0f);
  CHECK(d.to_vector() == std::vector<double>(12, -1.0));  // detach shares storage
  CHECK(r.at(-1) == -1.0);
}
TEST_CASE("assign between overlapping views of one storage behaves as if src were copied first") {
  for (int forward = 0; forward < 2; ++forward) {
    CAPTURE(forward);
    auto x = nd::arange<float>(0, 10);
    auto lo = x.slice(0, 9), hi = x.slice(1, 10);
    std::vector<float> want(10);
    for (int i = 0; i < 10; ++i) want[std::size_t(i)] = float(i);
    if (forward) {
      hi.assign(lo);  // x[1:] = x[:-1]
      for (int i = 9; i >= 1; --i) want[std::size_t(i)] = float(i - 1);
    } else {
      lo.assign(hi);  // x[:-1] = x[1:]
      for (int i = 0; i < 9; ++i) want[std::size_t(i)] = float(i + 1);
    }
    CHECK(x.to_vector() == want);
  }
  // broadcasting from an overlapping view: rows 0..2 of (4, 3) all become old row 1
  auto m = nd::arange<float>(0, 12).reshape({4, 3});
  m.slice(0, 3).assign(m.slice(1, 2));
  CHECK(m.to_vector() == std::vector<float>{3, 4, 5, 3, 4, 5, 3, 4, 5, 9, 10, 11});
}
TEST_CASE("asscalar and item") {
  CHECK(nd::full<float>({1, 1}, 4.0f).asscalar() == 4.0f);
  CHECK(nd::full<double>(Shape{}, 2.0).item() == 2.0);
  CHECK_THROWS_WITH_AS(nd::zeros<float>({2}).asscalar(), doctest::Contains("exactly one element, got shape (2,)"),
                       ShapeError);
}
TEST_CASE("an empty handle throws StateError") {
  NDArray<float> e;
  CHECK_FALSE(e.defined());
  CHECK_THROWS_WITH_AS(e.shape(), doctest::Contains("empty"), StateError);
  CHECK_THROWS_AS(e.data(), StateError);
  CHECK_THROWS_AS(e.size(), StateError);
  CHECK_THROWS_AS(e.copy(), StateError);
  CHECK_THROWS_AS(e.fill(1.0f), StateError);
  CHECK_THROWS_AS(e.attach_grad(), StateError);
  CHECK_THROWS_AS(e.astype<double>(), StateError);
  CHECK_THROWS_AS(e.detach(), StateError);
  CHECK_THROWS_AS(e.view_as(Shape{1}), StateError);
  CHECK_THROWS_AS(e.at(0), StateError);
  CHECK_THROWS_AS(e.to_vector(), StateError);
  CHECK_THROWS_AS(e.zeros_like(), StateError);
  CHECK_THROWS_AS(e.grad(), StateError);
  CHECK_THROWS_AS(e.version(), StateError);
  auto x = nd::ones<float>({2});
  CHECK_THROWS_AS(x.assign(e), StateError);
  CHECK_THROWS_AS(e.assign(x), StateError);
  CHECK(x.to_vector() == std::vector<float>{1, 1});
}
TEST_CASE("attach_grad and grad()") {
  auto x = nd::ones<double>({2, 2});
  CHECK_THROWS_WITH_AS(x.grad(), doctest::Contains("call attach_grad() first"), StateError);
  CHECK(x.grad_req() == GradReq::null);
  x.attach_grad();
  CHECK(x.grad_req() == GradReq::write);
  CHECK(x.grad().shape() == Shape{2, 2});
  CHECK(x.grad().to_vector() == std::vector<double>{0, 0, 0, 0});
  x.attach_grad(GradReq::null);
  CHECK_THROWS_AS(x.grad(), StateError);
}
// x.grad() = nd::zeros<float>({2}) on an x of 6 elements used to rebind the gradient buffer itself:
// backward then copied 6 gradient values into the 2-element buffer (a heap overflow), and an
// optimizer read past it.  grad() is a handle to the buffer, as data() of a Parameter: write into it.
TEST_CASE("grad() cannot be rebound to another array; writes through it reach the gradient buffer") {
  CHECK_FALSE(std::is_assignable_v<decltype(std::declval<const NDArray<float>&>().grad()), NDArray<float>>);
  CHECK_FALSE(std::is_assignable_v<decltype(std::declval<NDArray<double>&>().grad()), const NDArray<double>&>);
  auto x = nd::array<float>({1, 2, 3});
  x.attach_grad(GradReq::add);
  x.grad().fill(1.0f);
  x.grad().assign(x.grad() + 1.0f);
  CHECK(x.grad().to_vector() == std::vector<float>{2, 2, 2});
  {
    autograd::record rec;
    nd::sum(x * x).backward();  // adds 2 x
  }
  CHECK(x.grad().to_vector() == std::vector<float>{4, 6, 8});
  const NDArray<float>& g = x.grad();  // a handle to the same buffer, kept alive
  x.grad().fill(0.0f);
  CHECK(g.to_vector() == std::vector<float>{0, 0, 0});
}
TEST_CASE("backward through NDArray methods") {
  auto x = nd::array<double>({1, 2, 3, 4}, {2, 2});
  x.attach_grad();
  {
    autograd::record rec;
    auto y = (x * x).sum();
    y.backward();
  }
  CHECK(x.grad().to_vector() == std::vector<double>{2, 4, 6, 8});
}
}
