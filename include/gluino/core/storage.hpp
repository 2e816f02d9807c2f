// SPDX-License-Identifier: Apache-2.0
#pragma once
/// Storage<T>: a reference-counted, 64-byte aligned buffer, recycled through a size-keyed pool
/// so that a training loop stops calling the system allocator after its first step; inside a
/// hybridized graph's run, placed in the graph's step arena instead (core/arena.hpp).
#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <limits>
#include <memory>
#include <mutex>
#include <new>
#include <unordered_map>
#include <vector>

#if defined(__linux__)
#include <sys/sysinfo.h>
#endif
#if defined(__unix__) || defined(__APPLE__)
#include <sys/mman.h>
// <sys/mman.h> defines MAP_TYPE (Linux's mask of mapping kinds), a name ONNX's headers use as an
// enumerator (onnx/defs/parser.h): gluino does not need it, and must not break them.
#undef MAP_TYPE
#define GLUINO_HAS_MMAP 1
#else
#define GLUINO_HAS_MMAP 0
#endif

#include "gluino/core/arena.hpp"
#include "gluino/core/error.hpp"
#include "gluino/core/shape.hpp"
#include "gluino/detail/asan.hpp"

namespace gluino {

/// The default cap of the memory gluino keeps cached for reuse (see set_memory_cache_limit):
/// 1 GiB.  VGG-11/4's training step frees and takes again about 600 MiB of activations and
/// gradients; with a 128 MiB cap they went back to the system every step, and the page faults
/// cost it about 0.7 s of system time over four steps (docs/performance.md).
inline constexpr std::size_t default_memory_cache_limit = std::size_t(1) << 30;

/// What the cache is trimmed to when a block of a size never requested before is asked for: 128
/// MiB (or the cap, when lower).  A program that moves to new shapes (an evaluation pass at
/// another batch size, a smaller last batch) gives back what the old shapes left cached, so the
/// two phases' blocks are not kept side by side; a loop that repeats its sizes never trims.
inline constexpr std::size_t memory_cache_trim = std::size_t(128) << 20;

namespace detail {
/// n rounded up to a multiple of 16 elements, so that each panel of a workspace carved from one
/// pool block starts 64-byte aligned (the blocks are): the convolution kernels' workspaces.
inline std::size_t round_panel(std::size_t n) { return (n + 15) / 16 * 16; }

/// Caching allocator: freed blocks are kept per (rounded) byte size and handed out again.
/// Process-wide and thread-safe.  memory_pool().release() returns every cached block to the system.
/// When keeping a freed block would pass the cap, blocks of the size least recently allocated or
/// freed go back to the system first: a training loop's sizes, used every step, stay cached
/// while the ones an evaluation pass or a smaller last batch left behind make room for them.
/// A request for a size the pool has no record of (never requested before) first trims the cache
/// to memory_cache_trim, the same way: a program that moves to new shapes gives back what the
/// old ones left, while a loop that repeats its sizes never trims and keeps up to the cap.  The
/// records of sizes with no cached block are dropped when a new size finds max_sizes records,
/// so a program of ever-changing shapes does not grow the table.
///
/// Built with AddressSanitizer, the pool keeps ASan's view exact: a block handed out is
/// addressable only for the bytes requested (the rounding slack stays poisoned), and a cached
/// block is poisoned whole, so an overrun into the slack or a use of freed array storage is
/// reported (as use-after-poison) instead of silently touching the pool's memory.
class MemoryPool {
 public:
  static constexpr std::size_t alignment = 64;
  /// The largest request: its rounded block must not pass PTRDIFF_MAX bytes.
  static constexpr std::size_t max_bytes =
      std::size_t(std::numeric_limits<std::ptrdiff_t>::max()) / alignment * alignment;

  /// A 64-byte aligned block of at least `bytes` bytes.  std::bad_alloc when the system has no
  /// memory left even after the cache is released, or when `bytes` passes max_bytes.
  void* allocate(std::size_t bytes) {
    if (bytes > max_bytes) throw std::bad_alloc();  // rounding it up could wrap around to a small block
    const std::size_t block = round(bytes);
    void* p = nullptr;
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = free_.find(block);
      if (it == free_.end()) {
        while (cached_bytes_ > std::min(max_cached_bytes_, trim_bytes_) && evict_one_except(block)) {
        }
        if (free_.size() >= max_sizes) prune_empty();
        try {
          free_[block].last_use = ++clock_;  // seen: its next miss does not trim
        } catch (...) {  // no record, no harm: the next request of this size trims again
        }
      } else if (!it->second.blocks.empty()) {
        Bucket& b = it->second;
        b.last_use = ++clock_;
        p = b.blocks.back();
        b.blocks.pop_back();
        cached_bytes_ -= block;
      }
    }
    if (!p) {
      p = std::aligned_alloc(alignment, block);
      if (!p) {
        release();
        p = std::aligned_alloc(alignment, block);
        if (!p) throw std::bad_alloc();
      }
    }
    asan_unpoison(p, bytes);  // a cached block was poisoned whole
    asan_poison(static_cast<char*>(p) + bytes, block - bytes);  // the slack: no array's
    return p;
  }
  /// Takes back a block from allocate(bytes), with the same `bytes`.
  void deallocate(void* p, std::size_t bytes) noexcept {
    bytes = round(bytes);
    asan_poison(p, bytes);  // cached memory belongs to no array until handed out again
    std::lock_guard<std::mutex> lock(mu_);
    while (cached_bytes_ + bytes > max_cached_bytes_ && bytes <= max_cached_bytes_ && evict_one_except(bytes)) {
    }
    if (cached_bytes_ + bytes > max_cached_bytes_) {
      free_block(p, bytes);
      return;
    }
    try {
      Bucket& b = free_[bytes];
      b.blocks.push_back(p);
      b.last_use = ++clock_;
      cached_bytes_ += bytes;
    } catch (...) {
      free_block(p, bytes);
    }
  }
  /// Frees every cached block.
  void release() noexcept {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& [bytes, b] : free_)
      for (void* p : b.blocks) free_block(p, bytes);
    free_.clear();
    cached_bytes_ = 0;
  }
  /// Caps the bytes kept cached (default 1 GiB); blocks freed beyond it go back to the system.
  /// `trim`: what a request for a new size trims the cache to (memory_cache_trim; tests pass
  /// small ones).  Also frees what is cached now.
  void set_limit(std::size_t bytes, std::size_t trim = memory_cache_trim) {
    release();
    std::lock_guard<std::mutex> lock(mu_);
    max_cached_bytes_ = bytes;
    trim_bytes_ = trim;
  }
  /// Bytes currently cached (free, not in use).
  std::size_t cached_bytes() const {
    std::lock_guard<std::mutex> lock(mu_);
    return cached_bytes_;
  }
  /// The pool's clock: it advances at every block handed out or taken back.
  std::uint64_t clock() const {
    std::lock_guard<std::mutex> lock(mu_);
    return clock_;
  }
  /// Frees the cached blocks of every size that no block was handed out or taken back of since
  /// `tick` (a clock() reading), and returns their bytes: what a phase of the program that has
  /// ended left cached.  A hybridized block calls it after tracing a graph, with the clock from
  /// before the trace (nn/hybrid_block.hpp): the sizes the trace did not use are idle.
  std::size_t release_unused_since(std::uint64_t tick) noexcept {
    std::lock_guard<std::mutex> lock(mu_);
    std::size_t freed = 0;
    for (auto& [bytes, b] : free_) {
      if (b.last_use > tick) continue;
      for (void* p : b.blocks) free_block(p, bytes), freed += bytes;
      b.blocks.clear();
    }
    cached_bytes_ -= freed;
    return freed;
  }
  /// How many sizes the pool has a record of (cached blocks or not).
  std::size_t recorded_sizes() const {
    std::lock_guard<std::mutex> lock(mu_);
    return free_.size();
  }
  ~MemoryPool() { release(); }

 private:
  struct Bucket {
    std::vector<void*> blocks;
    std::uint64_t last_use = 0;  // clock_ at the last block of this size handed out or taken back
  };
  // Called with bytes <= max_bytes (allocate checks it), so the sum cannot wrap around.
  static std::size_t round(std::size_t bytes) noexcept {
    if (bytes == 0) bytes = 1;
    return (bytes + alignment - 1) / alignment * alignment;
  }
  // Gives a block back to the system, addressable again as the system allocator expects.
  static void free_block(void* p, std::size_t bytes) noexcept {
    asan_unpoison(p, bytes);
    std::free(p);
  }
  /// Frees one cached block of the least recently used size other than `keep`; false when
  /// there is none.  Called with mu_ held.
  bool evict_one_except(std::size_t keep) noexcept {
    Bucket* victim = nullptr;
    std::size_t victim_bytes = 0;
    for (auto& [bytes, b] : free_) {
      if (bytes != keep && !b.blocks.empty() && (!victim || b.last_use < victim->last_use)) {
        victim = &b;
        victim_bytes = bytes;
      }
    }
    if (!victim) return false;
    free_block(victim->blocks.back(), victim_bytes);
    victim->blocks.pop_back();
    cached_bytes_ -= victim_bytes;
    return true;
  }
  /// Drops the records of the sizes with no cached block.  Called with mu_ held.
  void prune_empty() noexcept {
    for (auto it = free_.begin(); it != free_.end();) it = it->second.blocks.empty() ? free_.erase(it) : std::next(it);
  }
  static constexpr std::size_t max_sizes = 1024;
  mutable std::mutex mu_;
  std::unordered_map<std::size_t, Bucket> free_;
  std::uint64_t clock_ = 0;
  std::size_t cached_bytes_ = 0;
  std::size_t max_cached_bytes_ = default_memory_cache_limit;
  std::size_t trim_bytes_ = memory_cache_trim;
};

/// The process-wide pool used by every Storage.  Never destroyed, as PyTorch's caching
/// allocator: arrays and models with static storage duration are destroyed after main returns,
/// in an order no header controls, and must still free into a live pool.  Its cached blocks go
/// back to the system with the process (LeakSanitizer sees them as reachable).
inline MemoryPool& memory_pool() {
  static MemoryPool* const pool = new MemoryPool;
  return *pool;
}

/// Blocks of at least this many bytes that a watched step (core/arena.hpp) allocates are mapped
/// from the system directly, so that freeing one returns its pages at once instead of leaving
/// them in malloc's heap; smaller ones come from malloc.
inline constexpr std::size_t direct_map_bytes = std::size_t(1) << 18;

/// The machine's RAM plus swap in bytes (Linux's sysinfo, read once), SIZE_MAX where unknown: an
/// allocation past it fails, or with overcommit is killed by the kernel when its pages are touched.
inline std::size_t system_memory_bytes() noexcept {
  static const std::size_t bytes = [] {
    std::size_t total = std::numeric_limits<std::size_t>::max();
#if defined(__linux__)
    struct sysinfo info {};
    if (sysinfo(&info) == 0 && info.mem_unit > 0) {
      const auto unit = static_cast<std::size_t>(info.mem_unit);
      std::size_t ram = 0, swap = 0;
      if (!mul_overflows(static_cast<std::size_t>(info.totalram), unit, &ram) &&
          !mul_overflows(static_cast<std::size_t>(info.totalswap), unit, &swap) && ram > 0 && ram + swap >= ram)
        total = ram + swap;
    }
#endif
    return total;
  }();
  return bytes;
}

/// A 64-byte aligned block of `bytes` from the system, not cached when freed (system_free).
inline void* system_allocate(std::size_t bytes) {
  if (bytes > MemoryPool::max_bytes) throw std::bad_alloc();
#if GLUINO_HAS_MMAP
  if (bytes >= direct_map_bytes) {
    void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) throw std::bad_alloc();
    return p;
  }
#endif
  const std::size_t block = (bytes + MemoryPool::alignment - 1) / MemoryPool::alignment * MemoryPool::alignment;
  void* p = std::aligned_alloc(MemoryPool::alignment, block ? block : MemoryPool::alignment);
  if (!p) throw std::bad_alloc();
  return p;
}
/// Gives back a block of system_allocate(bytes).
inline void system_free(void* p, std::size_t bytes) noexcept {
#if GLUINO_HAS_MMAP
  if (bytes >= direct_map_bytes) {
    munmap(p, bytes);
    return;
  }
#else
  (void)bytes;
#endif
  std::free(p);
}
}  // namespace detail

/// Caps the memory gluino keeps cached for reuse (freed array storage, default_memory_cache_limit):
/// 0 returns every freed block to the system at once, at the cost of page faults when it is
/// allocated again.  The cache is what keeps a training loop from calling malloc every step.  A
/// request for a size never seen before trims the cache to min(bytes, memory_cache_trim) first.
inline void set_memory_cache_limit(std::size_t bytes) { detail::memory_pool().set_limit(bytes); }

/// A contiguous buffer of n elements of T.  Not initialised on creation (callers fill it).
/// NDArray handles share one Storage through a shared_ptr.  ValueError when n * sizeof(T) would
/// pass PTRDIFF_MAX bytes (the product could wrap around to a small block), or the machine's RAM
/// and swap (detail::system_memory_bytes: malloc's std::bad_alloc, or the kernel's OOM killer).
template <class T>
class Storage {
 public:
  explicit Storage(std::size_t n) : n_(checked_count(n)), data_(allocate(n_ * sizeof(T))) {}
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;
  ~Storage() {
    if (arena_) {
      arena_->release(ticket_, data_, n_ * sizeof(T));
      if (ticket_.placed) return;
      if (ticket_.watched) {
        detail::system_free(data_, n_ * sizeof(T));
        return;
      }
    }
    detail::memory_pool().deallocate(data_, n_ * sizeof(T));
  }

  T* data() { return data_; }
  const T* data() const { return data_; }
  std::size_t size() const { return n_; }
  /// The largest n a Storage<T> takes: PTRDIFF_MAX bytes' worth (as std::vector::max_size).
  static constexpr std::size_t max_size() noexcept {
    return std::size_t(std::numeric_limits<std::ptrdiff_t>::max()) / sizeof(T);
  }
  /// Counts the in-place changes made through gluino's API (fill, assign, optimizer updates),
  /// shared by every view of this storage; autograd compares it to detect that an array saved
  /// for backward was changed after it was recorded.  Raw writes through data() do not count.
  std::uint64_t version() const { return version_.load(std::memory_order_relaxed); }
  void bump_version() { version_.fetch_add(1, std::memory_order_relaxed); }

 private:
  static std::size_t checked_count(std::size_t n) {
    GLUINO_CHECK(ValueError, n <= max_size(), "Storage: ", n, " elements of ", sizeof(T),
                 " bytes overflow the largest allocation (", std::numeric_limits<std::ptrdiff_t>::max(), " bytes)");
    if (n * sizeof(T) > detail::system_memory_bytes()) [[unlikely]]
      detail::raise<ValueError>("Storage: ", n, " elements of ", sizeof(T), " bytes (", n * sizeof(T),
                                " bytes) are more than this machine's memory (", detail::system_memory_bytes(),
                                " bytes of RAM and swap)");
    return n;
  }
  // From this thread's step arena when one is active (a hybridized graph's run or backward,
  // core/arena.hpp), else from the pool.
  T* allocate(std::size_t bytes) {
    if (detail::StepArena* a = detail::active_arena()) [[unlikely]] {
      arena_ = a->shared_from_this();  // first: the block must have its way back once handed out
      if (void* p = a->allocate(bytes, &ticket_)) return static_cast<T*>(p);
      if (ticket_.watched) return static_cast<T*>(detail::system_allocate(bytes));
    }
    return static_cast<T*>(detail::memory_pool().allocate(bytes));
  }
  std::shared_ptr<detail::StepArena> arena_;  // declared before data_: allocate() sets them
  detail::StepArena::Ticket ticket_;
  std::size_t n_;
  T* data_;
  std::atomic<std::uint64_t> version_{0};
};

}  // namespace gluino
