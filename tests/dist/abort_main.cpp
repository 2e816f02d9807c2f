// SPDX-License-Identifier: Apache-2.0
// A rank that fails must not leave the others waiting.  `abort_main throw`: rank 1 throws while
// rank 0 waits in a barrier; dist::Environment's destructor, run by the exception, says so and
// calls MPI_Abort, and the whole job ends with an error (CTest: dist/rank_throws).  `abort_main
// kill`: rank 1 is killed (SIGKILL, no handler runs); mpirun sees it die and ends the job
// (CTest: dist/rank_killed).  Both with a timeout: a hang fails them.
#include <gluino/dist/mpi.hpp>

#include <csignal>
#include <cstdio>
#include <cstring>
#include <stdexcept>

int main(int argc, char** argv) {
  try {
    gluino::dist::Environment env(argc, argv);
    const bool kill = argc > 1 && std::strcmp(argv[1], "kill") == 0;
    if (gluino::dist::rank() == 1) {
      if (kill) std::raise(SIGKILL);
      throw std::runtime_error("rank 1 fails on purpose");
    }
    gluino::dist::barrier();  // rank 0 would wait here forever without the abort
    std::printf("rank %d passed the barrier: the abort did not happen\n", gluino::dist::rank());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "rank threw: %s\n", e.what());
    return 1;
  }
  return 0;
}
