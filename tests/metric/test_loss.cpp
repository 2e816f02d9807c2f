// SPDX-License-Identifier: Apache-2.0
#include <gluino/metric/loss.hpp>

#include <doctest/doctest.h>

#include <gluino/nd/creation.hpp>

using namespace gluino;

TEST_SUITE("metric/loss") {
TEST_CASE("mean over every loss seen") {
  metric::Loss m;
  m.update(nd::array<float>({1, 2, 3}));
  m.update(NDArray<float>{}, nd::array<float>({6}));
  CHECK(m.get() == std::pair<std::string, double>{"loss", 3.0});
  m.reset();
  m.update(nd::array<float>({0.5f, 1.5f}, {1, 2}));
  CHECK(m.get().second == 1.0);
}
}
