// SPDX-License-Identifier: Apache-2.0
// Allreduce bandwidth: gluino's bucketed gradient reduction (dist::GradientReducer::finish() over
// eight parameters: one MPI_Allreduce per 25 MB bucket, in place) against plain MPI_Allreduce of
// one buffer of the same size, a plain MPI_Allreduce loop over the eight parameters, and
// MPI_Iallreduce + wait, from 64 KB to 128 MB of gradients.  Counter `GB_per_s`: bytes
// reduced per second (algorithm bandwidth), the slowest rank's time.  docs/distributed.md.
//   mpirun -np 2 build/release/bench/bench_allreduce
#include "bench_main.hpp"

#include <gluino/gluino.hpp>

#include <cmath>
#include <vector>

using namespace gluino;

namespace {
void BM_MPI_Allreduce(benchmark::State& state) {
  const auto n = std::size_t(state.range(0)) / sizeof(float);
  std::vector<float> buffer(n, 1.0f);
  for (auto _ : state) {
    MPI_Barrier(MPI_COMM_WORLD);
    const auto t0 = std::chrono::steady_clock::now();
    MPI_Allreduce(MPI_IN_PLACE, buffer.data(), int(n), MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    state.SetIterationTime(bench::slowest_since(t0));
  }
  state.counters["GB_per_s"] = benchmark::Counter(double(state.range(0)) * double(state.iterations()) / 1e9,
                                                  benchmark::Counter::kIsRate);
}

// A plain MPI_Allreduce per parameter: the same eight parameters as BM_GradientReducer, one
// call each, in place (what dist::allreduce_gradients does).
void BM_MPI_AllreduceLoop(benchmark::State& state) {
  const auto n = std::size_t(state.range(0)) / sizeof(float) / 8;
  std::vector<std::vector<float>> params(8, std::vector<float>(n, 1.0f));
  for (auto _ : state) {
    MPI_Barrier(MPI_COMM_WORLD);
    const auto t0 = std::chrono::steady_clock::now();
    for (auto& p : params) MPI_Allreduce(MPI_IN_PLACE, p.data(), int(n), MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    state.SetIterationTime(bench::slowest_since(t0));
  }
  state.counters["GB_per_s"] = benchmark::Counter(double(8 * n * sizeof(float)) * double(state.iterations()) / 1e9,
                                                  benchmark::Counter::kIsRate);
}

// The same with the non-blocking call the reducer starts during backward, waited for at once.
void BM_MPI_Iallreduce(benchmark::State& state) {
  const auto n = std::size_t(state.range(0)) / sizeof(float);
  std::vector<float> buffer(n, 1.0f);
  for (auto _ : state) {
    MPI_Barrier(MPI_COMM_WORLD);
    const auto t0 = std::chrono::steady_clock::now();
    MPI_Request request;
    MPI_Iallreduce(MPI_IN_PLACE, buffer.data(), int(n), MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD, &request);
    MPI_Wait(&request, MPI_STATUS_IGNORE);
    state.SetIterationTime(bench::slowest_since(t0));
  }
  state.counters["GB_per_s"] = benchmark::Counter(double(state.range(0)) * double(state.iterations()) / 1e9,
                                                  benchmark::Counter::kIsRate);
}

// Eight parameters of a network whose gradients total the size (Dense layers of n x n).
void BM_GradientReducer(benchmark::State& state) {
  const auto total = std::size_t(state.range(0)) / sizeof(float);
  const auto side = std::size_t(std::sqrt(double(total / 8)));
  nn::Sequential net;
  for (int i = 0; i < 8; ++i) net.add(nn::Dense(side, {.use_bias = false, .in_units = side}));
  net.initialize();
  const auto params = net.collect_params();
  for (const auto& [name, p] : params) p->grad().fill(1.0f);
  dist::GradientReducer reducer(params, {.overlap = false});  // finish() alone: the whole reduction
  for (auto _ : state) {
    MPI_Barrier(MPI_COMM_WORLD);
    const auto t0 = std::chrono::steady_clock::now();
    reducer.finish();
    state.SetIterationTime(bench::slowest_since(t0));
  }
  state.counters["GB_per_s"] = benchmark::Counter(double(reducer.stats().bytes) * double(state.iterations()) / 1e9,
                                                  benchmark::Counter::kIsRate);
  state.counters["buckets"] = double(reducer.stats().buckets);
}

// Each size with its own iteration count (fixed: every rank must run as many collectives).
const bool registered = [] {
  for (std::int64_t bytes : {64 << 10, 1 << 20, 8 << 20, 32 << 20, 128 << 20}) {
    const int iterations = bytes <= (1 << 20) ? 200 : bytes <= (32 << 20) ? 20 : 6;
    for (auto [name, fn] : {std::pair{"BM_MPI_Allreduce", &BM_MPI_Allreduce}, {"BM_MPI_AllreduceLoop", &BM_MPI_AllreduceLoop},
                            {"BM_MPI_Iallreduce", &BM_MPI_Iallreduce}, {"BM_GradientReducer", &BM_GradientReducer}})
      benchmark::RegisterBenchmark(name, fn)->Arg(bytes)->Iterations(iterations)->UseManualTime()->Unit(
          benchmark::kMillisecond);
  }
  return true;
}();
}  // namespace

int main(int argc, char** argv) { return bench::run_benchmarks(argc, argv); }
