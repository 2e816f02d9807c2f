// SPDX-License-Identifier: Apache-2.0
#include <gluino/nn/concatenate.hpp>

#include <doctest/doctest.h>

#include <sstream>
#include <vector>

#include <gluino/autograd/engine.hpp>
#include <gluino/autograd/mode.hpp>
#include <gluino/graph/graph.hpp>
#include <gluino/nd/creation.hpp>
#include <gluino/nd/reduce.hpp>
#include <gluino/nn/conv2d.hpp>
#include <gluino/nn/dense.hpp>
#include <gluino/nn/hybrid_block.hpp>
#include <gluino/nn/pooling.hpp>
#include "support/gradcheck.hpp"

using namespace gluino;
using test::gradcheck;
using test::rand_array;
using V = std::vector<NDArray<double>>;

namespace {
// Three branches over (N, 3, 5, 5): a 1x1 conv to 4 channels, a padded 3x3 conv to 2, the input.
template <class C>
std::shared_ptr<C> inception_like() {
  auto c = std::make_shared<C>(1);
  c->add(nn::BasicConv2D<double>{4, 1}, nn::BasicConv2D<double>{2, 3, {.padding = 1}}, nn::BasicIdentity<double>{});
  c->initialize();
  return c;
}
}  // namespace

TEST_SUITE("nn/concatenate") {
TEST_CASE("Concatenate: the output is the concat of each branch's output on the same input") {
  auto net = inception_like<nn::BasicConcatenate<double>>();
  const auto x = rand_array({2, 3, 5, 5}, 11);
  const auto y = (*net)(x);
  CHECK(y.shape() == Shape{2, 9, 5, 5});
  const auto manual = nd::concat<double>({(*net)[0](x), (*net)[1](x), x}, 1);
  CHECK(y.to_vector() == manual.to_vector());
  // The input's own channels come last, unchanged: y[n, 6 + c] == x[n, c].
  CHECK(y.at(1, 6, 2, 3) == x.at(1, 0, 2, 3));
  CHECK(y.at(0, 8, 4, 4) == x.at(0, 2, 4, 4));
}
TEST_CASE("Concatenate: Gluon's default axis -1, and a negative axis counts from the back") {
  nn::BasicConcatenate<double> last;
  CHECK(last.axis() == -1);
  last.add(nn::BasicDense<double>{3}, nn::BasicDense<double>{2});
  last.initialize();
  CHECK(last(rand_array({4, 5})).shape() == Shape{4, 5});
  nn::BasicConcatenate<double> spatial{-2};
  spatial.add(nn::BasicMaxPool2D<double>{2, 2}, nn::BasicAvgPool2D<double>{2, 2});
  const auto x = rand_array({1, 2, 4, 4}, 3);
  const auto y = spatial(x);
  CHECK(y.shape() == Shape{1, 2, 4, 2});  // the two (2, 2) maps stacked along H
  CHECK(y.to_vector() == nd::concat<double>({spatial[0](x), spatial[1](x)}, 2).to_vector());
}
TEST_CASE("Concatenate: gradients reach every branch and the input (double, finite differences)") {
  auto net = inception_like<nn::BasicConcatenate<double>>();
  const auto x0 = rand_array({2, 3, 5, 5}, 5);
  CHECK(gradcheck([&](const V& in) { return (*net)(in[0]); }, {x0}));
  auto x = x0.copy();
  x.attach_grad();
  {
    autograd::record rec;
    auto l = nd::sum(nd::square((*net)(x)));
    l.backward();
  }
  const auto params = net->collect_params();
  CHECK(params.size() == 4);
  for (const auto& entry : params) {
    const std::string& name = entry.first;  // a named variable: clang 14 cannot capture a binding
    const auto& p = entry.second;
    CAPTURE(name);
    CHECK(nd::sum(nd::abs(p->grad())).asscalar() > 0.0);
  }
  // A weight's gradient equals its branch's alone: the concat splits dy back to each branch.
  auto alone = [&](nn::BasicBlock<double>& b) {
    auto z = x0.copy();
    autograd::record rec;
    auto l = nd::sum(nd::square(b(z)));
    l.backward();
  };
  const auto w0 = net->at<nn::BasicConv2D<double>>(0).weight();
  const auto from_net = w0->grad().copy();
  alone((*net)[0]);
  CHECK(w0->grad().to_vector() == from_net.to_vector());
}
TEST_CASE("Concatenate: names, listing, indexing and slicing as a Sequential") {
  nn::reset_name_counters();
  nn::Concatenate net{1};
  {
    auto scope = net.name_scope();
    net.add(nn::Conv2D{4, 1}, nn::Identity{});
  }
  CHECK(net.prefix() == "concatenate0_");
  CHECK(net.size() == 2);
  CHECK(net.at<nn::Conv2D>(0).weight()->name() == "concatenate0_conv0_weight");
  std::ostringstream os;
  os << net;
  CHECK(os.str() ==
        "Concatenate(\n"
        "  (0): Conv2D(None -> 4, kernel_size=(1, 1), stride=(1, 1))\n"
        "  (1): Identity\n"
        ")");
  const nn::Concatenate tail = net.slice(1);
  CHECK(tail.size() == 1);
  CHECK(tail.axis() == 1);
  CHECK(tail.prefix() == "concatenate0_");
  CHECK(&tail[0] == &net[1]);
  nn::HybridConcatenate h;
  std::ostringstream hs;
  hs << h;
  CHECK(hs.str() == "HybridConcatenate()");
  CHECK(h.prefix() == "hybridconcatenate0_");
  CHECK(h.is_hybridizable());
  CHECK_FALSE(net.is_hybridizable());
}
TEST_CASE("HybridConcatenate: hybridized, one graph with a concat node and the imperative outputs and gradients") {
  auto net = inception_like<nn::BasicHybridConcatenate<double>>();
  const auto x = rand_array({2, 3, 5, 5}, 21);
  const auto imperative = (*net)(x);
  auto grads = [&] {
    std::vector<std::vector<double>> out;
    {
      autograd::record rec;
      auto l = nd::sum(nd::square((*net)(x)));
      l.backward();
    }
    for (const auto& [n, p] : net->collect_params()) out.push_back(p->grad().to_vector());
    return out;
  };
  const auto imperative_grads = grads();
  net->hybridize();
  CHECK((*net)(x).to_vector() == imperative.to_vector());  // traced
  CHECK((*net)(x).to_vector() == imperative.to_vector());  // the graph
  REQUIRE(net->cached_graphs().size() == 1);
  std::size_t concats = 0, convs = 0;
  for (const auto& node : net->cached_graphs()[0]->nodes) {
    concats += std::string(node.op->name()) == "concat";
    convs += std::string(node.op->name()) == "convolution";
  }
  CHECK(concats == 1);
  CHECK(convs == 2);
  (void)grads();  // traces the recording signature
  CHECK(grads() == imperative_grads);
  // Inside a HybridSequential: one graph for the whole chain.
  nn::BasicHybridSequential<double> seq;
  seq.add(inception_like<nn::BasicHybridConcatenate<double>>(), nn::BasicGlobalAvgPool2D<double>{});
  const auto y = seq(x);
  seq.hybridize();
  CHECK(seq(x).to_vector() == y.to_vector());
  CHECK(seq(x).shape() == Shape{2, 9, 1, 1});
}
TEST_CASE("Concatenate: errors name the container and the shapes") {
  nn::Concatenate empty{1, "cat_"};
  CHECK_THROWS_WITH_AS(empty(nd::zeros<float>({1, 2})), doctest::Contains("cat_: Concatenate has no blocks"),
                       ValueError);
  nn::Concatenate mismatch{1, "mix_"};
  mismatch.add(nn::Conv2D{4, 1}, nn::Conv2D{2, 3});
  mismatch.initialize();
  CHECK_THROWS_WITH_AS(mismatch(nd::zeros<float>({1, 3, 5, 5})),
                       doctest::Contains("mix_: branch 1 (Conv2D) gives shape (1, 2, 3, 3) and branch 0 (Conv2D) "
                                         "gives (1, 4, 5, 5): they must agree outside axis 1"),
                       ShapeError);
  nn::Concatenate far{4, "far_"};
  far.add(nn::Identity{});
  CHECK_THROWS_WITH_AS(far(nd::zeros<float>({1, 3, 5, 5})),
                       doctest::Contains("far_: axis 4 out of range for the output of shape (1, 3, 5, 5)"), ShapeError);
}
}
