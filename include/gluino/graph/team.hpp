// SPDX-License-Identifier: Apache-2.0
#pragma once
/// The team schedule of a graph run without recording on a batch smaller than the thread count
/// (batch-1 inference): the ops split over threads inside each image, one team for a run of
/// consecutive nodes with a barrier between them, instead of each op running on one thread
/// (the ops split the batch, so an image is one thread's work).  Graph::run (graph.hpp) takes it
/// for the nodes TeamStep::prepare accepts: convolutions on im2col + GEMM, the pointwise
/// product, the wide or the single-channel direct kernel (output rows split, or on the wide
/// kernel with planes smaller than kernels::wide_channel_split_bytes output channels in blocks
/// of its register tile; the wide kernel's filters packed once per graph, PackedFilters), max
/// and average pooling (output rows split, or planes), fully_connected (output units split),
/// relu (elements split) and reshape (a view, no work); a convolution and a pooling of its
/// output may run as one step, without a barrier between (fuse_pooling: the pooling's planes
/// split as the convolution's channels, or its rows as the convolution's when the windows do
/// not overlap along them), and a relu of a fully_connected's output that nothing else reads
/// runs in the product's step (absorb_relu).
/// No barrier after the last step: the team's end waits for every thread.  The other
/// nodes run as in any run, between teams.  Each step
/// computes what its op's forward computes, by the same kernels on parts of the output: the
/// same values up to rounding (a product over part of the output may sum in another order).
/// docs/hybridize.md.
#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <optional>
#include <typeinfo>
#include <vector>

#include "gluino/autograd/trace.hpp"
#include "gluino/core/arena.hpp"
#include "gluino/core/ndarray.hpp"
#include "gluino/core/parallel.hpp"
#include "gluino/core/storage.hpp"
#include "gluino/graph/content_key.hpp"
#include "gluino/kernels/conv2d.hpp"
#include "gluino/kernels/gemm.hpp"
#include "gluino/kernels/pool.hpp"
#include "gluino/nd/conv.hpp"
#include "gluino/nd/elementwise.hpp"
#include "gluino/nd/linalg.hpp"
#include "gluino/nd/pool.hpp"
#include "gluino/nd/shape_ops.hpp"

namespace gluino::graph {

/// A graph's convolution filters packed for the wide kernel (kernels/conv2d_wide.hpp), kept
/// across runs: packed again when the weight holds other values (an optimizer step, set_data,
/// loading parameters, a write through data()) or the geometry differs, found by comparing a
/// copy of the weight at every run (ContentKey), as the folded batch norms are.  Several threads
/// may run one graph: behind a mutex; a run keeps its own handle to the packing it got.
template <class T>
class PackedFilters {
 public:
  /// The packing of w for node `node`'s convolution g.
  NDArray<T> get(std::size_t node, const kernels::Conv2DGeometry& g, const NDArray<T>& w) {
    const std::lock_guard<std::mutex> lock(mutex_);
    if (entries_.size() <= node) entries_.resize(node + 1);
    Entry& e = entries_[node];
    const kernels::WideLayout l = kernels::wide_layout<T>(g);
    const std::array<std::size_t, 5> geometry{g.O, g.C, g.kh, g.kw, l.block};
    if (e.packed.defined() && e.geometry == geometry && e.weights.matches(&w, 1)) return e.packed;
    const ::gluino::detail::ArenaScope pool(nullptr);  // kept past the run: not from its arena
    NDArray<T> packed(Shape{l.packed});
    kernels::direct_wide_pack(g, l, w.data(), packed.data());
    e.packed = NDArray<T>();  // a failed copy below leaves no entry
    e.weights.record(&w, 1);
    e.geometry = geometry;
    e.packed = packed;
    ++packings_;
    return packed;
  }
  /// How many packings it made (tests).
  std::size_t packings() const {
    const std::lock_guard<std::mutex> lock(mutex_);
    return packings_;
  }

 private:
  struct Entry {
    std::array<std::size_t, 5> geometry{};  // O, C, kh, kw and the kernel's block
    ContentKey<T> weights;                  // what the weight held when packed
    NDArray<T> packed;
  };
  mutable std::mutex mutex_;
  std::vector<Entry> entries_;  // by node index
  std::size_t packings_ = 0;
};

/// One node of a team run: its output (allocated by prepare, before the team starts) and what
/// each thread computes of it.
template <class T>
class TeamStep {
 public:
  /// Prepares the step of op on inputs in (the node's arrays, -1 inputs as empty ones): checks
  /// the shapes as the op's forward does (its exceptions), allocates the output and returns
  /// true; false (nothing allocated) when the op is not one the team splits.  A convolution on
  /// the wide kernel takes its packed filters from `packs` (node `node`'s entry) when given.
  bool prepare(const autograd::TracedOp<T>& op, const std::vector<NDArray<T>>& in,
               PackedFilters<T>* packs = nullptr, std::size_t node = 0);
  /// The output array prepare made.
  const NDArray<T>& output() const { return out_; }
  /// The scratch elements one thread needs (64-byte aligned panels).
  std::size_t workspace() const { return ws_; }
  /// Thread tid of team's share of the output; ws is that thread's workspace().  No exception
  /// other than std::bad_alloc from a GEMM's blocking buffers.
  void run(int tid, int team, T* ws) const;
  /// False for a step without work (reshape): no barrier after it.
  bool has_work() const { return kind_ != Kind::view; }
  /// Whether the team waits for every thread after this step (run_team_steps); false after
  /// fuse_pooling.
  bool barrier_after() const { return barrier_after_; }
  /// A convolution followed by a pooling `next` of its output: when the convolution splits its
  /// channels (kernels::wide_channel_block), makes `next` split its planes as the channels, any
  /// pooling.  Otherwise, for a pooling whose windows do not overlap along the rows (kernel
  /// height at most the stride, no padding), with pooled rows a multiple of the team's
  /// `threads`: splits the convolution's rows as the pooling splits its own, times the stride
  /// (the last thread also taking the rows the pooling leaves out).  Either way each thread
  /// pools only what it computed and no barrier is needed between the two.  (An uneven row
  /// split would cost more than the barrier: LeNet's second convolution, 5 pooled rows on 2
  /// threads, took 6 and 12 us where an even split takes 7 each.)  Returns whether it fused.
  bool fuse_pooling(TeamStep& next, int threads);
  /// When this step is a fully_connected and op, on inputs in, is a relu of its output: applies
  /// the relu in this step (each thread to the units it computed) and returns true; the relu's
  /// value is then this step's output().  The caller checks that nothing else reads the
  /// product's value (it is overwritten).
  bool absorb_relu(const autograd::TracedOp<T>& op, const std::vector<NDArray<T>>& in);

 private:
  enum class Kind { view, convolution, pooling, fully_connected, relu };
  // [lo, hi) of n items for thread tid of team.
  static std::pair<std::size_t, std::size_t> share(std::size_t n, int tid, int team) {
    const auto t = static_cast<std::size_t>(tid), k = static_cast<std::size_t>(team);
    return {n * t / k, n * (t + 1) / k};
  }
  Kind kind_ = Kind::view;
  bool barrier_after_ = true;
  std::size_t pool_stride_ = 0, pool_rows_ = 0;  // convolution: rows split as a fused pooling's (fuse_pooling)
  // Convolution: its channels split over the threads in blocks of this many
  // (kernels::wide_channel_block: the wide kernel on small planes); pooling: its planes split so,
  // as the convolution before it (fuse_pooling).  0: rows split.
  std::size_t channel_block_ = 0;
  std::size_t channels_ = 0;  // pooling: its input's channels
  kernels::WideLayout wide_;
  NDArray<T> out_;
  NDArray<T> packed_;  // a convolution's filters packed for the wide kernel (conv2d_wide.hpp)
  const T *x_ = nullptr, *w_ = nullptr, *b_ = nullptr;
  T* y_ = nullptr;  // out_'s elements
  bool relu_ = false;
  std::size_t ws_ = 0;
  kernels::Conv2DGeometry conv_;
  std::size_t tile_rows_ = 0, cols_ = 0, padded_ = 0;
  kernels::Pool2DGeometry pool_;
  bool max_ = true, count_include_pad_ = true;
  std::size_t planes_ = 0;
  std::size_t rows_ = 0, in_units_ = 0, units_ = 0;  // fully_connected; relu: rows_ elements
};

/// Runs steps (prepared, in order) on a team of `threads` threads: each thread its share of
/// each step, a barrier after each step with work but the last (and those fuse_pooling
/// joined to the next).  Exceptions (std::bad_alloc) reach the
/// caller after the team ends; the steps after the one that threw are skipped.
template <class T>
void run_team_steps(const std::vector<TeamStep<T>>& steps, int threads);

// ---- implementation ----

template <class T>
bool TeamStep<T>::prepare(const autograd::TracedOp<T>& op, const std::vector<NDArray<T>>& in,
                          PackedFilters<T>* packs, std::size_t node) {
  const std::type_info& type = op.op_type();
  if (type == typeid(nd::ops::Convolution<T>)) {
    const auto& conv = *static_cast<const nd::ops::Convolution<T>*>(op.op());
    if (in.size() != 3) return false;
    const kernels::Conv2DGeometry g = nd::ops::Convolution<T>::make_geometry(in[0], in[1], in[2], conv.opt);
    if (!kernels::conv2d_rows_applies<T>(g) || g.P() == 0) return false;
    kind_ = Kind::convolution;
    conv_ = g;
    relu_ = conv.relu;
    const kernels::Conv2DWorkspace plan = kernels::conv2d_forward_workspace<T>(g);  // the panels a thread needs
    tile_rows_ = plan.tile_rows, cols_ = plan.cols, padded_ = plan.padded;
    ws_ = plan.per_thread();
    x_ = in[0].data(), w_ = in[1].data(), b_ = in[2].defined() ? in[2].data() : nullptr;
    if (plan.shared && packs) {  // the wide kernel's packed filters
      packed_ = packs->get(node, g, in[1]);
    } else if (plan.shared) {
      packed_ = NDArray<T>(Shape{plan.shared});
      kernels::direct_wide_pack(g, kernels::wide_layout<T>(g), w_, packed_.data());
    }
    channel_block_ = kernels::wide_channel_block<T>(g, get_num_threads());
    if (channel_block_) wide_ = kernels::wide_layout<T>(g);
    out_ = NDArray<T>(Shape{g.N, g.O, g.Ho, g.Wo});
    y_ = out_.data();
    return true;
  }
  if (type == typeid(nd::ops::Pooling<T>)) {
    const auto& pool = *static_cast<const nd::ops::Pooling<T>*>(op.op());
    if (in.size() != 1) return false;
    pool_ = nd::ops::Pooling<T>::make_geometry(in[0], pool.opt);
    kind_ = Kind::pooling;
    max_ = pool.opt.type == nd::pool_type::max;
    count_include_pad_ = pool.opt.count_include_pad;
    relu_ = pool.relu;
    planes_ = in[0].shape(0) * in[0].shape(1);
    channels_ = in[0].shape(1);
    x_ = in[0].data();
    out_ = NDArray<T>(Shape{in[0].shape(0), in[0].shape(1), pool_.Ho, pool_.Wo});
    y_ = out_.data();
    return true;
  }
  if (type == typeid(nd::ops::FullyConnected<T>)) {
    const auto& fc = *static_cast<const nd::ops::FullyConnected<T>*>(op.op());
    // The traced op's sizes; the arrays must still have them (a graph run checks its inputs'
    // shapes, and the parameters' arrays keep theirs).
    if (in.size() != 3 || in[0].size() != fc.rows * fc.in_units || in[1].shape() != Shape{fc.units, fc.in_units} ||
        (in[2].defined() && in[2].shape() != Shape{fc.units}))
      return false;
    kind_ = Kind::fully_connected;
    rows_ = fc.rows, in_units_ = fc.in_units, units_ = fc.units;
    x_ = in[0].data(), w_ = in[1].data(), b_ = in[2].defined() ? in[2].data() : nullptr;
    out_ = NDArray<T>(fc.out_shape);
    y_ = out_.data();
    return true;
  }
  if (type == typeid(nd::ops::Unary<T, nd::ops::Relu>)) {
    if (in.size() != 1) return false;
    kind_ = Kind::relu;
    rows_ = in[0].size();
    x_ = in[0].data();
    out_ = NDArray<T>(in[0].shape());
    y_ = out_.data();
    return true;
  }
  if (type == typeid(nd::ops::Reshape<T>)) {
    const auto& reshape = *static_cast<const nd::ops::Reshape<T>*>(op.op());
    if (in.size() != 1 || reshape.to.size() != in[0].size()) return false;
    kind_ = Kind::view;
    out_ = in[0].view_as(reshape.to);
    return true;
  }
  return false;
}

template <class T>
bool TeamStep<T>::fuse_pooling(TeamStep& next, int threads) {
  if (kind_ != Kind::convolution || next.kind_ != Kind::pooling || next.x_ != y_) return false;
  if (channel_block_) {  // the pooling's planes split as the convolution's channels
    next.channel_block_ = channel_block_;  // its channels_: the convolution's O (next.x_ == y_)
    barrier_after_ = false;
    return true;
  }
  if (next.pool_.ph != 0 ||
      next.pool_.kh > next.pool_.sh || next.pool_.sh == 0 || threads < 1 ||
      next.pool_.Ho % static_cast<std::size_t>(threads) != 0)
    return false;
  pool_stride_ = next.pool_.sh;
  pool_rows_ = next.pool_.Ho;
  barrier_after_ = false;
  return true;
}

template <class T>
bool TeamStep<T>::absorb_relu(const autograd::TracedOp<T>& op, const std::vector<NDArray<T>>& in) {
  if (kind_ != Kind::fully_connected || relu_ || op.op_type() != typeid(nd::ops::Unary<T, nd::ops::Relu>) ||
      in.size() != 1 || !in[0].defined() || in[0].data() != y_ || in[0].size() != rows_ * units_)
    return false;
  relu_ = true;
  return true;
}

template <class T>
void TeamStep<T>::run(int tid, int team, T* ws) const {
  T* const y = y_;
  switch (kind_) {
    case Kind::view:
      return;
    case Kind::convolution: {  // output rows split: each thread its band of every image
      const kernels::Conv2DGeometry& g = conv_;
      T* const padded = padded_ ? ws + ::gluino::detail::round_panel(cols_) : nullptr;
      if (channel_block_) {  // small planes: each thread its blocks of channels, all rows
        const auto [o0, o1] = kernels::wide_channel_share(g.O, channel_block_, static_cast<std::size_t>(tid),
                                                          static_cast<std::size_t>(team));
        for (std::size_t n = 0; o0 < o1 && n < g.N; ++n)
          kernels::conv2d_forward_direct_wide_channels(g, wide_, x_ + n * g.C * g.H * g.W, packed_.data(), b_,
                                                       y + n * g.O * g.P(), relu_, o0, o1, padded);
        return;
      }
      auto [r0, r1] = share(g.Ho, tid, team);
      if (pool_stride_) {  // as the pooling after it splits: its rows times the stride
        const auto [p0, p1] = share(pool_rows_, tid, team);
        r0 = p0 * pool_stride_;
        r1 = tid + 1 == team ? g.Ho : p1 * pool_stride_;
      }
      T* const cols = cols_ ? ws : nullptr;
      for (std::size_t n = 0; n < g.N; ++n)
        kernels::conv2d_forward_rows(g, x_ + n * g.C * g.H * g.W, w_, b_, y + n * g.O * g.P(), relu_, r0, r1,
                                     tile_rows_, cols, padded, packed_.defined() ? packed_.data() : nullptr);
      return;
    }
    case Kind::pooling: {
      // Output rows split, as the convolutions' (so a thread mostly pools what it convolved: its
      // own cache), each thread's band a plane of its own (rows from r0 on, no padding above);
      // with padding, whole planes split; after a convolution whose channels split
      // (channel_block_), the planes of the channels it gave this thread.
      const std::size_t in_plane = pool_.H * pool_.W, out_plane = pool_.Ho * pool_.Wo;
      // Plane p from rows offset in_off of the input and out_off of the output on, by geometry g.
      const auto pool_plane = [&](const kernels::Pool2DGeometry& g, std::size_t p, std::size_t in_off,
                                  std::size_t out_off) {
        T* const yp = y + p * out_plane + out_off;
        const T* const xp = x_ + p * in_plane + in_off;
        if (!max_) return kernels::avg_pool2d_plane(g, xp, yp, count_include_pad_);
        kernels::max_pool2d_plane(g, xp, yp, static_cast<std::int32_t*>(nullptr));
        if (relu_)
          for (std::size_t i = 0, n_out = g.Ho * g.Wo; i < n_out; ++i) yp[i] = yp[i] > T(0) ? yp[i] : T(0);
      };
      if (channel_block_) {  // the convolution's channels (kernels::wide_channel_share)
        const auto [c0, c1] = kernels::wide_channel_share(channels_, channel_block_, static_cast<std::size_t>(tid),
                                                          static_cast<std::size_t>(team));
        for (std::size_t n = 0; n < planes_ / channels_; ++n)
          for (std::size_t c = c0; c < c1; ++c) pool_plane(pool_, n * channels_ + c, 0, 0);
        return;
      }
      if (pool_.ph != 0) {
        const auto [p0, p1] = share(planes_, tid, team);
        for (std::size_t p = p0; p < p1; ++p) pool_plane(pool_, p, 0, 0);
        return;
      }
      const auto [r0, r1] = share(pool_.Ho, tid, team);
      if (r0 == r1) return;
      kernels::Pool2DGeometry g = pool_;
      g.H = pool_.H - r0 * pool_.sh;
      g.Ho = r1 - r0;
      for (std::size_t p = 0; p < planes_; ++p) pool_plane(g, p, r0 * pool_.sh * pool_.W, r0 * pool_.Wo);
      return;
    }
    case Kind::fully_connected: {  // output units split, in blocks of 16 (whole vectors)
      const std::size_t blocks = (units_ + 15) / 16;
      auto [b0, b1] = share(blocks, tid, team);
      const std::size_t u0 = std::min(units_, b0 * 16), u1 = std::min(units_, b1 * 16);
      if (u0 == u1) return;
      if (b_)
        for (std::size_t r = 0; r < rows_; ++r) std::copy(b_ + u0, b_ + u1, y + r * units_ + u0);
      kernels::gemm(false, true, rows_, u1 - u0, in_units_, T(1), x_, in_units_, w_ + u0 * in_units_, in_units_,
                    b_ ? T(1) : T(0), y + u0, units_);
      if (relu_)  // absorb_relu: the relu step's values, on this thread's units
        for (std::size_t r = 0; r < rows_; ++r)
          for (std::size_t u = u0; u < u1; ++u) y[r * units_ + u] = nd::ops::Relu{}.value(y[r * units_ + u]);
      return;
    }
    case Kind::relu: {  // elements split, in blocks of 16
      const std::size_t blocks = (rows_ + 15) / 16;
      const auto [b0, b1] = share(blocks, tid, team);
      const std::size_t e = std::min(rows_, b1 * 16);
      for (std::size_t i = std::min(rows_, b0 * 16); i < e; ++i) y[i] = nd::ops::Relu{}.value(x_[i]);
      return;
    }
  }
}

template <class T>
void run_team_steps(const std::vector<TeamStep<T>>& steps, int threads) {
  std::size_t per_thread = 0;
  std::size_t last = 0;  // the last step with work: the team's end is its barrier
  for (std::size_t k = 0; k < steps.size(); ++k) {
    per_thread = std::max(per_thread, steps[k].workspace());
    if (steps[k].has_work()) last = k;
  }
  threads = std::max(threads, 1);
  std::optional<Storage<T>> storage;  // taken before the team starts, given back on return or throw
  if (per_thread) storage.emplace(per_thread * static_cast<std::size_t>(threads));
  T* const base = storage ? storage->data() : nullptr;
  ::gluino::detail::ExceptionCarrier errors;
  ::gluino::detail::run_team(threads, [&](int tid, int team) {
    T* const ws = base ? base + per_thread * static_cast<std::size_t>(tid) : nullptr;
    for (std::size_t k = 0; k <= last && k < steps.size(); ++k) {
      const TeamStep<T>& s = steps[k];
      if (!s.has_work()) continue;
      // Every thread reaches every barrier, also after an exception (run() then skips the work).
      errors.run([&] { s.run(tid, team, ws); });
#if defined(_OPENMP)
      if (team > 1 && k != last && s.barrier_after()) {
#pragma omp barrier
      }
#endif
    }
  });
  errors.rethrow();
}

}  // namespace gluino::graph

// Precompiled mode (detail/precompiled.hpp): this header's float and double instantiations.
#define GLUINO_GRAPH_TEAM_INSTANTIATIONS(X, T) \
  X class PackedFilters<T>;                    \
  X class TeamStep<T>;                         \
  X void run_team_steps<T>(const std::vector<TeamStep<T>>&, int);
namespace gluino::graph {
GLUINO_EXTERN_INSTANTIATIONS(GLUINO_GRAPH_TEAM_INSTANTIATIONS)
}  // namespace gluino::graph
