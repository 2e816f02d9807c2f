// SPDX-License-Identifier: Apache-2.0
// Benchmarks of nd::convolution (whichever path kernels/conv2d.hpp takes) on the layer shapes of
// LeNet, AlexNet and VGG-11/4 (with each layer's arithmetic intensity, FLOP/B, for the roofline
// table of performance.md); of the depthwise kernel (kernels/conv2d_depthwise.hpp) on MobileNet's
// against the general grouped im2col + GEMM path it replaces; of the Winograd, wide direct and
// small-channel direct kernels against im2col + GEMM on the same layers.  Each reports FLOP/s and
// of_peak, its share of the machine's FP32 peak measured by an FMA loop on the same threads
// (peak_flops.hpp); and of a convolution with its ReLU and max pooling as one op
// (nd::convolution_max_pool) against the two ops.  main() comes from benchmark::benchmark_main.
// The argument indexes the tables below.
#include <gluino/nd/conv.hpp>
#include <gluino/nd/conv_pool.hpp>
#include <gluino/nd/pool.hpp>

#include <optional>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include <gluino/kernels/conv2d.hpp>
#include <gluino/kernels/conv2d_lanes.hpp>
#include <gluino/kernels/pool.hpp>
#include <gluino/nd/random.hpp>

#include "peak_flops.hpp"

using namespace gluino;

namespace {
/// Sets FLOP/s and its share of the machine's FP32 peak (bench/peak_flops.hpp, on gluino's
/// threads) for `flops` per iteration.
void flop_counters(benchmark::State& state, double flops) {
  state.counters["FLOP/s"] = benchmark::Counter(flops, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["of_peak"] = benchmark::Counter(flops / gluino_bench::peak_flops(get_num_threads()),
                                                 benchmark::Counter::kIsIterationInvariantRate);
}

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
    {"alexnet conv4 384->384 3x3 pad 1 12x12 b32", 32, 384, 12, 384, 3, {.pad = {1, 1}}, true},
    {"alexnet conv5 384->256 3x3 pad 1 12x12 b32", 32, 384, 12, 256, 3, {.pad = {1, 1}}, true},
    // VGG-11 with a quarter of the channels (compare_torch's), 1x224x224
    {"vgg11/4 conv1 1->16 3x3 pad 1 224x224 b32", 32, 1, 224, 16, 3, {.pad = {1, 1}}, false},
    {"vgg11/4 conv2 16->32 3x3 pad 1 112x112 b32", 32, 16, 112, 32, 3, {.pad = {1, 1}}, true},
    {"vgg11/4 conv3 32->64 3x3 pad 1 56x56 b32", 32, 32, 56, 64, 3, {.pad = {1, 1}}, true},
    {"vgg11/4 conv4 64->64 3x3 pad 1 56x56 b32", 32, 64, 56, 64, 3, {.pad = {1, 1}}, true},
    {"vgg11/4 conv5 64->128 3x3 pad 1 28x28 b32", 32, 64, 28, 128, 3, {.pad = {1, 1}}, true},
    {"vgg11/4 conv6 128->128 3x3 pad 1 28x28 b32", 32, 128, 28, 128, 3, {.pad = {1, 1}}, true},
    {"vgg11/4 conv7 128->128 3x3 pad 1 14x14 b32", 32, 128, 14, 128, 3, {.pad = {1, 1}}, true},
};
constexpr int num_layers = static_cast<int>(sizeof(layers) / sizeof(layers[0]));

struct Inputs {
  NDArray<float> x, w, b;
  double macs;           // multiply-adds of one forward pass
  double x_n, w_n, y_n;  // elements of the input, the weight and the output
};
/// The roofline's arithmetic intensity: FLOPs per byte of the least memory traffic the pass
/// needs (each array read or written once: forward x, w, y; forward and backward also dy, dw,
/// and dx when the input gradient is computed).  Far above the machine's balance (peak FLOP/s
/// over memory bandwidth, about 10 on these machines) means compute-bound.
void intensity_counter(benchmark::State& state, double flops, double bytes) {
  state.counters["FLOP/B"] = benchmark::Counter(flops / bytes);
}
Inputs make_inputs(const Layer& l) {
  Inputs in;
  in.x = nd::random::uniform<float>({l.batch, l.c, l.hw, l.hw}, -1.0f, 1.0f);
  in.w = nd::random::normal<float>({l.o, l.c, l.k, l.k}, 0.0f, 0.05f);
  in.b = nd::random::uniform<float>({l.o});
  const auto out = nd::conv_output_size({l.hw, l.hw}, {l.k, l.k}, l.opt);
  in.macs = double(l.batch) * double(l.o) * double(l.c * l.k * l.k) * double(out[0] * out[1]);
  in.x_n = double(in.x.size()), in.w_n = double(in.w.size()), in.y_n = double(l.batch * l.o * out[0] * out[1]);
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
  flop_counters(state, 2.0 * in.macs);
  intensity_counter(state, 2.0 * in.macs, 4.0 * (in.x_n + in.w_n + in.y_n));
}
BENCHMARK(BM_Conv2D_Forward)->DenseRange(0, num_layers - 1)->Unit(benchmark::kMillisecond);

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
  const double flops = 2.0 * in.macs * (l.input_grad ? 3.0 : 2.0);
  flop_counters(state, flops);
  intensity_counter(state, flops, 4.0 * (in.x_n * (l.input_grad ? 2.0 : 1.0) + 2.0 * in.w_n + 2.0 * in.y_n));
}
BENCHMARK(BM_Conv2D_ForwardBackward)->DenseRange(0, num_layers - 1)->Unit(benchmark::kMillisecond);

namespace {
/// MobileNet v1's depthwise 3x3 layers (224x224 input), batch 8.
struct DepthwiseLayer {
  const char* label;
  std::size_t channels, hw, stride;
};
const DepthwiseLayer depthwise_layers[] = {
    {"mobilenet dw 32 3x3 112x112 b8", 32, 112, 1},
    {"mobilenet dw 64 3x3/2 112x112 b8", 64, 112, 2},
    {"mobilenet dw 256 3x3 28x28 b8", 256, 28, 1},
    {"mobilenet dw 512 3x3 14x14 b8", 512, 14, 1},
    {"mobilenet dw 1024 3x3 7x7 b8", 1024, 7, 1},
};
kernels::Conv2DGeometry depthwise_geometry(const DepthwiseLayer& l, bool generic) {
  kernels::Conv2DGeometry g;
  g.N = 8, g.C = g.O = g.groups = l.channels, g.H = g.W = l.hw;
  g.kh = g.kw = 3, g.sh = g.sw = l.stride, g.ph = g.pw = 1;
  g.generic = generic;
  g.infer_output();
  return g;
}
}  // namespace

/// Depthwise forward + backward (dx, dw, db) through kernels::conv2d_forward / conv2d_backward:
/// argument 1 = 0 the depthwise kernel, 1 the general grouped im2col + GEMM path.
static void BM_Conv2D_Depthwise(benchmark::State& state) {
  const DepthwiseLayer& l = depthwise_layers[state.range(0)];
  const bool generic = state.range(1) != 0;
  const kernels::Conv2DGeometry g = depthwise_geometry(l, generic);
  auto rand = [](std::size_t n) { return nd::random::uniform<float>({n}, -1.0f, 1.0f); };
  const NDArray<float> x = rand(g.N * g.C * g.H * g.W), w = rand(g.O * 9), b = rand(g.O), dy = rand(g.N * g.O * g.P());
  std::vector<float> y(g.N * g.O * g.P()), dx(x.size()), dw(w.size()), db(g.O);
  for (auto _ : state) {
    kernels::conv2d_forward(g, x.data(), w.data(), b.data(), y.data());
    kernels::conv2d_backward(g, x.data(), w.data(), dy.data(), dx.data(), dw.data(), db.data());
    benchmark::DoNotOptimize(dw.data());
  }
  state.SetLabel(std::string(l.label) + (generic ? ", grouped im2col + GEMM" : ", depthwise kernel"));
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(g.N));
  const double macs = double(g.N) * double(g.O) * 9.0 * double(g.P());
  flop_counters(state, 2.0 * macs * 3.0);
}
BENCHMARK(BM_Conv2D_Depthwise)->ArgsProduct({{0, 1, 2, 3, 4}, {0, 1}})->Unit(benchmark::kMillisecond);

namespace {
/// The 3x3 and 5x5 stride-1 layers of the table above (indices into layers[]).
const int winograd_layers[] = {1, 3, 4, 5, 6, 8, 9, 10, 11, 12, 13};
kernels::Conv2DGeometry layer_geometry(const Layer& l, bool generic) {
  kernels::Conv2DGeometry g;
  g.N = l.batch, g.C = l.c, g.H = g.W = l.hw, g.O = l.o, g.kh = g.kw = l.k;
  g.ph = l.opt.pad[0], g.pw = l.opt.pad[1];
  g.generic = generic;
  g.infer_output();
  return g;
}
}  // namespace

/// The 3x3 and 5x5 stride-1 layers through kernels::conv2d_forward and kernels::conv2d_backward
/// (input and weight gradients): argument 1 = 0 the path conv2d takes (Winograd where
/// winograd_applies, kernels/conv2d_winograd.hpp; the small-channel direct kernel where
/// direct_small_applies, kernels/conv2d_direct.hpp), 1 im2col + GEMM.  FLOP/s and of_peak count the
/// direct convolution's multiply-adds, so the Winograd rows can pass 100% of peak: they show the
/// speed-up, not the arithmetic done.
static void BM_Conv2D_Winograd(benchmark::State& state) {
  const Layer& l = layers[winograd_layers[state.range(0)]];
  const bool generic = state.range(1) != 0;
  const kernels::Conv2DGeometry g = layer_geometry(l, generic);
  auto rand = [](std::size_t n) { return nd::random::uniform<float>({n}, -1.0f, 1.0f); };
  const NDArray<float> x = rand(g.N * g.C * g.H * g.W), w = rand(g.O * g.C * g.kh * g.kw), b = rand(g.O),
                       dy = rand(g.N * g.O * g.P());
  std::vector<float> y(g.N * g.O * g.P()), dx(x.size()), dw(w.size());
  for (auto _ : state) {
    kernels::conv2d_forward(g, x.data(), w.data(), b.data(), y.data());
    kernels::conv2d_backward(g, x.data(), w.data(), dy.data(), dx.data(), dw.data(), static_cast<float*>(nullptr));
    benchmark::DoNotOptimize(dw.data());
  }
  const bool fast = kernels::winograd_applies(layer_geometry(l, false));
  const bool small = kernels::direct_small_applies(layer_geometry(l, false));
  state.SetLabel(std::string(l.label) + ", forward + backward, " +
                 (generic ? "im2col + GEMM"
                  : fast  ? (l.k == 3 ? "Winograd F(4x4, 3x3)" : "Winograd F(4x4, 5x5)")
                  : small ? "direct, small-channel kernel"
                          : "im2col + GEMM (Winograd does not apply)"));
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(g.N));
  flop_counters(state, 3.0 * 2.0 * double(g.N) * double(g.O) * double(g.C) * double(g.kh * g.kw) * double(g.P()));
}
BENCHMARK(BM_Conv2D_Winograd)->ArgsProduct({{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, {0, 1}})->Unit(benchmark::kMillisecond);

namespace {
/// The stride-1 layers of the table above (indices into layers[]).
const int wide_layers[] = {0, 1, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13};

/// The label of a BM_Conv2D_Wide* row: the layer, the pass, and path 0 (what `call` takes:
/// `taken`), 1 (the wide kernel) or 2 (im2col + GEMM).
std::string wide_label(const Layer& l, const char* pass, int path, const char* call, const char* taken) {
  return std::string(l.label) + ", " + pass + ", " +
         (path == 0   ? std::string("as ") + call + " takes it (" + taken + ")"
          : path == 1 ? std::string("wide direct kernel")
                      : std::string("im2col + GEMM"));
}
}  // namespace

/// The forward pass of the stride-1 layers, argument 1: 0 the path conv2d
/// takes (the wide direct kernel where direct_wide_applies, kernels/conv2d_wide.hpp, unless
/// Winograd or another kernel comes first), 1 the wide kernel on every layer (filters packed each
/// iteration, images split over the threads), 2 im2col + GEMM.  With ReLU, as the model zoo's
/// layers.  The measurements behind direct_wide_applies (docs/performance.md).
static void BM_Conv2D_Wide(benchmark::State& state) {
  const Layer& l = layers[wide_layers[state.range(0)]];
  const int path = static_cast<int>(state.range(1));
  const kernels::Conv2DGeometry g = layer_geometry(l, path == 2);
  auto rand = [](std::size_t n) { return nd::random::uniform<float>({n}, -1.0f, 1.0f); };
  const NDArray<float> x = rand(g.N * g.C * g.H * g.W), w = rand(g.O * g.K()), b = rand(g.O);
  std::vector<float> y(g.N * g.O * g.P());
  const kernels::WideLayout lay = kernels::wide_layout<float>(g);
  std::vector<float> packed(lay.packed), padded(lay.padded * static_cast<std::size_t>(get_num_threads()));
  for (auto _ : state) {
    if (path == 1) {
      kernels::direct_wide_pack(g, lay, w.data(), packed.data());
      detail::run_team(get_num_threads(), [&](int tid, int team) {
        const auto t = static_cast<std::size_t>(tid), k = static_cast<std::size_t>(team);
        for (std::size_t n = g.N * t / k; n < g.N * (t + 1) / k; ++n)
          kernels::conv2d_forward_direct_wide(g, lay, x.data() + n * g.C * g.H * g.W, packed.data(), b.data(),
                                              y.data() + n * g.O * g.P(), true, 0, g.Ho, padded.data() + lay.padded * t);
      });
    } else {
      kernels::conv2d_forward(g, x.data(), w.data(), b.data(), y.data(), true);
    }
    benchmark::DoNotOptimize(y.data());
  }
  const kernels::Conv2DGeometry plain = layer_geometry(l, false);
  const char* taken = kernels::winograd_applies(plain)              ? "Winograd"
                      : kernels::direct_wide_applies<float>(plain)  ? "wide direct"
                      : kernels::direct_small_applies(plain)        ? "small-channel direct"
                      : kernels::direct_c1_applies(plain)           ? "single-channel direct"
                                                                    : "im2col + GEMM";
  state.SetLabel(wide_label(l, "forward", path, "conv2d", taken));
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(g.N));
  flop_counters(state, 2.0 * double(g.N) * double(g.O) * double(g.K()) * double(g.P()));
}
BENCHMARK(BM_Conv2D_Wide)->ArgsProduct({{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, {0, 1, 2}})->Unit(benchmark::kMillisecond);

/// The input gradient of the stride-1 layers that need one, argument 1: 0 the path
/// conv2d_backward takes (Winograd, the small-channel kernel, the wide kernel where
/// direct_wide_input_grad_applies, else im2col + GEMM and col2im), 1 the wide kernel on every
/// layer, 2 im2col + GEMM.  The measurements behind direct_wide_input_grad_applies.
static void BM_Conv2D_WideInputGrad(benchmark::State& state) {
  const Layer& l = layers[wide_layers[state.range(0)]];
  const int path = static_cast<int>(state.range(1));
  const kernels::Conv2DGeometry g = layer_geometry(l, path == 2);
  if (!l.input_grad) {
    state.SkipWithError("a first layer: no input gradient");
    return;
  }
  auto rand = [](std::size_t n) { return nd::random::uniform<float>({n}, -1.0f, 1.0f); };
  const NDArray<float> w = rand(g.O * g.K()), dy = rand(g.N * g.O * g.P());
  std::vector<float> dx(g.N * g.C * g.H * g.W);
  for (auto _ : state) {
    if (path == 1)
      kernels::conv2d_input_grad_direct_wide(g, w.data(), dy.data(), dx.data());
    else
      kernels::conv2d_backward(g, static_cast<const float*>(nullptr), w.data(), dy.data(), dx.data(),
                               static_cast<float*>(nullptr), static_cast<float*>(nullptr));
    benchmark::DoNotOptimize(dx.data());
  }
  const kernels::Conv2DGeometry plain = layer_geometry(l, false);
  const char* taken = kernels::winograd_applies(plain)                         ? "Winograd"
                      : kernels::direct_wide_input_grad_applies<float>(plain)  ? "wide direct"
                      : kernels::direct_small_applies(plain)                   ? "small-channel direct"
                                                                               : "im2col + GEMM";
  state.SetLabel(wide_label(l, "input gradient", path, "conv2d_backward", taken));
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(g.N));
  flop_counters(state, 2.0 * double(g.N) * double(g.O) * double(g.K()) * double(g.P()));
}
BENCHMARK(BM_Conv2D_WideInputGrad)
    ->ArgsProduct({{1, 2, 3, 4, 5, 7, 8, 9, 10, 11, 12}, {0, 1, 2}})
    ->Unit(benchmark::kMillisecond);

/// The weight and bias gradients of the stride-1 layers, argument 1: 0 the path conv2d_backward
/// takes (the wide weight gradient where direct_wide_weight_grad_applies, unless Winograd comes
/// first; else the small-channel or single-channel kernels, or im2col + GEMM), 1 the wide weight
/// gradient on every layer it can take (kernels/conv2d_wide.hpp), 2 im2col + GEMM.  dy masked by
/// a fused ReLU's output, as the model zoo's layers.  The measurements behind
/// direct_wide_weight_grad_applies.
static void BM_Conv2D_WideWeightGrad(benchmark::State& state) {
  const Layer& l = layers[wide_layers[state.range(0)]];
  const int path = static_cast<int>(state.range(1));
  const kernels::Conv2DGeometry g = layer_geometry(l, path == 2);
  if (path == 1 && !kernels::direct_wide_weight_grad_applies<float>(g)) {
    state.SkipWithError("the wide weight gradient does not take this layer");
    return;
  }
  auto rand = [](std::size_t n) { return nd::random::uniform<float>({n}, -1.0f, 1.0f); };
  const NDArray<float> x = rand(g.N * g.C * g.H * g.W), dy = rand(g.N * g.O * g.P()), y = rand(g.N * g.O * g.P());
  std::vector<float> dw(g.O * g.K()), db(g.O);
  for (auto _ : state) {
    if (path == 1)
      kernels::conv2d_weight_grad_direct_wide(g, x.data(), dy.data(), dw.data(), db.data(), y.data());
    else
      kernels::conv2d_backward(g, x.data(), static_cast<const float*>(nullptr), dy.data(), static_cast<float*>(nullptr),
                               dw.data(), db.data(), y.data());
    benchmark::DoNotOptimize(dw.data());
  }
  const kernels::Conv2DGeometry plain = layer_geometry(l, false);
  const char* taken = kernels::winograd_applies(plain)                          ? "Winograd"
                      : kernels::direct_wide_weight_grad_applies<float>(plain)  ? "wide direct"
                      : kernels::direct_small_applies(plain)                    ? "small-channel direct"
                      : kernels::direct_c1_applies(plain)                       ? "single-channel direct"
                                                                                : "im2col + GEMM";
  state.SetLabel(wide_label(l, "weight gradient", path, "conv2d_backward", taken));
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(g.N));
  flop_counters(state, 2.0 * double(g.N) * double(g.O) * double(g.K()) * double(g.P()));
}
BENCHMARK(BM_Conv2D_WideWeightGrad)
    ->ArgsProduct({{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, {0, 1, 2}})
    ->Unit(benchmark::kMillisecond);

/// A convolution with its ReLU and the max pooling after it (LeNet's 2x2/2, AlexNet's 3x3/2):
/// arg 1 = 0 the two ops (nd::convolution_relu, nd::pooling), 1 one op
/// (nd::convolution_max_pool: on LeNet's layers in AVX-512 builds the batch-lanes kernel,
/// kernels/conv2d_lanes.hpp, which the label names); arg 2 = 0 inference, 1 forward and backward.
static void BM_Conv2D_MaxPool(benchmark::State& state) {
  const Layer& l = layers[state.range(0)];
  const bool fused = state.range(1) == 1, train = state.range(2) == 1;
  const std::size_t pk = state.range(0) == 2 ? 3 : 2;
  const nd::PoolOptions pool{.kernel = {pk, pk}, .stride = {2, 2}};
  Inputs in = make_inputs(l);
  if (train) {
    if (l.input_grad) in.x.attach_grad();
    in.w.attach_grad();
    in.b.attach_grad();
  }
  for (auto _ : state) {
    NDArray<float> y;
    {
      std::optional<autograd::record> rec;  // inference: nothing recorded
      if (train) rec.emplace();
      y = fused ? nd::convolution_max_pool(in.x, in.w, in.b, l.opt, pool, true)
                : nd::pooling(nd::convolution_relu(in.x, in.w, in.b, l.opt), pool);
    }
    if (train) y.backward();
    benchmark::DoNotOptimize(y.data());
  }
  const kernels::Conv2DGeometry g = layer_geometry(l, false);
  kernels::Pool2DGeometry pg;
  pg.H = g.Ho, pg.W = g.Wo, pg.kh = pg.kw = pk, pg.sh = pg.sw = 2;
  pg.Ho = kernels::Pool2DGeometry::out_size(g.Ho, pk, 2, 0, false);
  pg.Wo = kernels::Pool2DGeometry::out_size(g.Wo, pk, 2, 0, false);
  const char* how = !fused ? ", two ops" : kernels::batch_lanes_applies<float>(g, pg) ? ", one op (batch lanes)" : ", one op";
  state.SetLabel(std::string(l.label) + how + (train ? ", forward + backward" : ""));
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(l.batch));
  flop_counters(state, 2.0 * in.macs * (train ? (l.input_grad ? 3.0 : 2.0) : 1.0));
}
BENCHMARK(BM_Conv2D_MaxPool)->ArgsProduct({{0, 1, 2}, {0, 1}, {0, 1}})->Unit(benchmark::kMillisecond);
