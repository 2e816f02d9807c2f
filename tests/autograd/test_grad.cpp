// SPDX-License-Identifier: Apache-2.0
#include <gluino/autograd/grad.hpp>

#include <doctest/doctest.h>

#include <cmath>
#include <string>
#include <vector>

#include <gluino/loss/l2_loss.hpp>
#include <gluino/nd/activations.hpp>
#include <gluino/nd/creation.hpp>
#include <gluino/nd/elementwise.hpp>
#include <gluino/nd/linalg.hpp>
#include <gluino/nd/pick.hpp>
#include <gluino/nd/reduce.hpp>
#include <gluino/nd/shape_ops.hpp>
#include <gluino/nd/softmax.hpp>
#include <gluino/nn/dense.hpp>
#include <gluino/nn/sequential.hpp>
#include "support/gradcheck.hpp"
#include "support/hessian_check.hpp"
#include "support/reference.hpp"

using namespace gluino;
using test::away_from_zero;
using test::hessian_check;
using test::rand_array;
using V = std::vector<NDArray<double>>;

TEST_SUITE("autograd/grad") {

TEST_CASE("grad: returns the gradients backward() computes, and leaves grad() alone") {
  auto x = nd::array<double>({1, 2, 3}, {3});
  auto w = nd::array<double>({0.5, -1, 2}, {3});
  x.attach_grad();
  w.attach_grad();
  NDArray<double> y;
  {
    autograd::record rec;
    y = nd::sum(x * x * w);
  }
  const auto g = autograd::grad(y, {x, w}, {.retain_graph = true});
  CHECK(g[0].to_vector() == std::vector<double>{1, -4, 12});  // 2 x w
  CHECK(g[1].to_vector() == std::vector<double>{1, 4, 9});    // x^2
  CHECK(x.grad().to_vector() == std::vector<double>{0, 0, 0});
  y.backward();
  CHECK(x.grad().to_vector() == g[0].to_vector());
  CHECK(w.grad().to_vector() == g[1].to_vector());
}

TEST_CASE("grad: head_grads, several heads, an intermediate variable, an unused variable") {
  auto x = nd::array<double>({1, 2}, {2});
  auto u = nd::array<double>({5, 6}, {2});
  x.attach_grad();
  u.attach_grad();
  NDArray<double> h, y1, y2;
  {
    autograd::record rec;
    h = x * x;             // intermediate
    y1 = h * 3.0;          // dy1/dx = 6x
    y2 = nd::exp(x);       // dy2/dx = e^x
  }
  auto hg1 = nd::array<double>({1, 10}, {2});
  auto hg2 = nd::array<double>({2, 0}, {2});
  const auto g = autograd::grad<double>({y1, y2}, {x, h, u}, {.head_grads = {hg1, hg2}});
  CHECK(g[0].at(0) == doctest::Approx(6 * 1 * 1 + 2 * std::exp(1.0)));
  CHECK(g[0].at(1) == doctest::Approx(6 * 2 * 10));
  CHECK(g[1].to_vector() == std::vector<double>{3, 30});
  CHECK(g[2].to_vector() == std::vector<double>{0, 0});
}

TEST_CASE("grad: create_graph gives the second derivative of x^3 (6x), then of exp") {
  auto x = nd::array<double>({-1, 0.5, 2}, {3});
  x.attach_grad();
  {
    autograd::record rec;
    auto y = nd::sum(x * x * x);
    auto dx = autograd::grad(y, {x}, {.create_graph = true})[0];
    CHECK(dx.to_vector() == std::vector<double>{3, 0.75, 12});
    auto d2 = autograd::grad(nd::sum(dx), {x}, {.create_graph = true})[0];
    CHECK(d2.to_vector() == std::vector<double>{-6, 3, 12});
    nd::sum(d2).backward();  // the third derivative, 6, through backward()
  }
  CHECK(x.grad().to_vector() == std::vector<double>{6, 6, 6});
}

TEST_CASE("grad: second derivatives of element-wise ops match finite differences (double)") {
  const Shape s{2, 3};
  auto pos = [&](std::uint64_t seed) { return rand_array(s, seed, 0.5, 2.0); };
  auto sq = [](const NDArray<double>& t) { return t * t; };
  SUBCASE("add, subtract (broadcasting)") {
    CHECK(hessian_check([&](const V& v) { return sq(v[0] + v[1]) - sq(v[1] - v[0]) * v[0]; },
                        {rand_array(s, 1), rand_array({3}, 2)}));
    CHECK(hessian_check([&](const V& v) { return sq(v[0] - v[1]); }, {rand_array({2, 1}, 3), rand_array({3}, 4)}));
  }
  SUBCASE("multiply, divide (broadcasting)") {
    CHECK(hessian_check([](const V& v) { return v[0] * v[1] * v[0]; }, {rand_array(s, 5), rand_array({1, 3}, 6)}));
    CHECK(hessian_check([](const V& v) { return v[0] / v[1]; }, {rand_array(s, 7), pos(8)}));
    CHECK(hessian_check([](const V& v) { return v[1] / v[0]; }, {rand_array({3}, 9, 0.5, 2.0), rand_array(s, 10)}));
  }
  SUBCASE("negative and scalar ops") {
    CHECK(hessian_check([&](const V& v) { return sq(-v[0]) * v[0]; }, {rand_array(s, 11)}));
    CHECK(hessian_check([&](const V& v) { return sq(v[0] + 2.0) * (3.0 - v[0]) / 2.0; }, {rand_array(s, 12)}));
    CHECK(hessian_check([&](const V& v) { return 2.0 / v[0] + sq(v[0] * 3.0); }, {pos(13)}));
    CHECK(hessian_check([](const V& v) { return nd::pow(v[0], 3.5) + nd::pow(1.5, v[0]); }, {pos(14)}));
  }
  SUBCASE("exp, log, square, sqrt, power") {
    CHECK(hessian_check([](const V& v) { return nd::exp(v[0]) * v[0]; }, {rand_array(s, 15)}));
    CHECK(hessian_check([](const V& v) { return nd::log(v[0]) * v[0]; }, {pos(16)}));
    CHECK(hessian_check([](const V& v) { return nd::square(nd::square(v[0])); }, {rand_array(s, 17)}));
    CHECK(hessian_check([](const V& v) { return nd::sqrt(v[0]); }, {pos(18)}));
    CHECK(hessian_check([](const V& v) { return nd::power(v[0], v[1]); }, {pos(19), rand_array({3}, 20)}));
  }
  SUBCASE("tanh, sigmoid, softrelu, softsign, abs") {
    CHECK(hessian_check([](const V& v) { return nd::tanh(v[0]); }, {rand_array(s, 21)}));
    CHECK(hessian_check([](const V& v) { return nd::sigmoid(v[0]); }, {rand_array(s, 22, -3, 3)}));
    CHECK(hessian_check([](const V& v) { return nd::softrelu(v[0]); }, {rand_array(s, 23, -3, 3)}));
    CHECK(hessian_check([](const V& v) { return nd::softsign(v[0]); }, {away_from_zero(s, 24)}));
    CHECK(hessian_check([](const V& v) { return nd::abs(v[0]) * v[0] * v[0]; }, {away_from_zero(s, 25)}));
  }
  SUBCASE("relu, leaky_relu, maximum, minimum (piecewise linear: the mask is a constant)") {
    CHECK(hessian_check([&](const V& v) { return sq(nd::relu(v[0])) * v[0]; }, {away_from_zero(s, 26)}));
    CHECK(hessian_check([&](const V& v) { return sq(nd::leaky_relu(v[0], 0.1)); }, {away_from_zero(s, 27)}));
    CHECK(hessian_check([&](const V& v) { return sq(nd::maximum(v[0], v[1])) + sq(nd::minimum(v[0], v[1])) * v[1]; },
                        {away_from_zero(s, 28), rand_array({3}, 29, 0.05, 0.1)}));
  }
}

TEST_CASE("grad: second derivatives of reductions and shape ops match finite differences (double)") {
  auto sq = [](const NDArray<double>& t) { return t * t; };
  SUBCASE("sum, mean over axes") {
    CHECK(hessian_check([&](const V& v) { return sq(nd::sum(sq(v[0]) * v[0], {1}, false)); }, {rand_array({2, 3}, 30)}));
    CHECK(hessian_check([&](const V& v) { return nd::mean(nd::tanh(v[0]), {0, 2}, true) * nd::sum(v[0]); },
                        {rand_array({2, 3, 2}, 31)}));
  }
  SUBCASE("max, min") {
    CHECK(hessian_check([&](const V& v) { return sq(nd::max(v[0], {1}, false)) + sq(nd::min(v[0])); },
                        {rand_array({3, 4}, 32)}));
  }
  SUBCASE("reshape, flatten, expand_dims, transpose, broadcast_to") {
    CHECK(hessian_check([&](const V& v) { return sq(nd::reshape(sq(v[0]), {3, 2})) * nd::flatten(v[0]).reshape({3, 2}); },
                        {rand_array({2, 3}, 33)}));
    CHECK(hessian_check([&](const V& v) { return sq(nd::transpose(v[0])) * nd::expand_dims(v[1], 1); },
                        {rand_array({2, 3}, 34), rand_array({3}, 35)}));
    CHECK(hessian_check([&](const V& v) { return sq(nd::broadcast_to(v[0], {2, 3})) * v[0]; },
                        {rand_array({1, 3}, 36)}));
  }
}

TEST_CASE("grad: second derivatives of dot and fully_connected match finite differences (double)") {
  auto sq = [](const NDArray<double>& t) { return t * t; };
  for (bool ta : {false, true})
    for (bool tb : {false, true}) {
      CAPTURE(ta);
      CAPTURE(tb);
      auto a = rand_array(ta ? Shape{4, 2} : Shape{2, 4}, 40);
      auto b = rand_array(tb ? Shape{3, 4} : Shape{4, 3}, 41);
      CHECK(hessian_check([&](const V& v) { return sq(nd::dot(v[0], v[1], ta, tb)); }, {a, b}));
    }
  CHECK(hessian_check([&](const V& v) { return sq(nd::dot(sq(v[0]), v[1])); }, {rand_array({4}, 42), rand_array({4}, 43)}));
  CHECK(hessian_check([&](const V& v) { return nd::tanh(nd::fully_connected(v[0], v[1], v[2])); },
                      {rand_array({2, 2, 2}, 44), rand_array({3, 4}, 45), rand_array({3}, 46)}));
  CHECK(hessian_check([&](const V& v) { return sq(nd::fully_connected(v[0], v[1], NDArray<double>{}, false)); },
                      {rand_array({2, 2, 4}, 47), rand_array({3, 4}, 48)}));
}

TEST_CASE("grad: second derivatives of softmax, log_softmax and pick match finite differences (double)") {
  const auto label = nd::array<double>({2, 0, 1}, {3});
  CHECK(hessian_check([](const V& v) { return nd::softmax(v[0]); }, {rand_array({3, 4}, 52, -2, 2)}));
  CHECK(hessian_check([](const V& v) { return nd::softmax(v[0], 0); }, {rand_array({3, 2, 2}, 53, -2, 2)}));
  CHECK(hessian_check([](const V& v) { return nd::log_softmax(v[0], 1); }, {rand_array({2, 3, 2}, 54, -2, 2)}));
  CHECK(hessian_check([&](const V& v) { return -nd::pick(nd::log_softmax(v[0]), label); },
                      {rand_array({3, 4}, 55, -2, 2)}));
  CHECK(hessian_check([&](const V& v) { return nd::square(nd::pick(v[0], label, 0, true)); },
                      {rand_array({4, 3}, 56, -2, 2)}));
}

TEST_CASE("grad: second derivatives of L2Loss match finite differences (double)") {
  loss::BasicL2Loss<double> l2;
  CHECK(hessian_check([&](const V& v) { return l2(nd::tanh(v[0]), v[1]); },
                      {rand_array({3, 2}, 50), rand_array({3, 2}, 51)}));
}

namespace {
/// A tiny MLP's penalized loss, as scripts/make_autograd_references.py writes it:
/// out = fc(tanh(fc(x, W1, b1)), W2, b2), loss = sum of L2Loss(out, y), g = dloss/dx (recorded),
/// total = loss + lambda * sum(g^2).  v = {x, W1, b1, W2, b2, y}.
struct Penalized {
  NDArray<double> loss, dx, total;
};
Penalized penalized_mlp(const V& v, double lambda) {
  autograd::record rec;  // grad's create_graph needs the graph, also in gradcheck's numeric pass
  loss::BasicL2Loss<double> l2;
  const auto out = nd::fully_connected(nd::tanh(nd::fully_connected(v[0], v[1], v[2])), v[3], v[4]);
  Penalized p;
  p.loss = nd::sum(l2(out, v[5]));
  p.dx = autograd::grad(p.loss, {v[0]}, {.create_graph = true})[0];
  p.total = p.loss + nd::sum(p.dx * p.dx) * lambda;
  return p;
}
}  // namespace

TEST_CASE("grad: a gradient penalty on a tiny MLP: its weight gradients match finite differences (double)") {
  const V inputs{rand_array({4, 3}, 70), rand_array({5, 3}, 71), rand_array({5}, 72), rand_array({2, 5}, 73),
                 rand_array({2}, 74), rand_array({4, 2}, 75)};
  CHECK(test::gradcheck([](const V& v) { return penalized_mlp(v, 0.75).total; }, inputs, 1e-6, 1e-5, 1e-7, {5}));
}

TEST_CASE("grad: a gradient penalty through nn::Dense blocks gives the weights the same gradients") {
  nn::BasicSequential<double> net;
  net.add(nn::BasicDense<double>{5, {.activation = "tanh"}}, nn::BasicDense<double>{2});
  net.initialize();
  auto x = rand_array({4, 3}, 76);
  const auto y = rand_array({4, 2}, 77);
  x.attach_grad();
  net(x);  // the deferred shapes
  const auto params = net.collect_params_with_prefix();  // 0.weight, 0.bias, 1.weight, 1.bias
  REQUIRE(params.size() == 4);
  {
    autograd::record rec;
    loss::BasicL2Loss<double> l2;
    const auto l = nd::sum(l2(net(x), y));
    const auto dx = autograd::grad(l, {x}, {.create_graph = true})[0];
    (l + nd::sum(dx * dx) * 0.75).backward();
  }
  V v{x.detach()};
  for (const auto& [name, p] : params) v.push_back(p->data().copy());
  v.push_back(y);
  for (std::size_t i = 0; i < 5; ++i) v[i].attach_grad();
  penalized_mlp(v, 0.75).total.backward();
  for (std::size_t i = 0; i < 4; ++i) {
    CAPTURE(params[i].first);
    const auto got = params[i].second->grad().to_vector(), want = v[i + 1].grad().to_vector();
    REQUIRE(got.size() == want.size());
    for (std::size_t k = 0; k < got.size(); ++k) CHECK(got[k] == doctest::Approx(want[k]).epsilon(1e-12));
  }
}

TEST_CASE("grad: the gradient penalty and a second derivative match PyTorch's (double)") {
  using test::reference_array;
  using test::reference_cases;
  SUBCASE("gradient penalty") {
    const auto c = reference_cases("autograd.json", "case", "gradient_penalty").at(0);
    const auto& in = c.at("inputs");
    const auto& out = c.at("outputs");
    V v;
    for (const char* name : {"x", "W1", "b1", "W2", "b2", "y"}) v.push_back(reference_array<double>(in.at(name)));
    for (std::size_t i = 0; i < 5; ++i) v[i].attach_grad();
    const double lambda = reference_array<double>(in.at("lambda")).at(0);
    const Penalized p = penalized_mlp(v, lambda);
    p.total.backward();
    test::check_reference_close(p.loss.reshape({1}), out.at("loss"), "loss", 1e-12, 1e-14);
    test::check_reference_close(p.dx, out.at("dx"), "dloss/dx", 1e-12, 1e-14);
    test::check_reference_close(p.total.reshape({1}), out.at("total"), "total", 1e-12, 1e-14);
    const char* names[] = {"x", "W1", "b1", "W2", "b2"};
    for (std::size_t i = 0; i < 5; ++i)
      test::check_reference_close(v[i].grad(), out.at(std::string("dtotal_d") + names[i]), names[i], 1e-10, 1e-13);
  }
  SUBCASE("second derivative") {
    const auto c = reference_cases("autograd.json", "case", "second_derivative").at(0);
    auto x = reference_array<double>(c.at("inputs").at("x"));
    const auto w = reference_array<double>(c.at("inputs").at("w"));
    const auto v = reference_array<double>(c.at("inputs").at("v"));
    x.attach_grad();
    autograd::record rec;
    const auto s = nd::sigmoid(x);
    const auto y = nd::sum(w * s * s * nd::exp(-x) / (1.0 + x * x));
    const auto g = autograd::grad(y, {x}, {.create_graph = true})[0];
    const auto hv = autograd::grad(nd::sum(g * v), {x})[0];
    test::check_reference_close(g, c.at("outputs").at("dx"), "dy/dx", 1e-12, 1e-14);
    test::check_reference_close(hv, c.at("outputs").at("hv"), "H v", 1e-10, 1e-13);
  }
}

TEST_CASE("grad: an op without backward_graph names itself under create_graph") {
  auto x = rand_array({2, 3}, 60);
  x.attach_grad();
  autograd::record rec;
  auto y = nd::sum(nd::gelu(x) * x);
  CHECK(autograd::grad(y, {x}, {.retain_graph = true})[0].shape() == Shape{2, 3});  // fine without create_graph
  CHECK_THROWS_WITH_AS(autograd::grad(y, {x}, {.create_graph = true}),
                       "grad: op 'gelu' does not support higher-order gradients (create_graph)", ValueError);
  // The fused softmax cross-entropy neither (ndarray-and-autograd.md says what to write instead).
  auto ce = nd::sum(nd::softmax_cross_entropy(x, nd::array<double>({2, 0}, {2})));
  CHECK_THROWS_WITH_AS(autograd::grad(ce, {x}, {.create_graph = true}),
                       doctest::Contains("op 'softmax_cross_entropy' does not support"), ValueError);
}

TEST_CASE("grad: retain_graph") {
  auto x = rand_array({3}, 61);
  x.attach_grad();
  autograd::record rec;
  SUBCASE("without it the graph is freed: a second grad or backward throws") {
    auto y = nd::sum(nd::exp(x));
    autograd::grad(y, {x});
    CHECK_THROWS_WITH_AS(autograd::grad(y, {x}), doctest::Contains("was freed"), StateError);
    CHECK_THROWS_WITH_AS(y.backward(), doctest::Contains("retain_graph"), StateError);
  }
  SUBCASE("with it the graph can be walked again") {
    auto y = nd::sum(nd::exp(x));
    const auto g1 = autograd::grad(y, {x}, {.retain_graph = true});
    const auto g2 = autograd::grad(y, {x});
    CHECK(g1[0].to_vector() == g2[0].to_vector());
  }
  SUBCASE("create_graph retains by default; retain_graph = false frees what the gradient's graph needs") {
    auto y = nd::sum(nd::exp(x) * x);
    auto g = autograd::grad(y, {x}, {.create_graph = true})[0];
    CHECK_NOTHROW(autograd::grad(nd::sum(g), {x}));
    auto z = nd::sum(nd::exp(x) * x);
    auto gz = autograd::grad(z, {x}, {.retain_graph = false, .create_graph = true})[0];
    CHECK_THROWS_WITH_AS(autograd::grad(nd::sum(gz), {x}), doctest::Contains("was freed"), StateError);
  }
}

TEST_CASE("grad: errors") {
  auto x = rand_array({3}, 62);
  auto c = rand_array({3}, 63);
  x.attach_grad();
  autograd::record rec;
  auto y = nd::sum(x * x);
  CHECK_THROWS_WITH_AS(autograd::grad(V{}, {x}), "grad: no heads given", ValueError);
  CHECK_THROWS_WITH_AS(autograd::grad(y, {x}, {.head_grads = {c, c}}), "grad: 2 head gradients for 1 heads",
                       ValueError);
  CHECK_THROWS_WITH_AS(autograd::grad(y, {x}, {.head_grads = {c}}),
                       "grad: head gradient 0 of shape (3,) differs from the head's shape ()", ShapeError);
  CHECK_THROWS_WITH_AS(autograd::grad(y, {c}), doctest::Contains("variable 0 (shape (3,)) has no gradient attached"),
                       StateError);
  CHECK_THROWS_WITH_AS(autograd::grad(c, {x}), doctest::Contains("head 0 (shape (3,)) has no recorded graph"),
                       StateError);
}

}  // TEST_SUITE
