// SPDX-License-Identifier: Apache-2.0
// The tutorial's AlexNet (Fashion-MNIST edition: 1 input channel, 10 classes, dropout 0.5) trained
// on Fashion-MNIST resized to 224x224.  An epoch is long on a CPU: `--limit N` stops after N
// batches.  train_alexnet [--data DIR] [--epochs 1] [--batch-size 32] [--lr 0.01] [--limit N]
#include "support/image_classifier.hpp"

int main(int argc, char** argv) {
  try {
    auto o = example::parse(argc, argv, "train_alexnet", {});
    auto net = gluino::model_zoo::alexnet();
    example::train_classifier(*net, "AlexNet", o);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "train_alexnet: %s\n", e.what());
    return 1;
  }
}
