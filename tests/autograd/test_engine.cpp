// SPDX-License-Identifier: Apache-2.0
#include <gluino/autograd/engine.hpp>

#include <doctest/doctest.h>

#include <cmath>
#include <string>
#include <vector>

#include <gluino/nd/creation.hpp>
#include <gluino/nd/elementwise.hpp>
#include <gluino/nd/linalg.hpp>
#include <gluino/nd/reduce.hpp>
#include <gluino/nd/shape_ops.hpp>
#include <gluino/optim/sgd.hpp>
#include "support/gradcheck.hpp"

using namespace gluino;
using test::gradcheck;
using test::rand_array;
using V = std::vector<NDArray<double>>;
using D = std::vector<double>;

namespace {
/// y = x * w (+ b when defined): records which inputs apply() said need a gradient.
struct ScaleShift : autograd::OpBase {
  static constexpr const char* name = "scale_shift";
  std::vector<bool>* seen = nullptr;
  NDArray<double> x, w;
  NDArray<double> forward(const NDArray<double>& in, const NDArray<double>& win, const NDArray<double>& b) {
    if (seen) *seen = {needs_grad(0), needs_grad(1), needs_grad(2), recording()};
    NDArray<double> y(in.shape());
    const double shift = b.defined() ? b.data()[0] : 0.0;
    for (std::size_t i = 0; i < y.size(); ++i) y.data()[i] = in.data()[i] * win.data()[0] + shift;
    if (recording()) x = in, w = win;
    return y;
  }
  std::vector<NDArray<double>> backward(const NDArray<double>& dy) {
    NDArray<double> dx, dw, db;
    if (needs_grad(0)) {
      dx = NDArray<double>(x.shape());
      for (std::size_t i = 0; i < dx.size(); ++i) dx.data()[i] = dy.data()[i] * w.data()[0];
    }
    if (needs_grad(1)) {
      dw = nd::zeros<double>({1});
      for (std::size_t i = 0; i < dy.size(); ++i) dw.data()[0] += dy.data()[i] * x.data()[i];
    }
    if (needs_grad(2)) {
      db = nd::zeros<double>({1});
      for (std::size_t i = 0; i < dy.size(); ++i) db.data()[0] += dy.data()[i];
    }
    return {dx, dw, db};
  }
};
NDArray<double> scale_shift(const NDArray<double>& x, const NDArray<double>& w, const NDArray<double>& b,
                            std::vector<bool>* seen = nullptr) {
  ScaleShift op;
  op.seen = seen;
  return autograd::apply(std::move(op), x, w, b);
}

/// Identity forward, no gradient backward (an undefined gradient): MXNet's BlockGrad.
struct BlockGrad : autograd::OpBase {
  static constexpr const char* name = "block_grad";
  NDArray<double> forward(const NDArray<double>& x) { return x.copy(); }
  std::vector<NDArray<double>> backward(const NDArray<double>&) { return {NDArray<double>{}}; }
};
/// A broken op returning the wrong number of gradients.
struct TwoGrads : autograd::OpBase {
  static constexpr const char* name = "two_grads";
  NDArray<double> forward(const NDArray<double>& x) { return x.copy(); }
  std::vector<NDArray<double>> backward(const NDArray<double>& dy) { return {dy, dy}; }
};
/// A broken op returning a gradient of the wrong shape.
struct WrongShape : autograd::OpBase {
  static constexpr const char* name = "wrong_shape";
  NDArray<double> forward(const NDArray<double>& x) { return x.copy(); }
  std::vector<NDArray<double>> backward(const NDArray<double>&) { return {nd::zeros<double>({7})}; }
};

D grad_of(const NDArray<double>& x) { return x.grad().to_vector(); }
}  // namespace

TEST_SUITE("autograd/engine") {
TEST_CASE("attach_grad allocates a zero gradient; grad() before it is a StateError") {
  auto x = nd::array<double>({1, 2, 3});
  CHECK_THROWS_WITH_AS(x.grad(), doctest::Contains("attach_grad"), StateError);
  CHECK_THROWS_WITH_AS(x.grad(), doctest::Contains("(3,)"), StateError);
  x.attach_grad();
  CHECK(x.grad_req() == GradReq::write);
  CHECK(grad_of(x) == D{0, 0, 0});
  CHECK(x.grad().shape() == Shape{3});
}

TEST_CASE("grad_req write: a second backward overwrites") {
  auto x = nd::array<double>({1, 2, 3});
  x.attach_grad(GradReq::write);
  {
    autograd::record rec;
    (x * 2.0).backward();
  }
  CHECK(grad_of(x) == D{2, 2, 2});
  {
    autograd::record rec;
    (x * x).backward();
  }
  CHECK(grad_of(x) == D{2, 4, 6});
}

TEST_CASE("grad_req add: backward accumulates") {
  auto x = nd::array<double>({1, 2, 3});
  x.attach_grad(GradReq::add);
  CHECK(x.grad_req() == GradReq::add);
  for (int k = 0; k < 3; ++k) {
    autograd::record rec;
    (x * 2.0).backward();
  }
  CHECK(grad_of(x) == D{6, 6, 6});
  {
    autograd::record rec;
    (x * x).backward();
  }
  CHECK(grad_of(x) == D{8, 10, 12});
  x.attach_grad(GradReq::add);  // re-attaching zeroes the buffer
  CHECK(grad_of(x) == D{0, 0, 0});
}

TEST_CASE("grad_req null: no gradient, no graph") {
  auto x = nd::array<double>({1, 2});
  auto w = nd::array<double>({3, 4});
  x.attach_grad(GradReq::null);
  w.attach_grad();
  CHECK_THROWS_AS(x.grad(), StateError);
  {
    autograd::record rec;
    auto y = x * 5.0;
    CHECK(y.impl()->grad_fn == nullptr);  // nothing needs a gradient
    CHECK_THROWS_WITH_AS(y.backward(), doctest::Contains("(2,)"), StateError);
    (x * w).backward();
  }
  CHECK(grad_of(w) == D{1, 2});
  CHECK_THROWS_AS(x.grad(), StateError);
}

TEST_CASE("a variable used twice accumulates: d(x*x)/dx = 2x") {
  auto x = nd::array<double>({-1, 0.5, 3});
  x.attach_grad();
  {
    autograd::record rec;
    (x * x).backward();
  }
  CHECK(grad_of(x) == D{-2, 1, 6});
  {
    autograd::record rec;
    (x * x * x + x).backward();
  }
  CHECK(grad_of(x) == D{4, 1.75, 28});
}

TEST_CASE("a non-scalar head gets a head gradient of ones") {
  auto x = nd::array<double>({1, 2, 3, 4}, {2, 2});
  x.attach_grad();
  {
    autograd::record rec;
    nd::square(x).backward();
  }
  CHECK(grad_of(x) == D{2, 4, 6, 8});
}

TEST_CASE("an explicit head gradient, and its shape check") {
  auto x = nd::array<double>({1, 2, 3, 4}, {2, 2});
  x.attach_grad();
  NDArray<double> y;
  {
    autograd::record rec;
    y = nd::square(x);
  }
  y.backward(nd::array<double>({1, 0, -1, 0.5}, {2, 2}));
  CHECK(grad_of(x) == D{2, 0, -6, 4});
  auto z = (autograd::record{}, nd::square(x));
  CHECK_THROWS_WITH_AS(z.backward(nd::ones<double>({4})),
                       doctest::Contains("backward: head gradient shape (4,) differs from the head's shape (2, 2)"),
                       ShapeError);
}

TEST_CASE("retain_graph: backward twice; without it the second backward is a StateError") {
  auto x = nd::array<double>({1, 2});
  x.attach_grad(GradReq::add);
  NDArray<double> y;
  {
    autograd::record rec;
    y = nd::exp(x) * x;
  }
  y.backward(true);
  y.backward();
  for (std::size_t i = 0; i < 2; ++i) {
    const double v = x.to_vector()[i];
    CHECK(x.grad().data()[i] == doctest::Approx(2 * (std::exp(v) * v + std::exp(v))));
  }
  CHECK_THROWS_WITH_AS(y.backward(), doctest::Contains("retain_graph"), StateError);
  CHECK_THROWS_WITH_AS(y.backward(), doctest::Contains("backward:"), StateError);
}

TEST_CASE("backward on an array without a recorded graph is a StateError naming the shape") {
  auto x = nd::array<double>({1, 2, 3, 4, 5, 6}, {2, 3});
  x.attach_grad();
  auto y = x * 2.0;  // outside record
  CHECK_THROWS_WITH_AS(y.backward(), doctest::Contains("(2, 3)"), StateError);
  CHECK_THROWS_WITH_AS(y.backward(), doctest::Contains("autograd::record"), StateError);
  auto plain = nd::zeros<double>({4});  // no attach_grad at all
  CHECK_THROWS_WITH_AS((autograd::record{}, plain * 2.0).backward(), doctest::Contains("(4,)"), StateError);
  CHECK_THROWS_WITH_AS(NDArray<double>{}.backward(), doctest::Contains("empty"), StateError);
}

TEST_CASE("backward on a leaf itself writes the head gradient into its grad") {
  auto x = nd::array<double>({1, 2});
  x.attach_grad();
  x.backward();
  CHECK(grad_of(x) == D{1, 1});
  x.backward(nd::array<double>({3, 4}));
  CHECK(grad_of(x) == D{3, 4});
}

TEST_CASE("ops outside record, or under pause, build no graph") {
  auto x = nd::array<double>({1, 2});
  x.attach_grad();
  auto y = nd::exp(x) + x;
  CHECK(y.impl()->grad_fn == nullptr);
  autograd::record rec;
  auto r = nd::exp(x);
  CHECK(r.impl()->grad_fn != nullptr);
  {
    autograd::pause p;
    auto z = nd::exp(x) + x;
    CHECK(z.impl()->grad_fn == nullptr);
  }
  autograd::record predict{false};  // predict-mode recording still records
  CHECK(nd::exp(x).impl()->grad_fn != nullptr);
}

TEST_CASE("apply: needs_grad per input, undefined inputs, recording() only when needed") {
  auto x = nd::array<double>({1, 2, 3});
  auto w = nd::array<double>({2});
  auto b = nd::array<double>({0.5});
  std::vector<bool> seen;
  scale_shift(x, w, b, &seen);
  CHECK(seen == std::vector<bool>{false, false, false, false});
  x.attach_grad();
  {
    autograd::record rec;
    auto y = scale_shift(x, w, NDArray<double>{}, &seen);
    CHECK(seen == std::vector<bool>{true, false, false, true});
    CHECK(y.to_vector() == D{2, 4, 6});
    y.backward();
  }
  CHECK(grad_of(x) == D{2, 2, 2});
  w.attach_grad();
  b.attach_grad();
  {
    autograd::record rec;
    scale_shift(x, w, b, &seen).backward();
    CHECK(seen == std::vector<bool>{true, true, true, true});
  }
  CHECK(grad_of(w) == D{6});
  CHECK(grad_of(b) == D{3});
  auto ws = nd::array<double>({1.5}), bs = nd::array<double>({-0.25});
  CHECK(gradcheck([](const V& v) { return scale_shift(v[0], v[1], v[2]); }, {rand_array({2, 3}), ws, bs}));
}

TEST_CASE("a diamond: y = a*b + a") {
  auto a = nd::array<double>({1, 2, 3});
  auto b = nd::array<double>({4, 5, 6});
  a.attach_grad();
  b.attach_grad();
  {
    autograd::record rec;
    (a * b + a).backward();
  }
  CHECK(grad_of(a) == D{5, 6, 7});
  CHECK(grad_of(b) == D{1, 2, 3});
}

TEST_CASE("a shared intermediate reached by paths of different lengths") {
  // y = exp(x); out = ((2y + 1) * 3) + y  =>  d out/dx = 7 exp(x).
  auto x = nd::array<double>({0, 1});
  x.attach_grad();
  {
    autograd::record rec;
    auto y = nd::exp(x);
    auto w = (y * 2.0 + 1.0) * 3.0;
    (w + y).backward();
  }
  CHECK(x.grad().data()[0] == doctest::Approx(7.0));
  CHECK(x.grad().data()[1] == doctest::Approx(7.0 * std::exp(1.0)));
  CHECK(gradcheck([](const V& v) {
    auto y = nd::exp(v[0]);
    auto z = nd::sigmoid(y * v[1]);
    return z * y + nd::sum(z) - v[1] * y;
  }, {rand_array({2, 2}), rand_array({2, 2}, 9)}));
}

TEST_CASE("an op returning no gradient stops the flow on that path only") {
  auto x = nd::array<double>({0.5, 1});
  x.attach_grad();
  {
    autograd::record rec;
    auto z = nd::exp(x);
    auto blocked = autograd::apply(BlockGrad{}, z);
    (blocked * 3.0 + z).backward();
  }
  CHECK(x.grad().data()[0] == doctest::Approx(std::exp(0.5)));
  CHECK(x.grad().data()[1] == doctest::Approx(std::exp(1.0)));
  {
    autograd::record rec;  // only a blocked path: x gets a zero gradient
    (autograd::apply(BlockGrad{}, nd::exp(x)) * 3.0).backward();
  }
  CHECK(grad_of(x) == D{0, 0});
}

TEST_CASE("an op's wrong gradient count or shape is reported with its name") {
  auto x = nd::array<double>({1, 2});
  x.attach_grad();
  {
    autograd::record rec;
    auto y = autograd::apply(TwoGrads{}, x);
    CHECK_THROWS_WITH_AS(y.backward(), doctest::Contains("'two_grads' returned 2 gradients for 1 inputs"), StateError);
  }
  {
    autograd::record rec;
    auto y = autograd::apply(WrongShape{}, x);
    CHECK_THROWS_WITH_AS(y.backward(), doctest::Contains("'wrong_shape' gave a gradient of shape (7,) for input 0 of shape (2,)"),
                         ShapeError);
    auto z = autograd::apply(WrongShape{}, nd::exp(x));
    CHECK_THROWS_WITH_AS(z.backward(), doctest::Contains("wrong_shape"), ShapeError);
  }
}

TEST_CASE("gradients flow through views: reshape, slice, operator[]") {
  auto x = nd::array<double>({1, 2, 3, 4, 5, 6}, {2, 3});
  x.attach_grad();
  {
    autograd::record rec;
    auto y = x.reshape({3, 2});
    (y[1] * 2.0).backward();  // row 1 of the (3, 2) view: x's elements 2 and 3
  }
  CHECK(grad_of(x) == D{0, 0, 2, 2, 0, 0});
  {
    autograd::record rec;
    (x.slice(1, 2) * x.slice(0, 1)).backward();
  }
  CHECK(grad_of(x) == D{4, 5, 6, 1, 2, 3});
  {
    autograd::record rec;
    nd::sum(x.reshape({-1}).reshape({3, 2}).slice(0, 2)).backward();
  }
  CHECK(grad_of(x) == D{1, 1, 1, 1, 0, 0});
  CHECK(gradcheck([](const V& v) { return nd::square(v[0].reshape({3, 2})[2]) * v[0][0].reshape({3, 1}); },
                  {rand_array({2, 3})}));
}

TEST_CASE("attach_grad on an intermediate makes it a leaf and cuts its history") {
  auto x = nd::array<double>({1, 2});
  x.attach_grad();
  autograd::record rec;
  auto y = x * 3.0;
  y.attach_grad();
  CHECK(y.impl()->grad_fn == nullptr);
  (y * y).backward();
  CHECK(grad_of(y) == D{6, 12});
  CHECK(grad_of(x) == D{0, 0});
}

TEST_CASE("detach() gives the same data without history") {
  auto x = nd::array<double>({1, 2});
  x.attach_grad();
  autograd::record rec;
  auto y = nd::exp(x);
  auto d = y.detach();
  CHECK(d.impl()->grad_fn == nullptr);
  CHECK(d.data() == y.data());
  (d * x).backward();
  CHECK(x.grad().data()[0] == doctest::Approx(std::exp(1.0)));
}

TEST_CASE("apply_n: more than 64 inputs is a ValueError") {
  std::vector<NDArray<double>> xs(65, nd::zeros<double>({1}));
  CHECK_THROWS_WITH_AS(nd::concat(xs, 0), doctest::Contains("concat: at most 64 inputs, got 65"), ValueError);
}
TEST_CASE("in-place change of a saved input after forward: backward throws instead of a wrong gradient") {
  auto x = nd::array<double>({3.0});
  x.attach_grad();
  NDArray<double> y;
  {
    autograd::record rec;
    y = x * x;
  }
  const auto v = x.version();
  x.fill(100);  // without the check, backward would give 200 instead of 6
  CHECK(x.version() == v + 1);
  const std::string want = "backward: input 0 (shape (1,)) of 'multiply' was modified by an in-place operation after "
                           "it was recorded (version " + std::to_string(v) + ", now " + std::to_string(v + 1) + ")";
  CHECK_THROWS_WITH_AS(y.backward(), doctest::Contains(want.c_str()), StateError);
}

TEST_CASE("in-place change through assign, through a view, or of a saved output is detected too") {
  auto x = nd::array<double>({1.0, 2.0, 3.0, 4.0}, {2, 2});
  x.attach_grad();
  SUBCASE("assign") {
    autograd::record rec;
    auto y = nd::exp(x * 2.0);
    x.assign(nd::zeros<double>({2, 2}));
    CHECK_THROWS_WITH_AS(y.backward(), doctest::Contains("input 0 (shape (2, 2)) of 'multiply'"), StateError);
  }
  SUBCASE("a view shares the storage's version") {
    autograd::record rec;
    auto y = nd::square(x.reshape({4}));
    x.slice(1, 2).fill(0);  // another view of the same storage
    CHECK_THROWS_WITH_AS(y.backward(), doctest::Contains("input 0 (shape (4,)) of 'square'"), StateError);
  }
  SUBCASE("an op that saved its output") {
    autograd::record rec;
    auto y = nd::exp(x);
    y.fill(1);
    CHECK_THROWS_WITH_AS(y.backward(), doctest::Contains("the output (shape (2, 2)) of 'exp' was modified"),
                         StateError);
  }
}

TEST_CASE("a weight updated by an optimizer between forward and backward: backward throws") {
  auto x = nd::array<float>({1.f, 2.f});
  auto w = nd::array<float>({0.5f, -1.f});
  w.attach_grad();
  NDArray<float> loss;
  {
    autograd::record rec;
    loss = (x * w).sum();
  }
  optim::SGD sgd({.learning_rate = 0.1});
  sgd.update(0, w, nd::array<float>({1.f, 1.f}));
  CHECK_THROWS_WITH_AS(loss.backward(), doctest::Contains("input 1 (shape (2,)) of 'multiply' was modified"),
                       StateError);
}

TEST_CASE("in-place changes that backward does not read are allowed (no false positives)") {
  auto x = nd::array<double>({3.0});
  x.attach_grad();
  {  // add does not save its inputs; relu and exp save their output only
    autograd::record rec;
    auto y = x + nd::relu(x) + nd::exp(x);
    x.fill(-5);
    y.backward();
  }
  CHECK(x.grad().asscalar() == doctest::Approx(1.0 + 1.0 + std::exp(3.0)));
  {  // an op that saves a copy of its input (BlockGrad copies) is not affected
    autograd::record rec;
    auto y = autograd::apply(BlockGrad{}, x) + x;
    x.fill(7);
    CHECK_NOTHROW(y.backward());
  }
  {  // the usual loop: forward, backward, then the update; the next forward records anew
    auto w = nd::array<float>({0.5f});
    w.attach_grad();
    optim::SGD sgd({.learning_rate = 0.1});
    for (int step = 0; step < 3; ++step) {
      NDArray<float> loss;
      {
        autograd::record rec;
        loss = (w * w * 2.f).sum();
      }
      loss.backward();
      sgd.update(0, w, w.grad());
    }
    CHECK(w.asscalar() == doctest::Approx(0.5f * std::pow(1.f - 0.4f, 3.f)));
  }
  {  // changes before recording, and to a copy, do not count
    auto a = nd::array<double>({2.0});
    a.attach_grad();
    a.fill(4);
    autograd::record rec;
    auto y = a * a;
    a.copy().fill(0);
    y.backward();
    CHECK(a.grad().asscalar() == 8.0);
  }
}
TEST_CASE("backward never writes a gradient into a buffer the graph still reads") {
  // fully_connected writes a leaf's gradient straight into its grad() buffer (dest) when the leaf
  // is used once; that buffer must not be data an op saved, nor the head gradient.
  const auto x = nd::array<double>({1, 2, 3, 4}, {2, 2});
  SUBCASE("a leaf's gradient used as data by another op") {
    auto w1 = nd::array<double>({1, 0, 0, 1}, {2, 2}), w2 = nd::array<double>({1, 1, 1, 1}, {2, 2});
    w1.attach_grad();
    w2.attach_grad();
    w1.grad().fill(10.0);  // last step's gradient, a constant factor of this step's loss
    autograd::record rec;
    auto y = nd::sum(w1.grad() * w2) + nd::sum(nd::fully_connected(x, w1));
    y.backward(/*retain_graph=*/true);
    CHECK(w2.grad().to_vector() == D{10, 10, 10, 10});  // the old w1.grad(), not the new one
    CHECK(w1.grad().to_vector() == D{4, 6, 4, 6});      // ones^T x
    // w1.grad() changed after the multiply saved it: a second backward would read new values.
    CHECK_THROWS_WITH_AS(y.backward(), doctest::Contains("'multiply' was modified by an in-place operation"),
                         StateError);
  }
  SUBCASE("a leaf's gradient buffer passed as the head gradient") {
    auto w = nd::array<double>({1, 0, 0, 1}, {2, 2});
    w.attach_grad();
    w.grad().fill(1.0);
    {
      autograd::record rec;
      nd::fully_connected(x, w).backward(w.grad());
    }
    CHECK(w.grad().to_vector() == D{4, 6, 4, 6});  // dy^T x with dy = ones
    auto x2 = x.copy(), w3 = nd::array<double>({1, 2, 3, 4}, {2, 2});
    x2.attach_grad();
    x2.grad().fill(1.0);
    {
      autograd::record rec;
      nd::fully_connected(x2, w3).backward(x2.grad());
    }
    CHECK(x2.grad().to_vector() == D{4, 6, 4, 6});  // dy W with dy = ones
  }
}
TEST_CASE("an in-place change found by backward leaves every gradient as it was (no half-done backward)") {
  // fully_connected writes x's gradient straight into x.grad() (dest); the multiply below it,
  // walked later, finds its saved v changed.  backward must throw before writing anything.
  auto x = nd::array<double>({1, 2, 3, 4}, {2, 2});
  auto w = nd::array<double>({1, 0, 0, 1}, {2, 2}), v = nd::array<double>({2, 2, 2, 2}, {2, 2});
  x.attach_grad();
  w.attach_grad();
  x.grad().fill(5.0);
  w.grad().fill(5.0);
  NDArray<double> y;
  {
    autograd::record rec;
    y = nd::sum(nd::fully_connected(x, w * v));
  }
  v.fill(3.0);
  CHECK_THROWS_WITH_AS(y.backward(), doctest::Contains("input 1 (shape (2, 2)) of 'multiply' was modified"),
                       StateError);
  CHECK(x.grad().to_vector() == D{5, 5, 5, 5});
  CHECK(w.grad().to_vector() == D{5, 5, 5, 5});
  CHECK_THROWS_WITH_AS(y.backward(), doctest::Contains("'multiply' was modified"), StateError);  // nothing freed
}
TEST_CASE("under detect_anomaly, an AnomalyError in backward leaves every gradient as it was and the graph whole") {
  // fully_connected wrote x's and w's gradients straight into grad() (dest), and its node was
  // freed, before sqrt's backward, walked later, made the infinity: backward() threw with x and
  // w holding new gradients and v its old one, and a second call said the graph was freed by an
  // earlier backward().  A hook on w ran before the error too.
  auto x = nd::array<double>({1, 2, 3, 4}, {2, 2});
  auto w = nd::array<double>({1, 0, 0, 1}, {2, 2}), v = nd::array<double>({0, 1}, {2});
  for (auto* a : {&x, &w, &v}) {
    a->attach_grad();
    a->grad().fill(5.0);
  }
  int hook_calls = 0;
  const auto hook = autograd::on_gradient_ready(w, [&](const NDArray<double>&) { ++hook_calls; });
  NDArray<double> y;
  {
    autograd::record rec;
    y = nd::sum(nd::sqrt(v)) + nd::sum(nd::fully_connected(x, w));  // d sqrt(v)/dv = inf at 0
  }
  {
    autograd::detect_anomaly guard;
    for (int k = 0; k < 2; ++k) {  // the second call finds the same error: nothing was freed
      CAPTURE(k);
      CHECK_THROWS_WITH_AS(y.backward(), doctest::Contains("backward of 'sqrt' produced a non-finite gradient"),
                           AnomalyError);
      CHECK(x.grad().to_vector() == D{5, 5, 5, 5});
      CHECK(w.grad().to_vector() == D{5, 5, 5, 5});
      CHECK(v.grad().to_vector() == D{5, 5});
      CHECK(hook_calls == 0);
    }
  }
  // Without the check the same graph gives every gradient (the infinity included), once.
  y.backward();
  CHECK(x.grad().to_vector() == D{1, 1, 1, 1});
  CHECK(w.grad().to_vector() == D{4, 6, 4, 6});
  CHECK(std::isinf(v.grad().data()[0]));
  CHECK(v.grad().data()[1] == doctest::Approx(0.5));
  CHECK(hook_calls == 1);
  CHECK_THROWS_WITH_AS(y.backward(), doctest::Contains("was freed by an earlier backward()"), StateError);
}

TEST_CASE("under detect_anomaly, a backward that succeeds writes the gradients, runs the hooks and frees the graph") {
  auto x = nd::array<double>({1, 2, 3, 4}, {2, 2});
  auto w = nd::array<double>({1, 0, 0, 1}, {2, 2});
  x.attach_grad();
  w.attach_grad(GradReq::add);
  w.grad().fill(1.0);
  std::vector<D> seen;
  const auto hook = autograd::on_gradient_ready(w, [&](const NDArray<double>& g) { seen.push_back(g.to_vector()); });
  autograd::detect_anomaly guard;
  NDArray<double> y;
  {
    autograd::record rec;
    y = nd::sum(nd::fully_connected(x, w) * 2.0);
  }
  y.backward();
  CHECK(x.grad().to_vector() == D{2, 2, 2, 2});
  CHECK(w.grad().to_vector() == D{9, 13, 9, 13});  // 1 + 2 * column sums of x
  REQUIRE(seen.size() == 1);
  CHECK(seen[0] == D{9, 13, 9, 13});
  CHECK_THROWS_WITH_AS(y.backward(), doctest::Contains("was freed by an earlier backward()"), StateError);
}
}
