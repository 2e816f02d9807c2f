// SPDX-License-Identifier: Apache-2.0
#pragma once
/// gluino::dist: data-parallel training over MPI (Gluon's kvstore "dist_sync", PyTorch's
/// DistributedDataParallel), on Debian's OpenMPI.  Needs MPI: link the optional CMake target
/// gluino::mpi; the rest of gluino does not include this header.  docs/distributed.md.
///
///   int main(int argc, char** argv) {
///     dist::Environment env(argc, argv);            // MPI_Init_thread ... MPI_Finalize
///     auto net = model_zoo::lenet();
///     net->initialize();
///     (*net)(sample);                               // deferred shapes
///     dist::broadcast_parameters(net->collect_params());   // every rank starts from rank 0's
///     dist::Trainer trainer(net->collect_params(), "sgd", {{"learning_rate", 0.1}});
///     ... autograd::record, backward, trainer.step(local_batch_size) ...
///   }
#include <mpi.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "gluino/core/error.hpp"
#include "gluino/core/ndarray.hpp"
#include "gluino/nn/parameter_dict.hpp"
#include "gluino/optim/trainer.hpp"

namespace gluino::dist {

namespace detail {
/// Throws StateError naming the MPI call and MPI's own message when rc is not MPI_SUCCESS.
inline void check(int rc, const char* call) {
  if (rc == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(rc, text, &len);
  ::gluino::detail::raise<StateError>("dist: ", call, " failed: ", std::string(text, std::size_t(len)));
}
inline void check_initialized(const char* what) {
  int up = 0, down = 0;
  MPI_Initialized(&up);
  MPI_Finalized(&down);
  GLUINO_CHECK(StateError, up && !down, "dist: ", what, ": MPI is not running; create a dist::Environment first");
}
template <class T>
MPI_Datatype datatype() {
  static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>, "dist: float or double arrays only");
  return std::is_same_v<T, float> ? MPI_FLOAT : MPI_DOUBLE;
}
}  // namespace detail

/// MPI for the lifetime of the object (RAII): MPI_Init_thread (funneled: gluino's own threads
/// never call MPI) unless MPI is already up, and MPI_Finalize at the end if it started MPI.
/// MPI errors are returned, not fatal, so that each becomes a StateError naming the call.  When
/// the Environment is destroyed by an exception (a rank that throws), it calls MPI_Abort: the
/// other ranks stop with an error instead of waiting for it forever.
class Environment {
 public:
  Environment() : Environment(nullptr, nullptr) {}
  Environment(int& argc, char**& argv) : Environment(&argc, &argv) {}
  ~Environment() {
    if (std::uncaught_exceptions() > exceptions_) {  // unwinding: the others must not wait
      int r = -1;
      MPI_Comm_rank(MPI_COMM_WORLD, &r);
      std::fprintf(stderr, "gluino::dist: rank %d is unwinding an exception; aborting the job (MPI_Abort) so that "
                   "the other ranks do not wait for it\n", r);
      std::fflush(stderr);
      MPI_Abort(MPI_COMM_WORLD, 1);
      return;
    }
    int down = 0;
    MPI_Finalized(&down);
    if (owner_ && !down) MPI_Finalize();
  }
  Environment(const Environment&) = delete;
  Environment& operator=(const Environment&) = delete;

 private:
  Environment(int* argc, char*** argv) : exceptions_(std::uncaught_exceptions()) {
    int up = 0;
    MPI_Initialized(&up);
    if (!up) {
      int provided = 0;
      detail::check(MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided), "MPI_Init_thread");
      owner_ = true;
    }
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  }
  bool owner_ = false;
  int exceptions_ = 0;
};

/// This process's rank in MPI_COMM_WORLD (0 to size() - 1).
inline int rank() {
  detail::check_initialized("rank");
  int r = 0;
  detail::check(MPI_Comm_rank(MPI_COMM_WORLD, &r), "MPI_Comm_rank");
  return r;
}
/// The number of processes.
inline int size() {
  detail::check_initialized("size");
  int n = 0;
  detail::check(MPI_Comm_size(MPI_COMM_WORLD, &n), "MPI_Comm_size");
  return n;
}
/// The rank among the processes of this machine (shared memory), e.g. to pick a device or
/// thread count.
inline int local_rank() {
  detail::check_initialized("local_rank");
  MPI_Comm local;
  detail::check(MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &local),
                "MPI_Comm_split_type");
  int r = 0;
  const int rc = MPI_Comm_rank(local, &r);
  MPI_Comm_free(&local);
  detail::check(rc, "MPI_Comm_rank");
  return r;
}
/// Ends every rank of the job with `code` (MPI_Abort): what a rank that cannot go on calls after
/// reporting why, so that the others do not wait for it.
[[noreturn]] inline void abort(int code = 1) {
  MPI_Abort(MPI_COMM_WORLD, code);
  std::abort();  // MPI_Abort does not return; this keeps [[noreturn]] true if it did
}
/// Waits until every rank reaches it.
inline void barrier() {
  detail::check_initialized("barrier");
  detail::check(MPI_Barrier(MPI_COMM_WORLD), "MPI_Barrier");
}

/// Copies root's values into x on every rank, in place.  Every rank passes an array of the
/// same shape (ShapeError otherwise, on every rank: the shapes are compared first).
template <class T>
void broadcast(NDArray<T>& x, int root = 0) {
  detail::check_initialized("broadcast");
  GLUINO_CHECK(StateError, x.defined(), "dist: broadcast: the array is empty");
  std::uint64_t n = x.size(), lo = 0, hi = 0;
  detail::check(MPI_Allreduce(&n, &lo, 1, MPI_UINT64_T, MPI_MIN, MPI_COMM_WORLD), "MPI_Allreduce");
  detail::check(MPI_Allreduce(&n, &hi, 1, MPI_UINT64_T, MPI_MAX, MPI_COMM_WORLD), "MPI_Allreduce");
  GLUINO_CHECK(ShapeError, lo == hi, "dist: broadcast: the ranks' arrays differ in size (", lo, " to ", hi,
               " elements; this rank's shape ", x.shape(), ")");
  detail::check(MPI_Bcast(x.data(), int(n), detail::datatype<T>(), root, MPI_COMM_WORLD), "MPI_Bcast");
  x.bump_version();
}
/// Sums x over the ranks, in place on every rank (MPI_Allreduce, MPI_SUM).
template <class T>
void allreduce_sum(NDArray<T>& x) {
  detail::check_initialized("allreduce_sum");
  GLUINO_CHECK(StateError, x.defined(), "dist: allreduce_sum: the array is empty");
  GLUINO_CHECK(ValueError, x.size() <= std::size_t(INT32_MAX), "dist: allreduce_sum: ", x.size(),
               " elements exceed one MPI call's count");
  detail::check(MPI_Allreduce(MPI_IN_PLACE, x.data(), int(x.size()), detail::datatype<T>(), MPI_SUM, MPI_COMM_WORLD),
                "MPI_Allreduce");
  x.bump_version();
}

/// Broadcasts every initialized parameter's data from root (so all ranks start equal).
/// StateError for a parameter not initialized yet (run one forward first when shapes are
/// deferred); the parameters are visited in the dict's order, the same on every rank.
template <class T>
void broadcast_parameters(const nn::BasicParameterDict<T>& params, int root = 0) {
  for (const auto& [name, p] : params) {
    NDArray<T> d = p->data();
    broadcast(d, root);
  }
}
/// Sums every parameter's gradient over the ranks (grad_req null skipped).
template <class T>
void allreduce_gradients(const nn::BasicParameterDict<T>& params) {
  for (const auto& [name, p] : params) {
    if (p->grad_req() == GradReq::null) continue;
    NDArray<T> g = p->grad();
    allreduce_sum(g);
  }
}

/// A Trainer for data-parallel training (Gluon: Trainer(..., kvstore="dist_sync")): step(B),
/// with B this rank's batch size, sums the gradients over the ranks and updates with them
/// scaled by 1 / (B * size()), so that N ranks at batch B take the step one process takes at
/// batch N * B on the same samples.  Every rank must call step() equally often.  A type of its
/// own rather than an option of gluino::Trainer, so that the core Trainer needs no MPI.
template <class T>
class BasicTrainer {
 public:
  BasicTrainer(nn::BasicParameterDict<T> params, const std::string& optimizer, const optim::OptimizerOptions& options = {})
      : params_(params), trainer_(std::move(params), optimizer, options) {}
  BasicTrainer(nn::BasicParameterDict<T> params, std::shared_ptr<optim::BasicOptimizer<T>> optimizer)
      : params_(params), trainer_(std::move(params), std::move(optimizer)) {}

  /// Allreduce of the gradients, then the update at the global batch size.
  void step(std::size_t batch_size) {
    GLUINO_CHECK(ValueError, batch_size > 0, "dist::Trainer: step: batch_size must be > 0");
    allreduce_gradients(params_);
    trainer_.step(batch_size * std::size_t(size()));
  }
  double learning_rate() const { return trainer_.learning_rate(); }
  void set_learning_rate(double lr) { trainer_.set_learning_rate(lr); }
  /// The single-process Trainer underneath (its optimizer, states, save_states / load_states).
  gluino::BasicTrainer<T>& local() { return trainer_; }

 private:
  nn::BasicParameterDict<T> params_;
  gluino::BasicTrainer<T> trainer_;
};
using Trainer = BasicTrainer<float>;

}  // namespace gluino::dist
