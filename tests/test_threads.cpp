// SPDX-License-Identifier: Apache-2.0
// Threads: two models trained at once on two std::threads, convolutions sharing the wide kernel's
// packing cache, and DataLoaders with a prefetch worker.  scripts/test.sh runs this executable
// under ThreadSanitizer (GLUINO_SANITIZE_THREAD).
#include <gluino/core/random.hpp>
#include <gluino/core/warning.hpp>

#include <doctest/doctest.h>

#include <atomic>
#include <cstdint>
#include <latch>
#include <string>
#include <thread>
#include <vector>

#include <gluino/data/dataloader.hpp>
#include <gluino/data/vision/datasets.hpp>
#include <gluino/data/vision/transforms.hpp>
#include <gluino/init/xavier.hpp>
#include <gluino/loss/softmax_cross_entropy_loss.hpp>
#include <gluino/nd/conv.hpp>
#include <gluino/nd/random.hpp>
#include <gluino/nn/dense.hpp>
#include <gluino/nn/dropout.hpp>
#include <gluino/nn/hybrid_block.hpp>
#include <gluino/nn/sequential.hpp>
#include <gluino/optim/trainer.hpp>

using namespace gluino;

namespace {
/// Seeds this thread's default generator, then builds, initializes (Uniform and Xavier: both draw
/// from the default generator) and trains a small MLP with Dropout on random data (drawn from the
/// default generator) for `steps` SGD steps.  Returns the losses and the final weights.
std::vector<float> train_small(std::uint64_t seed, std::latch* start = nullptr, int steps = 30) {
  if (start) start->arrive_and_wait();  // both threads begin together
  random::seed(seed);
  nn::reset_name_counters();  // the same names ("dense0_weight") on every call
  nn::Sequential net;
  net.add(nn::Dense{16, {.activation = "relu", .in_units = 8}});  // one per statement: dense0_ is the first
  net.add(nn::Dropout{0.5}, nn::Dense{3, {.in_units = 16}});
  net.initialize();                                                      // Uniform(0.07)
  REQUIRE(net.collect_params("dense0_weight").size() == 1);
  net.collect_params("dense0_weight").initialize(init::Xavier{}, {.force_reinit = true});
  const auto x = nd::random::normal<float>({32, 8});
  auto y = nd::random::uniform<float>({32}, 0.0f, 3.0f);
  for (float& v : y) v = static_cast<float>(static_cast<int>(v));
  Trainer trainer(net.collect_params(), "sgd", {{"learning_rate", 0.5}, {"momentum", 0.9}});
  loss::SoftmaxCrossEntropyLoss loss_fn;
  std::vector<float> out;
  for (int s = 0; s < steps; ++s) {
    NDArray<float> l;
    {
      autograd::record rec;
      l = loss_fn(net(x), y);
    }
    l.backward();
    trainer.step(32);
    out.push_back(l.mean().asscalar());
  }
  for (const auto& [name, p] : net.collect_params())
    for (float v : p->data()) out.push_back(v);
  return out;
}

const std::string threads_fixture = std::string(GLUINO_TEST_DATA_DIR) + "/fashion-mnist-mini";

/// The labels of two shuffled epochs over the fixture, normalized on the fly (a lazy
/// transform run by the loader's worker thread when prefetching), and the sum of the images.
std::vector<float> two_epochs(bool prefetch, std::size_t num_workers = 0) {
  namespace tf = data::vision::transforms;
  data::vision::FashionMNIST<float> train(threads_fixture, {.train = true});
  auto ds = train.transform_first(tf::Compose({tf::ToTensor(), tf::Normalize(0.2860, 0.3530)}));
  data::DataLoader<float> loader(ds, {.batch_size = 16, .shuffle = true, .seed = 3,
                                         .num_workers = num_workers,
                                         .prefetch = prefetch ? std::optional<std::size_t>{1} : std::nullopt});
  std::vector<float> out;
  for (int e = 0; e < 2; ++e) {
    double total = 0;
    for (auto [x, y] : loader) {
      for (float v : y) out.push_back(v);
      total += x.sum().asscalar();
    }
    out.push_back(static_cast<float>(total));
  }
  return out;
}
}  // namespace

TEST_SUITE("threads") {
TEST_CASE("two threads train two models at once: each gets what it gets alone (seeded per thread)") {
  const auto ref1 = train_small(1), ref2 = train_small(2);
  REQUIRE(ref1 != ref2);
  CHECK(ref1.front() > ref1[14]);  // it learns
  std::vector<float> r1, r2;
  std::latch start(2);
  std::thread t1([&] { r1 = train_small(1, &start); });
  std::thread t2([&] { r2 = train_small(2, &start); });
  t1.join();
  t2.join();
  CHECK(r1 == ref1);  // bitwise: per-thread generators, no interleaving of streams
  CHECK(r2 == ref2);
}
TEST_CASE("one hybridized model predicting on three threads at once: the serial outputs") {
  // The graph's step arena (core/arena.hpp) serves one run at a time; the others use the pool.
  random::seed(5);
  nn::HybridSequential net;
  net.add(nn::Dense{16, {.activation = "relu", .in_units = 8}}, nn::Dense{3, {.in_units = 16}});
  net.initialize();
  net.hybridize();
  std::vector<NDArray<float>> xs;
  for (int t = 0; t < 3; ++t) xs.push_back(nd::random::normal<float>({4, 8}));
  std::vector<std::vector<float>> want;
  for (int k = 0; k < 3; ++k)  // the trace, a watched run, a planned one
    for (const auto& x : xs) (void)net(x);
  for (const auto& x : xs) want.push_back(net(x).to_vector());
  std::vector<int> ok(3, 0);
  std::latch start(3);
  std::vector<std::thread> threads;
  for (std::size_t t = 0; t < 3; ++t)
    threads.emplace_back([&, t] {
      start.arrive_and_wait();
      for (int k = 0; k < 40; ++k) ok[t] += net(xs[t]).to_vector() == want[t];
    });
  for (auto& th : threads) th.join();
  CHECK(ok == std::vector<int>{40, 40, 40});
}

TEST_CASE("convolutions on three threads at once, one filter shared and one each: the serial outputs") {
  // LeNet's second layer at batch 1 takes the wide kernel, whose packed filters one cache keeps
  // for the whole process (kernels/conv2d_wide.hpp, WidePackCache): hits on the shared entry, and
  // a thread whose own filters change between calls, while the others read theirs.
  random::seed(6);
  const auto x = nd::random::normal<float>({1, 20, 12, 12});
  const auto shared = nd::random::normal<float>({50, 20, 3, 3});
  std::vector<NDArray<float>> own;
  for (int t = 0; t < 3; ++t) own.push_back(nd::random::normal<float>({50, 20, 3, 3}));
  const auto serial = [&](std::size_t t, int k) {  // thread t's weights at call k (changed in place)
    NDArray<float> w = own[t].copy();
    for (int i = 0; i <= k; ++i) w.data()[static_cast<std::size_t>(i)] += 1.0f;
    return w;
  };
  const auto want_shared = nd::convolution(x, shared).to_vector();
  std::vector<std::vector<std::vector<float>>> want(3);
  for (std::size_t t = 0; t < 3; ++t)
    for (int k = 0; k < 10; ++k) want[t].push_back(nd::convolution(x, serial(t, k)).to_vector());
  std::vector<int> ok(3, 0);
  std::latch start(3);
  std::vector<std::thread> threads;
  for (std::size_t t = 0; t < 3; ++t)
    threads.emplace_back([&, t] {
      NDArray<float> w = own[t].copy();
      start.arrive_and_wait();
      for (int k = 0; k < 10; ++k) {
        w.data()[static_cast<std::size_t>(k)] += 1.0f;  // through the raw pointer: the cache compares
        ok[t] += nd::convolution(x, w).to_vector() == want[t][static_cast<std::size_t>(k)];
        ok[t] += nd::convolution(x, shared).to_vector() == want_shared;
      }
    });
  for (auto& th : threads) th.join();
  CHECK(ok == std::vector<int>{20, 20, 20});
}

TEST_CASE("seed() in one thread leaves another thread's default stream alone") {
  random::seed(7);
  const double a = random::default_generator().uniform01();
  double other = 0;
  std::thread t([&] {
    random::seed(99);
    other = random::default_generator().uniform01();
  });
  t.join();
  const double b = random::default_generator().uniform01();
  random::Generator g(7), g99(99);
  CHECK(a == g.uniform01());
  CHECK(b == g.uniform01());
  CHECK(other == g99.uniform01());
}
TEST_CASE("an unseeded new thread draws a stream of its own, not the seeding thread's") {
  random::seed(5);
  std::vector<double> mine, theirs;
  std::thread t([&] {
    for (int i = 0; i < 4; ++i) theirs.push_back(random::default_generator().uniform01());
  });
  t.join();
  for (int i = 0; i < 4; ++i) mine.push_back(random::default_generator().uniform01());
  random::Generator g(5);
  std::vector<double> expect;
  for (int i = 0; i < 4; ++i) expect.push_back(g.uniform01());
  CHECK(mine == expect);
  CHECK(theirs != expect);
}
TEST_CASE("initialize() twice on two threads: both warnings reach the handler") {
  std::atomic<int> n{0};
  auto prev = set_warning_handler([&](const std::string&) { ++n; });
  auto twice = [] {
    nn::Dense d{4, {.in_units = 3}};
    d.initialize();
    d.initialize();  // warns for weight and bias
  };
  std::thread t1(twice), t2(twice);
  t1.join();
  t2.join();
  CHECK(n == 4);
  set_warning_handler(prev);
}
TEST_CASE("DataLoaders with a prefetch worker, two at once, on the fixture: the batches of the serial loader") {
  const auto ref = two_epochs(false);
  REQUIRE(ref.size() == 2 * 101);
  std::vector<float> a, b;
  std::thread t1([&] { a = two_epochs(true); });
  std::thread t2([&] { b = two_epochs(true); });
  t1.join();
  t2.join();
  CHECK(a == ref);
  CHECK(b == ref);
}
TEST_CASE("a DataLoader with num_workers = 3 beside a prefetching one: the batches of the serial loader") {
  const auto ref = two_epochs(false);
  std::vector<float> a, b;
  std::thread t1([&] { a = two_epochs(false, 3); });
  std::thread t2([&] { b = two_epochs(true); });
  t1.join();
  t2.join();
  CHECK(a == ref);
  CHECK(b == ref);
}
}
