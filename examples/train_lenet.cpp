// SPDX-License-Identifier: Apache-2.0
// The main job: train LeNet on Fashion-MNIST.  The layers, data pipeline and trainer come with
// the blocks and main-job issues; until then this prints what exists.
#include <gluino/gluino.hpp>

#include <iostream>

int main() {
  std::cout << "gluino 0.1 | LeNet training is coming in the next issues (blocks, data pipeline).\n";
  return 0;
}
