// SPDX-License-Identifier: Apache-2.0
// gluino vs LibTorch, side by side: each run of each workload happens in a fresh child process
// (so peak RSS is that framework's own: gluino's runs exec compare_gluino, a program of the same
// directory linked without LibTorch; LibTorch's runs are forked from this one), alternating
// gluino, LibTorch in NCHW and LibTorch in channels_last (NHWC), and the table reports the
// median img/s of each with its min-max, the ratio of gluino's median to the faster LibTorch's,
// the achieved GFLOP/s of gluino and of the faster LibTorch with their share of the machine's
// FP32 peak (measured first with an FMA loop on the same threads: bench/peak_flops.hpp), ms per
// phase and peak RSS.
//
//   compare [--runs 5] [--only lenet|alexnet|vgg11_quarter] [--threads 2]
//
// LibTorch's Linear layers and some of its convolutions call the system BLAS (libblas.so.3,
// chosen by Debian's alternatives).  When that is the netlib reference BLAS, LibTorch runs
// several times slower than with OpenBLAS and the comparison means nothing, so the program names
// the BLAS it found and refuses the reference one unless --allow-reference-blas is given.
// Both libraries' products run on that OpenBLAS; when it chose kernels older than the CPU (a
// model it does not know: kernels/blas_core.hpp), both run several times slower than they could,
// so the program refuses that too, naming the OPENBLAS_CORETYPE to set, unless --allow-slow-blas.
#include <link.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "../peak_flops.hpp"
#include "gluino_side.hpp"
#include "torch_side.hpp"

namespace {

bool in_process = false;  // --in-process: no fork (for profilers); peak RSS then covers both
std::string cache_limit_mb;  // --cache-limit-mb, passed on to compare_gluino

/// compare_gluino in this program's directory.
std::string gluino_runner() {
  char buf[PATH_MAX];
  const ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  std::string self = n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string();
  const auto slash = self.rfind('/');
  return (slash == std::string::npos ? std::string(".") : self.substr(0, slash)) + "/compare_gluino";
}

/// Runs default_workloads()[index] (with w's thread count) on gluino's side or LibTorch's.
compare::Result run_in_child(const compare::Workload& w, std::size_t index, bool torch_side) {
  if (in_process) return torch_side ? compare::run_torch(w) : compare::run_gluino(w);
  int fd[2];
  if (pipe(fd) != 0) std::abort();
  const pid_t pid = fork();
  if (pid == 0) {
    close(fd[0]);
    if (!torch_side) {
      const std::string runner = gluino_runner(), workload = std::to_string(index), threads = std::to_string(w.threads),
                        out = std::to_string(fd[1]);
      std::vector<const char*> args = {runner.c_str(), "--workload", workload.c_str(), "--threads", threads.c_str(),
                                       "--result-fd", out.c_str()};
      if (!cache_limit_mb.empty()) args.insert(args.end(), {"--cache-limit-mb", cache_limit_mb.c_str()});
      args.push_back(nullptr);
      execv(runner.c_str(), const_cast<char* const*>(args.data()));
      std::fprintf(stderr, "compare: cannot run %s: %s\n", runner.c_str(), std::strerror(errno));
      _exit(3);
    }
    compare::Result r = torch_side ? compare::run_torch(w) : compare::run_gluino(w);
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    r.peak_rss_kib = ru.ru_maxrss;
    if (write(fd[1], &r, sizeof r) != static_cast<ssize_t>(sizeof r)) _exit(2);
    _exit(0);
  }
  close(fd[1]);
  compare::Result r;
  const ssize_t n = read(fd[0], &r, sizeof r);
  close(fd[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  if (n != static_cast<ssize_t>(sizeof r) || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::fprintf(stderr, "compare: the %s run of '%s' failed\n", torch_side ? "LibTorch" : "gluino", w.label.c_str());
    std::exit(1);
  }
  return r;
}

/// The FP32 peak of `threads` threads, measured in a child process: OpenMP threads started in
/// this process before it forks would leave the workloads' children's OpenMP deadlocked.
double peak_in_child(int threads) {
  int fd[2];
  if (pipe(fd) != 0) std::abort();
  const pid_t pid = fork();
  if (pid == 0) {
    close(fd[0]);
    const double p = gluino_bench::measure_peak_flops(threads);
    if (write(fd[1], &p, sizeof p) != static_cast<ssize_t>(sizeof p)) _exit(2);
    _exit(0);
  }
  close(fd[1]);
  double p = 0;
  const ssize_t n = read(fd[0], &p, sizeof p);
  close(fd[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  if (n != static_cast<ssize_t>(sizeof p) || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::fprintf(stderr, "compare: measuring the peak failed\n");
    std::exit(1);
  }
  return p;
}

/// The resolved path of the libblas.so.3 loaded into this process ("" if none).
std::string loaded_blas() {
  std::string found;
  dl_iterate_phdr(
      [](dl_phdr_info* info, std::size_t, void* out) {
        const std::string name = info->dlpi_name ? info->dlpi_name : "";
        if (name.find("libblas.so") != std::string::npos) {
          char buf[PATH_MAX];
          *static_cast<std::string*>(out) = realpath(name.c_str(), buf) ? buf : name;
          return 1;
        }
        return 0;
      },
      &found);
  return found;
}

/// Debian installs the reference BLAS as .../blas/libblas.so.3; OpenBLAS, BLIS and ATLAS have
/// their own directories.
bool is_reference_blas(const std::string& path) { return path.find("/blas/libblas.so") != std::string::npos; }

struct Summary {
  std::vector<compare::Result> runs;
  double median(double compare::Result::*field) const {
    std::vector<double> v;
    for (const auto& r : runs) v.push_back(r.*field);
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
  }
  double min_ips() const {
    double m = 1e300;
    for (const auto& r : runs) m = std::min(m, r.img_per_s);
    return m;
  }
  double max_ips() const {
    double m = 0;
    for (const auto& r : runs) m = std::max(m, r.img_per_s);
    return m;
  }
  long peak_rss() const {
    long m = 0;
    for (const auto& r : runs) m = std::max(m, r.peak_rss_kib);
    return m;
  }
};

}  // namespace

int main(int argc, char** argv) {
  int runs = 5, threads = 2;
  bool allow_reference_blas = false, allow_slow_blas = false;
  std::string only;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--runs" && i + 1 < argc) runs = std::atoi(argv[++i]);
    else if (a == "--threads" && i + 1 < argc) threads = std::atoi(argv[++i]);
    else if (a == "--only" && i + 1 < argc) only = argv[++i];
    else if (a == "--in-process") in_process = true;
    else if (a == "--allow-reference-blas") allow_reference_blas = true;
    else if (a == "--allow-slow-blas") allow_slow_blas = true;
    else if (a == "--cache-limit-mb" && i + 1 < argc) {
      cache_limit_mb = argv[++i];
      gluino::set_memory_cache_limit(std::stoul(cache_limit_mb) << 20);  // for --in-process
    }
    else {
      std::fprintf(stderr, "usage: compare [--runs N] [--threads N] [--only lenet|alexnet|vgg11_quarter] [--in-process] "
                           "[--cache-limit-mb N] [--allow-reference-blas] [--allow-slow-blas]\n");
      return 2;
    }
  }
  const std::string blas = loaded_blas();
  if (is_reference_blas(blas) && !allow_reference_blas) {
    std::fprintf(stderr,
                 "compare: LibTorch would use the reference BLAS (%s), which makes it several times slower than it "
                 "is with OpenBLAS; install OpenBLAS (apt-get install libopenblas0-pthread) for a fair comparison, "
                 "or pass --allow-reference-blas\n",
                 blas.c_str());
    return 2;
  }
  const std::string advice = gluino::kernels::blas_coretype_advice();
  if (!advice.empty() && !allow_slow_blas) {
    std::fprintf(stderr,
                 "compare: OpenBLAS chose its %s kernels, older than this CPU's vectors (it does not know the CPU's "
                 "model), for gluino's products and LibTorch's; run with OPENBLAS_CORETYPE=%s in the environment, or "
                 "pass --allow-slow-blas\n",
                 gluino::kernels::blas_core().c_str(), advice.c_str());
    return 2;
  }
  const double peak = peak_in_child(threads);
  std::printf("gluino vs LibTorch %s (BLAS: %s%s): %d alternating runs per workload, %d threads, float32\n"
              "gluino's matrix products: %s\n"
              "FP32 peak of %d threads, measured with an %s FMA loop: %.1f GFLOP/s\n\n",
              TORCH_VERSION, blas.empty() ? "none loaded" : blas.c_str(), is_reference_blas(blas) ? ", the REFERENCE BLAS" : "",
              runs, threads, gluino::kernels::gemm_backend().c_str(), threads, gluino_bench::peak_isa().c_str(), peak / 1e9);
  std::printf("| workload | gluino img/s (min-max) | LibTorch NCHW img/s (min-max) | LibTorch channels_last img/s (min-max) "
              "| ratio to the faster LibTorch | gluino GFLOP/s (of peak) | faster LibTorch GFLOP/s (of peak) "
              "| gluino fwd/bwd/upd ms | faster LibTorch fwd/bwd/upd ms | peak RSS gluino / LibTorch |\n"
              "|---|---|---|---|---|---|---|---|---|---|\n");
  const auto workloads = compare::default_workloads();
  for (std::size_t index = 0; index < workloads.size(); ++index) {
    compare::Workload w = workloads[index];
    if (!only.empty() && w.model != only) continue;
    w.threads = threads;
    compare::Workload wc = w;
    wc.channels_last = true;
    Summary g, t, tc;
    for (int r = 0; r < runs; ++r) {
      g.runs.push_back(run_in_child(w, index, false));
      t.runs.push_back(run_in_child(w, index, true));
      tc.runs.push_back(run_in_child(wc, index, true));
    }
    using R = compare::Result;
    const double gi = g.median(&R::img_per_s), ti = t.median(&R::img_per_s), tci = tc.median(&R::img_per_s);
    const Summary& best = tci > ti ? tc : t;
    const double bi = std::max(ti, tci), flops = compare::flops_per_image(w);
    std::printf("| %s | %.0f (%.0f-%.0f) | %.0f (%.0f-%.0f) | %.0f (%.0f-%.0f) | %.2fx | %.1f (%.0f%%) | %.1f (%.0f%%) "
                "| %.1f / %.1f / %.1f | %.1f / %.1f / %.1f | %ld / %ld MiB |\n",
                w.label.c_str(), gi, g.min_ips(), g.max_ips(), ti, t.min_ips(), t.max_ips(), tci, tc.min_ips(),
                tc.max_ips(), gi / bi, gi * flops / 1e9, 100.0 * gi * flops / peak, bi * flops / 1e9,
                100.0 * bi * flops / peak, g.median(&R::forward_ms), g.median(&R::backward_ms), g.median(&R::update_ms),
                best.median(&R::forward_ms), best.median(&R::backward_ms), best.median(&R::update_ms),
                g.peak_rss() / 1024, best.peak_rss() / 1024);
    std::fflush(stdout);
  }
  return 0;
}
