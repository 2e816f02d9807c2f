// SPDX-License-Identifier: Apache-2.0
// Block::copy_parameters_from and nn::cast (nn/block.hpp): Gluon's block.cast(dtype).
#include <gluino/nn/block.hpp>

#include <doctest/doctest.h>

#include <cmath>
#include <memory>

#include <gluino/model_zoo/lenet.hpp>
#include <gluino/nd/creation.hpp>
#include <gluino/nd/random.hpp>
#include <gluino/nn/dense.hpp>
#include <gluino/nn/sequential.hpp>

using namespace gluino;

namespace {
template <class T>
std::shared_ptr<nn::BasicSequential<T>> dense_mlp(std::size_t hidden, std::size_t layers = 2) {
  auto net = std::make_shared<nn::BasicSequential<T>>();
  net->add(nn::BasicDense<T>{hidden, {.activation = "tanh"}});
  for (std::size_t i = 1; i < layers; ++i) net->add(nn::BasicDense<T>{3});
  return net;
}
}  // namespace

TEST_SUITE("nn/block_cast") {

TEST_CASE("cast: a float LeNet cast to a double one gives the same outputs to float precision") {
  random::seed(3);
  auto net = model_zoo::lenet<float>();
  net->initialize();
  const auto x = nd::random::uniform<float>({2, 1, 28, 28});
  const auto y32 = (*net)(x);  // also finishes the deferred shapes
  auto net64 = nn::cast(*net, model_zoo::lenet<double>());
  static_assert(std::is_same_v<decltype(net64), std::shared_ptr<nn::BasicSequential<double>>>);
  // Each value is the float's, exactly; the deferred Dense took its shape from the source.
  const auto src = net->collect_params_with_prefix();
  const auto dst = net64->collect_params_with_prefix();
  REQUIRE(src.size() == dst.size());
  for (std::size_t i = 0; i < src.size(); ++i) {
    CAPTURE(src[i].first);
    CHECK(dst[i].first == src[i].first);
    CHECK(dst[i].second->data().to_vector() == src[i].second->data().template astype<double>().to_vector());
  }
  const auto y64 = (*net64)(x.astype<double>());
  REQUIRE(y64.shape() == Shape{2, 10});
  for (std::size_t i = 0; i < y64.size(); ++i)
    CHECK(y64.data()[i] == doctest::Approx(double(y32.data()[i])).epsilon(1e-5));
}

TEST_CASE("copy_parameters_from: double to float, and into initialized parameters") {
  auto a = dense_mlp<double>(4);
  a->initialize();
  (*a)(nd::ones<double>({1, 5}));
  auto b = dense_mlp<float>(4);
  b->initialize();
  (*b)(nd::ones<float>({1, 5}));
  b->copy_parameters_from(*a);
  CHECK(b->collect_params_with_prefix()[0].second->data().to_vector() ==
        a->collect_params_with_prefix()[0].second->data().astype<float>().to_vector());
}

TEST_CASE("copy_parameters_from: mismatched architectures name the parameter, and nothing changes") {
  auto src = dense_mlp<float>(4);
  src->initialize();
  (*src)(nd::ones<float>({1, 5}));
  SUBCASE("a shape differs: ShapeError with both shapes") {
    auto dst = dense_mlp<double>(6);
    dst->initialize();
    (*dst)(nd::ones<double>({1, 5}));
    const auto before = dst->collect_params_with_prefix()[2].second->data().to_vector();  // 1.weight
    CHECK_THROWS_WITH_AS(dst->copy_parameters_from(*src),
                         "copy_parameters_from: parameter '0.weight' has shape (6, 5) here but (4, 5) in the source; "
                         "parameter '0.bias' has shape (6,) here but (4,) in the source; parameter '1.weight' has "
                         "shape (3, 6) here but (3, 4) in the source (nothing was changed)",
                         ShapeError);
    CHECK(dst->collect_params_with_prefix()[2].second->data().to_vector() == before);
  }
  SUBCASE("a layer more or less: ValueError naming the parameters") {
    auto longer = dense_mlp<double>(4, 3);
    CHECK_THROWS_WITH_AS(longer->copy_parameters_from(*src),
                         doctest::Contains("parameter '2.weight' is missing in the source"), ValueError);
    auto shorter = dense_mlp<double>(4, 1);
    CHECK_THROWS_WITH_AS(shorter->copy_parameters_from(*src),
                         doctest::Contains("the source's parameter '1.bias' is not a parameter here"), ValueError);
  }
  SUBCASE("an uninitialized source: StateError") {
    auto fresh = dense_mlp<float>(4);
    auto dst = dense_mlp<double>(4);
    CHECK_THROWS_WITH_AS(dst->copy_parameters_from(*fresh),
                         "copy_parameters_from: parameter '0.weight' of the source is not initialized", StateError);
    CHECK_THROWS_WITH_AS(nn::cast(*src, std::shared_ptr<nn::BasicSequential<double>>{}),
                         "cast: the target block is null", ValueError);
  }
}

}  // TEST_SUITE
