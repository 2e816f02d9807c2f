// SPDX-License-Identifier: Apache-2.0
#include <gluino/init/initializer.hpp>

#include <doctest/doctest.h>

#include <cmath>
#include <limits>

#include <gluino/init/xavier.hpp>
#include <gluino/nd/creation.hpp>

using namespace gluino;

namespace {
struct InitStats {
  double mean = 0, sd = 0, min = 1e300, max = -1e300;
};
template <class T>
InitStats init_stats(const NDArray<T>& a) {
  InitStats s;
  for (T v : a) {
    s.mean += v;
    s.min = std::min<double>(s.min, v);
    s.max = std::max<double>(s.max, v);
  }
  s.mean /= double(a.size());
  for (T v : a) s.sd += (v - s.mean) * (v - s.mean);
  s.sd = std::sqrt(s.sd / double(a.size()));
  return s;
}
bool init_all_equal(const NDArray<float>& a, float v) {
  for (float x : a)
    if (x != v) return false;
  return true;
}
}  // namespace

TEST_SUITE("init/initializer") {
TEST_CASE("the dispatcher picks by the name's suffix, as Gluon") {
  random::seed(1);
  init::Uniform u;
  NDArray<float> a(Shape{100});
  u("dense0_weight", a);
  InitStats s = init_stats(a);
  CHECK(s.min >= -0.07);
  CHECK(s.max < 0.07);
  CHECK(s.max - s.min > 0.1);
  for (const char* name : {"dense0_bias", "bn0_beta", "bn0_running_mean", "bn0_moving_mean"}) {
    a.fill(9);
    u(name, a);
    CHECK(init_all_equal(a, 0.0f));
  }
  for (const char* name : {"bn0_gamma", "bn0_running_var", "bn0_moving_var"}) {
    a.fill(9);
    u(name, a);
    CHECK(init_all_equal(a, 1.0f));
  }
  // Any other name goes to init_weight, as Gluon gives such a parameter the global _init_weight.
  a.fill(9);
  u("dense0_scale", a);
  const auto st = init_stats(a);
  CHECK(st.min >= -0.07);
  CHECK(st.max < 0.07);
}
TEST_CASE("the base class has no init_weight") {
  init::Initializer base;
  NDArray<float> a(Shape{2});
  CHECK_THROWS_WITH_AS(base("w_weight", a), doctest::Contains("init_weight"), ValueError);
  base("w_bias", a);
  CHECK(init_all_equal(a, 0.0f));
}
TEST_CASE("a user's initializer overrides only what it needs (the issue's MyInit)") {
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-parameter"
  struct MyInit : init::Initializer {
    void init_weight(const std::string& name, NDArray<float>& arr) override {
      nd::random::uniform<float>(5.0f, 10.0f, arr);
    }
    void init_bias(const std::string& name, NDArray<float>& arr) override { arr.fill(2.0f); }
  };
#pragma GCC diagnostic pop
  MyInit m;
  NDArray<float> w(Shape{50}), b(Shape{3}), g(Shape{3});
  m("dense0_weight", w);
  m("dense0_bias", b);
  m("bn_gamma", g);
  InitStats s = init_stats(w);
  CHECK(s.min >= 5.0);
  CHECK(s.max < 10.0);
  CHECK(init_all_equal(b, 2.0f));
  CHECK(init_all_equal(g, 1.0f));
}
TEST_CASE("Normal, Constant, Zero, One") {
  random::seed(2);
  NDArray<double> a(Shape{20000});
  init::BasicNormal<double>{0.5}("w_weight", a);
  InitStats s = init_stats(a);
  CHECK(std::abs(s.mean) < 0.02);
  CHECK(s.sd == doctest::Approx(0.5).epsilon(0.03));
  CHECK(init::Normal{}.sigma() == doctest::Approx(0.01));
  NDArray<float> c(Shape{4});
  init::Constant{3.5}("w_weight", c);
  CHECK(init_all_equal(c, 3.5f));
  init::Constant{3.5}("w_bias", c);  // as Gluon, Constant only sets weights
  CHECK(init_all_equal(c, 0.0f));
  init::One{}("w_weight", c);
  CHECK(init_all_equal(c, 1.0f));
  init::Zero{}("w_weight", c);
  CHECK(init_all_equal(c, 0.0f));
  CHECK_THROWS_AS(init::Uniform{-1}, ValueError);
  CHECK_THROWS_AS(init::Normal{-1}, ValueError);
  // A scale that is not a finite T would fill the weights with NaN (U[-inf, inf)): refused.
  const double inf = std::numeric_limits<double>::infinity(), nan = std::numeric_limits<double>::quiet_NaN();
  CHECK_THROWS_WITH_AS(init::Uniform{inf}, "Uniform: scale must be >= 0 and finite, got inf", ValueError);
  CHECK_THROWS_AS(init::Uniform{nan}, ValueError);
  CHECK_THROWS_AS(init::Uniform{1e300}, ValueError);  // finite, but not as a float
  CHECK_NOTHROW(init::BasicUniform<double>{1e300});
  CHECK_THROWS_WITH_AS(init::Normal{inf}, "Normal: sigma must be >= 0 and finite, got inf", ValueError);
  CHECK_THROWS_AS(init::Normal{nan}, ValueError);
  // Constant: a value that is not a finite T would fill the weights with NaN or inf.
  CHECK_THROWS_WITH_AS(init::Constant{nan}, "Constant: value must be a finite number, got nan", ValueError);
  CHECK_THROWS_AS(init::Constant{-inf}, ValueError);
  CHECK_THROWS_AS(init::Constant{1e300}, ValueError);  // finite, but not as a float
  CHECK_NOTHROW(init::BasicConstant<double>{-1e300});
}
TEST_CASE("Xavier: uniform bounds sqrt(magnitude / factor) for each factor_type") {
  random::seed(3);
  NDArray<float> w(Shape{64, 32});
  struct Case {
    const char* factor;
    double factor_value;
  };
  for (Case c : {Case{"avg", 48.0}, Case{"in", 32.0}, Case{"out", 64.0}}) {
    init::Xavier x("uniform", c.factor, 3);
    CHECK(x.factor(w.shape()) == c.factor_value);
    x("fc_weight", w);
    const double bound = std::sqrt(3.0 / c.factor_value);
    InitStats s = init_stats(w);
    CHECK(s.min >= -bound);
    CHECK(s.max <= bound);
    CHECK(s.max > 0.9 * bound);  // the whole range is used
    CHECK(s.min < -0.9 * bound);
  }
}
TEST_CASE("Xavier: conv weights count the receptive field; gaussian has sd = scale") {
  random::seed(4);
  init::BasicXavier<double> x("gaussian", "avg", 2);
  NDArray<double> w(Shape{32, 16, 3, 3});  // fan_in 144, fan_out 288
  CHECK(x.factor(w.shape()) == 216.0);
  x("conv0_weight", w);
  InitStats s = init_stats(w);
  CHECK(s.sd == doctest::Approx(std::sqrt(2.0 / 216.0)).epsilon(0.05));
  CHECK(std::abs(s.mean) < 0.005);
}
TEST_CASE("Xavier and MSRAPrelu: errors") {
  NDArray<float> v(Shape{5});
  CHECK_THROWS_WITH_AS(init::Xavier{}("fc_weight", v), doctest::Contains("fc_weight"), ValueError);
  CHECK_THROWS_WITH_AS(init::Xavier("normal"), doctest::Contains("'normal'"), ValueError);
  CHECK_THROWS_WITH_AS(init::Xavier("uniform", "fan"), doctest::Contains("'fan'"), ValueError);
  CHECK_THROWS_AS(init::MSRAPrelu("sum"), ValueError);
  CHECK_THROWS_WITH_AS(init::Xavier("uniform", "avg", std::numeric_limits<double>::infinity()),
                       doctest::Contains("magnitude must be >= 0 and finite"), ValueError);
  CHECK_THROWS_WITH_AS(init::MSRAPrelu("avg", std::numeric_limits<double>::quiet_NaN()),
                       "MSRAPrelu: slope must be a finite number, got nan", ValueError);
  NDArray<float> w(Shape{2, 2});
  CHECK_THROWS_WITH_AS(init::Xavier("uniform", "avg", 1e300)("fc_weight", w),
                       doctest::Contains("exceeds the element type's range"),
                       ValueError);
}
TEST_CASE("empty weights (an axis of 0) are left as they are, with no error") {
  for (const Shape& shape : {Shape{0, 5}, Shape{5, 0}, Shape{0, 0}, Shape{0, 3, 3, 3}, Shape{4, 0, 3, 3}}) {
    INFO(shape);
    for (const char* factor : {"avg", "in", "out"}) {
      NDArray<float> w(shape);
      CHECK_NOTHROW(init::Xavier("uniform", factor)("fc_weight", w));
      CHECK_NOTHROW(init::Xavier("gaussian", factor, 0)("fc_weight", w));
      CHECK_NOTHROW(init::MSRAPrelu{factor}("conv_weight", w));
      CHECK(w.size() == 0);
    }
    NDArray<float> w(shape);
    CHECK_NOTHROW(init::Uniform{}("fc_weight", w));
    CHECK_NOTHROW(init::Normal{}("fc_weight", w));
  }
  NDArray<float> v(Shape{0});  // still a vector: Xavier needs 2 axes, whatever the size
  CHECK_THROWS_WITH_AS(init::Xavier{}("fc_weight", v), doctest::Contains("at least 2 axes"), ValueError);
}
TEST_CASE("MSRAPrelu: gaussian with magnitude 2 / (1 + slope^2)") {
  random::seed(5);
  init::BasicMSRAPrelu<double> m("in", 0.0);
  CHECK(m.magnitude() == 2.0);
  CHECK(m.rnd_type() == "gaussian");
  NDArray<double> w(Shape{100, 200});
  m("fc_weight", w);
  CHECK(init_stats(w).sd == doctest::Approx(std::sqrt(2.0 / 200)).epsilon(0.03));
  CHECK(init::MSRAPrelu{}.magnitude() == doctest::Approx(2.0 / 1.0625));
}
TEST_CASE("AnyInitializer: holds copies, shared_ptrs, and rebinds built-ins to another element type") {
  init::AnyInitializer none;
  CHECK_FALSE(static_cast<bool>(none));
  init::AnyInitializer u = init::Uniform{0.5};
  REQUIRE(static_cast<bool>(u));
  CHECK(dynamic_cast<init::Uniform*>(u.get())->scale() == 0.5);
  init::BasicAnyInitializer<double> x = init::Xavier("gaussian", "in", 2);  // float spelling, double use
  auto* xd = dynamic_cast<init::BasicXavier<double>*>(x.get());
  REQUIRE(xd != nullptr);
  CHECK(xd->factor_type() == "in");
  CHECK(xd->magnitude() == 2.0);
  init::BasicAnyInitializer<double> msra = init::MSRAPrelu("out", 0.5);
  CHECK(dynamic_cast<init::BasicMSRAPrelu<double>*>(msra.get())->slope() == 0.5);
  auto shared = std::make_shared<init::One>();
  init::AnyInitializer s = shared;
  CHECK(s.get() == shared.get());
}
}
