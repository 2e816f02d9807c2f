// SPDX-License-Identifier: Apache-2.0
#include <gluino/nn/dropout.hpp>

#include <doctest/doctest.h>

#include <sstream>

#include <gluino/nd/creation.hpp>
#include "support/gradcheck.hpp"
#include "support/repr.hpp"

using namespace gluino;
using test::repr;
using test::gradcheck;
using test::rand_array;
using V = std::vector<NDArray<double>>;

TEST_SUITE("nn/dropout") {
TEST_CASE("no parameters, named dropout0_, Gluon's repr") {
  nn::reset_name_counters();
  nn::Dropout d{0.5};
  CHECK(d.prefix() == "dropout0_");
  CHECK(d.params().empty());
  CHECK(d.rate() == 0.5);
  CHECK(repr(d) == "Dropout(p = 0.5, axes=())");
  CHECK(repr(nn::Dropout{0.25}) == "Dropout(p = 0.25, axes=())");
  CHECK(repr(nn::Dropout{0}) == "Dropout(p = 0.0, axes=())");
}
TEST_CASE("predict mode (the default) is the identity; train mode drops and rescales") {
  nn::Dropout d{0.5};
  const auto x = nd::ones<float>({4, 100});
  CHECK(d(x).to_vector() == x.to_vector());
  {
    autograd::predict_mode pm;
    CHECK(d(x).to_vector() == x.to_vector());
  }
  NDArray<float> y;
  {
    autograd::train_mode tm;
    y = d(x);
  }
  std::size_t zeros = 0;
  for (float v : y.to_vector()) {
    CHECK((v == 0.0f || v == 2.0f));
    zeros += v == 0.0f;
  }
  CHECK(zeros > 140);  // 400 draws with p = 0.5
  CHECK(zeros < 260);
  {
    autograd::record rec;  // record implies train mode
    CHECK(d(x).to_vector() != x.to_vector());
  }
}
TEST_CASE("a given generator makes the mask reproducible and equal to nd::dropout's") {
  random::Generator g1(5), g2(5);
  nn::Dropout d{0.3, {.generator = &g1}};
  const auto x = nd::ones<float>({3, 50});
  autograd::train_mode tm;
  CHECK(d(x).to_vector() == nd::dropout(x, 0.3, &g2).to_vector());
  CHECK(nn::Dropout{1.0}(x).to_vector() == std::vector<float>(150, 0.0f));
  CHECK(nn::Dropout{0.0}(x).to_vector() == x.to_vector());
}
TEST_CASE("gradient: dy times the mask forward drew (double)") {
  random::Generator gen(3);
  nn::BasicDropout<double> d{0.4, {.generator = &gen}};
  auto x = rand_array({3, 4});
  NDArray<double> y;
  x.attach_grad();
  {
    autograd::record rec;
    y = d(x);
  }
  y.backward(nd::ones<double>({3, 4}));
  const auto xv = x.to_vector(), yv = y.to_vector(), gv = x.grad().to_vector();
  for (std::size_t i = 0; i < xv.size(); ++i) CHECK(gv[i] == doctest::Approx(yv[i] / xv[i]));
  // A generator re-seeded at every call fixes the mask, so central differences apply.
  CHECK(gradcheck(
      [](const V& in) {
        random::Generator g(9);
        return nn::BasicDropout<double>{0.4, {.generator = &g}}(in[0]);
      },
      {rand_array({2, 5})}));
  // Recording in predict mode: the identity, whose gradient is dy.
  auto z = rand_array({2, 3});
  z.attach_grad();
  NDArray<double> w;
  {
    autograd::record rec{false};
    w = d(z);
  }
  w.backward(nd::full<double>({2, 3}, 3.0));
  CHECK(z.grad().to_vector() == std::vector<double>(6, 3.0));
}
TEST_CASE("errors: rate outside [0, 1]") {
  CHECK_THROWS_WITH_AS(nn::Dropout(1.5), doctest::Contains("Dropout: rate must be in [0, 1], got 1.5"), ValueError);
  CHECK_THROWS_WITH_AS(nn::Dropout(-0.1), doctest::Contains("Dropout"), ValueError);
}
}
