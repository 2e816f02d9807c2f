// SPDX-License-Identifier: Apache-2.0
#include <gluino/metric/pearson_correlation.hpp>

#include <doctest/doctest.h>

#include <cmath>
#include <gluino/nd/creation.hpp>

#include "support/metric_reference.hpp"

using namespace gluino;

TEST_SUITE("metric/pearson_correlation") {
TEST_CASE("Gluon's example, named pearsonr") {
  metric::PearsonCorrelation r;
  r.update(nd::array<float>({1, 0, 0, 1, 0, 1}, {3, 2}), nd::array<float>({0.3f, 0.7f, 0, 1, 0.4f, 0.6f}, {3, 2}));
  CHECK(r.get().first == "pearsonr");
  CHECK(r.get().second == doctest::Approx(0.42163704544016178));
}
TEST_CASE("macro averages each batch's r, micro correlates every value") {
  const auto l = nd::array<float>({1, 2, 3});
  metric::PearsonCorrelation macro, micro("micro");
  for (auto* m : {&macro, &micro}) m->update(l, nd::array<float>({2, 4, 6})), m->update(l, nd::array<float>({3, 2, 1}));
  CHECK(macro.get().second == doctest::Approx(0.0).epsilon(1e-12));  // (1 + -1) / 2
  CHECK(micro.get().second == doctest::Approx(0.25));                 // cov 2 / sqrt(4 * 16)
  CHECK(micro.num_inst() == 2);                                       // batches, as Gluon
  micro.reset_local();
  CHECK(std::isnan(micro.get().second));
  micro.update(l, nd::array<float>({2, 4, 6}));
  CHECK(micro.get().second == doctest::Approx(1.0));
  CHECK(micro.get_global().second == doctest::Approx(0.4803844614152615));  // all nine pairs, NumPy
  CHECK(macro.get_global().second == doctest::Approx(0.0).epsilon(1e-12));
  macro.reset();
  CHECK(std::isnan(macro.get_global().second));
}
TEST_CASE("PearsonCorrelation against NumPy, macro and micro") {
  test::check_metric_references("pearsonr", [](const nlohmann::json& o, auto t) {
    return metric::BasicPearsonCorrelation<typename decltype(t)::type>(o.at("average"));
  });
}
TEST_CASE("bad input: shapes named, unknown average") {
  CHECK_THROWS_WITH_AS(metric::PearsonCorrelation().update(nd::zeros<float>({6}), nd::zeros<float>({3, 2})),
                       doctest::Contains("pearsonr: labels of shape (6,) do not match predictions of shape (3, 2)"),
                       ShapeError);
  CHECK_THROWS_AS(metric::PearsonCorrelation("weighted"), ValueError);
}
TEST_CASE("an empty batch is skipped, macro and micro, not a NaN that spoils every later value") {
  metric::PearsonCorrelation macro, micro("micro");
  for (auto* m : {&macro, &micro}) {
    m->update(nd::zeros<float>({0}), nd::zeros<float>({0}));
    CHECK(std::isnan(m->get().second));
    CHECK(m->num_inst() == 0);
    m->update(nd::array<float>({1, 2, 3}), nd::array<float>({1, 2, 4}));
    m->update(nd::zeros<float>({0, 2}), nd::zeros<float>({0, 2}));
    CHECK(m->num_inst() == 1);
    // np.corrcoef([1, 2, 3], [1, 2, 4])[0, 1]: co-moment 3 / sqrt(2 * 42 / 9)
    CHECK(m->get().second == doctest::Approx(0.98198050606196574));
    CHECK(m->get_global().second == doctest::Approx(0.98198050606196574));
  }
}
}
