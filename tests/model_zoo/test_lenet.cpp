// SPDX-License-Identifier: Apache-2.0
#include <doctest/doctest.h>

#include "support/count_params.hpp"

#include <gluino/nn/parameter_dict.hpp>
#include <gluino/nn/parameter_io.hpp>  // save / load

#include <gluino/init/xavier.hpp>
#include <gluino/loss/softmax_cross_entropy_loss.hpp>
#include <gluino/model_zoo/lenet.hpp>
#include <gluino/nn/hybrid_block.hpp>  // hybridize
#include <gluino/nd/creation.hpp>
#include <gluino/nd/random.hpp>
#include <gluino/optim/trainer.hpp>
#include <gluino/data/dataloader.hpp>
#include <cstdio>
#include <sstream>

using namespace gluino;
using gluino::test::count_params;

TEST_SUITE("model_zoo/lenet") {
  TEST_CASE("output shape for a batch of 2, parameter names and shapes") {
    nn::reset_name_counters();
    auto net = model_zoo::lenet();
    net->initialize(init::Xavier{});
    CHECK(net->size() == 7);
    const auto y = (*net)(nd::random::uniform<float>({2, 1, 28, 28}));
    CHECK(y.shape() == Shape{2, 10});
    const auto params = net->collect_params();
    CHECK(params.keys() == std::vector<std::string>{"lenet0_conv0_weight", "lenet0_conv0_bias", "lenet0_conv1_weight",
                                                    "lenet0_conv1_bias", "lenet0_dense0_weight", "lenet0_dense0_bias",
                                                    "lenet0_dense1_weight", "lenet0_dense1_bias"});
    CHECK(params["lenet0_conv0_weight"]->shape() == Shape{20, 1, 5, 5});
    CHECK(params["lenet0_conv1_weight"]->shape() == Shape{50, 20, 3, 3});
    CHECK(params["lenet0_dense0_weight"]->shape() == Shape{128, 1250});
    CHECK(params["lenet0_dense1_weight"]->shape() == Shape{10, 128});
    CHECK(model_zoo::lenet()->prefix() == "lenet1_");
  }
  TEST_CASE("parameter count: 170,988, as Gluon's summary of the same net") {
    // conv0 20*1*5*5 + 20 = 520; conv1 50*20*3*3 + 50 = 9,050; dense0 (50*5*5)*128 + 128 = 160,128;
    // dense1 128*10 + 10 = 1,290.
    auto net = model_zoo::lenet();
    net->initialize();
    (*net)(nd::zeros<float>({1, 1, 28, 28}));
    CHECK(count_params(*net) == 520 + 9050 + 160128 + 1290);
    CHECK(count_params(*net) == 170988);
  }
  TEST_CASE("summary lists each layer's output shape and the totals") {
    auto net = model_zoo::lenet();
    net->initialize();
    std::ostringstream os;
    net->summary(nd::zeros<float>({2, 1, 28, 28}), os);
    const std::string s = os.str();
    for (const char* row :
         {"Conv2D-1", "(2, 20, 24, 24)", "MaxPool2D-2", "(2, 20, 12, 12)", "Conv2D-3", "(2, 50, 10, 10)", "MaxPool2D-4",
          "(2, 50, 5, 5)", "Flatten-5", "(2, 1250)", "Dense-6", "(2, 128)", "Dense-7", "(2, 10)",
          "Total params: 170988", "Trainable params: 170988", "Non-trainable params: 0",
          // (23040 + 5760 + 10000 + 2500 + 2500 + 256 + 20) outputs * 4 bytes = 172.17 KiB
          "Activation memory (the listed layers' outputs for this input): 172.2 KiB"}) {
      CAPTURE(row);
      CHECK(s.find(row) != std::string::npos);
    }
  }
  TEST_CASE("the listing names the model and each layer as Gluon prints them") {
    auto net = model_zoo::lenet();
    std::ostringstream os;
    os << *net;
    CHECK(os.str() ==
          "LeNet(\n"
          "  (0): Conv2D(None -> 20, kernel_size=(5, 5), stride=(1, 1), Activation(relu))\n"
          "  (1): MaxPool2D(size=(2, 2), stride=(2, 2), padding=(0, 0), ceil_mode=False, global_pool=False, "
          "pool_type=max, layout=NCHW)\n"
          "  (2): Conv2D(None -> 50, kernel_size=(3, 3), stride=(1, 1), Activation(relu))\n"
          "  (3): MaxPool2D(size=(2, 2), stride=(2, 2), padding=(0, 0), ceil_mode=False, global_pool=False, "
          "pool_type=max, layout=NCHW)\n"
          "  (4): Flatten\n"
          "  (5): Dense(None -> 128, Activation(relu))\n"
          "  (6): Dense(None -> 10, linear)\n"
          ")");
  }
  TEST_CASE("composes with Trainer and a loss: one SGD step lowers the loss on a fixed batch") {
    random::seed(3);
    auto net = model_zoo::lenet();
    net->initialize(init::Xavier{});
    Trainer trainer(net->collect_params(), "sgd", {{"learning_rate", 0.1}});
    loss::SoftmaxCrossEntropyLoss loss_fn;
    const auto x = nd::random::uniform<float>({4, 1, 28, 28});
    const auto label = nd::array<float>({0, 1, 2, 3});
    auto mean_loss = [&] { return nd::mean(loss_fn((*net)(x), label)).to_vector()[0]; };
    const float before = mean_loss();
    {
      autograd::record rec;
      auto l = loss_fn((*net)(x), label);
      l.backward();
    }
    trainer.step(4);
    CHECK(mean_loss() < before);
  }
  TEST_CASE("double precision builds the same net") {
    auto net = model_zoo::lenet<double>();
    net->initialize();
    CHECK((*net)(nd::zeros<double>({2, 1, 28, 28})).shape() == Shape{2, 10});
  }
  TEST_CASE("a checkpoint loaded into a new LeNet gives identical logits") {
    random::seed(5);
    auto net = model_zoo::lenet();
    net->initialize(init::Xavier{});
    const auto x = nd::random::uniform<float>({3, 1, 28, 28});
    const auto before = (*net)(x);
    const std::string path = "test_lenet_checkpoint.safetensors";
    net->save_parameters(path);
    auto loaded = model_zoo::lenet();
    loaded->initialize();  // different values until loaded
    (void)(*loaded)(x);
    loaded->load_parameters(path);
    std::remove(path.c_str());
    CHECK((*loaded)(x).to_vector() == before.to_vector());
  }
  TEST_CASE("an image too small for the network: the ShapeError names the model and the input's shape") {
    auto net = model_zoo::lenet();
    net->initialize();
    CHECK_THROWS_WITH_AS((*net)(nd::zeros<float>({2, 1, 8, 8})),
                         doctest::Contains("LeNet: cannot run on an input of shape (2, 1, 8, 8): convolution: kernel "
                                           "(dilated to 3x3) larger than the padded input (2x2)"),
                         ShapeError);
    CHECK((*net)(nd::zeros<float>({2, 1, 12, 12})).shape() == Shape{2, 10});  // the smallest size that works
    net->hybridize();  // the traced graph's first call runs forward: the same message
    CHECK_THROWS_WITH_AS((*net)(nd::zeros<float>({1, 1, 9, 9})),
                         doctest::Contains("LeNet: cannot run on an input of shape (1, 1, 9, 9)"), ShapeError);
  }
  TEST_CASE("training is reproducible: the same seed gives the same losses, another seed others") {
    // The main job's loop in small: seeded initialisation, a shuffling DataLoader, SGD + momentum.
    auto losses = [](std::uint64_t seed) {
      random::seed(seed);
      auto net = model_zoo::lenet();
      net->initialize(init::Xavier{});
      auto images = nd::random::uniform<float>({64, 1, 28, 28});
      auto labels = nd::zeros<float>({64});
      for (std::size_t i = 0; i < 64; ++i) labels.data()[i] = static_cast<float>(i % 10);
      data::ArrayDataset<float> ds(images, labels);
      data::DataLoader<float> loader(ds, {.batch_size = 16, .shuffle = true, .seed = seed});
      Trainer trainer(net->collect_params(), "sgd", {{"learning_rate", 0.1}, {"momentum", 0.9}, {"wd", 5e-4}});
      loss::SoftmaxCrossEntropyLoss loss_fn;
      std::vector<float> out;
      for (int epoch = 0; epoch < 2; ++epoch)
        for (auto [x, y] : loader) {
          NDArray<float> l;
          {
            autograd::record rec;
            l = loss_fn((*net)(x), y);
          }
          l.backward();
          trainer.step(x.shape(0));
          out.push_back(l.mean().asscalar());
        }
      return out;
    };
    const auto a = losses(11), b = losses(11), c = losses(12);
    CHECK(a.size() == 8);
    CHECK(a == b);
    CHECK(a != c);
  }
}
