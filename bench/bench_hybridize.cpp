// SPDX-License-Identifier: Apache-2.0
// Imperative vs hybridized (nn/hybrid_block.hpp), side by side in one run: LeNet inference at
// batch 1 (latency) and at batch 256, and one LeNet training step at batch 64 (forward, softmax
// cross-entropy, backward, SGD with momentum).  Argument 0: imperative, 1: hybridized.  The
// graph is traced before the timing.  LibTorch's side is bench/compare (compare_torch).
#include <gluino/gluino.hpp>

#include <benchmark/benchmark.h>

using namespace gluino;

namespace {
std::shared_ptr<nn::Sequential> lenet(bool hybridize, const NDArray<float>& x) {
  gluino::random::seed(0);
  auto net = model_zoo::lenet();
  net->initialize(init::Xavier{});
  (void)(*net)(x);  // deferred shapes
  if (hybridize) net->hybridize();
  return net;
}

void BM_LeNet_Inference(benchmark::State& state) {
  const auto batch = static_cast<std::size_t>(state.range(0));
  const bool hybrid = state.range(1) != 0;
  auto x = nd::random::uniform<float>({batch, 1, 28, 28});
  auto net = lenet(hybrid, x);
  autograd::predict_mode predict;
  (void)(*net)(x);  // traces when hybridized
  for (auto _ : state) {
    auto y = (*net)(x);
    benchmark::DoNotOptimize(y.data());
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * batch));
  state.SetLabel(hybrid ? "hybridized" : "imperative");
}

void BM_LeNet_TrainStep(benchmark::State& state) {
  const std::size_t batch = 64;
  const bool hybrid = state.range(0) != 0;
  auto x = nd::random::uniform<float>({batch, 1, 28, 28});
  auto y = nd::zeros<float>({batch});
  for (std::size_t i = 0; i < batch; ++i) y.data()[i] = static_cast<float>(i % 10);
  auto net = lenet(hybrid, x);
  Trainer trainer(net->collect_params(), "sgd", {{"learning_rate", 0.01}, {"momentum", 0.9}});
  loss::SoftmaxCrossEntropyLoss loss_fn;
  auto step = [&] {
    NDArray<float> l;
    {
      autograd::record rec;
      l = loss_fn((*net)(x), y);
    }
    l.backward();
    trainer.step(batch);
    return l;
  };
  (void)step();  // traces when hybridized
  for (auto _ : state) {
    auto l = step();
    benchmark::DoNotOptimize(l.data());
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * batch));
  state.SetLabel(hybrid ? "hybridized" : "imperative");
}
}  // namespace

BENCHMARK(BM_LeNet_Inference)->ArgsProduct({{1, 256}, {0, 1}})->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_LeNet_TrainStep)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);
