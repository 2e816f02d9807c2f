// SPDX-License-Identifier: Apache-2.0
#include <gluino/nd/deconvolution.hpp>

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
[[gnu::noinline]] nd::DeconvOptions passed_deconv(const nd::DeconvOptions& o) { return o; }
}  // namespace

TEST_SUITE("nd/deconvolution") {
TEST_CASE("DeconvOptions built from constants arrive intact (g++ 12.2 with AVX-512 miscompiled them unaligned)") {
  using A = std::array<std::size_t, 2>;
  const nd::DeconvOptions d = passed_deconv({});
  CHECK((d.stride == A{1, 1} && d.dilate == A{1, 1} && d.pad == A{0, 0} && d.adj == A{0, 0} && d.num_group == 1));
  const nd::DeconvOptions p = passed_deconv({.pad = {1, 1}});  // 1, 1, 1, 1, 1, 1, 0, 0 became all 1
  CHECK((p.stride == A{1, 1} && p.dilate == A{1, 1} && p.pad == A{1, 1} && p.adj == A{0, 0}));
  const nd::DeconvOptions s = passed_deconv({.stride = {2, 2}, .dilate = {2, 2}});
  CHECK((s.stride == A{2, 2} && s.dilate == A{2, 2} && s.pad == A{0, 0} && s.adj == A{0, 0}));
}
TEST_CASE("deconvolution: output shape and hand-computed cases") {
  const auto x = nd::array<double>({1, 2}, {1, 1, 1, 2});
  const auto w = nd::array<double>({1, 10}, {1, 1, 1, 2});
  // each input scatters x * (1, 10): 1, 10 + 2, 20
  CHECK(nd::deconvolution(x, w).to_vector() == std::vector<double>{1, 12, 20});
  // stride 2: no overlap; adj 1 adds a column that nothing reaches but the bias
  CHECK(nd::deconvolution(x, w, nd::array<double>({5}), {.stride = {1, 2}, .adj = {0, 1}}).to_vector() ==
        std::vector<double>{6, 15, 7, 25, 5});
  // pad 1 crops one column from each side of the full output
  CHECK(nd::deconvolution(x, w, {}, {.pad = {0, 1}}).to_vector() == std::vector<double>{12});
  // Ho = (H - 1) s - 2 p + d (k - 1) + 1 + adj: (4 - 1) 2 - 2 + 2 (3 - 1) + 1 + 1 = 10
  CHECK(nd::deconvolution(rand_array({2, 4, 4, 3}), rand_array({4, 3, 3, 2}), {},
                          {.stride = {2, 1}, .dilate = {2, 1}, .pad = {1, 0}, .adj = {1, 0}, .num_group = 2})
            .shape() == Shape{2, 6, 10, 4});
}
TEST_CASE("deconvolution is the adjoint of convolution: <conv(y, w), x> = <y, deconv(x, w)>") {
  const auto x = rand_array({2, 4, 3, 4}, 1), w = rand_array({4, 3, 3, 3}, 2);
  const nd::DeconvOptions d{.stride = {2, 2}, .dilate = {1, 2}, .pad = {1, 1}, .adj = {1, 0}, .num_group = 2};
  const auto y = nd::deconvolution(x, w, {}, d);
  const auto y2 = rand_array(y.shape(), 3);
  const auto c = nd::convolution(y2, w, {}, {.stride = d.stride, .dilate = d.dilate, .pad = d.pad, .num_group = 2});
  REQUIRE(c.shape() == x.shape());
  CHECK((c * x).sum().asscalar() == doctest::Approx((y2 * y).sum().asscalar()).epsilon(1e-12));
}
TEST_CASE("deconvolution: gradients of x, weight and bias match central differences (double)") {
  const auto check = [](const Shape& xs, const Shape& ws, nd::DeconvOptions o) {
    const std::size_t O = ws[1] * o.num_group;
    return gradcheck([o](const V& in) { return nd::deconvolution(in[0], in[1], in[2], o); },
                     {rand_array(xs, 1), rand_array(ws, 2), rand_array({O}, 3)});
  };
  SUBCASE("stride 1") { CHECK(check({2, 3, 3, 4}, {3, 2, 3, 3}, {})); }
  SUBCASE("stride (2, 3), pad, adj, groups 2") {
    CHECK(check({1, 4, 3, 3}, {4, 3, 3, 2}, {.stride = {2, 3}, .pad = {1, 0}, .adj = {1, 2}, .num_group = 2}));
  }
  SUBCASE("dilation 2, one output channel") {
    CHECK(check({2, 2, 3, 3}, {2, 1, 2, 3}, {.stride = {2, 1}, .dilate = {2, 2}, .pad = {1, 1}}));
  }
  SUBCASE("stride, dilation, pad, adj and groups at once, unequal per axis") {
    CHECK(check({2, 4, 3, 3}, {4, 2, 3, 2},
                {.stride = {2, 3}, .dilate = {2, 1}, .pad = {1, 1}, .adj = {1, 2}, .num_group = 2}));
  }
  SUBCASE("one channel per group (the depthwise kernels), no bias, adj on the strided axis only") {
    const nd::DeconvOptions o{.stride = {1, 2}, .dilate = {2, 1}, .pad = {0, 1}, .adj = {0, 1}, .num_group = 4};
    CHECK(gradcheck([o](const V& in) { return nd::deconvolution(in[0], in[1], NDArray<double>{}, o); },
                    {rand_array({2, 4, 3, 2}, 4), rand_array({4, 1, 2, 3}, 5)}));
  }
}
TEST_CASE("deconvolution: forward and gradients match PyTorch's conv_transpose2d") {
  test::check_conv_references("deconvolution", [](const auto& in, const nlohmann::json& o) {
    const auto pair = [&](const char* k) { return o.at(k).get<std::array<std::size_t, 2>>(); };
    return nd::deconvolution(in[0], in[1], test::bias_of(in),
                             {.stride = pair("stride"), .dilate = pair("dilate"), .pad = pair("pad"),
                              .adj = pair("adj"), .num_group = o.at("num_group")});
  });
}
TEST_CASE("deconvolution: errors name both shapes") {
  const auto x = nd::zeros<float>({1, 3, 4, 4});
  CHECK_THROWS_WITH_AS(nd::deconvolution(nd::zeros<float>({3, 4, 4}), nd::zeros<float>({3, 2, 3, 3})),
                       "deconvolution: input must be 4-D (N, C, H, W), got (3, 4, 4)", ShapeError);
  CHECK_THROWS_WITH_AS(nd::deconvolution(x, nd::zeros<float>({2, 2, 3, 3})),
                       "deconvolution: weight expects 2 input channels (weight's axis 0): input (1, 3, 4, 4) vs weight "
                       "(2, 2, 3, 3)",
                       ShapeError);
  CHECK_THROWS_WITH_AS(nd::deconvolution(x, nd::zeros<float>({3, 2, 3})),
                       "deconvolution: weight must be 4-D (C, O/groups, kh, kw), got (3, 2, 3) for input (1, 3, 4, 4)",
                       ShapeError);
  CHECK_THROWS_WITH_AS(nd::deconvolution(x, nd::zeros<float>({3, 2, 3, 3}), nd::zeros<float>({3})),
                       "deconvolution: bias must have shape (2,) for weight (3, 2, 3, 3), got (3,)", ShapeError);
  CHECK_THROWS_WITH_AS(nd::deconvolution(x, nd::zeros<float>({3, 2, 3, 3}), {}, {.stride = {2, 2}, .adj = {2, 0}}),
                       "deconvolution: adj (2, 0) must be smaller than stride (2, 2): input (1, 3, 4, 4) vs weight (3, "
                       "2, 3, 3)",
                       ValueError);
  CHECK_THROWS_WITH_AS(nd::deconvolution(x, nd::zeros<float>({3, 2, 1, 1}), {}, {.pad = {2, 2}}),
                       "deconvolution: pad (2, 2) leaves no output: input (1, 3, 4, 4) vs weight (3, 2, 1, 1)",
                       ShapeError);
  CHECK_THROWS_WITH_AS(nd::deconvolution(x, nd::zeros<float>({3, 2, 3, 3}), {}, {.num_group = 2}),
                       "deconvolution: input channels must be a multiple of num_group = 2: input (1, 3, 4, 4) vs "
                       "weight (3, 2, 3, 3)",
                       ShapeError);
  CHECK_THROWS_WITH_AS(nd::deconvolution(x, nd::zeros<float>({3, 2, 3, 3}), {}, {.dilate = {0, 1}}),
                       "deconvolution: dilate must be > 0, got (0, 1): input (1, 3, 4, 4) vs weight (3, 2, 3, 3)",
                       ValueError);
}

TEST_CASE("deconvolution: products of sizes below 2^40 that pass 2^64 are errors, not wrapped shapes") {
  // (in - 1) stride: 2^39 x 2^39 gave an axis of 18446743523953737731 on an empty batch (no data
  // to allocate, so nothing else stopped it); 2^25 x 2^39 = 2^64 wrapped to 0 and gave 3.
  const std::size_t s39 = std::size_t(1) << 39, s25 = std::size_t(1) << 25;
  CHECK_THROWS_WITH_AS(nd::deconvolution(nd::zeros<float>({0, 3, s39, 4}), nd::zeros<float>({3, 2, 3, 3}), {},
                                         {.stride = {s39, 1}}),
                       doctest::Contains("deconvolution: output too large along axis 2"), ShapeError);
  const detail::ConvSpec grown{.op = "deconvolution", .transposed = true, .stride = {1, s39}, .dilate = {1, 1},
                               .pad = {0, 0}, .adj = {0, 0}, .num_group = 1};
  CHECK_THROWS_WITH_AS(detail::check_conv_args(grown, Shape{1, 1, 1, s25 + 1}, Shape{1, 1, 1, 3}, nullptr),
                       doctest::Contains("output too large along axis 3"), ShapeError);
  // dilate (k - 1): 2^39 x 2^25 = 2^64 wrapped the span to 1; the kernels then indexed with the
  // wrapped taps (col2im read out of bounds).  The weight is not allocated: the check is on shapes.
  const detail::ConvSpec dilated{.op = "deconvolution", .transposed = true, .stride = {1, 1}, .dilate = {1, s39},
                                 .pad = {0, 0}, .adj = {0, 0}, .num_group = 1};
  CHECK_THROWS_WITH_AS(detail::check_conv_args(dilated, Shape{1, 1, 1, 2}, Shape{1, 1, 1, s25 + 1}, nullptr),
                       "deconvolution: dilate (1, 549755813888) times kernel size 33554433 along axis 3 overflows the "
                       "kernel's span: input (1, 1, 1, 2) vs weight (1, 1, 1, 33554433)",
                       ValueError);
  // just below the limits: sizes still computed exactly
  const detail::ConvSpec wide{.op = "deconvolution", .transposed = true, .stride = {1, s39}, .dilate = {1, 1},
                              .pad = {0, 0}, .adj = {0, 0}, .num_group = 1};
  CHECK(detail::check_conv_args(wide, Shape{0, 1, 1, 3}, Shape{1, 1, 1, 3}, nullptr).out[1] == 2 * s39 + 3);
}
}
