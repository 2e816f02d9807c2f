// SPDX-License-Identifier: Apache-2.0
#include <gluino/nd/conv_grad.hpp>

#include <doctest/doctest.h>

#include <gluino/autograd/grad.hpp>
#include <gluino/nd/conv.hpp>
#include <gluino/nd/deconvolution.hpp>
#include <gluino/nd/elementwise.hpp>
#include <gluino/nd/reduce.hpp>
#include "support/gradcheck.hpp"
#include "support/hessian_check.hpp"

#include <vector>

using namespace gluino;
using test::hessian_check;
using test::rand_array;
using V = std::vector<NDArray<double>>;

namespace {
/// dL/d(inputs) of L = sum(tanh(f(inputs)) * c) for a fixed c, recorded (create_graph): a
/// function whose hessian_check is the third derivative of f's composition.
template <class F>
NDArray<double> recorded_grad(const F& f, const V& v, std::size_t which) {
  autograd::record rec;  // also when hessian_check evaluates it paused
  const NDArray<double> y = f(v);
  const NDArray<double> c = rand_array(y.shape(), 99, 0.5, 1.5);
  return autograd::grad(nd::sum(nd::tanh(y) * c), v, {.create_graph = true})[which];
}
}  // namespace

TEST_SUITE("nd/conv_grad") {

TEST_CASE("conv_grad: convolution's create_graph gradients match finite differences of its gradients (double)") {
  const auto conv = [](nd::ConvOptions opt, bool relu) {
    return [opt, relu](const V& v) {
      const auto y = relu ? nd::convolution_relu(v[0], v[1], v[2], opt) : nd::convolution(v[0], v[1], v[2], opt);
      return nd::tanh(y) * y;
    };
  };
  SUBCASE("stride 1, no padding") {
    CHECK(hessian_check(conv({}, false), {rand_array({2, 2, 5, 5}, 1), rand_array({3, 2, 3, 3}, 2), rand_array({3}, 3)}));
  }
  SUBCASE("stride 2, pad 1, dilation 2 (rows the stride drops: adj)") {
    CHECK(hessian_check(conv({.stride = {2, 2}, .dilate = {1, 2}, .pad = {1, 1}}, false),
                        {rand_array({2, 2, 6, 7}, 4), rand_array({2, 2, 3, 2}, 5), rand_array({2}, 6)}));
  }
  SUBCASE("groups, fused relu") {
    CHECK(hessian_check(conv({.pad = {1, 0}, .num_group = 2}, true),
                        {rand_array({1, 4, 4, 4}, 7), rand_array({4, 2, 3, 3}, 8), rand_array({4}, 9, 0.1, 0.5)}));
  }
  SUBCASE("depthwise (one group per channel: its own kernels)") {
    CHECK(hessian_check(conv({.pad = {1, 1}, .num_group = 3}, false),
                        {rand_array({2, 3, 4, 4}, 26), rand_array({3, 1, 3, 3}, 27), rand_array({3}, 28)}));
  }
  SUBCASE("no bias; only the input needs a gradient") {
    const auto w = rand_array({3, 2, 2, 2}, 10);
    CHECK(hessian_check([&](const V& v) { return nd::square(nd::convolution(v[0], w, NDArray<double>{})); },
                        {rand_array({2, 2, 4, 3}, 11)}));
  }
}

TEST_CASE("conv_grad: deconvolution's create_graph gradients match finite differences (double)") {
  const nd::DeconvOptions opt{.stride = {2, 1}, .dilate = {1, 1}, .pad = {1, 0}, .adj = {1, 0}, .num_group = 1};
  CHECK(hessian_check([&](const V& v) { return nd::tanh(nd::deconvolution(v[0], v[1], v[2], opt)); },
                      {rand_array({2, 3, 3, 3}, 12), rand_array({3, 2, 3, 2}, 13), rand_array({2}, 14)}));
  const nd::DeconvOptions grouped{.num_group = 2};
  CHECK(hessian_check([&](const V& v) { return nd::square(nd::deconvolution(v[0], v[1], NDArray<double>{}, grouped)); },
                      {rand_array({1, 4, 3, 3}, 15), rand_array({4, 1, 2, 2}, 16)}));
}

TEST_CASE("conv_grad: second derivatives with stride, dilation, padding and groups at once (double)") {
  // Strides that drop a padded row and column (the recorded input gradient needs adj), a dilation
  // on one axis only, two groups.
  const nd::ConvOptions opt{.stride = {2, 3}, .dilate = {2, 1}, .pad = {2, 1}, .num_group = 2};
  SUBCASE("convolution") {
    CHECK(hessian_check([&](const V& v) { return nd::tanh(nd::convolution(v[0], v[1], v[2], opt)); },
                        {rand_array({1, 4, 6, 7}, 31), rand_array({4, 2, 3, 2}, 32), rand_array({4}, 33)}));
  }
  SUBCASE("convolution_weight_grad: first order (an op of its own) and second") {
    const V in{rand_array({1, 4, 6, 7}, 34), rand_array({1, 4, 3, 3}, 35)};
    CHECK(test::gradcheck([&](const V& v) { return nd::convolution_weight_grad(v[0], v[1], {3, 2}, opt); }, in));
    CHECK(hessian_check([&](const V& v) { return nd::square(nd::convolution_weight_grad(v[0], v[1], {3, 2}, opt)); },
                        in));
  }
  SUBCASE("deconvolution with adj") {
    const nd::DeconvOptions d{.stride = {2, 3}, .dilate = {2, 1}, .pad = {1, 1}, .adj = {1, 2}, .num_group = 2};
    CHECK(hessian_check([&](const V& v) { return nd::tanh(nd::deconvolution(v[0], v[1], v[2], d)); },
                        {rand_array({1, 4, 3, 3}, 36), rand_array({4, 2, 3, 2}, 37), rand_array({4}, 38)}));
  }
}

TEST_CASE("conv_grad: convolution_weight_grad is convolution's weight gradient, differentiable twice (double)") {
  const nd::ConvOptions opt{.stride = {2, 1}, .pad = {1, 1}};
  auto x = rand_array({2, 2, 5, 4}, 17), w = rand_array({3, 2, 3, 2}, 18);
  const auto dy = rand_array({2, 3, 3, 5}, 19);
  w.attach_grad();
  {
    autograd::record rec;
    nd::sum(nd::convolution(x, w, NDArray<double>{}, opt) * dy).backward();
  }
  const auto dw = nd::convolution_weight_grad(x, dy, {3, 2}, opt);
  REQUIRE(dw.shape() == w.shape());
  for (std::size_t i = 0; i < dw.size(); ++i) CHECK(dw.data()[i] == doctest::Approx(w.grad().data()[i]).epsilon(1e-12));
  CHECK(test::gradcheck([&](const V& v) { return nd::convolution_weight_grad(v[0], v[1], {3, 2}, opt); }, {x, dy}));
  CHECK(hessian_check([&](const V& v) { return nd::square(nd::convolution_weight_grad(v[0], v[1], {3, 2}, opt)); },
                      {x, dy}));
}

TEST_CASE("conv_grad: third derivatives through convolution and deconvolution (double)") {
  const nd::ConvOptions opt{.stride = {2, 2}, .pad = {1, 1}};
  const auto conv = [&](const V& v) { return nd::convolution(v[0], v[1], v[2], opt); };
  const V in{rand_array({1, 2, 5, 5}, 20), rand_array({2, 2, 3, 3}, 21), rand_array({2}, 22)};
  CHECK(hessian_check([&](const V& v) { return recorded_grad(conv, v, 0); }, in));
  CHECK(hessian_check([&](const V& v) { return recorded_grad(conv, v, 1); }, in));
  const nd::DeconvOptions dopt{.stride = {2, 2}, .dilate = {1, 1}, .pad = {1, 1}, .adj = {1, 0}, .num_group = 1};
  const auto deconv = [&](const V& v) { return nd::deconvolution(v[0], v[1], v[2], dopt); };
  const V din{rand_array({1, 2, 3, 3}, 23), rand_array({2, 2, 3, 3}, 24), rand_array({2}, 25)};
  CHECK(hessian_check([&](const V& v) { return recorded_grad(deconv, v, 1); }, din));
}

TEST_CASE("conv_grad: convolution_weight_grad's errors name the shapes") {
  const auto x = NDArray<double>(Shape{2, 3, 5, 5}).fill(0.0);
  CHECK_THROWS_WITH_AS(nd::convolution_weight_grad(x, NDArray<double>(Shape{2, 4, 4, 4}).fill(0.0), {3, 3}),
                       "convolution_weight_grad: dy must have the convolution's output shape (2, 4, 3, 3) for x "
                       "(2, 3, 5, 5) and weight (4, 3, 3, 3), got (2, 4, 4, 4)",
                       ShapeError);
  CHECK_THROWS_WITH_AS(nd::convolution_weight_grad(x, NDArray<double>(Shape{2, 4, 3}).fill(0.0), {3, 3}),
                       "convolution_weight_grad: x and dy must be 4-D, got x (2, 3, 5, 5) and dy (2, 4, 3)", ShapeError);
  CHECK_THROWS_WITH_AS(nd::convolution_weight_grad(x, NDArray<double>(Shape{2, 4, 1, 1}).fill(0.0), {7, 7}),
                       doctest::Contains("larger than the padded input"), ShapeError);
  // The weight is checked by its shape, not allocated first: a kernel of 2^20 x 2^20 (2^40 weights
  // a filter) was a ValueError about the machine's memory, not about the kernel.
  const std::size_t huge = std::size_t(1) << 20;
  CHECK_THROWS_WITH_AS(nd::convolution_weight_grad(x, NDArray<double>(Shape{2, 4, 1, 1}).fill(0.0), {huge, huge}),
                       "convolution: kernel (dilated to 1048576x1048576) larger than the padded input (5x5): input "
                       "(2, 3, 5, 5) vs weight (4, 3, 1048576, 1048576)",
                       ShapeError);
}

}  // TEST_SUITE
