// SPDX-License-Identifier: Apache-2.0
// A block's first call with parameters waiting for their shapes (nn/block.hpp's call,
// nn/parameter.hpp's DeferredInitCall): from several threads at once, and when it throws.
#include <gluino/nn/block.hpp>

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <gluino/nd.hpp>  // NDArray with all its methods and ops
#include <gluino/nd/creation.hpp>
#include <gluino/nn/batch_norm.hpp>
#include <gluino/nn/conv2d.hpp>
#include <gluino/nn/custom_block.hpp>
#include <gluino/nn/dense.hpp>
#include <gluino/nn/hybrid_block.hpp>
#include <gluino/nn/sequential.hpp>

using namespace gluino;

namespace {
// Fills with 0.5 after a pause, counting its calls: a second thread making the same first call
// arrives while the first is inside it.
struct FirstCallSlowInit : init::Initializer {
  std::shared_ptr<std::atomic<int>> calls = std::make_shared<std::atomic<int>>(0);
  void init_weight(const std::string&, NDArray<float>& a) override {
    ++*calls;
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
    a.fill(0.5f);
  }
};
// Throws at its first call, fills with 2 afterwards.
struct FirstCallFailingInit : init::Initializer {
  std::shared_ptr<int> calls = std::make_shared<int>(0);
  void init_weight(const std::string& name, NDArray<float>& a) override {
    if ((*calls)++ == 0) throw std::runtime_error("no memory for " + name);
    a.fill(2.0f);
  }
};

// Runs f on `n` threads started together; returns what each threw ("" when nothing).
template <class F>
std::vector<std::string> first_call_on_threads(int n, F f) {
  std::vector<std::string> errors(static_cast<std::size_t>(n));
  std::atomic<int> ready{0};
  std::vector<std::thread> ts;
  for (int i = 0; i < n; ++i)
    ts.emplace_back([&, i] {
      ++ready;
      while (ready.load() < n) std::this_thread::yield();
      try {
        f(i);
      } catch (const std::exception& e) {
        errors[static_cast<std::size_t>(i)] = e.what();
      }
    });
  for (auto& t : ts) t.join();
  return errors;
}

// y = x * scale + child(x), scale's size known only from the input (infer_shape); throws after
// both ran when `fail` is set.
class FirstCallScaled : public nn::CustomBlock<FirstCallScaled> {
 public:
  FirstCallScaled() {
    auto scope = name_scope();
    scale_ = declare_param("scale", Shape{0});
    child = register_child(nn::Dense{3, {.flatten = false}});
  }
  void infer_shape(const NDArray<float>& x) override { param_at(scale_)->set_shape({x.shape(-1)}); }
  NDArray<float> forward(const NDArray<float>& x) override {
    NDArray<float> y = (*child)(x);
    if (fail) throw ShapeError("FirstCallScaled: refused");
    return x * scale()->data() + y.sum();
  }
  const std::shared_ptr<nn::Parameter>& scale() const { return param_at(scale_); }
  std::shared_ptr<nn::Dense> child;
  bool fail = false;

 private:
  std::size_t scale_;
};
}  // namespace

TEST_SUITE("nn/block_first_call") {
TEST_CASE("first call from several threads at once: each deferred parameter is initialized once") {
  SUBCASE("Dense") {
    for (int trial = 0; trial < 3; ++trial) {
      FirstCallSlowInit init;
      nn::Dense d{3, {.weight_initializer = init}};
      d.initialize();
      const auto x = nd::ones<float>({2, 4});
      std::vector<NDArray<float>> ys(4);
      const auto errors = first_call_on_threads(4, [&](int i) { ys[static_cast<std::size_t>(i)] = d(x); });
      for (const auto& e : errors) CHECK(e == "");
      CHECK(init.calls->load() == 1);
      CHECK_FALSE(d.weight()->is_deferred());
      CHECK(d.weight()->data().shape() == Shape{3, 4});
      for (const auto& y : ys) CHECK(y.to_vector() == std::vector<float>(6, 2.0f));  // 4 * 0.5, zero bias
    }
  }
  SUBCASE("a Sequential of Conv2D, BatchNorm and Dense") {
    FirstCallSlowInit init;
    nn::Sequential net;
    net.add(nn::Conv2D{2, 3, {.weight_initializer = init}}, nn::BatchNorm{},
            nn::Dense{2, {.weight_initializer = init}});
    net.initialize();
    const auto x = nd::ones<float>({1, 1, 5, 5});
    std::vector<NDArray<float>> ys(3);
    autograd::predict_mode predict;  // the running statistics are read, not written
    const auto errors = first_call_on_threads(3, [&](int i) { ys[static_cast<std::size_t>(i)] = net(x); });
    for (const auto& e : errors) CHECK(e == "");
    CHECK(init.calls->load() == 2);
    for (const auto& y : ys) CHECK(y.to_vector() == ys[0].to_vector());
    for (const auto& [name, p] : net.collect_params()) CHECK((p->is_initialized() && !p->is_deferred()));
  }
  SUBCASE("two Dense layers sharing their weight (params=), each called first on its own thread") {
    FirstCallSlowInit init;
    nn::Dense a{3, {.weight_initializer = init}};
    nn::Dense b{3, {.params = a.params()}};
    a.initialize();  // b's parameters are a's
    const auto x = nd::ones<float>({2, 4});
    NDArray<float> ya, yb;
    const auto errors = first_call_on_threads(2, [&](int i) { (i == 0 ? ya : yb) = (i == 0 ? a : b)(x); });
    CHECK(errors[0] == "");
    CHECK(errors[1] == "");
    CHECK(init.calls->load() == 1);
    CHECK(a.weight() == b.weight());
    CHECK(ya.to_vector() == yb.to_vector());
  }
}
TEST_CASE("a first call may run a child's first call on another thread (no lock held across blocks)") {
  class Async : public nn::CustomBlock<Async> {
   public:
    Async() {
      auto scope = name_scope();
      w_ = declare_param("w", Shape{0});
      inner = register_child(FirstCallScaled{});
    }
    NDArray<float> forward(const NDArray<float>& x) override {
      param_at(w_)->finish_deferred_init({x.shape(-1)}, who());
      NDArray<float> y = std::async(std::launch::async, [&] { return (*inner)(x); }).get();
      return y * param_at(w_)->data();
    }
    std::shared_ptr<FirstCallScaled> inner;
    std::size_t w_;
  };
  Async outer;
  outer.initialize(init::Constant{1.0f});
  auto y = outer(nd::ones<float>({2, 4}));
  CHECK(y.shape() == Shape{2, 4});
  CHECK_FALSE(outer.inner->scale()->is_deferred());
}
TEST_CASE("a first call that throws infers nothing: the parameters wait again and a correct call works") {
  SUBCASE("Conv2D given NHWC: the channels it read from the wrong axis are forgotten") {
    nn::Conv2D conv{4, 3};
    conv.initialize();
    CHECK_THROWS_AS(conv(nd::ones<float>({1, 8, 8, 1})), ShapeError);  // kernel larger than the 1-wide input
    CHECK(conv.weight()->is_deferred());
    CHECK_FALSE(conv.weight()->is_initialized());
    CHECK(conv.weight()->shape() == Shape{4, 0, 3, 3});
    CHECK(conv.repr().find("Conv2D(None -> 4") == 0);
    auto y = conv(nd::ones<float>({1, 1, 8, 8}));
    CHECK(y.shape() == Shape{1, 4, 6, 6});
    CHECK(conv.in_channels() == 1);
    CHECK_FALSE(conv.weight()->is_deferred());
  }
  SUBCASE("a custom block: its own parameter waits again; its child, whose own call succeeded, keeps its shape") {
    FirstCallScaled net;
    net.initialize(init::Constant{1.0f});
    net.fail = true;
    CHECK_THROWS_WITH_AS(net(nd::ones<float>({2, 5})), "FirstCallScaled: refused", ShapeError);
    CHECK(net.scale()->is_deferred());
    CHECK(net.scale()->shape() == Shape{0});
    CHECK(net.child->in_units() == 5);  // as Gluon's imperative blocks: each child's first call stands
    net.fail = false;
    auto y = net(nd::ones<float>({2, 5}));
    CHECK(net.scale()->data().shape() == Shape{5});
    CHECK(y.to_vector() == std::vector<float>(10, 31.0f));  // 1 + sum of a (2, 3) output of 5s
  }
  SUBCASE("a Dense whose initializer throws: the weight still waits, and the next call initializes it") {
    nn::reset_name_counters();
    FirstCallFailingInit init;
    nn::Dense d{2, {.weight_initializer = init}};
    d.initialize();
    CHECK_THROWS_WITH_AS(d(nd::ones<float>({1, 3})), "no memory for dense0_weight", std::runtime_error);
    CHECK(d.weight()->is_deferred());
    CHECK(d.weight()->shape() == Shape{2, 0});
    auto y = d(nd::ones<float>({1, 3}));
    CHECK(y.to_vector() == std::vector<float>(2, 6.0f));
    CHECK(*init.calls == 2);
  }
}
TEST_CASE("a child's failing first call does not put back a parameter its parent's running first call initialized") {
  // Outer and its child Inner share the parameter w (params=); Outer's forward initializes w,
  // then calls Inner, whose first call throws and is caught.
  class Inner : public nn::CustomBlock<Inner> {
   public:
    explicit Inner(nn::ParameterDict shared) : CustomBlock("", std::move(shared)) { w_ = declare_param("w", Shape{0}); }
    NDArray<float> forward(const NDArray<float>& x) override {
      param_at(w_)->finish_deferred_init({x.shape(-1)}, who());
      throw ValueError("Inner: refused");
    }
    std::size_t w_;
  };
  class Outer : public nn::CustomBlock<Outer> {
   public:
    Outer() {
      w_ = declare_param("w", Shape{0});
      inner = register_child(Inner(params()));
    }
    NDArray<float> forward(const NDArray<float>& x) override {
      param_at(w_)->finish_deferred_init({x.shape(-1)}, who());
      try {
        (*inner)(x);
      } catch (const ValueError&) {
      }
      return x * param_at(w_)->data();
    }
    std::shared_ptr<Inner> inner;
    std::size_t w_;
  };
  Outer net;
  net.initialize(init::Constant{2.0f});
  REQUIRE(net.params().nth(0) == net.inner->params().nth(0));
  auto y = net(nd::ones<float>({1, 3}));
  CHECK(y.to_vector() == std::vector<float>(3, 2.0f));
  CHECK_FALSE(net.params().nth(0)->is_deferred());
}
TEST_CASE("a hybridized block's failing first call keeps no graph of the data it put back") {
  class Scaled : public nn::HybridCustomBlock<Scaled> {
   public:
    Scaled() { w_ = declare_param("w", Shape{0}); }
    void infer_shape(const NDArray<float>& x) { param_at(w_)->set_shape({x.shape(-1)}); }
    NDArray<float> forward(const NDArray<float>& x) { return x * param_at(w_)->data(); }
    std::size_t w_;
  };
  Scaled net;
  net.initialize(init::Constant{2.0f});
  net.hybridize();
  auto hook = net.register_forward_hook(
      [](nn::Block&, const NDArray<float>&, const NDArray<float>&) { throw ValueError("hook refused"); });
  CHECK_THROWS_WITH_AS(net(nd::ones<float>({1, 3})), "hook refused", ValueError);  // after the graph was traced
  hook.detach();
  CHECK(net.params().nth(0)->is_deferred());
  CHECK(net.cached_graphs().empty());
  CHECK(net(nd::ones<float>({1, 3})).to_vector() == std::vector<float>(3, 2.0f));
  net.params().nth(0)->set_data(nd::full<float>({3}, 5.0f));
  CHECK(net(nd::ones<float>({1, 3})).to_vector() == std::vector<float>(3, 5.0f));  // the graph reads the new data
}
TEST_CASE("a first input with an empty feature or channel axis says so, and the parameters keep waiting") {
  nn::reset_name_counters();
  nn::Dense d{3};
  nn::Conv2D conv{2, 3};
  nn::BatchNorm bn;
  d.initialize();
  conv.initialize();
  bn.initialize();
  CHECK_THROWS_WITH_AS(d(nd::ones<float>({2, 0})),
                       "dense0_: Parameter 'dense0_weight' of shape (3, 0) cannot be initialized from an input that "
                       "implies shape (3, 0): an unknown dimension comes out 0 (an empty axis of the input)",
                       ShapeError);
  CHECK_THROWS_WITH_AS(conv(nd::ones<float>({1, 0, 5, 5})), doctest::Contains("conv0_: Parameter 'conv0_weight'"),
                       ShapeError);
  CHECK_THROWS_WITH_AS(bn(nd::ones<float>({2, 0})), doctest::Contains("batchnorm0_: Parameter 'batchnorm0_gamma'"),
                       ShapeError);
  CHECK(d.weight()->is_deferred());
  CHECK(conv.weight()->shape() == Shape{2, 0, 3, 3});
  CHECK(bn.running_mean()->is_deferred());
  CHECK(d(nd::ones<float>({2, 4})).shape() == Shape{2, 3});
  CHECK(bn(nd::ones<float>({2, 5})).shape() == Shape{2, 5});
}
}  // TEST_SUITE
