// SPDX-License-Identifier: Apache-2.0
#include <gluino/data/sampler.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <limits>
#include <memory>
#include <vector>

#include <gluino/data/dataloader.hpp>

using namespace gluino;

TEST_SUITE("data/sampler") {
TEST_CASE("SplitSampler: parts of sizes within one, together every index once, a new order each epoch") {
  for (std::size_t parts : {1, 2, 3, 4, 7}) {
    for (std::size_t n : {0, 1, 10, 103}) {
      std::vector<int> seen(n, 0);
      std::size_t smallest = n, largest = 0;
      for (std::size_t k = 0; k < parts; ++k) {
        data::SplitSampler s(parts, k, {.seed = 4});
        const auto part = s.next_epoch(n);
        CHECK(part.size() == s.length(n));
        smallest = std::min(smallest, part.size());
        largest = std::max(largest, part.size());
        for (std::size_t i : part) ++seen[i];
      }
      CHECK(largest - smallest <= 1);
      CHECK(std::all_of(seen.begin(), seen.end(), [](int c) { return c == 1; }));
    }
  }
  data::SplitSampler s(2, 1, {.seed = 4});
  const auto e0 = s.next_epoch(50), e1 = s.next_epoch(50);
  CHECK(e0 != e1);
  CHECK(s.epoch() == 2);
  s.set_epoch(0);  // resuming
  CHECK(s.next_epoch(50) == e0);
  data::SplitSampler ordered(4, 2, {.shuffle = false});
  CHECK(ordered.next_epoch(10) == std::vector<std::size_t>{5, 6});
  CHECK_THROWS_WITH_AS(data::SplitSampler(2, 2), doctest::Contains("part 2 of 2 parts"), ValueError);
  CHECK_THROWS_AS(data::SplitSampler(0, 0), ValueError);
  CHECK_THROWS_AS(data::SplitSampler(3, 7), ValueError);
}
TEST_CASE("SplitSampler: drop_last gives every part n / parts indices, none twice; sizes near SIZE_MAX") {
  for (std::size_t parts : {1, 2, 3, 7}) {
    for (std::size_t n : {0, 1, 5, 10, 103}) {
      CAPTURE(parts);
      CAPTURE(n);
      std::vector<int> seen(n, 0);
      for (std::size_t k = 0; k < parts; ++k) {
        data::SplitSampler s(parts, k, {.seed = 4, .drop_last = true});
        CHECK(s.length(n) == n / parts);  // more parts than samples: every part empty, none with one more
        for (int epoch = 0; epoch < 2; ++epoch) {
          const auto part = s.next_epoch(n);
          CHECK(part.size() == n / parts);
          if (epoch == 0)
            for (std::size_t i : part) ++seen[i];
        }
      }
      CHECK(std::count(seen.begin(), seen.end(), 1) == std::ptrdiff_t(n / parts * parts));
      CHECK(std::count(seen.begin(), seen.end(), 0) == std::ptrdiff_t(n % parts));
    }
  }
  // More parts than samples without drop_last: the parts differ by one, so do the batch counts.
  std::size_t nonempty = 0;
  for (std::size_t k = 0; k < 4; ++k) nonempty += data::SplitSampler(4, k).length(2) > 0;
  CHECK(nonempty == 2);
  // k * n does not overflow: the lengths of a huge dataset still add up to it.
  const std::size_t huge = std::numeric_limits<std::size_t>::max();
  std::size_t total = 0;
  for (std::size_t k = 0; k < 7; ++k) {
    const std::size_t len = data::SplitSampler(7, k).length(huge);
    CHECK(len >= huge / 7);
    CHECK(len <= huge / 7 + 1);
    total += len;
  }
  CHECK(total == huge);
  CHECK(data::SplitSampler(7, 6, {.drop_last = true}).length(huge) == huge / 7);
}
TEST_CASE("SplitSampler: more parts than 2^32 (up to 2^64 - 1): where each part starts does not overflow") {
  // Part k starts at floor(k n / parts), worked out here in 128 bits.
  __extension__ typedef unsigned __int128 Wide;
  const std::size_t max = std::numeric_limits<std::size_t>::max();
  auto start = [](std::size_t n, std::size_t parts, std::size_t k) {
    return static_cast<std::size_t>(Wide(k) * Wide(n) / Wide(parts));
  };
  const std::size_t cases[][2] = {{max, max - 1}, {max, max}, {max - 1, 12345}, {(std::size_t(1) << 63) + 5, max},
                                  {5000000000, (std::size_t(1) << 40) + 7}, {5000000000, 4999999999},
                                  {(std::size_t(1) << 32) + 1, max - 3}};
  for (const auto& [parts, n] : cases) {
    CAPTURE(parts);
    CAPTURE(n);
    for (const std::size_t k : {std::size_t(0), std::size_t(1), parts / 3, parts / 2, parts - 2, parts - 1}) {
      CAPTURE(k);
      const std::size_t len = data::SplitSampler(parts, k).length(n);
      CHECK(len == start(n, parts, k + 1) - start(n, parts, k));
      CHECK(len >= n / parts);
      CHECK(len <= n / parts + 1);
    }
  }
}
TEST_CASE("a DataLoader with a sampler visits the sampler's indices; size() counts them") {
  NDArray<float> x(Shape{10, 1}), y(Shape{10});
  for (std::size_t i = 0; i < 10; ++i) x.at(i, 0) = y.at(i) = float(i);
  data::ArrayDataset<float> ds(x, y);
  auto sampler = std::make_shared<data::SplitSampler>(2, 0, data::SplitSamplerOptions{.shuffle = false});
  data::DataLoader loader(ds, {.batch_size = 2, .sampler = sampler});
  CHECK(loader.size() == 3);
  std::vector<float> got;
  for (auto [bx, by] : loader)
    for (float v : by.to_vector()) got.push_back(v);
  CHECK(got == std::vector<float>{0, 1, 2, 3, 4});
  CHECK_THROWS_WITH_AS(data::DataLoader(ds, {.batch_size = 2, .shuffle = true, .sampler = sampler}),
                       doctest::Contains("shuffle must be false when a sampler is given"), ValueError);
  struct Bad : data::Sampler {
    std::vector<std::size_t> next_epoch(std::size_t n) override { return {n}; }
    std::size_t length(std::size_t) const override { return 1; }
  };
  data::DataLoader bad(ds, {.batch_size = 2, .sampler = std::make_shared<Bad>()});
  CHECK_THROWS_WITH_AS((void)bad.begin(), doctest::Contains("the sampler gave index 10 for a dataset of 10 samples"),
                       ValueError);
}
}
