// SPDX-License-Identifier: Apache-2.0
// A rank that throws must not leave the others waiting: rank 1 throws while rank 0 waits in a
// barrier; dist::Environment's destructor, run by the exception, says so and calls MPI_Abort,
// and the whole job ends with an error (CTest: dist/rank_throws, with a timeout).
#include <gluino/dist/mpi.hpp>

#include <cstdio>
#include <stdexcept>

int main(int argc, char** argv) {
  try {
    gluino::dist::Environment env(argc, argv);
    if (gluino::dist::rank() == 1) throw std::runtime_error("rank 1 fails on purpose");
    gluino::dist::barrier();  // rank 0 would wait here forever without the abort
    std::printf("rank %d passed the barrier: the abort did not happen\n", gluino::dist::rank());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "rank threw: %s\n", e.what());
    return 1;
  }
  return 0;
}
