// SPDX-License-Identifier: Apache-2.0
#include <gluino/nd/conv1d.hpp>

#include <doctest/doctest.h>

#include <gluino/nd.hpp>  // NDArray with all its methods and ops
#include "support/conv_reference.hpp"
#include "support/gradcheck.hpp"

using namespace gluino;
using test::gradcheck;
using test::rand_array;
using V = std::vector<NDArray<double>>;

TEST_SUITE("nd/conv1d") {
TEST_CASE("convolution1d: output shape and a hand-computed case") {
  // x = 0..5 over one channel, kernel (1, 2), bias 10: windows 0+2, 1+4, 2+6, 3+8, 4+10.
  const auto x = nd::arange<double>(6).reshape({1, 1, 6});
  const auto w = nd::array<double>({1, 2}, {1, 1, 2});
  CHECK(nd::convolution1d(x, w, nd::array<double>({10})).to_vector() == std::vector<double>{12, 15, 18, 21, 24});
  // stride 2, pad 1: zeros at both ends, windows (0, 0), (1, 2), (3, 4), (5, 0).
  CHECK(nd::convolution1d(x, w, {}, {.stride = 2, .pad = 1}).to_vector() == std::vector<double>{0, 5, 11, 5});
  // dilation 2: taps i and i + 2.
  CHECK(nd::convolution1d(x, w, {}, {.dilate = 2}).to_vector() == std::vector<double>{4, 7, 10, 13});
  const auto y = nd::convolution1d(rand_array({3, 4, 11}), rand_array({6, 2, 3}), {},
                                   {.stride = 2, .dilate = 2, .pad = 1, .num_group = 2});
  CHECK(y.shape() == Shape{3, 6, 5});  // (11 + 2 - 4 - 1) / 2 + 1
}
TEST_CASE("convolution1d equals the 2-D convolution of a height-1 image; relu fused") {
  const auto x = rand_array({2, 4, 9}, 1), w = rand_array({6, 2, 3}, 2), b = rand_array({6}, 3);
  const nd::Conv1DOptions o{.stride = 2, .dilate = 1, .pad = 1, .num_group = 2};
  const auto y = nd::convolution1d(x, w, b, o);
  const auto ref = nd::convolution(x.reshape({2, 4, 1, 9}), w.reshape({6, 2, 1, 3}), b,
                                   {.stride = {1, 2}, .pad = {0, 1}, .num_group = 2});
  CHECK(y.shape() == Shape{2, 6, 5});
  CHECK(y.to_vector() == ref.to_vector());
  auto relu_opt = o;
  relu_opt.relu = true;
  CHECK(nd::convolution1d(x, w, b, relu_opt).to_vector() == nd::relu(y).to_vector());
}
TEST_CASE("convolution1d: gradients of x, weight and bias match central differences (double)") {
  SUBCASE("plain") {
    CHECK(gradcheck([](const V& in) { return nd::convolution1d(in[0], in[1], in[2]); },
                    {rand_array({2, 3, 7}, 1), rand_array({4, 3, 3}, 2), rand_array({4}, 3)}));
  }
  SUBCASE("stride 2, pad 2, dilation 2, groups 2") {
    CHECK(gradcheck([](const V& in) {
                      return nd::convolution1d(in[0], in[1], in[2], {.stride = 2, .dilate = 2, .pad = 2, .num_group = 2});
                    },
                    {rand_array({2, 4, 8}, 4), rand_array({6, 2, 3}, 5), rand_array({6}, 6)}));
  }
}
TEST_CASE("convolution1d: forward and gradients match PyTorch's conv1d") {
  test::check_conv_references("conv1d", [](const auto& in, const nlohmann::json& o) {
    return nd::convolution1d(in[0], in[1], test::bias_of(in),
                             {.stride = o.at("stride"), .dilate = o.at("dilate"), .pad = o.at("pad"),
                              .num_group = o.at("num_group")});
  });
}
TEST_CASE("convolution1d: errors name the 1-D shapes") {
  const auto x = nd::zeros<float>({1, 3, 8});
  CHECK_THROWS_WITH_AS(nd::convolution1d(nd::zeros<float>({3, 8}), nd::zeros<float>({4, 3, 3})),
                       "convolution1d: input must be 3-D (N, C, W), got (3, 8)", ShapeError);
  CHECK_THROWS_WITH_AS(nd::convolution1d(x, nd::zeros<float>({4, 3, 3, 3})),
                       "convolution1d: weight must be 3-D (O, C/groups, k), got (4, 3, 3, 3) for input (1, 3, 8)",
                       ShapeError);
  CHECK_THROWS_WITH_AS(nd::convolution1d(x, nd::zeros<float>({4, 2, 3})),
                       "convolution1d: weight expects 2 input channels (2 per group x 1 groups): input (1, 3, 8) vs "
                       "weight (4, 2, 3)",
                       ShapeError);
  CHECK_THROWS_WITH_AS(nd::convolution1d(x, nd::zeros<float>({4, 3, 9})),
                       "convolution1d: kernel (dilated to 9 along axis 2) larger than the padded input (8): input "
                       "(1, 3, 8) vs weight (4, 3, 9)",
                       ShapeError);
  CHECK_THROWS_WITH_AS(nd::convolution1d(x, nd::zeros<float>({4, 3, 3}), nd::zeros<float>({3})),
                       "convolution1d: bias must have shape (4,) for weight (4, 3, 3), got (3,)", ShapeError);
  CHECK_THROWS_WITH_AS(nd::convolution1d(x, nd::zeros<float>({4, 3, 3}), {}, {.stride = 0}),
                       "convolution1d: stride must be > 0, got (0,): input (1, 3, 8) vs weight (4, 3, 3)", ValueError);
  CHECK_THROWS_WITH_AS(nd::convolution1d(x, nd::zeros<float>({4, 3, 3}), {}, {.pad = std::size_t(-1)}),
                       doctest::Contains("pad (-1,) too large"), ValueError);
  CHECK_THROWS_WITH_AS(nd::convolution1d(x, nd::zeros<float>({4, 1, 3}), {}, {.num_group = 3}),
                       "convolution1d: filters must be a multiple of num_group = 3: input (1, 3, 8) vs weight (4, 1, 3)",
                       ShapeError);
}
}
