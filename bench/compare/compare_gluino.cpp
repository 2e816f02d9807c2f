// SPDX-License-Identifier: Apache-2.0
// The gluino side of compare_torch as a program of its own, linked without LibTorch: compare_torch
// starts it (fork + exec) for every gluino run, so that run's peak RSS is gluino's alone.  A child
// merely forked from compare_torch would carry LibTorch's libraries and the heap its static
// initialisers built (about 140 MiB), counted against gluino.
//
//   compare_gluino --workload I --threads N --result-fd F [--cache-limit-mb N]
//
// runs default_workloads()[I] and writes its compare::Result, peak RSS included, to file
// descriptor F.  Exit status 0 on success, 2 on bad arguments or a failed write.
#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "gluino_side.hpp"

int main(int argc, char** argv) {
  long index = -1, threads = 2, fd = -1;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    const long v = std::strtol(argv[i + 1], nullptr, 10);
    if (a == "--workload") index = v;
    else if (a == "--threads") threads = v;
    else if (a == "--result-fd") fd = v;
    else if (a == "--cache-limit-mb") gluino::set_memory_cache_limit(static_cast<std::size_t>(v) << 20);
    else index = -1, i = argc;
  }
  const auto workloads = compare::default_workloads();
  if (argc % 2 != 1 || index < 0 || index >= static_cast<long>(workloads.size()) || threads < 1 || fd < 0) {
    std::fprintf(stderr, "usage: compare_gluino --workload I --threads N --result-fd F [--cache-limit-mb N]\n");
    return 2;
  }
  compare::Workload w = workloads[static_cast<std::size_t>(index)];
  w.threads = static_cast<int>(threads);
  compare::Result r = compare::run_gluino(w);
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  r.peak_rss_kib = ru.ru_maxrss;
  return write(static_cast<int>(fd), &r, sizeof r) == static_cast<ssize_t>(sizeof r) ? 0 : 2;
}
