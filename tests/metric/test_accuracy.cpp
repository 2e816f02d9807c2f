// SPDX-License-Identifier: Apache-2.0
#include <gluino/metric/accuracy.hpp>

#include <doctest/doctest.h>

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
}
