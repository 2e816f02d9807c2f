// SPDX-License-Identifier: Apache-2.0
#pragma once
/// AddressSanitizer's view of gluino's own allocators (the memory pool, core/storage.hpp, and the
/// step arena, core/arena.hpp): GLUINO_ASAN, and poisoning that is a no-op in other builds.
#include <cstddef>

// GLUINO_ASAN is 1 when compiled with AddressSanitizer (GCC defines __SANITIZE_ADDRESS__, Clang
// answers __has_feature): the pool then poisons the memory no array may touch (see MemoryPool).
#if defined(__SANITIZE_ADDRESS__)
#define GLUINO_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define GLUINO_ASAN 1
#endif
#endif
#ifndef GLUINO_ASAN
#define GLUINO_ASAN 0
#endif
#if GLUINO_ASAN
#include <sanitizer/asan_interface.h>
#endif

namespace gluino::detail {
/// Marks [p, p + n) as not addressable for AddressSanitizer; a no-op in other builds.
inline void asan_poison(void* p, std::size_t n) noexcept {
#if GLUINO_ASAN
  __asan_poison_memory_region(p, n);
#else
  (void)p, (void)n;
#endif
}
/// Marks [p, p + n) addressable again for AddressSanitizer; a no-op in other builds.
inline void asan_unpoison(void* p, std::size_t n) noexcept {
#if GLUINO_ASAN
  __asan_unpoison_memory_region(p, n);
#else
  (void)p, (void)n;
#endif
}
}  // namespace gluino::detail
