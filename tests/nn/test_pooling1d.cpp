// SPDX-License-Identifier: Apache-2.0
#include <gluino/nn/pooling1d.hpp>

#include <doctest/doctest.h>

#include <gluino/nd/creation.hpp>
#include "support/gradcheck.hpp"
#include "support/repr.hpp"

using namespace gluino;
using test::gradcheck;
using test::rand_array;
using test::repr;
using V = std::vector<NDArray<double>>;

TEST_SUITE("nn/pooling1d") {
TEST_CASE("names, reprs and options as Gluon's") {
  nn::reset_name_counters();
  nn::MaxPool1D m{2};
  CHECK(m.prefix() == "pool0_");
  CHECK(m.collect_params().size() == 0);
  CHECK(m.strides() == 2);  // Gluon: strides=None means pool_size
  CHECK(repr(m) ==
        "MaxPool1D(size=(2,), stride=(2,), padding=(0,), ceil_mode=False, global_pool=False, pool_type=max, layout=NCW)");
  CHECK(repr(nn::AvgPool1D{3, 1, {.padding = 1, .ceil_mode = true}}) ==
        "AvgPool1D(size=(3,), stride=(1,), padding=(1,), ceil_mode=True, global_pool=False, pool_type=avg, layout=NCW)");
  CHECK(repr(nn::GlobalMaxPool1D{}) ==
        "GlobalMaxPool1D(size=(1,), stride=(1,), padding=(0,), ceil_mode=True, global_pool=True, pool_type=max, "
        "layout=NCW)");
  CHECK(repr(nn::GlobalAvgPool1D{}).rfind("GlobalAvgPool1D(size=(1,)", 0) == 0);
  const nn::AvgPool1D a{3, 2, {.padding = 1, .count_include_pad = false}};
  CHECK(a.pool_options().count_include_pad == false);
  CHECK(a.padding() == 1);
}
TEST_CASE("forward: shapes and values as nd::pooling1d") {
  const auto x = nd::array<float>({1, 5, 2, 4, 3, 0, 6}, {1, 1, 7});
  nn::MaxPool1D m{2};
  CHECK(m(x).to_vector() == std::vector<float>{5, 4, 3});
  nn::MaxPool1D mc{2, 2, {.ceil_mode = true}};
  CHECK(mc(x).to_vector() == std::vector<float>{5, 4, 3, 6});
  nn::AvgPool1D a{3, 3, {.padding = 1, .count_include_pad = false}};
  CHECK(a(x).to_vector() == nd::pooling1d(x, {.kernel = 3, .stride = 3, .pad = 1, .type = nd::pool_type::avg,
                                               .count_include_pad = false})
                                .to_vector());
  nn::GlobalMaxPool1D gm;
  nn::GlobalAvgPool1D ga;
  const auto r = rand_array({2, 3, 10});
  CHECK(nn::BasicGlobalMaxPool1D<double>{}(r).shape() == Shape{2, 3, 1});
  CHECK(gm(x).to_vector() == std::vector<float>{6});
  CHECK(ga(x).to_vector() == std::vector<float>{3});
}
TEST_CASE("gradients match central differences (double)") {
  const auto x = rand_array({2, 2, 9}, 4);
  nn::BasicMaxPool1D<double> m{3, 2, {.padding = 1}};
  nn::BasicAvgPool1D<double> a{3, 2, {.padding = 1, .ceil_mode = true, .count_include_pad = false}};
  nn::BasicGlobalAvgPool1D<double> g;
  CHECK(gradcheck([&](const V& in) { return m(in[0]); }, {x}));
  CHECK(gradcheck([&](const V& in) { return a(in[0]); }, {x}));
  CHECK(gradcheck([&](const V& in) { return g(in[0]); }, {x}));
}
TEST_CASE("errors name the layer, the block and the argument") {
  CHECK_THROWS_WITH_AS(nn::MaxPool1D(0), "MaxPool1D: pool_size must be > 0, got (0,)", ValueError);
  CHECK_THROWS_WITH_AS(nn::AvgPool1D(2, 2, {.padding = 2}), "AvgPool1D: padding (2,) must be smaller than pool_size (2,)",
                       ValueError);
  CHECK_THROWS_WITH_AS(nn::MaxPool1D(2, std::size_t(-1)), "MaxPool1D: strides must be > 0, got (-1,)", ValueError);
  nn::MaxPool1D m{2, 2, {}, "p_"};
  CHECK_THROWS_WITH_AS(m(nd::zeros<float>({1, 2, 4, 4})), "p_: input must be 3-D (N, C, W), got shape (1, 2, 4, 4)",
                       ShapeError);
  CHECK_THROWS_WITH_AS(nn::MaxPool1D(5)(nd::zeros<float>({1, 2, 4})),
                       doctest::Contains("pooling1d: kernel 5 larger than the padded input (4)"), ShapeError);
}
}
