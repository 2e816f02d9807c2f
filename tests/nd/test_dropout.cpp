// SPDX-License-Identifier: Apache-2.0
#include <gluino/nd/dropout.hpp>

#include <doctest/doctest.h>

#include <gluino/nd/creation.hpp>
#include "support/gradcheck.hpp"

using namespace gluino;
using test::gradcheck;
using test::rand_array;
using V = std::vector<NDArray<double>>;

TEST_SUITE("nd/dropout") {
TEST_CASE("dropout: identity outside train mode") {
  auto x = rand_array({3, 4});
  auto y = nd::dropout(x, 0.5);
  CHECK(y.data() == x.data());
  SUBCASE("also while recording in predict mode") {
    autograd::record rec{false};
    auto y2 = nd::dropout(x, 0.9);
    CHECK(y2.to_vector() == x.to_vector());
  }
}
TEST_CASE("dropout: train mode drops about p and scales survivors by 1 / (1 - p)") {
  autograd::train_mode tm;
  random::Generator gen(42);
  auto x = nd::ones<float>({200, 500});
  auto y = nd::dropout(x, 0.3f, &gen);  // a float literal converts to the double p
  CHECK(y.shape() == x.shape());
  std::size_t zeros = 0;
  bool scaled = true;
  for (float v : y) {
    if (v == 0.0f)
      ++zeros;
    else
      scaled = scaled && v == doctest::Approx(1.0 / 0.7);
  }
  CHECK(scaled);
  CHECK(static_cast<double>(zeros) / static_cast<double>(y.size()) == doctest::Approx(0.3).epsilon(0.02));
}
TEST_CASE("dropout: the same seed gives the same mask") {
  autograd::train_mode tm;
  auto x = rand_array({10, 10});
  random::Generator g1(7), g2(7);
  CHECK(nd::dropout(x, 0.5, &g1).to_vector() == nd::dropout(x, 0.5, &g2).to_vector());
  random::seed(11);
  auto a = nd::dropout(x, 0.5);
  random::seed(11);
  auto b = nd::dropout(x, 0.5);
  CHECK(a.to_vector() == b.to_vector());
  CHECK(nd::dropout(x, 0.5).to_vector() != b.to_vector());  // the generator moved on
}
TEST_CASE("dropout: p = 0 keeps everything, p = 1 drops everything") {
  autograd::train_mode tm;
  auto x = rand_array({4, 5});
  CHECK(nd::dropout(x, 0.0).to_vector() == x.to_vector());
  CHECK(nd::dropout(x, 1.0).to_vector() == std::vector<double>(20, 0.0));
}
TEST_CASE("dropout: the gradient is the scaled mask") {
  random::Generator gen(3);
  auto x = nd::ones<double>({8, 16});
  x.attach_grad();
  NDArray<double> y;
  {
    autograd::record rec;
    y = nd::dropout(x, 0.25, &gen);
  }
  y.backward();
  // With x = 1 the output is the mask itself.
  CHECK(x.grad().to_vector() == y.to_vector());
  for (double v : x.grad()) CHECK((v == 0.0 || v == doctest::Approx(1.0 / 0.75)));
  SUBCASE("central differences with a fixed mask (double)") {
    CHECK(gradcheck(
        [](const V& in) {
          random::Generator g(5);
          return nd::dropout(in[0], 0.4, &g);
        },
        {rand_array({3, 4})}));
  }
}
TEST_CASE("dropout: p outside [0, 1] is a ValueError naming p") {
  auto x = nd::ones<float>({2, 2});
  CHECK_THROWS_WITH_AS(nd::dropout(x, 1.5), doctest::Contains("p must be in [0, 1], got 1.5"), ValueError);
  CHECK_THROWS_WITH_AS(nd::dropout(x, -0.1), doctest::Contains("-0.1"), ValueError);
}
}
