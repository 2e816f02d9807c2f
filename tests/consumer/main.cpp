// SPDX-License-Identifier: Apache-2.0
#include <gluino/gluino.hpp>

#include <iostream>

int main() {
  using namespace gluino;
  auto x = nd::array<float>({1, 2, 3, 4}, {2, 2});
  x.attach_grad();
  NDArray<float> y;
  {
    autograd::record rec;
    y = (x * x).sum();
  }
  y.backward();
  std::cout << x.grad() << "\n";
  return x.grad().at(1, 1) == 8.0f ? 0 : 1;
}
