// SPDX-License-Identifier: Apache-2.0
#include <gluino/utils/clip_global_norm.hpp>

#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include <gluino/nd/creation.hpp>
#include <gluino/nn/parameter_dict.hpp>

using namespace gluino;

namespace {
/// Collects warnings for the scope, then puts the previous handler back.
struct CaptureWarnings {
  std::vector<std::string> seen;
  WarningHandler previous = set_warning_handler([this](const std::string& m) { seen.push_back(m); });
  ~CaptureWarnings() { set_warning_handler(previous); }
};
}  // namespace

TEST_SUITE("utils/clip_global_norm") {
TEST_CASE("the norm over every array; scaled to max_norm when above it") {
  auto a = nd::array<double>({3.0, 0.0}), b = nd::array<double>({0.0, 4.0, 0.0, 0.0}, Shape{2, 2});
  // sqrt(9 + 16) = 5 > 2: every element times 2 / (5 + 1e-8)
  CHECK(utils::clip_global_norm<double>({a, b}, 2.0) == 5.0);
  const double s = 2.0 / (5.0 + 1e-8);
  CHECK(a.to_vector() == std::vector<double>{3 * s, 0});
  CHECK(b.to_vector() == std::vector<double>{0, 4 * s, 0, 0});
  CHECK(std::sqrt(a.at(0) * a.at(0) + b.at(0, 1) * b.at(0, 1)) == doctest::Approx(2.0).epsilon(1e-8));
}
TEST_CASE("at or below max_norm nothing changes (Gluon's rule: scale only when max_norm < norm + 1e-8)") {
  auto a = nd::array<float>({3.0f, 4.0f});
  const float* storage = a.data();
  CHECK(utils::clip_global_norm<float>({a}, 10.0) == doctest::Approx(5.0));
  CHECK(utils::clip_global_norm<float>({a}, 5.0 + 1e-8) == doctest::Approx(5.0));
  CHECK(a.to_vector() == std::vector<float>{3.0f, 4.0f});
  CHECK(a.data() == storage);
  // Exactly max_norm is scaled, by 5 / (5 + 1e-8), as Gluon does.
  auto b = nd::array<double>({3.0, 4.0});
  utils::clip_global_norm<double>({b}, 5.0);
  CHECK(b.at(0) < 3.0);
  CHECK(b.at(0) == doctest::Approx(3.0).epsilon(1e-8));
}
TEST_CASE("a NaN or infinite norm warns and leaves the arrays alone; check_isfinite = false only skips the warning") {
  const double inf = std::numeric_limits<double>::infinity(), nan = std::numeric_limits<double>::quiet_NaN();
  CaptureWarnings warnings;
  auto a = nd::array<double>({inf, 1.0}), b = nd::array<double>({2.0});
  CHECK(std::isinf(utils::clip_global_norm<double>({a, b}, 1.0)));
  REQUIRE(warnings.seen.size() == 1);
  CHECK(warnings.seen[0] == "clip_global_norm: nan or inf is detected (global norm inf); the arrays are left unscaled");
  CHECK(a.at(1) == 1.0);
  CHECK(b.at(0) == 2.0);
  auto c = nd::array<double>({nan, 3.0});
  CHECK(std::isnan(utils::clip_global_norm<double>({c}, 1.0, /*check_isfinite=*/false)));
  CHECK(warnings.seen.size() == 1);
  CHECK(c.at(1) == 3.0);
}
TEST_CASE("errors: no arrays, an undefined array, max_norm <= 0 or NaN") {
  auto a = nd::array<double>({1.0});
  CHECK_THROWS_WITH_AS(utils::clip_global_norm(std::vector<NDArray<double>>{}, 1.0), "clip_global_norm: no arrays", ValueError);
  CHECK_THROWS_WITH_AS(utils::clip_global_norm<double>({a, NDArray<double>()}, 1.0),
                       "clip_global_norm: array 1 is undefined", ValueError);
  CHECK_THROWS_WITH_AS(utils::clip_global_norm<double>({a}, 0.0), "clip_global_norm: max_norm must be > 0, got 0",
                       ValueError);
  CHECK_THROWS_WITH_AS(utils::clip_global_norm<double>({a}, std::numeric_limits<double>::quiet_NaN()),
                       doctest::Contains("got nan"), ValueError);
  CHECK(utils::clip_global_norm<double>({a}, std::numeric_limits<double>::infinity()) == 1.0);
}
TEST_CASE("over a ParameterDict's gradients, grad_req null skipped") {
  nn::BasicParameterDict<double> params("net_");
  auto w = params.get("w", Shape{2});
  w->set_data(nd::array<double>({1.0, 1.0}));
  auto frozen = params.get("frozen", Shape{1}, {}, {.grad_req = GradReq::null});
  frozen->set_data(nd::array<double>({100.0}));
  auto b = params.get("b", Shape{1});
  b->set_data(nd::array<double>({0.0}));
  w->grad().assign(nd::array<double>({3.0, 0.0}));
  b->grad().assign(nd::array<double>({4.0}));
  CHECK(utils::clip_global_norm(params, 1.0) == 5.0);
  CHECK(w->grad().at(0) == doctest::Approx(0.6));
  CHECK(b->grad().at(0) == doctest::Approx(0.8));
  nn::BasicParameterDict<double> none("none_");
  none.get("x", Shape{1}, {}, {.grad_req = GradReq::null})->set_data(nd::array<double>({1.0}));
  CHECK_THROWS_WITH_AS(utils::clip_global_norm(none, 1.0), doctest::Contains("no parameter of 'none_' has a gradient"),
                       ValueError);
}
TEST_CASE("finite values whose squares overflow double: the true norm, and the arrays scaled") {
  CaptureWarnings warnings;
  auto a = nd::array<double>({3e200, 0.0}), b = nd::array<double>({-4e200});
  const double norm = utils::clip_global_norm<double>({a, b}, 1.0);
  CHECK(norm == doctest::Approx(5e200).epsilon(1e-12));
  CHECK(warnings.seen.empty());
  CHECK(a.at(0) == doctest::Approx(0.6).epsilon(1e-12));
  CHECK(b.at(0) == doctest::Approx(-0.8).epsilon(1e-12));
  CHECK(a.at(1) == 0.0);
  // The largest doubles: a norm beyond double is infinite, and the arrays stay as they are.
  const double big = std::numeric_limits<double>::max();
  auto c = nd::array<double>({big, big});
  CHECK(std::isinf(utils::clip_global_norm<double>({c}, 1.0)));
  CHECK(warnings.seen.size() == 1);
  CHECK(c.at(0) == big);
}
}
