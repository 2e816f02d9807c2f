// SPDX-License-Identifier: Apache-2.0
#include <gluino/autograd/hooks.hpp>

#include <doctest/doctest.h>

#include <stdexcept>
#include <string>
#include <vector>

#include <gluino/autograd/engine.hpp>
#include <gluino/nd/creation.hpp>
#include <gluino/nd/elementwise.hpp>
#include <gluino/nd/reduce.hpp>

using namespace gluino;

TEST_SUITE("autograd.hooks") {
  TEST_CASE("a gradient-ready hook sees the leaf's whole gradient, once per backward") {
    auto x = nd::array<double>({1.0, -2.0, 3.0});
    x.attach_grad();
    int calls = 0;
    std::vector<double> seen;
    auto hook = autograd::on_gradient_ready<double>(x, [&](const NDArray<double>& g) {
      ++calls;
      seen = g.to_vector();
    });
    NDArray<double> y;
    {
      autograd::record rec;
      y = (x * x + x * 3.0).sum();  // three paths into x: d/dx = 2x + 3
    }
    y.backward();
    CHECK(calls == 1);
    CHECK(seen == std::vector<double>{5.0, -1.0, 9.0});
    CHECK(x.grad().to_vector() == seen);
  }

  TEST_CASE("a lambda is registered without naming the element type, as the docs write it") {
    // on_gradient_ready(w, [](const NDArray<float>& g) {...}) did not compile: T was deduced from
    // the std::function parameter too, which a lambda is not; every call needed <double>.
    auto w = nd::array<double>({2.0, -1.0});
    w.attach_grad();
    std::vector<double> seen;
    auto hook = autograd::on_gradient_ready(w, [&](const NDArray<double>& g) { seen = g.to_vector(); });
    {
      autograd::record rec;
      (w * w).sum().backward();
    }
    CHECK(seen == std::vector<double>{4.0, -2.0});
  }

  TEST_CASE("a late layer's hook runs before backward reaches the layers below it") {
    // h = x * w1, out = sum(h * w2): backward finishes w2 before it has walked to w1.
    auto x = nd::array<double>({1.0, 2.0});
    auto w1 = nd::array<double>({3.0, 4.0});
    auto w2 = nd::array<double>({5.0, 6.0});
    w1.attach_grad();
    w2.attach_grad();
    std::vector<double> w1_grad_when_w2_ready, w2_grad;
    auto hook = autograd::on_gradient_ready<double>(w2, [&](const NDArray<double>& g) {
      w2_grad = g.to_vector();
      w1_grad_when_w2_ready = w1.grad().to_vector();
    });
    NDArray<double> out;
    {
      autograd::record rec;
      out = (x * w1 * w2).sum();
    }
    out.backward();
    CHECK(w2_grad == std::vector<double>{3.0, 8.0});                   // x * w1
    CHECK(w1_grad_when_w2_ready == std::vector<double>{0.0, 0.0});      // not written yet
    CHECK(w1.grad().to_vector() == std::vector<double>{5.0, 12.0});   // x * w2, afterwards
  }

  TEST_CASE("grad_req add: the hook sees the accumulated gradient") {
    auto w = nd::array<double>({2.0});
    w.attach_grad(GradReq::add);
    std::vector<double> seen;
    auto hook = autograd::on_gradient_ready<double>(w, [&](const NDArray<double>& g) { seen.push_back(g.data()[0]); });
    for (int i = 0; i < 2; ++i) {
      NDArray<double> y;
      {
        autograd::record rec;
        y = (w * w).sum();
      }
      y.backward();
    }
    CHECK(seen == std::vector<double>{4.0, 8.0});
  }

  TEST_CASE("a head that is itself a leaf calls its hooks") {
    auto w = nd::array<double>({2.0, 3.0});
    w.attach_grad();
    int calls = 0;
    auto hook = autograd::on_gradient_ready<double>(w, [&](const NDArray<double>&) { ++calls; });
    w.backward();
    CHECK(calls == 1);
    CHECK(w.grad().to_vector() == std::vector<double>{1.0, 1.0});
  }

  TEST_CASE("hooks run in registration order and stop when their handle goes") {
    auto w = nd::array<double>({1.0});
    w.attach_grad();
    std::string order;
    auto run = [&] {
      NDArray<double> y;
      {
        autograd::record rec;
        y = (w * 2.0).sum();
      }
      y.backward();
    };
    {
      auto a = autograd::on_gradient_ready<double>(w, [&](const NDArray<double>&) { order += 'a'; });
      auto b = autograd::on_gradient_ready<double>(w, [&](const NDArray<double>&) { order += 'b'; });
      run();
      b.remove();
      run();
      autograd::GradHookHandle moved = std::move(a);
      run();
    }
    run();
    CHECK(order == "abaa");
  }

  TEST_CASE("a hook's exception leaves backward") {
    auto w = nd::array<double>({1.0});
    w.attach_grad();
    auto hook = autograd::on_gradient_ready<double>(w, [](const NDArray<double>&) { throw std::runtime_error("stop"); });
    NDArray<double> y;
    {
      autograd::record rec;
      y = (w * 2.0).sum();
    }
    CHECK_THROWS_WITH_AS(y.backward(), "stop", std::runtime_error);
  }

  TEST_CASE("a hook needs an array with a gradient attached") {
    auto w = nd::array<double>({1.0});
    CHECK_THROWS_WITH_AS((void)autograd::on_gradient_ready<double>(w, [](const NDArray<double>&) {}),
                         doctest::Contains("has no gradient attached"), StateError);
    w.attach_grad();
    CHECK_THROWS_AS((void)autograd::on_gradient_ready<double>(w, nullptr), ValueError);
  }
}
