// SPDX-License-Identifier: Apache-2.0
#include <gluino/metric/composite_eval_metric.hpp>

#include <doctest/doctest.h>

#include <cmath>
#include <gluino/metric/accuracy.hpp>
#include <gluino/metric/binary_classification.hpp>
#include <gluino/metric/cross_entropy.hpp>
#include <gluino/metric/regression.hpp>
#include <gluino/nd/creation.hpp>

using namespace gluino;

TEST_SUITE("metric/composite_eval_metric") {
TEST_CASE("updates every child; get() returns their names and values in order") {
  auto acc = std::make_shared<metric::Accuracy>();
  metric::CompositeEvalMetric m({acc, std::make_shared<metric::CrossEntropy>()});
  m.add(std::make_shared<metric::F1>());
  CHECK(m.size() == 3);
  CHECK(m.name() == "composite");
  const auto preds = nd::array<float>({0.3f, 0.7f, 0, 1, 0.4f, 0.6f}, {3, 2});
  m.update(nd::array<float>({0, 1, 1}), preds);
  const auto [names, values] = m.get();
  CHECK(names == std::vector<std::string>{"accuracy", "cross-entropy", "f1"});
  REQUIRE(values.size() == 3);
  CHECK(values[0] == doctest::Approx(2.0 / 3));
  CHECK(values[1] == doctest::Approx(0.57159948348999023));
  CHECK(values[2] == doctest::Approx(0.8));
  CHECK(acc->get().second == values[0]);  // the children are shared
  CHECK(&m.get_metric(2) == &m.get_metric(2));
  CHECK(m.get_metric(2).name() == "f1");
}
TEST_CASE("reset, reset_local and get_global reach every child") {
  metric::CompositeEvalMetric m;
  m.add(std::make_shared<metric::Accuracy>());
  m.add(std::make_shared<metric::MSE>());
  m.update({nd::array<float>({1})}, {nd::array<float>({1})});
  m.reset_local();
  CHECK(std::isnan(m.get().second[0]));
  CHECK(std::isnan(m.get().second[1]));
  CHECK(m.get_global().second == std::vector<double>{1.0, 0.0});
  m.reset();
  CHECK(std::isnan(m.get_global().second[0]));
}
TEST_CASE("bad input: index out of range, a null metric, a child's shape error") {
  metric::CompositeEvalMetric m({std::make_shared<metric::CrossEntropy>()});
  CHECK_THROWS_WITH_AS(m.get_metric(1), doctest::Contains("composite: metric index 1 is out of range 0 and 1"), ValueError);
  CHECK_THROWS_AS(m.add(nullptr), ValueError);
  CHECK_THROWS_AS(m.update(nd::zeros<float>({4}), nd::zeros<float>({3, 2})), ShapeError);
}
TEST_CASE("a child that refuses the batch leaves every child as it was") {
  auto acc = std::make_shared<metric::Accuracy>();
  auto mse = std::make_shared<metric::MSE>();
  metric::CompositeEvalMetric m({acc, mse});
  m.update(nd::array<float>({1, 0}), nd::array<float>({1, 1}));
  // Accuracy takes (N,) labels with (N, C) scores, MSE refuses them: nothing is counted.
  CHECK_THROWS_AS(m.update(nd::array<float>({1, 0}), nd::array<float>({0, 1, 1, 0}, {2, 2})), ShapeError);
  CHECK(acc->num_inst() == 2);
  CHECK(acc->get().second == 0.5);
  CHECK(acc->get_global().second == 0.5);
  CHECK(mse->num_inst() == 1);
  // The same for lists: the second pair fails in the second child.
  CHECK_THROWS_AS(m.update({nd::array<float>({1}), nd::array<float>({0})},
                           {nd::array<float>({1}), nd::array<float>({0, 1}, {1, 2})}),
                  ShapeError);
  CHECK(acc->num_inst() == 2);
  CHECK(mse->num_inst() == 1);
  CHECK(m.get().second == std::vector<double>{0.5, 0.5});
}
}
