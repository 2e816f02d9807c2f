// SPDX-License-Identifier: Apache-2.0
#include <gluino/nn/hybrid_block.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <utility>
#include <sstream>
#include <type_traits>
#include <string>
#include <thread>
#include <vector>

#include <gluino/autograd/grad.hpp>
#include <gluino/autograd/mode.hpp>
#include <gluino/core/parallel.hpp>
#include <gluino/core/random.hpp>
#include <gluino/core/storage.hpp>
#include <gluino/core/warning.hpp>
#include <gluino/graph/graph.hpp>
#include <gluino/model_zoo/lenet.hpp>
#include <gluino/nd/creation.hpp>
#include <gluino/nd/elementwise.hpp>
#include <gluino/nd/reduce.hpp>
#include <gluino/nd/shape_ops.hpp>
#include <gluino/nd/softmax.hpp>
#include <gluino/nn/activations.hpp>
#include <gluino/nn/basic_layers.hpp>
#include <gluino/nn/batch_norm.hpp>
#include <gluino/nn/conv2d.hpp>
#include <gluino/nn/dense.hpp>
#include <gluino/nn/dropout.hpp>
#include <gluino/nn/embedding.hpp>
#include <gluino/nn/parameter_io.hpp>
#include <gluino/nn/pooling.hpp>
#include <gluino/optim/trainer.hpp>
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
// Branches on a value: `if (nd::sum(x) > 0.0)` no longer compiles (an NDArray is not a bool), and
// reading the value is refused while tracing.
class SignBranch : public nn::BasicHybridCustomBlock<SignBranch, double> {
 public:
  NDArray<double> forward(const NDArray<double>& x) {
    if (nd::sum(x).asscalar() > 0.0) return x * 2.0;
    return x * 3.0;
  }
};
// Branches on a value read through another handle to an op's output's storage, made without an
// op: detach(), view_as(), or a std::vector copied from detach()'s elements.
class DetachedBranch : public nn::BasicHybridCustomBlock<DetachedBranch, double> {
 public:
  int how = 0;
  NDArray<double> forward(const NDArray<double>& x) {
    const NDArray<double> s = nd::sum(x);
    double v = 0;
    if (how == 0) {
      v = s.detach().data()[0];
    } else if (how == 1) {
      NDArray<double> d = s.detach();
      v = std::vector<double>(d.begin(), d.end())[0];
    } else if (how == 2) {
      v = s.view_as(Shape{1, 1}).data()[0];
    } else {
      const NDArray<double> d = x.detach();  // the input's elements, read through const data()
      v = d.data()[0] + d.data()[1] + d.data()[2] + d.data()[3];
    }
    if (v > 0) return nd::relu(x);
    return x * -1.0;
  }
};
// Branches on a parameter's value.
class ParamBranch : public nn::BasicHybridCustomBlock<ParamBranch, double> {
 public:
  ParamBranch() { w_ = this->params().get("w", Shape{1}); }
  NDArray<double> forward(const NDArray<double>& x) {
    if (w_->data().data()[0] > 0) return x * 2.0;
    return x * 3.0;
  }
  std::shared_ptr<nn::BasicParameter<double>> w_;
};
// Adds noise drawn from its own Generator outside ops: a graph would replay one draw.
class GeneratorNoise : public nn::BasicHybridCustomBlock<GeneratorNoise, double> {
 public:
  random::Generator gen{7};
  NDArray<double> forward(const NDArray<double>& x) {
    NDArray<double> noise(x.shape());
    for (double& v : noise) v = gen.normal(0.0, 1.0);
    return x + noise;
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

// One input, two outputs.  The input is taken by value: a forward(const NDArray&) would be the
// override of Block's virtual forward(x), whose return type (one array) C++ keeps.
class Split : public nn::BasicHybridCustomBlock<Split, double> {
 public:
  Split() { w_ = this->params().get("w", Shape{3}); }
  std::vector<NDArray<double>> forward(NDArray<double> x) { return {x * w_->data(), nd::tanh(x) - x}; }
  std::shared_ptr<nn::BasicParameter<double>> w_;
};
// A recurrent step that also returns a zero begin-state it makes without ops (a constant of its
// graph), as a caller may then fill it in place.
class BeginState : public nn::BasicHybridCustomBlock<BeginState, double> {
 public:
  std::vector<NDArray<double>> forward(const NDArray<double>& x, const NDArray<double>& h) {
    NDArray<double> zero = nd::zeros<double>(h.shape());
    return {nd::tanh(x + h + zero), zero};
  }
};
// Returns the gradient of a function of its input (an input-gradient feature): autograd::grad
// inside forward, or backward() into the input's grad().
class InputGrad : public nn::BasicHybridCustomBlock<InputGrad, double> {
 public:
  bool create = false, use_backward = false;
  NDArray<double> forward(const NDArray<double>& x) {
    NDArray<double> y = nd::sum(nd::tanh(x * 2.0));
    if (use_backward) {
      y.backward(true);
      return x * 1.0;
    }
    return autograd::grad(y, {x}, {.create_graph = create})[0] * 1.0;
  }
};
// Keeps its attention weights for display, as a member.
class KeepsAttention : public nn::BasicHybridCustomBlock<KeepsAttention, double> {
 public:
  NDArray<double> forward(const NDArray<double>& x) {
    attention = nd::softmax(x, -1);
    return attention * x;
  }
  NDArray<double> attention;
};
// Conv2D + BatchNorm + ReLU + MaxPool + Dense, initialized at x's shape with fixed values.
std::shared_ptr<nn::BasicHybridSequential<double>> conv_bn_net(std::uint64_t seed) {
  auto net = std::make_shared<nn::BasicHybridSequential<double>>();
  net->add(nn::BasicConv2D<double>{4, 3, {.padding = 1}}, nn::BasicBatchNorm<double>{},
           nn::BasicActivation<double>{"relu"}, nn::BasicMaxPool2D<double>{2, 2}, nn::BasicDense<double>{3});
  net->initialize();
  (void)(*net)(rand_array({2, 2, 6, 6}, 1));
  for (const auto& [n, p] : net->collect_params_with_prefix())
    p->set_data(rand_array(p->shape(), seed++, 0.5, 1.5));
  return net;
}
std::vector<std::vector<double>> values_of(const nn::BasicBlock<double>& net) {
  std::vector<std::vector<double>> v;
  for (const auto& [n, p] : net.collect_params()) v.push_back(p->data().to_vector());
  return v;
}
void check_close_lists(const std::vector<std::vector<double>>& got, const std::vector<std::vector<double>>& want,
                       double eps) {
  REQUIRE(got.size() == want.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    CAPTURE(i);
    test::check_close(got[i], want[i], eps);
  }
}
// forward(a, b) = a * 3 - b: which input an op reads matters.
class Minus : public nn::BasicHybridCustomBlock<Minus, double> {
 public:
  NDArray<double> forward(const NDArray<double>& a, const NDArray<double>& b) { return a * 3.0 - b; }
};
// Holds an array that is not a parameter: read as a constant of the graph.
class PlusHeld : public nn::BasicHybridCustomBlock<PlusHeld, double> {
 public:
  explicit PlusHeld(NDArray<double> c) : c_(std::move(c)) {}
  NDArray<double> forward(const NDArray<double>& x) { return x * 2.0 + c_; }
  NDArray<double> c_;
};
// A Dense whose output is viewed as two rows: a ShapeError for an odd batch, after the Dense's
// deferred initialization.
class PairRows : public nn::BasicHybridCustomBlock<PairRows, double> {
 public:
  PairRows() { dense_ = this->register_child(nn::BasicDense<double>{3}); }
  NDArray<double> forward(const NDArray<double>& x) { return nd::reshape((*dense_)(x), {2, -1}); }
  std::shared_ptr<nn::BasicDense<double>> dense_;
};
// Two threads for a test's lifetime (the graphs' team schedules), the count before restored after.
struct TwoThreads {
  int before = get_num_threads();
  TwoThreads() { set_num_threads(2); }
  ~TwoThreads() { set_num_threads(before); }
  TwoThreads(const TwoThreads&) = delete;
  TwoThreads& operator=(const TwoThreads&) = delete;
};
// Two equal MLPs, Dense(4, tanh) then Dense(out_units), the first hybridized after both ran x.
std::pair<std::shared_ptr<nn::BasicHybridSequential<double>>, std::shared_ptr<nn::BasicHybridSequential<double>>>
hybrid_and_imperative_mlps(std::size_t out_units, const NDArray<double>& x) {
  auto make = [&] {
    auto net = std::make_shared<nn::BasicHybridSequential<double>>();
    net->add(nn::BasicDense<double>{4, {.activation = "tanh", .in_units = 3}}, nn::BasicDense<double>{out_units});
    net->initialize();
    (void)(*net)(x);
    return net;
  };
  auto net = make(), ref = make();
  net->copy_parameters_from(*ref);
  net->hybridize();
  return {net, ref};
}
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
  const TwoThreads two_threads;  // a batch of 2: each convolution and its pooling one node (fuse_conv_max_pool)
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
  CHECK_THROWS_WITH_AS((void)f(x), doctest::Contains(": hybridize: output 0 (shape (4,)) was not computed by ops"),
                       StateError);
}

TEST_CASE("refused: a branch on an op's output's value (if (nd::sum(x).asscalar() > 0)) while being traced") {
  SignBranch b;
  b.hybridize();
  const auto x = rand_array({4}, 1, -2.0, -1.0);
  CHECK_THROWS_WITH_AS((void)b(x), doctest::Contains("signbranch0: hybridize: its forward reads array values (asscalar)"),
                       StateError);
  CHECK_THROWS_WITH_AS((void)b(x), doctest::Contains("call the block without hybridize(), or compute with ops only"),
                       StateError);
  CHECK(b.cached_graphs().empty());
  // `if (nd::sum(x) > 0.0)`, which tested only the handle (always true), does not compile
  // (tests/compile_fail/ndarray_in_condition.cpp).
  static_assert(!std::is_constructible_v<bool, NDArray<double>>);
}

TEST_CASE("refused: a branch on a value read through detach(), view_as() or a copy of their elements") {
  const auto neg = rand_array({4}, 1, -2.0, -1.0), pos = rand_array({4}, 2, 1.0, 2.0);
  for (int how = 0; how < 4; ++how) {
    CAPTURE(how);
    DetachedBranch b;
    b.how = how;
    const auto want = b(neg).to_vector();  // imperatively: -x
    test::check_close(want, (neg * -1.0).to_vector(), 1e-15);
    b.hybridize();
    CHECK_THROWS_WITH_AS((void)b(pos), doctest::Contains("detachedbranch"), StateError);
    CHECK_THROWS_WITH_AS((void)b(pos), doctest::Contains("its forward reads"), StateError);
    CHECK_THROWS_WITH_AS((void)b(pos), doctest::Contains("array values (data)"), StateError);
    CHECK(b.cached_graphs().empty());
    b.hybridize(false);
    test::check_close(b(neg).to_vector(), want, 1e-15);
  }
  DetachedBranch b;
  b.hybridize();
  CHECK_THROWS_WITH_AS((void)b(pos), doctest::Contains("reads or writes array values (data)"), StateError);
}

TEST_CASE("refused: a branch on a parameter's value while being traced") {
  ParamBranch b;
  b.initialize();
  b.w_->set_data(nd::full<double>({1}, 1.0));
  const auto x = rand_array({4}, 3);
  test::check_close(b(x).to_vector(), (x * 2.0).to_vector(), 1e-15);
  b.hybridize();
  CHECK_THROWS_WITH_AS((void)b(x), doctest::Contains("parambranch"), StateError);
  CHECK_THROWS_WITH_AS((void)b(x), doctest::Contains("reads or writes array values (data)"), StateError);
  CHECK(b.cached_graphs().empty());
  b.hybridize(false);
  b.w_->set_data(nd::full<double>({1}, -1.0));
  test::check_close(b(x).to_vector(), (x * 3.0).to_vector(), 1e-15);
  // The parameter is readable again after the refused trace.
  CHECK(b.w_->data().data()[0] == -1.0);
}

TEST_CASE("refused: a random::Generator draw outside ops while being traced") {
  GeneratorNoise b;
  const auto x = rand_array({4}, 4);
  const auto first = b(x).to_vector(), second = b(x).to_vector();
  CHECK(first != second);  // imperatively, new noise each call
  b.hybridize();
  CHECK_THROWS_WITH_AS((void)b(x), doctest::Contains("generatornoise"), StateError);
  CHECK_THROWS_WITH_AS((void)b(x), doctest::Contains("draws random numbers (random::Generator)"), StateError);
  CHECK(b.cached_graphs().empty());
  // Outside a trace the generator draws as before (the refused calls drew nothing).
  random::Generator ref{7};
  for (int k = 0; k < 8; ++k) (void)ref.normal(0.0, 1.0);
  CHECK(b.gen.normal(0.0, 1.0) == ref.normal(0.0, 1.0));
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
TEST_CASE("HybridCustomBlock with one input and two outputs: called on its type, as other arities") {
  Split b;
  b.initialize();
  const auto x = rand_array({2, 3}, 1);
  static_assert(std::is_same_v<decltype(b(x)), std::vector<NDArray<double>>>);
  const auto ref = b(x);
  b.hybridize();
  (void)b(x);
  const auto out = b(x);
  REQUIRE(b.cached_graphs().size() == 1);
  CHECK(b.cached_graphs()[0]->inputs.size() == 1);
  CHECK(b.cached_graphs()[0]->outputs.size() == 2);
  REQUIRE(out.size() == 2);
  CHECK(out[0].to_vector() == ref[0].to_vector());
  CHECK(out[1].to_vector() == ref[1].to_vector());
  // Not a Block of one array in and one out: no Sequential child (refused at compile time), and
  // called through a Block& it has no forward(x), hybridized too (the graph of its own forward,
  // cached for this input's shape, is not run as one: it used to return its first output).
  static_assert(!detail::chains<Split, double>);
  nn::BasicBlock<double>& base = b;
  CHECK_THROWS_WITH_AS((void)base(x), doctest::Contains("forward(x) with one input is not implemented"), StateError);
  CHECK(b.cached_graphs().size() == 1);
  CHECK(b(x)[1].to_vector() == ref[1].to_vector());
  b.hybridize(false);
  CHECK_THROWS_WITH_AS((void)base(x), doctest::Contains("forward(x) with one input is not implemented"), StateError);
}
TEST_CASE("one array given as two inputs at the trace: later calls with two arrays read each") {
  Minus m;
  const auto a = rand_array({2, 3}, 1), c = rand_array({2, 3}, 2);
  const auto want = m(a, c).to_vector();
  const auto want_same = m(c, c).to_vector();
  m.hybridize();
  test::check_close(m(a, a).to_vector(), (a * 2.0).to_vector(), 1e-15);  // the trace
  REQUIRE(m.cached_graphs().size() == 1);
  test::check_close(m(a, c).to_vector(), want, 1e-15);  // the graph, on two arrays
  test::check_close(m(c, c).to_vector(), want_same, 1e-15);
  // Gradients through the trace call reach the array given twice: d(3a - a)/da = 2.
  Minus r;
  r.hybridize();
  auto x = rand_array({2, 3}, 3);
  x.attach_grad();
  {
    autograd::record rec;
    r(x, x).sum().backward();
  }
  test::check_close(x.grad().to_vector(), std::vector<double>(6, 2.0), 1e-15);
}

TEST_CASE("an input that is a parameter's array, or an array the block holds, at the trace") {
  nn::BasicHybridSequential<double> net;
  net.add(nn::BasicDense<double>{3, {.use_bias = false, .in_units = 3}});
  net.initialize();
  const auto w = net.collect_params().begin()->second->data();
  const auto x = rand_array({3, 3}, 5);
  const auto want_w = net(w).to_vector(), want_x = net(x).to_vector();
  net.hybridize();
  test::check_close(net(w).to_vector(), want_w, 1e-15);
  test::check_close(net(x).to_vector(), want_x, 1e-15);  // not w w^T again
  const auto c = rand_array({2, 3}, 6), y = rand_array({2, 3}, 7);
  PlusHeld h(c);
  const auto want_y = h(y).to_vector();
  h.hybridize();
  test::check_close(h(c).to_vector(), (c * 3.0).to_vector(), 1e-15);
  test::check_close(h(y).to_vector(), want_y, 1e-15);
}

TEST_CASE("a child of a hybridized block gains a layer after the trace: the new structure runs") {
  nn::BasicHybridSequential<double> outer;
  auto inner = std::make_shared<nn::BasicHybridSequential<double>>();
  inner->add(nn::BasicDense<double>{4, {.in_units = 3}});
  outer.add(inner);
  outer.initialize();
  outer.hybridize();
  const auto x = rand_array({2, 3}, 8);
  (void)outer(x);
  (void)outer(x);
  auto added = std::make_shared<nn::BasicDense<double>>(2, nn::BasicDenseOptions<double>{.in_units = 4});
  inner->add(added);
  added->initialize();
  const auto got = outer(x);
  outer.hybridize(false);
  const auto want = outer(x);
  CHECK(got.shape() == want.shape());
  CHECK(got.to_vector() == want.to_vector());
}

TEST_CASE("train and predict mode in turn, with a batch norm and trainer steps: the imperative numbers") {
  const TwoThreads two_threads;
  auto net = conv_bn_net(50), ref = conv_bn_net(50);
  net->hybridize();
  BasicTrainer<double> tn(net->collect_params(), "sgd", {{"learning_rate", 0.01}, {"momentum", 0.9}});
  BasicTrainer<double> tr(ref->collect_params(), "sgd", {{"learning_rate", 0.01}, {"momentum", 0.9}});
  for (int step = 0; step < 4; ++step) {
    CAPTURE(step);
    const auto xp = rand_array({std::size_t(step % 2 ? 1 : 3), 2, 6, 6}, 60 + std::uint64_t(step));
    test::check_close((*net)(xp).to_vector(), (*ref)(xp).to_vector(), 1e-11);  // predict: folded batch norm
    {
      autograd::train_mode tm;  // train mode without recording: batch statistics
      test::check_close((*net)(xp).to_vector(), (*ref)(xp).to_vector(), 1e-11);
    }
    const auto xt = rand_array({3, 2, 6, 6}, 70 + std::uint64_t(step));
    for (auto* b : {net.get(), ref.get()}) {
      autograd::record rec;
      auto y = (*b)(xt);
      (y * y).sum().backward();
    }
    check_close_lists(grads_of(*net), grads_of(*ref), 1e-11);
    tn.step(3);
    tr.step(3);
    check_close_lists(values_of(*net), values_of(*ref), 1e-11);  // with the running statistics
    {
      autograd::record rec(false);  // recording in predict mode: running statistics, no folding
      test::check_close((*net)(xt).to_vector(), (*ref)(xt).to_vector(), 1e-11);
    }
  }
  CHECK(net->cached_graphs().size() == 6);  // 2 batches x (predict, train) + train rec + predict rec
}

TEST_CASE("hybridize with max_graphs 0 is a ValueError naming the block; the block stays as it was") {
  nn::BasicHybridSequential<double> net;
  net.add(nn::BasicDense<double>{2, {.in_units = 3}});
  net.initialize();
  CHECK_THROWS_WITH_AS(net.hybridize(true, {.max_graphs = 0}),
                       doctest::Contains("hybridize: max_graphs must be at least 1"), ValueError);
  CHECK_FALSE(net.is_hybridized());
  net.hybridize(false, {.max_graphs = 0});  // turning it off needs no cache
  CHECK_FALSE(net.is_hybridized());
}

TEST_CASE("batch sizes 1, 2, 3, 7 and back to the first: the imperative outputs") {
  const TwoThreads two_threads;
  auto net = conv_bn_net(80), ref = conv_bn_net(80);
  net->hybridize(true, {.max_graphs = 3});
  for (std::size_t n : {1, 2, 3, 7, 1, 7, 2, 1}) {
    CAPTURE(n);
    const auto x = rand_array({n, 2, 6, 6}, 90 + n);
    for (int k = 0; k < 3; ++k) test::check_close_arrays((*net)(x), (*ref)(x), 1e-11);
  }
  CHECK(net->cached_graphs().size() == 3);
}

TEST_CASE("grad_req add, and null then write again, changed after the trace: the imperative gradients") {
  const auto x = rand_array({2, 3}, 11);
  const auto [net, ref] = hybrid_and_imperative_mlps(2, x);
  auto step = [&](nn::BasicBlock<double>& b) {
    autograd::record rec;
    auto y = b(x);
    (y * y).sum().backward();
  };
  for (auto* b : {net.get(), ref.get()}) step(*b);  // the trace (write)
  for (auto* b : {net.get(), ref.get()})
    for (const auto& [n, p] : b->collect_params()) {
      p->set_grad_req(GradReq::add);
      p->zero_grad();
    }
  for (int k = 0; k < 3; ++k)
    for (auto* b : {net.get(), ref.get()}) step(*b);
  check_close_lists(grads_of(*net), grads_of(*ref), 1e-13);
  for (auto* b : {net.get(), ref.get()}) {
    b->collect_params().begin()->second->set_grad_req(GradReq::null);
    step(*b);
  }
  check_close_lists(grads_of(*net), grads_of(*ref), 1e-13);
  for (auto* b : {net.get(), ref.get()}) {
    for (const auto& [n, p] : b->collect_params()) p->set_grad_req(GradReq::write);
    step(*b);
  }
  check_close_lists(grads_of(*net), grads_of(*ref), 1e-13);
  REQUIRE(grads_of(*net).size() == 4);
}

TEST_CASE("a bad input shape throws and leaves the block working") {
  nn::BasicHybridSequential<double> net;
  net.add(nn::BasicDense<double>{4, {.activation = "relu", .in_units = 3}}, nn::BasicDense<double>{2, {.in_units = 4}});
  net.initialize();
  const auto x = rand_array({2, 3}, 12);
  const auto want = net(x).to_vector();
  net.hybridize();
  CHECK_THROWS_AS((void)net(rand_array({2, 5}, 13)), ShapeError);  // a trace that fails
  CHECK(net.cached_graphs().empty());
  test::check_close(net(x).to_vector(), want, 1e-15);
  CHECK_THROWS_AS((void)net(rand_array({2, 5}, 13)), ShapeError);
  {
    autograd::record rec;
    CHECK_THROWS_AS((void)net(rand_array({2, 5}, 13)), ShapeError);
  }
  test::check_close(net(x).to_vector(), want, 1e-15);
  test::check_close(net(x).to_vector(), want, 1e-15);
  CHECK(net.cached_graphs().size() == 1);
  auto xg = x.copy();
  xg.attach_grad();
  for (int k = 0; k < 3; ++k) {
    autograd::record rec;
    net(xg).sum().backward();
  }
  const auto g = xg.grad().to_vector();
  net.hybridize(false);
  {
    autograd::record rec;
    net(xg).sum().backward();
  }
  test::check_close(g, xg.grad().to_vector(), 1e-15);
}

TEST_CASE("outputs and gradients a caller keeps stay intact over later runs (static_alloc)") {
  auto net = conv_bn_net(100);
  net->hybridize();
  std::vector<NDArray<double>> ys, gs;
  std::vector<std::vector<double>> yv, gv;
  for (int k = 0; k < 6; ++k) {
    auto x = rand_array({3, 2, 6, 6}, 110 + std::uint64_t(k));
    x.attach_grad();
    {
      autograd::record rec;
      auto y = (*net)(x);
      ys.push_back(y);
      const auto dx = autograd::grad((y * y).sum(), {x})[0];
      gs.push_back(dx);
    }
    yv.push_back(ys.back().to_vector());
    gv.push_back(gs.back().to_vector());
    auto z = (*net)(x);  // predict runs in between
    ys.push_back(z);
    yv.push_back(z.to_vector());
  }
  for (std::size_t i = 0; i < ys.size(); ++i) CHECK(ys[i].to_vector() == yv[i]);
  for (std::size_t i = 0; i < gs.size(); ++i) CHECK(gs[i].to_vector() == gv[i]);
}

TEST_CASE("an output that is a constant of the graph: each call returns its own array, as imperatively") {
  // The graph returned its constant itself, at the trace and at every run: a caller writing
  // into the state it was given changed what the next calls computed and returned.
  BeginState net, ref;
  net.hybridize();
  const auto x = rand_array({2, 3}, 21), h = rand_array({2, 3}, 22);
  std::vector<std::vector<NDArray<double>>> kept;
  for (int k = 0; k < 4; ++k) {
    CAPTURE(k);
    auto out = net(x, h);
    const auto want = ref(x, h);
    REQUIRE(out.size() == 2);
    CHECK(out[0].to_vector() == want[0].to_vector());
    CHECK(out[1].to_vector() == want[1].to_vector());
    CHECK(out[1].impl()->storage != net.cached_graphs()[0]->values[std::size_t(net.cached_graphs()[0]->outputs[1])]
                                        .array.impl()->storage);
    out[1].fill(10.0 + k);  // the caller's own state now
    kept.push_back(out);
  }
  for (std::size_t k = 0; k < kept.size(); ++k)
    CHECK(kept[k][1].to_vector() == std::vector<double>(6, 10.0 + double(k)));
  REQUIRE(net.cached_graphs().size() == 1);
}

TEST_CASE("refused: gradients computed inside a traced forward (autograd::grad, backward)") {
  // grad() ran the ops' backward kernels outside any op: the graph kept the traced call's
  // gradient as a constant and returned it for every later input.  Under create_graph it threw
  // the message of a view made without an op, which did not say what was wrong.
  for (const bool create : {false, true}) {
    CAPTURE(create);
    InputGrad net, ref;
    net.create = ref.create = create;
    net.hybridize();
    auto x = rand_array({2, 3}, 31);
    x.attach_grad();
    autograd::record rec;
    CHECK_THROWS_WITH_AS((void)net(x),
                         doctest::Contains(": hybridize: its forward computes gradients (autograd::grad) while being "
                                           "traced into a graph"),
                         StateError);
    CHECK(net.cached_graphs().empty());
    net.hybridize(false);  // imperatively it runs, and gives d/dx sum(tanh(2x)) = 2 (1 - tanh(2x)^2)
    const auto got = net(x).to_vector();
    const auto xs = x.to_vector();
    REQUIRE(got.size() == xs.size());
    for (std::size_t i = 0; i < xs.size(); ++i)
      CHECK(got[i] == doctest::Approx(2 * (1 - std::tanh(2 * xs[i]) * std::tanh(2 * xs[i]))).epsilon(1e-12));
    CHECK(ref(x).to_vector() == got);
  }
  InputGrad net;
  net.use_backward = true;
  net.hybridize();
  auto x = rand_array({2, 3}, 32);
  x.attach_grad();
  autograd::record rec;
  CHECK_THROWS_WITH_AS((void)net(x), doctest::Contains("its forward computes gradients (backward)"), StateError);
}

TEST_CASE("an array computed inside forward and kept by the block: a warning at the trace") {
  // Later calls run the graph, which never updates the member: it kept the traced call's
  // attention with no word said.  A forward hook that keeps a child's output is the same case.
  std::vector<std::string> warnings;
  struct Restore {  // the previous handler back, also when a REQUIRE leaves early
    WarningHandler previous;
    ~Restore() { set_warning_handler(std::move(previous)); }
  } restore{set_warning_handler([&](const std::string& m) { warnings.push_back(m); })};
  KeepsAttention net;
  net.hybridize();
  const auto x1 = rand_array({2, 3}, 41), x2 = rand_array({2, 3}, 42);
  (void)net(x1);
  REQUIRE(warnings.size() == 1);
  INFO(warnings[0]);
  CHECK(warnings[0].find("keepsattention0: hybridize: 1 array(s) computed inside forward (shape (2, 3)) are still "
                         "held after the trace, by a block member or a forward hook") != std::string::npos);
  (void)net(x2);
  CHECK(warnings.size() == 1);  // once, at the trace
  CHECK(net.attention.to_vector() == nd::softmax(x1, -1).to_vector());  // what the warning says
  {
    nn::BasicHybridSequential<double> seq;
    seq.add(nn::BasicDense<double>{4, {.activation = "relu", .in_units = 3}}, nn::BasicDense<double>{2});
    seq.initialize();
    NDArray<double> captured;
    auto handle = seq[0].register_forward_hook(
        [&](nn::BasicBlock<double>&, const NDArray<double>&, const NDArray<double>& y) { captured = y; });
    seq.hybridize();
    (void)seq(x1);
    REQUIRE(warnings.size() == 2);
    CHECK(warnings[1].find("1 array(s) computed inside forward (shape (2, 4))") != std::string::npos);
    handle.detach();
  }
  // Networks that keep nothing say nothing, in train and predict mode.
  auto conv = conv_bn_net(5);
  conv->hybridize();
  (void)(*conv)(rand_array({2, 2, 6, 6}, 43));
  {
    autograd::record rec;
    (void)(*conv)(rand_array({2, 2, 6, 6}, 44));
  }
  CHECK(warnings.size() == 2);
}

TEST_CASE("backward twice with retain_graph, an input used twice: the imperative input gradients") {
  const auto x0 = rand_array({2, 3}, 14);
  const auto [net, ref] = hybrid_and_imperative_mlps(3, x0);
  auto run = [](nn::BasicBlock<double>& b) {
    auto x = rand_array({2, 3}, 15);
    x.attach_grad();
    for (const auto& [n, p] : b.collect_params()) p->zero_grad();
    std::vector<std::vector<double>> out;
    {
      autograd::record rec;
      auto y = b(b(x)) + b(x);  // the same input twice, and the block's output as its input
      auto l = (y * y).sum();
      l.backward(true);
      out.push_back(x.grad().to_vector());
      l.backward();
    }
    out.push_back(x.grad().to_vector());
    for (auto& g : grads_of(b)) out.push_back(g);
    return out;
  };
  const auto want = run(*ref);
  for (int k = 0; k < 4; ++k) check_close_lists(run(*net), want, 1e-13);
}

TEST_CASE("hybridized inside an imperative Sequential, and an imperative block inside a hybridized one") {
  auto make = [](bool hybrid_inside) {
    auto outer = std::make_shared<nn::BasicSequential<double>>();
    auto inner = std::make_shared<nn::BasicHybridSequential<double>>();
    inner->add(nn::BasicDense<double>{4, {.activation = "relu", .in_units = 3}});
    auto plain = std::make_shared<nn::BasicSequential<double>>();
    plain->add(nn::BasicDense<double>{2, {.in_units = 4}});
    if (hybrid_inside) {
      outer->add(inner, plain);
    } else {
      auto h = std::make_shared<nn::BasicHybridSequential<double>>();
      h->add(inner, plain);
      outer->add(h);
    }
    outer->initialize();
    return outer;
  };
  for (bool hybrid_inside : {true, false}) {
    auto net = make(hybrid_inside), ref = make(hybrid_inside);
    net->copy_parameters_from(*ref);
    net->hybridize();
    for (int k = 0; k < 3; ++k) {
      const auto x = rand_array({2, 3}, 16 + std::uint64_t(k));
      test::check_close_arrays((*net)(x), (*ref)(x), 1e-14);
      CHECK(train_step_grads(*net, x) == train_step_grads(*ref, x));
    }
  }
}

TEST_CASE("dropout: with one seed the graph draws the imperative mask; in predict mode the identity") {
  nn::BasicHybridSequential<double> net;
  net.add(nn::BasicDense<double>{8, {.in_units = 5}}, nn::BasicDropout<double>{0.5});
  net.initialize();
  const auto x = rand_array({3, 5}, 17);
  std::vector<double> want;
  {
    autograd::train_mode tm;
    random::seed(3);
    want = net(x).to_vector();
  }
  const auto want_predict = net(x).to_vector();
  net.hybridize();
  for (int k = 0; k < 3; ++k) {
    autograd::train_mode tm;
    random::seed(3);
    CHECK(net(x).to_vector() == want);
  }
  for (int k = 0; k < 2; ++k) CHECK(net(x).to_vector() == want_predict);
}

TEST_CASE("force_reinit, set_data and load_parameters after the trace: the next run sees them") {
  auto net = conv_bn_net(120), ref = conv_bn_net(121);
  net->hybridize();
  const auto x = rand_array({3, 2, 6, 6}, 122);
  (void)(*net)(x);
  (void)(*net)(x);
  const auto path = (std::filesystem::temp_directory_path() / "h1_hybrid_load.safetensors").string();
  ref->save_parameters(path);
  net->load_parameters(path);
  std::remove(path.c_str());
  test::check_close_arrays((*net)(x), (*ref)(x), 1e-12);
  random::seed(9);
  net->initialize(init::BasicUniform<double>{}, {.force_reinit = true});
  random::seed(9);
  ref->initialize(init::BasicUniform<double>{}, {.force_reinit = true});
  test::check_close_arrays((*net)(x), (*ref)(x), 1e-12);
}

TEST_CASE("two threads calling one hybridized block at once, each its own shapes: the serial outputs") {
  auto net = conv_bn_net(130), ref = conv_bn_net(130);
  net->hybridize();
  std::vector<NDArray<double>> xs{rand_array({1, 2, 6, 6}, 131), rand_array({4, 2, 6, 6}, 132)};
  std::vector<std::vector<double>> want;
  for (const auto& x : xs) want.push_back((*ref)(x).to_vector());
  std::vector<int> ok(2, 0);
  std::vector<std::thread> ts;
  for (std::size_t t = 0; t < 2; ++t)
    ts.emplace_back([&, t] {
      for (int k = 0; k < 10; ++k) {
        const auto got = (*net)(xs[t]).to_vector();
        bool same = got.size() == want[t].size();
        for (std::size_t i = 0; same && i < got.size(); ++i) same = std::abs(got[i] - want[t][i]) < 1e-11;
        ok[t] += same;
      }
    });
  for (auto& t : ts) t.join();
  CHECK(ok == std::vector<int>{10, 10});
}
TEST_CASE("an index out of range inside a graph run throws, and the block works after it: the imperative numbers") {
  auto make = [] {
    auto net = std::make_shared<nn::BasicHybridSequential<double>>();
    net->add(nn::BasicEmbedding<double>{5, 3}, nn::BasicDense<double>{2, {.activation = "tanh"}});
    net->initialize();
    (void)(*net)(nd::zeros<double>({2, 4}));
    return net;
  };
  auto net = make(), ref = make();
  net->copy_parameters_from(*ref);
  net->hybridize();
  const auto good = nd::array<double>({0, 1, 2, 3, 4, 3, 2, 1}, {2, 4});
  const auto bad = nd::array<double>({0, 1, 2, 3, 4, 7, 2, 1}, {2, 4});
  const auto want = train_step_grads(*ref, good);
  const auto want_y = (*ref)(good).to_vector();
  for (int k = 0; k < 6; ++k) {  // the trace, the watched run, planned runs; a bad batch at each
    CAPTURE(k);
    CHECK_THROWS_AS((void)train_step_grads(*net, bad), ValueError);
    CHECK(train_step_grads(*net, good) == want);
    CHECK_THROWS_AS((void)(*net)(bad), ValueError);
    CHECK((*net)(good).to_vector() == want_y);
  }
  CHECK(net->cached_graphs().size() == 2);
}

TEST_CASE("inputs that are views (first-axis slices), and an empty batch: the imperative outputs") {
  const TwoThreads two_threads;
  auto net = conv_bn_net(140), ref = conv_bn_net(140);
  net->hybridize();
  const auto big = rand_array({5, 2, 6, 6}, 141);
  for (std::size_t b = 0; b < 4; ++b) {
    CAPTURE(b);
    const auto x = big.slice(b, b + 1 + b % 2);
    for (int k = 0; k < 3; ++k) test::check_close((*net)(x).to_vector(), (*ref)(x).to_vector(), 1e-12);
  }
  const auto empty = nd::zeros<double>({0, 2, 6, 6});
  bool imperative_ok = true;
  std::vector<double> want;
  try {
    want = (*ref)(empty).to_vector();
  } catch (const Error&) {
    imperative_ok = false;
  }
  if (imperative_ok) {
    for (int k = 0; k < 3; ++k) CHECK((*net)(empty).to_vector() == want);
  } else {
    for (int k = 0; k < 3; ++k) CHECK_THROWS_AS((void)(*net)(empty), Error);
  }
}

TEST_CASE("two hybridized blocks sharing parameters: a trainer step on one is seen by the other") {
  nn::BasicHybridSequential<double> a, b;
  a.add(nn::BasicDense<double>{3, {.activation = "relu", .in_units = 4}});
  a.initialize();
  auto& da = a.at<nn::BasicDense<double>>(0);
  b.add(nn::BasicDense<double>{3, {.activation = "relu", .in_units = 4, .params = da.params()}});
  a.hybridize();
  b.hybridize();
  const auto x = rand_array({2, 4}, 150);
  BasicTrainer<double> t(a.collect_params(), "sgd", {{"learning_rate", 0.5}});
  for (int k = 0; k < 4; ++k) {
    CHECK(a(x).to_vector() == b(x).to_vector());
    {
      autograd::record rec;
      auto y = a(x);
      (y * y).sum().backward();
    }
    t.step(2);
  }
  b.hybridize(false);
  CHECK(a(x).to_vector() == b(x).to_vector());
}
TEST_CASE("a trace that throws after a deferred initialization: later calls match the imperative block") {
  PairRows net, ref;
  net.initialize();
  ref.initialize();
  net.hybridize();
  CHECK_THROWS_AS((void)net(rand_array({3, 4}, 160)), ShapeError);  // the Dense initialized, then the throw
  CHECK(net.cached_graphs().empty());
  CHECK_THROWS_AS((void)ref(rand_array({3, 4}, 160)), ShapeError);
  ref.copy_parameters_from(net);
  for (std::size_t n : {2, 4, 2}) {
    const auto x = rand_array({n, 4}, 161 + n);
    for (int k = 0; k < 3; ++k) CHECK(net(x).to_vector() == ref(x).to_vector());
    CHECK_THROWS_AS((void)net(rand_array({5, 4}, 162)), ShapeError);
  }
  CHECK(net.cached_graphs().size() == 2);
  CHECK(net.cached_graphs()[0]->find(net.collect_params().begin()->first) >= 0);  // bound by name
}
}

namespace {
// Gluon's stop-gradient idiom: a target computed inside autograd::pause, which no gradient flows
// through, then multiplied with the recorded path.
class PausedTarget : public nn::BasicHybridCustomBlock<PausedTarget, double> {
 public:
  PausedTarget() { w_ = this->params().get("w", Shape{3}); }
  NDArray<double> forward(const NDArray<double>& x) {
    NDArray<double> t;
    {
      autograd::pause no_record;
      t = nd::tanh(x * w_->data());
    }
    return x * w_->data() * t;
  }
  std::shared_ptr<nn::BasicParameter<double>> w_;
};
// Records its Conv2D and BatchNorm (predict mode: running statistics) whatever the caller does.
class RecordsItself : public nn::BasicHybridCustomBlock<RecordsItself, double> {
 public:
  RecordsItself() {
    conv_ = this->register_child(nn::BasicConv2D<double>{3, 3, {.in_channels = 2}});
    bn_ = this->register_child(nn::BasicBatchNorm<double>{});
  }
  NDArray<double> forward(const NDArray<double>& x) {
    autograd::record rec(false);
    return (*bn_)((*conv_)(x));
  }
  std::shared_ptr<nn::BasicConv2D<double>> conv_;
  std::shared_ptr<nn::BasicBatchNorm<double>> bn_;
};
}  // namespace

TEST_SUITE("nn/hybrid_block") {
TEST_CASE("autograd::pause inside forward keeps its ops out of the recorded graph at every run, as imperatively") {
  PausedTarget net, ref;
  for (PausedTarget* b : {&net, &ref}) {
    b->initialize();
    b->w_->set_data(nd::array<double>({0.5, -0.7, 1.2}, {3}));
  }
  net.hybridize();
  auto step = [](PausedTarget& b, const NDArray<double>& x) {
    b.w_->zero_grad();
    x.grad().fill(0);
    {
      autograd::record rec;
      auto y = b(x);
      (y * y).sum().backward();
    }
    std::vector<std::vector<double>> g{b.w_->grad().to_vector(), x.grad().to_vector()};
    return g;
  };
  for (int k = 0; k < 4; ++k) {  // the trace, the watched run, planned runs
    CAPTURE(k);
    auto x = rand_array({2, 3}, 170 + std::uint64_t(k));
    x.attach_grad();
    const auto want = step(ref, x);
    check_close_lists(step(net, x), want, 1e-13);
  }
  // Not recording, the same graph's values.
  const auto x = rand_array({2, 3}, 175);
  for (int k = 0; k < 2; ++k) test::check_close(net(x).to_vector(), ref(x).to_vector(), 1e-14);
  REQUIRE(net.cached_graphs().size() == 2);  // recording (oldest), then not
  std::ostringstream os;  // the ops run under pause are marked in the printed recording graph
  os << *net.cached_graphs()[0];
  CHECK(os.str().find("mode(paused, predict)") != std::string::npos);
}
TEST_CASE("a record scope inside forward, called without recording: recorded as imperatively, not folded") {
  RecordsItself net, ref;
  for (RecordsItself* b : {&net, &ref}) {
    b->initialize();
    (void)(*b)(rand_array({2, 2, 5, 5}, 1));
    std::uint64_t seed = 180;
    for (const auto& [n, p] : b->collect_params_with_prefix()) p->set_data(rand_array(p->shape(), seed++, 0.5, 1.5));
  }
  net.hybridize();
  const auto x = rand_array({2, 2, 5, 5}, 185);
  for (int k = 0; k < 4; ++k) {  // the trace, the watched run, planned runs
    CAPTURE(k);
    std::vector<std::vector<double>> g[2];
    int i = 0;
    for (RecordsItself* b : {&net, &ref}) {
      for (const auto& [n, p] : b->collect_params())
        if (p->grad_req() != GradReq::null) p->zero_grad();
      const auto y = (*b)(x);  // not recording here: forward records
      y.backward(rand_array(y.shape(), 186));
      g[i++] = grads_of(*b);
    }
    check_close_lists(g[0], g[1], 1e-12);
  }
  std::ostringstream os;
  os << *net.cached_graphs()[0];
  CHECK(os.str().find("convolution_batch_norm") == std::string::npos);
  CHECK(os.str().find("mode(recording, predict)") != std::string::npos);
}
}
