// SPDX-License-Identifier: Apache-2.0
// A rank that fails must not leave the others waiting.  `abort_main throw`: rank 1 throws while
// rank 0 waits in a barrier; dist::Environment's destructor, run by the exception, says so and
// calls MPI_Abort, and the whole job ends with an error (CTest: dist/rank_throws).  `abort_main
// kill`: rank 1 is killed (SIGKILL, no handler runs); mpirun sees it die and ends the job
// (CTest: dist/rank_killed).  Both with a timeout: a hang fails them.
//
// `ahead` (CTest: dist/rank_ahead): rank 0 takes one step more than rank 1 (one batch more),
// whose program ends: rank 0's step and rank 1's Environment find that they are in different
// calls; rank 0's exception unwinds to its Environment, rank 1's Environment says so, and the job
// ends with an error (before, rank 0 waited for its gradient sums and rank 1 in MPI_Finalize,
// forever).  `again` (CTest: dist/after_finalize): after the first Environment finalized MPI,
// dist calls and a second Environment are StateErrors (the Environment used to call MPI after
// MPI_Finalize, which OpenMPI answers by aborting); exits 0 after printing them.
#include <gluino/dist/mpi.hpp>
#include <gluino/autograd/mode.hpp>
#include <gluino/nd/creation.hpp>
#include <gluino/nd/reduce.hpp>
#include <gluino/nn/dense.hpp>

#include <csignal>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <string>

int main(int argc, char** argv) {
  using namespace gluino;
  const std::string mode = argc > 1 ? argv[1] : "throw";
  if (mode == "again") {
    { dist::Environment env(argc, argv); }
    // Every dist call after the end: a StateError saying that MPI is not running.
    NDArray<float> x(Shape{2});
    for (auto* call : {+[](NDArray<float>& a) { dist::allreduce_sum(a); },
                       +[](NDArray<float>& a) { dist::broadcast(a); }, +[](NDArray<float>&) { dist::barrier(); },
                       +[](NDArray<float>&) { (void)dist::rank(); }}) {
      try {
        call(x);
        std::printf("a dist call after MPI_Finalize was accepted\n");
        return 1;
      } catch (const StateError& e) {
        std::printf("after the end: %s\n", e.what());
      }
    }
    try {
      dist::Environment again(argc, argv);
      std::printf("a second Environment after MPI_Finalize was accepted\n");
      return 1;
    } catch (const StateError& e) {
      std::printf("second Environment refused: %s\n", e.what());
      return 0;
    }
  }
  try {
    dist::Environment env(argc, argv);
    if (mode == "ahead") {
      nn::Dense d(2, {.in_units = 2});
      d.initialize();
      dist::broadcast_parameters(d.collect_params());
      dist::Trainer trainer(d.collect_params(), "sgd", {{"learning_rate", 0.1}});
      for (int step = 0; step < (dist::rank() == 0 ? 3 : 2); ++step) {
        {
          autograd::record rec;
          d(nd::ones<float>({1, 2})).sum().backward();
        }
        trainer.step(1);
      }
      std::printf("rank %d finished its steps\n", dist::rank());
      return 0;
    }
    if (dist::rank() == 1) {
      if (mode == "kill") std::raise(SIGKILL);
      throw std::runtime_error("rank 1 fails on purpose");
    }
    dist::barrier();  // rank 0 would wait here forever without the abort
    std::printf("rank %d passed the barrier: the abort did not happen\n", dist::rank());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "rank threw: %s\n", e.what());
    return 1;
  }
  return 0;
}
