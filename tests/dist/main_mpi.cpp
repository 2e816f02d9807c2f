// SPDX-License-Identifier: Apache-2.0
// doctest's main for the MPI tests: MPI up for the whole run (dist::Environment), and every
// rank exits with the worst rank's status, so that a check failing on one rank fails the run.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <gluino/dist/mpi.hpp>

int main(int argc, char** argv) {
  gluino::dist::Environment env(argc, argv);
  doctest::Context context(argc, argv);
  if (gluino::dist::rank() != 0) context.setOption("out", "/dev/null");  // one report, rank 0's
  int rc = context.run();
  int worst = 0;
  MPI_Allreduce(&rc, &worst, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  return worst;
}
