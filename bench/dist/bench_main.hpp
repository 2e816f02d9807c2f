// SPDX-License-Identifier: Apache-2.0
#pragma once
// main() of the MPI benchmarks (bench/dist): every rank runs every benchmark with the same fixed
// iteration counts (each iteration is a collective), rank 0 alone reports.  Run under mpirun:
//   mpirun -np 2 build/release/bench/bench_allreduce
#include <gluino/dist/mpi.hpp>

#include <benchmark/benchmark.h>

#include <chrono>

namespace gluino::bench {

/// Reports nothing (the ranks other than 0).
class Silent : public benchmark::BenchmarkReporter {
 public:
  bool ReportContext(const Context&) override { return true; }
  void ReportRuns(const std::vector<Run>&) override {}
};

/// Seconds since t0, the slowest rank's: a collective takes as long as its last rank.
inline double slowest_since(std::chrono::steady_clock::time_point t0) {
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), worst = 0;
  MPI_Allreduce(&s, &worst, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
  return worst;
}

inline int run_benchmarks(int argc, char** argv) {
  dist::Environment env(argc, argv);
  benchmark::Initialize(&argc, argv);
  if (dist::rank() == 0) {
    benchmark::RunSpecifiedBenchmarks();
  } else {
    Silent silent;
    benchmark::RunSpecifiedBenchmarks(&silent);
  }
  benchmark::Shutdown();
  return 0;
}

}  // namespace gluino::bench
