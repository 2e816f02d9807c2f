// SPDX-License-Identifier: Apache-2.0
#include <gluino/nn/embedding.hpp>

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include <gluino/nd/creation.hpp>
#include "support/check_close.hpp"
#include "support/gradcheck.hpp"
#include "support/repr.hpp"

using namespace gluino;
using test::gradcheck;
using test::repr;
using V = std::vector<NDArray<double>>;

TEST_SUITE("nn/embedding") {
TEST_CASE("Embedding: Gluon's names, weight (input_dim, output_dim), repr, output shape") {
  nn::reset_name_counters();
  nn::Embedding emb{10, 3};
  CHECK(emb.prefix() == "embedding0_");
  CHECK(emb.params().keys() == std::vector<std::string>{"embedding0_weight"});
  CHECK(emb.weight()->shape() == Shape{10, 3});
  CHECK(emb.input_dim() == 10);
  CHECK(emb.output_dim() == 3);
  CHECK(repr(emb) == "Embedding(10 -> 3, float32)");
  CHECK(repr(nn::BasicEmbedding<double>{4, 2}) == "Embedding(4 -> 2, float64)");
  emb.initialize();
  const auto y = emb(nd::array<float>({4, 20 % 10, 9, 4}, {2, 2}));
  CHECK(y.shape() == Shape{2, 2, 3});
  const auto w = emb.weight()->data().to_vector();
  const auto v = y.to_vector();
  for (std::size_t j = 0; j < 3; ++j) {
    CHECK(v[j] == w[4 * 3 + j]);
    CHECK(v[3 + j] == w[j]);
    CHECK(v[6 + j] == w[9 * 3 + j]);
    CHECK(v[9 + j] == v[j]);
  }
}
TEST_CASE("Embedding: its own weight initializer, and the global one otherwise") {
  nn::Embedding a{3, 2, {.weight_initializer = init::Constant{0.5}}};
  a.initialize(init::Constant{2});
  CHECK(a.weight()->data().to_vector() == std::vector<float>(6, 0.5f));
  nn::Embedding b{3, 2};
  b.initialize(init::Constant{2});
  CHECK(b.weight()->data().to_vector() == std::vector<float>(6, 2.0f));
}
TEST_CASE("Embedding: the weight's gradient matches central differences (double), rows summed") {
  nn::BasicEmbedding<double> emb{4, 3};
  emb.initialize();
  const auto idx = nd::array<double>({1, 3, 1, 0}, {2, 2});
  // The weight's own array as the input: the numeric differences perturb the parameter.
  CHECK(gradcheck([&](const V&) { return emb(idx); }, {emb.weight()->data()}));
  emb.weight()->zero_grad();
  {
    autograd::record rec;
    emb(idx).backward();
  }
  test::check_values(emb.weight()->grad(), {1, 1, 1, 2, 2, 2, 0, 0, 0, 1, 1, 1}, 1e-15);
}
TEST_CASE("Embedding: errors") {
  nn::reset_name_counters();
  CHECK_THROWS_WITH_AS(nn::Embedding(0, 3), doctest::Contains("input_dim and output_dim must be > 0"), ValueError);
  CHECK_THROWS_AS(nn::Embedding(3, 0), ValueError);
  CHECK_THROWS_WITH_AS(nn::Embedding(std::size_t(1) << 40, std::size_t(1) << 40), doctest::Contains("too large"), ValueError);
  // A float index holds integers exactly only up to 2^24: a larger table is refused before any
  // weight is allocated (16777217.f is 16777216: an index would silently read another row).
  CHECK_THROWS_WITH_AS(nn::Embedding((std::size_t(1) << 24) + 1, 4),
                       doctest::Contains("Embedding: input_dim 16777217 is more than float indices name exactly "
                                         "(2^24 = 16777216)"),
                       ValueError);
  CHECK_NOTHROW(nn::BasicEmbedding<double>((std::size_t(1) << 24) + 1, 1));  // no weight allocated yet
  nn::Embedding emb{5, 2};
  emb.initialize();
  CHECK_THROWS_WITH_AS(emb(nd::array<float>({1, 5})), doctest::Contains("index 5 at position 1"), ValueError);
  CHECK_THROWS_WITH_AS(emb(nd::array<float>({1, 5})), doctest::Contains("input_dim = 5"), ValueError);
  nn::Embedding later{5, 2};
  CHECK_THROWS_AS(later(nd::array<float>({1})), StateError);  // not initialized
}
}
