// SPDX-License-Identifier: Apache-2.0
#include <gluino/nd/conv3d.hpp>

#include <doctest/doctest.h>

#include <gluino/nd.hpp>  // NDArray with all its methods and ops
#include "support/conv_reference.hpp"
#include "support/gradcheck.hpp"

using namespace gluino;
using test::gradcheck;
using test::rand_array;
using V = std::vector<NDArray<double>>;

namespace {
// A copy made behind a call that is not inlined: what the op's body sees of options built by a
// caller.
[[gnu::noinline]] nd::Conv3DOptions passed_conv3d(const nd::Conv3DOptions& o) { return o; }
}  // namespace

TEST_SUITE("nd/conv3d") {
TEST_CASE("Conv3DOptions built from constants arrive intact (g++ 12.2 with AVX-512 miscompiled them unaligned)") {
  using A = std::array<std::size_t, 3>;
  const nd::Conv3DOptions d = passed_conv3d({});  // pad arrived as (1, 1, 0)
  CHECK((d.stride == A{1, 1, 1} && d.dilate == A{1, 1, 1} && d.pad == A{0, 0, 0} && d.num_group == 1));
  const nd::Conv3DOptions s = passed_conv3d({.stride = {2, 2, 2}, .dilate = {2, 2, 2}, .pad = {1, 0, 0}});
  CHECK((s.stride == A{2, 2, 2} && s.dilate == A{2, 2, 2} && s.pad == A{1, 0, 0} && s.num_group == 1));
}
TEST_CASE("convolution3d: output shape and a hand-computed case") {
  // a 2x2x2 kernel of ones over arange(27) as 3x3x3: each output sums a 2x2x2 cube
  const auto x = nd::arange<double>(27).reshape({1, 1, 3, 3, 3});
  const auto y = nd::convolution3d(x, nd::ones<double>({1, 1, 2, 2, 2}), nd::array<double>({1}));
  REQUIRE(y.shape() == Shape{1, 1, 2, 2, 2});
  // cube at (0, 0, 0): 0+1+3+4 + 9+10+12+13 = 52; each step in w adds 8, in h 24, in d 72
  CHECK(y.to_vector() == std::vector<double>{53, 61, 77, 85, 125, 133, 149, 157});
  // pad 1, stride 2: (3 + 2 - 2) / 2 + 1 = 2 per axis; the corner cube holds only x[0, 0, 0]
  const auto p = nd::convolution3d(x, nd::ones<double>({1, 1, 2, 2, 2}), {}, {.stride = {2, 2, 2}, .pad = {1, 1, 1}});
  CHECK(p.shape() == Shape{1, 1, 2, 2, 2});
  CHECK(p.to_vector()[0] == 0);
  CHECK(p.to_vector()[7] == 13 + 14 + 16 + 17 + 22 + 23 + 25 + 26);
  CHECK(nd::convolution3d(rand_array({2, 4, 7, 6, 5}), rand_array({6, 2, 3, 2, 3}), {},
                          {.stride = {2, 1, 1}, .dilate = {1, 2, 1}, .pad = {1, 0, 1}, .num_group = 2})
            .shape() == Shape{2, 6, 4, 4, 5});
}
TEST_CASE("convolution3d with depth 1 equals the 2-D convolution") {
  const auto x = rand_array({2, 4, 1, 6, 7}, 1), w = rand_array({6, 2, 1, 3, 2}, 2), b = rand_array({6}, 3);
  const auto y = nd::convolution3d(x, w, b, {.stride = {1, 2, 1}, .dilate = {1, 1, 2}, .pad = {0, 1, 1}, .num_group = 2});
  const auto ref = nd::convolution(x.reshape({2, 4, 6, 7}), w.reshape({6, 2, 3, 2}), b,
                                   {.stride = {2, 1}, .dilate = {1, 2}, .pad = {1, 1}, .num_group = 2});
  REQUIRE(y.shape() == Shape{2, 6, 1, ref.shape(2), ref.shape(3)});
  const auto a = y.to_vector(), r = ref.to_vector();
  for (std::size_t i = 0; i < a.size(); ++i) CHECK(a[i] == doctest::Approx(r[i]).epsilon(1e-12));
}
TEST_CASE("convolution3d: gradients of x, weight and bias match central differences (double)") {
  SUBCASE("plain") {
    CHECK(gradcheck([](const V& in) { return nd::convolution3d(in[0], in[1], in[2]); },
                    {rand_array({2, 2, 3, 4, 3}, 1), rand_array({3, 2, 2, 2, 2}, 2), rand_array({3}, 3)}));
  }
  SUBCASE("stride, pad, dilation, groups 2") {
    CHECK(gradcheck(
        [](const V& in) {
          return nd::convolution3d(in[0], in[1], in[2],
                                   {.stride = {2, 1, 2}, .dilate = {1, 2, 1}, .pad = {1, 1, 0}, .num_group = 2});
        },
        {rand_array({1, 4, 4, 4, 5}, 4), rand_array({4, 2, 2, 2, 3}, 5), rand_array({4}, 6)}));
  }
}
TEST_CASE("convolution3d: forward and gradients match PyTorch's conv3d") {
  test::check_conv_references("conv3d", [](const auto& in, const nlohmann::json& o) {
    const auto triple = [&](const char* k) { return o.at(k).get<std::array<std::size_t, 3>>(); };
    return nd::convolution3d(in[0], in[1], test::bias_of(in),
                             {.stride = triple("stride"), .dilate = triple("dilate"), .pad = triple("pad"),
                              .num_group = o.at("num_group")});
  });
}
TEST_CASE("convolution3d: errors name both shapes") {
  const auto x = nd::zeros<float>({1, 2, 4, 4, 4});
  CHECK_THROWS_WITH_AS(nd::convolution3d(nd::zeros<float>({1, 2, 4, 4}), nd::zeros<float>({3, 2, 2, 2, 2})),
                       "convolution3d: input must be 5-D (N, C, D, H, W), got (1, 2, 4, 4)", ShapeError);
  CHECK_THROWS_WITH_AS(nd::convolution3d(x, nd::zeros<float>({3, 1, 2, 2, 2})),
                       "convolution3d: weight expects 1 input channels (1 per group x 1 groups): input (1, 2, 4, 4, 4) "
                       "vs weight (3, 1, 2, 2, 2)",
                       ShapeError);
  CHECK_THROWS_WITH_AS(nd::convolution3d(x, nd::zeros<float>({3, 2, 5, 2, 2})),
                       "convolution3d: kernel (dilated to 5 along axis 2) larger than the padded input (4): input (1, "
                       "2, 4, 4, 4) vs weight (3, 2, 5, 2, 2)",
                       ShapeError);
  CHECK_THROWS_WITH_AS(nd::convolution3d(x, nd::zeros<float>({3, 2, 2, 2, 2}), {}, {.stride = {1, 0, 1}}),
                       "convolution3d: stride must be > 0, got (1, 0, 1): input (1, 2, 4, 4, 4) vs weight (3, 2, 2, 2, 2)",
                       ValueError);
  CHECK_THROWS_WITH_AS(nd::convolution3d(x, nd::zeros<float>({3, 2, 2, 2, 2}), nd::zeros<float>({2})),
                       "convolution3d: bias must have shape (3,) for weight (3, 2, 2, 2, 2), got (2,)", ShapeError);
}

TEST_CASE("convolution3d: a dilation whose span passes 2^64 is a ValueError, not a kernel of span 1") {
  // dilate 2^39 x (k - 1) = 2^25 wrapped to 0: the output came out (1, 1, 1, 1, 3), the last tap
  // (far outside the input) added in.  The check is on shapes: nothing is allocated here.
  const std::size_t k = (std::size_t(1) << 25) + 1, d = std::size_t(1) << 39;
  const detail::ConvSpec spec{.op = "convolution3d", .transposed = false, .stride = {1, 1, 1}, .dilate = {1, 1, d},
                              .pad = {0, 0, 0}, .adj = {}, .num_group = 1};
  CHECK_THROWS_WITH_AS(detail::check_conv_args(spec, Shape{1, 1, 1, 1, 3}, Shape{1, 1, 1, 1, k}, nullptr),
                       "convolution3d: dilate (1, 1, 549755813888) times kernel size 33554433 along axis 4 overflows "
                       "the kernel's span: input (1, 1, 1, 1, 3) vs weight (1, 1, 1, 1, 33554433)",
                       ValueError);
}
}
