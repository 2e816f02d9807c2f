// SPDX-License-Identifier: Apache-2.0
#include <gluino/nd/layer_norm.hpp>

#include <doctest/doctest.h>

#include <cmath>
#include <string>
#include <vector>

#include <gluino/autograd/engine.hpp>
#include <gluino/autograd/mode.hpp>
#include <gluino/nd/creation.hpp>
#include <gluino/nd/elementwise.hpp>
#include <gluino/nd/reduce.hpp>
#include "support/check_close.hpp"
#include "support/gradcheck.hpp"
#include "support/op_reference.hpp"

using namespace gluino;
using test::check_values;
using test::gradcheck;
using test::rand_array;
using V = std::vector<NDArray<double>>;

namespace {
template <class T>
NDArray<T> run_norm_case(const std::vector<NDArray<T>>& in, const nlohmann::json& o, const std::string& op) {
  if (op == "layer_norm") return nd::layer_norm(in[0], in[1], in[2], o.at("axis").get<int>(), o.at("eps").get<double>());
  if (op == "instance_norm")
    return nd::instance_norm(in[0], in[1], in[2], o.at("eps").get<double>(), o.at("axis").get<int>());
  return nd::group_norm(in[0], in[1], in[2], o.at("num_groups").get<std::size_t>(), o.at("eps").get<double>());
}
void check_norm_references(const std::string& op) {
  for (const auto& c : test::reference_cases("norms.json", "op", op)) {
    test::check_op_reference<float>(c, [&](const auto& in, const auto& o) { return run_norm_case<float>(in, o, op); }, 2e-5);
    test::check_op_reference<double>(c, [&](const auto& in, const auto& o) { return run_norm_case<double>(in, o, op); }, 2e-5);
  }
}
NDArray<double> norm_ones(std::size_t n) { return nd::ones<double>({n}); }
NDArray<double> norm_zeros(std::size_t n) { return nd::zeros<double>({n}); }
}  // namespace

TEST_SUITE("nd/layer_norm") {
TEST_CASE("layer_norm: each lane along the axis by its own mean and biased variance, eps inside the root") {
  // Gluon's LayerNorm docstring example: rows (1 2 3 4 5), mean 3, var 2; (1 1 2 2 2), mean 1.6, var 0.24.
  const auto x = nd::array<double>({1, 2, 3, 4, 5, 1, 1, 2, 2, 2}, {2, 5});
  const double s1 = std::sqrt(2 + 1e-5), s2 = std::sqrt(0.24 + 1e-5);
  auto y = nd::layer_norm(x, norm_ones(5), norm_zeros(5));
  CHECK(y.shape() == Shape{2, 5});
  check_values(y, {-2 / s1, -1 / s1, 0, 1 / s1, 2 / s1, -0.6 / s2, -0.6 / s2, 0.4 / s2, 0.4 / s2, 0.4 / s2}, 1e-12);
  check_values(y, {-1.41421, -0.707105, 0, 0.707105, 1.41421, -1.2247195, -1.2247195, 0.81647956, 0.81647956, 0.81647956},
               2e-6);  // MXNet's printed float32 values
  // Along axis 0, gamma and beta indexed along it: column (1, 3), mean 2, var 1.
  const auto z = nd::layer_norm(nd::array<double>({1, 10, 3, 20}, {2, 2}), nd::array<double>({2, 3}),
                                nd::array<double>({0.5, -1}), 0, 0.25);
  const double s = std::sqrt(1.25), t = std::sqrt(25.25);
  check_values(z, {2 * -1 / s + 0.5, 2 * -5 / t + 0.5, 3 * 1 / s - 1, 3 * 5 / t - 1}, 1e-12);
}
TEST_CASE("instance_norm: per sample and channel over the spatial axes, gamma and beta per channel") {
  // Gluon's InstanceNorm docstring example (eps 1e-5): (1.1, 2.2) and (3.3, 4.4).
  const auto x = nd::array<double>({1.1, 2.2, 3.3, 4.4}, {2, 1, 2});
  check_values(nd::instance_norm(x, norm_ones(1), norm_zeros(1), 1e-5), {-0.99998355, 0.99998331, -0.99998319, 0.99998361}, 1e-6);
  // (1, 2, 2): channel 0 = (0, 2), channel 1 = (5, 5): mean 1 and 5, var 1 and 0.
  const auto x2 = nd::array<double>({0, 2, 5, 5}, {1, 2, 2});
  const double s = std::sqrt(1 + 1e-3);
  check_values(nd::instance_norm(x2, nd::array<double>({2, 3}), nd::array<double>({0, 7})), {-2 / s, 2 / s, 7, 7}, 1e-12);
  // Channel axis last: the same numbers as the channel-first layout, transposed.
  const auto nhwc = nd::array<double>({0, 5, 2, 5}, {1, 2, 2});
  check_values(nd::instance_norm(nhwc, nd::array<double>({2, 3}), nd::array<double>({0, 7}), 1e-3, -1),
               {-2 / s, 7, 2 / s, 7}, 1e-12);
}
TEST_CASE("group_norm: MXNet 1.x's, gamma and beta per group") {
  // Gluon's GroupNorm docstring example: arange(24) as (2, 3, 4), one group.
  std::vector<double> v(24);
  for (std::size_t i = 0; i < 24; ++i) v[i] = double(i % 12);
  const auto x = nd::array<double>(v, {2, 3, 4});
  const auto y = nd::group_norm(x, norm_ones(1), norm_zeros(1));
  const auto v0 = y.to_vector();
  check_values(nd::array<double>({v0[0], v0[1], v0[2], v0[3]}), {-1.5932543, -1.3035717, -1.0138891, -0.7242065}, 1e-6);
  for (std::size_t i = 0; i < 12; ++i) CHECK(v0[i + 12] == doctest::Approx(v0[i]).epsilon(1e-12));  // same sample
  // Four channels in two groups: (0, 2 | 4, 4), mean 2.5, var 2.75, and (1, 1 | 1, 3), mean 1.5,
  // var 0.75; group g scaled by gamma[g] and shifted by beta[g].
  const auto x2 = nd::array<double>({0, 2, 4, 4, 1, 1, 1, 3}, {1, 4, 2});
  const double s0 = std::sqrt(2.75 + 1e-5), s1 = std::sqrt(0.75 + 1e-5);
  check_values(nd::group_norm(x2, nd::array<double>({2, 3}), nd::array<double>({1, 0}), 2),
               {-5 / s0 + 1, -1 / s0 + 1, 3 / s0 + 1, 3 / s0 + 1, -1.5 / s1, -1.5 / s1, -1.5 / s1, 4.5 / s1}, 1e-12);
  CHECK(nd::group_norm(nd::zeros<float>({2, 4}), nd::ones<float>({4}), nd::zeros<float>({4}), 4).shape() == Shape{2, 4});
}
TEST_CASE("no running statistics: the same result in train and predict mode") {
  const auto x = rand_array({2, 3, 4}, 3);
  const auto predict = nd::layer_norm(x, norm_ones(4), norm_zeros(4)).to_vector();
  autograd::train_mode train;
  CHECK(nd::layer_norm(x, norm_ones(4), norm_zeros(4)).to_vector() == predict);
}
TEST_CASE("gradients in x, gamma and beta match central differences (double)") {
  auto check = [](const Shape& s, std::size_t n, auto f) {
    CAPTURE(s);
    CHECK(gradcheck([&](const V& in) { return f(in[0], in[1], in[2]); },
                    {rand_array(s, 11, -2, 2), rand_array({n}, 12, 0.5, 1.5), rand_array({n}, 13)}));
  };
  SUBCASE("layer_norm") {
    check({3, 5}, 5, [](auto& x, auto& g, auto& b) { return nd::layer_norm(x, g, b); });
    check({2, 3, 4}, 3, [](auto& x, auto& g, auto& b) { return nd::layer_norm(x, g, b, 1, 0.1); });
    check({4, 2}, 4, [](auto& x, auto& g, auto& b) { return nd::layer_norm(x, g, b, 0); });
    check({2, 3, 4, 2}, 4, [](auto& x, auto& g, auto& b) { return nd::layer_norm(x, g, b, -2, 0.01); });
  }
  SUBCASE("instance_norm") {
    check({2, 3, 4}, 3, [](auto& x, auto& g, auto& b) { return nd::instance_norm(x, g, b); });
    check({2, 2, 3, 2}, 3, [](auto& x, auto& g, auto& b) { return nd::instance_norm(x, g, b, 1e-5, 2); });
    check({2, 3, 2, 2}, 2, [](auto& x, auto& g, auto& b) { return nd::instance_norm(x, g, b, 0.5, -1); });
  }
  SUBCASE("group_norm") {
    check({2, 6, 3}, 3, [](auto& x, auto& g, auto& b) { return nd::group_norm(x, g, b, 3); });
    check({2, 4, 2, 2}, 1, [](auto& x, auto& g, auto& b) { return nd::group_norm(x, g, b, 1, 0.2); });
    check({3, 4}, 2, [](auto& x, auto& g, auto& b) { return nd::group_norm(x, g, b, 2); });
    check({2, 4, 3, 2}, 2, [](auto& x, auto& g, auto& b) { return nd::group_norm(x, g, b, 2, 0.01); });
  }
}
TEST_CASE("forward and gradients match PyTorch 1.13 (tests/data/reference/norms.json)") {
  SUBCASE("layer_norm (F.layer_norm, the axis moved last)") { check_norm_references("layer_norm"); }
  SUBCASE("instance_norm (F.instance_norm, the axis moved to 1)") { check_norm_references("instance_norm"); }
  SUBCASE("group_norm (F.group_norm, gamma and beta expanded per channel)") { check_norm_references("group_norm"); }
}
TEST_CASE("errors name the op and the shapes") {
  const auto x = nd::zeros<float>({2, 3, 4});
  const auto g3 = nd::ones<float>({3}), g4 = nd::ones<float>({4});
  CHECK_THROWS_WITH_AS(nd::layer_norm(x, g3, g3), doctest::Contains("layer_norm: gamma must have shape (4,) for x of shape (2, 3, 4), got (3,)"),
                       ShapeError);
  CHECK_THROWS_WITH_AS(nd::layer_norm(x, g4, g3), doctest::Contains("beta must have shape (4,)"), ShapeError);
  CHECK_THROWS_WITH_AS(nd::layer_norm(x, g4, g4, 3), doctest::Contains("axis 3 out of range for x of shape (2, 3, 4)"),
                       ShapeError);
  CHECK_THROWS_WITH_AS(nd::layer_norm(x, g4, g4, -1, 0.0), doctest::Contains("eps must be > 0"), ValueError);
  CHECK_THROWS_AS(nd::layer_norm(x, g4, g4, -1, std::nan("")), ValueError);
  CHECK_THROWS_WITH_AS(nd::instance_norm(nd::zeros<float>({2, 3}), g3, g3),
                       doctest::Contains("at least three axes (N, C, ...), got shape (2, 3)"), ShapeError);
  CHECK_THROWS_WITH_AS(nd::instance_norm(x, g3, g3, 1e-3, 0), doctest::Contains("batch axis 0"), ShapeError);
  CHECK_THROWS_WITH_AS(nd::instance_norm(x, g4, g4), doctest::Contains("gamma must have shape (3,)"), ShapeError);
  CHECK_THROWS_WITH_AS(nd::group_norm(x, g3, g3, 2), doctest::Contains("num_groups 2 does not divide the 3 channels"),
                       ShapeError);
  CHECK_THROWS_WITH_AS(nd::group_norm(x, g3, g3, 0), doctest::Contains("num_groups must be > 0"), ValueError);
  CHECK_THROWS_WITH_AS(nd::group_norm(x, g3, g3, 1), doctest::Contains("gamma must have shape (1,)"), ShapeError);
  CHECK_THROWS_AS(nd::group_norm(nd::zeros<float>({3}), g3, g3), ShapeError);
}
TEST_CASE("an empty input gives an empty output") {
  CHECK(nd::layer_norm(nd::zeros<float>({0, 3}), nd::ones<float>({3}), nd::zeros<float>({3})).shape() == Shape{0, 3});
}
TEST_CASE("an empty input is recorded: gamma and beta get zero gradients, not the last step's") {
  // They used to return an unrecorded empty array: backward through it threw, and through a loss
  // with another term gamma and beta kept their gradients of the step before.
  for (const char* op : {"layer_norm", "instance_norm", "group_norm"}) {
    CAPTURE(op);
    const std::string o = op;
    auto g = nd::ones<double>({3}), b = nd::zeros<double>({3}), w = nd::ones<double>({2});
    g.attach_grad(), b.attach_grad(), w.attach_grad();
    g.grad().fill(5.0), b.grad().fill(5.0);
    auto x = nd::zeros<double>(o == "layer_norm" ? Shape{0, 3} : Shape{0, 3, 2});
    x.attach_grad();
    NDArray<double> loss;
    {
      autograd::record rec;
      const auto y = o == "layer_norm"      ? nd::layer_norm(x, g, b)
                     : o == "instance_norm" ? nd::instance_norm(x, g, b)
                                            : nd::group_norm(x, g, b, 3);
      CHECK(y.shape() == x.shape());
      loss = nd::sum(y) + nd::sum(w * 2.0);
    }
    loss.backward();
    CHECK(g.grad().to_vector() == std::vector<double>{0, 0, 0});
    CHECK(b.grad().to_vector() == std::vector<double>{0, 0, 0});
    CHECK(w.grad().to_vector() == std::vector<double>{2, 2});
    CHECK(x.grad().shape() == x.shape());
  }
}
}
