// SPDX-License-Identifier: Apache-2.0
#include <gluino/nd/conv_pool.hpp>

#include <doctest/doctest.h>

#include <gluino/nd.hpp>  // NDArray with all its methods and ops
#include <gluino/autograd/grad.hpp>
#include <gluino/kernels/conv2d_lanes.hpp>
#include "support/gradcheck.hpp"

#include <cstddef>
#include <vector>

using namespace gluino;
using test::gradcheck;
using test::rand_array;
using Args = std::vector<NDArray<double>>;

namespace conv_pool_test {
struct Layer {
  nd::ConvOptions conv;
  nd::PoolOptions pool;
  bool relu;
};

// The unfused pair the op stands for.
template <class T>
NDArray<T> unfused(const NDArray<T>& x, const NDArray<T>& w, const NDArray<T>& b, const Layer& l) {
  return nd::pooling(l.relu ? nd::convolution_relu(x, w, b, l.conv) : nd::convolution(x, w, b, l.conv), l.pool);
}

TEST_SUITE("nd/conv_pool") {
TEST_CASE("convolution_max_pool: the values and gradients of pooling(convolution) and their second order") {
  const Layer layers[] = {
      {{}, {.kernel = {2, 2}, .stride = {2, 2}}, true},
      {{}, {.kernel = {2, 2}, .stride = {2, 2}}, false},
      {{.stride = {2, 2}, .pad = {1, 1}}, {.kernel = {3, 3}, .stride = {2, 2}, .pad = {1, 1}}, true},
      {{.pad = {1, 1}, .num_group = 2},
       {.kernel = {2, 2}, .stride = {2, 2}, .convention = nd::pooling_convention::full},
       true},
      // Dilation and unequal strides in the convolution; a padded ceil-mode pool whose last
      // windows end past the padded input.
      {{.stride = {1, 2}, .dilate = {2, 1}, .pad = {1, 0}},
       {.kernel = {3, 2}, .stride = {2, 1}, .pad = {1, 1}, .convention = nd::pooling_convention::full},
       false},
  };
  for (const Layer& l : layers) {
    CAPTURE(l.relu);
    CAPTURE(l.conv.stride[0]);
    CAPTURE(l.conv.num_group);
    const NDArray<double> x = rand_array({3, 2, 9, 7}, 21), w = rand_array({4, 2 / l.conv.num_group, 3, 3}, 22),
                          b = rand_array({4}, 23);
    auto f = [&](const Args& in) { return nd::convolution_max_pool(in[0], in[1], in[2], l.conv, l.pool, l.relu); };
    CHECK(gradcheck(f, Args{x, w, b}));
    // The same values and gradients as the unfused pair.
    Args a{x.copy(), w.copy(), b.copy()}, u{x.copy(), w.copy(), b.copy()};
    for (auto& v : a) v.attach_grad();
    for (auto& v : u) v.attach_grad();
    NDArray<double> ya, yu;
    {
      autograd::record rec;
      ya = f(a);
      yu = unfused(u[0], u[1], u[2], l);
      ((ya * ya).sum() + (yu * yu).sum()).backward();
    }
    CHECK(ya.to_vector() == yu.to_vector());
    for (std::size_t i = 0; i < 3; ++i) {
      const auto ga = a[i].grad().to_vector(), gu = u[i].grad().to_vector();
      for (std::size_t k = 0; k < ga.size(); ++k) CHECK(ga[k] == doctest::Approx(gu[k]).epsilon(1e-12));
    }
    // Second order (create_graph): d/dw sum((dy/dx)^2) with y = sum(op^3), fused against unfused.
    auto second = [&](const Args& in, bool fused) {
      autograd::record rec;
      NDArray<double> y = fused ? f(in) : unfused(in[0], in[1], in[2], l);
      const NDArray<double> dx = autograd::grad((y * y * y).sum(), {in[0]}, {.create_graph = true})[0];
      return (dx * dx).sum();
    };
    Args c{x.copy(), w.copy(), b.copy()}, d{x.copy(), w.copy(), b.copy()};
    c[1].attach_grad(), d[1].attach_grad();
    c[0].attach_grad(), d[0].attach_grad();
    {
      autograd::record rec;
      (second(c, true) + second(d, false)).backward();
    }
    const auto gc = c[1].grad().to_vector(), gd = d[1].grad().to_vector();
    for (std::size_t k = 0; k < gc.size(); ++k) CHECK(gc[k] == doctest::Approx(gd[k]).epsilon(1e-10));
  }
}

TEST_CASE("convolution_max_pool: float on LeNet's layers, batches 8 and 21, equals the unfused pair (the lanes' dw, db within rounding)") {
  // Batch 21: a group of 16 images in the vector lanes and one of 5 (kernels/conv2d_lanes.hpp,
  // AVX-512 builds), with the arg-max positions the backward scatters to.
  for (int layer = 0; layer < 4; ++layer) {
    CAPTURE(layer);
    const std::size_t C = layer % 2 ? 20 : 1, H = layer % 2 ? 12 : 28, O = layer % 2 ? 50 : 20, k = layer % 2 ? 3 : 5;
    const std::size_t N = layer < 2 ? 8 : 21;
    auto x = nd::random::uniform<float>({N, C, H, H}, -1, 1), w = nd::random::uniform<float>({O, C, k, k}, -.3f, .3f),
         b = nd::random::uniform<float>({O}, -.1f, .1f);
    const Layer l{{}, {.kernel = {2, 2}, .stride = {2, 2}}, true};
    NDArray<float> xa = x.copy(), wa = w.copy(), ba = b.copy(), xu = x.copy(), wu = w.copy(), bu = b.copy();
    for (auto* v : {&xa, &wa, &ba, &xu, &wu, &bu}) v->attach_grad();
    NDArray<float> ya, yu;
    {
      autograd::record rec;
      ya = nd::convolution_max_pool(xa, wa, ba, l.conv, l.pool, true);
      yu = unfused(xu, wu, bu, l);
    }
    CHECK(ya.to_vector() == yu.to_vector());
    const NDArray<float> dy = nd::random::uniform<float>(ya.shape(), -1, 1);
    ya.backward(dy);
    yu.backward(dy);
    CHECK(xa.grad().to_vector() == xu.grad().to_vector());
    // The lanes' weight gradient sums each image's products, then the images: the unfused
    // pair's sums in another order (within float rounding); otherwise the same sums.
    const bool lanes = kernels::wide_bytes == 64 && N >= kernels::wide_lanes<float>;
    const auto gw = wa.grad().to_vector(), gwu = wu.grad().to_vector(), gb = ba.grad().to_vector(),
               gbu = bu.grad().to_vector();
    if (!lanes) {
      CHECK(gw == gwu);
      CHECK(gb == gbu);
    }
    for (std::size_t i = 0; i < gw.size(); ++i) CHECK(gw[i] == doctest::Approx(gwu[i]).epsilon(1e-4).scale(1));
    for (std::size_t i = 0; i < gb.size(); ++i) CHECK(gb[i] == doctest::Approx(gbu[i]).epsilon(1e-4).scale(1));
  }
}

TEST_CASE("convolution_max_pool: errors name the shapes; average pooling is refused") {
  const auto x = nd::zeros<float>({2, 3, 8, 8}), w = nd::zeros<float>({4, 3, 3, 3});
  CHECK_THROWS_WITH_AS(nd::convolution_max_pool(x, nd::zeros<float>({4, 2, 3, 3}), {}, {}, {}, false),
                       doctest::Contains("(2, 3, 8, 8)"), ShapeError);
  CHECK_THROWS_WITH_AS(nd::convolution_max_pool(x, w, {}, {}, {.type = nd::pool_type::avg}, false),
                       doctest::Contains("max pooling"), ValueError);
  CHECK_THROWS_WITH_AS(nd::convolution_max_pool(x, w, {}, {}, {.kernel = {9, 9}}, false),
                       doctest::Contains("(2, 4, 6, 6)"), ShapeError);
}
}
}  // namespace conv_pool_test
