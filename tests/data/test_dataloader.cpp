// SPDX-License-Identifier: Apache-2.0
#include <gluino/data/dataloader.hpp>

#include <doctest/doctest.h>

#include <gluino/nd/creation.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <limits>
#include <memory>
#include <numeric>
#include <thread>

#include <sys/resource.h>
#include <unistd.h>

#include <fstream>

using namespace gluino;

namespace {
// n samples: data (2,) = {i, -i}, label () = i.
data::ArrayDataset<float> counting(std::size_t n) {
  NDArray<float> x(Shape{n, 2}), y(Shape{n});
  for (std::size_t i = 0; i < n; ++i) {
    x.at(i, 0) = float(i);
    x.at(i, 1) = -float(i);
    y.at(i) = float(i);
  }
  return data::ArrayDataset<float>(x, y);
}
// The labels of one epoch, batch by batch.
std::vector<std::vector<float>> epoch(data::DataLoader<float>& loader) {
  std::vector<std::vector<float>> out;
  for (auto [x, y] : loader) {
    CHECK(x.shape() == Shape{y.shape(0), 2});
    for (std::size_t j = 0; j < y.shape(0); ++j) CHECK(x.at(j, 1) == -y.at(j));  // data and label stay paired
    out.push_back(y.to_vector());
  }
  return out;
}
std::vector<float> flat(const std::vector<std::vector<float>>& e) {
  std::vector<float> v;
  for (const auto& b : e) v.insert(v.end(), b.begin(), b.end());
  return v;
}
}  // namespace

TEST_SUITE("data/dataloader") {
TEST_CASE("batches in order; last_batch keep / discard") {
  auto ds = counting(10);
  data::DataLoader keep(ds, {.batch_size = 4});
  CHECK(keep.size() == 3);
  CHECK(epoch(keep) == std::vector<std::vector<float>>{{0, 1, 2, 3}, {4, 5, 6, 7}, {8, 9}});
  data::DataLoader discard(ds, {.batch_size = 4, .last_batch = "discard"});
  CHECK(discard.size() == 2);
  CHECK(epoch(discard) == std::vector<std::vector<float>>{{0, 1, 2, 3}, {4, 5, 6, 7}});
}
TEST_CASE("batch_size larger than the dataset: one batch with keep, none with discard, up to SIZE_MAX") {
  auto ds = counting(5);
  for (std::size_t bs : {std::size_t(6), std::size_t(1) << 62, std::numeric_limits<std::size_t>::max()}) {
    CAPTURE(bs);
    for (std::size_t workers : {0, 2}) {
      CAPTURE(workers);
      data::DataLoader keep(ds, {.batch_size = bs, .num_workers = workers});
      CHECK(keep.size() == 1);
      CHECK(epoch(keep) == std::vector<std::vector<float>>{{0, 1, 2, 3, 4}});
      data::DataLoader discard(ds, {.batch_size = bs, .last_batch = "discard", .num_workers = workers});
      CHECK(discard.size() == 0);
      CHECK(epoch(discard).empty());
    }
  }
}
TEST_CASE("last_batch rollover carries the remainder into the next epoch") {
  data::DataLoader loader(counting(10), {.batch_size = 4, .last_batch = "rollover"});
  CHECK(loader.size() == 2);
  CHECK(epoch(loader) == std::vector<std::vector<float>>{{0, 1, 2, 3}, {4, 5, 6, 7}});
  CHECK(loader.size() == 3);  // 2 carried + 10
  CHECK(epoch(loader) == std::vector<std::vector<float>>{{8, 9, 0, 1}, {2, 3, 4, 5}, {6, 7, 8, 9}});
  CHECK(loader.size() == 2);
}
TEST_CASE("shuffle: a permutation per epoch, reproducible from the seed") {
  auto ds = counting(20);
  data::DataLoader a(ds, {.batch_size = 6, .shuffle = true, .seed = 7});
  data::DataLoader b(ds, {.batch_size = 6, .shuffle = true, .seed = 7});
  data::DataLoader c(ds, {.batch_size = 6, .shuffle = true, .seed = 8});
  auto a1 = flat(epoch(a)), a2 = flat(epoch(a)), b1 = flat(epoch(b)), b2 = flat(epoch(b)), c1 = flat(epoch(c));
  CHECK(a1 == b1);
  CHECK(a2 == b2);
  CHECK(a1 != a2);  // a new order each epoch
  CHECK(a1 != c1);
  auto sorted = a2;
  std::sort(sorted.begin(), sorted.end());
  CHECK(sorted == flat(epoch(*std::make_unique<data::DataLoader<float>>(ds, data::DataLoaderOptions{.batch_size = 20}))));
  // Without a seed, the default generator decides.
  random::seed(3);
  data::DataLoader d(ds, {.batch_size = 6, .shuffle = true});
  random::seed(3);
  data::DataLoader e(ds, {.batch_size = 6, .shuffle = true});
  CHECK(flat(epoch(d)) == flat(epoch(e)));
}
TEST_CASE("prefetch gives the same batches, and early exits neither hang nor leak") {
  auto ds = counting(50);
  data::DataLoader plain(ds, {.batch_size = 8, .shuffle = true, .seed = 1});
  data::DataLoader pre(ds, {.batch_size = 8, .shuffle = true, .seed = 1, .prefetch = true});
  const int threads = get_num_threads();
  for (int ep = 0; ep < 3; ++ep) CHECK(epoch(plain) == epoch(pre));
  CHECK(get_num_threads() == threads);  // the worker's single-thread setting stays on the worker
  for (int i = 0; i < 20; ++i) {  // abandon after 0 or 1 batches
    for (auto [x, y] : pre) {
      (void)x;
      if (y.at(0) >= 0) break;
    }
    { auto it = pre.begin(); }
  }
  std::size_t batches = 0;
  for (auto it = pre.begin(); it != pre.end(); ++it) batches += it->label.shape(0) > 0;
  CHECK(batches == 7);
}
TEST_CASE("errors: options, mismatched sample shapes, and exceptions from a prefetching worker") {
  auto ds = counting(4);
  CHECK_THROWS_WITH_AS(data::DataLoader(ds, {.batch_size = 0}), doctest::Contains("batch_size must be > 0"), ValueError);
  CHECK_THROWS_WITH_AS(data::DataLoader(ds, {.batch_size = 2, .last_batch = "drop"}),
                       doctest::Contains("got \"drop\""), ValueError);
  data::SimpleDataset<float> ragged({{nd::zeros<float>({2}), nd::zeros<float>({})},
                                     {nd::zeros<float>({3}), nd::zeros<float>({})}});
  data::DataLoader rl(ragged, {.batch_size = 2});
  CHECK_THROWS_WITH_AS(rl.begin(), doctest::Contains("sample 1 has data shape (3,), unlike the batch's first sample (2,)"),
                       ShapeError);
  for (bool prefetch : {false, true}) {
    auto bad = ds.transform_first([](const NDArray<float>& x) {
      if (x.at(0) == 3) throw ValueError("bad sample");
      return x;
    });
    data::DataLoader loader(bad, {.batch_size = 1, .prefetch = prefetch});
    int seen = 0;
    auto run = [&] {
      for (auto [x, y] : loader) seen += (x.size() == 2);
    };
    CHECK_THROWS_WITH_AS(run(), "bad sample", ValueError);
    CHECK(seen == 3);
  }
}
TEST_CASE("transforms run unrecorded, and batches are fresh arrays") {
  auto ds = counting(4);
  std::atomic<int> recorded{0};
  auto t = ds.transform_first([&](const NDArray<float>& x) {
    recorded += autograd::is_recording();
    return x;
  });
  data::DataLoader loader(t, {.batch_size = 2});
  autograd::record rec;
  std::vector<NDArray<float>> kept;
  for (auto [x, y] : loader) kept.push_back(x);
  CHECK(recorded == 0);
  CHECK(kept[0].data() != kept[1].data());
  CHECK(kept[0].to_vector() == std::vector<float>{0, 0, 1, -1});
}
TEST_CASE("num_workers: batches in order, the serial loader's batches, whatever the number of workers") {
  // Samples take uneven times, so the workers finish out of order.
  auto slow = counting(41).transform_first([](const NDArray<float>& x) {
    std::this_thread::sleep_for(std::chrono::microseconds(static_cast<int>(x.at(0)) % 7 * 150));
    return x;
  });
  data::DataLoader serial(slow, {.batch_size = 3, .shuffle = true, .seed = 5});
  const auto ref1 = epoch(serial), ref2 = epoch(serial);
  REQUIRE(ref1.size() == 14);
  const int threads = get_num_threads();
  for (std::size_t workers : {1, 2, 3, 8}) {
    for (std::optional<std::size_t> ahead : {std::optional<std::size_t>{}, std::optional<std::size_t>{1},
                                             std::optional<std::size_t>{5}}) {
      CAPTURE(workers);
      CAPTURE(ahead.value_or(0));
      data::DataLoader loader(slow, {.batch_size = 3, .shuffle = true, .seed = 5, .num_workers = workers,
                                     .prefetch = ahead});
      CHECK(epoch(loader) == ref1);
      CHECK(epoch(loader) == ref2);
    }
  }
  CHECK(get_num_threads() == threads);
}
TEST_CASE("num_workers: random draws of sample_generator() are the same whatever the workers, new each epoch") {
  // Each sample gets a random offset from the batch's generator.
  auto noisy = counting(30).transform_first([](const NDArray<float>& x) {
    NDArray<float> y = x.copy();
    y.at(0) += static_cast<float>(data::sample_generator().uniform01());
    return y;
  });
  auto draws = [&](std::size_t workers, std::optional<std::size_t> ahead) {
    data::DataLoader loader(noisy, {.batch_size = 4, .seed = 9, .num_workers = workers, .prefetch = ahead});
    std::vector<float> out;
    for (int e = 0; e < 2; ++e)
      for (auto [x, y] : loader)
        for (std::size_t j = 0; j < y.shape(0); ++j) out.push_back(x.at(j, 0) - y.at(j));
    return out;
  };
  const auto ref = draws(0, {});
  REQUIRE(ref.size() == 60);
  CHECK(std::all_of(ref.begin(), ref.end(), [](float v) { return v >= 0 && v < 1; }));
  CHECK(std::vector<float>(ref.begin(), ref.begin() + 30) != std::vector<float>(ref.begin() + 30, ref.end()));
  std::vector<float> first(ref.begin(), ref.begin() + 30);
  std::sort(first.begin(), first.end());
  CHECK(std::adjacent_find(first.begin(), first.end()) == first.end());  // no two samples draw alike
  CHECK(draws(1, 1) == ref);
  CHECK(draws(3, {}) == ref);
  CHECK(draws(4, 2) == ref);
  // Outside a loader, sample_generator() is the thread's default generator.
  CHECK(&data::sample_generator() == &random::default_generator());
}
TEST_CASE("num_workers: an exception reaches the loop at the batch it belongs to") {
  auto bad = counting(20).transform_first([](const NDArray<float>& x) {
    if (x.at(0) == 13) throw ValueError("bad sample 13");
    if (x.at(0) == 17) throw StateError("bad sample 17");
    if (x.at(0) < 3) std::this_thread::sleep_for(std::chrono::milliseconds(5));  // later batches finish first
    return x;
  });
  for (std::size_t workers : {1, 2, 3, 6}) {
    CAPTURE(workers);
    data::DataLoader loader(bad, {.batch_size = 2, .num_workers = workers});
    std::vector<float> seen;
    auto run = [&] {
      for (auto [x, y] : loader)
        for (float v : y) seen.push_back(v);
    };
    CHECK_THROWS_WITH_AS(run(), "bad sample 13", ValueError);
    CHECK(seen == std::vector<float>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11});  // batches 0-5, then batch 6 threw
    seen.clear();
    CHECK_THROWS_WITH_AS(run(), "bad sample 13", ValueError);  // the next epoch starts afresh
    CHECK(seen.size() == 12);
  }
}
TEST_CASE("num_workers: a count no machine runs is a ValueError naming it, at construction") {
  CHECK_THROWS_WITH_AS(data::DataLoader(counting(4), {.num_workers = 100000}),
                       doctest::Contains("num_workers 100000"), ValueError);
  CHECK_NOTHROW(data::DataLoader(counting(4), {.num_workers = data::max_num_workers}));
}
// Sanitizers reserve vast address space and fail on their own under an address-space limit.
#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || __has_feature(memory_sanitizer)
#define GLUINO_TEST_SANITIZED 1
#endif
#endif
#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__) && !defined(GLUINO_TEST_SANITIZED)
TEST_CASE("num_workers: threads that cannot start give a gluino error, and keep the rollover carry") {
  // An address-space limit just above what the process uses leaves no room for new threads'
  // stacks (glibc reuses a few cached ones: hence 16 workers).
  data::DataLoader loader(counting(41), {.batch_size = 2, .last_batch = "rollover", .num_workers = 16});
  std::vector<float> first(40);
  std::iota(first.begin(), first.end(), 0.0f);
  CHECK(flat(epoch(loader)) == first);
  CHECK(loader.size() == 21);  // 40 carried + 41
  std::size_t pages = 0;
  std::ifstream("/proc/self/statm") >> pages;
  REQUIRE(pages > 0);
  rlimit old{};
  REQUIRE(getrlimit(RLIMIT_AS, &old) == 0);
  rlimit low = old;
  low.rlim_cur = static_cast<rlim_t>(pages * static_cast<std::size_t>(sysconf(_SC_PAGESIZE)) + (1u << 20));
  REQUIRE(setrlimit(RLIMIT_AS, &low) == 0);
  std::string what;
  bool gluino_error = false;
  try {
    loader.begin();
  } catch (const Error& e) {
    gluino_error = true;
    what = e.what();
  } catch (const std::exception& e) {
    what = e.what();
  }
  REQUIRE(setrlimit(RLIMIT_AS, &old) == 0);
  CAPTURE(what);
  CHECK(gluino_error);
  CHECK(what.find("DataLoader: could not start worker thread") != std::string::npos);
  CHECK(what.find("num_workers 16") != std::string::npos);
  CHECK(loader.size() == 21);  // the failed epoch took nothing: 40 is still carried
  std::vector<float> second{40};
  for (float i = 0; i < 41; ++i) second.push_back(i);
  CHECK(flat(epoch(loader)) == second);
}
#endif
TEST_CASE("num_workers: prefetch bounds the batches made ahead") {
  std::atomic<int> fetched{0};
  auto counted = counting(64).transform_first([&](const NDArray<float>& x) {
    ++fetched;
    return x;
  });
  data::DataLoader loader(counted, {.batch_size = 2, .num_workers = 4, .prefetch = 3});
  {
    auto it = loader.begin();  // batch 0 taken; batches 1-3 may be made, no more
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    CHECK(fetched.load() <= 2 * 4);
    CHECK(fetched.load() >= 2);
    ++it;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    CHECK(fetched.load() <= 2 * 5);
  }
  fetched = 0;
  data::DataLoader gluon_default(counted, {.batch_size = 2, .num_workers = 2});  // prefetch 2 * 2
  {
    auto it = gluon_default.begin();
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    CHECK(fetched.load() <= 2 * 5);
  }
}
TEST_CASE("num_workers: leaving a loop early, or destroying the loader mid-epoch, neither hangs nor leaks") {
  auto ds = counting(60);
  data::DataLoader loader(ds, {.batch_size = 2, .shuffle = true, .seed = 2, .num_workers = 3});
  for (int i = 0; i < 20; ++i) {
    for (auto [x, y] : loader) {
      (void)x;
      if (y.at(0) >= 0) break;  // after the first batch
    }
    { auto it = loader.begin(); }  // workers still busy filling the queue
  }
  // The loader destroyed while an epoch is running: the epoch keeps what it needs.
  auto owned = std::make_unique<data::DataLoader<float>>(ds, data::DataLoaderOptions{.batch_size = 4, .num_workers = 3});
  auto it = owned->begin();
  owned.reset();
  std::vector<float> labels;
  for (; it != data::DataLoader<float>::Sentinel{}; ++it)
    for (float v : it->label) labels.push_back(v);
  CHECK(labels.size() == 60);
  CHECK(std::is_sorted(labels.begin(), labels.end()));
  // Both destroyed while the workers wait for room in the queue.
  {
    auto doomed = std::make_unique<data::DataLoader<float>>(ds, data::DataLoaderOptions{.batch_size = 1, .num_workers = 3});
    auto it2 = doomed->begin();
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    doomed.reset();
  }
}
TEST_CASE("an exception ends the epoch: advancing past it neither hangs nor yields batches") {
  auto bad = counting(6).transform_first([](const NDArray<float>& x) {
    if (x.at(0) == 2) throw ValueError("bad sample 2");
    return x;
  });
  for (std::size_t workers : {0, 1, 3}) {
    CAPTURE(workers);
    data::DataLoader loader(bad, {.batch_size = 1, .num_workers = workers});
    auto it = loader.begin();
    std::vector<float> seen;
    CHECK_THROWS_WITH_AS(
        [&] {
          for (; it != loader.end(); ++it) seen.push_back(it->label.at(0));
        }(),
        "bad sample 2", ValueError);
    CHECK(seen == std::vector<float>{0, 1});
    CHECK(it == loader.end());  // the epoch is over, as a Python generator that raised
    ++it;                       // a no-op: neither waits for workers that were stopped nor goes on
    CHECK(it == loader.end());
  }
}
TEST_CASE("prefetch larger than the epoch is bounded by its batches, not allocated") {
  auto ds = counting(5);
  for (std::size_t workers : {0, 2}) {
    data::DataLoader loader(ds, {.batch_size = 2, .num_workers = workers, .prefetch = std::size_t(1) << 62});
    CHECK(epoch(loader) == std::vector<std::vector<float>>{{0, 1}, {2, 3}, {4}});
  }
}
namespace {
// Every index once per epoch, in order; epoch `fail_at` gives an out-of-range index.
struct FlakySampler : data::Sampler {
  int epoch = 0, fail_at = 1;
  std::vector<std::size_t> next_epoch(std::size_t n) override {
    std::vector<std::size_t> v(n);
    std::iota(v.begin(), v.end(), std::size_t(0));
    if (epoch++ == fail_at) v.back() = n;
    return v;
  }
  std::size_t length(std::size_t n) const override { return n; }
};
}  // namespace
TEST_CASE("rollover: a sampler error at the start of an epoch keeps the carried samples") {
  data::DataLoader loader(counting(5), {.batch_size = 2, .last_batch = "rollover",
                                        .sampler = std::make_shared<FlakySampler>()});
  CHECK(epoch(loader) == std::vector<std::vector<float>>{{0, 1}, {2, 3}});
  CHECK_THROWS_WITH_AS(loader.begin(), doctest::Contains("the sampler gave index 5 for a dataset of 5 samples"),
                       ValueError);
  CHECK(loader.size() == 3);  // 4 still carried + 5
  CHECK(epoch(loader) == std::vector<std::vector<float>>{{4, 0}, {1, 2}, {3, 4}});
}
namespace {
// Gives the first `give` indices of each epoch, while length() promises `promise`.
struct MiscountingSampler : data::Sampler {
  std::size_t give, promise;
  MiscountingSampler(std::size_t g, std::size_t p) : give(g), promise(p) {}
  std::vector<std::size_t> next_epoch(std::size_t n) override {
    std::vector<std::size_t> v(std::min(give, n));
    std::iota(v.begin(), v.end(), std::size_t(0));
    return v;
  }
  std::size_t length(std::size_t) const override { return promise; }
};
}  // namespace
TEST_CASE("a sampler whose epoch is not as long as its length() says is a ValueError, not a wrong size()") {
  // size() (len(loader)) says 3 batches; an epoch would give 1: a schedule built on size() goes wrong.
  data::DataLoader loader(counting(6), {.batch_size = 2, .sampler = std::make_shared<MiscountingSampler>(2, 6)});
  CHECK(loader.size() == 3);
  CHECK_THROWS_WITH_AS(loader.begin(),
                       doctest::Contains("DataLoader: the sampler gave 2 indices for an epoch, but its length() is 6"),
                       ValueError);
  data::DataLoader fine(counting(6), {.batch_size = 2, .sampler = std::make_shared<MiscountingSampler>(4, 4)});
  CHECK(epoch(fine) == std::vector<std::vector<float>>{{0, 1}, {2, 3}});
}
}
