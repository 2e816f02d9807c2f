// SPDX-License-Identifier: Apache-2.0
#include <gluino/autograd/grad.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include <gluino/loss/l2_loss.hpp>
#include <gluino/loss/softmax_cross_entropy_loss.hpp>
#include <gluino/nd/activations.hpp>
#include <gluino/nd/batch_norm.hpp>
#include <gluino/nd/conv.hpp>
#include <gluino/nd/conv3d.hpp>
#include <gluino/nd/creation.hpp>
#include <gluino/nd/dropout.hpp>
#include <gluino/nd/elementwise.hpp>
#include <gluino/nd/embedding.hpp>
#include <gluino/nd/linalg.hpp>
#include <gluino/nd/pad.hpp>
#include <gluino/nd/pick.hpp>
#include <gluino/nd/pool.hpp>
#include <gluino/nd/reduce.hpp>
#include <gluino/nd/shape_ops.hpp>
#include <gluino/nd/softmax.hpp>
#include <gluino/nn/batch_norm.hpp>
#include <gluino/nn/conv2d.hpp>
#include <gluino/nn/dense.hpp>
#include <gluino/nn/pooling.hpp>
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

TEST_CASE("grad: an in-place change is found before any node is freed: a second call names it again") {
  // The multiply below fully_connected saved v; v changes after the record.  Without
  // retain_graph the walk frees each node after its step: the error must come before the first.
  auto x = nd::array<double>({1, 2, 3, 4}, {2, 2});
  auto w = nd::array<double>({1, 0, 0, 1}, {2, 2}), v = nd::array<double>({2, 2, 2, 2}, {2, 2});
  x.attach_grad();
  w.attach_grad();
  NDArray<double> y;
  {
    autograd::record rec;
    y = nd::sum(nd::fully_connected(x, w * v));
  }
  v.fill(3.0);
  for (int attempt = 0; attempt < 2; ++attempt) {
    CAPTURE(attempt);
    CHECK_THROWS_WITH_AS(autograd::grad(y, V{x, w}), doctest::Contains("'multiply' was modified"), StateError);
  }
}
TEST_CASE("grad: under detect_anomaly an AnomalyError frees nothing: a second call finds it again") {
  // fully_connected's node was walked, and freed, before sqrt's backward made the infinity: the
  // second call said the graph was freed by an earlier backward() or grad().
  auto x = nd::array<double>({1, 2, 3, 4}, {2, 2});
  auto w = nd::array<double>({1, 0, 0, 1}, {2, 2}), v = nd::array<double>({0, 1}, {2});
  for (auto* a : {&x, &w, &v}) a->attach_grad();
  NDArray<double> y;
  {
    autograd::record rec;
    y = nd::sum(nd::sqrt(v)) + nd::sum(nd::fully_connected(x, w));
  }
  {
    autograd::detect_anomaly guard;
    for (int attempt = 0; attempt < 2; ++attempt) {
      CAPTURE(attempt);
      CHECK_THROWS_WITH_AS(autograd::grad(y, V{x, w, v}), doctest::Contains("backward of 'sqrt'"), AnomalyError);
    }
  }
  const auto g = autograd::grad(y, V{x, w});  // the graph is whole; this call frees it
  CHECK(g[0].to_vector() == std::vector<double>{1, 1, 1, 1});
  CHECK(g[1].to_vector() == std::vector<double>{4, 6, 4, 6});
  CHECK_THROWS_WITH_AS(autograd::grad(y, V{x}), doctest::Contains("was freed by an earlier"), StateError);
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

TEST_CASE("grad: second and third derivatives of batch_dot match finite differences (double)") {
  auto sq = [](const NDArray<double>& t) { return t * t; };
  for (bool ta : {false, true})
    for (bool tb : {false, true}) {
      CAPTURE(ta);
      CAPTURE(tb);
      auto a = rand_array(ta ? Shape{2, 4, 2} : Shape{2, 2, 4}, 140);
      auto b = rand_array(tb ? Shape{2, 3, 4} : Shape{2, 4, 3}, 141);
      CHECK(hessian_check([&](const V& v) { return sq(nd::batch_dot(v[0], v[1], ta, tb)); }, {a, b}));
      CHECK(hessian_check([&](const V& v) {  // the recorded gradients' own backward_graph
        autograd::record rec;
        const auto c = nd::batch_dot(v[0], v[1], ta, tb);
        return autograd::grad(nd::sum(c * c * c), v, {.create_graph = true})[ta ? 1 : 0];
      }, {a, b}));
    }
  // Two batch axes; one operand a constant (only the other needs a gradient).
  const auto k = rand_array({2, 2, 3, 2}, 142);
  CHECK(hessian_check(
      [&](const V& v) { return sq(nd::batch_dot(nd::tanh(v[0]), v[1])) + nd::batch_dot(k, v[1], true); },
      {rand_array({2, 2, 2, 3}, 143), rand_array({2, 2, 3, 2}, 144)}));
  CHECK(hessian_check([&](const V& v) { return sq(nd::batch_dot(v[0], k)); }, {rand_array({2, 2, 2, 3}, 145)}));
}

TEST_CASE("grad: second and third derivatives of slices, concat and stack match finite differences (double)") {
  auto sq = [](const NDArray<double>& t) { return t * t; };
  SUBCASE("slice_axis0, x.slice(), x[i]") {
    CHECK(hessian_check([&](const V& v) { return sq(nd::slice_axis0(v[0], 1, 3)) * nd::slice_axis0(v[0], 0, 2); },
                        {rand_array({4, 3}, 150)}));
    CHECK(hessian_check([&](const V& v) { return sq(v[0][2]) * v[0].slice(0, 1).reshape({2, 2}); },
                        {rand_array({3, 2, 2}, 151)}));
    CHECK(hessian_check([&](const V& v) {
      autograd::record rec;
      const auto y = nd::slice_axis0(v[0], 1, 2);
      return autograd::grad(nd::sum(y * y * y), v, {.create_graph = true})[0];
    }, {rand_array({3, 2}, 152)}));
  }
  SUBCASE("concat along axes 0, 1 and -1, with a constant among the inputs") {
    for (int axis : {0, 1, -1}) {
      CAPTURE(axis);
      // The variables of shape s1, the constant of kc: (2, 1, 3) grown along the axis.
      const Shape s1 = axis == 0 ? Shape{1, 1, 3} : axis == 1 ? Shape{2, 3, 3} : Shape{2, 1, 2};
      const auto kc = rand_array(axis == 0 ? Shape{3, 1, 3} : axis == 1 ? Shape{2, 2, 3} : Shape{2, 1, 4}, 153);
      CHECK(hessian_check([&](const V& v) { return sq(nd::concat<double>({v[0], kc, sq(v[1]) * v[0].sum()}, axis)); },
                          {rand_array(s1, 156), rand_array(s1, 157)}));
      CHECK(hessian_check([&](const V& v) {
        autograd::record rec;
        const auto y = nd::concat<double>({v[0], kc, v[1]}, axis);
        return autograd::grad(nd::sum(y * y * y), v, {.create_graph = true})[1];
      }, {rand_array(s1, 158), rand_array(s1, 159)}));
    }
  }
  SUBCASE("stack along axes 0, 1, 2 and -1") {
    for (int axis : {0, 1, 2, -1}) {
      CAPTURE(axis);
      CHECK(hessian_check([&](const V& v) { return sq(nd::stack<double>({v[0], nd::tanh(v[1]), v[0] * v[1]}, axis)); },
                          {rand_array({2, 3}, 160), rand_array({2, 3}, 161)}));
      CHECK(hessian_check([&](const V& v) {
        autograd::record rec;
        const auto y = nd::stack<double>({v[1], v[0]}, axis);
        return autograd::grad(nd::sum(y * y * y), v, {.create_graph = true})[0];
      }, {rand_array({2, 3}, 162), rand_array({2, 3}, 163)}));
    }
  }
}

TEST_CASE("grad: concat's recorded gradient slices dy (slice_axis), whose gradient scatters (slice_axis_backward)") {
  auto x = nd::array<double>({1, 2, 3, 4, 5, 6}, {2, 3});
  x.attach_grad();
  autograd::record rec;
  const auto y = nd::concat<double>({x, x * 2.0}, 1);  // (2, 6)
  const auto v = nd::array<double>({1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, {2, 6});
  const auto g = autograd::grad(nd::sum(y * y * v), {x}, {.create_graph = true})[0];
  // 2 x v[:, :3] + 2 (2x) v[:, 3:] 2 = 2 x v[:, :3] + 8 x v[:, 3:]
  CHECK(g.to_vector() == std::vector<double>{2 * 1 + 8 * 4, 4 * 2 + 16 * 5, 6 * 3 + 24 * 6,
                                             8 * 7 + 32 * 10, 10 * 8 + 40 * 11, 12 * 9 + 48 * 12});
  const auto h = autograd::grad(nd::sum(g), {x})[0];  // 2 v[:, :3] + 8 v[:, 3:]
  CHECK(h.to_vector() == std::vector<double>{2 + 32, 4 + 40, 6 + 48, 14 + 80, 16 + 88, 18 + 96});
}

TEST_CASE("grad: a gradient penalty through batch_dot, softmax, slices, concat and stack matches PyTorch's (double)") {
  const auto c = test::reference_cases("autograd.json", "case", "attention_penalty").at(0);
  const auto& in = c.at("inputs");
  const auto& out = c.at("outputs");
  V v;
  for (const char* name : {"q", "k", "v"}) v.push_back(test::reference_array<double>(in.at(name)));
  for (auto& x : v) x.attach_grad();
  const auto weights = test::reference_array<double>(in.at("c"));
  const double lambda = test::reference_array<double>(in.at("lambda")).at(0);
  NDArray<double> loss, dq, total;
  {
    autograd::record rec;
    const auto o = nd::batch_dot(nd::softmax(nd::batch_dot(v[0], v[1], false, true)), v[2]);
    const auto h = nd::concat<double>({o, o * o}, 2);
    const auto z = nd::stack<double>({h[1], h[0]}, -1);
    const auto oto = nd::batch_dot(o, o, true);
    loss = nd::sum(weights * nd::tanh(z)) + nd::sum(oto * oto) * 0.1;
    dq = autograd::grad(loss, {v[0]}, {.create_graph = true})[0];
    total = loss + nd::sum(dq * dq) * lambda;
  }
  total.backward();
  test::check_reference_close(loss.reshape({1}), out.at("loss"), "loss", 1e-12, 1e-14);
  test::check_reference_close(dq, out.at("dq"), "dloss/dq", 1e-12, 1e-14);
  test::check_reference_close(total.reshape({1}), out.at("total"), "total", 1e-12, 1e-14);
  const char* names[] = {"q", "k", "v"};
  for (std::size_t i = 0; i < 3; ++i)
    test::check_reference_close(v[i].grad(), out.at(std::string("dtotal_d") + names[i]), names[i], 1e-10, 1e-13);
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

namespace {
/// An op with a backward but no backward_graph (every differentiable op of gluino has one).
struct FirstOrderOnly : autograd::OpBase {
  static constexpr const char* name = "first_order_only";
  NDArray<double> forward(const NDArray<double>& x) { return x * 2.0; }
  std::vector<NDArray<double>> backward(const NDArray<double>& dy) { return {dy * 2.0}; }
};
}  // namespace

TEST_CASE("grad: an op without backward_graph names itself under create_graph") {
  auto x = rand_array({2, 3}, 60);
  x.attach_grad();
  autograd::record rec;
  auto y = nd::sum(autograd::apply(FirstOrderOnly{}, x * x));
  // Fine without create_graph:
  CHECK(autograd::grad(y, {x}, {.retain_graph = true})[0].to_vector() == (x * 4.0).to_vector());
  CHECK_THROWS_WITH_AS(autograd::grad(y, {x}, {.create_graph = true}),
                       "grad: op 'first_order_only' does not support higher-order gradients (create_graph)", ValueError);
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

TEST_CASE("grad: second derivatives of max and average pooling match finite differences (double)") {
  auto sq = [](const NDArray<double>& t) { return t * t; };
  const auto pool = [&](nd::PoolOptions opt) { return [opt, sq](const V& v) { return sq(nd::pooling(v[0], opt)) * nd::pooling(v[0], opt); }; };
  const auto x = rand_array({2, 2, 5, 5}, 80);
  SUBCASE("max: 2x2 stride 2, 3x3 stride 1 pad 1 (overlapping), full convention, global") {
    CHECK(hessian_check(pool({.kernel = {2, 2}, .stride = {2, 2}}), {x}));
    CHECK(hessian_check(pool({.kernel = {3, 3}, .stride = {1, 1}, .pad = {1, 1}}), {x}));
    CHECK(hessian_check(pool({.kernel = {2, 2}, .stride = {2, 2}, .convention = nd::pooling_convention::full}), {x}));
    CHECK(hessian_check([&](const V& v) { return sq(nd::global_max_pool(v[0])); }, {x}));
  }
  SUBCASE("avg: with and without the padding in the divisor, global") {
    CHECK(hessian_check(pool({.kernel = {3, 2}, .stride = {2, 1}, .pad = {1, 1}, .type = nd::pool_type::avg}), {x}));
    CHECK(hessian_check(pool({.kernel = {3, 3}, .stride = {2, 2}, .pad = {1, 1}, .type = nd::pool_type::avg,
                              .count_include_pad = false}), {x}));
    CHECK(hessian_check([&](const V& v) { return sq(nd::global_avg_pool(v[0])); }, {x}));
  }
  SUBCASE("third derivatives: the gradient pieces' own backward_graph") {
    for (nd::pool_type type : {nd::pool_type::max, nd::pool_type::avg}) {
      const nd::PoolOptions opt{.kernel = {3, 3}, .stride = {2, 2}, .pad = {1, 1}, .type = type};
      CHECK(hessian_check([&](const V& v) {
        autograd::record rec;
        const auto y = nd::pooling(v[0], opt);
        return autograd::grad(nd::sum(y * y * y), v, {.create_graph = true})[0];
      }, {x}));
    }
  }
}

TEST_CASE("grad: max_pool_backward scatters to the arg-max and its gradient gathers from there") {
  auto x = nd::array<double>({1, 5, 2, 3, 0, 9, 4, 7, 6}, {1, 1, 3, 3});
  x.attach_grad();
  autograd::record rec;
  const auto y = nd::pooling(x, {.kernel = {2, 2}, .stride = {1, 1}});  // maxima 5, 9, 7, 9
  const auto v = nd::array<double>({1, 2, 3, 4}, {1, 1, 2, 2});
  const auto g = autograd::grad(nd::sum(y * y * v), {x}, {.create_graph = true})[0];  // 2 y v at each arg-max
  CHECK(g.to_vector() == std::vector<double>{0, 10, 0, 0, 0, 36 + 72, 0, 42, 0});
  const auto h = autograd::grad(nd::sum(g), {x})[0];  // 2 v summed at each arg-max
  CHECK(h.to_vector() == std::vector<double>{0, 2, 0, 0, 0, 4 + 8, 0, 6, 0});
}

TEST_CASE("grad: second derivatives of the activations of nd/activations.hpp match finite differences (double)") {
  const Shape s{2, 3};
  CHECK(hessian_check([](const V& v) { return nd::elu(v[0], 0.7) * v[0]; }, {test::away_from_zero(s, 81) - 0.6}));
  CHECK(hessian_check([](const V& v) { return nd::selu(v[0]) * v[0]; }, {test::away_from_zero(s, 82) - 0.6}));
  CHECK(hessian_check([](const V& v) { return nd::gelu(v[0]); }, {rand_array(s, 83, -2, 2)}));
  CHECK(hessian_check([](const V& v) { return nd::erf(v[0]); }, {rand_array(s, 84, -2, 2)}));
  CHECK(hessian_check([](const V& v) { return nd::swish(v[0], 1.5); }, {rand_array(s, 85, -2, 2)}));
  SUBCASE("prelu: one slope, a slope per channel") {
    auto xs = test::away_from_zero({2, 3, 2}, 86) - 0.6;
    CHECK(hessian_check([](const V& v) { return nd::prelu(v[0], v[1]) * v[0] * v[1]; }, {xs, rand_array({1}, 87)}));
    CHECK(hessian_check([](const V& v) { return nd::square(nd::prelu(v[0], v[1])); }, {xs, rand_array({3}, 88)}));
  }
  SUBCASE("elu does not overflow to NaN for a large x under create_graph") {
    auto x = nd::array<double>({800, -1}, {2});
    x.attach_grad();
    autograd::record rec;
    const auto g = autograd::grad(nd::sum(nd::elu(x)), {x}, {.create_graph = true})[0];
    CHECK(g.at(0) == 1);
    CHECK(g.at(1) == doctest::Approx(std::exp(-1.0)));
  }
}

TEST_CASE("grad: second derivatives of softmax_cross_entropy, dropout and embedding match finite differences (double)") {
  const auto label = nd::array<double>({2, 0, 3}, {3});
  SUBCASE("softmax_cross_entropy, of a leaf and of an op's output (the logits' history)") {
    CHECK(hessian_check([&](const V& v) { return nd::softmax_cross_entropy(v[0], label); },
                        {rand_array({3, 4}, 89, -2, 2)}));
    CHECK(hessian_check([&](const V& v) { return nd::softmax_cross_entropy(v[0] * v[1], label); },
                        {rand_array({3, 4}, 90, -2, 2), rand_array({4}, 91, 0.5, 2)}));
  }
  SUBCASE("dropout (the same mask every evaluation)") {
    CHECK(hessian_check([](const V& v) {
      random::Generator gen(5);
      return nd::square(nd::dropout(v[0], 0.4, &gen)) * v[0];
    }, {rand_array({3, 4}, 92)}));
  }
  SUBCASE("embedding, an index used twice; third derivative") {
    const auto idx = nd::array<double>({1, 3, 1, 0}, {2, 2});
    CHECK(hessian_check([&](const V& v) { return nd::square(nd::embedding(idx, v[0])) * v[1]; },
                        {rand_array({4, 3}, 93), rand_array({2, 2, 3}, 94)}));
    CHECK(hessian_check([&](const V& v) {
      autograd::record rec;
      const auto e = nd::embedding(idx, v[0]);
      return autograd::grad(nd::sum(e * e * e), v, {.create_graph = true})[0];
    }, {rand_array({4, 3}, 95)}));
  }
}

namespace {
/// A small CNN's penalized loss, as scripts/make_autograd_references.py writes it (case
/// "cnn_gradient_penalty"): h = maxpool2x2(relu(conv(x, Wc, bc, pad 1))), batch_norm (train mode),
/// out = fc(h, Wf, bf), loss = sum of softmax cross-entropy, g = dloss/dx (recorded),
/// total = loss + lambda * sum(g^2).  v = {x, Wc, bc, gamma, beta, Wf, bf}.
Penalized penalized_cnn(const V& v, const NDArray<double>& label, double lambda) {
  autograd::record rec;
  auto h = nd::convolution_relu(v[0], v[1], v[2], {.pad = {1, 1}});
  h = nd::pooling(h, {.kernel = {2, 2}, .stride = {2, 2}});
  const std::size_t c = v[3].size();
  h = nd::batch_norm(h, v[3], v[4], NDArray<double>(Shape{c}).fill(0.0), NDArray<double>(Shape{c}).fill(1.0));
  Penalized p;
  p.loss = nd::sum(nd::softmax_cross_entropy(nd::fully_connected(h, v[5], v[6]), label));
  p.dx = autograd::grad(p.loss, {v[0]}, {.create_graph = true})[0];
  p.total = p.loss + nd::sum(p.dx * p.dx) * lambda;
  return p;
}
const char* const cnn_names[] = {"x", "Wc", "bc", "gamma", "beta", "Wf", "bf"};
}  // namespace

TEST_CASE("grad: a gradient penalty through a small CNN matches PyTorch's (double)") {
  using test::reference_array;
  const auto c = test::reference_cases("autograd.json", "case", "cnn_gradient_penalty").at(0);
  const auto& in = c.at("inputs");
  const auto& out = c.at("outputs");
  V v;
  for (const char* name : cnn_names) v.push_back(reference_array<double>(in.at(name)));
  for (auto& a : v) a.attach_grad();
  const auto label = reference_array<double>(in.at("label"));
  const double lambda = reference_array<double>(in.at("lambda")).at(0);
  const Penalized p = penalized_cnn(v, label, lambda);
  p.total.backward();
  test::check_reference_close(p.loss.reshape({1}), out.at("loss"), "loss", 1e-12, 1e-14);
  test::check_reference_close(p.dx, out.at("dx"), "dloss/dx", 1e-10, 1e-13);
  test::check_reference_close(p.total.reshape({1}), out.at("total"), "total", 1e-12, 1e-14);
  for (std::size_t i = 0; i < v.size(); ++i)
    test::check_reference_close(v[i].grad(), out.at(std::string("dtotal_d") + cnn_names[i]), cnn_names[i], 1e-9, 1e-12);
  SUBCASE("and finite differences of the penalized loss") {
    V w;
    for (const auto& a : v) w.push_back(a.detach().copy());
    CHECK(test::gradcheck([&](const V& u) { return penalized_cnn(u, label, lambda).total; }, w, 1e-6, 1e-5, 1e-7));
  }
}

TEST_CASE("grad: the CNN's gradient penalty through nn blocks (Conv2D, MaxPool2D, BatchNorm, Dense, loss)") {
  const auto c = test::reference_cases("autograd.json", "case", "cnn_gradient_penalty").at(0);
  const auto& in = c.at("inputs");
  const auto& out = c.at("outputs");
  nn::BasicSequential<double> net;
  net.add(nn::BasicConv2D<double>{4, 3, {.padding = 1, .activation = "relu"}}, nn::BasicMaxPool2D<double>{2},
          nn::BasicBatchNorm<double>{}, nn::BasicDense<double>{5});
  net.initialize();
  auto x = test::reference_array<double>(in.at("x"));
  const auto label = test::reference_array<double>(in.at("label"));
  x.attach_grad();
  net(x);  // the deferred shapes
  const auto params = net.collect_params_with_prefix();
  const std::vector<std::pair<std::string, const char*>> names{
      {"0.weight", "Wc"}, {"0.bias", "bc"}, {"2.gamma", "gamma"}, {"2.beta", "beta"}, {"3.weight", "Wf"}, {"3.bias", "bf"}};
  for (const auto& entry : names) {
    const std::string& key = entry.first;  // a named variable: clang 14 cannot capture a binding
    const char* const ref = entry.second;
    auto it = std::find_if(params.begin(), params.end(), [&](const auto& p) { return p.first == key; });
    REQUIRE_MESSAGE(it != params.end(), key);
    it->second->set_data(test::reference_array<double>(in.at(ref)));
  }
  loss::BasicSoftmaxCrossEntropyLoss<double> sce;
  {
    autograd::record rec;
    const auto l = nd::sum(sce(net(x), label));
    const auto dx = autograd::grad(l, {x}, {.create_graph = true})[0];
    (l + nd::sum(dx * dx) * test::reference_array<double>(in.at("lambda")).at(0)).backward();
  }
  for (const auto& entry : names) {
    const std::string& key = entry.first;  // a named variable: clang 14 cannot capture a binding
    const char* const ref = entry.second;
    auto it = std::find_if(params.begin(), params.end(), [&](const auto& p) { return p.first == key; });
    test::check_reference_close(it->second->grad(), out.at(std::string("dtotal_d") + ref), key, 1e-9, 1e-12);
  }
  test::check_reference_close(x.grad(), out.at("dtotal_dx"), "x", 1e-9, 1e-12);
}

TEST_CASE("grad: second and third derivatives of convolution3d and pad match finite differences (double)") {
  auto sq = [](const NDArray<double>& t) { return t * t; };
  SUBCASE("convolution3d: stride, pad, groups") {
    const nd::Conv3DOptions opt{.stride = {1, 2, 1}, .pad = {1, 0, 1}, .num_group = 2};
    const V in{rand_array({1, 2, 3, 4, 3}, 100), rand_array({2, 1, 2, 2, 2}, 101), rand_array({2}, 102)};
    const auto conv = [&](const V& v) { return nd::convolution3d(v[0], v[1], v[2], opt); };
    CHECK(hessian_check([&](const V& v) { return nd::tanh(conv(v)); }, in));
    CHECK(hessian_check([&](const V& v) {
      autograd::record rec;
      return autograd::grad(nd::sum(sq(conv(v)) * conv(v)), v, {.create_graph = true})[1];
    }, in));
  }
  SUBCASE("pad: constant, edge, reflect") {
    for (const char* mode : {"constant", "edge", "reflect"}) {
      CAPTURE(mode);
      CHECK(hessian_check([&](const V& v) { return sq(nd::pad(v[0], mode, {1, 0, 2, 1}, 0.5)) * nd::pad(v[0], mode, {1, 0, 2, 1}); },
                          {rand_array({2, 3}, 103)}));
      CHECK(hessian_check([&](const V& v) {
        autograd::record rec;
        const auto y = nd::pad(v[0], mode, {0, 1, 1, 2});
        return autograd::grad(nd::sum(y * y * y), v, {.create_graph = true})[0];
      }, {rand_array({2, 3}, 104)}));
    }
  }
}

}  // TEST_SUITE
