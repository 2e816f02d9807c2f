// SPDX-License-Identifier: Apache-2.0
#include <gluino/graph/graph.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gluino/core/random.hpp>
#include <gluino/nd/conv.hpp>
#include <gluino/nd/creation.hpp>
#include <gluino/nd/elementwise.hpp>
#include <gluino/nd/linalg.hpp>
#include <gluino/nd/pick.hpp>
#include <gluino/nd/pool.hpp>
#include <gluino/nd/random.hpp>
#include <gluino/nd/reduce.hpp>
#include <gluino/nd/shape_ops.hpp>
#include <gluino/nd/softmax.hpp>
#include "support/gradcheck.hpp"

using namespace gluino;
using test::rand_array;
using A = NDArray<double>;
using Arrays = std::vector<A>;

TEST_SUITE("graph/graph") {
TEST_CASE("trace records each op with its attributes; run() recomputes on new inputs") {
  const A w = rand_array({3, 2, 3, 3}, 1), b = rand_array({3}, 2);
  const A offset = nd::ones<double>({1, 3, 1, 1});  // made outside the traced code: a constant
  auto f = [&](const Arrays& in) {
    A y = nd::convolution(in[0], w, b, {.stride = {2, 2}, .pad = {1, 1}});
    y = nd::relu(y + offset);
    return Arrays{nd::softmax(y.reshape({static_cast<long long>(in[0].shape(0)), -1}), 1)};
  };
  Arrays traced_out;
  auto g = graph::trace<double>(f, {{"data", rand_array({2, 2, 5, 5}, 3)}}, {{"w", w}, {"b", b}}, "f", &traced_out);
  std::ostringstream os;
  os << g;
  const std::string s = os.str();
  INFO(s);
  CHECK(s.find("convolution(%0 data, %1 w, %2 b) {stride=[2, 2], dilate=[1, 1], pad=[1, 1], num_group=1, relu=0}") !=
        std::string::npos);
  CHECK(s.find("add(%3, %4 const0)") != std::string::npos);
  CHECK(s.find("softmax(") != std::string::npos);
  CHECK(g.nodes.size() == 5);  // convolution, add, relu, reshape, softmax
  const A x = rand_array({2, 2, 5, 5}, 9);
  const Arrays got = g.run({x});
  CHECK(got[0].to_vector() == f({x})[0].to_vector());
  CHECK_THROWS_WITH_AS(g.run({rand_array({1, 2, 5, 5}, 9)}), doctest::Contains("traced with shape (2, 2, 5, 5)"),
                       ShapeError);
}

TEST_CASE("the memory plan frees each intermediate after its last reader") {
  auto f = [](const Arrays& in) {
    A y = in[0];
    for (int i = 0; i < 10; ++i) y = nd::exp(y) - 1.0;  // 20 ops in a chain
    return Arrays{y};
  };
  auto g = graph::trace<double>(f, {{"x", rand_array({100}, 1)}}, {}, "chain");
  CHECK(g.nodes.size() == 20);
  const auto [live, bytes] = g.peak_live();
  CHECK(live == 2);  // one op's input and output
  CHECK(bytes == 2 * 100 * sizeof(double));
}

TEST_CASE("refused while tracing: reading values, drawing random arrays, views made without ops") {
  auto reads = [](const Arrays& in) { return Arrays{in[0] * in[0].sum().asscalar()}; };
  CHECK_THROWS_WITH_AS(graph::trace<double>(reads, {{"x", rand_array({3}, 1)}}, {}, "reader"),
                       doctest::Contains("reader: hybridize: its forward reads array values (asscalar)"), StateError);
  CHECK_THROWS_WITH_AS(graph::trace<double>(reads, {{"x", rand_array({3}, 1)}}, {}, "reader"),
                       doctest::Contains("call the block without hybridize()"), StateError);
  // Traced for an export, the advice is export's: leaving hybridize() off would not help there.
  const auto exported = [&] {
    (void)graph::trace<double>(reads, {{"x", rand_array({3}, 1)}}, {}, "reader", nullptr,
                               autograd::TracePurpose::onnx_export);
  };
  CHECK_THROWS_WITH_AS(exported(), doctest::Contains("reader: onnx export: its forward reads array values (asscalar)"),
                       StateError);
  CHECK_THROWS_WITH_AS(exported(), doctest::Contains("export needs a forward computed with ops only"), StateError);
  auto draws = [](const Arrays& in) { return Arrays{in[0] + nd::random::uniform<double>(in[0].shape())}; };
  CHECK_THROWS_WITH_AS(graph::trace<double>(draws, {{"x", rand_array({3}, 1)}}, {}, "drawer"),
                       doctest::Contains("draws random numbers (nd::random::uniform)"), StateError);
  auto views = [](const Arrays& in) { return Arrays{nd::exp(in[0].view_as(Shape{3, 1}))}; };
  CHECK_THROWS_WITH_AS(graph::trace<double>(views, {{"x", rand_array({3}, 1)}}, {}, "viewer"),
                       doctest::Contains("a view of a traced array made without an op"), StateError);
  // Reading or writing the elements of an input or an op's output through data() (what a
  // hand-written loop does) is refused too, and the arrays are readable again after the trace.
  A kept;
  auto loops = [&kept](const Arrays& in) {
    A y = nd::exp(in[0]);
    kept = y;
    double s = 0;
    for (double v : y) s += v;
    return Arrays{y * s};
  };
  CHECK_THROWS_WITH_AS(graph::trace<double>(loops, {{"x", rand_array({3}, 1)}}, {}, "looper"),
                       doctest::Contains("looper: hybridize: its forward reads or writes array values (data)"), StateError);
  CHECK(kept.data()[0] > 0);
  auto writes = [](const Arrays& in) {
    A y = nd::exp(in[0]);
    y.data()[0] = 0;
    return Arrays{y};
  };
  CHECK_THROWS_AS(graph::trace<double>(writes, {{"x", rand_array({3}, 1)}}, {}, "writer"), StateError);
  // A parameter's elements: a branch on them would be frozen into the graph.  Refused on the
  // tracing thread only: another thread reads the same array meanwhile (a flag on the array
  // would refuse it there, or race).
  A w = rand_array({3}, 2);
  double other = 0;
  auto branches = [&](const Arrays& in) {
    std::thread t([&] { other = w.data()[0]; });
    t.join();
    return Arrays{w.data()[0] > 0 ? in[0] * w : in[0] - w};
  };
  CHECK_THROWS_WITH_AS(graph::trace<double>(branches, {{"x", rand_array({3}, 1)}}, {{"w", w}}, "brancher"),
                       doctest::Contains("brancher: hybridize: its forward reads or writes array values (data)"),
                       StateError);
  CHECK(other == w.to_vector()[0]);
  // A view of an op's output made without an op (detach, view_as) is refused as the output is.
  auto detached = [](const Arrays& in) {
    const A s = nd::sum(in[0]);
    return Arrays{s.view_as(Shape{1}).detach().data()[0] > 0 ? in[0] : -in[0]};
  };
  CHECK_THROWS_WITH_AS(graph::trace<double>(detached, {{"x", rand_array({3}, 1)}}, {}, "detacher"),
                       doctest::Contains("detacher: hybridize: its forward reads or writes array values (data)"),
                       StateError);
  // A Generator's draw outside ops: the graph would replay the traced call's noise.
  random::Generator gen(3);
  auto noisy = [&gen](const Arrays& in) { return Arrays{in[0] + gen.uniform(0.0, 1.0)}; };
  CHECK_THROWS_WITH_AS(graph::trace<double>(noisy, {{"x", rand_array({3}, 1)}}, {}, "noisy"),
                       doctest::Contains("noisy: hybridize: its forward draws random numbers (random::Generator)"),
                       StateError);
  // The thread is left as it was: values can be read again.
  CHECK(rand_array({1}, 1).asscalar() == rand_array({1}, 1).asscalar());
}

TEST_CASE("a graph run inside record() gives the traced code's gradients") {
  A w = rand_array({4, 3}, 5);
  w.attach_grad();
  auto f = [&](const Arrays& in) { return Arrays{nd::tanh(nd::dot(in[0], w)).sum()}; };
  auto g = graph::trace<double>(f, {{"x", rand_array({2, 4}, 1)}}, {{"w", w}}, "f");
  const A x = rand_array({2, 4}, 6);
  {
    autograd::record rec;
    f({x})[0].backward();
  }
  const auto want = w.grad().to_vector();
  {
    autograd::record rec;
    g.run({x})[0].backward();
  }
  CHECK(w.grad().to_vector() == want);
}
TEST_CASE("ops reading labels or indices read the ones a run is given, not the traced ones") {
  // Both used to check and copy their indices when the op was made, so a graph replayed the
  // traced call's labels on every later run (wrong losses, no error).
  auto f = [](const Arrays& in) {
    return Arrays{nd::softmax_cross_entropy(in[0], in[1]), nd::pick(in[0], in[1], 1)};
  };
  auto g = graph::trace<double>(f, {{"x", rand_array({3, 4}, 1)}, {"label", nd::array<double>({0, 1, 2})}}, {}, "f");
  const A x = rand_array({3, 4}, 2), label = nd::array<double>({3, 0, 1});
  const Arrays want = f({x, label}), got = g.run({x, label});
  CHECK(got[0].to_vector() == want[0].to_vector());
  CHECK(got[1].to_vector() == want[1].to_vector());
  CHECK(got[1].to_vector() == std::vector<double>{x.at(0, 3), x.at(1, 0), x.at(2, 1)});
  // argmax computed its result outside any op, which a graph kept as a constant.
  auto top = [](const Arrays& in) { return Arrays{nd::pick(in[0], nd::argmax(in[0], 1), 1)}; };
  auto gt = graph::trace<double>(top, {{"x", rand_array({3, 4}, 3)}}, {}, "top");
  CHECK(gt.run({x})[0].to_vector() == x.max({1}).to_vector());
  // ... and check them when the graph runs.
  CHECK_THROWS_WITH_AS(g.run({x, nd::array<double>({0, 4, 1})}), doctest::Contains("label 4 at index 1"), ValueError);
}

TEST_CASE("fuse_relu_pool moves a convolution's ReLU past its max pooling: the same values and gradients") {
  A w = rand_array({4, 2, 3, 3}, 21), b = rand_array({4}, 22);
  w.attach_grad(), b.attach_grad();
  const nd::PoolOptions pool{.kernel = {3, 3}, .stride = {2, 2}};
  // conv -> relu -> pool (fused), and conv -> relu read twice (left alone).
  auto f = [&](const Arrays& in) {
    const A c1 = nd::convolution_relu(in[0], w, b, {.pad = {1, 1}});
    const A p1 = nd::pooling(c1, pool);
    const A c2 = nd::convolution_relu(in[0], w, b);
    const A p2 = nd::pooling(c2, pool);
    const A s2 = c2.sum();
    return Arrays{p1.sum() + (p2.sum() + s2)};
  };
  const A x0 = rand_array({2, 2, 9, 8}, 23);
  auto g = graph::trace<double>(f, {{"x", x0}}, {{"w", w}, {"b", b}}, "f");
  auto relu_of = [](const graph::Node<double>& n) {
    for (const auto& [k, v] : n.op->attributes())
      if (k == "relu") return std::get<std::int64_t>(v);
    return std::int64_t(-1);
  };
  CHECK(graph::fuse_relu_pool(g) == 1);
  std::vector<std::int64_t> relus;
  for (const auto& n : g.nodes) {
    const std::string op = n.op->name();
    if (op == "convolution" || op == "pooling") relus.push_back(relu_of(n));
  }
  CHECK(relus == std::vector<std::int64_t>{0, 1, 1, 0});  // conv1, pool1 fused; conv2, pool2 not
  CHECK(graph::fuse_relu_pool(g) == 0);
  const A x = rand_array({2, 2, 9, 8}, 24);
  A want;
  {
    autograd::record rec;
    want = f({x})[0];
    want.backward();
  }
  const auto dw = w.grad().to_vector(), db = b.grad().to_vector();
  A got;
  {
    autograd::record rec;
    got = g.run({x})[0];
    got.backward();
  }
  CHECK(got.item() == doctest::Approx(want.item()).epsilon(1e-14));
  const auto dw2 = w.grad().to_vector(), db2 = b.grad().to_vector();
  for (std::size_t i = 0; i < dw.size(); ++i) CHECK(dw2[i] == doctest::Approx(dw[i]).epsilon(1e-13));
  for (std::size_t i = 0; i < db.size(); ++i) CHECK(db2[i] == doctest::Approx(db[i]).epsilon(1e-13));
}

TEST_CASE("fuse_conv_max_pool: a convolution and its max pooling as one node, the same values and gradients") {
  A w = rand_array({4, 2, 3, 3}, 25), b = rand_array({4}, 26), w3 = rand_array({3, 4, 2, 2}, 27);
  w.attach_grad(), b.attach_grad(), w3.attach_grad();
  const nd::PoolOptions pool{.kernel = {3, 3}, .stride = {2, 2}, .convention = nd::pooling_convention::full};
  const nd::PoolOptions avg{.kernel = {2, 2}, .stride = {2, 2}, .type = nd::pool_type::avg};
  // Fused: conv+relu -> max pool (ceil mode), and a conv without relu and bias, padded and
  // strided, -> max pool 2x2/2.  Left alone: a conv read twice, a conv's avg pooling.
  auto f = [&](const Arrays& in) {
    const A p1 = nd::pooling(nd::convolution_relu(in[0], w, b, {.pad = {1, 1}}), pool);
    const A p3 = nd::pooling(nd::convolution(p1, w3, A{}, {.stride = {1, 1}, .pad = {1, 1}}), {.stride = {2, 2}});
    const A c2 = nd::convolution_relu(in[0], w, b);
    const A p2 = nd::pooling(c2, pool);
    const A a2 = nd::pooling(nd::convolution(in[0], w, b), avg);
    return Arrays{p3.sum() + p2.sum() + c2.sum() + a2.sum()};
  };
  const A x0 = rand_array({2, 2, 9, 8}, 28);
  auto g = graph::trace<double>(f, {{"x", x0}}, {{"w", w}, {"b", b}, {"w3", w3}}, "f");
  const std::size_t nodes = g.nodes.size();
  CHECK(graph::fuse_conv_max_pool(g) == 2);
  CHECK(g.nodes.size() == nodes - 2);
  std::vector<std::string> ops;
  for (const auto& n : g.nodes) ops.push_back(n.op->name());
  CHECK(std::count(ops.begin(), ops.end(), std::string("convolution_max_pool")) == 2);
  CHECK(std::count(ops.begin(), ops.end(), std::string("pooling")) == 2);  // p2 (its conv read twice), a2 (avg)
  CHECK(graph::fuse_conv_max_pool(g) == 0);
  const A x = rand_array({2, 2, 9, 8}, 29);
  A want;
  {
    autograd::record rec;
    want = f({x})[0];
    want.backward();
  }
  const auto dw = w.grad().to_vector(), db = b.grad().to_vector(), dw3 = w3.grad().to_vector();
  A got;
  {
    autograd::record rec;
    got = g.run({x})[0];
    got.backward();
  }
  CHECK(got.item() == doctest::Approx(want.item()).epsilon(1e-14));
  const auto dw2 = w.grad().to_vector(), db2 = b.grad().to_vector(), dw32 = w3.grad().to_vector();
  for (std::size_t i = 0; i < dw.size(); ++i) CHECK(dw2[i] == doctest::Approx(dw[i]).epsilon(1e-13));
  for (std::size_t i = 0; i < db.size(); ++i) CHECK(db2[i] == doctest::Approx(db[i]).epsilon(1e-13));
  for (std::size_t i = 0; i < dw3.size(); ++i) CHECK(dw32[i] == doctest::Approx(dw3[i]).epsilon(1e-13));
  CHECK(g.run({x})[0].item() == doctest::Approx(want.item()).epsilon(1e-14));  // and without recording
  // After fuse_relu_pool (a training graph's order): the pooling's relu becomes the fused node's.
  auto h = graph::trace<double>(f, {{"x", x0}}, {{"w", w}, {"b", b}, {"w3", w3}}, "f");
  CHECK(graph::fuse_relu_pool(h) == 1);
  CHECK(graph::fuse_conv_max_pool(h) == 2);
  CHECK(h.run({x})[0].item() == doctest::Approx(want.item()).epsilon(1e-14));
}

TEST_CASE("static_alloc: from the third run on, a graph's arrays and gradients live in its planned arena") {
  A w = rand_array({4, 2, 3, 3}, 31);
  w.attach_grad();
  auto f = [&](const Arrays& in) {
    return Arrays{nd::pooling(nd::convolution_relu(in[0], w, A{}), {.kernel = {2, 2}, .stride = {2, 2}}).sum()};
  };
  auto g = graph::trace<double>(f, {{"x", rand_array({2, 2, 8, 8}, 32)}}, {{"w", w}}, "f");
  std::vector<std::vector<double>> grads;
  for (int step = 0; step < 4; ++step) {
    autograd::record rec;
    g.run({rand_array({2, 2, 8, 8}, 40)})[0].backward();
    grads.push_back(w.grad().to_vector());
    CHECK((g.arena()->capacity() > 0) == (step >= 1));  // watched in run 0, planned at run 1
  }
  CHECK(g.arena()->planned_blocks().first > 0);
  CHECK(grads[1] == grads[0]);
  CHECK(grads[3] == grads[0]);
  g.static_alloc = false;
  g.plan();
  {
    autograd::record rec;
    g.run({rand_array({2, 2, 8, 8}, 40)})[0].backward();
  }
  CHECK(g.arena()->capacity() == 0);
  CHECK(w.grad().to_vector() == grads[0]);
}
}
