// SPDX-License-Identifier: Apache-2.0
#include <gluino/nn/custom_block.hpp>

#include <doctest/doctest.h>

#include <cmath>
#include <tuple>
#include <vector>

#include <gluino/nd.hpp>  // NDArray with all its methods and ops
#include <gluino/nd/creation.hpp>
#include <gluino/nd/elementwise.hpp>
#include <gluino/nd/random.hpp>
#include <gluino/nn/dense.hpp>
#include <gluino/nn/sequential.hpp>

using namespace gluino;

namespace {
// Two inputs, one output: y = dense(a) + b.
class AddAfter : public nn::CustomBlock<AddAfter> {
 public:
  AddAfter() {
    auto scope = name_scope();
    dense = register_child(nn::Dense{3});
  }
  NDArray<float> forward(const NDArray<float>& a, const NDArray<float>& b) { return (*dense)(a) + b; }
  std::shared_ptr<nn::Dense> dense;
};
// One input and a state in, (output, new state) out, as a recurrent cell.
class Cell : public nn::CustomBlock<Cell> {
 public:
  Cell() {
    auto scope = name_scope();
    i2h = register_child(nn::Dense{4, {.in_units = 2}});
  }
  std::pair<NDArray<float>, NDArray<float>> forward(const NDArray<float>& x, const NDArray<float>& h) {
    NDArray<float> next = nd::tanh((*i2h)(x) + h);
    return {next * 2.0f, next};
  }
  std::shared_ptr<nn::Dense> i2h;
};
// Single in, single out: also a plain Block that chains in a Sequential.
class Twice : public nn::CustomBlock<Twice> {
 public:
  NDArray<float> forward(const NDArray<float>& x) override { return x * 2.0f; }
};
// Holds its parameter by the pointer params().get() returned.
class Holder : public nn::CustomBlock<Holder> {
 public:
  Holder() { w = params().get("weight", Shape{2}); }
  NDArray<float> forward(const NDArray<float>& x) override { return x * w->data(); }
  std::shared_ptr<nn::Parameter> w;
};
// A Holder made in its name scope; `shared` as Gluon's params= (whole-network sharing).
class Outer : public nn::CustomBlock<Outer> {
 public:
  explicit Outer(nn::ParameterDict shared = {}) : CustomBlock("", std::move(shared)) {
    auto scope = name_scope();
    inner = register_child(Holder{});
  }
  NDArray<float> forward(const NDArray<float>& x) override { return (*inner)(x); }
  std::shared_ptr<Holder> inner;
};
}  // namespace

TEST_SUITE("nn/custom_block") {
TEST_CASE("whole-network sharing refuses a child that holds its parameter by pointer (it would go stale)") {
  nn::reset_name_counters();
  Outer a;
  CHECK(a.inner->w->name() == "outer0_holder0_weight");
  CHECK_THROWS_WITH_AS(Outer(a.collect_params()), doctest::Contains("holds its own 'weight' by pointer"), StateError);
  Outer b;  // without sharing the same class is fine
  CHECK(b.inner->w->name() == "outer2_holder0_weight");
}

TEST_CASE("named after the class; an explicit prefix replaces it") {
  nn::reset_name_counters();
  Cell a, b;
  CHECK(a.prefix() == "cell0_");
  CHECK(b.i2h->weight()->name() == "cell1_dense0_weight");
  CHECK(a.type_name() == "Cell");
  CHECK(a.alias() == "cell");
  Twice t;
  CHECK(t.prefix() == "twice0_");
}
TEST_CASE("two inputs, one output") {
  nn::reset_name_counters();
  AddAfter blk;
  blk.initialize();
  auto a = nd::random::uniform<float>({2, 5});
  auto b = nd::random::uniform<float>({2, 3});
  auto y = blk(a, b);
  CHECK(y.shape() == Shape{2, 3});
  CHECK(y.to_vector() == ((*blk.dense)(a) + b).to_vector());
  CHECK(blk.dense->weight()->shape() == Shape{3, 5});  // deferred init finished on the first call
}
TEST_CASE("a block returning (output, state); gradients flow through both calls") {
  nn::reset_name_counters();
  Cell cell;
  cell.initialize();
  auto x = nd::random::uniform<float>({3, 2});
  auto h0 = nd::zeros<float>({3, 4});
  NDArray<float> loss;
  {
    autograd::record rec;
    auto [out1, h1] = cell(x, h0);
    auto [out2, h2] = cell(x, h1);
    CHECK(out2.shape() == Shape{3, 4});
    CHECK(h2.shape() == Shape{3, 4});
    loss = (out1 + out2).sum();
  }
  loss.backward();
  double g = 0;
  for (float v : cell.i2h->weight()->grad()) g += std::abs(v);
  CHECK(g > 0);
}
TEST_CASE("hooks see every input and output of a call") {
  nn::reset_name_counters();
  Cell cell;
  cell.initialize();
  std::vector<std::size_t> sizes;
  auto h = cell.register_forward_hook([&](nn::Block&, const std::vector<NDArray<float>>& in,
                                          const std::vector<NDArray<float>>& out) {
    sizes = {in.size(), out.size()};
  });
  cell(nd::zeros<float>({1, 2}), nd::zeros<float>({1, 4}));
  CHECK(sizes == std::vector<std::size_t>{2, 2});
  h.detach();
  auto single = cell.register_forward_hook([](nn::Block&, const NDArray<float>&, const NDArray<float>&) {});
  CHECK_THROWS_WITH_AS(cell(nd::zeros<float>({1, 2}), nd::zeros<float>({1, 4})),
                       doctest::Contains("cannot observe a call of 2 inputs and 2 outputs"), ValueError);
}
TEST_CASE("single-input, single-output custom blocks chain in a Sequential") {
  nn::reset_name_counters();
  nn::Sequential net;
  net.add(Twice{}, Twice{});
  CHECK(net(nd::ones<float>({2})).to_vector() == std::vector<float>{4, 4});
  Twice t;
  CHECK(t(nd::ones<float>({1})).to_vector() == std::vector<float>{2});  // called on its own type
}
}
