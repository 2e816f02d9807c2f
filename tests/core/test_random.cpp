// SPDX-License-Identifier: Apache-2.0
#include <gluino/core/random.hpp>

#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include <gluino/core/error.hpp>
#include <gluino/core/ndarray.hpp>

using gluino::random::Generator;

namespace {
std::vector<double> draw(Generator& g, int n) {
  std::vector<double> v;
  for (int i = 0; i < n; ++i) v.push_back(g.uniform01());
  return v;
}
}  // namespace

TEST_SUITE("core/random") {
TEST_CASE("the same seed gives the same numbers") {
  Generator a(42), b(42);
  CHECK(draw(a, 20) == draw(b, 20));
  CHECK(a.normal(0, 1) == b.normal(0, 1));
  CHECK(a.next_u64() == b.next_u64());
  a.seed(7);
  b.seed(7);
  CHECK(a.normal(1, 2) == b.normal(1, 2));
  CHECK(draw(a, 5) == draw(b, 5));
}
TEST_CASE("uniform(low, high) stays below high where low + (high - low) * u rounds up to it") {
  // was: low + (high - low) * u, which rounds to high for about half the draws when the range is one ulp
  Generator g(5);
  const double low = 1.0, high = std::nextafter(1.0, 2.0);
  for (int i = 0; i < 100; ++i) {
    const double v = g.uniform(low, high);
    CHECK(v >= low);
    CHECK(v < high);
  }
  for (int i = 0; i < 100; ++i) {  // a wide range: [-3, 0.1)
    const double v = g.uniform(-3.0, 0.1);
    CHECK(v >= -3.0);
    CHECK(v < 0.1);
  }
  CHECK(g.uniform(2.5, 2.5) == 2.5);  // an empty range gives low, as before
}
TEST_CASE("seed() discards a cached normal variate") {
  Generator a(3), b(3);
  a.normal(0, 1);  // caches the second Box-Muller value
  a.seed(3);
  CHECK(a.normal(0, 1) == b.normal(0, 1));
}
TEST_CASE("different seeds give different numbers") {
  Generator a(1), b(2);
  CHECK(draw(a, 10) != draw(b, 10));
}
TEST_CASE("the default generator is reset by gluino::random::seed") {
  gluino::random::seed(11);
  const double x = gluino::random::default_generator().uniform01();
  gluino::random::seed(11);
  CHECK(gluino::random::default_generator().uniform01() == x);
}
TEST_CASE("after seed(s) the calling thread's default generator draws exactly what Generator(s) draws") {
  gluino::random::seed(2024);
  Generator g(2024);
  auto& d = gluino::random::default_generator();
  CHECK(draw(d, 7) == draw(g, 7));
  CHECK(d.normal(0, 1) == g.normal(0, 1));
  CHECK(d.normal(0, 1) == g.normal(0, 1));  // the cached Box-Muller value too
  CHECK(d.randint(1000) == g.randint(1000));
  CHECK(&gluino::random::default_generator() == &d);  // one per thread, the same object each time
}
TEST_CASE("uniform stays in [low, high) and covers it") {
  Generator g(5);
  double lo = 1e9, hi = -1e9, sum = 0;
  bool in_range = true;
  const int n = 20000;
  for (int i = 0; i < n; ++i) {
    const double v = g.uniform(-2.0, 3.0);
    in_range = in_range && v >= -2.0 && v < 3.0;
    lo = std::min(lo, v);
    hi = std::max(hi, v);
    sum += v;
  }
  CHECK(in_range);
  CHECK(lo < -1.99);
  CHECK(hi > 2.99);
  CHECK(sum / n == doctest::Approx(0.5).epsilon(0.05));
}
TEST_CASE("normal: sample mean and std within tolerance") {
  Generator g(9);
  const int n = 40000;
  double s = 0, s2 = 0;
  for (int i = 0; i < n; ++i) {
    const double v = g.normal(2.0, 3.0);
    s += v;
    s2 += v * v;
  }
  const double mean = s / n, sd = std::sqrt(s2 / n - mean * mean);
  CHECK(std::abs(mean - 2.0) < 0.06);  // about 4 standard errors (3 / sqrt(n) = 0.015)
  CHECK(std::abs(sd - 3.0) < 0.06);
}
TEST_CASE("randint is in range and hits every value") {
  Generator g(4);
  std::vector<int> seen(5, 0);
  for (int i = 0; i < 500; ++i) {
    const auto v = g.randint(5);
    REQUIRE(v < 5);
    ++seen[v];
  }
  for (int c : seen) CHECK(c > 50);
}
TEST_CASE("a draw while a forward is traced into a graph is a StateError and leaves the generator as it was") {
  // What autograd::TraceScope installs on the tracing thread (and TracePause lifts while an op or
  // an initializer runs): the graph would replay the traced call's numbers as constants.
  gluino::detail::TracingContext trace{"noisy0", "hybridize", "compute with ops only"};
  struct Restore {
    const gluino::detail::TracingContext* saved = gluino::detail::tracing_block();
    ~Restore() { gluino::detail::tracing_block() = saved; }
  } restore;
  Generator g(11), ref(11);
  CHECK(g.normal(0, 1) == ref.normal(0, 1));  // each now holds the pair's cached second variate
  gluino::detail::tracing_block() = &trace;
  CHECK_THROWS_WITH_AS((void)g.normal(0, 1),
                       doctest::Contains("noisy0: hybridize: its forward draws random numbers (random::Generator)"),
                       gluino::StateError);
  CHECK_THROWS_AS((void)g.uniform01(), gluino::StateError);
  CHECK_THROWS_AS((void)g.uniform(0, 1), gluino::StateError);
  CHECK_THROWS_AS((void)g.next_u64(), gluino::StateError);
  CHECK_THROWS_AS((void)g.randint(6), gluino::StateError);
  gluino::detail::tracing_block() = nullptr;
  CHECK(g.normal(0, 1) == ref.normal(0, 1));  // the cached variate, not drawn by the refused calls
  CHECK(draw(g, 5) == draw(ref, 5));
  CHECK(g.randint(6) == ref.randint(6));
}
TEST_CASE("randint(0): an empty range is a ValueError, not a division by zero") {
  Generator g(3);
  CHECK_THROWS_WITH_AS(g.randint(0), doctest::Contains("randint: the range [0, n) is empty"), gluino::ValueError);
  CHECK(g.randint(1) == 0);
}
}
