// SPDX-License-Identifier: Apache-2.0
#include <gluino/nd/activations.hpp>

#include <doctest/doctest.h>

#include <string>
#include <type_traits>
#include <vector>

#include <gluino/autograd/mode.hpp>
#include <gluino/nd/creation.hpp>
#include "support/check_close.hpp"
#include "support/gradcheck.hpp"
#include "support/reference.hpp"

using namespace gluino;
using test::away_from_zero;
using test::check_values;
using test::gradcheck;
using test::rand_array;
using V = std::vector<NDArray<double>>;

namespace {
/// Runs the case's op in T on its inputs, backward with its head, and compares the output and
/// every input's gradient with PyTorch's.  Tolerances: float rtol 1e-5, atol 1e-6; double 1e-12.
template <class T>
void check_reference_in(const nlohmann::json& c) {
  const bool single = std::is_same_v<T, float>;
  const double rtol = single ? 1e-5 : 1e-12, atol = single ? 1e-6 : 1e-12;
  const std::string op = c.at("op");
  const std::string context = op + " " + c.at("options").dump() + (single ? " in float" : " in double");
  INFO(context);
  std::vector<NDArray<T>> in;
  for (const auto& j : c.at("inputs")) {
    in.push_back(test::reference_array<T>(j));
    in.back().attach_grad();
  }
  const auto& o = c.at("options");
  NDArray<T> y;
  {
    autograd::record rec;
    if (op == "elu") y = nd::elu(in[0], o.at("alpha").get<T>());
    else if (op == "selu") y = nd::selu(in[0]);
    else if (op == "gelu") y = nd::gelu(in[0]);
    else if (op == "swish") y = nd::swish(in[0], o.at("beta").get<T>());
    else if (op == "prelu") y = nd::prelu(in[0], in[1]);
    else FAIL("unknown op ", op);
  }
  y.backward(test::reference_array<T>(c.at("head")));
  test::check_reference_close(y, c.at("output"), "output", rtol, atol);
  for (std::size_t i = 0; i < in.size(); ++i) {
    const std::string name = c.at("inputs")[i].at("name");
    test::check_reference_close(in[i].grad(), c.at("grad").at(name), "grad of " + name, rtol, atol);
  }
}
void check_references(const std::string& op) {
  for (const auto& c : test::reference_cases("activations.json", "op", op)) {
    check_reference_in<float>(c);
    check_reference_in<double>(c);
  }
}
}  // namespace

TEST_SUITE("nd/activations") {
TEST_CASE("elu, selu, gelu, swish: hand-computed values, shape kept") {
  const auto x = nd::array<double>({-1, 0, 2}, {3, 1});
  CHECK(nd::elu(x).shape() == Shape{3, 1});
  check_values(nd::elu(x), {-0.6321205588285577, 0, 2}, 1e-12);              // e^-1 - 1
  check_values(nd::elu(x, 0.5), {-0.31606027941427883, 0, 2}, 1e-12);
  check_values(nd::selu(x), {-1.1113307378125628, 0, 2.101401974710961}, 1e-12);
  check_values(nd::gelu(x), {-0.15865525393145707, 0, 1.9544997361036416}, 1e-12);  // x * Phi(x)
  check_values(nd::swish(x), {-0.2689414213699951, 0, 1.7615941559557649}, 1e-12);
  check_values(nd::swish(x, 0.5), {-0.3775406687981454, 0, 1.4621171572600098}, 1e-12);
  check_values(nd::selu(nd::array<float>({1})), {1.0507009873554805});
  check_values(nd::erf(x), {-0.8427007929497149, 0, 0.9953222650189527}, 1e-12);  // std::erf's, tabulated
}
TEST_CASE("prelu: one slope, or one per channel along axis 1") {
  const auto x = nd::array<double>({-1, 2, -3, -4, 5, -6}, {2, 3});
  check_values(nd::prelu(x, nd::array<double>({0.5})), {-0.5, 2, -1.5, -2, 5, -3}, 1e-12);
  check_values(nd::prelu(x, nd::array<double>({0.1, 0.2, 0.3})), {-0.1, 2, -0.9, -0.4, 5, -1.8}, 1e-12);
  const auto x4 = nd::array<double>({-1, -1, -2, -2, -1, -1, 1, 1}, {1, 2, 2, 2});  // channel = axis 1
  check_values(nd::prelu(x4, nd::array<double>({0.1, 0.2})), {-0.1, -0.1, -0.2, -0.2, -0.2, -0.2, 1, 1}, 1e-12);
}
TEST_CASE("prelu: a slope array fitting neither form names both shapes") {
  const auto x = nd::zeros<float>({2, 3, 4});
  CHECK_THROWS_WITH_AS(nd::prelu(x, nd::zeros<float>({4})), doctest::Contains("alpha of shape (4,) fits neither"),
                       ShapeError);
  CHECK_THROWS_WITH_AS(nd::prelu(x, nd::zeros<float>({2})), doctest::Contains("data of shape (2, 3, 4)"), ShapeError);
  CHECK_THROWS_AS(nd::prelu(x, nd::zeros<float>({3, 1})), ShapeError);
  CHECK_THROWS_AS(nd::prelu(nd::zeros<float>({3}), nd::zeros<float>({3})), ShapeError);
  CHECK_THROWS_AS(nd::prelu(x, NDArray<float>{}), ShapeError);
}
TEST_CASE("gradients match central differences (double)") {
  const auto x = away_from_zero({2, 3, 2});
  SUBCASE("elu") { CHECK(gradcheck([](const V& in) { return nd::elu(in[0], 0.7); }, {x})); }
  SUBCASE("selu") { CHECK(gradcheck([](const V& in) { return nd::selu(in[0]); }, {x})); }
  SUBCASE("gelu") { CHECK(gradcheck([](const V& in) { return nd::gelu(in[0]); }, {rand_array({2, 3, 2}, 3, -3, 3)})); }
  SUBCASE("erf") { CHECK(gradcheck([](const V& in) { return nd::erf(in[0]); }, {rand_array({2, 3, 2}, 3, -2, 2)})); }
  SUBCASE("swish") {
    CHECK(gradcheck([](const V& in) { return nd::swish(in[0]); }, {rand_array({2, 3, 2}, 3, -3, 3)}));
    CHECK(gradcheck([](const V& in) { return nd::swish(in[0], 1.7); }, {rand_array({2, 3, 2}, 3, -3, 3)}));
  }
  SUBCASE("prelu, x and one slope") {
    CHECK(gradcheck([](const V& in) { return nd::prelu(in[0], in[1]); }, {x, nd::array<double>({0.3})}));
  }
  SUBCASE("prelu, x and a slope per channel") {
    CHECK(gradcheck([](const V& in) { return nd::prelu(in[0], in[1]); }, {x, nd::array<double>({0.1, 0.2, 0.3})}));
  }
  SUBCASE("prelu, a slope per channel of 2-D (N, C) and 4-D (N, C, H, W) data") {
    CHECK(gradcheck([](const V& in) { return nd::prelu(in[0], in[1]); },
                    {away_from_zero({4, 3}, 8), nd::array<double>({0.1, -0.2, 0.3})}));
    CHECK(gradcheck([](const V& in) { return nd::prelu(in[0], in[1]); },
                    {away_from_zero({2, 2, 3, 2}, 9), nd::array<double>({0.25, 0.5})}));
  }
}
TEST_CASE("prelu: a slope without a gradient leaves x's gradient right, and the reverse") {
  auto x = nd::array<double>({-1, 2}, {1, 2});
  auto a = nd::array<double>({0.1, 0.2});
  x.attach_grad();
  {
    autograd::record rec;
    auto y = nd::prelu(x, a);
    y.backward();
  }
  check_values(x.grad(), {0.1, 1}, 1e-12);
  auto x2 = nd::array<double>({-1, -2}, {1, 2});
  a.attach_grad();
  {
    autograd::record rec;
    auto y = nd::prelu(x2, a);
    y.backward();
  }
  check_values(a.grad(), {-1, -2}, 1e-12);
}
TEST_CASE("forward and gradients match PyTorch 1.13 (tests/data/reference/activations.json)") {
  SUBCASE("elu") { check_references("elu"); }
  SUBCASE("selu") { check_references("selu"); }
  SUBCASE("gelu (approximate='none')") { check_references("gelu"); }
  SUBCASE("swish (silu for beta = 1)") { check_references("swish"); }
  SUBCASE("prelu") { check_references("prelu"); }
}
}
