// SPDX-License-Identifier: Apache-2.0
#include <gluino/metric/eval_metric.hpp>

#include <doctest/doctest.h>

#include <cmath>
#include <gluino/metric/accuracy.hpp>
#include <gluino/metric/binary_classification.hpp>
#include <gluino/metric/cross_entropy.hpp>
#include <gluino/metric/loss.hpp>
#include <gluino/metric/pearson_correlation.hpp>
#include <gluino/metric/regression.hpp>
#include <gluino/nd/creation.hpp>
#include <memory>
#include <string>
#include <vector>

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
TEST_CASE("update of several batches: a bad pair changes nothing, local or global") {
  metric::BasicMSE<float> mse;
  mse.update(nd::array<float>({1, 2}), nd::array<float>({1, 4}));
  const double before = mse.get().second, global = mse.get_global().second;
  const std::size_t n = mse.num_inst();
  // The first pair is fine, the second has mismatched shapes.
  CHECK_THROWS_AS(mse.update({nd::zeros<float>({2}), nd::zeros<float>({3})},
                             {nd::ones<float>({2}), nd::ones<float>({2})}),
                  ShapeError);
  CHECK(mse.num_inst() == n);
  CHECK(mse.get().second == before);
  CHECK(mse.get_global().second == global);
  // Averaged metrics restore their own statistics too (micro F1 and Pearson).
  metric::BasicF1<float> f1("micro");
  const auto p = nd::array<float>({0.2f, 0.8f, 0.9f, 0.1f}, {2, 2});
  f1.update(nd::array<float>({1, 1}), p);
  const double f1_before = f1.get().second;
  CHECK_THROWS_AS(f1.update({nd::array<float>({0, 0}), nd::array<float>({0, 1, 2})},
                            {p, nd::zeros<float>({3, 2})}),
                  ValueError);
  CHECK(f1.get().second == f1_before);
  CHECK(f1.stats().tp == 1);
  CHECK(f1.stats().fn == 1);
  CHECK(f1.global_stats().total() == 2);
  metric::BasicPearsonCorrelation<float> r("micro");
  r.update(nd::array<float>({1, 2, 3}), nd::array<float>({1, 2, 4}));
  const double r_before = r.get().second;
  CHECK_THROWS_AS(r.update({nd::array<float>({5, 1}), nd::zeros<float>({2})},
                           {nd::array<float>({1, 5}), nd::zeros<float>({3})}),
                  ShapeError);
  CHECK(r.get().second == r_before);
  CHECK(r.stats().n == 3);
  r.update(nd::array<float>({5, 1}), nd::array<float>({1, 5}));  // and goes on from there
  CHECK(r.stats().n == 5);
}
TEST_CASE("an undefined labels or preds array names the metric and the argument; nothing is counted") {
  const NDArray<float> none, labels = nd::array<float>({0, 1});
  const NDArray<float> scores = nd::array<float>({0.8f, 0.2f, 0.3f, 0.7f}, {2, 2});
  const std::vector<std::shared_ptr<metric::EvalMetric>> metrics = {
      std::make_shared<metric::Accuracy>(),         std::make_shared<metric::TopKAccuracy>(2),
      std::make_shared<metric::F1>(),               std::make_shared<metric::MCC>(),
      std::make_shared<metric::CrossEntropy>(),     std::make_shared<metric::Perplexity>(std::nullopt),
      std::make_shared<metric::BasicPearsonCorrelation<float>>(), std::make_shared<metric::MAE>(),
      std::make_shared<metric::MSE>(),              std::make_shared<metric::RMSE>()};
  for (const auto& m : metrics) {
    CAPTURE(m->name());
    const std::string on_labels = m->name() + ": update: labels is an undefined (default-constructed) array";
    const std::string on_preds = m->name() + ": update: preds is an undefined (default-constructed) array";
    CHECK_THROWS_WITH_AS(m->update(none, scores), on_labels.c_str(), StateError);
    CHECK_THROWS_WITH_AS(m->update(labels, none), on_preds.c_str(), StateError);
    CHECK_THROWS_WITH_AS(m->update(none, none), on_labels.c_str(), StateError);
    CHECK(m->num_inst() == 0);
    CHECK(std::isnan(m->get_global().second));
  }
  metric::Loss loss;  // its labels are ignored (Gluon), so they may be undefined; the losses may not
  loss.update(none, nd::array<float>({1, 3}));
  CHECK(loss.get().second == 2.0);
  CHECK_THROWS_WITH_AS(loss.update(labels, none), "loss: update: losses is an undefined (default-constructed) array",
                       StateError);
  CHECK_THROWS_WITH_AS(loss.update(none), "loss: update: losses is an undefined (default-constructed) array",
                       StateError);
  CHECK(loss.num_inst() == 2);
}
}
