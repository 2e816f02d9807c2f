// SPDX-License-Identifier: Apache-2.0
#pragma once
/// StepArena: the memory plan of a hybridized graph (Gluon's static_alloc).  A graph run and the
/// backward of the nodes it recorded allocate the same arrays, in the same order, at every step.
/// The arena watches one step (each array's size, and when it was allocated and freed, in one
/// sequence of events), then places every array that died within the step at an offset of one
/// buffer, arrays alive at the same time apart (by liveness), and hands out those offsets on the
/// following steps.  So a training step's activations and gradients live in one buffer the size
/// of their peak, instead of in the memory pool's per-size cache (which, summed over the sizes a
/// step uses at different times, holds much more).
///
/// Safety does not rest on the plan being followed: a block is handed out only when its size is
/// the planned one and no block overlapping its addresses is alive; anything else (a different
/// allocation order, an array kept past its planned death, another thread running the same
/// graph) falls back to the memory pool.  A step starts only when no block of the last one is
/// alive.  Allocations reach the arena only through Storage (core/storage.hpp) on a thread where
/// an ArenaScope is active: Graph::run sets one, and autograd's backward sets the one a node was
/// recorded under (autograd/node.hpp).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <memory>
#include <mutex>
#include <new>
#include <vector>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include "gluino/detail/asan.hpp"

namespace gluino::detail {

class StepArena : public std::enable_shared_from_this<StepArena> {
 public:
  static constexpr std::size_t alignment = 64;
  /// Steps whose allocations differ from the plan before the arena stops planning.
  static constexpr int max_replans = 4;
  /// Steps with more allocations than this are not planned (the plan is quadratic in them).
  static constexpr std::size_t max_blocks = 4096;

  /// Where a Storage's memory came from: `index` in its step, `generation` the step's number.
  struct Ticket {
    std::size_t index = 0;
    std::uint64_t generation = 0;
    bool placed = false;   ///< true: the memory is the arena's; false: the pool's
    bool watched = false;  ///< a watched step's: from the system and back to it (not the pool)
  };

  StepArena() = default;
  StepArena(const StepArena&) = delete;
  StepArena& operator=(const StepArena&) = delete;
  ~StepArena() { std::free(base_); }

  /// Starts a step on this thread's run: false (the run uses the pool alone) while another run
  /// of the graph is under way or a block of the last step is alive.  Pair with end_run().
  bool begin_step() {
    std::lock_guard<std::mutex> lock(mu_);
    if (running_ > 0 || live_ > 0 || replans_ > max_replans) return false;
    ++running_;
    ++generation_;
    if (watching_ && !log_.empty()) make_plan();
    if (!watching_ && diverged_) {  // the last replayed step did not follow the plan: watch again
      ++replans_;
      watching_ = true;
      plan_.clear();
    }
    if (replans_ > max_replans) {  // give up planning this graph; the pool serves it
      --running_;
      return false;
    }
    log_.clear();
    next_ = 0, seq_ = 0;
    diverged_ = false;
    std::fill(live_slot_.begin(), live_slot_.end(), false);
    return true;
  }
  /// Ends the forward run begun by a successful begin_step (its backward may follow later).
  void end_run() {
    std::lock_guard<std::mutex> lock(mu_);
    --running_;
  }

  /// A block of `bytes` for a Storage: the planned place in the arena (ticket->placed), or
  /// nullptr for the pool.  A watched step's blocks (ticket->watched) go back to the system when
  /// freed rather than to the pool's cache, so that watching a step costs no more memory than
  /// the step's own peak.
  void* allocate(std::size_t bytes, Ticket* ticket) {
    std::lock_guard<std::mutex> lock(mu_);
    ticket->generation = generation_;
    ticket->placed = false;
    ticket->watched = watching_;
    ticket->index = next_++;
    if (watching_) {
      if (log_.size() < max_blocks + 1) log_.push_back({rounded(bytes), seq_++, unfreed});
      return nullptr;
    }
    const std::size_t i = ticket->index;
    if (i >= plan_.size() || plan_[i].bytes != rounded(bytes)) {
      diverged_ = true;
      return nullptr;
    }
    const Slot& s = plan_[i];
    if (!s.placed || live_slot_[i]) return nullptr;
    for (std::uint32_t j : s.overlaps)
      if (live_slot_[j]) return nullptr;
    live_slot_[i] = true;
    ++live_;
    ticket->placed = true;
    void* p = base_ + s.offset;
    asan_unpoison(p, bytes);
    return p;
  }
  /// Takes back a block allocate() placed, or notes the death of a watched step's pool block.
  void release(const Ticket& t, void* p, std::size_t bytes) noexcept {
    std::lock_guard<std::mutex> lock(mu_);
    if (t.placed) {
      asan_poison(p, rounded(bytes));
      live_slot_[t.index] = false;
      --live_;
      return;
    }
    if (watching_ && t.generation == generation_ && t.index < log_.size()) log_[t.index].freed = seq_++;
  }

  /// The arena's bytes (0 until a step was planned).
  std::size_t capacity() const {
    std::lock_guard<std::mutex> lock(mu_);
    return size_;
  }
  /// Blocks of the current plan placed in the arena, and all the blocks it knows.
  std::pair<std::size_t, std::size_t> planned_blocks() const {
    std::lock_guard<std::mutex> lock(mu_);
    std::size_t placed = 0;
    for (const Slot& s : plan_) placed += s.placed;
    return {placed, plan_.size()};
  }

 private:
  static constexpr std::size_t unfreed = std::numeric_limits<std::size_t>::max();
  struct Event {
    std::size_t bytes = 0, allocated = 0, freed = unfreed;  // freed: unfreed while alive
  };
  struct Slot {
    std::size_t bytes = 0, offset = 0;
    bool placed = false;                 // died within the watched step, so it has a place
    std::vector<std::uint32_t> overlaps;  // the placed slots sharing an address with this one
  };
  static std::size_t rounded(std::size_t bytes) {
    return bytes == 0 ? alignment : (bytes + alignment - 1) / alignment * alignment;
  }

  // From the watched step's log: blocks freed within it get offsets, the largest first, each at
  // the lowest offset clear of the blocks alive with it (greedy, as MXNet's and TVM's planners).
  // Called with mu_ held.
  void make_plan() {
    watching_ = false;
    plan_.assign(log_.size(), Slot{});
    if (log_.size() > max_blocks) {  // too many to plan: the pool serves them, and no replanning
      replans_ = max_replans + 1;
      return;
    }
    std::vector<std::size_t> order;
    for (std::size_t i = 0; i < log_.size(); ++i) {
      plan_[i].bytes = log_[i].bytes;
      if (log_[i].freed != unfreed) order.push_back(i);
    }
    std::stable_sort(order.begin(), order.end(),
                     [&](std::size_t a, std::size_t b) { return log_[a].bytes > log_[b].bytes; });
    std::vector<std::size_t> done;
    std::vector<std::pair<std::size_t, std::size_t>> taken;  // [begin, end) of the blocks alive with this one
    std::size_t size = 0;
    for (std::size_t i : order) {
      taken.clear();
      for (std::size_t j : done)
        if (log_[j].allocated < log_[i].freed && log_[i].allocated < log_[j].freed)
          taken.emplace_back(plan_[j].offset, plan_[j].offset + plan_[j].bytes);
      std::sort(taken.begin(), taken.end());
      std::size_t at = 0;
      for (const auto& [b, e] : taken) {
        if (b >= at + log_[i].bytes) break;
        at = std::max(at, e);
      }
      plan_[i].offset = at;
      plan_[i].placed = true;
      size = std::max(size, at + log_[i].bytes);
      done.push_back(i);
    }
    for (std::size_t i : done)
      for (std::size_t j : done)
        if (i != j && plan_[i].offset < plan_[j].offset + plan_[j].bytes &&
            plan_[j].offset < plan_[i].offset + plan_[i].bytes)
          plan_[i].overlaps.push_back(std::uint32_t(j));
    live_slot_.assign(plan_.size(), false);
    if (size > size_) {
      std::free(base_);
      base_ = nullptr, size_ = 0;
#if defined(__GLIBC__)
      // The watched step's blocks went back to malloc, which keeps most of them in its heap
      // (below its mmap threshold); hand them to the system before the arena takes their place.
      malloc_trim(0);
#endif
      base_ = static_cast<char*>(std::aligned_alloc(alignment, size));
      if (!base_) {  // no memory for the arena: the pool serves this graph
        plan_.clear();
        replans_ = max_replans + 1;
        return;
      }
      size_ = size;
      asan_poison(base_, size_);
    }
  }

  mutable std::mutex mu_;
  char* base_ = nullptr;
  std::size_t size_ = 0;
  bool watching_ = true;    // this step's allocations are logged (served by the pool)
  bool diverged_ = false;   // this step asked for a size other than the plan's
  int replans_ = 0;
  int running_ = 0;
  std::size_t live_ = 0;    // placed blocks alive
  std::uint64_t generation_ = 0;
  std::size_t next_ = 0, seq_ = 0;
  std::vector<Event> log_;
  std::vector<Slot> plan_;
  std::vector<bool> live_slot_;
};

/// The arena allocations on this thread go to (nullptr: the pool).
inline StepArena*& active_arena() noexcept {
  thread_local StepArena* arena = nullptr;
  return arena;
}

/// Makes `arena` this thread's active one until the scope ends (nullptr: none).
class ArenaScope {
 public:
  explicit ArenaScope(StepArena* arena) noexcept : saved_(active_arena()) { active_arena() = arena; }
  ~ArenaScope() { active_arena() = saved_; }
  ArenaScope(const ArenaScope&) = delete;
  ArenaScope& operator=(const ArenaScope&) = delete;

 private:
  StepArena* saved_;
};

}  // namespace gluino::detail
