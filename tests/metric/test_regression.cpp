// SPDX-License-Identifier: Apache-2.0
#include <gluino/metric/regression.hpp>

#include <doctest/doctest.h>

#include <cmath>
#include <gluino/nd/creation.hpp>

#include "support/metric_reference.hpp"

using namespace gluino;

TEST_SUITE("metric/regression") {
TEST_CASE("Gluon's example: mae 0.5, mse 0.375, rmse sqrt(0.375)") {
  const auto preds = nd::array<float>({3, -0.5f, 2, 7}, {4, 1}), labels = nd::array<float>({2.5f, 0, 2, 8});
  metric::MAE mae;
  metric::MSE mse;
  metric::RMSE rmse;
  for (metric::EvalMetric* m : std::initializer_list<metric::EvalMetric*>{&mae, &mse, &rmse}) m->update(labels, preds);
  CHECK(mae.get() == std::pair<std::string, double>{"mae", 0.5});
  CHECK(mse.get() == std::pair<std::string, double>{"mse", 0.375});
  CHECK(rmse.get().first == "rmse");
  CHECK(rmse.get().second == doctest::Approx(0.612372457981));
}
TEST_CASE("the mean of per-batch values, each batch weighing 1") {
  metric::MAE mae;
  metric::RMSE rmse;
  for (metric::EvalMetric* m : std::initializer_list<metric::EvalMetric*>{&mae, &rmse}) {
    m->update(nd::array<float>({0, 0, 0}), nd::array<float>({3, 3, 3}));  // |d| 3, MSE 9
    m->update(nd::array<float>({1}), nd::array<float>({0}));              // |d| 1, MSE 1
  }
  CHECK(mae.get().second == 2.0);   // (3 + 1) / 2, not (9 + 1) / 4
  CHECK(rmse.get().second == 2.0);  // (sqrt 9 + sqrt 1) / 2, not sqrt((27 + 1) / 4)
  CHECK(mae.num_inst() == 2);
  mae.reset_local();
  mae.update(nd::array<float>({2}), nd::array<float>({0}));
  CHECK(mae.get().second == 2.0);
  CHECK(mae.get_global().second == 2.0);  // (3 + 1 + 2) / 3
  mae.reset();
  CHECK(std::isnan(mae.get_global().second));
}
TEST_CASE("MAE, MSE and RMSE against NumPy, on (N,) and (N, C)") {
  const auto make_mae = [](const nlohmann::json&, auto t) { return metric::BasicMAE<typename decltype(t)::type>(); };
  const auto make_mse = [](const nlohmann::json&, auto t) { return metric::BasicMSE<typename decltype(t)::type>(); };
  const auto make_rmse = [](const nlohmann::json&, auto t) { return metric::BasicRMSE<typename decltype(t)::type>(); };
  test::check_metric_references("mae", make_mae);
  test::check_metric_references("mse", make_mse);
  test::check_metric_references("rmse", make_rmse);
}
TEST_CASE("shapes must match, (N,) matching (N, 1)") {
  metric::MSE mse;
  CHECK_NOTHROW(mse.update(nd::zeros<float>({3, 1}), nd::zeros<float>({3})));
  CHECK_THROWS_WITH_AS(mse.update(nd::zeros<float>({3}), nd::zeros<float>({3, 2})),
                       doctest::Contains("mse: labels of shape (3,) do not match predictions of shape (3, 2)"), ShapeError);
  CHECK_THROWS_AS(metric::RMSE().update(nd::zeros<float>({2, 3}), nd::zeros<float>({3, 2})), ShapeError);
}
TEST_CASE("an empty batch is skipped, not a NaN that spoils every later value") {
  metric::MAE mae;
  metric::RMSE rmse;
  for (metric::EvalMetric* m : std::initializer_list<metric::EvalMetric*>{&mae, &rmse}) {
    m->update(nd::zeros<float>({0}), nd::zeros<float>({0}));
    CHECK(std::isnan(m->get().second));  // still nothing seen
    CHECK(m->num_inst() == 0);
    m->update(nd::array<float>({0, 0}), nd::array<float>({1, 3}));  // |d| 1, 3: MAE 2, MSE 5
    m->update(nd::zeros<float>({0, 1}), nd::zeros<float>({0}));
    CHECK(m->num_inst() == 1);
  }
  CHECK(mae.get().second == 2.0);
  CHECK(rmse.get().second == doctest::Approx(std::sqrt(5.0)));
  CHECK(mae.get_global().second == 2.0);
}
}
