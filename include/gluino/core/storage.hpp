// SPDX-License-Identifier: Apache-2.0
#pragma once
/// Storage<T>: a reference-counted, 64-byte aligned buffer, recycled through a size-keyed pool
/// so that a training loop stops calling the system allocator after its first step.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <new>
#include <unordered_map>
#include <vector>

namespace gluino {

namespace detail {
/// Caching allocator: freed blocks are kept per (rounded) byte size and handed out again.
/// Process-wide and thread-safe.  memory_pool().release() returns every cached block to the system.
/// When keeping a freed block would pass the cap, blocks of the size least recently allocated or
/// freed go back to the system first: a training loop's sizes, used every step, stay cached
/// while the ones an evaluation pass or a smaller last batch left behind make room for them.
class MemoryPool {
 public:
  static constexpr std::size_t alignment = 64;

  void* allocate(std::size_t bytes) {
    bytes = round(bytes);
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = free_.find(bytes);
      if (it != free_.end() && !it->second.blocks.empty()) {
        Bucket& b = it->second;
        b.last_use = ++clock_;
        void* p = b.blocks.back();
        b.blocks.pop_back();
        cached_bytes_ -= bytes;
        return p;
      }
    }
    void* p = std::aligned_alloc(alignment, bytes);
    if (!p) {
      release();
      p = std::aligned_alloc(alignment, bytes);
      if (!p) throw std::bad_alloc();
    }
    return p;
  }
  void deallocate(void* p, std::size_t bytes) noexcept {
    bytes = round(bytes);
    std::lock_guard<std::mutex> lock(mu_);
    while (cached_bytes_ + bytes > max_cached_bytes_ && bytes <= max_cached_bytes_ && evict_one_except(bytes)) {
    }
    if (cached_bytes_ + bytes > max_cached_bytes_) {
      std::free(p);
      return;
    }
    try {
      Bucket& b = free_[bytes];
      b.blocks.push_back(p);
      b.last_use = ++clock_;
      cached_bytes_ += bytes;
    } catch (...) {
      std::free(p);
    }
  }
  /// Frees every cached block.
  void release() noexcept {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& [bytes, b] : free_)
      for (void* p : b.blocks) std::free(p);
    free_.clear();
    cached_bytes_ = 0;
  }
  /// Caps the bytes kept cached (default 256 MiB); blocks freed beyond it go back to the system.
  /// Lowering the cap also frees what is cached now.
  void set_limit(std::size_t bytes) {
    release();
    std::lock_guard<std::mutex> lock(mu_);
    max_cached_bytes_ = bytes;
  }
  /// Bytes currently cached (free, not in use).
  std::size_t cached_bytes() const {
    std::lock_guard<std::mutex> lock(mu_);
    return cached_bytes_;
  }
  ~MemoryPool() { release(); }

 private:
  struct Bucket {
    std::vector<void*> blocks;
    std::uint64_t last_use = 0;  // clock_ at the last block of this size handed out or taken back
  };
  static std::size_t round(std::size_t bytes) {
    if (bytes == 0) bytes = 1;
    return (bytes + alignment - 1) / alignment * alignment;
  }
  /// Frees one cached block of the least recently used size other than `keep`; false when
  /// there is none.  Drops the empty sizes it passes, so that a program of ever-changing shapes
  /// does not grow the table.  Called with mu_ held.
  bool evict_one_except(std::size_t keep) noexcept {
    Bucket* victim = nullptr;
    std::size_t victim_bytes = 0;
    for (auto it = free_.begin(); it != free_.end();) {
      auto& [bytes, b] = *it;
      if (b.blocks.empty() && bytes != keep) {
        it = free_.erase(it);
        continue;
      }
      if (bytes != keep && (!victim || b.last_use < victim->last_use)) {
        victim = &b;
        victim_bytes = bytes;
      }
      ++it;
    }
    if (!victim) return false;
    std::free(victim->blocks.back());
    victim->blocks.pop_back();
    cached_bytes_ -= victim_bytes;
    return true;
  }
  mutable std::mutex mu_;
  std::unordered_map<std::size_t, Bucket> free_;
  std::uint64_t clock_ = 0;
  std::size_t cached_bytes_ = 0;
  std::size_t max_cached_bytes_ = std::size_t(256) << 20;
};

/// The process-wide pool used by every Storage.
inline MemoryPool& memory_pool() {
  static MemoryPool pool;
  return pool;
}
}  // namespace detail

/// Caps the memory gluino keeps cached for reuse (freed array storage, default up to 256 MiB):
/// 0 returns every freed block to the system at once, at the cost of page faults when it is
/// allocated again.  The cache is what keeps a training loop from calling malloc every step.
inline void set_memory_cache_limit(std::size_t bytes) { detail::memory_pool().set_limit(bytes); }

/// A contiguous buffer of n elements of T.  Not initialised on creation (callers fill it).
/// NDArray handles share one Storage through a shared_ptr.
template <class T>
class Storage {
 public:
  explicit Storage(std::size_t n) : n_(n), data_(static_cast<T*>(detail::memory_pool().allocate(n * sizeof(T)))) {}
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;
  ~Storage() { detail::memory_pool().deallocate(data_, n_ * sizeof(T)); }

  T* data() { return data_; }
  const T* data() const { return data_; }
  std::size_t size() const { return n_; }

 private:
  std::size_t n_;
  T* data_;
};

}  // namespace gluino
