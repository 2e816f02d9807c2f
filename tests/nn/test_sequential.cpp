// SPDX-License-Identifier: Apache-2.0
#include <gluino/nn/sequential.hpp>

#include <doctest/doctest.h>

#include <sstream>

#include <gluino/nd/creation.hpp>
#include <gluino/nd/random.hpp>
#include <gluino/nn/activations.hpp>
#include <gluino/nn/basic_layers.hpp>
#include <gluino/autograd/mode.hpp>
#include <gluino/nn/conv2d.hpp>
#include <gluino/nn/dense.hpp>
#include <gluino/nn/pooling.hpp>

using namespace gluino;

TEST_SUITE("nn/sequential") {
TEST_CASE("add: one or many, by value or shared_ptr; operator[], size, iteration") {
  nn::reset_name_counters();
  nn::Sequential net;
  auto shared_dense = std::make_shared<nn::Dense>(4);
  net.add(nn::Flatten{}, nn::Dense{8, {.activation = "relu"}});
  net.add(shared_dense);
  CHECK(net.size() == 3);
  CHECK(&net[2] == shared_dense.get());
  CHECK(net[0].type_name() == "Flatten");
  std::vector<std::string> names;
  for (nn::Block& b : net) names.push_back(b.name());
  // Outside a name scope a block is named when it is made: shared_dense first.
  CHECK(names == std::vector<std::string>{"flatten0", "dense1", "dense0"});
  CHECK(net.prefix() == "sequential0_");
  CHECK_THROWS_WITH_AS(net[3], doctest::Contains("index 3 out of range"), ValueError);
}
TEST_CASE("inside a name scope, add(a, b, c) numbers in registration order whatever C++'s argument order") {
  nn::reset_name_counters();
  nn::Sequential lenet;
  {
    auto scope = lenet.name_scope();
    lenet.add(nn::Dense{20, {.activation = "relu"}}, nn::Activation{"tanh"}, nn::Dense{50}, nn::Flatten{},
              nn::Dense{128, {.activation = "relu"}}, nn::Dense{10});
  }
  std::vector<std::string> names;
  for (auto& b : lenet) names.push_back(b.prefix());
  CHECK(names == std::vector<std::string>{"sequential0_dense0_", "sequential0_tanh0_", "sequential0_dense1_",
                                          "sequential0_flatten0_", "sequential0_dense2_", "sequential0_dense3_"});
  CHECK(lenet.collect_params().keys().front() == "sequential0_dense0_weight");
}
TEST_CASE("forward chains the children; an empty Sequential is the identity") {
  nn::reset_name_counters();
  nn::Sequential empty;
  auto x = nd::random::uniform<float>({2, 3});
  CHECK(empty(x).to_vector() == x.to_vector());

  nn::Sequential net;
  net.add(nn::Dense{5, {.activation = "tanh"}}, nn::Dense{2});
  net.initialize();
  auto y = net(x);
  auto& d0 = dynamic_cast<nn::Dense&>(net[0]);
  auto& d1 = dynamic_cast<nn::Dense&>(net[1]);
  CHECK(y.to_vector() == d1(d0(x)).to_vector());
  CHECK(y.shape() == Shape{2, 2});
}
TEST_CASE("name_scope: children created inside get the container's prefix") {
  nn::reset_name_counters();
  nn::Sequential net;
  {
    auto scope = net.name_scope();
    net.add(nn::Dense{256, {.activation = "relu"}});
    net.add(nn::Dense{10});
  }
  net.add(nn::Dense{1});  // outside the scope: a global name
  CHECK(net.collect_params().keys() ==
        std::vector<std::string>{"sequential0_dense0_weight", "sequential0_dense0_bias", "sequential0_dense1_weight",
                                 "sequential0_dense1_bias", "dense0_weight", "dense0_bias"});
}
TEST_CASE("nesting: listing with indentation, parameters collected depth first") {
  nn::reset_name_counters();
  nn::Sequential inner;
  inner.add(nn::Dense{4, {.activation = "relu"}}, nn::LeakyReLU{0.1});
  nn::Sequential outer;
  outer.add(std::move(inner), nn::Dense{2, {.in_units = 4}});
  std::ostringstream os;
  os << outer;
  CHECK(os.str() ==
        "Sequential(\n"
        "  (0): Sequential(\n"
        "    (0): Dense(None -> 4, Activation(relu))\n"
        "    (1): LeakyReLU(0.1)\n"
        "  )\n"
        "  (1): Dense(4 -> 2, linear)\n"
        ")");
  outer.initialize();
  CHECK(outer(nd::zeros<float>({3, 7})).shape() == Shape{3, 2});
  CHECK(outer.collect_params().keys() ==
        std::vector<std::string>{"dense0_weight", "dense0_bias", "dense1_weight", "dense1_bias"});
  std::ostringstream empty;
  empty << nn::Sequential{};
  CHECK(empty.str() == "Sequential()");
}
TEST_CASE("indexing as Gluon: negative indices, typed access, slices sharing the blocks") {
  nn::reset_name_counters();
  nn::Sequential net;
  {
    auto scope = net.name_scope();
    net.add(nn::Dense{4, {.in_units = 4}});
    net.add(nn::Dense{4, {.in_units = 4, .params = net[-1].params()}});  // the tutorial's params=net[-1].params
    net.add(nn::Flatten{}, nn::Activation{"relu"}, nn::Dense{1, {.in_units = 4}});
  }
  CHECK(&net[-1] == &net[4]);
  CHECK(&net[-5] == &net[0]);
  CHECK(net.at<nn::Dense>(1).weight() == net.at<nn::Dense>(0).weight());
  CHECK(net.at<nn::Dense>(-1).units() == 1);
  CHECK_THROWS_WITH_AS(net[5], doctest::Contains("index 5 out of range for a Sequential of 5 blocks (valid: -5 to 4)"),
                       ValueError);
  CHECK_THROWS_WITH_AS(net[-6], doctest::Contains("index -6 out of range"), ValueError);
  CHECK_THROWS_WITH_AS(net.at<nn::Dense>(2), doctest::Contains("sequential0_: block 2 is a Flatten, not a Dense"),
                       ValueError);

  auto positions = [&](const nn::Sequential& s) {
    std::vector<std::ptrdiff_t> out;
    for (auto& b : s)
      for (std::size_t i = 0; i < net.size(); ++i)
        if (&b == &net[i]) out.push_back(static_cast<std::ptrdiff_t>(i));
    return out;
  };
  using P = std::vector<std::ptrdiff_t>;
  CHECK(positions(net.slice(1, 3)) == P{1, 2});  // Python: net[1:3]
  CHECK(positions(net.slice(-2)) == P{3, 4});    // net[-2:]
  CHECK(positions(net.slice({}, {}, -1)) == P{4, 3, 2, 1, 0});  // net[::-1]
  CHECK(positions(net.slice(4, 0, -2)) == P{4, 2});             // net[4:0:-2]
  CHECK(positions(net.slice(-10, 2)) == P{0, 1});               // clamped
  CHECK(positions(net.slice(10, 20)).empty());
  CHECK(positions(net.slice(3, 1)).empty());
  CHECK_THROWS_WITH_AS(net.slice(0, 2, 0), doctest::Contains("slice step cannot be zero"), ValueError);

  auto head = net.slice(0, 2);
  CHECK(head.prefix() == "sequential0_");
  CHECK(head.collect_params().keys() == std::vector<std::string>{"sequential0_dense0_weight", "sequential0_dense0_bias"});
  net.initialize();
  auto x = nd::random::uniform<float>({2, 4});
  auto& d0 = net.at<nn::Dense>(0);
  CHECK(head(x).to_vector() == d0(d0(x)).to_vector());  // shared blocks, shared parameters
}

namespace sequential_test {
// A Sequential of two Conv2D + MaxPool2D pairs (with and without ReLU), Flatten, Dense; and the
// name of the op that made the Flatten's input, recorded by a hook on the Flatten.
struct ConvPoolNet {
  nn::Sequential net;
  std::string last_op;
  ConvPoolNet() {
    net.add(nn::Conv2D{6, 3, {.activation = "relu"}}, nn::MaxPool2D{2}, nn::Conv2D{8, 3}, nn::MaxPool2D{2, 2},
            nn::Flatten{}, nn::Dense{5});
    net[4].register_forward_hook([this](nn::Block&, const NDArray<float>& in, const NDArray<float>&) {
      last_op = in.impl()->grad_fn ? in.impl()->grad_fn->name() : "";
    });
  }
  // The output and the gradients of sum(y^2) with respect to x and every parameter.
  std::vector<std::vector<float>> run(const NDArray<float>& x) {
    for (auto& [n, p] : net.collect_params()) p->zero_grad();
    NDArray<float> xg = x.copy();
    xg.attach_grad();
    NDArray<float> y;
    {
      autograd::record rec;
      y = net(xg);
      (y * y).sum().backward();
    }
    std::vector<std::vector<float>> out{y.to_vector(), xg.grad().to_vector()};
    for (auto& [n, p] : net.collect_params()) out.push_back(p->grad().to_vector());
    return out;
  }
};

TEST_CASE("forward: a Conv2D and the MaxPool2D after it run as one op, with the two calls' values and gradients") {
  nn::reset_name_counters();
  ConvPoolNet c;
  c.net.initialize();
  const auto x = nd::random::uniform<float>({4, 2, 14, 14}, -1, 1);
  {
    autograd::record rec;
    (void)c.net(x);  // the first call finishes the deferred shapes: the layers' own calls
  }
  CHECK(c.last_op == "pooling");
  const auto fused = c.run(x);
  CHECK(c.last_op == "convolution_max_pool");
  // A hook on each Conv2D keeps its call (the hook must see the convolution's output).
  std::vector<Shape> seen;
  std::vector<nn::HookHandle> handles;
  for (std::size_t i : {0u, 2u})
    handles.push_back(c.net[i].register_forward_hook(
        [&](nn::Block&, const NDArray<float>&, const NDArray<float>& y) { seen.push_back(y.shape()); }));
  const auto two_calls = c.run(x);
  CHECK(c.last_op == "pooling");
  CHECK(seen == std::vector<Shape>{Shape{4, 6, 12, 12}, Shape{4, 8, 4, 4}});
  REQUIRE(fused.size() == two_calls.size());
  for (std::size_t i = 0; i < fused.size(); ++i) {
    CAPTURE(i);
    CHECK(fused[i] == two_calls[i]);
  }
  // Hooks detached: one op again; without recording, the same values.
  for (auto& h : handles) h.detach();
  (void)c.run(x);
  CHECK(c.last_op == "convolution_max_pool");
  CHECK(seen.size() == 2);
  const NDArray<float> y = c.net(x);
  CHECK(y.to_vector() == fused[0]);
}

TEST_CASE("forward: a Conv2D with an activation other than relu keeps the two calls") {
  nn::reset_name_counters();
  ConvPoolNet c;
  c.net.initialize();
  const auto x = nd::random::uniform<float>({2, 2, 14, 14}, -1, 1);
  (void)c.net(x);
  (void)c.run(x);
  CHECK(c.last_op == "convolution_max_pool");
  nn::Sequential other;
  other.add(nn::Conv2D{3, 3, {.activation = "tanh"}}, nn::MaxPool2D{2});
  other.initialize();
  (void)other(x);
  NDArray<float> xg = x.copy();
  xg.attach_grad();
  {
    autograd::record rec;
    NDArray<float> y = other(xg);
    CHECK(std::string(y.impl()->grad_fn->name()) == "pooling");
  }
}
}  // namespace sequential_test
}
