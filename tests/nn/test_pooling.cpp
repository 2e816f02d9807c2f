// SPDX-License-Identifier: Apache-2.0
#include <gluino/nn/pooling.hpp>

#include <doctest/doctest.h>

#include <sstream>

#include <gluino/nd.hpp>  // NDArray with all its methods and ops
#include <gluino/nd/creation.hpp>
#include <gluino/nd/random.hpp>
#include "support/gradcheck.hpp"
#include "support/repr.hpp"

using namespace gluino;
using test::repr;
using test::gradcheck;
using test::rand_array;
using V = std::vector<NDArray<double>>;

TEST_SUITE("nn/pooling") {
TEST_CASE("the issue's MaxPool2D{2, 2}: no parameters, named pool0_, Gluon's repr") {
  nn::reset_name_counters();
  nn::MaxPool2D p{2, 2};
  CHECK(p.prefix() == "pool0_");
  CHECK(p.params().empty());
  CHECK(repr(p) ==
        "MaxPool2D(size=(2, 2), stride=(2, 2), padding=(0, 0), ceil_mode=False, global_pool=False, pool_type=max, "
        "layout=NCHW)");
  CHECK(p(nd::zeros<float>({2, 20, 24, 24})).shape() == Shape{2, 20, 12, 12});
  nn::AvgPool2D a;
  CHECK(a.prefix() == "pool1_");
  CHECK(repr(a) ==
        "AvgPool2D(size=(2, 2), stride=(2, 2), padding=(0, 0), ceil_mode=False, global_pool=False, pool_type=avg, "
        "layout=NCHW)");
  CHECK(repr(nn::GlobalAvgPool2D{}) ==
        "GlobalAvgPool2D(size=(1, 1), stride=(1, 1), padding=(0, 0), ceil_mode=True, global_pool=True, "
        "pool_type=avg, layout=NCHW)");
  CHECK(repr(nn::GlobalMaxPool2D{}) ==
        "GlobalMaxPool2D(size=(1, 1), stride=(1, 1), padding=(0, 0), ceil_mode=True, global_pool=True, "
        "pool_type=max, layout=NCHW)");
}
TEST_CASE("strides default to pool_size (Gluon's None); the tutorial's MaxPool2D(pool_size=3, strides=2)") {
  nn::MaxPool2D d{3};
  CHECK(d.strides() == nn::Size2{3});
  CHECK(d(nd::zeros<float>({1, 1, 9, 9})).shape() == Shape{1, 1, 3, 3});
  nn::MaxPool2D t{3, 2};
  CHECK(repr(t) ==
        "MaxPool2D(size=(3, 3), stride=(2, 2), padding=(0, 0), ceil_mode=False, global_pool=False, pool_type=max, "
        "layout=NCHW)");
  CHECK(t(nd::zeros<float>({1, 96, 54, 54})).shape() == Shape{1, 96, 26, 26});  // (54 - 3) / 2 + 1
  nn::MaxPool2D c{3, 2, {.ceil_mode = true}};
  CHECK(c(nd::zeros<float>({1, 1, 6, 6})).shape() == Shape{1, 1, 3, 3});  // ceil((6 - 3) / 2) + 1
  nn::MaxPool2D f{3, 2};
  CHECK(f(nd::zeros<float>({1, 1, 6, 6})).shape() == Shape{1, 1, 2, 2});
  nn::AvgPool2D r{{2, 3}, {1, 2}, {.padding = {1, 1}}};
  CHECK(r.pool_size() == nn::Size2{2, 3});
  CHECK(r(nd::zeros<float>({1, 1, 4, 5})).shape() == Shape{1, 1, 5, 3});  // (4+2-2)/1+1, (5+2-3)/2+1
}
TEST_CASE("forward equals nd::pooling with the same options, and hand-computed values") {
  const auto x = nd::random::uniform<float>({2, 3, 7, 7});
  nn::MaxPool2D m{3, 2, {.padding = 1}};
  CHECK(m(x).to_vector() == nd::pooling(x, {.kernel = {3, 3}, .stride = {2, 2}, .pad = {1, 1}}).to_vector());
  nn::AvgPool2D a{3, 2, {.padding = 1, .count_include_pad = false}};
  CHECK(a(x).to_vector() == nd::pooling(x, {.kernel = {3, 3}, .stride = {2, 2}, .pad = {1, 1},
                                            .type = nd::pool_type::avg, .count_include_pad = false})
                                .to_vector());
  // arange(16) as 4x4: 2x2 windows.
  const auto v = nd::arange<float>(16).reshape({1, 1, 4, 4});
  CHECK(nn::MaxPool2D{2}(v).to_vector() == std::vector<float>{5, 7, 13, 15});
  CHECK(nn::AvgPool2D{2}(v).to_vector() == std::vector<float>{2.5f, 4.5f, 10.5f, 12.5f});
  CHECK(nn::GlobalMaxPool2D{}(v).to_vector() == std::vector<float>{15});
  CHECK(nn::GlobalAvgPool2D{}(v).to_vector() == std::vector<float>{7.5f});
  CHECK(nn::GlobalAvgPool2D{}(nd::zeros<float>({2, 3, 5, 4})).shape() == Shape{2, 3, 1, 1});
  // count_include_pad: the corner window of a padded 2x2 average holds one real value.
  const auto ones = nd::ones<float>({1, 1, 2, 2});
  CHECK(nn::AvgPool2D(2, 2, {.padding = 1})(ones).to_vector() == std::vector<float>(4, 0.25f));
  CHECK(nn::AvgPool2D(2, 2, {.padding = 1, .count_include_pad = false})(ones).to_vector() ==
        std::vector<float>(4, 1.0f));
}
TEST_CASE("gradients match central differences (double)") {
  // Distinct values keep the max away from ties.
  auto x = rand_array({2, 2, 5, 5}, 11);
  SUBCASE("max 3, stride 2, pad 1") {
    nn::BasicMaxPool2D<double> p{3, 2, {.padding = 1}};
    CHECK(gradcheck([&](const V& in) { return p(in[0]); }, {x}));
  }
  SUBCASE("avg 2x3, stride 1, ceil, no pad count") {
    nn::BasicAvgPool2D<double> p{{2, 3}, 1, {.padding = 1, .ceil_mode = true, .count_include_pad = false}};
    CHECK(gradcheck([&](const V& in) { return p(in[0]); }, {x}));
  }
  SUBCASE("global") {
    nn::BasicGlobalAvgPool2D<double> a;
    nn::BasicGlobalMaxPool2D<double> m;
    CHECK(gradcheck([&](const V& in) { return a(in[0]); }, {x}));
    CHECK(gradcheck([&](const V& in) { return m(in[0]); }, {x}));
  }
}
TEST_CASE("errors: hyper-parameters and input rank name the block") {
  nn::reset_name_counters();
  CHECK_THROWS_WITH_AS(nn::MaxPool2D(0), doctest::Contains("MaxPool2D: pool_size must be > 0"), ValueError);
  CHECK_THROWS_WITH_AS(nn::AvgPool2D(2, 2, {.padding = 2}),
                       doctest::Contains("AvgPool2D: padding (2, 2) must be smaller than pool_size (2, 2)"),
                       ValueError);
  nn::reset_name_counters();  // the failed constructions above took numbers, as in Gluon
  nn::MaxPool2D p{2};
  CHECK_THROWS_WITH_AS(p(nd::zeros<float>({2, 3, 4})), doctest::Contains("pool0_: input must be 4-D"), ShapeError);
  CHECK_THROWS_WITH_AS(p(nd::zeros<float>({2, 3, 4})), doctest::Contains("(2, 3, 4)"), ShapeError);
  CHECK_THROWS_WITH_AS(nn::MaxPool2D{3}(nd::zeros<float>({1, 1, 2, 2})), doctest::Contains("(1, 1, 2, 2)"),
                       ShapeError);
}
TEST_CASE("errors: negative sizes (ints converted to size_t) name the layer and the argument") {
  CHECK_THROWS_WITH_AS(nn::MaxPool2D(-2), doctest::Contains("MaxPool2D: pool_size must be > 0, got (-2, -2)"), ValueError);
  CHECK_THROWS_WITH_AS(nn::MaxPool2D(2, -1), doctest::Contains("MaxPool2D: strides must be > 0, got (-1, -1)"), ValueError);
  CHECK_THROWS_WITH_AS(nn::MaxPool2D(2, 2, {.padding = -1}), doctest::Contains("MaxPool2D: padding must be >= 0, got (-1, -1)"),
                       ValueError);
  CHECK_THROWS_WITH_AS(nn::AvgPool2D(3, nn::Size2(2, -1)), doctest::Contains("AvgPool2D: strides must be > 0, got (2, -1)"),
                       ValueError);
  CHECK_THROWS_WITH_AS(nn::AvgPool2D(std::size_t(1) << 41), doctest::Contains("AvgPool2D: pool_size must be at most 2^40"),
                       ValueError);
  CHECK_THROWS_WITH_AS(nn::AvgPool2D(nn::Size2{2, 0}), doctest::Contains("AvgPool2D: pool_size must be > 0, got (2, 0)"), ValueError);
}
}
