// SPDX-License-Identifier: Apache-2.0
#include <gluino/core/parallel.hpp>

#include <doctest/doctest.h>

#include <atomic>
#include <climits>
#include <cstddef>
#include <new>
#include <stdexcept>
#include <string>
#include <vector>

using gluino::detail::parallel_for;
using gluino::detail::run_team;

TEST_SUITE("core/parallel") {
TEST_CASE("parallel_for: every index runs once, on 2 threads") {
  gluino::set_num_threads(2);
  std::vector<int> hits(100000, 0);
  parallel_for(hits.size(), [&](std::size_t i) { hits[i] += 1; });
  for (int h : hits) REQUIRE(h == 1);
}

TEST_CASE("parallel_for: an exception thrown by the body reaches the caller (2 threads)") {
  // Under OpenMP an exception leaving the region would call std::terminate.
  gluino::set_num_threads(2);
  const std::size_t n = 100000;
  SUBCASE("from the last index (the second thread's half)") {
    CHECK_THROWS_WITH_AS(parallel_for(n, [&](std::size_t i) {
                           if (i == n - 1) throw std::runtime_error("item " + std::to_string(i));
                         }),
                         "item 99999", std::runtime_error);
  }
  SUBCASE("from every index: the first one caught is rethrown, once") {
    CHECK_THROWS_AS(parallel_for(n, [](std::size_t) { throw std::bad_alloc(); }), std::bad_alloc);
  }
  SUBCASE("the pool works after a failure") {
    CHECK_THROWS_AS(parallel_for(n, [](std::size_t i) {
                      if (i % 7 == 3) throw std::out_of_range("x");
                    }),
                    std::out_of_range);
    std::atomic<std::size_t> count{0};
    parallel_for(n, [&](std::size_t) { count.fetch_add(1, std::memory_order_relaxed); });
    CHECK(count.load() == n);
  }
}

TEST_CASE("run_team: an exception on any thread of the team reaches the caller after the team ends") {
  gluino::set_num_threads(2);
  CHECK_THROWS_WITH_AS(run_team(2,
                                [&](int tid, int team) {
                                  if (tid == team - 1) throw std::length_error("thread " + std::to_string(tid));
                                }),
                       doctest::Contains("thread "), std::length_error);
  // the calling thread (thread 0) throwing is carried the same way
  CHECK_THROWS_AS(run_team(2,
                           [](int tid, int) {
                             if (tid == 0) throw std::bad_alloc();
                           }),
                  std::bad_alloc);
}

TEST_CASE("set_num_threads: 0, negative or more than max_num_threads() is a ValueError naming n; nothing changes") {
  gluino::set_num_threads(2);
  const int before = gluino::get_num_threads();
  CHECK_THROWS_WITH_AS(gluino::set_num_threads(0), doctest::Contains("set_num_threads: n must be >= 1, got 0"),
                       gluino::ValueError);
  CHECK_THROWS_WITH_AS(gluino::set_num_threads(-3), doctest::Contains("got -3"), gluino::ValueError);
  // INT_MAX threads: libgomp died allocating the team ("Out of memory allocating ... bytes").
  CHECK_THROWS_WITH_AS(gluino::set_num_threads(INT_MAX), doctest::Contains("got 2147483647"), gluino::ValueError);
  CHECK(gluino::max_num_threads() >= 1);
  CHECK_THROWS_AS(gluino::set_num_threads(gluino::max_num_threads() + 1), gluino::ValueError);
  CHECK(gluino::get_num_threads() == before);
  std::atomic<std::size_t> count{0};
  parallel_for(100000, [&](std::size_t) { count.fetch_add(1, std::memory_order_relaxed); });
  CHECK(count.load() == 100000);
  gluino::set_num_threads(1);  // the bounds themselves are accepted
  CHECK(gluino::get_num_threads() == 1);
  gluino::set_num_threads(2);
}
}
