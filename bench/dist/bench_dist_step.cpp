// SPDX-License-Identifier: Apache-2.0
// Data-parallel training steps (forward, loss, backward, dist::Trainer::step) of LeNet (batch 64
// per rank, 28x28) and AlexNet (batch 8 per rank, 224x224, one channel), one thread per rank, with
// the gradients reduced after backward (overlap 0) or in buckets started during backward
// (overlap 1).  Run at 1, 2 and 4 ranks (scripts/bench_dist.sh).  Counters: `step_ms`;
// `comm_ms`, the time step() waited for the reduction (dist::ReducerStats::finish_seconds);
// `hidden`, for overlap 1: the share of the reduction's time hidden behind backward, 1 - comm_ms
// (overlap 1) / comm_ms (overlap 0), against the overlap 0 run just before it.  docs/distributed.md.
//   mpirun -np 2 build/release/bench/bench_dist_step
#include "bench_main.hpp"

#include <gluino/gluino.hpp>

#include <map>
#include <string>

using namespace gluino;

namespace {
std::map<std::string, double> blocking_comm_ms;  // model -> comm_ms with overlap 0

void step_bench(benchmark::State& state, const std::string& model) {
  const bool overlap = state.range(0) != 0;
  const std::size_t batch = model == "lenet" ? 64 : 8, side = model == "lenet" ? 28 : 224;
  set_num_threads(1);
  gluino::random::seed(1);
  std::shared_ptr<nn::Sequential> net =
      model == "lenet" ? model_zoo::lenet() : model_zoo::alexnet({.classes = 10});
  net->initialize(init::Xavier{});
  gluino::random::seed(100 + std::uint64_t(dist::rank()));  // each rank its own samples
  const auto x = nd::random::uniform<float>({batch, 1, side, side});
  auto y = nd::zeros<float>({batch});
  for (std::size_t i = 0; i < batch; ++i) y.data()[i] = float(i % 10);
  (void)(*net)(x);
  dist::broadcast_parameters(net->collect_params());
  dist::Trainer trainer(net->collect_params(), "sgd", {{"learning_rate", 0.01}, {"momentum", 0.9}},
                        {.overlap = overlap});
  loss::SoftmaxCrossEntropyLoss loss_fn;
  auto one_step = [&] {
    NDArray<float> l;
    {
      autograd::record rec;
      l = loss_fn((*net)(x), y);
    }
    l.backward();
    trainer.step(batch);
  };
  one_step();  // warm up: the pool's blocks, the optimizer's states
  double comm = 0;
  for (auto _ : state) {
    MPI_Barrier(MPI_COMM_WORLD);
    const auto t0 = std::chrono::steady_clock::now();
    one_step();
    state.SetIterationTime(bench::slowest_since(t0));
    double c = trainer.reducer().stats().finish_seconds, worst = 0;
    MPI_Allreduce(&c, &worst, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
    comm += worst;
  }
  const double comm_ms = 1e3 * comm / double(state.iterations());
  state.counters["comm_ms"] = comm_ms;
  state.counters["ranks"] = dist::size();
  state.counters["MB_reduced"] = double(trainer.reducer().stats().bytes) / 1e6;
  if (!overlap) blocking_comm_ms[model] = comm_ms;
  if (overlap && blocking_comm_ms.count(model) && blocking_comm_ms[model] > 0)
    state.counters["hidden"] = 1.0 - comm_ms / blocking_comm_ms[model];
  state.SetItemsProcessed(std::int64_t(state.iterations() * batch * std::size_t(dist::size())));
}
void BM_LeNet_DistStep(benchmark::State& state) { step_bench(state, "lenet"); }
void BM_AlexNet_DistStep(benchmark::State& state) { step_bench(state, "alexnet"); }

BENCHMARK(BM_LeNet_DistStep)->ArgName("overlap")->Arg(0)->Arg(1)->Iterations(30)->UseManualTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_AlexNet_DistStep)->ArgName("overlap")->Arg(0)->Arg(1)->Iterations(4)->UseManualTime()->Unit(benchmark::kMillisecond);
}  // namespace

int main(int argc, char** argv) { return bench::run_benchmarks(argc, argv); }
