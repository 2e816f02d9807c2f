// SPDX-License-Identifier: Apache-2.0
#include <gluino/metric/binary_classification.hpp>

#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <gluino/metric/accuracy.hpp>
#include <gluino/nd/creation.hpp>

#include "support/metric_reference.hpp"

using namespace gluino;

namespace {
/// Scores (N, 2) whose arg-max is each of classes (0 or 1).
NDArray<float> binary_scores(const std::vector<float>& classes) {
  std::vector<float> s;
  for (const float c : classes) s.insert(s.end(), {c == 1 ? 0.3f : 0.7f, c == 1 ? 0.7f : 0.3f});
  return nd::array<float>(s, {classes.size(), 2});
}
}  // namespace

TEST_SUITE("metric/binary_classification") {
TEST_CASE("F1 of Gluon's example, named f1") {
  metric::F1 f1;
  f1.update(nd::array<float>({0, 1, 1}), nd::array<float>({0.3f, 0.7f, 0.f, 1.f, 0.4f, 0.6f}, {3, 2}));
  CHECK(f1.get().first == "f1");
  CHECK(f1.get().second == doctest::Approx(0.8));  // tp 2, fp 1, fn 0: P 2/3, R 1
}
TEST_CASE("F1 macro averages each batch's score, micro scores the summed counts") {
  // batch 1: tp 1, tn 1 (F1 1); batch 2: tp 1, fn 1 (P 1, R 1/2, F1 2/3)
  const auto l1 = nd::array<float>({1, 0}), p1 = binary_scores({1, 0});
  const auto l2 = nd::array<float>({1, 1}), p2 = binary_scores({1, 0});
  metric::F1 macro, micro("micro");
  for (auto* m : {&macro, &micro}) m->update(l1, p1), m->update(l2, p2);
  CHECK(macro.get().second == doctest::Approx(5.0 / 6));
  CHECK(macro.num_inst() == 2);
  CHECK(micro.get().second == doctest::Approx(0.8));  // tp 2, fn 1, tn 1: P 1, R 2/3
  CHECK(micro.num_inst() == 4);                       // examples, as Gluon
  CHECK(micro.stats().tp == 2);
  micro.reset_local();
  CHECK(std::isnan(micro.get().second));
  CHECK(micro.get_global().second == doctest::Approx(0.8));
  micro.update(l2, p2);
  CHECK(micro.get().second == doctest::Approx(2.0 / 3));
  CHECK(micro.get_global().second == doctest::Approx(2 * 0.6 / 1.6));  // tp 3, fn 2: P 1, R 3/5
  micro.reset();
  CHECK(std::isnan(micro.get_global().second));
  CHECK(micro.global_stats().total() == 0);
}
TEST_CASE("F1 and MCC are 0 where precision and recall are undefined") {
  metric::F1 f1;
  metric::MCC mcc;
  f1.update(nd::array<float>({0, 0}), binary_scores({0, 0}));
  mcc.update(nd::array<float>({0, 0}), binary_scores({0, 0}));
  CHECK(f1.get().second == 0.0);
  CHECK(mcc.get().second == 0.0);  // zero margins count as 1: (0 * 2 - 0) / sqrt(2 * 2)
}
TEST_CASE("MCC of Gluon's example, named mcc") {
  const std::size_t fp = 1000, tn = 1, fn = 1, tp = 10000;
  std::vector<float> labels, classes;
  for (auto [n, l, c] : {std::tuple{fp, 0.f, 1.f}, {tn, 0.f, 0.f}, {fn, 1.f, 0.f}, {tp, 1.f, 1.f}})
    labels.insert(labels.end(), n, l), classes.insert(classes.end(), n, c);
  metric::F1 f1;
  metric::MCC mcc;
  f1.update(nd::array<float>(labels, {labels.size()}), binary_scores(classes));
  mcc.update(nd::array<float>(labels, {labels.size()}), binary_scores(classes));
  CHECK(f1.get().second == doctest::Approx(0.95233560306652054));
  CHECK(mcc.get().first == "mcc");
  CHECK(mcc.get().second == doctest::Approx(0.01917751877733392));
}
TEST_CASE("F1 and MCC against NumPy, macro and micro, with reset_local") {
  test::check_metric_references("f1", [](const nlohmann::json& o, auto t) {
    return metric::BasicF1<typename decltype(t)::type>(o.at("average"));
  });
  test::check_metric_references("mcc", [](const nlohmann::json& o, auto t) {
    return metric::BasicMCC<typename decltype(t)::type>(o.at("average"));
  });
}
TEST_CASE("bad input: shapes named, more than two label values, unknown average") {
  metric::F1 f1;
  CHECK_THROWS_WITH_AS(f1.update(nd::zeros<float>({4}), nd::zeros<float>({3, 2})),
                       doctest::Contains("f1: labels of shape (4,) do not match predictions of shape (3, 2)"), ShapeError);
  CHECK_THROWS_AS(metric::MCC().update(nd::zeros<float>({3}), nd::zeros<float>({3})), ShapeError);
  CHECK_THROWS_WITH_AS(f1.update(nd::array<float>({0, 1, 2}), nd::zeros<float>({3, 2})),
                       doctest::Contains("only binary classification"), ValueError);
  CHECK_THROWS_WITH_AS(metric::MCC("weighted"), doctest::Contains("mcc: average must be"), ValueError);
}
TEST_CASE("an empty batch is skipped: it does not count as a macro batch of score 0") {
  metric::F1 macro, micro("micro");
  metric::MCC mcc;
  for (metric::EvalMetric* m : std::initializer_list<metric::EvalMetric*>{&macro, &micro, &mcc}) {
    m->update(nd::array<float>({0, 1}), binary_scores({0, 1}));  // tp 1, tn 1: F1 1, MCC 1
    m->update(nd::zeros<float>({0}), nd::zeros<float>({0, 2}));
    CHECK(m->get().second == doctest::Approx(1.0));
    CHECK(m->get_global().second == doctest::Approx(1.0));
    CHECK(m->num_inst() == 2 - (m == &macro || m == &mcc));  // macro: 1 batch; micro: 2 examples
  }
}
TEST_CASE("a NaN score is the predicted class, as np.argmax (Gluon) and Accuracy") {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  // Rows: (0, NaN) predicts 1, (NaN, 5) predicts 0, (NaN, NaN) predicts 0; labels 1, 1, 0.
  const auto preds = nd::array<float>({0, nan, nan, 5, nan, nan}, {3, 2});
  const auto labels = nd::array<float>({1, 1, 0});
  metric::F1 f1("micro");
  f1.update(labels, preds);
  CHECK(f1.stats().tp == 1);
  CHECK(f1.stats().fn == 1);
  CHECK(f1.stats().tn == 1);
  CHECK(f1.stats().fp == 0);
  metric::Accuracy acc;  // the same predicted classes
  acc.update(nd::array<float>({1, 0, 0}), preds);
  CHECK(acc.get().second == 1.0);
}
}
