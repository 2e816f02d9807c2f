// SPDX-License-Identifier: Apache-2.0
#include <gluino/nn/normalization.hpp>

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include <gluino/autograd/mode.hpp>
#include <gluino/graph/graph.hpp>
#include <gluino/nd/creation.hpp>
#include <gluino/nd/elementwise.hpp>
#include <gluino/nd/reduce.hpp>
#include <gluino/nn/dense.hpp>
#include <gluino/nn/embedding.hpp>
#include <gluino/nn/hybrid_block.hpp>
#include "support/check_close.hpp"
#include "support/gradcheck.hpp"
#include "support/repr.hpp"

using namespace gluino;
using test::gradcheck;
using test::rand_array;
using test::repr;
using V = std::vector<NDArray<double>>;

namespace {
// Every trainable parameter's gradient after one backward of sum(y * y), in collect_params order.
std::vector<std::vector<double>> step_grads(nn::BasicBlock<double>& net, const NDArray<double>& x) {
  for (const auto& [n, p] : net.collect_params())
    if (p->grad_req() != GradReq::null) p->zero_grad();
  {
    autograd::record rec;
    auto y = net(x);
    (y * y).sum().backward();
  }
  std::vector<std::vector<double>> g;
  for (const auto& [n, p] : net.collect_params())
    if (p->grad_req() != GradReq::null) g.push_back(p->grad().to_vector());
  return g;
}
// Checks a layer's gradients in x, gamma and beta against central differences (double): gamma
// and beta are the parameters' own arrays, so the numeric differences perturb the parameters.
void gradcheck_layer(nn::BasicNormalizationBlock<double>& layer, const Shape& x_shape) {
  layer.initialize();
  (void)layer(rand_array(x_shape));  // settles deferred shapes
  layer.gamma()->set_data(rand_array(layer.gamma()->shape(), 5, 0.5, 1.5));
  layer.beta()->set_data(rand_array(layer.beta()->shape(), 6));
  CHECK(gradcheck([&](const V& in) { return layer(in[0]); },
                  {rand_array(x_shape, 9, -2, 2), layer.gamma()->data(), layer.beta()->data()}));
}
}  // namespace

TEST_SUITE("nn/normalization") {
TEST_CASE("LayerNorm: Gluon's names, deferred in_channels, repr, values of nd::layer_norm") {
  nn::reset_name_counters();
  nn::LayerNorm ln;
  CHECK(ln.prefix() == "layernorm0_");
  CHECK(ln.params().keys() == std::vector<std::string>{"layernorm0_gamma", "layernorm0_beta"});
  CHECK(ln.gamma()->shape() == Shape{0});
  CHECK(repr(ln) == "LayerNorm(eps=1e-05, axis=-1, center=True, scale=True, in_channels=0)");
  ln.initialize();
  CHECK(ln.gamma()->is_deferred());
  const auto x = nd::array<float>({1, 2, 3, 4, 5, 1, 1, 2, 2, 2}, {2, 5});
  const auto y = ln(x);
  CHECK(ln.in_channels() == 5);
  CHECK(ln.gamma()->data().to_vector() == std::vector<float>(5, 1.0f));
  CHECK(ln.beta()->data().to_vector() == std::vector<float>(5, 0.0f));
  CHECK(y.to_vector() == nd::layer_norm(x, nd::ones<float>({5}), nd::zeros<float>({5})).to_vector());
  CHECK(repr(ln) == "LayerNorm(eps=1e-05, axis=-1, center=True, scale=True, in_channels=5)");
  nn::LayerNorm ln1{{.axis = 1, .epsilon = 0.001, .center = false, .in_channels = 3}};
  CHECK_FALSE(ln1.gamma()->is_deferred());
  CHECK(ln1.gamma()->shape() == Shape{3});
  CHECK(ln1.beta()->grad_req() == GradReq::null);
  CHECK(ln1.gamma()->grad_req() == GradReq::write);
  CHECK(repr(ln1) == "LayerNorm(eps=0.001, axis=1, center=False, scale=True, in_channels=3)");
  ln1.initialize();
  CHECK(ln1(nd::zeros<float>({2, 3, 4})).shape() == Shape{2, 3, 4});
}
TEST_CASE("InstanceNorm: Gluon's defaults (axis 1, scale false), names, deferred channels, repr") {
  nn::reset_name_counters();
  nn::InstanceNorm in;
  CHECK(in.prefix() == "instancenorm0_");
  CHECK(in.params().keys() == std::vector<std::string>{"instancenorm0_gamma", "instancenorm0_beta"});
  CHECK(in.gamma()->grad_req() == GradReq::null);  // scale = false, as Gluon's default
  CHECK(in.beta()->grad_req() == GradReq::write);
  CHECK(repr(in) == "InstanceNorm(eps=1e-05, axis=1, center=True, scale=False, in_channels=0)");
  in.initialize();
  // Gluon's docstring example.
  const auto x = nd::array<float>({1.1f, 2.2f, 3.3f, 4.4f}, {2, 1, 2});
  test::check_values(in(x), {-0.99998355, 0.99998331, -0.99998319, 0.99998361}, 2e-6);
  CHECK(in.in_channels() == 1);
  nn::InstanceNorm nhwc{{.axis = -1, .scale = true}};
  nhwc.initialize();
  CHECK(nhwc(nd::zeros<float>({2, 4, 4, 3})).shape() == Shape{2, 4, 4, 3});
  CHECK(nhwc.gamma()->shape() == Shape{3});
  CHECK(nhwc.gamma()->grad_req() == GradReq::write);
}
TEST_CASE("GroupNorm: parameters (num_groups,) as MXNet 1.x, known at construction; repr") {
  nn::reset_name_counters();
  nn::GroupNorm gn{{.num_groups = 2}};
  CHECK(gn.prefix() == "groupnorm0_");
  CHECK(gn.params().keys() == std::vector<std::string>{"groupnorm0_gamma", "groupnorm0_beta"});
  CHECK(gn.gamma()->shape() == Shape{2});
  CHECK(gn.beta()->shape() == Shape{2});
  CHECK(repr(gn) == "GroupNorm(eps=1e-05, num_groups=2, center=True, scale=True)");
  gn.initialize();
  CHECK_FALSE(gn.gamma()->is_deferred());
  gn.gamma()->set_data(nd::array<float>({2, 3}));
  const auto x = nd::array<float>({0, 2, 4, 4, 1, 1, 1, 3}, {1, 4, 2});
  CHECK(gn(x).to_vector() ==
        nd::group_norm(x, nd::array<float>({2, 3}), nd::zeros<float>({2}), 2).to_vector());
  CHECK(repr(nn::GroupNorm{}) == "GroupNorm(eps=1e-05, num_groups=1, center=True, scale=True)");
}
TEST_CASE("no running statistics: train and predict mode give the same output") {
  nn::LayerNorm ln;
  ln.initialize();
  const auto x = nd::array<float>({1, 5, 2, 2, 9, 4}, {2, 3});
  const auto predict = ln(x).to_vector();
  autograd::train_mode train;
  CHECK(ln(x).to_vector() == predict);
}
TEST_CASE("errors name the block and the shapes") {
  nn::reset_name_counters();
  nn::LayerNorm ln{{.in_channels = 4}};
  ln.initialize();
  CHECK_THROWS_WITH_AS(ln(nd::zeros<float>({2, 3})),
                       doctest::Contains("layernorm0_: input of shape (2, 3) has 3 elements along axis -1 but parameter "
                                         "'layernorm0_gamma' has shape (4,)"),
                       ShapeError);
  CHECK_THROWS_WITH_AS(nn::LayerNorm{{.axis = 2}}(nd::zeros<float>({2, 3})),
                       doctest::Contains("layernorm1_: input of shape (2, 3) has no axis 2"), ShapeError);
  CHECK_THROWS_WITH_AS(nn::LayerNorm{{.epsilon = 0}}, doctest::Contains("LayerNorm: epsilon must be > 0"), ValueError);
  nn::InstanceNorm in;
  in.initialize();
  CHECK_THROWS_WITH_AS(in(nd::zeros<float>({2, 3})), doctest::Contains("instancenorm0_: input of shape (2, 3) has no axis 1 other than 0 or fewer than 3 axes"),
                       ShapeError);
  nn::GroupNorm gn{{.num_groups = 2}};
  gn.initialize();
  CHECK_THROWS_WITH_AS(gn(nd::zeros<float>({2, 3, 4})),
                       doctest::Contains("groupnorm0_: input of shape (2, 3, 4) has no channel axis 1 that 2 groups divide"),
                       ShapeError);
  CHECK_THROWS_WITH_AS(nn::GroupNorm{{.num_groups = 0}}, doctest::Contains("num_groups must be > 0"), ValueError);
}
TEST_CASE("gradients through the layers match central differences (double)") {
  SUBCASE("LayerNorm") {
    nn::BasicLayerNorm<double> ln{{.axis = 1}};
    gradcheck_layer(ln, {2, 3, 2});
  }
  SUBCASE("InstanceNorm") {
    nn::BasicInstanceNorm<double> in{{.scale = true}};
    gradcheck_layer(in, {2, 3, 4});
  }
  SUBCASE("GroupNorm") {
    nn::BasicGroupNorm<double> gn{{.num_groups = 2}};
    gradcheck_layer(gn, {2, 4, 3});
  }
}
TEST_CASE("HybridSequential of Embedding, LayerNorm and Dense: the graph gives the imperative outputs and gradients") {
  auto make = [] {
    auto net = std::make_shared<nn::BasicHybridSequential<double>>();
    net->add(nn::BasicEmbedding<double>{10, 4}, nn::BasicLayerNorm<double>{},
             nn::BasicDense<double>{3, {.flatten = false}});
    net->initialize();
    return net;
  };
  auto net = make(), ref = make();
  const auto x = nd::array<double>({1, 7, 7, 0, 9, 2}, {2, 3});
  (void)(*net)(x);
  (void)(*ref)(x);
  const auto np = net->collect_params_with_prefix(), rp = ref->collect_params_with_prefix();
  REQUIRE(np.size() == rp.size());
  std::uint64_t seed = 40;
  for (std::size_t i = 0; i < np.size(); ++i) {
    auto v = rand_array(np[i].second->shape(), seed++, 0.5, 1.5);
    np[i].second->set_data(v);
    rp[i].second->set_data(v);
  }
  net->hybridize();
  const auto y_traced = (*net)(x);
  REQUIRE(net->cached_graphs().size() == 1);
  std::size_t embeddings = 0, layer_norms = 0;
  for (const auto& node : net->cached_graphs()[0]->nodes) {
    embeddings += std::string(node.op->name()) == "embedding";
    layer_norms += std::string(node.op->name()) == "layer_norm";
  }
  CHECK(embeddings == 1);
  CHECK(layer_norms == 1);
  test::check_close_arrays((*net)(x), (*ref)(x), 1e-12);
  CHECK(y_traced.shape() == Shape{2, 3, 3});
  // Other indices of the same shape run the same graph with those indices.
  const auto x2 = nd::array<double>({3, 3, 4, 8, 5, 6}, {2, 3});
  test::check_close_arrays((*net)(x2), (*ref)(x2), 1e-12);
  CHECK(net->cached_graphs().size() == 1);
  CHECK_THROWS_WITH_AS((*net)(nd::array<double>({3, 3, 4, 8, 5, 10}, {2, 3})), doctest::Contains("index 10"), ValueError);
  (void)step_grads(*net, x2);  // traces the recording signature
  CHECK(step_grads(*net, x2) == step_grads(*ref, x2));
}
}
