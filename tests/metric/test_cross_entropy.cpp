// SPDX-License-Identifier: Apache-2.0
#include <gluino/metric/cross_entropy.hpp>

#include <doctest/doctest.h>

#include <limits>

#include <cmath>
#include <gluino/nd/creation.hpp>

#include "support/metric_reference.hpp"

using namespace gluino;

TEST_SUITE("metric/cross_entropy") {
TEST_CASE("Gluon's examples: cross-entropy 0.5716, perplexity 1.7711") {
  const auto preds = nd::array<float>({0.3f, 0.7f, 0, 1, 0.4f, 0.6f}, {3, 2}), labels = nd::array<float>({0, 1, 1});
  metric::CrossEntropy ce;
  ce.update(labels, preds);
  CHECK(ce.get().first == "cross-entropy");
  CHECK(ce.get().second == doctest::Approx(0.57159948348999023));  // -(log .3 + log 1 + log .6) / 3
  metric::Perplexity perp(std::nullopt);
  perp.update(labels, preds);
  CHECK(perp.get().first == "perplexity");
  CHECK(perp.get().second == doctest::Approx(1.7710976285155853));
}
TEST_CASE("means over samples, not batches; eps and the 1e-10 floor") {
  metric::CrossEntropy ce(0.5);
  ce.update(nd::array<float>({0}), nd::array<float>({0.5f, 0.5f}, {1, 2}));          // -log 1 = 0
  ce.update(nd::array<float>({1, 1}), nd::array<float>({1, 0, 1, 0}, {2, 2}));        // -log .5 twice
  CHECK(ce.get().second == doctest::Approx(2 * std::log(2.0) / 3));
  CHECK(ce.num_inst() == 3);
  metric::Perplexity perp(-1);
  perp.update(nd::array<float>({0, -1}), nd::array<float>({0, 1, 0.25f, 0.75f}, {2, 2}));  // p 0 -> 1e-10; -1 ignored
  CHECK(perp.num_inst() == 1);
  CHECK(perp.get().second == doctest::Approx(1e10));
  perp.reset_local();
  perp.update(nd::array<float>({1}), nd::array<float>({0.75f, 0.25f}, {1, 2}));
  CHECK(perp.get().second == doctest::Approx(4.0));
  CHECK(perp.get_global().second == doctest::Approx(std::sqrt(4e10)));  // exp of the mean of the two logs
  perp.reset();
  CHECK(std::isnan(perp.get().second));
}
TEST_CASE("CrossEntropy and Perplexity against NumPy (ignore_label, axis)") {
  test::check_metric_references("cross-entropy", [](const nlohmann::json& o, auto t) {
    return metric::BasicCrossEntropy<typename decltype(t)::type>(o.at("eps").get<double>());
  });
  test::check_metric_references("perplexity", [](const nlohmann::json& o, auto t) {
    const auto& ignore = o.at("ignore_label");
    return metric::BasicPerplexity<typename decltype(t)::type>(
        ignore.is_null() ? std::nullopt : std::optional<long long>(ignore.get<long long>()), o.at("axis").get<int>());
  });
}
TEST_CASE("bad input: shapes named, labels outside the classes") {
  metric::CrossEntropy ce;
  CHECK_THROWS_WITH_AS(ce.update(nd::zeros<float>({4}), nd::zeros<float>({3, 2})),
                       doctest::Contains("cross-entropy: labels of shape (4,) do not match probabilities of shape (3, 2)"),
                       ShapeError);
  CHECK_THROWS_AS(ce.update(nd::zeros<float>({3}), nd::zeros<float>({3})), ShapeError);
  CHECK_THROWS_WITH_AS(ce.update(nd::array<float>({2}), nd::zeros<float>({1, 2})), doctest::Contains("label 2"), ValueError);
  metric::Perplexity perp(-1);
  CHECK_THROWS_WITH_AS(perp.update(nd::zeros<float>({2, 2}), nd::zeros<float>({2, 3})),
                       doctest::Contains("perplexity: labels of shape (2, 2) do not match probabilities of shape (2, 3)"),
                       ShapeError);
  CHECK_THROWS_AS(metric::Perplexity(std::nullopt).update(nd::array<float>({-1}), nd::zeros<float>({1, 2})), ValueError);
}
TEST_CASE("a NaN or infinite label is a ValueError naming it, not an undefined cast") {
  const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
  metric::CrossEntropy ce;
  CHECK_THROWS_WITH_AS(ce.update(nd::array<float>({0, nan}), nd::ones<float>({2, 2})),
                       doctest::Contains("cross-entropy: label nan of sample 1 is not a class"), ValueError);
  CHECK(ce.num_inst() == 0);
  metric::Perplexity perp(-1);
  CHECK_THROWS_WITH_AS(perp.update(nd::array<float>({inf}), nd::ones<float>({1, 2})),
                       doctest::Contains("perplexity: label inf at 0 is not a class"), ValueError);
}
TEST_CASE("a NaN probability gives NaN, as NumPy and MXNet, not the 1e-10 floor") {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const auto preds = nd::array<float>({nan, 0.5f, 0.5f, 0.5f}, {2, 2});
  metric::Perplexity perplexity(std::nullopt);
  perplexity.update(nd::array<float>({0, 1}), preds);
  CHECK(std::isnan(perplexity.get().second));
  metric::CrossEntropy ce;
  ce.update(nd::array<float>({0, 1}), preds);
  CHECK(std::isnan(ce.get().second));
  // The floor still holds for a probability of 0.
  metric::Perplexity floor(std::nullopt);
  floor.update(nd::array<float>({0}), nd::array<float>({0, 1}, {1, 2}));
  CHECK(floor.get().second == doctest::Approx(1e10));
}
}
