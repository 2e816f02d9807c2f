// SPDX-License-Identifier: Apache-2.0
#include <gluino/metric/accuracy.hpp>

#include <doctest/doctest.h>

#include <limits>

#include <gluino/nd/creation.hpp>

using namespace gluino;

TEST_SUITE("metric/accuracy") {
TEST_CASE("scores (N, C) through arg-max, or class indices") {
  metric::Accuracy acc;
  acc.update(nd::array<float>({0, 1, 1}), nd::array<float>({0.9f, 0.1f, 0.2f, 0.8f, 0.7f, 0.3f}, {3, 2}));
  CHECK(acc.get() == std::pair<std::string, double>{"accuracy", 2.0 / 3});
  acc.update(nd::array<float>({2}), nd::array<float>({2}));
  CHECK(acc.get().second == doctest::Approx(0.75));
  acc.reset();
  acc.update(nd::array<float>({0, 1}), nd::array<float>({0.2f, 0.9f, 0.6f, 0.4f}, {2, 2}));
  CHECK(acc.get().second == 0.0);
}
TEST_CASE("TopKAccuracy counts labels among the k best scores") {
  metric::TopKAccuracy top2(2);
  top2.update(nd::array<float>({0, 2}), nd::array<float>({0.5f, 0.3f, 0.2f, 0.1f, 0.6f, 0.3f}, {2, 3}));
  CHECK(top2.get() == std::pair<std::string, double>{"top_k_accuracy_2", 1.0});
  metric::TopKAccuracy top1(1);
  top1.update(nd::array<float>({0, 2}), nd::array<float>({0.5f, 0.3f, 0.2f, 0.1f, 0.6f, 0.3f}, {2, 3}));
  CHECK(top1.get().second == 0.5);
}
TEST_CASE("mismatched counts name both shapes") {
  metric::Accuracy acc;
  CHECK_THROWS_WITH_AS(acc.update(nd::zeros<float>({4}), nd::zeros<float>({3, 2})),
                       doctest::Contains("labels of shape (4,) do not match predictions of shape (3, 2)"), ShapeError);
  CHECK_THROWS_AS(metric::TopKAccuracy(2).update(nd::zeros<float>({4}), nd::zeros<float>({3, 2})), ShapeError);
}
TEST_CASE("NaN, infinite or huge classes are never correct (no undefined cast to an integer)") {
  const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
  metric::Accuracy acc;
  acc.update(nd::array<float>({nan, inf, 1e30f, -inf, 1}), nd::array<float>({nan, inf, 1e30f, -inf, 1}));
  CHECK(acc.get().second == doctest::Approx(0.2));  // only the 1
  metric::TopKAccuracy top2(2);
  top2.update(nd::array<float>({nan, 1e30f}), nd::zeros<float>({2, 3}));
  CHECK(top2.get().second == 0.0);
}
TEST_CASE("TopKAccuracy breaks ties as arg-max (the first index wins), so top-1 agrees with Accuracy") {
  // Constant scores, as from a dead network: arg-max picks class 0, so only label 0 is right.
  const auto labels = nd::array<float>({0, 1, 2, 1});
  const auto scores = nd::zeros<float>({4, 3});
  metric::Accuracy acc;
  metric::TopKAccuracy top1(1), top2(2), top5(5);
  for (metric::EvalMetric* m : std::initializer_list<metric::EvalMetric*>{&acc, &top1, &top2, &top5})
    m->update(labels, scores);
  CHECK(acc.get().second == 0.25);
  CHECK(top1.get().second == 0.25);
  CHECK(top2.get().second == 0.75);  // classes 0 and 1
  CHECK(top5.get().second == 1.0);   // k beyond the classes: every class is among the best
  // NaN scores rank first, as NumPy's argmax and sort: a NaN elsewhere beats the label's score.
  const float nan = std::numeric_limits<float>::quiet_NaN();
  metric::TopKAccuracy nan1(1);
  nan1.update(nd::array<float>({1, 0, 2}), nd::array<float>({0, 5, 1, nan, 1, 2, nan, 0, nan}, {3, 3}));
  CHECK(nan1.get().second == doctest::Approx(2.0 / 3));  // np.argmax of each row: 1, 0 (the NaN), 0 (not 2)
}
}
