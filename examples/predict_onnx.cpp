// SPDX-License-Identifier: Apache-2.0
// Classifies Fashion-MNIST test images with a model read from an ONNX file alone: no model code,
// only nn::SymbolBlock::imports.  The file can come from `train_lenet --export lenet.onnx`, or
// from PyTorch's torch.onnx.export of a network taking (N, 1, 28, 28) images normalised as
// train_lenet does (ToTensor, then Normalize(0.2860, 0.3530)) and giving 10 logits.
//
//   predict_onnx [--model lenet.onnx] [--data DIR] [--count 10000] [--show 3] [--hybridize]
//
// Prints the model's ops, a few images' predictions, and the accuracy over --count images.
#include <gluino/data/vision/datasets.hpp>
#include <gluino/data/vision/transforms.hpp>
#include <gluino/gluino.hpp>
#include <gluino/onnx/symbol_block.hpp>

#include "support/cli.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <string>

using namespace gluino;
namespace tf = gluino::data::vision::transforms;

int main(int argc, char** argv) {
  std::string model = "lenet.onnx", root;
  std::size_t count = 10000, show = 3;
  bool hybridize = false;
  try {
    for (int i = 1; i < argc; ++i) {
      const std::string a = argv[i];
      if (a == "--help") {
        std::cout << "usage: predict_onnx [--model FILE.onnx] [--data DIR] [--count N] [--show N] [--hybridize]\n";
        return 0;
      }
      if (a == "--hybridize") {
        hybridize = true;
        continue;
      }
      GLUINO_CHECK(ValueError, i + 1 < argc, "predict_onnx: ", a, " needs a value");
      if (a == "--model") model = argv[++i];
      else if (a == "--data") root = argv[++i];
      else if (a == "--count") count = example::size_arg(a, argv[++i]);
      else if (a == "--show") show = example::size_arg(a, argv[++i]);
      else detail::raise<ValueError>("predict_onnx: unknown option '", a, "'");
    }
    auto net = nn::SymbolBlock::imports(model);
    std::printf("%s: %s\n  ops:", model.c_str(), net->repr().c_str());
    for (const auto& op : net->op_types()) std::printf(" %s", op.c_str());
    std::printf("\n");
    if (hybridize) net->hybridize();

    data::vision::FashionMNIST<float> test(root, {.train = false});
    count = std::min(count, test.size());
    tf::Compose pipeline({tf::ToTensor(), tf::Normalize(0.2860, 0.3530)});  // as train_lenet
    const auto& names = data::vision::FashionMNIST<float>::class_names();
    std::size_t right = 0;
    const auto t0 = std::chrono::steady_clock::now();
    autograd::predict_mode predict;
    for (std::size_t start = 0; start < count; start += 256) {
      const std::size_t end = std::min(count, start + 256);
      NDArray<float> logits = (*net)(pipeline(test.images().slice(start, end)));
      NDArray<float> probs = nd::softmax(logits);
      for (std::size_t i = 0; i < end - start; ++i) {
        const auto pred = static_cast<std::size_t>(nd::argmax(logits[i], 0).asscalar());
        const auto truth = static_cast<std::size_t>(test.labels().at(start + i));
        right += pred == truth;
        if (start + i < show)
          std::printf("test image %zu: predicted %s (p=%.2f), true %s %s\n", start + i, names[pred].c_str(),
                      probs.at(i, pred), names[truth].c_str(), pred == truth ? "[right]" : "[WRONG]");
      }
    }
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("accuracy %.4f: %zu of %zu right (%.0f img/s%s)\n", count ? double(right) / double(count) : 0.0, right,
                count, double(count) / s, hybridize ? ", hybridized" : "");
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "predict_onnx: %s\n", e.what());
    return 1;
  }
}
