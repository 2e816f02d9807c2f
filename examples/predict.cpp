// SPDX-License-Identifier: Apache-2.0
// Loads a LeNet checkpoint written by train_lenet and classifies images of the Fashion-MNIST
// test set, printing each as ASCII art with its predicted and true class.  With --float64 it
// also casts the model to double (Gluon: net.cast('float64')) and compares the two's logits.
//
//   predict [--model lenet.safetensors] [--data DIR] [--start 0] [--count 4] [--float64]
#include <gluino/data/vision/datasets.hpp>
#include <gluino/data/vision/transforms.hpp>
#include <gluino/gluino.hpp>

#include "support/cli.hpp"

#include <cstdio>
#include <iostream>
#include <string>

using namespace gluino;
namespace tf = gluino::data::vision::transforms;

int main(int argc, char** argv) {
  std::string model = "lenet.safetensors", root;
  std::size_t start = 0, count = 4;
  bool float64 = false;
  try {
    for (int i = 1; i < argc; ++i) {
      const std::string a = argv[i];
      if (a == "--float64") {
        float64 = true;
        continue;
      }
      GLUINO_CHECK(ValueError, a == "--help" || i + 1 < argc, "predict: ", a, " needs a value");
      if (a == "--help") {
        std::cout << "usage: predict [--model FILE] [--data DIR] [--start N] [--count N] [--float64]\n";
        return 0;
      }
      if (a == "--model") model = argv[++i];
      else if (a == "--data") root = argv[++i];
      else if (a == "--start") start = example::size_arg(a, argv[++i]);
      else if (a == "--count") count = example::size_arg(a, argv[++i]);
      else detail::raise<ValueError>("predict: unknown option '", a, "'");
    }
    data::vision::FashionMNIST<float> test(root, {.train = false});
    GLUINO_CHECK(ValueError, start < test.size(), "predict: --start ", start, " is past the ", test.size(), " test images");
    count = std::min(count, test.size() - start);

    auto net = model_zoo::lenet();
    net->initialize();
    (void)(*net)(nd::zeros<float>({1, 1, 28, 28}));  // shapes, so that loading can check them
    net->load_parameters(model);                      // names and shapes are checked
    NDArray<float> images = test.images().slice(start, start + count);
    NDArray<float> labels = test.labels().slice(start, start + count);
    tf::Compose pipeline({tf::ToTensor(), tf::Normalize(0.2860, 0.3530)});  // as train_lenet
    NDArray<float> logits;
    {
      autograd::predict_mode predict;
      logits = (*net)(pipeline(images));
    }
    if (float64) {  // the same model in double precision, with the float's weights
      std::shared_ptr<nn::BasicBlock<double>> net64 = net->cast<double>();
      autograd::predict_mode predict;
      const NDArray<double> logits64 = (*net64)(pipeline(images).astype<double>());
      const double diff = nd::max(nd::abs(logits64 - logits.astype<double>())).asscalar();
      const bool same = nd::argmax(logits64, 1).astype<float>().to_vector() == nd::argmax(logits, 1).to_vector();
      std::printf("float64 copy (Block::cast): max |logit difference| %.2g, same predictions: %s\n", diff,
                  same ? "yes" : "no");
    }
    NDArray<float> probs = nd::softmax(logits);
    const auto& names = data::vision::FashionMNIST<float>::class_names();
    const char* ramp = " .:-=+*#%@";
    std::size_t right = 0;
    for (std::size_t i = 0; i < count; ++i) {
      const auto pred = static_cast<std::size_t>(nd::argmax(logits[i], 0).asscalar());
      const auto truth = static_cast<std::size_t>(labels.at(i));
      right += pred == truth;
      std::printf("test image %zu: predicted %s (p=%.2f), true %s %s\n", start + i, names[pred].c_str(),
                  probs.at(i, pred), names[truth].c_str(), pred == truth ? "[right]" : "[WRONG]");
      for (std::size_t r = 0; r < 28; ++r) {
        std::string row;
        for (std::size_t c = 0; c < 28; ++c) {
          const float v = images.at(i, r, c, std::size_t{0}) / 255.0f;
          const char ch = ramp[std::min<std::size_t>(9, static_cast<std::size_t>(v * 10.0f))];
          row += ch;
          row += ch;
        }
        std::printf("  |%s|\n", row.c_str());
      }
    }
    std::printf("%zu of %zu right\n", right, count);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s\n", example::error_line("predict", e).c_str());
    return 1;
  }
}
