// SPDX-License-Identifier: Apache-2.0
#include <gluino/nn/hybrid_block.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <sstream>
#include <string>
#include <vector>

#include <gluino/autograd/grad.hpp>
#include <gluino/autograd/mode.hpp>
#include <gluino/core/parallel.hpp>
#include <gluino/core/storage.hpp>
#include <gluino/graph/graph.hpp>
#include <gluino/model_zoo/lenet.hpp>
#include <gluino/nd/elementwise.hpp>
#include <gluino/nd/reduce.hpp>
#include <gluino/nn/activations.hpp>
#include <gluino/nn/basic_layers.hpp>
#include <gluino/nn/batch_norm.hpp>
#include <gluino/nn/conv2d.hpp>
#include <gluino/nn/dense.hpp>
#include <gluino/nn/dropout.hpp>
#include <gluino/nn/pooling.hpp>
#include "support/check_close.hpp"
#include "support/gradcheck.hpp"
#include "support/repr.hpp"

using namespace gluino;
using test::rand_array;

namespace {
using Net = std::shared_ptr<nn::BasicSequential<double>>;

// Every parameter's gradient, in collect_params order.
std::vector<std::vector<double>> grads_of(const nn::BasicBlock<double>& net) {
  std::vector<std::vector<double>> g;
  for (const auto& [n, p] : net.collect_params())
    if (p->grad_req() != GradReq::null) g.push_back(p->grad().to_vector());
  return g;
}
std::vector<std::vector<double>> train_step_grads(nn::BasicBlock<double>& net, const NDArray<double>& x) {
  for (const auto& [n, p] : net.collect_params())
    if (p->grad_req() != GradReq::null) p->zero_grad();
  {
    autograd::record rec;
    auto y = net(x);
    auto l = (y * y).sum();
    l.backward();
  }
  return grads_of(net);
}
std::size_t count_nodes(const graph::Graph<double>& g, const std::string& op) {
  std::size_t n = 0;
  for (const auto& node : g.nodes) n += op == node.op->name();
  return n;
}

// The tutorial's FancyMLP shape of forward: a loop on a value (refused by hybridize).
class Halving : public nn::BasicHybridCustomBlock<Halving, double> {
 public:
  NDArray<double> forward(const NDArray<double>& x) {
    NDArray<double> y = x;
    while (nd::abs(y).sum().asscalar() > 1) y = y / 2.0;
    return y;
  }
};
// Writes its output element by element: not an op.
class Handmade : public nn::BasicHybridCustomBlock<Handmade, double> {
 public:
  NDArray<double> forward(const NDArray<double>& x) {
    NDArray<double> y(x.shape());
    for (std::size_t i = 0; i < x.size(); ++i) y.data()[i] = 2 * x.data()[i];
    return y;
  }
};
class Filled : public nn::BasicHybridCustomBlock<Filled, double> {
 public:
  NDArray<double> forward(const NDArray<double>& x) {
    NDArray<double> y(x.shape());
    for (double& v : y) v = 1;
    return y;
  }
};
// Two inputs, two outputs, a parameter read through data().
class TwoWay : public nn::BasicHybridCustomBlock<TwoWay, double> {
 public:
  TwoWay() { w_ = this->params().get("w", Shape{3}); }
  std::vector<NDArray<double>> forward(const NDArray<double>& a, const NDArray<double>& b) {
    return {a * w_->data() + b, nd::relu(a - b)};
  }
  std::shared_ptr<nn::BasicParameter<double>> w_;
};
}  // namespace

TEST_SUITE("nn/hybrid_block") {
TEST_CASE("HybridSequential: Gluon's names and listing; hybridize flags") {
  nn::reset_name_counters();
  nn::BasicHybridSequential<double> net;
  CHECK(net.prefix() == "hybridsequential0_");
  CHECK(net.is_hybridizable());
  CHECK_FALSE(net.is_hybridized());
  net.add(nn::BasicDense<double>{4});
  CHECK(test::repr(net).rfind("HybridSequential(", 0) == 0);
  net.hybridize();
  CHECK(net.is_hybridized());
  CHECK_FALSE(net[0].is_hybridized());  // a plain Dense is not a HybridBlock here
  net.hybridize(false);
  CHECK_FALSE(net.is_hybridized());
  nn::BasicSequential<double> plain;
  plain.hybridize();
  CHECK_FALSE(plain.is_hybridized());
}

TEST_CASE("LeNet hybridized: one graph per input shape, the imperative outputs, deferred shapes traced") {
  const int threads = get_num_threads();
  set_num_threads(2);  // a batch of 2: each convolution and its pooling one node (fuse_conv_max_pool)
  struct Restore {
    int t;
    ~Restore() { set_num_threads(t); }
  } restore{threads};
  Net net = model_zoo::lenet<double>();
  net->initialize();
  net->hybridize();
  const auto x = rand_array({2, 1, 28, 28}, 3);
  const auto first = (*net)(x);  // traces (and initializes the deferred Dense)
  REQUIRE(net->cached_graphs().size() == 1);
  const auto graph0 = net->cached_graphs()[0];
  const auto& g = *graph0;
  CHECK(count_nodes(g, "convolution_max_pool") == 2);
  CHECK(count_nodes(g, "convolution") == 0);
  CHECK(count_nodes(g, "pooling") == 0);
  CHECK(count_nodes(g, "fully_connected") == 2);
  CHECK(g.find("lenet0_dense0_weight") >= 0);  // initialized during the trace, bound by name
  CHECK(g.find("data") == g.inputs[0]);
  const auto second = (*net)(x);  // the graph
  CHECK(second.to_vector() == first.to_vector());
  net->hybridize(false);
  CHECK(((*net)(x)).to_vector() == first.to_vector());
  net->hybridize();
  (void)(*net)(rand_array({5, 1, 28, 28}, 4));
  (void)(*net)(rand_array({5, 1, 28, 28}, 5));
  CHECK(net->cached_graphs().size() == 1);  // hybridize() again starts a new cache
  std::ostringstream os;
  os << g;
  CHECK(os.str().find("convolution_max_pool(%0 data, %") != std::string::npos);
  // A batch smaller than the thread count keeps the pairs apart: the team schedule splits them
  // (one thread, without OpenMP: fused too).
  const auto one = rand_array({1, 1, 28, 28}, 6);
  (void)(*net)(one);
  const auto g1 = net->cached_graphs().back();
  const std::size_t apart = get_num_threads() > 1 ? 2 : 0;
  CHECK(count_nodes(*g1, "convolution") == apart);
  CHECK(count_nodes(*g1, "pooling") == apart);
  const auto got = (*net)(one).to_vector();
  net->hybridize(false);
  const auto want = (*net)(one).to_vector();
  REQUIRE(got.size() == want.size());
  for (std::size_t i = 0; i < got.size(); ++i) CHECK(got[i] == doctest::Approx(want[i]).epsilon(1e-12));
}

TEST_CASE("training through the graph gives the imperative gradients") {
  Net net = model_zoo::lenet<double>();
  net->initialize();
  const auto x = rand_array({3, 1, 28, 28}, 8);
  const auto imperative = train_step_grads(*net, x);
  net->hybridize();
  const auto traced = train_step_grads(*net, x);  // the trace itself runs imperatively
  const auto replayed = train_step_grads(*net, x);
  REQUIRE(net->cached_graphs().size() == 1);
  REQUIRE(imperative.size() == 8);
  CHECK(traced == imperative);
  CHECK(replayed == imperative);
}

TEST_CASE("a gradient penalty (create_graph) through a hybridized training graph gives the imperative gradients") {
  // loss = sum(net(x)^2), dx = dloss/dx recorded, total = loss + sum(dx^2): the parameters'
  // gradients of total go through the second derivatives of the graph's ops.
  auto make = [] {
    auto net = std::make_shared<nn::BasicHybridSequential<double>>();
    net->add(nn::BasicConv2D<double>{3, 3, {.padding = 1, .activation = "tanh"}}, nn::BasicDense<double>{4});
    net->initialize();
    return net;
  };
  auto net = make(), ref = make();
  const auto x0 = rand_array({2, 2, 5, 5}, 40);
  (void)(*net)(x0);  // the deferred shapes
  (void)(*ref)(x0);
  const auto np = net->collect_params_with_prefix(), rp = ref->collect_params_with_prefix();
  REQUIRE(np.size() == 4);
  for (std::size_t i = 0; i < np.size(); ++i) {
    auto v = rand_array(np[i].second->shape(), 41 + i);
    np[i].second->set_data(v);
    rp[i].second->set_data(v);
  }
  auto step = [](nn::BasicBlock<double>& b) {
    for (const auto& [n, p] : b.collect_params()) p->zero_grad();
    auto x = rand_array({2, 2, 5, 5}, 42);
    x.attach_grad();
    std::vector<double> dx_values;
    {
      autograd::record rec;
      const auto y = b(x);
      const auto l = (y * y).sum();
      const auto dx = autograd::grad(l, {x}, {.create_graph = true})[0];
      dx_values = dx.to_vector();
      (l + (dx * dx).sum()).backward();
    }
    auto g = grads_of(b);
    g.push_back(dx_values);
    g.push_back(x.grad().to_vector());
    return g;
  };
  const auto imperative = step(*ref);
  net->hybridize();
  const auto traced = step(*net);    // the trace runs imperatively
  const auto replayed = step(*net);  // the graph's nodes, recorded by apply
  REQUIRE(net->cached_graphs().size() == 1);
  CHECK(count_nodes(*net->cached_graphs()[0], "convolution") == 1);
  CHECK(count_nodes(*net->cached_graphs()[0], "fully_connected") == 1);
  REQUIRE(imperative.size() == 6);
  CHECK(traced == imperative);
  CHECK(replayed == imperative);
  for (const auto& g : imperative) CHECK(std::any_of(g.begin(), g.end(), [](double v) { return v != 0; }));
}

TEST_CASE("training graphs: each convolution and its max pooling one node, arrays in the planned arena, the imperative gradients") {
  auto make = [] {
    auto net = std::make_shared<nn::BasicHybridSequential<double>>();
    net->add(nn::BasicConv2D<double>{4, 3, {.padding = 1, .activation = "relu"}}, nn::BasicMaxPool2D<double>{2, 2},
             nn::BasicConv2D<double>{6, 3, {.activation = "relu"}}, nn::BasicMaxPool2D<double>{3, 2},
             nn::BasicDense<double>{5});
    return net;
  };
  const auto x = rand_array({3, 2, 12, 12}, 9);
  auto imperative = make(), hybrid = make(), plain = make();
  for (auto* net : {&imperative, &hybrid, &plain}) {
    (*net)->initialize();
    (void)(**net)(x);
  }
  hybrid->copy_parameters_from(*imperative);
  plain->copy_parameters_from(*imperative);
  hybrid->hybridize();
  plain->hybridize(true, {.static_alloc = false});
  const auto want = train_step_grads(*imperative, x);
  for (int step = 0; step < 4; ++step) {  // the trace, a watched run, then runs in the arena
    CHECK(train_step_grads(*hybrid, x) == want);
    CHECK(train_step_grads(*plain, x) == want);
  }
  REQUIRE(hybrid->cached_graphs().size() == 1);
  const auto& g = *hybrid->cached_graphs()[0];
  std::ostringstream os;
  os << g;
  CHECK(count_nodes(g, "convolution_max_pool") == 2);  // fuse_conv_max_pool, with each ReLU
  CHECK(count_nodes(g, "pooling") == 0);
  CHECK(os.str().find("relu=1, pool_kernel=[2, 2], pool_stride=[2, 2]") != std::string::npos);
  CHECK(g.arena()->capacity() > 0);
  CHECK(g.arena()->planned_blocks().first > 0);
  CHECK(plain->cached_graphs()[0]->arena()->capacity() == 0);
}

TEST_CASE("static_alloc: the trace gives back the pool's cached blocks of sizes it did not use") {
  auto make = [] {
    auto net = std::make_shared<nn::BasicHybridSequential<double>>();
    net->add(nn::BasicConv2D<double>{4, 3, {.activation = "relu"}}, nn::BasicDense<double>{5});
    return net;
  };
  auto planned = make(), plain = make();
  plain->hybridize(true, {.static_alloc = false});
  planned->hybridize();
  for (auto* net : {&plain, &planned}) {
    (*net)->initialize();
    ::gluino::detail::memory_pool().release();
    (void)(**net)(rand_array({1, 2, 8, 8}, 3));  // deferred shapes, and a graph for batch 1
    { Storage<char> idle(1000003); }  // a size nothing else asks for, cached from before
    const std::size_t before = ::gluino::detail::memory_pool().cached_bytes();
    REQUIRE(before >= 1000003);
    autograd::record rec;
    (void)(**net)(rand_array({3, 2, 8, 8}, 4));  // a new signature: a trace
    const std::size_t after = ::gluino::detail::memory_pool().cached_bytes();
    if (net == &planned) CHECK(after < 1000003);  // the idle block went back to the system
    else CHECK(after >= 1000003);  // no arena: the pool keeps serving the graph
  }
}

TEST_CASE("predict mode folds a batch norm into the convolution; train mode updates the running stats") {
  auto make = [] {
    auto net = std::make_shared<nn::BasicHybridSequential<double>>();
    net->add(nn::BasicConv2D<double>{4, 3}, nn::BasicBatchNorm<double>{}, nn::BasicActivation<double>{"relu"});
    net->initialize();
    return net;
  };
  auto net = make(), ref = make();
  (void)(*net)(rand_array({2, 2, 6, 6}, 1));
  (void)(*ref)(rand_array({2, 2, 6, 6}, 1));
  // Same parameters, running statistics away from (0, 1).
  const auto np = net->collect_params_with_prefix(), rp = ref->collect_params_with_prefix();
  REQUIRE(np.size() == rp.size());
  std::uint64_t seed = 20;
  for (std::size_t i = 0; i < np.size(); ++i) {
    auto v = rand_array(np[i].second->shape(), seed++, 0.5, 1.5);
    np[i].second->set_data(v);
    rp[i].second->set_data(v);
  }
  net->hybridize();
  const auto x = rand_array({2, 2, 6, 6}, 30);
  auto y_ref = (*ref)(x);
  (void)(*net)(x);
  auto y = (*net)(x);
  REQUIRE(net->cached_graphs().size() == 1);
  CHECK(count_nodes(*net->cached_graphs()[0], "batch_norm") == 0);
  CHECK(count_nodes(*net->cached_graphs()[0], "convolution_batch_norm") == 1);
  test::check_close_arrays(y, y_ref, 1e-12);
  // Train mode: batch statistics, running statistics updated by each graph run as imperatively.
  {
    autograd::train_mode tm;
    for (int i = 0; i < 2; ++i) {
      test::check_close_arrays((*net)(x), (*ref)(x), 1e-12);
    }
  }
  REQUIRE(net->cached_graphs().size() == 2);
  CHECK(count_nodes(*net->cached_graphs()[1], "batch_norm") == 1);
  const auto& bn_net = net->at<nn::BasicBatchNorm<double>>(1);
  const auto& bn_ref = ref->at<nn::BasicBatchNorm<double>>(1);
  test::check_close_arrays(bn_net.running_mean()->data(), bn_ref.running_mean()->data(), 1e-12);
  test::check_close_arrays(bn_net.running_var()->data(), bn_ref.running_var()->data(), 1e-12);
  // The folded weights follow parameter changes.
  for (std::size_t i = 0; i < np.size(); ++i) {
    auto v = np[i].second->data().copy();
    for (double& e : v) e *= 0.5;
    np[i].second->set_data(v);
    rp[i].second->set_data(v);
  }
  test::check_close_arrays((*net)(x), (*ref)(x), 1e-12);
  // Also a write through data(), which changes no version: each source of the folding in turn.
  for (std::size_t i = 0; i < np.size(); ++i) {
    CAPTURE(np[i].first);
    np[i].second->data().data()[0] *= 1.25;
    rp[i].second->data().data()[0] *= 1.25;
    test::check_close_arrays((*net)(x), (*ref)(x), 1e-12);
  }
}

TEST_CASE("dropout in a train-mode graph draws a new mask each run") {
  nn::BasicHybridSequential<double> net;
  net.add(nn::BasicDropout<double>{0.5});
  net.hybridize();
  autograd::train_mode tm;
  const auto x = rand_array({1, 200}, 2, 1.0, 2.0);
  const auto a = net(x), b = net(x), c = net(x);
  CHECK(net.cached_graphs().size() == 1);
  CHECK(b.to_vector() != c.to_vector());
  CHECK(a.to_vector() != b.to_vector());
}

TEST_CASE("refused: control flow on values, outputs not made by ops") {
  Halving h;
  h.hybridize();
  const auto x = rand_array({4}, 1, 1.0, 2.0);
  try {
    (void)h(x);
    FAIL("no exception");
  } catch (const StateError& e) {
    const std::string m = e.what();
    CHECK(m.find("halving") != std::string::npos);
    CHECK(m.find("reads array values (asscalar)") != std::string::npos);
  }
  CHECK(h.cached_graphs().empty());
  h.hybridize(false);
  CHECK(nd::abs(h(x)).sum().asscalar() <= 1);  // imperatively it runs
  Handmade m;  // reads its input element by element
  m.hybridize();
  CHECK_THROWS_WITH_AS((void)m(x), doctest::Contains("handmade0: hybridize: its forward reads array values (data)"),
                       StateError);
  Filled f;  // returns an array written element by element
  f.hybridize();
  CHECK_THROWS_WITH_AS((void)f(x), doctest::Contains("was not computed by ops"), StateError);
}

TEST_CASE("HybridCustomBlock with two inputs and two outputs") {
  TwoWay b;
  b.initialize();
  const auto a = rand_array({2, 3}, 1), c = rand_array({2, 3}, 2);
  auto ref = b(a, c);
  b.hybridize();
  (void)b(a, c);
  auto out = b(a, c);
  REQUIRE(b.cached_graphs().size() == 1);
  REQUIRE(out.size() == 2);
  CHECK(out[0].to_vector() == ref[0].to_vector());
  CHECK(out[1].to_vector() == ref[1].to_vector());
  CHECK(b.cached_graphs()[0]->inputs.size() == 2);
}
}
