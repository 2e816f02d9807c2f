// SPDX-License-Identifier: Apache-2.0
#include <gluino/metric/eval_metric.hpp>

#include <doctest/doctest.h>

#include <cmath>
#include <gluino/nd/creation.hpp>

using namespace gluino;

namespace {
/// Counts elements above zero (the smallest metric, to test the shared bookkeeping).
struct Positive : metric::EvalMetric {
  Positive() : metric::EvalMetric("positive") {}
  using metric::EvalMetric::update;
  void update(const NDArray<float>&, const NDArray<float>& preds) override {
    std::size_t k = 0;
    for (float v : preds) k += v > 0;
    accumulate(static_cast<double>(k), preds.size());
  }
};
}  // namespace

TEST_SUITE("metric/eval_metric") {
TEST_CASE("NaN before updates; local and global statistics") {
  Positive m;
  CHECK(std::isnan(m.get().second));
  m.update(nd::zeros<float>({2}), nd::array<float>({1, -1}));
  CHECK(m.get() == std::pair<std::string, double>{"positive", 0.5});
  m.reset_local();
  m.update({nd::zeros<float>({1}), nd::zeros<float>({1})}, {nd::array<float>({1}), nd::array<float>({2})});
  CHECK(m.get().second == 1.0);
  CHECK(m.get_global().second == doctest::Approx(0.75));
  m.reset();
  CHECK(std::isnan(m.get_global().second));
  CHECK_THROWS_WITH_AS(m.update(std::vector<NDArray<float>>{nd::zeros<float>({1})}, {}), doctest::Contains("1 label arrays"),
                       ValueError);
}
}
