// SPDX-License-Identifier: Apache-2.0
#include <gluino/autograd/anomaly.hpp>

#include <doctest/doctest.h>

#include <cmath>
#include <thread>

#include <gluino/autograd/engine.hpp>
#include <gluino/nd/creation.hpp>
#include <gluino/nd/elementwise.hpp>
#include <gluino/nd/reduce.hpp>

using namespace gluino;

TEST_SUITE("autograd/anomaly") {
TEST_CASE("without detect_anomaly a NaN passes silently") {
  CHECK(!autograd::is_anomaly_enabled());
  CHECK(std::isnan(nd::log(nd::array<double>({-1.0})).asscalar()));
}

TEST_CASE("detect_anomaly names the forward op that made a NaN or an infinity from finite inputs") {
  auto x = nd::array<double>({2.0, -1.0, 3.0}, {1, 3});
  autograd::detect_anomaly guard;
  CHECK(autograd::is_anomaly_enabled());
  CHECK_THROWS_WITH_AS(nd::log(x), doctest::Contains("detect_anomaly: forward of 'log' produced a non-finite value (nan at flat index 1) in its output of shape (1, 3) from finite inputs of shapes (1, 3)"), AnomalyError);
  CHECK_THROWS_WITH_AS(x / nd::zeros<double>({1}), doctest::Contains("forward of 'divide'"), AnomalyError);
  // Recorded ops are checked too.
  x.attach_grad();
  autograd::record rec;
  CHECK_THROWS_WITH_AS(nd::sqrt(x), doctest::Contains("'sqrt'"), AnomalyError);
  CHECK_NOTHROW(nd::sqrt(x * x));
}

TEST_CASE("detect_anomaly does not blame an op for a NaN it was given") {
  autograd::detect_anomaly guard;
  auto x = nd::array<double>({std::nan(""), 1.0});
  CHECK_NOTHROW(nd::exp(x));
  CHECK_NOTHROW(nd::relu(x) + 1.0);
}

TEST_CASE("detect_anomaly names the op whose backward made a non-finite gradient") {
  auto x = nd::array<double>({0.0, 4.0});
  x.attach_grad();
  NDArray<double> y;
  {
    autograd::record rec;
    y = (nd::sqrt(x) * 3.0).sum();  // finite forward; d sqrt(x)/dx = inf at 0
  }
  SUBCASE("off: the infinity reaches the gradient") {
    y.backward();
    CHECK(std::isinf(x.grad().data()[0]));
  }
  SUBCASE("on: AnomalyError names sqrt's backward") {
    autograd::detect_anomaly guard;
    CHECK_THROWS_WITH_AS(y.backward(), doctest::Contains("detect_anomaly: backward of 'sqrt' produced a non-finite gradient (inf at flat index 0) for input 0 of shape (2,) from a finite output gradient of shape (2,)"), AnomalyError);
  }
}

TEST_CASE("detect_anomaly is an RAII scope: nests, can be turned off inside, is per thread, is an Error") {
  CHECK(!autograd::is_anomaly_enabled());
  {
    autograd::detect_anomaly on;
    {
      autograd::record rec;  // other scopes keep the flag
      CHECK(autograd::is_anomaly_enabled());
      autograd::detect_anomaly off{false};
      CHECK(!autograd::is_anomaly_enabled());
      CHECK_NOTHROW(nd::log(nd::array<double>({-1.0})));
    }
    CHECK(autograd::is_anomaly_enabled());
    bool other = true;
    std::thread([&] { other = autograd::is_anomaly_enabled(); }).join();
    CHECK(!other);
    CHECK_THROWS_AS(nd::log(nd::array<double>({-1.0})), Error);
  }
  CHECK(!autograd::is_anomaly_enabled());
}
}
