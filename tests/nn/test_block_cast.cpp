// SPDX-License-Identifier: Apache-2.0
// Block::cast, Block::copy_parameters_from and nn::cast (nn/block.hpp): Gluon's block.cast(dtype).
#include <gluino/nn/block.hpp>

#include <doctest/doctest.h>

#include <cmath>
#include <functional>
#include <memory>
#include <sstream>
#include <string>
#include <variant>

#include <gluino/autograd/mode.hpp>
#include <gluino/init/xavier.hpp>
#include <gluino/model_zoo/googlenet.hpp>
#include <gluino/model_zoo/lenet.hpp>
#include <gluino/model_zoo/mobilenet.hpp>
#include <gluino/model_zoo/resnet.hpp>
#include <gluino/nd/creation.hpp>
#include <gluino/nd/random.hpp>
#include <gluino/nn/activations.hpp>
#include <gluino/nn/basic_layers.hpp>
#include <gluino/nn/batch_norm.hpp>
#include <gluino/nn/concatenate.hpp>
#include <gluino/nn/conv1d.hpp>
#include <gluino/nn/conv2d.hpp>
#include <gluino/nn/conv2d_transpose.hpp>
#include <gluino/nn/conv3d.hpp>
#include <gluino/nn/custom_block.hpp>
#include <gluino/nn/dense.hpp>
#include <gluino/nn/dropout.hpp>
#include <gluino/nn/embedding.hpp>
#include <gluino/nn/hybrid_block.hpp>
#include <gluino/nn/normalization.hpp>
#include <gluino/nn/pooling.hpp>
#include <gluino/nn/pooling1d.hpp>
#include <gluino/nn/reflection_pad.hpp>
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

/// The printed form of a block (its options) and its parameters' names, shapes and states.
template <class T>
std::string layout(const nn::BasicBlock<T>& b) {
  std::ostringstream s;
  s << b << '\n';
  for (const auto& [n, p] : b.collect_params())
    s << n << ' ' << p->shape() << " init=" << p->is_initialized() << " deferred=" << p->is_deferred()
      << " grad_req=" << static_cast<int>(p->grad_req()) << " lr_mult=" << p->lr_mult() << " wd_mult=" << p->wd_mult()
      << " own_init=" << static_cast<bool>(p->init()) << '\n';
  std::string out = s.str();  // the listing's dtype (Embedding prints it) as float's
  for (std::size_t at; (at = out.find("float64")) != std::string::npos;) out.replace(at, 7, "float32");
  return out;
}

/// Casts a float block to double and back: the copies print alike, have the same parameter names,
/// shapes and values (exactly, float -> double -> float), and compute what the float block does on
/// x (float precision), in predict mode.
void check_round_trip(nn::BasicBlock<float>& net, const NDArray<float>& x) {
  const NDArray<float> y32 = net(x);  // finishes the deferred shapes
  std::shared_ptr<nn::BasicBlock<double>> net64 = net.cast<double>();
  CHECK(layout(*net64) == layout(net));
  const auto src = net.collect_params_with_prefix();
  const auto dst = net64->collect_params_with_prefix();
  REQUIRE(src.size() == dst.size());
  for (std::size_t i = 0; i < src.size(); ++i) {
    CAPTURE(src[i].first);
    CHECK(dst[i].first == src[i].first);
    CHECK(dst[i].second->name() == src[i].second->name());
    CHECK(dst[i].second->data().to_vector() == src[i].second->data().astype<double>().to_vector());
  }
  const NDArray<double> y64 = (*net64)(x.astype<double>());
  REQUIRE(y64.shape() == y32.shape());
  for (std::size_t i = 0; i < y64.size(); ++i) {
    CAPTURE(i);
    CHECK(y64.data()[i] == doctest::Approx(double(y32.data()[i])).epsilon(1e-4).scale(1.0));
  }
  std::shared_ptr<nn::BasicBlock<float>> back = net64->cast<float>();
  CHECK(layout(*back) == layout(net));
  const auto again = back->collect_params_with_prefix();
  for (std::size_t i = 0; i < src.size(); ++i) CHECK(again[i].second->data().to_vector() == src[i].second->data().to_vector());
}

/// A user's block that can be cast: a class template over T that says how to make itself.
template <class T>
class Scaled : public nn::BasicCustomBlock<Scaled<T>, T> {
 public:
  explicit Scaled(std::size_t units = 3) : units_(units) {
    auto scope = this->name_scope();
    dense = this->register_child(nn::BasicDense<T>{units, {.activation = "relu"}}, "dense");
    scale_ = this->declare_param("scale", Shape{1}, init::BasicOne<T>{});
  }
  NDArray<T> forward(const NDArray<T>& x) override { return (*dense)(x) * this->param_at(scale_)->data(); }
  nn::AnyBlockPtr rebuild(nn::Dtype to) const override {
    return nn::rebuild_as(to, [&]<class U>() { return std::make_shared<Scaled<U>>(units_); });
  }
  std::shared_ptr<nn::BasicDense<T>> dense;

 private:
  std::size_t units_;
  std::size_t scale_;
};

/// A user's block that does not say how to make it again.
class Plain : public nn::CustomBlock<Plain> {
 public:
  Plain() { dense = register_child(nn::Dense{2}); }
  NDArray<float> forward(const NDArray<float>& x) override { return (*dense)(x); }
  std::shared_ptr<nn::Dense> dense;
};

/// A Sequential subclass with its own forward that does not override rebuild.
class Doubling : public nn::Sequential {
 public:
  NDArray<float> forward(const NDArray<float>& x) override { return nn::Sequential::forward(x) * 2.0f; }
};
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

TEST_CASE("Block::cast<double>(): LeNet, without building the double model by hand") {
  random::seed(5);
  auto net = model_zoo::lenet<float>();
  net->initialize(init::Xavier{});
  check_round_trip(*net, nd::random::uniform<float>({2, 1, 28, 28}));
  // The copy is the model zoo's class (a Sequential named LeNet), with the same prefix.
  auto net64 = std::dynamic_pointer_cast<nn::BasicSequential<double>>(net->cast<double>());
  REQUIRE(net64 != nullptr);
  CHECK(net64->prefix() == net->prefix());
  CHECK(net64->type_name() == "LeNet");
  CHECK(net64->is_hybridizable());
  CHECK_FALSE(net64->is_hybridized());
}

TEST_CASE("Block::cast(\"float64\"): by NumPy's dtype name") {
  auto net = std::make_shared<nn::Sequential>();
  net->add(nn::Dense{4, {.activation = "tanh", .in_units = 3}});
  net->initialize();
  nn::AnyBlockPtr any = net->cast("float64");
  REQUIRE(std::holds_alternative<std::shared_ptr<nn::BasicBlock<double>>>(any));
  CHECK(std::get<std::shared_ptr<nn::BasicBlock<double>>>(any)->collect_params().keys() == net->collect_params().keys());
  CHECK(std::holds_alternative<std::shared_ptr<nn::BasicBlock<float>>>(net->cast("float32")));
  CHECK(std::holds_alternative<std::shared_ptr<nn::BasicBlock<double>>>(net->cast("double")));
  CHECK_THROWS_WITH_AS(net->cast("float16"),
                       "cast: unknown dtype 'float16'; gluino's blocks are float32 (\"float32\", \"float\") or "
                       "float64 (\"float64\", \"double\")",
                       ValueError);
}

TEST_CASE("Block::cast: every layer keeps its options, parameters and outputs") {
  random::seed(11);
  autograd::predict_mode predict;
  auto check = [](std::function<void(nn::Sequential&)> add, const Shape& in) {
    auto net = std::make_shared<nn::Sequential>();
    add(*net);
    net->initialize(init::Xavier{});
    check_round_trip(*net, nd::random::uniform<float>(in, -1.0f, 1.0f));
  };
  SUBCASE("Dense") {
    check([](auto& n) { n.add(nn::Dense{5, {.activation = "sigmoid"}}, nn::Dense{3, {.use_bias = false}}); }, {2, 4});
    check([](auto& n) { n.add(nn::Dense{5, {.flatten = false}}); }, {2, 3, 4});
  }
  SUBCASE("convolutions") {
    check([](auto& n) {
      n.add(nn::Conv2D{4, {3, 2}, {.strides = {2, 1}, .padding = 1, .dilation = {1, 2}, .activation = "relu"}},
            nn::Conv2D{4, 3, {.groups = 2, .use_bias = false}});
    }, {2, 3, 9, 9});
    check([](auto& n) { n.add(nn::Conv1D{4, 3, {.strides = 2, .padding = 1, .groups = 1, .activation = "tanh"}}); },
          {2, 3, 9});
    check([](auto& n) { n.add(nn::Conv3D{2, 2, {.padding = 1, .use_bias = false}}); }, {1, 2, 4, 4, 4});
    check([](auto& n) { n.add(nn::Conv2DTranspose{3, 3, {.strides = 2, .padding = 1, .output_padding = 1}}); },
          {2, 2, 4, 4});
  }
  SUBCASE("pooling, padding, flatten, lambda, activations") {
    check([](auto& n) {
      n.add(nn::MaxPool2D{3, 2, {.padding = 1, .ceil_mode = true}}, nn::AvgPool2D{2, 1, {.count_include_pad = false}},
            nn::ReflectionPad2D{1}, nn::GlobalMaxPool2D{});
    }, {2, 3, 8, 8});
    check([](auto& n) { n.add(nn::GlobalAvgPool2D{}, nn::Flatten{}, nn::Lambda{"tanh"}); }, {2, 3, 4, 4});
    check([](auto& n) {
      n.add(nn::MaxPool1D{2}, nn::AvgPool1D{3, 1, {.padding = 1, .count_include_pad = false}}, nn::GlobalMaxPool1D{},
            nn::GlobalAvgPool1D{});
    }, {2, 3, 8});
    check([](auto& n) {
      n.add(nn::Activation{"softrelu"}, nn::LeakyReLU{0.1}, nn::ELU{0.5}, nn::SELU{}, nn::GELU{}, nn::Swish{2.0},
            nn::PReLU{{.in_channels = 3}}, nn::Dropout{0.5});
    }, {2, 3, 4});
  }
  SUBCASE("normalizations, with running statistics that training moved") {
    auto net = std::make_shared<nn::Sequential>();
    net->add(nn::BatchNorm{{.momentum = 0.5, .epsilon = 1e-3, .center = false}}, nn::LayerNorm{{.axis = 1}},
             nn::InstanceNorm{{.scale = true}}, nn::GroupNorm{{.num_groups = 3, .epsilon = 1e-4}});
    net->initialize();
    {
      autograd::record rec;
      (*net)(nd::random::uniform<float>({4, 3, 5, 5}));
    }
    check_round_trip(*net, nd::random::uniform<float>({2, 3, 5, 5}));
  }
  SUBCASE("embedding") {
    auto net = std::make_shared<nn::Sequential>();
    net->add(nn::Embedding{10, 4});
    net->initialize();
    check_round_trip(*net, nd::array<float>({1, 9, 0, 4, 4, 2}, {2, 3}));
  }
  SUBCASE("containers: Concatenate, HybridConcatenate, Identity, HybridSequential") {
    check([](auto& n) {
      auto cat = std::make_shared<nn::HybridConcatenate>(1);
      cat->add(nn::Identity{}, nn::Conv2D{2, 1});
      auto inner = std::make_shared<nn::HybridSequential>();
      inner->add(nn::Conv2D{3, 1}, nn::Activation{"relu"});
      auto plain = std::make_shared<nn::Concatenate>(1);
      plain->add(inner, nn::Identity{});
      n.add(cat, plain);
    }, {2, 2, 3, 3});
  }
}

TEST_CASE("Block::cast: the model zoo's residual, inception and bottleneck blocks") {
  random::seed(13);
  autograd::predict_mode predict;
  SUBCASE("ResNet-18 v1 and v2") {
    for (auto make : {&model_zoo::resnet18_v1<float>, &model_zoo::resnet18_v2<float>}) {
      auto net = make({.classes = 4, .thumbnail = true});
      net->initialize(init::Xavier{});
      check_round_trip(*net, nd::random::uniform<float>({1, 3, 16, 16}));
    }
  }
  SUBCASE("bottlenecks, inception, MobileNet v2") {
    auto net = std::make_shared<nn::Sequential>();
    net->add(model_zoo::BottleneckV1{8, 2, {.downsample = true}}, model_zoo::BottleneckV2{8, 1, {.downsample = false}},
             model_zoo::Inception{2, {2, 3}, {1, 2}, 2});
    net->initialize(init::Xavier{});
    check_round_trip(*net, nd::random::uniform<float>({1, 4, 8, 8}));
    auto mobile = model_zoo::mobilenet_v2_0_25<float>({.classes = 3});
    mobile->initialize(init::Xavier{});
    check_round_trip(*mobile, nd::random::uniform<float>({1, 3, 32, 32}));
  }
}

TEST_CASE("Block::cast: sharing, parameter attributes, initializers and deferred shapes are kept") {
  auto net = std::make_shared<nn::Sequential>();
  auto a = net->register_child(nn::Dense{4, {.weight_initializer = init::Xavier{"gaussian"}, .in_units = 4}});
  net->add(nn::Dense{4, {.params = a->params()}}, nn::Dense{2});
  net->collect_params(".*bias").set_lr_mult(0.5);
  net->collect_params_with_prefix()[4].second->set_grad_req(GradReq::null);
  net->initialize();  // dense2's weight waits for its input size
  auto net64 = std::dynamic_pointer_cast<nn::BasicSequential<double>>(net->cast<double>());
  REQUIRE(net64 != nullptr);
  CHECK(layout(*net64) == layout(*net));
  // The shared Dense shares in the copy too: one parameter object, one update.
  const auto p = net64->collect_params_with_prefix();
  CHECK(p[0].second == p[2].second);
  CHECK(p[1].second == p[3].second);
  CHECK(p[0].second != p[4].second);
  // Its own initializer is the same initializer for double.
  auto* xavier = dynamic_cast<init::BasicXavier<double>*>(p[0].second->init().get());
  REQUIRE(xavier != nullptr);
  CHECK(xavier->rnd_type() == "gaussian");
  // dense2's weight is still deferred, and the copy's first forward initializes it.
  CHECK(p[4].second->is_deferred());
  const auto y = (*net64)(nd::ones<double>({2, 4}));
  CHECK(y.shape() == Shape{2, 2});
  CHECK(p[4].second->shape() == Shape{2, 4});
  CHECK(net->collect_params_with_prefix()[4].second->is_deferred());  // the source is untouched
}

TEST_CASE("Block::cast: the copy is independent, and names made later are not renumbered") {
  nn::reset_name_counters();
  auto net = std::make_shared<nn::Sequential>();
  net->add(nn::Dense{2, {.in_units = 2}});
  net->initialize();
  auto copy = net->cast<float>();  // a deep copy
  copy->collect_params_with_prefix()[0].second->data().fill(7.0f);
  CHECK(net->collect_params_with_prefix()[0].second->data().to_vector() != std::vector<float>(4, 7.0f));
  CHECK(copy->prefix() == "sequential0_");
  CHECK(nn::Dense{2}.prefix() == "dense1_");
  CHECK(nn::Sequential{}.prefix() == "sequential1_");
}

TEST_CASE("Block::cast: a user's block casts when it overrides rebuild, and says so when it does not") {
  nn::reset_name_counters();
  auto net = std::make_shared<nn::Sequential>();
  auto user = net->register_child(Scaled<float>{3});
  net->initialize();
  check_round_trip(*net, nd::random::uniform<float>({2, 5}));
  CHECK(net->cast<double>()->children()[0]->prefix() == "scaled0_");
  CHECK(net->cast<double>()->collect_params().keys() ==
        std::vector<std::string>{"scaled0_scale", "scaled0_dense0_weight", "scaled0_dense0_bias"});

  auto plain = std::make_shared<nn::Sequential>();
  plain->add(Plain{});
  CHECK_THROWS_WITH_AS(plain->cast<double>(),
                       "plain0_: cast: Plain does not say how to make it for another element type; a block class that "
                       "can be cast overrides `nn::AnyBlockPtr rebuild(nn::Dtype) const` (docs/blocks.md)",
                       ValueError);
  Doubling twice;
  twice.add(nn::Dense{2});
  CHECK_THROWS_WITH_AS(twice.cast<double>(), doctest::Contains("cast: Doubling::rebuild made a Sequential"), ValueError);
  nn::Lambda fn([](const NDArray<float>& x) { return x; });
  CHECK_THROWS_WITH_AS(fn.cast<double>(), doctest::Contains("a Lambda of a C++ function cannot be made"), ValueError);
  (void)user;
}

TEST_CASE("Block::cast: a block with no name yet is refused") {
  nn::Sequential outer;
  auto scope = outer.name_scope();
  nn::Dense inner{2};
  CHECK_THROWS_WITH_AS(inner.cast<double>(), doctest::Contains("cast: the block has no name yet"), StateError);
}

}  // TEST_SUITE
