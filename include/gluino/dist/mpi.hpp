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
///
/// Every collective call of gluino::dist (all but rank(), size(), abort()) starts with one small
/// MPI_Allreduce in which the ranks compare what they are about to do: which call, the sizes,
/// shapes and element types of the arrays or parameters, the options, and whether this rank's
/// own checks passed.  A mismatch, or a check that failed on one rank, is then the same
/// exception on every rank (StateError, ShapeError or ValueError naming what differs), before
/// any data moves: no rank is left waiting in a call the others never make, and no sum mixes
/// arrays of different ranks' meanings.
#include <mpi.h>

#include <algorithm>
#include <array>
#include <bit>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <initializer_list>
#include <limits>
#include <memory>
#include <sstream>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "gluino/autograd/hooks.hpp"
#include "gluino/core/error.hpp"
#include "gluino/core/ndarray.hpp"
#include "gluino/metric/binary_classification.hpp"
#include "gluino/metric/cross_entropy.hpp"
#include "gluino/metric/eval_metric.hpp"
#include "gluino/metric/pearson_correlation.hpp"
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
/// True between MPI_Init and MPI_Finalize.
inline bool mpi_running() {
  int up = 0, down = 0;
  MPI_Initialized(&up);
  MPI_Finalized(&down);
  return up && !down;
}
inline void check_initialized(const char* what) {
  GLUINO_CHECK(StateError, mpi_running(), "dist: ", what,
               ": MPI is not running; create a dist::Environment first (at the top of main(), alive for the whole "
               "program)");
}
template <class T>
MPI_Datatype datatype() {
  static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>, "dist: float or double arrays only");
  return std::is_same_v<T, float> ? MPI_FLOAT : MPI_DOUBLE;
}
template <class T>
constexpr const char* dtype_name() {
  return std::is_same_v<T, float> ? "float32" : "float64";
}
inline const char* grad_req_name(GradReq r) {
  return r == GradReq::null ? "null" : r == GradReq::write ? "write" : "add";
}
/// The local rank, computed by dist::Environment (MPI_Comm_split_type is collective).
inline int& cached_local_rank() {
  static int r = -1;
  return r;
}
/// This rank's rank among the processes of its machine (collective: MPI_Comm_split_type).
inline int compute_local_rank() {
  MPI_Comm local;
  check(MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &local), "MPI_Comm_split_type");
  int r = 0;
  const int rc = MPI_Comm_rank(local, &r);
  MPI_Comm_free(&local);
  check(rc, "MPI_Comm_rank");
  return r;
}

/// FNV-1a over 64-bit words: what the ranks compare instead of whole lists.
class Fingerprint {
 public:
  Fingerprint& add(std::uint64_t v) {
    for (int i = 0; i < 8; ++i) h_ = (h_ ^ ((v >> (8 * i)) & 0xff)) * 1099511628211ull;
    return *this;
  }
  Fingerprint& add(const Shape& s) {
    add(s.ndim());
    for (std::size_t i = 0; i < s.ndim(); ++i) add(s[i]);
    return *this;
  }
  Fingerprint& add(const std::string& s) {
    add(s.size());
    for (char c : s) add(std::uint64_t(static_cast<unsigned char>(c)));
    return *this;
  }
  std::uint64_t value() const { return h_; }

 private:
  std::uint64_t h_ = 14695981039346656037ull;
};

/// The ranks no longer make the same calls (one is in another call, or ran another number of
/// backward passes): what was in flight will never complete, and the job cannot go on.
class Diverged : public StateError {
 public:
  using StateError::StateError;
};

/// The collective calls, as every rank announces them (Agreement).
enum class Call : std::uint64_t {
  broadcast = 1,
  allreduce_sum,
  broadcast_parameters,
  allreduce_gradients,
  reducer_make,
  reducer_finish,
  trainer_step,
  trainer_allreduce_grads,
  trainer_update,
  global_value,
  barrier,
  environment_end,
  check_split,
};
inline const char* call_name(std::uint64_t c) {
  switch (static_cast<Call>(c)) {
    case Call::broadcast: return "dist::broadcast";
    case Call::allreduce_sum: return "dist::allreduce_sum";
    case Call::broadcast_parameters: return "dist::broadcast_parameters";
    case Call::allreduce_gradients: return "dist::allreduce_gradients";
    case Call::reducer_make:
      return "dist::GradientReducer's constructor (or the first finish(), which makes the buckets)";
    case Call::reducer_finish: return "dist::GradientReducer::finish";
    case Call::trainer_step: return "dist::Trainer::step";
    case Call::trainer_allreduce_grads: return "dist::Trainer::allreduce_grads";
    case Call::trainer_update: return "dist::Trainer::update";
    case Call::global_value: return "dist::global_value";
    case Call::barrier: return "dist::barrier";
    case Call::environment_end: return "the end of dist::Environment (the program's end)";
    case Call::check_split: return "dist::check_split";
  }
  return "an unknown call";
}

/// The first step of every collective call: one MPI_Allreduce (MAX over the values and their
/// complements, so every rank learns each value's smallest and largest) of which call this is,
/// whether this rank's own checks passed (`local_error`), and up to `slots` values the caller
/// wants compared.  Throws, on every rank alike, Diverged (a StateError) when the ranks are in
/// different calls, and, when a rank's checks failed, that rank's exception (on it) or one of the same
/// kind quoting its message (on the others).  The caller then compares the values (same(i)).
class Agreement {
 public:
  static constexpr std::size_t slots = 6;
  Agreement(Call call, std::initializer_list<std::uint64_t> values, std::exception_ptr local_error = nullptr) {
    static constexpr std::uint64_t none = std::numeric_limits<std::uint64_t>::max();
    int r = 0;
    check(MPI_Comm_rank(MPI_COMM_WORLD, &r), "MPI_Comm_rank");
    std::uint64_t send[2 * width] = {};
    mine_[0] = std::uint64_t(call);
    mine_[1] = local_error ? std::uint64_t(r) : none;
    std::size_t i = 2;
    for (std::uint64_t v : values)
      if (i < width) mine_[i++] = v;  // callers pass at most `slots`
    for (std::size_t k = 0; k < width; ++k) send[k] = mine_[k], send[width + k] = ~mine_[k];
    std::uint64_t got[2 * width] = {};
    check(MPI_Allreduce(send, got, int(2 * width), MPI_UINT64_T, MPI_MAX, MPI_COMM_WORLD), "MPI_Allreduce");
    for (std::size_t k = 0; k < width; ++k) hi_[k] = got[k], lo_[k] = ~got[width + k];
    if (lo_[0] != hi_[0]) {
      const std::uint64_t other = mine_[0] == lo_[0] ? hi_[0] : lo_[0];
      ::gluino::detail::raise<Diverged>(
          "dist: the ranks are in different collective calls: rank ", r, " is in ", call_name(mine_[0]),
          ", another rank in ", call_name(other),
          ". Every rank must make the same gluino::dist calls in the same order (a rank that takes one more step than "
          "the others, for instance with more batches, or a collective call made on one rank only, leaves the others "
          "waiting); the job cannot go on");
    }
    if (lo_[1] == none) return;
    // A rank's own checks failed: the lowest such rank tells the others why.
    const int who = int(lo_[1]);
    std::uint64_t meta[2] = {0, 0};  // kind (1 state, 2 shape, 3 value), message length
    std::string text;
    if (r == who) {
      try {
        std::rethrow_exception(local_error);
      } catch (const ShapeError& e) {
        meta[0] = 2, text = e.what();
      } catch (const ValueError& e) {
        meta[0] = 3, text = e.what();
      } catch (const std::exception& e) {
        meta[0] = 1, text = e.what();
      } catch (...) {
        meta[0] = 1, text = "an exception that is not a std::exception";
      }
      meta[1] = text.size();
    }
    check(MPI_Bcast(meta, 2, MPI_UINT64_T, who, MPI_COMM_WORLD), "MPI_Bcast");
    text.resize(std::size_t(meta[1]));
    check(MPI_Bcast(text.data(), int(meta[1]), MPI_CHAR, who, MPI_COMM_WORLD), "MPI_Bcast");
    if (local_error) std::rethrow_exception(local_error);
    const std::string message = std::string(call_name(mine_[0])) + " failed on rank " + std::to_string(who) +
                                ", so it did nothing on any rank: " + text;
    if (meta[0] == 2) throw ShapeError(message);
    if (meta[0] == 3) throw ValueError(message);
    throw StateError(message);
  }
  /// Value i (0-based, in the order given): this rank's, and its smallest and largest over the ranks.
  std::uint64_t mine(std::size_t i) const { return mine_[2 + i]; }
  std::uint64_t lo(std::size_t i) const { return lo_[2 + i]; }
  std::uint64_t hi(std::size_t i) const { return hi_[2 + i]; }
  bool same(std::size_t i) const { return lo(i) == hi(i); }

 private:
  static constexpr std::size_t width = 2 + slots;
  std::uint64_t mine_[width] = {}, lo_[width] = {}, hi_[width] = {};
};

/// Runs f, returning what it threw (for Agreement's local_error).
template <class F>
std::exception_ptr capture(F&& f) {
  try {
    f();
  } catch (...) {
    return std::current_exception();
  }
  return nullptr;
}

/// The dict's parameters, each once (a dict may hold a shared parameter under two names: summing
/// its gradient twice would multiply it by the number of ranks).
template <class T>
std::vector<std::shared_ptr<nn::BasicParameter<T>>> unique_params(const nn::BasicParameterDict<T>& params) {
  std::vector<std::shared_ptr<nn::BasicParameter<T>>> out;
  for (const auto& [name, p] : params)
    if (std::find(out.begin(), out.end(), p) == out.end()) out.push_back(p);
  return out;
}
template <class T>
std::string describe(const nn::BasicParameter<T>& p) {
  std::ostringstream os;
  os << "'" << p.name() << "' (shape " << (p.is_initialized() ? p.data().shape() : p.shape()) << ", grad_req "
     << grad_req_name(p.grad_req()) << ", " << dtype_name<T>() << ")";
  return os.str();
}
/// After an Agreement found that the ranks' parameter lists differ (value `count` or `print`,
/// the fingerprint of `each`): ShapeError on every rank naming the first parameter that differs.
/// Collective (every rank saw the same Agreement).
template <class T>
[[noreturn]] void raise_parameters_differ(const char* who, const Agreement& a, std::size_t count,
                                          const std::vector<std::shared_ptr<nn::BasicParameter<T>>>& params,
                                          const std::vector<std::uint64_t>& each) {
  const char* rule =
      " (every rank must build the same model: the same layers in the same order, with the same shapes, grad_req "
      "and element type; parameter names may differ)";
  if (!a.same(count))
    ::gluino::detail::raise<ShapeError>(who, ": the ranks have different numbers of parameters (", a.lo(count),
                                        " to ", a.hi(count), "; this rank has ", a.mine(count), ")", rule);
  std::vector<std::uint64_t> first(each);
  check(MPI_Bcast(first.data(), int(first.size()), MPI_UINT64_T, 0, MPI_COMM_WORLD), "MPI_Bcast");
  std::uint64_t at = each.size(), lowest = 0;
  for (std::size_t i = 0; i < each.size(); ++i)
    if (each[i] != first[i]) {
      at = i;
      break;
    }
  check(MPI_Allreduce(&at, &lowest, 1, MPI_UINT64_T, MPI_MIN, MPI_COMM_WORLD), "MPI_Allreduce");
  if (lowest < params.size())
    ::gluino::detail::raise<ShapeError>(who, ": parameter ", lowest, " differs between the ranks: this rank's is ",
                                        describe(*params[std::size_t(lowest)]), rule);
  ::gluino::detail::raise<ShapeError>(who, ": the ranks' parameters differ", rule);
}
/// Element counts MPI takes in one call.
inline void check_count(std::size_t n, const char* who) {
  GLUINO_CHECK(ValueError, n <= std::size_t(std::numeric_limits<int>::max()), who, ": ", n,
               " elements exceed what one MPI call takes (2^31 - 1)");
}
}  // namespace detail

/// MPI for the lifetime of the object (RAII): MPI_Init_thread (serialized: one thread at a time
/// calls MPI, the one that calls gluino::dist and backward(); gluino's own worker threads never
/// do) unless MPI is already up, and MPI_Finalize at the end if it started MPI.  MPI errors are
/// returned, not fatal, so that each becomes a StateError naming the call.  MPI starts once per
/// process: an Environment made after MPI was finalized is a StateError.  When the Environment
/// is destroyed by an exception (a rank that throws), it calls MPI_Abort: the other ranks stop
/// with an error instead of waiting for it forever.  At its normal end (the one that started
/// MPI) every rank checks that no other rank is still in another gluino::dist call (a rank that
/// took one more step): if one is, it says so and aborts the job instead of hanging in
/// MPI_Finalize.  Collective: every rank makes it and ends it.
class Environment {
 public:
  Environment() : Environment(nullptr, nullptr) {}
  Environment(int& argc, char**& argv) : Environment(&argc, &argv) {}
  ~Environment() {
    if (!detail::mpi_running()) return;  // MPI_Finalize was called by hand: nothing left to do
    int r = -1;
    MPI_Comm_rank(MPI_COMM_WORLD, &r);
    if (std::uncaught_exceptions() > exceptions_) {  // unwinding: the others must not wait
      std::fprintf(stderr, "gluino::dist: rank %d is unwinding an exception; aborting the job (MPI_Abort) so that "
                   "the other ranks do not wait for it\n", r);
      std::fflush(stderr);
      MPI_Abort(MPI_COMM_WORLD, 1);
      return;
    }
    if (!owner_) return;
    try {
      detail::Agreement end(detail::Call::environment_end, {});
    } catch (const std::exception& e) {
      std::fprintf(stderr, "gluino::dist: rank %d: %s; aborting the job (MPI_Abort)\n", r, e.what());
      std::fflush(stderr);
      MPI_Abort(MPI_COMM_WORLD, 1);
      return;
    }
    MPI_Finalize();
  }
  Environment(const Environment&) = delete;
  Environment& operator=(const Environment&) = delete;

 private:
  Environment(int* argc, char*** argv) : exceptions_(std::uncaught_exceptions()) {
    int up = 0, down = 0;
    MPI_Initialized(&up);
    MPI_Finalized(&down);
    GLUINO_CHECK(StateError, !down,
                 "dist::Environment: MPI was finalized already (by an earlier dist::Environment or MPI_Finalize) and "
                 "cannot start again in this process: make one Environment at the top of main(), alive for the whole "
                 "program");
    if (!up) {
      int provided = 0;
      detail::check(MPI_Init_thread(argc, argv, MPI_THREAD_SERIALIZED, &provided), "MPI_Init_thread");
      owner_ = true;
    }
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    detail::cached_local_rank() = detail::compute_local_rank();
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
/// thread count.  Found once by dist::Environment (a collective call), so any rank may ask
/// alone; without an Environment (MPI started by other code) the first call is collective.
inline int local_rank() {
  detail::check_initialized("local_rank");
  if (detail::cached_local_rank() >= 0) return detail::cached_local_rank();
  return detail::cached_local_rank() = detail::compute_local_rank();
}
/// Ends every rank of the job with `code` (MPI_Abort): what a rank that cannot go on calls after
/// reporting why, so that the others do not wait for it.
[[noreturn]] inline void abort(int code = 1) {
  if (detail::mpi_running()) MPI_Abort(MPI_COMM_WORLD, code);
  std::abort();  // MPI_Abort does not return; this keeps [[noreturn]] true if it did
}
/// Waits until every rank reaches it.
inline void barrier() {
  detail::check_initialized("barrier");
  detail::Agreement a(detail::Call::barrier, {});  // an allreduce: no rank leaves before all came
}

/// Copies root's values into x on every rank, in place.  Every rank passes an array of the
/// same shape and element type, and the same root: compared first, so a mismatch is the same
/// ShapeError (sizes, shapes) or ValueError (element types, roots) on every rank.
template <class T>
void broadcast(NDArray<T>& x, int root = 0) {
  detail::check_initialized("broadcast");
  std::uint64_t n = 0, shape = 0;
  auto error = detail::capture([&] {
    GLUINO_CHECK(StateError, x.defined(), "dist::broadcast: the array is empty (an NDArray with no storage)");
    GLUINO_CHECK(ValueError, root >= 0 && root < size(), "dist::broadcast: root ", root, " is not a rank (0 to ",
                 size() - 1, ")");
    detail::check_count(x.size(), "dist::broadcast");
    n = x.size();
    shape = detail::Fingerprint().add(x.shape()).value();
  });
  detail::Agreement a(detail::Call::broadcast, {sizeof(T), std::uint64_t(root), n, shape}, error);
  GLUINO_CHECK(ValueError, a.same(0), "dist::broadcast: the ranks' arrays differ in element type (float32 and float64; "
               "this rank's is ", detail::dtype_name<T>(), ")");
  GLUINO_CHECK(ValueError, a.same(1), "dist::broadcast: the ranks name different roots (", a.lo(1), " to ", a.hi(1),
               "; this rank ", root, ")");
  GLUINO_CHECK(ShapeError, a.same(2), "dist::broadcast: the ranks' arrays differ in size (", a.lo(2), " to ", a.hi(2),
               " elements; this rank's shape ", x.shape(), ")");
  GLUINO_CHECK(ShapeError, a.same(3), "dist::broadcast: the ranks' arrays have the same size but different shapes "
               "(this rank's shape ", x.shape(), ")");
  detail::check(MPI_Bcast(x.data(), int(n), detail::datatype<T>(), root, MPI_COMM_WORLD), "MPI_Bcast");
  x.bump_version();
}
/// Sums x over the ranks, in place on every rank (MPI_Allreduce, MPI_SUM).  Every rank passes an
/// array of the same shape and element type (compared first, as broadcast).
template <class T>
void allreduce_sum(NDArray<T>& x) {
  detail::check_initialized("allreduce_sum");
  std::uint64_t n = 0, shape = 0;
  auto error = detail::capture([&] {
    GLUINO_CHECK(StateError, x.defined(), "dist::allreduce_sum: the array is empty (an NDArray with no storage)");
    detail::check_count(x.size(), "dist::allreduce_sum");
    n = x.size();
    shape = detail::Fingerprint().add(x.shape()).value();
  });
  detail::Agreement a(detail::Call::allreduce_sum, {sizeof(T), n, shape}, error);
  GLUINO_CHECK(ValueError, a.same(0), "dist::allreduce_sum: the ranks' arrays differ in element type (float32 and "
               "float64; this rank's is ", detail::dtype_name<T>(), ")");
  GLUINO_CHECK(ShapeError, a.same(1), "dist::allreduce_sum: the ranks' arrays differ in size (", a.lo(1), " to ",
               a.hi(1), " elements; this rank's shape ", x.shape(), ")");
  GLUINO_CHECK(ShapeError, a.same(2), "dist::allreduce_sum: the ranks' arrays have the same size but different "
               "shapes (this rank's shape ", x.shape(), ")");
  detail::check(MPI_Allreduce(MPI_IN_PLACE, x.data(), int(n), detail::datatype<T>(), MPI_SUM, MPI_COMM_WORLD),
                "MPI_Allreduce");
  x.bump_version();
}

/// Checks that the ranks' samplers share out the epochs of a data set of n samples: the next
/// epoch of a copy of `sampler` (a data::SplitSampler or any sampler with next_epoch(n); the
/// sampler itself is left as it is) on every rank, each index on one rank at most and fewer than
/// size() left out (SplitSampler's drop_last).  ValueError on every rank otherwise: for another n
/// on some rank, an index out of range, an index two ranks share (a seed, shuffle or drop_last
/// that differs, part not rank(), parts not size()), or more left out.  Call it once before
/// training; it sums an array of n counts over the ranks.
template <class Sampler>
void check_split(const Sampler& sampler, std::size_t n) {
  detail::check_initialized("check_split");
  std::vector<std::size_t> part;
  auto error = detail::capture([&] {
    Sampler copy = sampler;
    part = copy.next_epoch(n);
    for (std::size_t i : part)
      GLUINO_CHECK(ValueError, i < n, "dist::check_split: this rank's sampler gives index ", i, " for a data set of ",
                   n, " samples");
    detail::check_count(n, "dist::check_split");
  });
  detail::Agreement a(detail::Call::check_split, {n}, error);
  GLUINO_CHECK(ValueError, a.same(0), "dist::check_split: the ranks' data sets differ in size (", a.lo(0), " to ",
               a.hi(0), " samples; this rank's ", n, ")");
  std::vector<std::uint32_t> seen(n, 0);
  for (std::size_t i : part) seen[i] += 1;
  detail::check(MPI_Allreduce(MPI_IN_PLACE, seen.data(), int(n), MPI_UINT32_T, MPI_SUM, MPI_COMM_WORLD),
                "MPI_Allreduce");
  const char* rule = "; every rank must make its sampler with the same options (seed, shuffle, drop_last), "
                     "size() parts and part rank()";
  std::size_t missing = 0;
  for (std::size_t i = 0; i < n; ++i) {
    GLUINO_CHECK(ValueError, seen[i] <= 1, "dist::check_split: index ", i, " of the epoch is on ", seen[i],
                 " ranks' parts (this rank's part has ", part.size(), " indices)", rule);
    missing += seen[i] == 0;
  }
  GLUINO_CHECK(ValueError, missing < std::size_t(size()), "dist::check_split: ", missing, " of the ", n,
               " indices are on no rank's part (at most ", size() - 1, " are left out by drop_last)", rule);
}

/// Broadcasts every parameter's data from root (so all ranks start equal), each parameter once,
/// in the dict's order.  All or nothing: first every rank checks that its parameters are
/// initialized (StateError naming the first that is not, on every rank: run one forward first
/// when shapes are deferred) and that all ranks hold the same list (ShapeError naming the first
/// parameter whose shape or element type differs; names may differ).
template <class T>
void broadcast_parameters(const nn::BasicParameterDict<T>& params, int root = 0) {
  detail::check_initialized("broadcast_parameters");
  const auto ps = detail::unique_params(params);
  std::vector<std::uint64_t> each;
  auto error = detail::capture([&] {
    GLUINO_CHECK(ValueError, root >= 0 && root < size(), "dist::broadcast_parameters: root ", root,
                 " is not a rank (0 to ", size() - 1, ")");
    for (const auto& p : ps) {
      const NDArray<T> d = p->data();  // StateError naming the parameter when it has no data yet
      detail::check_count(d.size(), "dist::broadcast_parameters");
      each.push_back(detail::Fingerprint().add(d.shape()).value());
    }
  });
  detail::Fingerprint all;
  for (std::uint64_t v : each) all.add(v);
  detail::Agreement a(detail::Call::broadcast_parameters, {sizeof(T), std::uint64_t(root), ps.size(), all.value()},
                      error);
  GLUINO_CHECK(ValueError, a.same(0), "dist::broadcast_parameters: the ranks' parameters differ in element type "
               "(float32 and float64; this rank's are ", detail::dtype_name<T>(), ")");
  GLUINO_CHECK(ValueError, a.same(1), "dist::broadcast_parameters: the ranks name different roots (", a.lo(1), " to ",
               a.hi(1), "; this rank ", root, ")");
  if (!a.same(2) || !a.same(3)) detail::raise_parameters_differ("dist::broadcast_parameters", a, 2, ps, each);
  for (const auto& p : ps) {
    NDArray<T> d = p->data();
    detail::check(MPI_Bcast(d.data(), int(d.size()), detail::datatype<T>(), root, MPI_COMM_WORLD), "MPI_Bcast");
    d.bump_version();
  }
}
/// Sums every parameter's gradient over the ranks (grad_req null skipped; each parameter once):
/// whatever the gradients hold, as they are.  Checked first as broadcast_parameters (every
/// parameter initialized; the same parameters with gradients on every rank).
template <class T>
void allreduce_gradients(const nn::BasicParameterDict<T>& params) {
  detail::check_initialized("allreduce_gradients");
  std::vector<std::shared_ptr<nn::BasicParameter<T>>> ps;
  for (const auto& p : detail::unique_params(params))
    if (p->grad_req() != GradReq::null) ps.push_back(p);
  std::vector<std::uint64_t> each;
  auto error = detail::capture([&] {
    for (const auto& p : ps) {
      const NDArray<T> g = p->grad();
      detail::check_count(g.size(), "dist::allreduce_gradients");
      each.push_back(detail::Fingerprint().add(g.shape()).value());
    }
  });
  detail::Fingerprint all;
  for (std::uint64_t v : each) all.add(v);
  detail::Agreement a(detail::Call::allreduce_gradients, {sizeof(T), ps.size(), all.value()}, error);
  GLUINO_CHECK(ValueError, a.same(0), "dist::allreduce_gradients: the ranks' parameters differ in element type "
               "(float32 and float64; this rank's are ", detail::dtype_name<T>(), ")");
  if (!a.same(1) || !a.same(2)) detail::raise_parameters_differ("dist::allreduce_gradients", a, 1, ps, each);
  for (const auto& p : ps) {
    NDArray<T> g = p->grad();
    detail::check(MPI_Allreduce(MPI_IN_PLACE, g.data(), int(g.size()), detail::datatype<T>(), MPI_SUM, MPI_COMM_WORLD),
                  "MPI_Allreduce");
    g.bump_version();
  }
}

/// Options of the gradient reduction (GradientReducer, dist::Trainer).  Every rank must pass the
/// same (ValueError on every rank otherwise).
struct ReducerOptions {
  /// Gradients are summed in buckets of about this many bytes, each one MPI call (PyTorch
  /// DDP's bucket_cap_mb, 25 MB by default); a parameter larger than this is a bucket alone.
  std::size_t bucket_bytes = std::size_t(25) << 20;
  /// Start each bucket's MPI_Iallreduce during backward, as soon as the last gradient in it is
  /// final (autograd::on_gradient_ready), so that communication overlaps the rest of backward.
  /// false: finish() reduces every bucket.
  bool overlap = true;
};

/// What the last GradientReducer::finish() did.
struct ReducerStats {
  std::size_t buckets = 0;        ///< buckets reduced
  std::size_t started_early = 0;  ///< of those, started during backward (overlapped)
  std::size_t bytes = 0;          ///< bytes of gradients reduced on this rank
  double finish_seconds = 0;      ///< time finish() took: the buckets left, the wait, the copies
};

template <class T>
class BasicTrainer;

/// Sums parameters' gradients over the ranks in buckets, overlapping backward (PyTorch's DDP
/// reducer; what dist::Trainer uses).  Parameters (each once, grad_req null left out) are put in
/// buckets in reverse order (the last layer's first, as backward finishes them), those of
/// grad_req write before those of grad_req add, up to ReducerOptions::bucket_bytes each.  Every
/// rank must build the same buckets: the same parameters (shapes, grad_req, element type) in the
/// same order and the same options, checked when the buckets are made (ShapeError naming the
/// first parameter that differs, ValueError for options), so construction is collective.
///
/// Each bucket is one buffer, and its parameters' gradients become views of it (DDP's
/// gradient_as_bucket_view): backward writes them there, and a bucket reduced in finish() is
/// summed in place.  A gradient-ready hook on each grad_req-write parameter notes that backward
/// wrote its gradient; with overlap, a bucket whose gradients are all written is copied to a
/// buffer of its own and its MPI_Iallreduce started at once, buckets always in the same order.
/// finish() reduces the rest, waits, and copies the sums back.  The buckets are summed on a
/// communicator of the reducer's own (a copy of MPI_COMM_WORLD, made with the buckets), so that
/// the sums a rank started during backward never meet another call of gluino::dist or the
/// program's own; a bucket that may start during backward is always summed by MPI_Iallreduce,
/// also when finish() starts it, so that every rank makes the same calls in the same order.  A
/// gradient array replaced since (attach_grad again, a parameter re-initialized) is moved back
/// into its bucket by finish().
///
/// Which grad_req-write gradients are summed (DDP's unused parameters): one that backward wrote
/// since the last finish() on some rank but not on this one counts as zero here (this rank's
/// samples did not reach it: a branch taken on other ranks only; before, the value it still held,
/// often the last step's sum, was added in).  One that no rank's backward wrote is summed as it
/// is by finish(); dist::Trainer's step() and allreduce_grads() keep its value instead, not
/// summed again (a step without backward applies the last sums again, as the single-process
/// Trainer re-applies the last gradients, not the number of ranks times them), unless its bucket,
/// which backward did not reach, was written by hand since (zero_grad, fill): then it is summed.
/// Gradients of grad_req add are always summed as they are: zero them after each step.
///
/// Rules: every rank runs the same number of backward() passes between two finish() calls (a
/// mismatch found is a StateError on every rank).  A second backward before finish() is handled:
/// its gradients replace the first's and their buckets start again.  Gradients changed by hand
/// after backward and before finish() (clipping, say) are NOT in the sums of buckets already
/// started: call finish() first (dist::Trainer::allreduce_grads()), then change the summed
/// gradients, then update().  Parameters not initialized at construction on some rank: the
/// buckets are made at the first finish() (that step without overlap), where a parameter still
/// not initialized is a StateError on every rank.  Changing a parameter's grad_req, or replacing
/// its gradient by one of another size, after the buckets are made is a StateError at the next
/// finish(): make a new reducer.  With one rank there is nothing to sum.
template <class T>
class BasicGradientReducer {
 public:
  explicit BasicGradientReducer(nn::BasicParameterDict<T> params, ReducerOptions options = {})
      : params_(detail::unique_params(params)), options_(options) {
    detail::check_initialized("GradientReducer");
    make(true);
  }
  BasicGradientReducer(const BasicGradientReducer&) = delete;
  BasicGradientReducer& operator=(const BasicGradientReducer&) = delete;
  /// Waits for reductions still in flight; when unwinding an exception it does not (another
  /// rank may never join them): their buffers are then kept, never freed under MPI.
  ~BasicGradientReducer() {
    for (Member& m : members_) m.hook.remove();
    if (comm_ == MPI_COMM_NULL || !detail::mpi_running()) return;
    if (std::uncaught_exceptions() == 0 && !diverged_) {
      for (Bucket& b : buckets_) MPI_Wait(&b.request, MPI_STATUS_IGNORE);
      for (Retired& r : retired_) MPI_Wait(&r.request, MPI_STATUS_IGNORE);
      MPI_Comm_free(&comm_);
      return;
    }
    for (Bucket& b : buckets_)
      if (b.request != MPI_REQUEST_NULL) new NDArray<T>(b.staging);  // deliberately kept alive
    for (Retired& r : retired_)
      if (r.request != MPI_REQUEST_NULL) new NDArray<T>(r.staging);
  }

  /// Makes every gradient the sum over the ranks: reduces the buckets not started during
  /// backward, waits for the others and copies their sums back.  Collective: every rank calls it.
  void finish() { finish_call(detail::Call::reducer_finish, 0, nullptr, false); }

  /// What the last finish() did (buckets, how many overlapped backward, bytes, time).
  const ReducerStats& stats() const { return stats_; }
  /// The parameters' names in each bucket, in the order the buckets are reduced (empty until
  /// the buckets are made: see the class comment).
  std::vector<std::vector<std::string>> buckets() const {
    std::vector<std::vector<std::string>> out;
    for (const Bucket& b : buckets_) {
      out.emplace_back();
      for (std::size_t i : b.members) out.back().push_back(members_[i].param->name());
    }
    return out;
  }
  const ReducerOptions& options() const { return options_; }

 private:
  friend class BasicTrainer<T>;
  struct Member {
    std::shared_ptr<nn::BasicParameter<T>> param;
    std::size_t bucket = 0, offset = 0, size = 0;
    bool counted = false;  // its gradient arrived in this backward pass (a bucket starts when all did)
    bool reached = false;  // backward wrote its gradient since the last finish()
    const void* leaf = nullptr;  // the data's state the hook is on
    autograd::GradHookHandle hook;
  };
  struct Bucket {
    std::vector<std::size_t> members;
    NDArray<T> buffer;   // the members' gradients are views of it
    NDArray<T> staging;  // what an MPI_Iallreduce started during backward sums
    bool tracked = false;  // grad_req write: which gradients backward wrote is followed
    bool early = false;    // may start during backward (overlap): always summed by MPI_Iallreduce
    std::size_t ready = 0;
    bool started = false;  // started during backward, into staging
    MPI_Request request = MPI_REQUEST_NULL;
    std::uint64_t version = std::numeric_limits<std::uint64_t>::max();  // the buffer's after the last sums
  };
  struct Retired {  // a reduction of an earlier backward pass, still in flight; its sums are dropped
    NDArray<T> staging;
    MPI_Request request = MPI_REQUEST_NULL;
  };

  // Checks that every rank has the same parameters and options (collective) and makes the
  // buckets, unless some rank's parameters wait for their shapes (at construction: the buckets
  // are then made at the first finish(), where that is a StateError).  All or nothing.
  void make(bool at_construction) {
    std::uint64_t ready = 1;
    std::vector<std::uint64_t> each;
    auto error = detail::capture([&] {
      GLUINO_CHECK(ValueError, options_.bucket_bytes > 0, "dist::GradientReducer: bucket_bytes must be > 0");
      for (const auto& p : params_) {
        if (p->grad_req() == GradReq::null) continue;
        if (at_construction && !p->is_initialized()) {
          ready = 0;
          continue;
        }
        const NDArray<T> d = p->data();  // StateError naming the parameter when it has no data
        detail::check_count(d.size(), "dist::GradientReducer");
        each.push_back(detail::Fingerprint().add(d.shape()).add(std::uint64_t(p->grad_req())).value());
      }
    });
    detail::Fingerprint all;
    for (std::uint64_t v : each) all.add(v);
    detail::Agreement a(detail::Call::reducer_make,
                        {sizeof(T), options_.bucket_bytes, options_.overlap, ready, ready ? each.size() : 0,
                         ready ? all.value() : 0},
                        error);
    GLUINO_CHECK(ValueError, a.same(0), "dist::GradientReducer: the ranks' parameters differ in element type "
                 "(float32 and float64; this rank's are ", detail::dtype_name<T>(), ")");
    GLUINO_CHECK(ValueError, a.same(1), "dist::GradientReducer: the ranks' bucket_bytes differ (", a.lo(1), " to ",
                 a.hi(1), "; this rank's ", options_.bucket_bytes, ")");
    GLUINO_CHECK(ValueError, a.same(2), "dist::GradientReducer: overlap is true on some ranks and false on others");
    if (a.lo(3) == 0) return;  // some rank waits for shapes: the buckets are made at the first finish()
    if (!a.same(4) || !a.same(5)) {
      std::vector<std::shared_ptr<nn::BasicParameter<T>>> listed;
      for (const auto& p : params_)
        if (p->grad_req() != GradReq::null) listed.push_back(p);
      detail::raise_parameters_differ("dist::GradientReducer", a, 4, listed, each);
    }
    layout();
  }
  void layout() {
    ranks_ = size();
    // Reverse order: backward finishes the last layers first.  grad_req write before add.
    std::vector<std::shared_ptr<nn::BasicParameter<T>>> order;
    for (const auto& p : params_)
      if (p->grad_req() != GradReq::null) order.push_back(p);
    std::reverse(order.begin(), order.end());
    std::stable_partition(order.begin(), order.end(), [](const auto& p) { return p->grad_req() == GradReq::write; });
    std::vector<Member> members;
    std::vector<Bucket> buckets;
    std::vector<std::size_t> sizes;
    for (const auto& p : order) {
      const bool write = p->grad_req() == GradReq::write;
      if (buckets.empty() || sizes.back() * sizeof(T) >= options_.bucket_bytes || buckets.back().tracked != write) {
        buckets.emplace_back();
        buckets.back().tracked = write;
        buckets.back().early = write && options_.overlap && ranks_ > 1;
        sizes.push_back(0);
      }
      Member m;
      m.param = p;
      m.bucket = buckets.size() - 1;
      m.offset = sizes.back();
      m.size = p->data().size();
      sizes.back() += m.size;
      buckets.back().members.push_back(members.size());
      members.push_back(std::move(m));
    }
    for (std::size_t b = 0; b < buckets.size(); ++b) {
      GLUINO_CHECK(ValueError, sizes[b] <= std::size_t(std::numeric_limits<int>::max()),
                   "dist::GradientReducer: a bucket of ", sizes[b],
                   " elements exceeds what one MPI call takes (2^31 - 1): lower bucket_bytes");
      buckets[b].buffer = NDArray<T>(Shape{sizes[b]});
    }
    // The same on every rank (the parameters agree), so a throw above happened on all of them.
    for (const auto& p : params_) reqs_.push_back(p->grad_req());
    members_ = std::move(members);
    buckets_ = std::move(buckets);
    early_ = 0;
    while (early_ < buckets_.size() && buckets_[early_].early) ++early_;
    if (ranks_ > 1) detail::check(MPI_Comm_dup(MPI_COMM_WORLD, &comm_), "MPI_Comm_dup");
    for (Member& m : members_) bind(m);
    built_ = true;
  }
  // This rank's own checks before a finish(): every parameter as when the buckets were made.
  void validate() const {
    for (std::size_t i = 0; i < params_.size(); ++i) {
      const auto& p = *params_[i];
      GLUINO_CHECK(StateError, p.grad_req() == reqs_[i], "dist::GradientReducer: parameter '", p.name(),
                   "' changed grad_req from ", detail::grad_req_name(reqs_[i]), " to ",
                   detail::grad_req_name(p.grad_req()),
                   " since the buckets were made; make a new dist::Trainer (or GradientReducer) after changing "
                   "grad_req");
    }
    for (const Member& m : members_) {
      const NDArray<T> data = m.param->data();  // StateError when it has no data any more
      const NDArray<T>& grad = data.impl()->grad;
      GLUINO_CHECK(StateError, grad.defined(), "dist::GradientReducer: parameter '", m.param->name(),
                   "' has no gradient attached any more");
      GLUINO_CHECK(ShapeError, grad.size() == m.size, "dist::GradientReducer: parameter '", m.param->name(),
                   "' has a gradient of shape ", grad.shape(), " (", grad.size(), " elements) but had ", m.size,
                   " elements when the buckets were made; make a new dist::Trainer (or GradientReducer)");
    }
  }
  // The finish() of `call` (dist::Trainer's step announces itself, with its batch size):
  // returns the Agreement, whose value 0 is every rank's `batch`.  `keep`: a gradient no rank's
  // backward wrote keeps its value (dist::Trainer); otherwise it is summed as it is.
  // `settings` (values 2 to 5 of the Agreement) are compared by `agreed`, which throws on every
  // rank alike before anything is summed (dist::Trainer's optimizer settings).
  template <class Agreed = void (*)(const detail::Agreement&)>
  detail::Agreement finish_call(detail::Call call, std::uint64_t batch, std::exception_ptr error, bool keep,
                                const std::array<std::uint64_t, 4>& settings = {},
                                Agreed agreed = [](const detail::Agreement&) {}) {
    const auto t0 = std::chrono::steady_clock::now();
    if (!built_) make(false);
    if (!error) error = detail::capture([&] { validate(); });
    try {
      detail::Agreement a(call, {batch, passes_, settings[0], settings[1], settings[2], settings[3]}, error);
      if (!a.same(1))
        ::gluino::detail::raise<detail::Diverged>(
            detail::call_name(std::uint64_t(call)), ": the ranks ran different numbers of backward passes since the "
            "last step (this rank ", passes_ + 1, ", others from ", a.lo(1) + 1, " to ", a.hi(1) + 1,
            "): every rank must run as many backward() per step; the job cannot go on");
      agreed(a);
      finish_agreed(keep);
      stats_.finish_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      return a;
    } catch (const detail::Diverged&) {
      diverged_ = true;  // what is in flight never completes: the destructor must not wait for it
      throw;
    }
  }
  void finish_agreed(bool keep) {
    stats_ = {};
    if (ranks_ > 1) reduce(keep);
    reset();
    passes_ = 0;
    for (Member& m : members_) m.reached = false;
  }
  /// True when backward wrote gradients since the last finish() (dist::Trainer::update checks it).
  bool pending() const {
    for (const Member& m : members_)
      if (m.reached) return true;
    return false;
  }
  void reduce(bool keep) {
    for (Member& m : members_) bind(m);
    // Which tracked gradients are new since the last finish(), here and on any rank: written by
    // backward, or (keep) in a bucket that backward did not reach but something else wrote.
    std::vector<std::uint64_t> here((members_.size() + 63) / 64, 0), anywhere(here.size(), 0);
    std::vector<char> bucket_reached(buckets_.size(), 0);
    for (const Member& m : members_)
      if (m.reached) bucket_reached[m.bucket] = 1;
    for (std::size_t i = 0; i < members_.size(); ++i) {
      const Member& m = members_[i];
      const Bucket& b = buckets_[m.bucket];
      const bool fresh = !b.tracked || m.reached ||
                         (keep && !bucket_reached[m.bucket] && b.buffer.version() != b.version);
      if (fresh) here[i / 64] |= std::uint64_t(1) << (i % 64);
    }
    detail::check(MPI_Allreduce(here.data(), anywhere.data(), int(here.size()), MPI_UINT64_T, MPI_BOR, MPI_COMM_WORLD),
                  "MPI_Allreduce");
    auto bit = [](const std::vector<std::uint64_t>& v, std::size_t i) { return (v[i / 64] >> (i % 64)) & 1; };
    // Not new here but new elsewhere: zero (this rank's samples did not reach it).  New nowhere:
    // with keep, kept as it is, not summed again (put aside, zero in the sum, put back), and a
    // bucket of such gradients only is not reduced at all; without, summed as it is.
    std::vector<std::pair<std::size_t, std::vector<T>>> kept;
    std::vector<char> skip(buckets_.size(), 1);
    for (std::size_t i = 0; i < members_.size(); ++i) {
      const Member& m = members_[i];
      T* slot = buckets_[m.bucket].buffer.data() + m.offset;
      if (bit(anywhere, i) || !keep) skip[m.bucket] = 0;
      if (bit(here, i) || (!keep && !bit(anywhere, i))) continue;
      if (!bit(anywhere, i)) kept.emplace_back(i, std::vector<T>(slot, slot + m.size));
      std::fill(slot, slot + m.size, T(0));
    }
    for (std::size_t b = 0; b < buckets_.size(); ++b) {
      Bucket& bucket = buckets_[b];
      if (bucket.started) {
        ++stats_.started_early;
        continue;
      }
      if (skip[b]) continue;  // not started anywhere either: started means every gradient in it was new
      NDArray<T>& buffer = bucket.buffer;
      if (bucket.early)  // the same kind of call on every rank, whether or not another started it early
        detail::check(MPI_Iallreduce(MPI_IN_PLACE, buffer.data(), int(buffer.size()), detail::datatype<T>(), MPI_SUM,
                                     comm_, &bucket.request),
                      "MPI_Iallreduce");
      else
        detail::check(MPI_Allreduce(MPI_IN_PLACE, buffer.data(), int(buffer.size()), detail::datatype<T>(), MPI_SUM,
                                    comm_),
                      "MPI_Allreduce");
    }
    std::vector<MPI_Request> requests;
    for (Bucket& b : buckets_) requests.push_back(b.request);
    for (Retired& r : retired_) requests.push_back(r.request);
    detail::check(MPI_Waitall(int(requests.size()), requests.data(), MPI_STATUSES_IGNORE), "MPI_Waitall");
    retired_.clear();
    for (std::size_t b = 0; b < buckets_.size(); ++b) {
      Bucket& bucket = buckets_[b];
      bucket.request = MPI_REQUEST_NULL;
      if (bucket.started) std::copy(bucket.staging.begin(), bucket.staging.end(), bucket.buffer.begin());
      if (bucket.started || !skip[b]) {
        ++stats_.buckets;
        stats_.bytes += bucket.buffer.size() * sizeof(T);
      }
    }
    for (const auto& [i, values] : kept)
      std::copy(values.begin(), values.end(), buckets_[members_[i].bucket].buffer.data() + members_[i].offset);
    for (Bucket& b : buckets_) {
      b.buffer.bump_version();
      b.version = b.buffer.version();
    }
  }
  // The gradients now hold what the last sums and the update used (dist::Trainer after an
  // update: clipping between allreduce_grads() and update() is not a new gradient).
  void settle() {
    for (Bucket& b : buckets_) b.version = b.buffer.version();
  }
  // Makes m's gradient a view of its bucket (its values copied there) unless it is one already,
  // and puts the gradient-ready hook on the parameter's data (grad_req write, several ranks).
  void bind(Member& m) {
    const NDArray<T> data = m.param->data();
    NDArray<T>& grad = data.impl()->grad;
    if (!grad.defined() || grad.size() != m.size) return;  // validate() says so at finish()
    NDArray<T>& buffer = buckets_[m.bucket].buffer;
    if (grad.data() != buffer.data() + m.offset) {
      std::copy(grad.begin(), grad.end(), buffer.data() + m.offset);
      grad = buffer.view_as(grad.shape(), m.offset);
    }
    if (buckets_[m.bucket].tracked && ranks_ > 1 && data.impl().get() != m.leaf) {
      m.leaf = data.impl().get();
      const std::size_t index = std::size_t(&m - members_.data());
      m.hook = autograd::on_gradient_ready<T>(data, [this, index](const NDArray<T>&) { ready(index); });
    }
  }
  // A gradient is final: note it; with overlap, start the buckets that are full, in order, and
  // let MPI progress those in flight.
  void ready(std::size_t index) {
    Member& m = members_[index];
    m.reached = true;
    if (!buckets_[m.bucket].early) return;
    if (m.counted) restart();  // a second backward before finish()
    m.counted = true;
    ++buckets_[m.bucket].ready;
    while (next_ < early_ && buckets_[next_].ready == buckets_[next_].members.size()) start(next_++);
    std::vector<MPI_Request> requests;
    for (Bucket& b : buckets_)
      if (b.request != MPI_REQUEST_NULL) requests.push_back(b.request);
    int done = 0;
    if (!requests.empty())
      detail::check(MPI_Testall(int(requests.size()), requests.data(), &done, MPI_STATUSES_IGNORE), "MPI_Testall");
    if (done)
      for (Bucket& b : buckets_) b.request = MPI_REQUEST_NULL;
  }
  // Starts bucket b's sum during backward, on a copy: backward may still write the gradients.
  void start(std::size_t b) {
    Bucket& bucket = buckets_[b];
    for (std::size_t i : bucket.members) bind(members_[i]);
    if (!bucket.staging.defined()) bucket.staging = NDArray<T>(bucket.buffer.shape());
    std::copy(bucket.buffer.begin(), bucket.buffer.end(), bucket.staging.begin());
    detail::check(MPI_Iallreduce(MPI_IN_PLACE, bucket.staging.data(), int(bucket.staging.size()),
                                 detail::datatype<T>(), MPI_SUM, comm_, &bucket.request),
                  "MPI_Iallreduce");
    bucket.started = true;
  }
  // A new backward pass before finish(): the pass before is dropped.  Its cycle of reductions is
  // completed first (the buckets it did not start are started too, so that every rank makes the
  // same calls however far its pass got), left in flight (finish() waits for them: waiting here
  // could wait for a rank that is already in finish()), and counting starts from zero.
  void restart() {
    std::erase_if(retired_, [](Retired& r) {  // those done already (a reducer restarted at every pass)
      int done = 0;
      return MPI_Test(&r.request, &done, MPI_STATUS_IGNORE) == MPI_SUCCESS && done;
    });
    for (; next_ < early_; ++next_) start(next_);
    for (Bucket& b : buckets_)
      if (b.started) {
        retired_.push_back({std::move(b.staging), b.request});
        b.staging = NDArray<T>();
      }
    reset();
    ++passes_;
  }
  void reset() {
    for (Bucket& b : buckets_) b.ready = 0, b.started = false, b.request = MPI_REQUEST_NULL;
    for (Member& m : members_) m.counted = false;
    next_ = 0;
  }

  std::vector<std::shared_ptr<nn::BasicParameter<T>>> params_;
  std::vector<GradReq> reqs_;  // params_'s grad_req when the buckets were made
  ReducerOptions options_;
  int ranks_ = 1;
  bool built_ = false;
  bool diverged_ = false;  // a Diverged was thrown: the sums in flight will never complete
  MPI_Comm comm_ = MPI_COMM_NULL;  // the buckets' sums (several ranks)
  std::vector<Member> members_;
  std::vector<Bucket> buckets_;
  std::size_t early_ = 0;  // buckets_[0, early_) may start during backward
  std::size_t next_ = 0;   // the next bucket to start
  std::uint64_t passes_ = 0;  // backward passes dropped (restart) since the last finish()
  std::vector<Retired> retired_;
  ReducerStats stats_;
};
using GradientReducer = BasicGradientReducer<float>;

/// A Trainer for data-parallel training (Gluon: Trainer(..., kvstore="dist_sync")): step(B),
/// with B this rank's batch size, sums the gradients over the ranks (a GradientReducer: in
/// buckets, overlapping backward) and updates with them scaled by 1 / (the sum of every rank's
/// B), so that N ranks take the step one process takes on all their samples together (N x B
/// when all pass B; the last, shorter batch of an epoch may differ between ranks).  Every rank
/// must call step() equally often; B = 0 on a rank is a ValueError on every rank, before
/// anything is summed, and so is whatever the update would refuse (Trainer::check_step: a
/// parameter not initialized, a rate the optimizer refuses), so that a refused step leaves the
/// gradients this rank's own.  Every rank must also update alike: step() and update() compare
/// the optimizer (its name, the options given by name, rescale_grad, wd, clip_gradient), the
/// rate each parameter's update will get (set_learning_rate, the lr_scheduler), num_update
/// (begin_num_update, load_states) and the parameters' lr_mult and wd_mult, and any difference
/// is a ValueError on every rank before anything is summed or updated (the ranks' weights
/// would drift apart silently otherwise).  An optimizer passed as an object is compared by
/// those; its own hyper-parameters (momentum, betas) are not seen: give the same on every rank.
/// To change the summed gradients before the update (clipping), call
/// allreduce_grads(), change them, then update(B): Gluon's three calls.  A type of its own
/// rather than an option of gluino::Trainer, so that the core Trainer needs no MPI.
/// Collective to construct (see GradientReducer).
template <class T>
class BasicTrainer {
 public:
  BasicTrainer(nn::BasicParameterDict<T> params, const std::string& optimizer,
               const optim::OptimizerOptions& options = {}, ReducerOptions reducer = {})
      : trainer_(params, optimizer, options), reducer_(std::move(params), reducer) {
    for (const auto& [key, value] : options)  // those of every optimizer are compared as the optimizer holds them
      if (key != "learning_rate" && key != "wd" && key != "rescale_grad" && key != "clip_gradient" &&
          key != "begin_num_update")
        options_.add(key).add(std::bit_cast<std::uint64_t>(value));
  }
  BasicTrainer(nn::BasicParameterDict<T> params, std::shared_ptr<optim::BasicOptimizer<T>> optimizer,
               ReducerOptions reducer = {})
      : trainer_(params, std::move(optimizer)), reducer_(std::move(params), reducer) {}

  /// allreduce_grads(), then update(batch_size), with one check of every rank's batch size first.
  void step(std::size_t batch_size) {
    std::array<std::uint64_t, 4> s{};
    auto error = detail::capture([&] {
      GLUINO_CHECK(ValueError, batch_size > 0, "dist::Trainer: step: batch_size must be > 0 (this rank's batch)");
      trainer_.check_step(batch_size);  // what the update would refuse, before anything is summed
      s = settings();  // asks the lr_scheduler, which may throw
    });
    const detail::Agreement a = reducer_.finish_call(detail::Call::trainer_step, batch_size, error, true, s,
                                                     [this](const detail::Agreement& b) { check_settings(b, "step"); });
    trainer_.step(global_batch(a));
    reducer_.settle();
  }
  /// Makes every gradient the sum over the ranks (waits for the buckets started in backward).
  void allreduce_grads() { reducer_.finish_call(detail::Call::trainer_allreduce_grads, 0, nullptr, true); }
  /// The optimizer's update with the summed gradients, at the global batch size (the sum of
  /// every rank's batch_size).
  void update(std::size_t batch_size) {
    detail::check_initialized("dist::Trainer::update");
    auto error = detail::capture([&] {
      GLUINO_CHECK(ValueError, batch_size > 0, "dist::Trainer: update: batch_size must be > 0 (this rank's batch)");
    });
    if (!error)
      error = detail::capture([&] {
        GLUINO_CHECK(StateError, !reducer_.pending(), "dist::Trainer: update: backward wrote gradients since the last "
                     "allreduce_grads(), so they are this rank's own, not the sums: call allreduce_grads() before "
                     "update() (or step(), which does both)");
      });
    std::array<std::uint64_t, 4> s{};
    if (!error) error = detail::capture([&] {
      trainer_.check_step(batch_size);
      s = settings();
    });
    const detail::Agreement a(detail::Call::trainer_update, {batch_size, 0, s[0], s[1], s[2], s[3]}, error);
    check_settings(a, "update");
    trainer_.step(global_batch(a));
    reducer_.settle();
  }
  double learning_rate() const { return trainer_.learning_rate(); }
  void set_learning_rate(double lr) { trainer_.set_learning_rate(lr); }
  /// The single-process Trainer underneath (its optimizer, states, save_states / load_states).
  gluino::BasicTrainer<T>& local() { return trainer_; }
  /// The gradient reducer (its buckets, and what its last reduction did).
  const BasicGradientReducer<T>& reducer() const { return reducer_; }

 private:
  // The sum of every rank's batch size (value 0 of the Agreement): collective when they differ.
  static std::size_t global_batch(const detail::Agreement& a) {
    if (a.same(0)) return std::size_t(a.mine(0)) * std::size_t(size());
    std::uint64_t mine = a.mine(0), sum = 0;
    detail::check(MPI_Allreduce(&mine, &sum, 1, MPI_UINT64_T, MPI_SUM, MPI_COMM_WORLD), "MPI_Allreduce");
    return std::size_t(sum);
  }
  static std::uint64_t bits(double v) { return std::bit_cast<std::uint64_t>(v); }
  // What every rank's update must agree on (values 2 to 5 of a step's Agreement): the optimizer
  // (its name, options, rescale_grad, wd, clip_gradient); the rate each parameter's update will
  // get (before lr_mult, at the num_update it will see, as Trainer::check_step foresees it); the
  // update count; each parameter's lr_mult and wd_mult.
  std::array<std::uint64_t, 4> settings() const {
    const optim::BasicOptimizer<T>& o = trainer_.optimizer();
    detail::Fingerprint kind = options_, rates, mults;
    kind.add(o.name()).add(bits(rescale_)).add(bits(o.wd())).add(bits(o.clip_gradient()));
    std::size_t n = o.num_update();
    for (std::size_t i = 0; i < trainer_.params().size(); ++i) {
      const auto& p = *trainer_.params()[i];
      if (p.grad_req() == GradReq::null) continue;
      n = o.next_num_update(i, n);
      rates.add(bits(o.learning_rate_at(n)));
      mults.add(bits(p.lr_mult())).add(bits(p.wd_mult()));
    }
    return {kind.value(), rates.value(), o.num_update(), mults.value()};
  }
  // After the Agreement of a step or update: ValueError on every rank when the ranks' settings()
  // differ, before anything is summed (step) or updated.
  void check_settings(const detail::Agreement& a, const char* call) const {
    const optim::BasicOptimizer<T>& o = trainer_.optimizer();
    const char* tail = "; every rank must make its dist::Trainer with the same optimizer and options and change them "
                       "alike; no parameter was updated";
    GLUINO_CHECK(ValueError, a.same(2), "dist::Trainer: ", call, ": the ranks' optimizers differ (the optimizer, its "
                 "options, rescale_grad, wd or clip_gradient; this rank's: ", o.name(), ", rescale_grad ", rescale_,
                 ", wd ", o.wd(), ", clip_gradient ", o.clip_gradient(), ")", tail);
    GLUINO_CHECK(ValueError, a.same(3), "dist::Trainer: ", call, ": the ranks' learning rates differ (this rank's "
                 "is ", o.learning_rate(), " at num_update ", o.num_update(), ", or its lr_scheduler differs)", tail);
    GLUINO_CHECK(ValueError, a.same(4), "dist::Trainer: ", call, ": the ranks' optimizers' update counts differ "
                 "(num_update ", a.lo(4), " to ", a.hi(4), "; this rank's ", a.mine(4), "; begin_num_update, or "
                 "load_states on some ranks only)", tail);
    GLUINO_CHECK(ValueError, a.same(5), "dist::Trainer: ", call, ": the ranks' parameters have a different lr_mult or "
                 "wd_mult", tail);
  }
  gluino::BasicTrainer<T> trainer_;
  BasicGradientReducer<T> reducer_;
  detail::Fingerprint options_;  // the options given by name that only this optimizer has
  double rescale_ = trainer_.optimizer().rescale_grad();  // before any step sets it to rescale_grad / B
};
using Trainer = BasicTrainer<float>;

/// A metric's value over every rank's updates (what an epoch line of a data-parallel run
/// prints): its sum and count summed over the ranks, then divided; Perplexity takes exp of that,
/// as its get().  F1, MCC and PearsonCorrelation averaged "micro" are computed from their
/// statistics merged over the ranks (their counts, their moments), not from the ranks' values.
/// NaN when no rank has updates.  Collective; every rank passes the same metric (its kind, name
/// and average: ValueError on every rank otherwise).  A metric of one's own whose get() is not
/// sum_metric / num_inst cannot be combined this way.  Gluon's metrics on dist_sync do the same
/// through the kvstore.
template <class T>
std::pair<std::string, double> global_value(const metric::BasicEvalMetric<T>& m) {
  detail::check_initialized("global_value");
  enum Kind : std::uint64_t { plain = 1, perplexity, f1, mcc, pearson, other_counts };
  using Counts = metric::BasicAveragedMetric<T, metric::BinaryCounts>;
  using Moments = metric::BasicAveragedMetric<T, metric::PearsonMoments>;
  std::uint64_t kind = plain, micro = 0, macro = 0;
  std::size_t weight = m.num_inst();
  if (dynamic_cast<const metric::BasicPerplexity<T>*>(&m)) kind = perplexity;
  if (auto* c = dynamic_cast<const Counts*>(&m)) {
    kind = dynamic_cast<const metric::BasicF1<T>*>(&m)    ? f1
           : dynamic_cast<const metric::BasicMCC<T>*>(&m) ? mcc
                                                          : other_counts;
    weight = c->stats().weight();
  }
  if (auto* p = dynamic_cast<const Moments*>(&m)) {
    kind = pearson;
    weight = p->stats().weight();
  }
  if (kind >= f1 && m.num_inst() > 0) {  // "micro" keeps its statistics; "macro" leaves them empty
    micro = weight == m.num_inst() && weight > 0;
    macro = !micro;
  }
  const std::string name = m.get().first;
  auto error = detail::capture([&] {
    GLUINO_CHECK(ValueError, !(kind == other_counts && micro), "dist::global_value: metric '", name,
                 "' averages \"micro\" with a score of its own over binary counts, which global_value cannot compute; "
                 "combine its stats() by hand");
  });
  detail::Agreement a(detail::Call::global_value, {kind, detail::Fingerprint().add(name).value(), micro, macro},
                      error);
  GLUINO_CHECK(ValueError, a.same(0) && a.same(1), "dist::global_value: the ranks pass different metrics (this rank's "
               "is '", name, "')");
  GLUINO_CHECK(ValueError, !(a.hi(2) && a.hi(3)), "dist::global_value: metric '", name,
               "' averages \"micro\" on some ranks and \"macro\" on others");
  const double nan = std::numeric_limits<double>::quiet_NaN();
  if (a.hi(2) && (kind == f1 || kind == mcc)) {  // micro: the score of the counts summed over the ranks
    metric::BinaryCounts c = dynamic_cast<const Counts&>(m).stats();
    double v[4] = {c.tp, c.fp, c.fn, c.tn};
    detail::check(MPI_Allreduce(MPI_IN_PLACE, v, 4, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD), "MPI_Allreduce");
    c.tp = v[0], c.fp = v[1], c.fn = v[2], c.tn = v[3];
    return {name, c.weight() == 0 ? nan : kind == f1 ? c.f1() : c.mcc()};
  }
  if (a.hi(2) && kind == pearson) {  // micro: r of the moments merged over the ranks, in rank order
    const metric::PearsonMoments s = dynamic_cast<const Moments&>(m).stats();
    const double mine[7] = {s.n, s.mean_l, s.mean_p, s.m2_l, s.m2_p, s.c, double(s.batches)};
    std::vector<double> all(7 * std::size_t(size()));
    detail::check(MPI_Allgather(mine, 7, MPI_DOUBLE, all.data(), 7, MPI_DOUBLE, MPI_COMM_WORLD), "MPI_Allgather");
    metric::PearsonMoments merged;
    for (std::size_t k = 0; k < all.size(); k += 7) {
      if (all[k] == 0) continue;
      const metric::PearsonMoments one{all[k], all[k + 1], all[k + 2], all[k + 3], all[k + 4], all[k + 5],
                                       std::size_t(all[k + 6])};
      if (merged.n == 0)
        merged = one;
      else
        merged += one;
    }
    return {name, merged.batches == 0 ? nan : merged.r()};
  }
  double sums[2] = {m.sum_metric(), double(m.num_inst())};
  detail::check(MPI_Allreduce(MPI_IN_PLACE, sums, 2, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD), "MPI_Allreduce");
  const double value = sums[1] > 0 ? sums[0] / sums[1] : nan;
  return {name, kind == perplexity ? std::exp(value) : value};
}

}  // namespace gluino::dist
