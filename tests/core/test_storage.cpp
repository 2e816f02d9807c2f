// SPDX-License-Identifier: Apache-2.0
#include <gluino/core/storage.hpp>

#include <doctest/doctest.h>

#include <cstddef>
#include <cstdint>
#include <limits>
#include <new>

using gluino::Storage;
using gluino::detail::memory_pool;

TEST_SUITE("core/storage") {
TEST_CASE("a storage holds n elements, 64-byte aligned") {
  Storage<float> s(37);
  CHECK(s.size() == 37);
  CHECK(reinterpret_cast<std::uintptr_t>(s.data()) % 64 == 0);
  s.data()[36] = 1.5f;
  CHECK(s.data()[36] == 1.5f);
}
TEST_CASE("the pool hands back a freed block of the same size") {
  memory_pool().release();
  const float* first = nullptr;
  {
    Storage<float> a(1000);
    first = a.data();
  }
  CHECK(memory_pool().cached_bytes() == 4032);  // 4000 bytes rounded up to a multiple of 64
  Storage<float> b(1000);
  CHECK(b.data() == first);
  CHECK(memory_pool().cached_bytes() == 0);
}
TEST_CASE("sizes that round to the same block share it; other sizes do not") {
  memory_pool().release();
  const void* p = nullptr;
  {
    Storage<double> a(8);  // 64 bytes
    p = a.data();
  }
  {
    Storage<float> b(10);  // 40 bytes -> 64
    CHECK(static_cast<const void*>(b.data()) == p);
  }
  Storage<float> c(100);  // 400 bytes -> 448: a new block
  CHECK(static_cast<const void*>(c.data()) != p);
}
TEST_CASE("release() empties the cache") {
  { Storage<float> a(256); }
  CHECK(memory_pool().cached_bytes() > 0);
  memory_pool().release();
  CHECK(memory_pool().cached_bytes() == 0);
}
TEST_CASE("set_memory_cache_limit: blocks beyond the limit go back to the system") {
  gluino::set_memory_cache_limit(1024);
  { Storage<float> small(100); }  // 448 bytes: kept
  CHECK(memory_pool().cached_bytes() == 448);
  { Storage<float> big(1000); }  // 4000 bytes: over the limit, freed
  CHECK(memory_pool().cached_bytes() == 448);
  gluino::set_memory_cache_limit(0);  // also drops what is cached
  CHECK(memory_pool().cached_bytes() == 0);
  { Storage<float> again(100); }
  CHECK(memory_pool().cached_bytes() == 0);
  gluino::set_memory_cache_limit(gluino::default_memory_cache_limit);
}
TEST_CASE("at the limit, the least recently used size makes room for a freed block") {
  gluino::set_memory_cache_limit(1024);
  { Storage<float> stale(100); }  // 448 bytes: cached
  { Storage<float> fresh(150); }  // 600 -> 640 bytes: 448 + 640 > 1024, so the stale size goes
  CHECK(memory_pool().cached_bytes() == 640);
  const void* kept = nullptr;
  {
    Storage<float> again(150);  // the fresh block is handed back
    kept = again.data();
    { Storage<float> other(100); }  // 448 cached beside the 640 in use
    CHECK(memory_pool().cached_bytes() == 448);
  }  // 640 freed again: 448 + 640 > 1024, and the other size makes room
  CHECK(memory_pool().cached_bytes() == 640);
  Storage<float> last(150);
  CHECK(static_cast<const void*>(last.data()) == kept);
  gluino::set_memory_cache_limit(gluino::default_memory_cache_limit);
}
TEST_CASE("eviction takes the size whose blocks were handed out or taken back longest ago") {
  gluino::set_memory_cache_limit(640);
  const void *pa = nullptr, *pc = nullptr;
  { Storage<float> a(16); }  // 64 bytes
  { Storage<float> b(32); }  // 128 bytes
  {
    Storage<float> c(48);  // 192 bytes
    pc = c.data();
  }
  {
    Storage<float> a(16);  // the 64-byte block again: now the most recent size
    pa = a.data();
  }
  CHECK(memory_pool().cached_bytes() == 384);
  { Storage<float> d(96); }  // 384 bytes: 384 + 384 > 640, so the 128-byte size (stalest) goes
  CHECK(memory_pool().cached_bytes() == 640);
  Storage<float> a(16), c(48);
  CHECK(static_cast<const void*>(a.data()) == pa);
  CHECK(static_cast<const void*>(c.data()) == pc);
  CHECK(memory_pool().cached_bytes() == 384);
  gluino::set_memory_cache_limit(gluino::default_memory_cache_limit);
}
TEST_CASE("a request for a new size trims the cache, least recently used size first") {
  memory_pool().set_limit(4096, 1024);  // cap 4096 bytes, trimmed to 1024 by a new size
  {
    Storage<float> a(100), b(150), c(200);  // 448, 640 and 832 bytes
  }
  CHECK(memory_pool().cached_bytes() == 1920);  // under the cap: all kept
  const void* kept = nullptr;
  {
    Storage<float> c(200);  // a size seen before: handed back, no trim
    kept = c.data();
    CHECK(memory_pool().cached_bytes() == 1088);
  }
  { Storage<float> d(10); }  // a new size (64 bytes): 1920 trimmed to <= 1024, stalest first
  CHECK(memory_pool().cached_bytes() == 896);  // 832 + 64: the 448 and 640 went
  Storage<float> c(200);
  CHECK(static_cast<const void*>(c.data()) == kept);
  gluino::set_memory_cache_limit(gluino::default_memory_cache_limit);
}
TEST_CASE("release_unused_since frees the cached sizes idle since a clock reading, and only those") {
  memory_pool().release();
  { Storage<float> a(100), b(200); }  // 448 and 832 bytes cached
  const std::uint64_t tick = memory_pool().clock();
  { Storage<float> b(200); }  // the 832-byte size handed out and taken back after the reading
  CHECK(memory_pool().clock() > tick);
  CHECK(memory_pool().release_unused_since(tick) == 448);
  CHECK(memory_pool().cached_bytes() == 832);
  Storage<float> again(100);  // the 448-byte size is still known: a new block, no trim
  CHECK(memory_pool().cached_bytes() == 832);
  CHECK(memory_pool().release_unused_since(memory_pool().clock()) == 832);
  CHECK(memory_pool().cached_bytes() == 0);
}
TEST_CASE("a request for a size seen before does not trim, even past the trim level") {
  memory_pool().set_limit(4096, 256);
  { Storage<float> a(100), b(150); }  // 448 + 640 bytes cached, both sizes seen
  {
    Storage<float> b1(150);  // handed back: 448 cached, above the 256 trim level
    Storage<float> b2(150);  // a second block of a seen size: a miss, but no trim
    CHECK(memory_pool().cached_bytes() == 448);
  }
  CHECK(memory_pool().cached_bytes() == 1728);  // 448 + 2 * 640: a loop's blocks stay up to the cap
  gluino::set_memory_cache_limit(gluino::default_memory_cache_limit);
}
TEST_CASE("a trim passes over the sizes whose blocks are all in use") {
  memory_pool().set_limit(4096, 256);
  Storage<float> held(50);  // 256 bytes: recorded at its request, no block cached, the oldest record
  { Storage<float> a(100), b(150); }  // 448 + 640 bytes cached
  { Storage<float> d(10); }  // a new size: b and a go (stalest first), the empty record is skipped
  CHECK(memory_pool().cached_bytes() == 64);
  gluino::set_memory_cache_limit(gluino::default_memory_cache_limit);
}
TEST_CASE("the records of sizes stay bounded when every request has a new size") {
  memory_pool().set_limit(1 << 20, 1 << 20);
  for (std::size_t n = 1; n <= 5000; ++n) Storage<char> s(64 * n);  // 5000 sizes, each freed once
  CHECK(memory_pool().recorded_sizes() <= 1024 + 1);
  CHECK(memory_pool().cached_bytes() <= (std::size_t(1) << 20));
  gluino::set_memory_cache_limit(gluino::default_memory_cache_limit);
}
TEST_CASE("a zero-size storage is valid") {
  Storage<float> z(0);
  CHECK(z.size() == 0);
  CHECK(z.data() != nullptr);
}
TEST_CASE("a byte count past PTRDIFF_MAX is a ValueError before any allocation") {
  constexpr std::size_t max_bytes = std::numeric_limits<std::ptrdiff_t>::max();
  CHECK(Storage<float>::max_size() == max_bytes / 4);
  CHECK(Storage<double>::max_size() == max_bytes / 8);
  CHECK_THROWS_WITH_AS(Storage<float>(std::size_t(1) << 62),  // 2^64 bytes: n * 4 wraps to 0
                       "Storage: 4611686018427387904 elements of 4 bytes overflow the largest allocation "
                       "(9223372036854775807 bytes)",
                       gluino::ValueError);
  CHECK_THROWS_AS(Storage<double>((std::size_t(1) << 61) + 1), gluino::ValueError);  // wraps to 8 bytes
  CHECK_THROWS_AS(Storage<char>(max_bytes + 1), gluino::ValueError);
  CHECK_THROWS_AS(Storage<float>(std::size_t(-1)), gluino::ValueError);
}
TEST_CASE("a byte count past the machine's RAM and swap is a ValueError naming it, not std::bad_alloc") {
  const std::size_t mem = gluino::detail::system_memory_bytes();
  CHECK(mem > (std::size_t(1) << 20));  // some memory, and known on Linux
  // 2^62 bytes: below PTRDIFF_MAX, so only the memory check can stop it before malloc does
  CHECK_THROWS_WITH_AS(Storage<float>(std::size_t(1) << 60),
                       doctest::Contains("Storage: 1152921504606846976 elements of 4 bytes (4611686018427387904 bytes) "
                                         "are more than this machine's memory"),
                       gluino::ValueError);
  CHECK_THROWS_AS(Storage<double>(mem / 8 + 1), gluino::ValueError);
  Storage<double> ok(1024);  // an ordinary size is unaffected
  CHECK(ok.size() == 1024);
}
TEST_CASE("the pool refuses a size whose rounding would wrap, or past PTRDIFF_MAX") {
  auto& pool = memory_pool();
  CHECK_THROWS_AS(pool.allocate(std::size_t(-1)), std::bad_alloc);  // rounding up wraps to 0
  CHECK_THROWS_AS(pool.allocate(std::size_t(-1) - 62), std::bad_alloc);
  CHECK_THROWS_AS(pool.allocate(std::size_t(std::numeric_limits<std::ptrdiff_t>::max()) + 1), std::bad_alloc);
}
TEST_CASE("the pool is one object for the whole process, never destroyed") {
  // memory_pool() returns an object that is never destroyed, so arrays with static storage
  // duration free safely at exit; tests/core/global_array_main.cpp checks the exit itself.
  CHECK(&memory_pool() == &memory_pool());
}
#if GLUINO_ASAN
// Under AddressSanitizer the pool poisons what no array may touch, so that an overrun into a
// block's rounding slack or a use of a freed (cached) block is reported as use-after-poison.
TEST_CASE("AddressSanitizer: a block's rounding slack and cached blocks are poisoned") {
  auto& pool = memory_pool();
  pool.release();
  auto* p = static_cast<unsigned char*>(pool.allocate(37));  // a fresh 64-byte block
  CHECK(__asan_region_is_poisoned(p, 37) == nullptr);
  CHECK(__asan_address_is_poisoned(p + 37));
  CHECK(__asan_region_is_poisoned(p + 37, 27) == p + 37);
  CHECK(__asan_address_is_poisoned(p + 63));
  pool.deallocate(p, 37);
  CHECK(pool.cached_bytes() == 64);
  CHECK(__asan_region_is_poisoned(p, 64) == p);  // cached: every byte poisoned
  auto* q = static_cast<unsigned char*>(pool.allocate(50));  // the cached block, handed out again
  CHECK(q == p);
  CHECK(__asan_region_is_poisoned(q, 50) == nullptr);
  CHECK(__asan_region_is_poisoned(q + 50, 14) == q + 50);
  pool.deallocate(q, 50);

  const float* freed = nullptr;
  {
    Storage<float> s(10);  // 40 bytes of a 64-byte block
    freed = s.data();
    CHECK(__asan_region_is_poisoned(const_cast<float*>(s.data()), 40) == nullptr);
    CHECK(__asan_address_is_poisoned(s.data() + 10));
  }
  CHECK(__asan_address_is_poisoned(freed));  // a stale pointer into the cache
  {
    Storage<float> z(0);  // nothing of a zero-size storage may be touched
    CHECK(__asan_address_is_poisoned(z.data()));
  }
  pool.release();  // blocks go back to the system unpoisoned
}
#endif
}
