// SPDX-License-Identifier: Apache-2.0
#include <gluino/core/storage.hpp>

#include <doctest/doctest.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <thread>
#include <vector>

using gluino::Storage;
using gluino::detail::ArenaScope;
using gluino::detail::StepArena;

namespace {
// One "step" as a graph run and its backward make it: a (alive until the end), b and c (freed
// in turn), d allocated after b died, so that it can take b's place.
struct Step {
  std::vector<const void*> addr;
  std::optional<Storage<float>> a, b, c, d;
  void run(StepArena& arena, bool expect_start = true) {
    REQUIRE(arena.begin_step() == expect_start);
    {
      const ArenaScope scope(expect_start ? &arena : nullptr);
      a.emplace(1000);
      b.emplace(4000);
      c.emplace(500);
      b.reset();
      d.emplace(3000);
      c.reset();
    }
    if (expect_start) arena.end_run();
    addr = {a->data(), d->data()};
  }
  void finish() { a.reset(), d.reset(); }
};
}  // namespace

TEST_SUITE("core/arena") {
TEST_CASE("a watched step plans the next ones: the same places every step, arrays alive together apart") {
  auto arena = std::make_shared<StepArena>();
  Step s1;
  s1.run(*arena);  // watched: the pool serves it
  s1.finish();
  CHECK(arena->capacity() == 0);
  Step s2;
  s2.run(*arena);  // planned from s1
  const std::size_t cap = arena->capacity();
  // a (4000 B) and b (16000 B) alive together; d (12000 B) reuses b's place after it died, and c
  // (2000 B) lies clear of a and b: the peak, 4032 + 16000 + 2048 bytes, not the sum of all.
  CHECK(cap == 4032 + 16000 + 2048);
  CHECK(arena->planned_blocks() == std::pair<std::size_t, std::size_t>{4, 4});
  const auto places = s2.addr;
  s2.a->data()[999] = 1.0f;
  s2.d->data()[2999] = 2.0f;
  CHECK(s2.a->data()[999] == 1.0f);  // a and d do not overlap
  s2.finish();
  Step s3;
  s3.run(*arena);
  CHECK(s3.addr == places);  // replayed: the same places, no allocation
  s3.finish();
}

TEST_CASE("a step starts only when nothing of the last one is alive; meanwhile the pool serves") {
  auto arena = std::make_shared<StepArena>();
  Step s1;
  s1.run(*arena);
  s1.finish();
  Step s2;
  s2.run(*arena);
  const auto places = s2.addr;
  // s2's arrays are still alive: another run must not reuse their places.
  Step s3;
  s3.run(*arena, /*expect_start=*/false);
  CHECK(s3.addr[0] != places[0]);
  CHECK(s3.addr[1] != places[1]);
  s2.finish();
  s3.finish();
  Step s4;
  s4.run(*arena);
  CHECK(s4.addr == places);
  s4.finish();
}

TEST_CASE("an array kept past its planned death is not overwritten: the overlapping one goes to the pool") {
  auto arena = std::make_shared<StepArena>();
  Step s1;
  s1.run(*arena);
  s1.finish();
  REQUIRE(arena->begin_step());
  std::optional<Storage<float>> a, b, c, d;
  {
    const ArenaScope scope(arena.get());
    a.emplace(1000);
    b.emplace(4000);
    c.emplace(500);
    d.emplace(3000);  // planned in b's place, but b is alive
  }
  arena->end_run();
  const float* b_end = b->data() + 4000;
  const float* d_end = d->data() + 3000;
  CHECK((d_end <= b->data() || b_end <= d->data()));
  std::fill(b->data(), b->data() + 4000, 1.0f);
  std::fill(d->data(), d->data() + 3000, 2.0f);
  CHECK(b->data()[0] == 1.0f);
  CHECK(b->data()[3999] == 1.0f);
}

TEST_CASE("a step that asks for other sizes falls back to the pool, and the next one is watched again") {
  auto arena = std::make_shared<StepArena>();
  Step s1;
  s1.run(*arena);
  s1.finish();
  REQUIRE(arena->begin_step());
  const float* p = nullptr;
  {
    const ArenaScope scope(arena.get());
    Storage<float> other(777);  // not the plan's first size
    p = other.data();
    CHECK(arena->planned_blocks().first == 4);
  }
  arena->end_run();
  CHECK(p != nullptr);
  Step s2;
  s2.run(*arena);  // watched again (a new plan from it follows)
  s2.finish();
  Step s3;
  s3.run(*arena);
  const auto places = s3.addr;
  s3.finish();
  Step s4;
  s4.run(*arena);
  CHECK(s4.addr == places);
  s4.finish();
}

TEST_CASE("a watched step's arrays go back to the system, not to the pool's cache") {
  gluino::detail::memory_pool().release();
  auto arena = std::make_shared<StepArena>();
  Step s1;
  s1.run(*arena);
  s1.finish();
  CHECK(gluino::detail::memory_pool().cached_bytes() == 0);
  {  // a large block, mapped from the system directly (detail::direct_map_bytes)
    auto big_arena = std::make_shared<StepArena>();
    REQUIRE(big_arena->begin_step());
    {
      const ArenaScope scope(big_arena.get());
      Storage<double> big(std::size_t(1) << 17);
      CHECK(reinterpret_cast<std::uintptr_t>(big.data()) % 64 == 0);
      std::fill(big.data(), big.data() + big.size(), 1.5);
      CHECK(big.data()[big.size() - 1] == 1.5);
    }
    big_arena->end_run();
  }
  CHECK(gluino::detail::memory_pool().cached_bytes() == 0);
  {
    Storage<float> outside(1000);  // no arena: the pool caches it
  }
  CHECK(gluino::detail::memory_pool().cached_bytes() == 4032);
}

TEST_CASE("a storage outlives the arena that placed it") {
  std::optional<Storage<float>> kept;
  {
    auto arena = std::make_shared<StepArena>();
    Step s1;
    s1.run(*arena);
    s1.finish();
    REQUIRE(arena->begin_step());
    {
      const ArenaScope scope(arena.get());
      kept.emplace(1000);
    }
    arena->end_run();
  }  // the last handle to the arena is the storage's
  std::fill(kept->data(), kept->data() + 1000, 3.0f);
  CHECK(kept->data()[999] == 3.0f);
}

TEST_CASE("threads running one arena: one holds the step, the others use the pool") {
  auto arena = std::make_shared<StepArena>();
  Step s1;
  s1.run(*arena);
  s1.finish();
  std::vector<std::thread> threads;
  std::vector<int> started(4, 0);
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int k = 0; k < 50; ++k) {
        const bool mine = arena->begin_step();
        started[std::size_t(t)] += mine;
        std::vector<std::unique_ptr<Storage<double>>> live;
        {
          const ArenaScope scope(mine ? arena.get() : nullptr);
          for (int i = 0; i < 4; ++i) live.push_back(std::make_unique<Storage<double>>(std::size_t(100 + t)));
        }
        for (std::size_t i = 0; i < live.size(); ++i)
          std::fill(live[i]->data(), live[i]->data() + live[i]->size(), double(t * 10 + int(i)));
        for (std::size_t i = 0; i < live.size(); ++i)
          for (std::size_t j = 0; j < live[i]->size(); ++j) REQUIRE(live[i]->data()[j] == double(t * 10 + int(i)));
        if (mine) arena->end_run();
      }
    });
  for (auto& th : threads) th.join();
  int total = 0;
  for (int s : started) total += s;
  CHECK(total > 0);
}
}
