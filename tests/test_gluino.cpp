// SPDX-License-Identifier: Apache-2.0
// The umbrella header, exercised with the programs the core issue promises a user can write.
#include <gluino/gluino.hpp>

#include <doctest/doctest.h>

#include <sstream>

using namespace gluino;

TEST_SUITE("gluino") {
TEST_CASE("the first program: MLP layer from raw ops, dropout in train mode, backward") {
  gluino::random::seed(42);
  NDArray<float> X = nd::random::uniform<float>({64, 1, 28, 28}, 0.0f, 1.0f);
  NDArray<float> W1 = nd::random::normal<float>({784, 256}, 0.0f, 0.01f);
  NDArray<float> b1 = nd::zeros<float>({256});
  W1.attach_grad();
  b1.attach_grad();
  NDArray<float> loss;
  bool trained = false;
  {
    autograd::record rec;
    NDArray<float> H = nd::relu(nd::dot(X.reshape({-1, 784}), W1) + b1);
    if (autograd::is_training()) {
      H = nd::dropout(H, 0.2f);
      trained = true;
    }
    loss = H.mean();
  }
  CHECK(trained);
  CHECK_FALSE(autograd::is_training());
  loss.backward();
  std::ostringstream os;
  os << W1.grad().shape();
  CHECK(os.str() == "(784, 256)");
  CHECK(b1.grad().shape() == Shape{256});
  // b1's gradient is the fraction of kept, active units per column scaled by 1/(0.8 * 64 * 256)
  float total = 0;
  for (float g : b1.grad()) total += g;
  CHECK(total > 0.0f);
}
TEST_CASE("printing a 2x2 array like MXNet") {
  std::ostringstream os;
  os << nd::array<float>({1, 2, 3, 4}, {2, 2});
  CHECK(os.str() == "[[1. 2.]\n [3. 4.]]\n<NDArray 2x2 @cpu(0)>");
}
TEST_CASE("LeNet from raw ops: shapes of each block and a gradient for every weight") {
  gluino::random::seed(1);
  auto X = nd::random::uniform<float>({4, 1, 28, 28});
  auto W1 = nd::random::normal<float>({20, 1, 5, 5}, 0.0f, 0.1f), b1 = nd::zeros<float>({20});
  auto W2 = nd::random::normal<float>({50, 20, 3, 3}, 0.0f, 0.1f), b2 = nd::zeros<float>({50});
  auto W3 = nd::random::normal<float>({1250, 128}, 0.0f, 0.1f), b3 = nd::zeros<float>({128});
  auto W4 = nd::random::normal<float>({128, 10}, 0.0f, 0.1f), b4 = nd::zeros<float>({10});
  for (auto* p : {&W1, &b1, &W2, &b2, &W3, &b3, &W4, &b4}) p->attach_grad();
  auto labels = nd::array<float>({0, 1, 2, 3});
  NDArray<float> loss;
  {
    autograd::record rec;
    auto h1 = nd::pooling(nd::relu(nd::convolution(X, W1, b1, {.stride = {1, 1}, .pad = {0, 0}})),
                          {.kernel = {2, 2}, .stride = {2, 2}, .type = nd::pool_type::max});
    CHECK(h1.shape() == Shape{4, 20, 12, 12});
    auto h2 = nd::pooling(nd::relu(nd::convolution(h1, W2, b2)), {.kernel = {2, 2}, .stride = {2, 2}});
    CHECK(h2.shape() == Shape{4, 50, 5, 5});
    auto flat = nd::flatten(h2);
    CHECK(flat.shape() == Shape{4, 1250});
    auto h3 = nd::relu(nd::dot(flat, W3) + b3);
    auto out = nd::dot(h3, W4) + b4;
    CHECK(out.shape() == Shape{4, 10});
    loss = nd::softmax_cross_entropy(out, labels).mean();
  }
  loss.backward();
  for (auto* p : {&W1, &W2, &W3, &W4}) {
    double s = 0;
    for (float g : p->grad()) s += std::abs(g);
    CHECK(s > 0);
  }
}
}
