// SPDX-License-Identifier: Apache-2.0
// VGG-11 (the tutorial's vgg(conv_arch) with VGG-11's table) on Fashion-MNIST resized to
// 224x224.  `--width-divisor 4` (default) divides every block's channels by 4, as the tutorial
// does to make it trainable on a CPU; 1 gives the full network.  `--limit N` stops each epoch
// after N batches.  train_vgg [--data DIR] [--epochs 1] [--batch-size 32] [--lr 0.01] [--limit N]
//                            [--width-divisor 4]
#include "support/cli.hpp"
#include "support/image_classifier.hpp"

int main(int argc, char** argv) {
  try {
    std::size_t divisor = 4;
    std::vector<char*> rest{argv[0]};
    for (int i = 1; i < argc; ++i) {
      if (std::string(argv[i]) == "--width-divisor" && i + 1 < argc)
        divisor = example::size_arg("--width-divisor", argv[++i]);
      else rest.push_back(argv[i]);
    }
    example::TrainOptions defaults;
    defaults.lr = 0.05;  // as the tutorial's VGG
    auto o = example::parse(static_cast<int>(rest.size()), rest.data(), "train_vgg", defaults);
    auto net = gluino::model_zoo::vgg11({.channel_divisor = divisor});
    example::train_classifier(*net, "VGG-11/" + std::to_string(divisor), o);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "train_vgg: %s\n", e.what());
    return 1;
  }
}
