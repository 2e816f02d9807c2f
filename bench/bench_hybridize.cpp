// SPDX-License-Identifier: Apache-2.0
// Imperative vs hybridized (nn/hybrid_block.hpp), side by side in one run: LeNet inference at
// batch 1 (latency) and at batch 256, and one LeNet training step at batch 64 (forward, softmax
// cross-entropy, backward, SGD with momentum).  Argument 0: imperative, 1: hybridized.  The
// graph is traced before the timing.  And AlexNet training (batch 32, 1x224x224), each variant
// in a fresh child process of this program, for its peak RSS (counter peak_RSS_MiB) beside its
// step time.  LibTorch's side is bench/compare (compare_torch).
#include <gluino/gluino.hpp>

#include <benchmark/benchmark.h>
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>

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
// The child's side: AlexNet trained for two untimed steps (a hybridized one's trace and watched
// run) and three timed ones; prints the mean step in ms and the peak RSS in KiB.
int alexnet_child(bool hybrid) {
  const std::size_t batch = 32;
  gluino::random::seed(0);
  auto x = nd::random::uniform<float>({batch, 1, 224, 224});
  auto y = nd::zeros<float>({batch});
  for (std::size_t i = 0; i < batch; ++i) y.data()[i] = static_cast<float>(i % 10);
  auto net = model_zoo::alexnet();
  net->initialize(init::Xavier{});
  (void)(*net)(x.slice(0, 1));  // deferred shapes
  if (hybrid) net->hybridize();
  Trainer trainer(net->collect_params(), "sgd", {{"learning_rate", 0.01}, {"momentum", 0.9}});
  loss::SoftmaxCrossEntropyLoss loss_fn;
  double ms = 0;
  for (int step = 0; step < 5; ++step) {
    const auto t0 = std::chrono::steady_clock::now();
    NDArray<float> l;
    {
      autograd::record rec;
      l = loss_fn((*net)(x), y);
    }
    l.backward();
    trainer.step(batch);
    if (step >= 2) ms += std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  }
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  std::printf("%.3f %ld\n", ms / 3, ru.ru_maxrss);
  return 0;
}

std::string self_path;

void BM_AlexNet_TrainStep_RSS(benchmark::State& state) {
  const bool hybrid = state.range(0) != 0;
  double ms = 0;
  long kib = 0;
  for (auto _ : state) {
    const std::string cmd = "'" + self_path + "' --alexnet-child " + (hybrid ? "1" : "0");
    std::unique_ptr<FILE, int (*)(FILE*)> child(popen(cmd.c_str(), "r"), pclose);
    if (!child || std::fscanf(child.get(), "%lf %ld", &ms, &kib) != 2) {
      state.SkipWithError("the AlexNet child process failed");
      return;
    }
    state.SetIterationTime(ms / 1000);
  }
  state.counters["peak_RSS_MiB"] = double(kib) / 1024;
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * 32));
  state.SetLabel(hybrid ? "hybridized" : "imperative");
}
}  // namespace

BENCHMARK(BM_LeNet_Inference)->ArgsProduct({{1, 256}, {0, 1}})->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_LeNet_TrainStep)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_AlexNet_TrainStep_RSS)->Arg(0)->Arg(1)->UseManualTime()->Iterations(1)->Unit(benchmark::kMillisecond);

int main(int argc, char** argv) {
  if (argc == 3 && std::string(argv[1]) == "--alexnet-child") return alexnet_child(argv[2][0] == '1');
  std::error_code ec;  // this program, to run the AlexNet children
  const auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  self_path = ec ? std::string(argv[0]) : exe.string();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
