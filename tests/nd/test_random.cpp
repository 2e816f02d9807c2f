// SPDX-License-Identifier: Apache-2.0
#include <gluino/nd/random.hpp>

#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include <gluino/autograd/engine.hpp>
#include <gluino/nd/creation.hpp>
#include <gluino/nd/elementwise.hpp>

using namespace gluino;

TEST_SUITE("nd/random") {
TEST_CASE("uniform into a new array") {
  auto x = nd::random::uniform<float>({50, 40}, -1.0f, 2.0f);
  CHECK(x.shape() == Shape{50, 40});
  bool in_range = true;
  double mean = 0;
  for (float v : x) {
    in_range = in_range && v >= -1.0f && v < 2.0f;
    mean += v;
  }
  CHECK(in_range);
  CHECK(mean / double(x.size()) == doctest::Approx(0.5).epsilon(0.1));
  auto d = nd::random::uniform({3});
  static_assert(std::is_same_v<decltype(d), NDArray<float>>);
}
TEST_CASE("uniform never gives high, even where the draw rounds to it in float") {
  // Between 1 and the next float every draw at or above the midpoint rounded up to high.
  const float high = std::nextafter(1.0f, 2.0f);
  random::Generator gen(5);
  const auto x = nd::random::uniform<float>({1000}, 1.0f, high, &gen);
  std::size_t low = 0, above = 0;
  for (float v : x) low += v == 1.0f, above += v >= high;
  CHECK(above == 0);
  CHECK(low == 1000);
  const auto same = nd::random::uniform<double>({10}, 3.0, 3.0, &gen);  // an empty range: low itself
  for (double v : same) CHECK(v == 3.0);
}
TEST_CASE("normal into a new array: mean and std") {
  auto x = nd::random::normal<double>({100, 100}, -1.0, 0.5);
  double s = 0, s2 = 0;
  for (double v : x) s += v, s2 += v * v;
  const double n = double(x.size()), mean = s / n, sd = std::sqrt(s2 / n - mean * mean);
  CHECK(std::abs(mean + 1.0) < 0.03);
  CHECK(std::abs(sd - 0.5) < 0.03);
}
TEST_CASE("into an existing array (Gluon's out=)") {
  auto out = nd::zeros<float>({4, 5});
  float* p = out.data();
  auto& r = nd::random::uniform<float>(2.0f, 3.0f, out);
  CHECK(&r == &out);
  CHECK(out.data() == p);
  for (float v : out) CHECK((v >= 2.0f && v < 3.0f));
  nd::random::normal<float>(10.0f, 0.0f, out);  // scale 0: every value is loc
  for (float v : out) CHECK(v == 10.0f);
}
TEST_CASE("a Generator makes draws reproducible; the default one follows random::seed") {
  gluino::random::Generator g1(3), g2(3);
  auto a = nd::random::normal<float>({8}, 0.0f, 1.0f, &g1);
  auto b = nd::random::normal<float>({8}, 0.0f, 1.0f, &g2);
  CHECK(a.to_vector() == b.to_vector());
  auto out = nd::zeros<float>({8});
  gluino::random::Generator g3(3);
  nd::random::normal<float>(0.0f, 1.0f, out, &g3);
  CHECK(out.to_vector() == a.to_vector());
  gluino::random::seed(5);
  auto c = nd::random::uniform<float>({6});
  gluino::random::seed(5);
  auto d = nd::random::uniform<float>({6});
  CHECK(c.to_vector() == d.to_vector());
  CHECK(nd::random::uniform<float>({6}).to_vector() != d.to_vector());
}
TEST_CASE("errors: low > high, negative scale") {
  CHECK_THROWS_WITH_AS(nd::random::uniform<float>({2}, 1.0f, 0.0f), "random.uniform: low (1) must not exceed high (0)",
                       ValueError);
  auto out = nd::zeros<float>({2});
  CHECK_THROWS_AS(nd::random::uniform<float>(3.0f, 2.0f, out), ValueError);
  CHECK_THROWS_WITH_AS(nd::random::normal<float>({2}, 0.0f, -1.0f), "random.normal: scale must be >= 0, got -1",
                       ValueError);
  auto outd = out.astype<double>();
  CHECK_THROWS_AS(nd::random::normal<double>(0.0, -0.5, outd), ValueError);
}
TEST_CASE("uniform: a bound that is not finite, or a range past double's, is a ValueError naming the bounds") {
  // Drawn, such ranges gave every element high's neighbour, FLT_MAX or NaN (numpy: OverflowError).
  const double big = 1.7e308;
  CHECK_THROWS_WITH_AS(nd::random::uniform<double>({4}, -big, big),
                       doctest::Contains("random.uniform: the range [-1.7e+308, 1.7e+308) is wider than"), ValueError);
  CHECK_THROWS_WITH_AS(nd::random::uniform<float>({4}, 0.0f, INFINITY),
                       doctest::Contains("random.uniform: low and high must be finite, got 0 and inf"), ValueError);
  CHECK_THROWS_AS(nd::random::uniform<float>({4}, -INFINITY, INFINITY), ValueError);
  CHECK_THROWS_WITH_AS(nd::random::uniform<float>({4}, NAN, 1.0f), doctest::Contains("finite"), ValueError);
  auto out = nd::full<float>({3}, 7.0f);
  CHECK_THROWS_AS(nd::random::uniform<float>(0.0f, NAN, out), ValueError);
  CHECK(out.to_vector() == std::vector<float>{7, 7, 7});  // untouched
  // the widest ranges that fit: every draw inside, not all at one end
  auto w = nd::random::uniform<double>({2000}, -8e307, 8e307);
  std::size_t neg = 0;
  for (double v : w) {
    REQUIRE(std::isfinite(v));
    REQUIRE(v >= -8e307);
    REQUIRE(v < 8e307);
    neg += v < 0;
  }
  CHECK(neg > 800);
  CHECK(neg < 1200);
  auto f = nd::random::uniform<float>({2000}, -3.4e38f, 3.4e38f);
  std::size_t fneg = 0, top = 0;
  for (float v : f) fneg += v < 0, top += v == std::nextafter(3.4e38f, 0.0f);
  CHECK(fneg > 800);
  CHECK(fneg < 1200);
  CHECK(top == 0);
}
TEST_CASE("uniform / normal into an array a graph saved: backward throws instead of reading the new values") {
  for (int normal = 0; normal < 2; ++normal) {
    CAPTURE(normal);
    auto w = nd::full<double>({3}, 2.0);
    w.attach_grad();
    autograd::record rec;
    auto y = w * w;  // multiply saves w: dy/dw = 2 w = 4
    if (normal)
      nd::random::normal<double>(0.0, 1.0, w);
    else
      nd::random::uniform<double>(0.0, 1.0, w);
    CHECK_THROWS_WITH_AS(y.backward(), doctest::Contains("of 'multiply' was modified by an in-place operation"),
                         StateError);
  }
}
}
