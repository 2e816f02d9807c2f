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

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <limits>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "gluino/autograd/hooks.hpp"
#include "gluino/core/error.hpp"
#include "gluino/core/ndarray.hpp"
#include "gluino/metric/eval_metric.hpp"
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

/// Options of the gradient reduction (GradientReducer, dist::Trainer).
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

/// Sums parameters' gradients over the ranks in buckets, overlapping backward (PyTorch's DDP
/// reducer; what dist::Trainer uses).  Parameters are put in buckets in reverse order (the
/// last layer's first, as backward finishes them) up to ReducerOptions::bucket_bytes each;
/// every rank must build the same buckets (same parameters, same order: checked when they are
/// made, which is therefore collective: every rank constructs its reducer).
///
/// Each bucket is one buffer, and its parameters' gradients become views of it (DDP's
/// gradient_as_bucket_view): backward writes them there, and a bucket reduced in finish() is
/// summed in place, with no copy (a blocking MPI_Allreduce).  During backward, a gradient-ready
/// hook on each parameter (grad_req write) counts the bucket's finished gradients; a full bucket
/// is copied to a buffer of its own and its non-blocking MPI_Iallreduce started, buckets always
/// in the same order on every rank; finish() waits for them and copies the sums back.  A
/// gradient array replaced since (attach_grad again, a parameter re-initialized) is moved back
/// into its bucket by the next finish().
///
/// Rules: every rank runs the same number of backward() passes between two finish() calls.  A
/// second backward before finish() (grad_req write) is handled: its gradients replace the
/// first's and their buckets start again.  Gradients changed by hand after backward and before
/// finish() (clipping, say) are NOT in the sums of buckets already started: call finish()
/// first (dist::Trainer::allreduce_grads()), then change the summed gradients, then update().
/// Parameters not initialized at construction: the buckets are made at the first finish()
/// (that step without overlap).  With one rank there is nothing to sum: finish() returns.
template <class T>
class BasicGradientReducer {
 public:
  explicit BasicGradientReducer(nn::BasicParameterDict<T> params, ReducerOptions options = {})
      : params_(std::move(params)), options_(options) {
    GLUINO_CHECK(ValueError, options_.bucket_bytes > 0, "dist: GradientReducer: bucket_bytes must be > 0");
    detail::check_initialized("GradientReducer");
    bool ready = true;
    for (const auto& [name, p] : params_) ready = ready && (p->grad_req() == GradReq::null || p->is_initialized());
    if (ready) build();
  }
  BasicGradientReducer(const BasicGradientReducer&) = delete;
  BasicGradientReducer& operator=(const BasicGradientReducer&) = delete;
  /// Waits for reductions still in flight; when unwinding an exception it does not (another
  /// rank may never join them): their buffers are then kept, never freed under MPI.
  ~BasicGradientReducer() {
    hooks_.clear();
    if (!in_flight()) return;
    int down = 0;
    MPI_Finalized(&down);
    if (std::uncaught_exceptions() == 0 && !down) {
      for (Bucket& b : buckets_) MPI_Wait(&b.request, MPI_STATUS_IGNORE);
      return;
    }
    for (Bucket& b : buckets_)
      if (b.request != MPI_REQUEST_NULL) new NDArray<T>(b.staging);  // deliberately kept alive
  }

  /// Makes every gradient the sum over the ranks: reduces the buckets not started during
  /// backward, waits for the others and copies their sums back.  Collective: every rank calls it.
  void finish() {
    const auto t0 = std::chrono::steady_clock::now();
    if (!built_) build();
    stats_ = {};
    if (ranks_ > 1) {
      for (Member& m : members_) bind(m);
      for (Bucket& b : buckets_) stats_.started_early += b.started;
      for (; next_ < buckets_.size(); ++next_) {
        NDArray<T>& buffer = buckets_[next_].buffer;
        detail::check(MPI_Allreduce(MPI_IN_PLACE, buffer.data(), int(buffer.size()), detail::datatype<T>(), MPI_SUM,
                                    MPI_COMM_WORLD),
                      "MPI_Allreduce");
      }
      std::vector<MPI_Request> requests;
      for (Bucket& b : buckets_) requests.push_back(b.request);
      detail::check(MPI_Waitall(int(requests.size()), requests.data(), MPI_STATUSES_IGNORE), "MPI_Waitall");
      for (Bucket& b : buckets_) {
        b.request = MPI_REQUEST_NULL;
        if (b.started) std::copy(b.staging.begin(), b.staging.end(), b.buffer.begin());
        b.buffer.bump_version();
        stats_.bytes += b.buffer.size() * sizeof(T);
      }
      stats_.buckets = buckets_.size();
    }
    reset();
    stats_.finish_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }

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
  struct Member {
    std::shared_ptr<nn::BasicParameter<T>> param;
    std::size_t bucket = 0, offset = 0;
    bool hooked = false, counted = false;
    const void* leaf = nullptr;  // the data's state the hook is on
  };
  struct Bucket {
    std::vector<std::size_t> members;
    NDArray<T> buffer;   // the members' gradients are views of it
    NDArray<T> staging;  // what an MPI_Iallreduce started during backward sums
    std::size_t ready = 0;
    bool started = false;
    MPI_Request request = MPI_REQUEST_NULL;
  };

  void build() {
    ranks_ = size();
    // Reverse order: backward finishes the last layers first.  Hooked parameters (grad_req
    // write) before the others, whose buckets can only start in finish().
    std::vector<std::shared_ptr<nn::BasicParameter<T>>> order;
    for (const auto& [name, p] : params_)
      if (p->grad_req() != GradReq::null) order.push_back(p);
    std::reverse(order.begin(), order.end());
    std::stable_partition(order.begin(), order.end(), [&](const auto& p) { return can_hook(*p); });
    std::uint64_t total = 0;
    for (const auto& p : order) total += p->data().size();
    std::uint64_t local[2] = {order.size(), total}, lo[2] = {}, hi[2] = {};
    detail::check(MPI_Allreduce(local, lo, 2, MPI_UINT64_T, MPI_MIN, MPI_COMM_WORLD), "MPI_Allreduce");
    detail::check(MPI_Allreduce(local, hi, 2, MPI_UINT64_T, MPI_MAX, MPI_COMM_WORLD), "MPI_Allreduce");
    GLUINO_CHECK(ShapeError, lo[0] == hi[0] && lo[1] == hi[1], "dist: GradientReducer: the ranks' parameters differ (",
                 lo[0], " to ", hi[0], " parameters, ", lo[1], " to ", hi[1], " elements; this rank has ", local[0],
                 " and ", local[1], ")");
    std::vector<std::size_t> sizes;
    for (const auto& p : order) {
      if (buckets_.empty() || sizes.back() * sizeof(T) >= options_.bucket_bytes ||
          can_hook(*p) != members_[buckets_.back().members.front()].hooked) {
        buckets_.emplace_back();
        sizes.push_back(0);
      }
      Member m;
      m.param = p;
      m.bucket = buckets_.size() - 1;
      m.offset = sizes.back();
      m.hooked = can_hook(*p);
      sizes.back() += p->data().size();
      buckets_.back().members.push_back(members_.size());
      members_.push_back(std::move(m));
    }
    for (std::size_t b = 0; b < buckets_.size(); ++b) {
      GLUINO_CHECK(ValueError, sizes[b] <= std::size_t(INT32_MAX), "dist: GradientReducer: a bucket of ", sizes[b],
                   " elements exceeds one MPI call's count");
      buckets_[b].buffer = NDArray<T>(Shape{sizes[b]});
    }
    for (Member& m : members_) bind(m);
    built_ = true;
  }
  bool can_hook(const nn::BasicParameter<T>& p) const {
    return options_.overlap && ranks_ > 1 && p.grad_req() == GradReq::write;
  }
  // Makes m's gradient a view of its bucket (its values copied there) unless it is one already,
  // and puts the gradient-ready hook on the parameter's data.
  void bind(Member& m) {
    const NDArray<T> data = m.param->data();
    NDArray<T>& grad = data.impl()->grad;
    GLUINO_CHECK(StateError, grad.defined(), "dist: GradientReducer: parameter '", m.param->name(),
                 "' has no gradient any more (grad_req null since the reducer was made)");
    NDArray<T>& buffer = buckets_[m.bucket].buffer;
    if (grad.data() != buffer.data() + m.offset) {
      std::copy(grad.begin(), grad.end(), buffer.data() + m.offset);
      grad = buffer.view_as(grad.shape(), m.offset);
    }
    if (m.hooked && data.impl().get() != m.leaf) {
      m.leaf = data.impl().get();
      const std::size_t index = std::size_t(&m - members_.data());
      hooks_.push_back(autograd::on_gradient_ready<T>(data, [this, index](const NDArray<T>&) { ready(index); }));
    }
  }
  // A gradient is final: count it, start the buckets that are full, in order, and let MPI
  // progress those in flight.
  void ready(std::size_t index) {
    Member& m = members_[index];
    if (buckets_[m.bucket].started) restart();  // a second backward before finish()
    if (!m.counted) {
      m.counted = true;
      ++buckets_[m.bucket].ready;
    }
    while (next_ < buckets_.size() && buckets_[next_].ready == buckets_[next_].members.size()) start(next_++);
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
                                 detail::datatype<T>(), MPI_SUM, MPI_COMM_WORLD, &bucket.request),
                  "MPI_Iallreduce");
    bucket.started = true;
  }
  // Waits for the buckets in flight (their sums are dropped) and counts from zero again.
  void restart() {
    for (Bucket& b : buckets_) detail::check(MPI_Wait(&b.request, MPI_STATUS_IGNORE), "MPI_Wait");
    reset();
  }
  void reset() {
    for (Bucket& b : buckets_) b.ready = 0, b.started = false, b.request = MPI_REQUEST_NULL;
    for (Member& m : members_) m.counted = false;
    next_ = 0;
  }
  bool in_flight() const {
    for (const Bucket& b : buckets_)
      if (b.request != MPI_REQUEST_NULL) return true;
    return false;
  }

  nn::BasicParameterDict<T> params_;
  ReducerOptions options_;
  int ranks_ = 1;
  bool built_ = false;
  std::vector<Member> members_;
  std::vector<Bucket> buckets_;
  std::size_t next_ = 0;  // the next bucket to start
  std::vector<autograd::GradHookHandle> hooks_;
  ReducerStats stats_;
};
using GradientReducer = BasicGradientReducer<float>;

/// A Trainer for data-parallel training (Gluon: Trainer(..., kvstore="dist_sync")): step(B),
/// with B this rank's batch size, sums the gradients over the ranks (a GradientReducer: in
/// buckets, overlapping backward) and updates with them scaled by 1 / (B * size()), so that N
/// ranks at batch B take the step one process takes at batch N * B on the same samples.  Every
/// rank must call step() equally often.  To change the summed gradients before the update
/// (clipping), call allreduce_grads(), change them, then update(B): Gluon's three calls.  A type
/// of its own rather than an option of gluino::Trainer, so that the core Trainer needs no MPI.
/// Collective to construct (see GradientReducer).
template <class T>
class BasicTrainer {
 public:
  BasicTrainer(nn::BasicParameterDict<T> params, const std::string& optimizer, const optim::OptimizerOptions& options = {},
               ReducerOptions reducer = {})
      : trainer_(params, optimizer, options), reducer_(std::move(params), reducer) {}
  BasicTrainer(nn::BasicParameterDict<T> params, std::shared_ptr<optim::BasicOptimizer<T>> optimizer,
               ReducerOptions reducer = {})
      : trainer_(params, std::move(optimizer)), reducer_(std::move(params), reducer) {}

  /// allreduce_grads(), then update(batch_size).
  void step(std::size_t batch_size) {
    GLUINO_CHECK(ValueError, batch_size > 0, "dist::Trainer: step: batch_size must be > 0");
    allreduce_grads();
    update(batch_size);
  }
  /// Makes every gradient the sum over the ranks (waits for the buckets started in backward).
  void allreduce_grads() { reducer_.finish(); }
  /// The optimizer's update with the summed gradients, at the global batch size.
  void update(std::size_t batch_size) {
    GLUINO_CHECK(ValueError, batch_size > 0, "dist::Trainer: update: batch_size must be > 0");
    trainer_.step(batch_size * std::size_t(size()));
  }
  double learning_rate() const { return trainer_.learning_rate(); }
  void set_learning_rate(double lr) { trainer_.set_learning_rate(lr); }
  /// The single-process Trainer underneath (its optimizer, states, save_states / load_states).
  gluino::BasicTrainer<T>& local() { return trainer_; }
  /// The gradient reducer (its buckets, and what its last reduction did).
  const BasicGradientReducer<T>& reducer() const { return reducer_; }

 private:
  gluino::BasicTrainer<T> trainer_;
  BasicGradientReducer<T> reducer_;
};
using Trainer = BasicTrainer<float>;


/// A metric's value over every rank's updates: its sum and count summed over the ranks, then
/// divided (what an epoch line of a data-parallel run prints).  Collective.  Gluon's metrics
/// on dist_sync do the same through the kvstore.
template <class T>
std::pair<std::string, double> global_value(const metric::BasicEvalMetric<T>& m) {
  NDArray<double> sums(Shape{2});
  sums.data()[0] = m.sum_metric();
  sums.data()[1] = double(m.num_inst());
  allreduce_sum(sums);
  const double n = sums.data()[1];
  return {m.get().first, n > 0 ? sums.data()[0] / n : std::numeric_limits<double>::quiet_NaN()};
}

}  // namespace gluino::dist
