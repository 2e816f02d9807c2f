// SPDX-License-Identifier: Apache-2.0
// Benchmarks of nd::convolution (im2col + GEMM) on the layer shapes of LeNet and AlexNet.
// main() comes from benchmark::benchmark_main.  The argument indexes the table below.
#include <gluino/nd/conv.hpp>

#include <benchmark/benchmark.h>

#include <gluino/nd/random.hpp>

using namespace gluino;

namespace {
struct Layer {
  const char* label;
  std::size_t batch, c, hw, o, k;
  nd::ConvOptions opt;
  bool input_grad;  // false for a first layer: nobody needs the gradient of the images
};
const Layer layers[] = {
    {"lenet conv1 1->20 5x5 28x28 b256", 256, 1, 28, 20, 5, {}, false},
    {"lenet conv2 20->50 3x3 12x12 b256", 256, 20, 12, 50, 3, {}, true},
    {"alexnet conv1 1->96 11x11/4 224x224 b32", 32, 1, 224, 96, 11, {.stride = {4, 4}}, false},
    {"alexnet conv2 96->256 5x5 pad 2 26x26 b32", 32, 96, 26, 256, 5, {.pad = {2, 2}}, true},
    {"alexnet conv3 256->384 3x3 pad 1 12x12 b32", 32, 256, 12, 384, 3, {.pad = {1, 1}}, true},
};

struct Inputs {
  NDArray<float> x, w, b;
  double macs;  // multiply-adds of one forward pass
};
Inputs make_inputs(const Layer& l) {
  Inputs in;
  in.x = nd::random::uniform<float>({l.batch, l.c, l.hw, l.hw}, -1.0f, 1.0f);
  in.w = nd::random::normal<float>({l.o, l.c, l.k, l.k}, 0.0f, 0.05f);
  in.b = nd::random::uniform<float>({l.o});
  const auto out = nd::conv_output_size({l.hw, l.hw}, {l.k, l.k}, l.opt);
  in.macs = double(l.batch) * double(l.o) * double(l.c * l.k * l.k) * double(out[0] * out[1]);
  return in;
}
}  // namespace

/// Forward only (inference); items = images, FLOP/s = 2 x multiply-adds.
static void BM_Conv2D_Forward(benchmark::State& state) {
  const Layer& l = layers[state.range(0)];
  Inputs in = make_inputs(l);
  for (auto _ : state) benchmark::DoNotOptimize(nd::convolution(in.x, in.w, in.b, l.opt).data());
  state.SetLabel(l.label);
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(l.batch));
  state.counters["FLOP/s"] = benchmark::Counter(2.0 * in.macs, benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_Conv2D_Forward)->DenseRange(0, 4)->Unit(benchmark::kMillisecond);

/// Forward and backward (weight and bias gradients; input gradient except for first layers).
static void BM_Conv2D_ForwardBackward(benchmark::State& state) {
  const Layer& l = layers[state.range(0)];
  Inputs in = make_inputs(l);
  if (l.input_grad) in.x.attach_grad();
  in.w.attach_grad();
  in.b.attach_grad();
  for (auto _ : state) {
    NDArray<float> y;
    {
      autograd::record rec;
      y = nd::convolution(in.x, in.w, in.b, l.opt);
    }
    y.backward();
    benchmark::DoNotOptimize(in.w.grad().data());
  }
  state.SetLabel(l.label);
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(l.batch));
  state.counters["FLOP/s"] = benchmark::Counter(2.0 * in.macs * (l.input_grad ? 3.0 : 2.0),
                                                benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_Conv2D_ForwardBackward)->DenseRange(0, 4)->Unit(benchmark::kMillisecond);
