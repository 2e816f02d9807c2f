// SPDX-License-Identifier: Apache-2.0
// dropout_batchnorm_from_scratch: the tutorial's hand-written dropout and batch normalisation,
// each next to gluino's built-in version:
//   1. dropout(X, drop_prob) written with nd ops (mask = uniform < keep_prob; mask * X / keep_prob),
//      shown on a small array for drop probabilities 0, 0.5 and 1, and beside nd::dropout.
//   2. batch_norm(X, gamma, beta, is_training, moving_mean, moving_variance, eps, momentum)
//      written with nd ops, for 2-D (N, features) and 4-D (N, C, H, W) inputs, checked against
//      nd::batch_norm on random inputs: outputs, updated moving statistics and gradients
//      (prints the largest absolute differences; all should be ~1e-6 or less).
//   3. The tutorial's dropout MLP (784-256-256-10, drop probabilities 0.2 and 0.5, dropout only
//      when autograd::is_training()), from raw arrays with hand-written SGD, trained next to
//      the same net built from nn::Dense and nn::Dropout with a Trainer.
//   4. LeNet with batch normalisation after each convolution, from raw arrays with the
//      hand-written batch_norm, trained next to the same net built from nn::Conv2D,
//      nn::BatchNorm, nn::MaxPool2D and nn::Dense.
// Training prints, per epoch, the training loss and accuracy and the test accuracy.
//
// Build: with CMake (-DGLUINO_BUILD_EXAMPLES=ON) it is the target `dropout_batchnorm_from_scratch`
// (it links zlib and libcrypto for the data set); by hand (one line):
//   g++ -std=c++20 -O2 -fopenmp -I include -isystem /usr/include/eigen3
//       examples/dropout_batchnorm_from_scratch.cpp -o dropout_batchnorm_from_scratch -lz -lcrypto
// Run:
//   ./dropout_batchnorm_from_scratch            # installed Fashion-MNIST: 10000 training images, 3 epochs
//   ./dropout_batchnorm_from_scratch --data tests/data/fashion-mnist-mini --epochs 2   # 100-image fixture
//   ./dropout_batchnorm_from_scratch --limit 0 --epochs 5     # all 60000 training images
// Options: --data DIR (default: $GLUINO_DATA, else /usr/share/datasets/fashion-mnist),
//   --epochs E (3), --limit N (10000, so that a default run takes about a minute; 0 = all),
//   --batch-size B (256), --lr-mlp LR (0.5), --lr-lenet LR (0.2), --seed S (42), --help.
// The test accuracy is always measured on the whole test split.  The hand-written batch_norm
// is a chain of broadcasting nd ops, several times slower than the fused nd::batch_norm.
//
// Differences from the tutorial's Python: `moving_mean[:] = ...` is moving_mean.assign(...),
// done with recording paused (MXNet does not record in-place writes either); the tutorial's
// slips (X.shanpe, the misplaced parenthesis in `((X - mean)**2.mean(axis=0))`) are written as
// what they mean; nd::softmax_cross_entropy returns one loss per sample (MXNet's returns the
// sum), and backward() of a per-sample loss sums it, as in MXNet.
#include <gluino/autograd/engine.hpp>
#include <gluino/autograd/mode.hpp>
#include <gluino/core/ndarray.hpp>
#include <gluino/core/print.hpp>
#include <gluino/core/random.hpp>
#include <gluino/data/dataloader.hpp>
#include <gluino/data/dataset.hpp>
#include <gluino/data/vision/datasets.hpp>
#include <gluino/init/initializer.hpp>
#include <gluino/loss/softmax_cross_entropy_loss.hpp>
#include <gluino/nd/batch_norm.hpp>
#include <gluino/nd/conv.hpp>
#include <gluino/nd/creation.hpp>
#include <gluino/nd/dropout.hpp>
#include <gluino/nd/elementwise.hpp>
#include <gluino/nd/linalg.hpp>
#include <gluino/nd/pool.hpp>
#include <gluino/nd/random.hpp>
#include <gluino/nd/reduce.hpp>
#include <gluino/nd/shape_ops.hpp>
#include <gluino/nd/softmax.hpp>
#include <gluino/nn/activations.hpp>
#include <gluino/nn/basic_layers.hpp>
#include <gluino/nn/batch_norm.hpp>
#include <gluino/nn/conv2d.hpp>
#include <gluino/nn/dense.hpp>
#include <gluino/nn/dropout.hpp>
#include <gluino/nn/pooling.hpp>
#include <gluino/nn/sequential.hpp>
#include <gluino/optim/trainer.hpp>

#include "support/cli.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <functional>
#include <iostream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

using namespace gluino;

namespace {

// ---------------------------------------------------------------------------------------------
// Command line and data.

struct Options {
  std::string data;  // "" = the library's default folder
  std::size_t epochs = 3, limit = 10000, batch_size = 256;
  float lr_mlp = 0.5f, lr_lenet = 0.2f;
  std::uint64_t seed = 42;
};

void usage() {
  std::cout << "usage: dropout_batchnorm_from_scratch [--data DIR] [--epochs E] [--limit N] [--batch-size B]\n"
               "                                      [--lr-mlp LR] [--lr-lenet LR] [--seed S]\n";
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--help" || a == "-h") {
      usage();
      std::exit(0);
    }
    if (i + 1 >= argc) throw std::runtime_error("option " + a + " needs a value (see --help)");
    const std::string v = argv[++i];
    if (a == "--data") o.data = v;
    else if (a == "--epochs") o.epochs = example::size_arg(a, v);
    else if (a == "--limit") o.limit = example::size_arg(a, v);
    else if (a == "--batch-size") o.batch_size = example::size_arg(a, v);
    else if (a == "--lr-mlp") o.lr_mlp = static_cast<float>(example::real_arg(a, v));
    else if (a == "--lr-lenet") o.lr_lenet = static_cast<float>(example::real_arg(a, v));
    else if (a == "--seed") o.seed = example::whole_number(a, v);
    else throw std::runtime_error("unknown option " + a + " (see --help)");
  }
  if (o.batch_size == 0) throw std::runtime_error("--batch-size must be > 0");
  return o;
}

/// One split of Fashion-MNIST as arrays: images (n, 1, 28, 28) scaled to [0, 1] and labels (n,);
/// limit > 0 keeps only the first `limit` images.
std::pair<NDArray<float>, NDArray<float>> load_split(const std::string& root, bool train, std::size_t limit) {
  data::vision::FashionMNIST<float> ds(root, {.train = train});
  const std::size_t n = limit > 0 ? std::min(limit, ds.size()) : ds.size();
  NDArray<float> x(Shape{n, 1, 28, 28}), y(Shape{n});
  const auto& px = ds.image_bytes();
  const auto& lb = ds.label_bytes();
  std::transform(px.begin(), px.begin() + static_cast<std::ptrdiff_t>(n * 28 * 28), x.begin(),
                 [](std::uint8_t v) { return static_cast<float>(v) / 255.0f; });
  std::transform(lb.begin(), lb.begin() + static_cast<std::ptrdiff_t>(n), y.begin(),
                 [](std::uint8_t v) { return static_cast<float>(v); });
  std::cout << (train ? "train: " : "test:  ") << n << " images from " << ds.root() << '\n';
  return {x, y};
}

void section(const std::string& title) { std::cout << "\n===== " << title << " =====\n"; }

float max_abs_diff(const NDArray<float>& a, const NDArray<float>& b) { return nd::max(nd::abs(a - b)).asscalar(); }

std::string str(const Shape& s) {
  std::ostringstream os;
  os << s;
  return os.str();
}

// ---------------------------------------------------------------------------------------------
// 1. Dropout by hand.
//   def dropout(X, drop_prob):
//       assert 0 <= drop_prob <= 1
//       keep_prob = 1 - drop_prob
//       if keep_prob == 0: return X.zeros_like()        # every element is dropped
//       mask = nd.random.uniform(0, 1, X.shape) < keep_prob
//       return mask * X / keep_prob

NDArray<float> dropout(const NDArray<float>& X, double drop_prob) {
  if (!(drop_prob >= 0.0 && drop_prob <= 1.0))
    throw std::invalid_argument("dropout: drop_prob must be in [0, 1], got " + std::to_string(drop_prob));
  const auto keep_prob = static_cast<float>(1.0 - drop_prob);
  if (keep_prob == 0.0f) return X.zeros_like();
  // A 0/1 mask: each element is kept with probability keep_prob.
  const NDArray<float> mask = nd::random::uniform<float>(X.shape(), 0.0f, 1.0f) < keep_prob;
  return mask * X / keep_prob;  // the kept elements are stretched so that the expectation is X
}

// ---------------------------------------------------------------------------------------------
// 2. Batch normalisation by hand.  X is (N, features) after a dense layer, normalised per
// feature over the batch, or (N, C, H, W) after a convolution, normalised per channel over the
// batch and the positions.  gamma, beta, moving_mean and moving_variance are (features,) or (C,);
// in training mode the moving statistics are updated in place:
//   moving = momentum * moving + (1 - momentum) * batch statistic.

NDArray<float> batch_norm(const NDArray<float>& X, const NDArray<float>& gamma, const NDArray<float>& beta,
                          bool is_training, const NDArray<float>& moving_mean, const NDArray<float>& moving_variance,
                          float eps = 1e-5f, float moving_momentum = 0.9f) {
  if (X.ndim() != 2 && X.ndim() != 4)
    throw std::invalid_argument("batch_norm: X must be 2-D or 4-D");
  // The shape of the statistics, so that they broadcast against X: (features,) for 2-D input,
  // (1, C, 1, 1) for 4-D input (mean over axes 0, 2, 3 with keepdims).
  const Shape stat_shape = X.ndim() == 2 ? Shape{X.shape(1)} : Shape{1, X.shape(1), 1, 1};
  // Views of the moving statistics in that shape: writing into them writes into the arrays
  // passed in (the tutorial's `moving_mean = moving_mean.reshape(mean.shape)`).
  NDArray<float> mm = moving_mean.reshape(stat_shape);
  NDArray<float> mv = moving_variance.reshape(stat_shape);
  NDArray<float> X_hat;
  if (is_training) {
    NDArray<float> mean, variance;
    if (X.ndim() == 2) {  // fully connected: batch_size x feature
      mean = X.mean({0});
      variance = nd::square(X - mean).mean({0});
    } else {  // 2-D convolution: batch_size x channel x height x width
      mean = X.mean({0, 2, 3}, /*keepdims=*/true);
      variance = nd::square(X - mean).mean({0, 2, 3}, /*keepdims=*/true);
    }
    X_hat = (X - mean) / nd::sqrt(variance + eps);
    // moving_mean[:] = ...: written in place, not part of the graph.
    autograd::pause no_record;
    mm.assign(moving_momentum * mm + (1.0f - moving_momentum) * mean);
    mv.assign(moving_momentum * mv + (1.0f - moving_momentum) * variance);
  } else {
    // Prediction uses the moving (global) statistics.
    X_hat = (X - mm) / nd::sqrt(mv + eps);
  }
  // Scale and shift.
  return gamma.reshape(stat_shape) * X_hat + beta.reshape(stat_shape);
}

/// Compares the hand-written batch_norm with nd::batch_norm on x: the outputs and moving
/// statistics in train mode, the gradients of x, gamma and beta, and the outputs in predict mode.
void check_batch_norm(const Shape& shape) {
  const std::size_t c = shape[1];
  const NDArray<float> x0 = nd::random::normal<float>(shape, 1.0f, 2.0f);
  const NDArray<float> gamma0 = nd::random::uniform<float>({c}, 0.5f, 1.5f);
  const NDArray<float> beta0 = nd::random::uniform<float>({c}, -0.5f, 0.5f);
  const NDArray<float> w = nd::random::normal<float>(shape);  // weights of the test loss sum(w * y)

  struct Result {
    NDArray<float> y_train, y_predict, moving_mean, moving_var, dx, dgamma, dbeta;
  };
  auto run = [&](bool builtin) {
    NDArray<float> x = x0.copy(), gamma = gamma0.copy(), beta = beta0.copy();
    NDArray<float> mm = nd::zeros<float>({c}), mv = nd::ones<float>({c});
    for (auto* a : {&x, &gamma, &beta}) a->attach_grad();
    auto bn = [&](const NDArray<float>& in) {
      return builtin ? nd::batch_norm(in, gamma, beta, mm, mv)  // eps 1e-5, momentum 0.9, as above
                     : batch_norm(in, gamma, beta, autograd::is_training(), mm, mv);
    };
    Result r;
    {
      autograd::record rec;  // train mode
      r.y_train = bn(x);
      nd::sum(w * r.y_train).backward();
    }
    r.y_predict = bn(x);  // predict mode: uses the updated moving statistics
    r.moving_mean = mm, r.moving_var = mv;
    r.dx = x.grad(), r.dgamma = gamma.grad(), r.dbeta = beta.grad();
    return r;
  };
  const Result a = run(false), b = run(true);
  std::printf("x %-15s  max |hand-written - nd::batch_norm|:\n", str(shape).c_str());
  std::printf("  train output %.2e  moving_mean %.2e  moving_variance %.2e\n", max_abs_diff(a.y_train, b.y_train),
              max_abs_diff(a.moving_mean, b.moving_mean), max_abs_diff(a.moving_var, b.moving_var));
  std::printf("  grad x %.2e  grad gamma %.2e  grad beta %.2e  predict output %.2e\n", max_abs_diff(a.dx, b.dx),
              max_abs_diff(a.dgamma, b.dgamma), max_abs_diff(a.dbeta, b.dbeta), max_abs_diff(a.y_predict, b.y_predict));
}

// ---------------------------------------------------------------------------------------------
// Training, shared by the four nets: per-sample losses, backward (which sums them), then
// `update(batch_size)`, which is either the hand-written SGD or Trainer::step.

/// Plain SGD as the tutorial's utils.SGD(params, lr / batch_size): param[:] = param - lr * grad.
void sgd(const std::vector<NDArray<float>>& params, float lr) {
  for (NDArray<float> p : params) p.assign(p - lr * p.grad());  // p is a handle: assign writes the parameter
}

double correct(const NDArray<float>& output, const NDArray<float>& label) {
  return nd::sum(nd::equal(nd::argmax(output, 1), label)).asscalar();
}

void train(const std::string& name, const std::function<NDArray<float>(const NDArray<float>&)>& net,
           const std::function<NDArray<float>(const NDArray<float>&, const NDArray<float>&)>& loss_fn,
           const std::function<void(std::size_t)>& update, data::DataLoader<float>& train_data,
           data::DataLoader<float>& test_data, std::size_t epochs) {
  for (std::size_t epoch = 0; epoch < epochs; ++epoch) {
    const auto t0 = std::chrono::steady_clock::now();
    double loss_sum = 0, right = 0, n = 0;
    for (auto [x, y] : train_data) {
      NDArray<float> out, loss;
      {
        autograd::record rec;  // train mode: dropout drops, batch norm uses batch statistics
        out = net(x);
        loss = loss_fn(out, y);  // (batch,)
      }
      loss.backward();
      update(y.size());
      loss_sum += nd::sum(loss).asscalar();
      right += correct(out, y);
      n += static_cast<double>(y.size());
    }
    double test_right = 0, test_n = 0;
    for (auto [x, y] : test_data) {  // predict mode: no dropout, moving statistics
      test_right += correct(net(x), y);
      test_n += static_cast<double>(y.size());
    }
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("%-28s epoch %zu  loss %.4f  train acc %.4f  test acc %.4f  (%.1f s)\n", name.c_str(), epoch,
                loss_sum / n, right / n, test_right / test_n, secs);
  }
}

NDArray<float> scratch_loss(const NDArray<float>& out, const NDArray<float>& y) {
  return nd::softmax_cross_entropy(out, y);
}

// ---------------------------------------------------------------------------------------------
// 3. The dropout MLP from raw arrays (the tutorial's program).

constexpr std::size_t num_inputs = 784, num_outputs = 10, num_hiddens1 = 256, num_hiddens2 = 256;
constexpr double drop_prob1 = 0.2, drop_prob2 = 0.5;
constexpr float weight_scale = 0.01f;

struct ScratchMLP {
  NDArray<float> W1 = nd::random::normal<float>({num_inputs, num_hiddens1}, 0.0f, weight_scale);
  NDArray<float> b1 = nd::zeros<float>({num_hiddens1});
  NDArray<float> W2 = nd::random::normal<float>({num_hiddens1, num_hiddens2}, 0.0f, weight_scale);
  NDArray<float> b2 = nd::zeros<float>({num_hiddens2});
  NDArray<float> W3 = nd::random::normal<float>({num_hiddens2, num_outputs}, 0.0f, weight_scale);
  NDArray<float> b3 = nd::zeros<float>({num_outputs});
  std::vector<NDArray<float>> params() const { return {W1, b1, W2, b2, W3, b3}; }

  NDArray<float> operator()(const NDArray<float>& X0) const {
    const NDArray<float> X = X0.reshape({-1, static_cast<long long>(num_inputs)});
    NDArray<float> H1 = (nd::dot(X, W1) + b1).relu();
    if (autograd::is_training()) H1 = dropout(H1, drop_prob1);  // only while training
    NDArray<float> H2 = (nd::dot(H1, W2) + b2).relu();
    if (autograd::is_training()) H2 = dropout(H2, drop_prob2);
    return nd::dot(H2, W3) + b3;
  }
};

// ---------------------------------------------------------------------------------------------
// 4. LeNet with batch normalisation from raw arrays: convolution -> batch_norm -> relu -> max
// pooling, twice, then two dense layers (the tutorial's LeNet with a batch_norm inserted after
// each convolution).

struct ScratchBNLeNet {
  NDArray<float> W1 = nd::random::normal<float>({20, 1, 5, 5}, 0.0f, weight_scale);
  NDArray<float> b1 = nd::zeros<float>({20});
  NDArray<float> gamma1 = nd::ones<float>({20}), beta1 = nd::zeros<float>({20});
  NDArray<float> moving_mean1 = nd::zeros<float>({20}), moving_variance1 = nd::ones<float>({20});
  NDArray<float> W2 = nd::random::normal<float>({50, 20, 3, 3}, 0.0f, weight_scale);
  NDArray<float> b2 = nd::zeros<float>({50});
  NDArray<float> gamma2 = nd::ones<float>({50}), beta2 = nd::zeros<float>({50});
  NDArray<float> moving_mean2 = nd::zeros<float>({50}), moving_variance2 = nd::ones<float>({50});
  NDArray<float> W3 = nd::random::normal<float>({1250, 128}, 0.0f, weight_scale);
  NDArray<float> b3 = nd::zeros<float>({128});
  NDArray<float> W4 = nd::random::normal<float>({128, 10}, 0.0f, weight_scale);
  NDArray<float> b4 = nd::zeros<float>({10});
  // The moving statistics are not trained: no gradient.
  std::vector<NDArray<float>> params() const { return {W1, b1, gamma1, beta1, W2, b2, gamma2, beta2, W3, b3, W4, b4}; }

  NDArray<float> operator()(const NDArray<float>& X) const {
    const nd::PoolOptions max_2x2{.kernel = {2, 2}, .stride = {2, 2}, .type = nd::pool_type::max};
    const bool is_training = autograd::is_training();
    NDArray<float> h1_conv = nd::convolution(X, W1, b1);
    NDArray<float> h1_bn = batch_norm(h1_conv, gamma1, beta1, is_training, moving_mean1, moving_variance1);
    NDArray<float> h1 = nd::pooling(nd::relu(h1_bn), max_2x2);  // (N, 20, 12, 12)
    NDArray<float> h2_conv = nd::convolution(h1, W2, b2);
    NDArray<float> h2_bn = batch_norm(h2_conv, gamma2, beta2, is_training, moving_mean2, moving_variance2);
    NDArray<float> h2 = nd::flatten(nd::pooling(nd::relu(h2_bn), max_2x2));  // (N, 1250)
    NDArray<float> h3 = nd::relu(nd::dot(h2, W3) + b3);                       // (N, 128)
    return nd::dot(h3, W4) + b4;                                              // (N, 10)
  }
};

}  // namespace

int main(int argc, char** argv) try {
  const Options opt = parse(argc, argv);
  random::seed(opt.seed);

  // ----- 1. dropout ---------------------------------------------------------------------------
  section("1. dropout(X, drop_prob) by hand");
  const NDArray<float> A = nd::arange<float>(20).reshape({2, 10});
  std::cout << "A = " << A << '\n';
  for (double p : {0.0, 0.5, 1.0}) std::cout << "dropout(A, " << p << ") = " << dropout(A, p) << '\n';
  {
    autograd::train_mode train;  // nd::dropout drops only in train mode
    std::cout << "built-in nd::dropout(A, 0.5) in train mode = " << nd::dropout(A, 0.5) << '\n';
  }
  std::cout << "built-in nd::dropout(A, 0.5) in predict mode returns A: " << nd::dropout(A, 0.5) << '\n';

  // ----- 2. batch_norm ------------------------------------------------------------------------
  section("2. batch_norm by hand vs nd::batch_norm");
  check_batch_norm({16, 10});       // after a dense layer: (batch, features)
  check_batch_norm({8, 3, 6, 6});   // after a convolution: (batch, channels, height, width)
  std::cout << "(float rounding: the two sum in different orders; gamma's and beta's gradients sum over the batch)\n";

  // ----- data ---------------------------------------------------------------------------------
  section("Fashion-MNIST");
  auto [train_x, train_y] = load_split(opt.data, true, opt.limit);
  auto [test_x, test_y] = load_split(opt.data, false, 0);
  data::DataLoader<float> train_data(data::ArrayDataset<float>(train_x, train_y),
                                     {.batch_size = opt.batch_size, .shuffle = true, .seed = opt.seed});
  data::DataLoader<float> test_data(data::ArrayDataset<float>(test_x, test_y), {.batch_size = opt.batch_size});
  loss::SoftmaxCrossEntropyLoss softmax_cross_entropy;

  // ----- 3. dropout MLP -----------------------------------------------------------------------
  section("3. The dropout MLP: hand-written vs nn::Dropout");
  std::cout << "784 -> 256 (relu, dropout " << drop_prob1 << ") -> 256 (relu, dropout " << drop_prob2
            << ") -> 10, sgd lr " << opt.lr_mlp << ", batch " << opt.batch_size << '\n';
  {
    ScratchMLP mlp;
    for (NDArray<float> p : mlp.params()) p.attach_grad();
    train("hand-written dropout", mlp, scratch_loss,
          [&](std::size_t batch) { sgd(mlp.params(), opt.lr_mlp / static_cast<float>(batch)); }, train_data,
          test_data, opt.epochs);
  }
  {
    nn::Sequential net;
    {
      auto scope = net.name_scope();
      net.add(nn::Flatten{});
      net.add(nn::Dense{num_hiddens1, {.activation = "relu"}}, nn::Dropout{drop_prob1});
      net.add(nn::Dense{num_hiddens2, {.activation = "relu"}}, nn::Dropout{drop_prob2});
      net.add(nn::Dense{num_outputs});
    }
    net.initialize(init::Normal{weight_scale});
    std::cout << net << '\n';
    (void)net(train_x.slice(0, 1));  // infer the input sizes, so the Trainer sees initialized parameters
    Trainer trainer(net.collect_params(), "sgd", {{"learning_rate", opt.lr_mlp}});
    train("nn::Dropout", std::ref(net), std::ref(softmax_cross_entropy), [&](std::size_t batch) { trainer.step(batch); }, train_data,
          test_data, opt.epochs);
  }

  // ----- 4. LeNet with batch norm -------------------------------------------------------------
  section("4. LeNet with batch norm: hand-written batch_norm vs nn::BatchNorm");
  std::cout << "conv(20, 5) -> batch norm -> relu -> max pool -> conv(50, 3) -> batch norm -> relu -> max pool"
               " -> dense(128, relu) -> dense(10), sgd lr "
            << opt.lr_lenet << '\n';
  {
    ScratchBNLeNet lenet;
    for (NDArray<float> p : lenet.params()) p.attach_grad();
    train("hand-written batch_norm", lenet, scratch_loss,
          [&](std::size_t batch) { sgd(lenet.params(), opt.lr_lenet / static_cast<float>(batch)); }, train_data,
          test_data, opt.epochs);
    std::cout << "moving_mean1 after training: " << lenet.moving_mean1 << '\n';
  }
  {
    nn::Sequential net;
    {
      auto scope = net.name_scope();
      net.add(nn::Conv2D{20, 5}, nn::BatchNorm{}, nn::Activation{"relu"}, nn::MaxPool2D{2, 2});
      net.add(nn::Conv2D{50, 3}, nn::BatchNorm{}, nn::Activation{"relu"}, nn::MaxPool2D{2, 2});
      net.add(nn::Flatten{}, nn::Dense{128, {.activation = "relu"}}, nn::Dense{10});
    }
    net.initialize(init::Normal{weight_scale});
    (void)net(train_x.slice(0, 1));  // infer the input sizes (predict mode: the moving statistics stay)
    std::cout << net << '\n';
    Trainer trainer(net.collect_params(), "sgd", {{"learning_rate", opt.lr_lenet}});
    train("nn::BatchNorm", std::ref(net), std::ref(softmax_cross_entropy), [&](std::size_t batch) { trainer.step(batch); }, train_data,
          test_data, opt.epochs);
    std::cout << "running_mean of the first BatchNorm after training: "
              << net.at<nn::BatchNorm>(1).running_mean()->data() << '\n';
  }
  return 0;
} catch (const std::exception& e) {
  std::cerr << "dropout_batchnorm_from_scratch: " << e.what() << '\n';
  return 1;
}
