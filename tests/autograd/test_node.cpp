// SPDX-License-Identifier: Apache-2.0
#include <gluino/autograd/node.hpp>

#include <doctest/doctest.h>

#include <cmath>
#include <cstddef>

#include <gluino/autograd/engine.hpp>
#include <gluino/nd/creation.hpp>
#include <gluino/nd/elementwise.hpp>

using namespace gluino;

namespace {
// Long enough that a recursive destruction overflows the default 8 MiB stack in a Release
// build; shorter under AddressSanitizer, whose frames are larger (and whose run is slower).
#if defined(__SANITIZE_ADDRESS__)
constexpr std::size_t chain_length = 200'000;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr std::size_t chain_length = 200'000;
#else
constexpr std::size_t chain_length = 1'000'000;
#endif
#else
constexpr std::size_t chain_length = 1'000'000;
#endif
}  // namespace

TEST_SUITE("autograd/node") {
TEST_CASE("a graph of a long chain of ops is freed without recursion") {
  auto x = nd::array<double>({1.0});
  x.attach_grad();
  {
    autograd::record rec;
    NDArray<double> y = x;
    for (std::size_t i = 0; i < chain_length; ++i) y = y * 1.0001;  // each op saves its input
    CHECK(y.impl()->grad_fn != nullptr);
  }  // y, and with it the whole graph, is dropped here
  CHECK(x.grad().asscalar() == 0.0);
}

TEST_CASE("backward over a long chain of ops, then the graph is freed") {
  auto x = nd::array<double>({2.0});
  x.attach_grad();
  NDArray<double> y = x;
  {
    autograd::record rec;
    for (std::size_t i = 0; i < chain_length; ++i) y = y + x;
  }
  y.backward();
  CHECK(x.grad().asscalar() == double(chain_length + 1));
  CHECK(y.asscalar() == 2.0 * double(chain_length + 1));
  y = NDArray<double>();
}

TEST_CASE("a long chain kept by retain_graph is freed too, and shared nodes survive their consumers") {
  auto x = nd::array<double>({1.0});
  x.attach_grad();
  NDArray<double> mid, y;
  {
    autograd::record rec;
    mid = nd::exp(x);
    y = mid;
    for (std::size_t i = 0; i < chain_length / 10; ++i) y = y * 1.0;
  }
  y.backward(true);
  CHECK(x.grad().asscalar() == doctest::Approx(std::exp(1.0)));
  y = NDArray<double>();  // frees the chain but not mid's node, which mid still holds
  REQUIRE(mid.impl()->grad_fn != nullptr);
  mid.backward();
  CHECK(x.grad().asscalar() == doctest::Approx(std::exp(1.0)));
}
}
