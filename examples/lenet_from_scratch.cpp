// SPDX-License-Identifier: Apache-2.0
// lenet_from_scratch: the tutorial's LeNet written with raw nd ops and autograd, no Blocks, no
// Trainer: two convolution -> relu -> max-pooling blocks and two dense layers, parameters as
// plain arrays with attach_grad(), the loss from nd::softmax_cross_entropy, and SGD written by
// hand (w = w - lr * grad).  net(X, verbose = true) prints the shape after each block and the
// output, once, on the first 4 images of the first batch, as in the tutorial.  Trains on Fashion-MNIST and prints, per epoch, the
// training loss and accuracy and the test accuracy.
//
// Build: with CMake (-DGLUINO_BUILD_EXAMPLES=ON) it is the target `lenet_from_scratch` (it
// links zlib and libcrypto for the data set); by hand:
//   g++ -std=c++20 -O2 -fopenmp -I include -isystem /usr/include/eigen3
//       examples/lenet_from_scratch.cpp -o lenet_from_scratch -lz -lcrypto     (one line)
// Run:
//   ./lenet_from_scratch                                 # the installed Fashion-MNIST, 5 epochs
//   ./lenet_from_scratch --data tests/data/fashion-mnist-mini --epochs 2     # the 100-image fixture
//   ./lenet_from_scratch --limit 5000 --epochs 3         # the first 5000 training images only
// Options: --data DIR (default: $GLUINO_DATA, else /usr/share/datasets/fashion-mnist),
//   --epochs E (5), --limit N (all), --batch-size B (256), --lr LR (0.5), --seed S (42),
//   --weight-scale SIGMA (0.1; the tutorial's 0.01 learns very slowly, see below), --help.
//
// Differences from the tutorial's Python: nd::convolution reads the kernel size and the number
// of filters from W's shape (nd.Convolution also takes kernel= and num_filter=); there is no
// as_in_context (one CPU device); the tutorial's second block pools h1_activation by mistake,
// here it pools h2_activation (otherwise the second convolution would be computed and thrown
// away, and h2 would be (N, 20, 6, 6) = 720 features, not the 1250 rows of W3); nd::softmax_cross_entropy
// returns one loss per sample (MXNet's returns the batch sum), so the loss below is their mean.
#include <gluino/autograd/engine.hpp>
#include <gluino/autograd/mode.hpp>
#include <gluino/core/ndarray.hpp>
#include <gluino/core/print.hpp>
#include <gluino/core/random.hpp>
#include <gluino/data/dataloader.hpp>
#include <gluino/data/dataset.hpp>
#include <gluino/data/vision/datasets.hpp>
#include <gluino/nd/conv.hpp>
#include <gluino/nd/creation.hpp>
#include <gluino/nd/elementwise.hpp>
#include <gluino/nd/linalg.hpp>
#include <gluino/nd/pool.hpp>
#include <gluino/nd/random.hpp>
#include <gluino/nd/reduce.hpp>
#include <gluino/nd/shape_ops.hpp>
#include <gluino/nd/softmax.hpp>

#include "support/cli.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <iostream>
#include <string>
#include <utility>
#include <vector>

using namespace gluino;

namespace {

struct Options {
  std::string data;  // "" = the library's default folder
  std::size_t epochs = 5, limit = 0, batch_size = 256;
  float lr = 0.5f;
  float weight_scale = 0.1f;
  std::uint64_t seed = 42;
};

void usage() {
  std::cout << "usage: lenet_from_scratch [--data DIR] [--epochs E] [--limit N] [--batch-size B] [--lr LR] "
               "[--seed S] [--weight-scale SIGMA]\n";
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
    else if (a == "--lr") o.lr = static_cast<float>(example::real_arg(a, v));
    else if (a == "--seed") o.seed = example::whole_number(a, v);
    else if (a == "--weight-scale") o.weight_scale = static_cast<float>(example::real_arg(a, v));
    else throw std::runtime_error("unknown option " + a + " (see --help)");
  }
  if (o.batch_size == 0) throw std::runtime_error("--batch-size must be > 0");
  return o;
}

/// One split of Fashion-MNIST as arrays: images (n, 1, 28, 28) scaled to [0, 1] (what the
/// tutorial's ToTensor gives) and labels (n,); limit > 0 keeps only the first `limit` images.
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

// The parameters, global like the tutorial's: W ~ N(0, weight_scale^2), biases 0, drawn in
// init_params() after the generator is seeded.  The tutorial uses weight_scale = .01; then the
// logits start near 1e-4 (the signal shrinks ~100x through four layers) and plain SGD leaves
// the loss at 2.30 for more than a whole epoch of Fashion-MNIST, so the default here is 0.1,
// which learns from the first epoch.  --weight-scale 0.01 gives the tutorial's value.
float weight_scale = 0.1f;
NDArray<float> W1, b1, W2, b2, W3, b3, W4, b4;

void init_params() {
  // Output channels = 20, kernel = (5, 5).  Layout (output, input, height, width), as MXNet's.
  W1 = nd::random::normal<float>({20, 1, 5, 5}, 0.0f, weight_scale);
  b1 = nd::zeros<float>({20});
  // Output channels = 50, kernel = (3, 3).
  W2 = nd::random::normal<float>({50, 20, 3, 3}, 0.0f, weight_scale);
  b2 = nd::zeros<float>({50});
  // Output dim = 128: the second block gives (N, 50, 5, 5), flattened 1250.
  W3 = nd::random::normal<float>({1250, 128}, 0.0f, weight_scale);
  b3 = nd::zeros<float>({128});
  // Output dim = 10.
  W4 = nd::random::normal<float>({128, 10}, 0.0f, weight_scale);
  b4 = nd::zeros<float>({10});
}

/// The tutorial's net(X, verbose): (N, 1, 28, 28) -> (N, 10) logits.
NDArray<float> net(const NDArray<float>& X, bool verbose = false) {
  const nd::PoolOptions max_2x2{.kernel = {2, 2}, .stride = {2, 2}, .type = nd::pool_type::max};
  // The first convolution block.
  NDArray<float> h1_conv = nd::convolution(X, W1, b1);             // (N, 20, 24, 24)
  NDArray<float> h1_activation = nd::relu(h1_conv);
  NDArray<float> h1 = nd::pooling(h1_activation, max_2x2);          // (N, 20, 12, 12)
  // The second convolution block.
  NDArray<float> h2_conv = nd::convolution(h1, W2, b2);            // (N, 50, 10, 10)
  NDArray<float> h2_activation = nd::relu(h2_conv);
  NDArray<float> h2 = nd::pooling(h2_activation, max_2x2);          // (N, 50, 5, 5); the tutorial pools h1_activation
  h2 = nd::flatten(h2);                                             // (N, 1250)
  // The first fully connected layer.
  NDArray<float> h3_linear = nd::dot(h2, W3) + b3;                  // (N, 128)
  NDArray<float> h3 = nd::relu(h3_linear);
  // The second fully connected layer.
  NDArray<float> h4_linear = nd::dot(h3, W4) + b4;                  // (N, 10)
  if (verbose) {
    std::cout << "1st conv block: " << h1.shape() << '\n';
    std::cout << "2nd conv block: " << h2.shape() << '\n';
    std::cout << "1st dense: " << h3.shape() << '\n';
    std::cout << "2nd dense: " << h4_linear.shape() << '\n';
    std::cout << "output: " << h4_linear << '\n';
  }
  return h4_linear;
}

/// Plain SGD, as the tutorial's utils.SGD: param[:] = param - lr * param.grad.  The loss is a
/// batch mean, so the gradients are already divided by the batch size.
void sgd(const std::vector<NDArray<float>*>& params, float lr) {
  for (NDArray<float>* p : params) p->assign(*p - lr * p->grad());
}

/// The number of rows of `output` whose arg-max equals the label.
double correct(const NDArray<float>& output, const NDArray<float>& label) {
  return nd::sum(nd::equal(nd::argmax(output, 1), label)).asscalar();
}

/// Accuracy on a whole data set, in predict mode and without recording.
double evaluate_accuracy(data::DataLoader<float>& loader) {
  double right = 0, n = 0;
  for (auto [x, y] : loader) {
    right += correct(net(x), y);
    n += static_cast<double>(y.size());
  }
  return n > 0 ? right / n : 0.0;
}

}  // namespace

int main(int argc, char** argv) try {
  const Options opt = parse(argc, argv);
  random::seed(opt.seed);
  weight_scale = opt.weight_scale;
  init_params();
  const std::vector<NDArray<float>*> params{&W1, &b1, &W2, &b2, &W3, &b3, &W4, &b4};
  for (NDArray<float>* p : params) p->attach_grad();

  auto [train_x, train_y] = load_split(opt.data, true, opt.limit);
  auto [test_x, test_y] = load_split(opt.data, false, 0);
  data::DataLoader<float> train_data(data::ArrayDataset<float>(train_x, train_y),
                                     {.batch_size = opt.batch_size, .shuffle = true, .seed = opt.seed});
  data::DataLoader<float> test_data(data::ArrayDataset<float>(test_x, test_y), {.batch_size = opt.batch_size});

  // The tutorial's check of the shapes: one forward pass with verbose on a first batch.
  for (auto [x, y] : train_data) {
    // The first 4 images, so that the printed output stays short: net(data[:4], verbose=True).
    std::cout << "net(data[:4], verbose=True):\n";
    (void)net(x.slice(0, std::min<std::size_t>(4, x.shape(0))), true);
    break;
  }

  std::cout << "training: " << opt.epochs << " epochs, batch " << opt.batch_size << ", sgd lr " << opt.lr << '\n';
  for (std::size_t epoch = 0; epoch < opt.epochs; ++epoch) {
    const auto t0 = std::chrono::steady_clock::now();
    double train_loss = 0, train_right = 0, n = 0;
    for (auto [data, label] : train_data) {
      NDArray<float> output, loss;
      {
        autograd::record rec;  // with autograd.record():
        output = net(data);
        loss = nd::mean(nd::softmax_cross_entropy(output, label));
      }
      loss.backward();
      sgd(params, opt.lr);
      const auto b = static_cast<double>(label.size());
      train_loss += loss.asscalar() * b;
      train_right += correct(output, label);
      n += b;
    }
    const double test_acc = evaluate_accuracy(test_data);
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("Epoch %zu. Loss: %.4f, Train acc %.4f, Test acc %.4f  (%.1f s)\n", epoch, train_loss / n,
                train_right / n, test_acc, secs);
  }
  return 0;
} catch (const std::exception& e) {
  std::cerr << "lenet_from_scratch: " << e.what() << '\n';
  return 1;
}
