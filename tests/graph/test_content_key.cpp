// SPDX-License-Identifier: Apache-2.0
#include <gluino/graph/content_key.hpp>

#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include <gluino/nd/creation.hpp>
#include "support/gradcheck.hpp"

using namespace gluino;

namespace {
using TA = NDArray<double>;
}  // namespace

TEST_SUITE("graph/content_key") {
TEST_CASE("ContentKey matches only the values it recorded: a write through data() is seen") {
  std::vector<TA> a{test::rand_array({3, 4}, 1), TA(), test::rand_array({5}, 2)};
  graph::ContentKey<double> key;
  CHECK_FALSE(key.matches(a.data(), a.size()));  // nothing recorded yet
  key.record(a.data(), a.size());
  CHECK(key.matches(a.data(), a.size()));
  a[2].data()[4] += 1e-12;  // the last element of the last array, no version change
  CHECK_FALSE(key.matches(a.data(), a.size()));
  a[2].data()[4] -= 1e-12;
  CHECK(key.matches(a.data(), a.size()));  // the same bytes again
  a[0].data()[0] = -a[0].data()[0];
  CHECK_FALSE(key.matches(a.data(), a.size()));
  key.record(a.data(), a.size());
  CHECK(key.matches(a.data(), a.size()));
}

TEST_CASE("ContentKey: another array count, size or definedness does not match") {
  std::vector<TA> a{test::rand_array({4}, 3), test::rand_array({2}, 4)};
  graph::ContentKey<double> key;
  key.record(a.data(), a.size());
  CHECK_FALSE(key.matches(a.data(), 1));
  std::vector<TA> longer{a[0], test::rand_array({3}, 4)};
  longer[1].data()[0] = a[1].data()[0], longer[1].data()[1] = a[1].data()[1];  // same prefix
  CHECK_FALSE(key.matches(longer.data(), longer.size()));
  std::vector<TA> missing{a[0], TA()};
  CHECK_FALSE(key.matches(missing.data(), missing.size()));
  key.record(missing.data(), missing.size());
  CHECK(key.matches(missing.data(), missing.size()));
  CHECK_FALSE(key.matches(a.data(), a.size()));
  std::vector<TA> copies{a[0].copy(), TA()};  // other storage, same values: a match
  CHECK(key.matches(copies.data(), copies.size()));
}

TEST_CASE("ContentKey compares bytes: a NaN matches itself, -0 does not match 0") {
  std::vector<TA> a{nd::array<double>({NAN, 0.0})};
  graph::ContentKey<double> key;
  key.record(a.data(), a.size());
  CHECK(key.matches(a.data(), a.size()));
  a[0].data()[1] = -0.0;
  CHECK_FALSE(key.matches(a.data(), a.size()));
}
}
