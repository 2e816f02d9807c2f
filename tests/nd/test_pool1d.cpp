// SPDX-License-Identifier: Apache-2.0
#include <gluino/nd/pool1d.hpp>

#include <doctest/doctest.h>

#include <gluino/nd.hpp>  // NDArray with all its methods and ops
#include "support/conv_reference.hpp"
#include "support/gradcheck.hpp"

using namespace gluino;
using test::gradcheck;
using test::rand_array;
using V = std::vector<NDArray<double>>;

namespace {
bool close(const NDArray<double>& got, const std::vector<double>& want) {
  const auto g = got.to_vector();
  if (g.size() != want.size()) return false;
  for (std::size_t i = 0; i < g.size(); ++i)
    if (g[i] != doctest::Approx(want[i]).epsilon(1e-14)) return false;
  return true;
}
}  // namespace

TEST_SUITE("nd/pool1d") {
TEST_CASE("pooling1d: hand-computed max and average windows, shapes") {
  const auto x = nd::array<double>({1, 5, 2, 4, 3, 0, 6}, {1, 1, 7});
  CHECK(nd::pooling1d(x, {.kernel = 2, .stride = 2}).to_vector() == std::vector<double>{5, 4, 3});
  // ceil mode keeps the last, clipped window [6, 7)
  CHECK(nd::pooling1d(x, {.kernel = 2, .stride = 2, .convention = nd::pooling_convention::full}).to_vector() ==
        std::vector<double>{5, 4, 3, 6});
  CHECK(close(nd::pooling1d(x, {.kernel = 3, .stride = 2, .type = nd::pool_type::avg}), {8.0 / 3, 3, 3}));
  // pad 1: the first window [-1, 2) holds one padding zero; count_include_pad decides the divisor
  CHECK(close(nd::pooling1d(x, {.kernel = 3, .stride = 3, .pad = 1, .type = nd::pool_type::avg}), {2, 3, 2}));
  CHECK(close(nd::pooling1d(x, {.kernel = 3, .stride = 3, .pad = 1, .type = nd::pool_type::avg,
                                .count_include_pad = false}),
              {3, 3, 3}));
  CHECK(nd::pooling1d(x, {.type = nd::pool_type::max, .global_pool = true}).to_vector() == std::vector<double>{6});
  CHECK(close(nd::pooling1d(x, {.type = nd::pool_type::avg, .global_pool = true}), {3}));
  CHECK(nd::pooling1d(rand_array({2, 3, 10}), {.kernel = 3, .stride = 2, .pad = 1}).shape() == Shape{2, 3, 5});
  CHECK(nd::pooling1d(rand_array({2, 3, 10}), {.global_pool = true}).shape() == Shape{2, 3, 1});
}
TEST_CASE("pooling1d: gradients match central differences (double)") {
  const auto x = rand_array({2, 3, 9}, 3);  // distinct values: max has no ties
  for (const auto type : {nd::pool_type::max, nd::pool_type::avg}) {
    CAPTURE(static_cast<int>(type));
    CHECK(gradcheck([&](const V& in) { return nd::pooling1d(in[0], {.kernel = 3, .stride = 2, .pad = 1, .type = type}); },
                    {x}));
    CHECK(gradcheck(
        [&](const V& in) {
          return nd::pooling1d(in[0], {.kernel = 2, .stride = 2, .type = type, .convention = nd::pooling_convention::full,
                                       .count_include_pad = false});
        },
        {x}));
    CHECK(gradcheck([&](const V& in) { return nd::pooling1d(in[0], {.type = type, .global_pool = true}); }, {x}));
    // Ceil mode with padding, the padding left out of the average: the last window [7, 10) ends
    // past the padded input (clipped to [7, 9)), half of it padding.
    CHECK(gradcheck(
        [&](const V& in) {
          return nd::pooling1d(in[0], {.kernel = 3, .stride = 2, .pad = 1, .type = type,
                                       .convention = nd::pooling_convention::full, .count_include_pad = false});
        },
        {rand_array({2, 2, 8}, 4)}));
  }
}
TEST_CASE("pooling1d: forward and gradients match PyTorch's max_pool1d and avg_pool1d") {
  const auto run = [](nd::pool_type type) {
    return [type](const auto& in, const nlohmann::json& o) {
      return nd::pooling1d(in[0], {.kernel = o.at("kernel"), .stride = o.at("stride"), .pad = o.at("pad"),
                                   .type = type,
                                   .convention = o.at("ceil_mode").get<bool>() ? nd::pooling_convention::full
                                                                               : nd::pooling_convention::valid,
                                   .count_include_pad = o.at("count_include_pad")});
    };
  };
  test::check_conv_references("max_pool1d", run(nd::pool_type::max));
  test::check_conv_references("avg_pool1d", run(nd::pool_type::avg));
}
TEST_CASE("pooling1d: errors name the 1-D shapes") {
  const auto x = nd::zeros<float>({2, 3, 5});
  CHECK_THROWS_WITH_AS(nd::pooling1d(nd::zeros<float>({2, 3, 5, 5})),
                       "pooling1d: input must be 3-D (N, C, W), got (2, 3, 5, 5)", ShapeError);
  CHECK_THROWS_WITH_AS(nd::pooling1d(x, {.kernel = 7}),
                       "pooling1d: kernel 7 larger than the padded input (5): input (2, 3, 5)", ShapeError);
  CHECK_THROWS_WITH_AS(nd::pooling1d(x, {.kernel = 2, .pad = 2}),
                       "pooling1d: pad 2 must be smaller than kernel 2: input (2, 3, 5)", ValueError);
  CHECK_THROWS_WITH_AS(nd::pooling1d(x, {.stride = 0}),
                       "pooling1d: kernel and stride must be > 0, got kernel 2, stride 0: input (2, 3, 5)", ValueError);
  CHECK_THROWS_WITH_AS(nd::pooling1d(x, {.kernel = std::size_t(-3)}), doctest::Contains("kernel -3 or stride 1 too large"),
                       ValueError);
  CHECK_THROWS_WITH_AS(nd::pooling1d(nd::zeros<float>({2, 3, 0}), {.global_pool = true}),
                       "pooling1d: global pooling of an empty input (2, 3, 0)", ShapeError);
}
}
