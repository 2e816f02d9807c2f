// SPDX-License-Identifier: Apache-2.0
// gluino::dist (dist/mpi.hpp), run by CTest under `mpirun -np 2` and `-np 4` (tests/CMakeLists.txt):
// every rank runs every case; the checks compare ranks through MPI itself.
#include <gluino/dist/mpi.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <functional>
#include <limits>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include <gluino/gluino.hpp>

using namespace gluino;

namespace {
// The smallest and largest of a value over the ranks.
std::pair<double, double> min_max(double v) {
  double lo = 0, hi = 0;
  MPI_Allreduce(&v, &lo, 1, MPI_DOUBLE, MPI_MIN, MPI_COMM_WORLD);
  MPI_Allreduce(&v, &hi, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
  return {lo, hi};
}
template <class T>
double checksum(const nn::BasicParameterDict<T>& params) {
  double s = 0, k = 1;
  for (const auto& [n, p] : params)
    for (T v : p->data().to_vector()) s += double(v) * (k += 0.001);
  return s;
}
template <class T = float>
NDArray<T> inputs(std::size_t n, std::uint64_t seed) {
  random::Generator g(seed);
  NDArray<T> x(Shape{n, 1, 28, 28});
  for (T& v : x) v = static_cast<T>(g.uniform(-1.0, 1.0));
  return x;
}
// A Dense layer of `units` on `in` inputs with rank 0's parameters on every rank, and an SGD
// dist::Trainer of it.
struct SyncedDense {
  nn::Dense d;
  dist::Trainer t;
  SyncedDense(std::size_t units, std::size_t in, double lr, bool overlap = true)
      : d(units, {.in_units = in}), t(synced(d), "sgd", {{"learning_rate", lr}}, {.overlap = overlap}) {}
  static nn::ParameterDict synced(nn::Dense& d) {
    d.initialize();
    dist::broadcast_parameters(d.collect_params());
    return d.collect_params();
  }
};
}  // namespace

TEST_SUITE("dist/mpi") {
TEST_CASE("rank, size, local rank, barrier") {
  const int r = dist::rank(), n = dist::size();
  CHECK(n >= 2);
  CHECK(r >= 0);
  CHECK(r < n);
  CHECK(dist::local_rank() == r);  // one machine
  dist::barrier();
}
TEST_CASE("broadcast and allreduce of arrays; mismatched shapes refused on every rank") {
  const int r = dist::rank(), n = dist::size();
  NDArray<double> x(Shape{3});
  x.fill(r + 1.0);
  dist::broadcast(x);
  CHECK(x.to_vector() == std::vector<double>(3, 1.0));
  NDArray<double> y(Shape{2, 2});
  y.fill(r + 1.0);
  dist::allreduce_sum(y);
  CHECK(y.to_vector() == std::vector<double>(4, n * (n + 1) / 2.0));
  NDArray<float> z(Shape{std::size_t(r) + 1});
  CHECK_THROWS_WITH_AS(dist::broadcast(z), doctest::Contains("the ranks' arrays differ in size"), ShapeError);
}
TEST_CASE("broadcast_parameters: every rank starts from rank 0's parameters") {
  random::seed(100 + std::uint64_t(dist::rank()));  // different initial weights per rank
  auto net = model_zoo::lenet();
  net->initialize(init::Xavier{});
  (void)(*net)(inputs(1, 1));
  const auto [lo0, hi0] = min_max(checksum(net->collect_params()));
  CHECK(lo0 != hi0);
  dist::broadcast_parameters(net->collect_params());
  const auto [lo, hi] = min_max(checksum(net->collect_params()));
  CHECK(lo == hi);
}
TEST_CASE("allreduce_gradients: the sum of the ranks' gradients") {
  const int r = dist::rank(), n = dist::size();
  auto net = model_zoo::lenet();
  random::seed(7);
  net->initialize(init::Xavier{});
  (void)(*net)(inputs(1, 1));
  auto grads_on = [&](const NDArray<float>& x) {
    for (const auto& [k, p] : net->collect_params()) p->zero_grad();
    autograd::record rec;
    auto y = (*net)(x);
    (y * y).sum().backward();
  };
  // What the sum must be: every rank computes every rank's gradient.
  std::vector<std::vector<double>> want;
  for (int k = 0; k < n; ++k) {
    grads_on(inputs(4, 50 + std::uint64_t(k)));
    std::size_t i = 0;
    for (const auto& [name, p] : net->collect_params()) {
      const auto g = p->grad().to_vector();
      if (want.size() <= i) want.emplace_back(g.size(), 0.0);
      for (std::size_t e = 0; e < g.size(); ++e) want[i][e] += g[e];
      ++i;
    }
  }
  grads_on(inputs(4, 50 + std::uint64_t(r)));
  dist::allreduce_gradients(net->collect_params());
  std::size_t i = 0;
  double worst = 0;
  for (const auto& [name, p] : net->collect_params()) {
    const auto g = p->grad().to_vector();
    for (std::size_t e = 0; e < g.size(); ++e) worst = std::max(worst, std::abs(g[e] - want[i][e]) / (1 + std::abs(want[i][e])));
    ++i;
  }
  CHECK(worst < 1e-5);
}
// Every rank's LeNet gradients (of its own batch), each parameter's as doubles.
std::vector<std::vector<double>> gradients(const nn::ParameterDict& params) {
  std::vector<std::vector<double>> out;
  for (const auto& [name, p] : params) {
    const auto g = p->grad().to_vector();
    out.emplace_back(g.begin(), g.end());
  }
  return out;
}
double worst_difference(const std::vector<std::vector<double>>& a, const std::vector<std::vector<double>>& b) {
  double worst = 0;
  for (std::size_t i = 0; i < a.size(); ++i)
    for (std::size_t e = 0; e < a[i].size(); ++e)
      worst = std::max(worst, std::abs(a[i][e] - b[i][e]) / (1 + std::abs(b[i][e])));
  return worst;
}
// A LeNet equal on every rank (rank 0's weights), and a backward of a batch drawn from seed.
struct SharedLeNet {
  std::shared_ptr<nn::Sequential> net;
  nn::ParameterDict params;
  explicit SharedLeNet(std::uint64_t seed) {
    random::seed(seed);
    net = model_zoo::lenet();
    net->initialize(init::Xavier{});
    (void)(*net)(inputs(1, 1));
    params = net->collect_params();
    dist::broadcast_parameters(params);
  }
  void backward_on(std::uint64_t seed) const {
    autograd::record rec;
    auto y = (*net)(inputs(4, seed));
    (y * y).sum().backward();
  }
};
TEST_CASE("GradientReducer: buckets from the last layer, started during backward, sums as allreduce") {
  const int r = dist::rank();
  const SharedLeNet lenet(11);
  const auto& params = lenet.params;
  auto backward_on = [&](std::uint64_t seed) { lenet.backward_on(seed); };
  // What the sums must be: the plain, blocking allreduce of the same gradients.
  backward_on(70 + std::uint64_t(r));
  dist::allreduce_gradients(params);
  const auto want = gradients(params);

  for (bool overlap : {true, false}) {
    CAPTURE(overlap);
    dist::GradientReducer reducer(params, {.bucket_bytes = 16 * 1024, .overlap = overlap});
    const auto buckets = reducer.buckets();
    REQUIRE(buckets.size() > 2);
    CHECK(buckets.front().front() == params.keys().back());  // the last layer's parameters first
    CHECK(buckets.back().back() == params.keys().front());
    std::size_t members = 0;
    for (const auto& b : buckets) members += b.size();
    CHECK(members == params.size());
    backward_on(70 + std::uint64_t(r));
    reducer.finish();
    CHECK(worst_difference(gradients(params), want) < 1e-6);
    CHECK(reducer.stats().buckets == buckets.size());
    CHECK(reducer.stats().started_early == (overlap ? buckets.size() : 0));  // every gradient reached
    CHECK(reducer.stats().bytes == 4 * [&] {
      std::size_t n = 0;
      for (const auto& [k, p] : params) n += p->data().size();
      return n;
    }());
  }
}
TEST_CASE("GradientReducer: a second backward before finish() is the one summed") {
  const int r = dist::rank();
  const SharedLeNet lenet(12);
  const auto& params = lenet.params;
  auto backward_on = [&](std::uint64_t seed) { lenet.backward_on(seed); };
  backward_on(90 + std::uint64_t(r));
  dist::allreduce_gradients(params);
  const auto want = gradients(params);
  dist::GradientReducer reducer(params, {.bucket_bytes = 8 * 1024});
  backward_on(80 + std::uint64_t(r));  // replaced by the next one (grad_req write)
  backward_on(90 + std::uint64_t(r));
  reducer.finish();
  CHECK(worst_difference(gradients(params), want) < 1e-6);
  // And the next step overlaps again.
  backward_on(90 + std::uint64_t(r));
  reducer.finish();
  CHECK(reducer.stats().started_early == reducer.stats().buckets);
}
TEST_CASE("GradientReducer: parameters no gradient reaches are summed in finish(), no hang") {
  const int r = dist::rank();
  nn::Sequential net;
  net.add(nn::Dense(8, {.in_units = 4}), nn::Dense(3, {.in_units = 8}));
  net.initialize();
  dist::broadcast_parameters(net.collect_params());
  for (const auto& [k, p] : net.collect_params()) p->grad().fill(float(r + 1));
  dist::GradientReducer reducer(net.collect_params(), {.bucket_bytes = 64});
  {
    autograd::record rec;  // only the first layer: the second layer's gradients stay as they are
    net[0](nd::ones<float>({2, 4})).sum().backward();
  }
  reducer.finish();
  const int n = dist::size();
  const auto w2 = net[1].collect_params().nth(0)->grad().to_vector();
  CHECK(w2.front() == float(n * (n + 1) / 2));  // 1 + 2 + ... + n
  CHECK(reducer.stats().started_early < reducer.stats().buckets);
}
TEST_CASE("global_value: a metric over every rank's updates") {
  const int r = dist::rank(), n = dist::size();
  metric::Accuracy acc;
  // Rank r sees r + 1 samples, of which the first is right.
  NDArray<float> labels(Shape{std::size_t(r + 1)}), preds(Shape{std::size_t(r + 1)});
  labels.fill(1.0f);
  preds.fill(0.0f);
  preds.data()[0] = 1.0f;
  acc.update(labels, preds);
  const auto [name, value] = dist::global_value(acc);
  CHECK(name == acc.get().first);
  CHECK(value == doctest::Approx(double(n) / (n * (n + 1) / 2.0)));
}
TEST_CASE("N ranks splitting a batch of 64 reach the weights of one process at batch 64 after 10 steps") {
  // In double: the ranks' gradient sums run in another order than the single process's, and in
  // float that difference (1e-8 in the weights after a step) is enough to flip the arg-max of a
  // max-pooling window whose two largest values lie that close, which moves a whole pixel's
  // gradient; over 20 steps at batch 128 such flips happened on some machines and builds (0.0045 apart).  In
  // double the order's effect is ~1e-16 and a flip needs a near-tie that close.
  const int r = dist::rank(), n = dist::size();
  // Rank r takes samples [64 r / n, 64 (r + 1) / n): with 3 ranks 21, 21 and 22 (dist::Trainer
  // scales by the sum of the ranks' batch sizes).
  const std::size_t global = 64, begin = global * std::size_t(r) / std::size_t(n),
                    end = global * std::size_t(r + 1) / std::size_t(n);
  // Each reduction path: buckets overlapping backward (the default), small buckets, no overlap.
  for (const dist::ReducerOptions options :
       {dist::ReducerOptions{}, dist::ReducerOptions{.bucket_bytes = 4096}, dist::ReducerOptions{.overlap = false}}) {
    CAPTURE(options.bucket_bytes);
    CAPTURE(options.overlap);
    auto make = [] {
      random::seed(3);
      auto net = model_zoo::lenet<double>();
      net->initialize(init::Xavier{});
      (void)(*net)(inputs<double>(1, 1));
      return net;
    };
    auto single = make(), para = make();
    dist::broadcast_parameters(para->collect_params());
    BasicTrainer<double> t1(single->collect_params(), "sgd", {{"learning_rate", 0.05}, {"momentum", 0.9}});
    dist::BasicTrainer<double> tn(para->collect_params(), "sgd", {{"learning_rate", 0.05}, {"momentum", 0.9}},
                                  options);
    loss::BasicSoftmaxCrossEntropyLoss<double> loss_fn;
    for (int step = 0; step < 10; ++step) {
      const auto x = inputs<double>(global, 1000 + std::uint64_t(step));
      NDArray<double> y(Shape{global});
      for (std::size_t i = 0; i < global; ++i) y.data()[i] = double((i * 7 + std::size_t(step)) % 10);
      {
        autograd::record rec;
        loss_fn((*single)(x), y).backward();
      }
      t1.step(global);
      const auto xs = x.slice(begin, end);
      const auto ys = y.slice(begin, end);
      {
        autograd::record rec;
        loss_fn((*para)(xs), ys).backward();
      }
      tn.step(end - begin);
    }
    // Sums in another order: the weights agree within 1e-10 (absolute) after 10 steps.
    double worst = 0;
    const auto a = single->collect_params_with_prefix(), b = para->collect_params_with_prefix();
    for (std::size_t i = 0; i < a.size(); ++i) {
      const auto va = a[i].second->data().to_vector(), vb = b[i].second->data().to_vector();
      for (std::size_t e = 0; e < va.size(); ++e) worst = std::max(worst, std::abs(va[e] - vb[e]));
    }
    INFO("max |single - distributed| = ", worst);
    CHECK(worst < 1e-10);
    const auto [lo, hi] = min_max(checksum(para->collect_params()));
    CHECK(lo == hi);  // every rank holds the same weights
  }
}
TEST_CASE("SplitSampler: the ranks' parts cover every index once per epoch, reshuffled each epoch") {
  const int r = dist::rank(), n = dist::size();
  data::SplitSampler s(std::size_t(n), std::size_t(r), {.shuffle = true, .seed = 9});
  const std::size_t len = 103;
  std::vector<std::size_t> first;
  for (int epoch = 0; epoch < 2; ++epoch) {
    const auto part = s.next_epoch(len);
    CHECK(part.size() == s.length(len));
    NDArray<double> seen(Shape{len});
    seen.fill(0.0);
    for (std::size_t i : part) seen.data()[i] += 1;
    dist::allreduce_sum(seen);
    CHECK(seen.to_vector() == std::vector<double>(len, 1.0));
    if (epoch == 0) first = part;
    else CHECK(part != first);
  }
  data::SplitSampler again(std::size_t(n), std::size_t(r), {.shuffle = true, .seed = 9});
  CHECK(again.next_epoch(len) == first);  // the seed fixes the order
}

// ---- Careless use: every rank gets the same clear exception, nothing hangs or mixes ----
// A collective call on every rank whose outcome is an exception of type E on every rank with
// `text` in its message (each rank checks its own).
#define CHECK_ALL_THROW(call, text, E) CHECK_THROWS_WITH_AS(call, doctest::Contains(text), E)

TEST_CASE("arrays: mismatched sizes, shapes, element types and roots refused on every rank, before data moves") {
  const int r = dist::rank(), n = dist::size();
  NDArray<float> grow(Shape{std::size_t(r) + 2});
  grow.fill(1.0f);
  CHECK_ALL_THROW(dist::allreduce_sum(grow), "the ranks' arrays differ in size", ShapeError);
  CHECK(grow.to_vector() == std::vector<float>(std::size_t(r) + 2, 1.0f));  // untouched
  NDArray<float> turned(r == 0 ? Shape{2, 3} : Shape{3, 2});
  CHECK_ALL_THROW(dist::allreduce_sum(turned), "same size but different shapes", ShapeError);
  CHECK_ALL_THROW(dist::broadcast(turned), "same size but different shapes", ShapeError);
  if (r == 0) {
    NDArray<float> x(Shape{4});
    x.fill(1.0f);
    CHECK_ALL_THROW(dist::allreduce_sum(x), "differ in element type", ValueError);
  } else {
    NDArray<double> x(Shape{2});
    x.fill(1.0);
    CHECK_ALL_THROW(dist::allreduce_sum(x), "differ in element type", ValueError);
  }
  NDArray<double> x(Shape{3});
  x.fill(r + 1.0);
  CHECK_ALL_THROW(dist::broadcast(x, r == 0 ? 0 : 1), "different roots", ValueError);
  CHECK_ALL_THROW(dist::broadcast(x, n), "is not a rank", ValueError);
  // An array with no storage on one rank: that rank's StateError, and the others hear of it.
  NDArray<double> none, some(Shape{1});
  CHECK_ALL_THROW(dist::allreduce_sum(r == 1 ? none : some), "the array is empty", StateError);
  // Arrays of no elements are fine; and after all this the ranks are still in step.
  NDArray<double> empty(Shape{0});
  dist::allreduce_sum(empty);
  dist::broadcast(empty);
  dist::allreduce_sum(x);
  CHECK(x.to_vector() == std::vector<double>(3, n * (n + 1) / 2.0));
}
TEST_CASE("broadcast_parameters, allreduce_gradients: a parameter deferred on one rank, or other models") {
  const int r = dist::rank(), n = dist::size();
  {
    nn::Dense d(2);  // input size deferred
    d.initialize();
    if (r == 0) (void)d(nd::ones<float>({1, 3}));
    CHECK_ALL_THROW(dist::broadcast_parameters(d.collect_params()), "initialization was deferred", StateError);
    CHECK_ALL_THROW(dist::allreduce_gradients(d.collect_params()), "initialization was deferred", StateError);
  }
  {
    nn::Dense d(std::size_t(2 + r), {.in_units = 3});  // shapes differ
    d.initialize();
    CHECK_ALL_THROW(dist::broadcast_parameters(d.collect_params()), "parameter 0 differs between the ranks",
                    ShapeError);
  }
  {
    nn::Sequential net;  // rank 0 one layer more
    net.add(nn::Dense(2, {.in_units = 3}));
    if (r == 0) net.add(nn::Dense(2, {.in_units = 2}));
    net.initialize();
    CHECK_ALL_THROW(dist::broadcast_parameters(net.collect_params()), "different numbers of parameters", ShapeError);
  }
  {
    nn::Dense d(2, {.in_units = 3});  // a gradient on every rank but the last
    d.initialize();
    if (r == n - 1) d.collect_params().nth(1)->set_grad_req(GradReq::null);
    for (const auto& [k, p] : d.collect_params())
      if (p->grad_req() != GradReq::null) p->grad().fill(1.0f);
    CHECK_ALL_THROW(dist::allreduce_gradients(d.collect_params()), "different numbers of parameters", ShapeError);
    CHECK(d.collect_params().nth(0)->grad().to_vector() == std::vector<float>(6, 1.0f));  // nothing summed
  }
  dist::barrier();
}
TEST_CASE("GradientReducer: other parameters, options or grad_req on one rank are refused on every rank") {
  const int r = dist::rank();
  {
    nn::Sequential net;  // the same sizes in another order: a sum would add a weight to another's
    if (r == 0)
      net.add(nn::Dense(2, {.in_units = 3}), nn::Dense(6, {.in_units = 1}));
    else
      net.add(nn::Dense(6, {.in_units = 1}), nn::Dense(2, {.in_units = 3}));
    net.initialize();
    CHECK_ALL_THROW(dist::GradientReducer(net.collect_params()), "differs between the ranks", ShapeError);
    CHECK_ALL_THROW(dist::Trainer(net.collect_params(), "sgd"), "differs between the ranks", ShapeError);
  }
  nn::Dense d(2, {.in_units = 3});
  d.initialize();
  CHECK_ALL_THROW(dist::GradientReducer(d.collect_params(), {.bucket_bytes = r == 0 ? 64u : 128u}),
                  "bucket_bytes differ", ValueError);
  CHECK_ALL_THROW(dist::GradientReducer(d.collect_params(), {.bucket_bytes = r == 1 ? 0u : 64u}),
                  "bucket_bytes must be > 0", ValueError);
  CHECK_ALL_THROW(dist::GradientReducer(d.collect_params(), {.overlap = r == 0}), "overlap is true on some ranks",
                  ValueError);
  if (r == 1) d.collect_params().nth(0)->set_grad_req(GradReq::add);
  CHECK_ALL_THROW(dist::GradientReducer(d.collect_params()), "differs between the ranks", ShapeError);
  // grad_req changed on one rank after the buckets were made: at the next step, on every rank.
  d.collect_params().nth(0)->set_grad_req(GradReq::write);
  dist::Trainer t(d.collect_params(), "sgd", {{"learning_rate", 0.1}});
  if (r == 1) d.collect_params().nth(1)->set_grad_req(GradReq::null);
  CHECK_ALL_THROW(t.step(1), "changed grad_req from write to null", StateError);
  // bucket_bytes larger than everything: one bucket.
  d.collect_params().nth(1)->set_grad_req(GradReq::write);
  dist::GradientReducer one(d.collect_params(), {.bucket_bytes = std::numeric_limits<std::size_t>::max()});
  CHECK(one.buckets().size() == 1);
  for (const auto& [k, p] : d.collect_params()) p->grad().fill(1.0f);
  one.finish();
  CHECK(d.collect_params().nth(0)->grad().to_vector() == std::vector<float>(6, float(dist::size())));
}
TEST_CASE("GradientReducer: parameters deferred at construction on one rank; still deferred at the step") {
  const int r = dist::rank(), n = dist::size();
  for (bool forward_everywhere : {true, false}) {
    CAPTURE(forward_everywhere);
    nn::Sequential net;
    net.add(nn::Dense(2), nn::Dense(3, {.in_units = 2}));
    net.initialize(init::Constant(0.5f));
    if (r == 0) (void)net(nd::ones<float>({1, 3}));  // rank 0 knows its shapes, the others not yet
    dist::Trainer t(net.collect_params(), "sgd", {{"learning_rate", 0.0}});  // no rank waits for another
    if (!forward_everywhere) {
      if (r == 0) {
        autograd::record rec;
        net(nd::ones<float>({1, 3})).sum().backward();
      }
      CHECK_ALL_THROW(t.step(1), "initialization was deferred", StateError);
      continue;
    }
    {
      autograd::record rec;
      net(nd::ones<float>({1, 3})).sum().backward();
    }
    t.step(1);
    // Every rank's gradient is the same, so the sums are n times it: the bias of the last layer 1.
    CHECK(net[1].collect_params().nth(1)->grad().to_vector() == std::vector<float>(3, float(n)));
  }
}
TEST_CASE("GradientReducer: a parameter backward reaches on some ranks only counts as zero on the others") {
  const int r = dist::rank();
  for (bool overlap : {true, false}) {
    CAPTURE(overlap);
    nn::Sequential net;
    net.add(nn::Dense(8, {.in_units = 4}), nn::Dense(3, {.in_units = 8}));
    net.initialize();
    dist::broadcast_parameters(net.collect_params());
    dist::GradientReducer reducer(net.collect_params(), {.bucket_bytes = 64, .overlap = overlap});
    const auto w2 = net[1].collect_params().nth(0);
    for (int step = 0; step < 3; ++step) {  // later steps: no stale sum of an earlier step comes back
      CAPTURE(step);
      {
        autograd::record rec;  // rank 0 takes the branch through the second layer, the others not
        auto h = net[0](nd::ones<float>({2, 4}) * float(r + step + 1));
        (r == 0 ? net[1](h).sum() : h.sum()).backward();
      }
      NDArray<float> rank0 = r == 0 ? w2->grad().copy() : NDArray<float>(w2->grad().shape());
      reducer.finish();  // no hang: the bucket rank 0 started during backward is summed everywhere
      dist::broadcast(rank0);
      CHECK(w2->grad().to_vector() == rank0.to_vector());  // rank 0's gradient + zeros
    }
  }
}
TEST_CASE("dist::Trainer: a step without backward applies the last sums again, not the number of ranks times them") {
  const int r = dist::rank(), n = dist::size();
  for (bool overlap : {true, false}) {
    CAPTURE(overlap);
    SyncedDense net(2, 2, 0.25, overlap);
    auto& [d, t] = net;
    const auto bias = d.collect_params().nth(1);
    const auto b0 = bias->data().to_vector();
    {
      autograd::record rec;
      d(nd::ones<float>({1, 2}) * float(r + 1)).sum().backward();
    }
    t.step(1);
    CHECK(bias->grad().to_vector() == std::vector<float>(2, float(n)));
    t.step(1);  // no backward since
    CHECK(bias->grad().to_vector() == std::vector<float>(2, float(n)));
    const auto b2 = bias->data().to_vector();
    for (std::size_t i = 0; i < 2; ++i) CHECK(b2[i] == doctest::Approx(b0[i] - 2 * 0.25));  // twice 0.25 n / n
    // Gradients written by hand (no backward reached their bucket) are summed.
    bias->grad().fill(1.0f);
    t.allreduce_grads();
    CHECK(bias->grad().to_vector() == std::vector<float>(2, float(n)));
    // The reducer alone sums what the gradients hold at every finish() (a benchmark's loop).
    nn::Dense e(2, {.in_units = 2});
    e.initialize();
    dist::GradientReducer raw(e.collect_params(), {.overlap = overlap});
    e.collect_params().nth(1)->grad().fill(1.0f);
    raw.finish();
    raw.finish();
    CHECK(e.collect_params().nth(1)->grad().to_vector() == std::vector<float>(2, float(n * n)));
  }
}
TEST_CASE("dist::Trainer: ranks with different batch sizes step as one process on all their samples") {
  const int r = dist::rank();
  SyncedDense net(1, 1, 0.5);
  auto& [d, t] = net;
  const float b0 = d.collect_params().nth(1)->data().to_vector()[0];
  {
    autograd::record rec;  // rank r: r + 1 samples, each adding 1 to the bias's gradient
    d(nd::ones<float>({std::size_t(r + 1), 1})).sum().backward();
  }
  t.step(std::size_t(r + 1));  // the mean over all n (n + 1) / 2 samples: 1
  const float b1 = d.collect_params().nth(1)->data().to_vector()[0];
  CHECK(b1 == doctest::Approx(b0 - 0.5));
  const auto [lo, hi] = min_max(b1);
  CHECK(lo == hi);  // the ranks stay equal
}
TEST_CASE("dist::Trainer: batch_size 0 on one rank, update() before allreduce_grads(): errors on every rank") {
  const int r = dist::rank(), n = dist::size();
  for (bool overlap : {true, false}) {
    CAPTURE(overlap);
    SyncedDense net(2, 2, 0.1, overlap);
    auto& [d, t] = net;
    const auto w = d.collect_params().nth(0);
    {
      autograd::record rec;
      d(nd::ones<float>({4, 2})).sum().backward();
    }
    const auto local = w->grad().to_vector();
    const auto before = w->data().to_vector();
    CHECK_ALL_THROW(t.step(r == 0 ? 0 : 4), "batch_size must be > 0", ValueError);
    CHECK(w->grad().to_vector() == local);  // nothing summed, nothing updated
    CHECK(w->data().to_vector() == before);
    CHECK_ALL_THROW(t.update(4), "call allreduce_grads() before", StateError);
    CHECK(w->data().to_vector() == before);
    t.allreduce_grads();  // the same gradient on every rank: n times it
    for (std::size_t i = 0; i < local.size(); ++i) CHECK(w->grad().to_vector()[i] == float(n) * local[i]);
    CHECK_ALL_THROW(t.update(r == 0 ? 0 : 4), "batch_size must be > 0", ValueError);
    t.update(4);
    const auto [lo, hi] = min_max(checksum(d.collect_params()));
    CHECK(lo == hi);
  }
}
TEST_CASE("dist::Trainer: an update the optimizer refuses (FTML at lr_mult 0) is refused before anything is summed") {
  // was: the gradients were summed, then the local Trainer refused the update, leaving the sums (a
  // retried step summed them again) and the reducer unsettled
  const int r = dist::rank(), n = dist::size();
  for (int refusing : {-1, 0}) {  // every rank, or rank 0 only
    CAPTURE(refusing);
    nn::Dense d(2, {.in_units = 2});
    d.initialize();
    dist::broadcast_parameters(d.collect_params());
    dist::Trainer t(d.collect_params(), "ftml", {{"learning_rate", 0.1}});
    const auto w = d.collect_params().nth(0), b = d.collect_params().nth(1);
    if (refusing < 0 || r == refusing) b->set_lr_mult(0.0);
    {
      autograd::record rec;
      d(nd::ones<float>({4, 2})).sum().backward();
    }
    const auto local = w->grad().to_vector();
    const auto before = w->data().to_vector();
    CHECK_ALL_THROW(t.step(4), refusing < 0 || r == refusing ? "no parameter was updated" : "failed on rank 0",
                    ValueError);
    CHECK(w->grad().to_vector() == local);  // nothing summed
    CHECK(w->data().to_vector() == before);  // nothing updated
    CHECK(t.local().optimizer().num_update() == 0);
    b->set_lr_mult(1.0);
    t.step(4);  // the gradients summed once: n times this rank's (every rank's are the same)
    for (std::size_t i = 0; i < local.size(); ++i) CHECK(w->grad().to_vector()[i] == float(n) * local[i]);
    const auto [lo, hi] = min_max(checksum(d.collect_params()));
    CHECK(lo == hi);
    t.allreduce_grads();
    if (refusing < 0 || r == refusing) b->set_lr_mult(0.0);
    CHECK_ALL_THROW(t.update(4), refusing < 0 || r == refusing ? "no parameter was updated" : "failed on rank 0",
                    ValueError);
    CHECK(t.local().optimizer().num_update() == 1);
  }
}
TEST_CASE("a rank one step ahead (more batches), or one backward more: an error on every rank, not a hang") {
  const int r = dist::rank();
  nn::Dense d(2, {.in_units = 2});
  d.initialize();
  dist::broadcast_parameters(d.collect_params());
  {
    dist::Trainer t(d.collect_params(), "sgd", {{"learning_rate", 0.1}});
    if (r == 0) {  // rank 0 had one batch more; the others went on to the epoch's metrics
      {
        autograd::record rec;
        d(nd::ones<float>({1, 2})).sum().backward();  // starts its bucket's sum: no other rank joins
      }
      CHECK_ALL_THROW(t.step(1), "different collective calls", StateError);
    } else {
      metric::Loss loss;
      CHECK_ALL_THROW((void)dist::global_value(loss), "different collective calls", StateError);
    }
  }  // rank 0's trainer does not wait for the sum no other rank joined
  {
    dist::Trainer t(d.collect_params(), "sgd", {{"learning_rate", 0.1}});
    for (int pass = 0; pass < (r == 0 ? 2 : 1); ++pass) {
      autograd::record rec;
      d(nd::ones<float>({1, 2})).sum().backward();
    }
    CHECK_ALL_THROW(t.step(1), "different numbers of backward passes", StateError);
  }
  dist::barrier();  // the ranks are in step again
}
TEST_CASE("global_value: an empty metric, Perplexity, F1 / MCC / PearsonCorrelation micro, other metrics") {
  const int r = dist::rank(), n = dist::size();
  metric::Accuracy empty;
  CHECK(std::isnan(dist::global_value(empty).second));
  // Each rank's batch, and every rank's batches on every rank (what one process would see).
  auto batch = [](int k) {
    NDArray<float> labels(Shape{4}), probs(Shape{4, 2}), preds(Shape{4});
    for (std::size_t i = 0; i < 4; ++i) {
      labels.data()[i] = float((i + std::size_t(k)) % 2);
      const float p = 0.2f + 0.15f * float((i * 3 + std::size_t(k)) % 5);
      probs.data()[2 * i] = 1 - p, probs.data()[2 * i + 1] = p;
      preds.data()[i] = p * float(k + 1);
    }
    return std::tuple{labels, probs, preds};
  };
  metric::Perplexity perplexity(std::nullopt), all_perplexity(std::nullopt);
  metric::F1 f1("micro"), all_f1("micro");
  metric::MCC mcc("micro"), all_mcc("micro");
  metric::PearsonCorrelation pearson("micro"), all_pearson("micro");
  metric::Accuracy some;  // updated on rank 0 only
  for (int k = 0; k < n; ++k) {
    const auto [labels, probs, preds] = batch(k);
    all_perplexity.update(labels, probs), all_f1.update(labels, probs), all_mcc.update(labels, probs);
    all_pearson.update(labels, preds);
    if (k != r) continue;
    perplexity.update(labels, probs), f1.update(labels, probs), mcc.update(labels, probs);
    pearson.update(labels, preds);
    if (r == 0) some.update(labels, probs);
  }
  CHECK(dist::global_value(perplexity).second == doctest::Approx(all_perplexity.get().second));
  CHECK(dist::global_value(f1).second == doctest::Approx(all_f1.get().second));
  CHECK(dist::global_value(mcc).second == doctest::Approx(all_mcc.get().second));
  CHECK(dist::global_value(pearson).second == doctest::Approx(all_pearson.get().second));
  NDArray<double> rank0(Shape{1});
  rank0.data()[0] = r == 0 ? some.get().second : 0.0;
  dist::broadcast(rank0);
  CHECK(dist::global_value(some).second == doctest::Approx(rank0.data()[0]));
  metric::Loss loss;
  metric::Accuracy accuracy;
  if (r == 0)
    CHECK_ALL_THROW((void)dist::global_value(loss), "different metrics", ValueError);
  else
    CHECK_ALL_THROW((void)dist::global_value(accuracy), "different metrics", ValueError);
}
TEST_CASE("Environment twice, local_rank on one rank only") {
  {
    dist::Environment again;  // MPI runs already: this one neither starts nor ends it
    CHECK(dist::size() >= 2);
  }
  dist::barrier();
  if (dist::rank() == 0) CHECK(dist::local_rank() == 0);  // not a collective call: no hang
  dist::barrier();
}

// ---- Ranks configured differently (helper H): refused on every rank, not trained silently apart ----
TEST_CASE("dist::Trainer: another optimizer, rate, weight decay, lr_mult or update count on one rank: refused") {
  // was: each rank updated with its own optimizer and rate, and the ranks' weights drifted apart
  // with no error (only the batch size and the backward passes were compared)
  const int r = dist::rank(), n = dist::size();
  const bool odd = r == n - 1;  // the rank configured differently
  struct Case {
    std::string what;
    std::string optimizer;
    optim::OptimizerOptions options;
    std::function<void(dist::Trainer&, nn::Dense&)> tweak;
    std::string message;
  };
  const optim::OptimizerOptions base{{"learning_rate", 0.1}};
  const std::vector<Case> cases{
      {"learning rate", "sgd", {{"learning_rate", 0.2}}, {}, "learning rates differ"},
      {"set_learning_rate", "sgd", base, [](dist::Trainer& t, nn::Dense&) { t.set_learning_rate(0.3); },
       "learning rates differ"},
      {"optimizer", "adam", base, {}, "optimizers differ"},
      {"momentum", "sgd", {{"learning_rate", 0.1}, {"momentum", 0.9}}, {}, "optimizers differ"},
      {"rescale_grad", "sgd", {{"learning_rate", 0.1}, {"rescale_grad", 2.0}}, {}, "optimizers differ"},
      {"wd", "sgd", base, [](dist::Trainer& t, nn::Dense&) { t.local().optimizer().set_wd(0.01); },
       "optimizers differ"},
      {"clip_gradient", "sgd", {{"learning_rate", 0.1}, {"clip_gradient", 1.0}}, {}, "optimizers differ"},
      {"lr_mult", "sgd", base, [](dist::Trainer&, nn::Dense& d) { d.collect_params().nth(0)->set_lr_mult(0.5); },
       "lr_mult or wd_mult"},
      {"wd_mult", "sgd", base, [](dist::Trainer&, nn::Dense& d) { d.collect_params().nth(1)->set_wd_mult(2.0); },
       "lr_mult or wd_mult"},
      {"begin_num_update", "sgd", {{"learning_rate", 0.1}, {"begin_num_update", 5}}, {}, "update counts differ"},
  };
  for (const Case& c : cases)
    for (bool overlap : {true, false})
      for (bool via_update : {false, true}) {
        CAPTURE(c.what);
        CAPTURE(overlap);
        CAPTURE(via_update);
        nn::Dense d(2, {.in_units = 3});
        d.initialize();
        dist::broadcast_parameters(d.collect_params());
        dist::Trainer t(d.collect_params(), odd ? c.optimizer : std::string("sgd"), odd ? c.options : base,
                        {.overlap = overlap});
        if (odd && c.tweak) c.tweak(t, d);
        const auto w = d.collect_params().nth(0);
        {
          autograd::record rec;
          d(nd::ones<float>({4, 3}) * float(r + 1)).sum().backward();
        }
        const auto grad = w->grad().to_vector();
        const auto before = checksum(d.collect_params());
        if (via_update) {
          t.allreduce_grads();
          CHECK_ALL_THROW(t.update(4), c.message.c_str(), ValueError);
        } else {
          CHECK_ALL_THROW(t.step(4), c.message.c_str(), ValueError);
          CHECK(w->grad().to_vector() == grad);  // nothing summed
        }
        CHECK(checksum(d.collect_params()) == before);  // nothing updated
        const auto [lo, hi] = min_max(checksum(d.collect_params()));
        CHECK(lo == hi);
      }
}
TEST_CASE("dist::Trainer: each step is the mean of every rank's gradient (naive sums), frozen and add parameters") {
  // Rank k's batch is k + 1 rows drawn from seed 300 + k; every rank computes every rank's gradient
  // itself, sums them in double and takes the SGD step on the mean over all sum_k (k + 1) rows.
  const int r = dist::rank(), n = dist::size();
  auto batch = [](int k, int step) {
    random::Generator g(300 + std::uint64_t(k) + 100 * std::uint64_t(step));
    NDArray<double> x(Shape{std::size_t(k) + 1, 3});
    for (double& v : x) v = g.uniform(-1.0, 1.0);
    return x;
  };
  for (const char* req : {"write", "add"})
    for (bool overlap : {true, false}) {
      CAPTURE(std::string(req));
      CAPTURE(overlap);
      nn::BasicDense<double> d(2, {.in_units = 3});
      d.initialize(init::Xavier{});
      dist::broadcast_parameters(d.collect_params());
      const auto w = d.collect_params().nth(0), b = d.collect_params().nth(1);
      b->set_grad_req(GradReq::null);  // frozen on every rank
      if (std::string(req) == "add") w->set_grad_req(GradReq::add);
      const auto b0 = b->data().to_vector();
      dist::BasicTrainer<double> t(d.collect_params(), "sgd", {{"learning_rate", 0.5}}, {.overlap = overlap});
      std::vector<double> want = w->data().to_vector();
      std::size_t rows = 0;
      for (int k = 0; k < n; ++k) rows += std::size_t(k) + 1;
      for (int step = 0; step < 3; ++step) {
        // The naive mean: d/dW of sum(tanh(x W^T + b)) for each rank's x, by hand.
        std::vector<double> sum(6, 0.0);
        const auto wv = w->data().to_vector(), bv = b->data().to_vector();
        for (int k = 0; k < n; ++k) {
          const auto x = batch(k, step);
          for (std::size_t i = 0; i < x.shape()[0]; ++i)
            for (std::size_t u = 0; u < 2; ++u) {
              double z = bv[u];
              for (std::size_t j = 0; j < 3; ++j) z += x.data()[i * 3 + j] * wv[u * 3 + j];
              const double dz = 1 - std::tanh(z) * std::tanh(z);
              for (std::size_t j = 0; j < 3; ++j) sum[u * 3 + j] += dz * x.data()[i * 3 + j];
            }
        }
        for (std::size_t e = 0; e < 6; ++e) want[e] -= 0.5 * sum[e] / double(rows);
        if (std::string(req) == "add") w->zero_grad();
        {
          autograd::record rec;
          nd::tanh(d(batch(r, step))).sum().backward();
        }
        t.step(std::size_t(r) + 1);
        const auto got = w->data().to_vector();
        for (std::size_t e = 0; e < 6; ++e) CHECK(got[e] == doctest::Approx(want[e]).epsilon(1e-12));
      }
      CHECK(b->data().to_vector() == b0);  // frozen: not updated
      const auto [lo, hi] = min_max(checksum(d.collect_params()));
      CHECK(lo == hi);
    }
}
TEST_CASE("SplitSampler with drop_last: equal parts, disjoint, n - n % ranks indices, other ones dropped each epoch") {
  const int r = dist::rank(), n = dist::size();
  data::SplitSampler s(std::size_t(n), std::size_t(r), {.shuffle = true, .seed = 4, .drop_last = true});
  const std::size_t len = 103, each = len / std::size_t(n);
  NDArray<double> dropped(Shape{len});
  dropped.fill(0.0);
  for (int epoch = 0; epoch < 4; ++epoch) {
    const auto part = s.next_epoch(len);
    CHECK(part.size() == each);
    CHECK(s.length(len) == each);
    NDArray<double> seen(Shape{len});
    seen.fill(0.0);
    for (std::size_t i : part) seen.data()[i] += 1;
    dist::allreduce_sum(seen);
    double total = 0;
    for (std::size_t i = 0; i < len; ++i) {
      CHECK(seen.data()[i] <= 1.0);  // no index twice in an epoch, over the ranks
      total += seen.data()[i];
      if (seen.data()[i] == 0) dropped.data()[i] += 1;
    }
    CHECK(total == double(each * std::size_t(n)));
  }
  if (len % std::size_t(n) != 0) {  // shuffled: not the same indices dropped every epoch
    double most = 0;
    for (double v : dropped.to_vector()) most = std::max(most, v);
    CHECK(most < 4.0);
  }
  const auto [lo, hi] = min_max(double(s.length(len)));
  CHECK(lo == hi);  // as many samples, so as many batches, on every rank
}
TEST_CASE("check_split: the ranks' samplers share out an epoch; a seed per rank or part 0 everywhere refused") {
  const int r = dist::rank(), n = dist::size();
  const auto parts = std::size_t(n), part = std::size_t(r);
  for (bool drop_last : {false, true}) {
    data::SplitSampler good(parts, part, {.shuffle = true, .seed = 5, .drop_last = drop_last});
    dist::check_split(good, 103);
    CHECK(good.epoch() == 0);  // left as it was
  }
  data::SplitSampler seed_per_rank(parts, part, {.shuffle = true, .seed = 5 + std::uint64_t(r)});
  CHECK_ALL_THROW(dist::check_split(seed_per_rank, 103), "ranks' parts", ValueError);
  data::SplitSampler same_part(parts, 0, {.shuffle = true, .seed = 5});
  CHECK_ALL_THROW(dist::check_split(same_part, 103), "ranks' parts", ValueError);
  data::SplitSampler halves(parts + 1, part, {.shuffle = false});  // one part nobody takes
  CHECK_ALL_THROW(dist::check_split(halves, 103), "on no rank's part", ValueError);
  data::SplitSampler ok(parts, part, {.shuffle = false});
  CHECK_ALL_THROW(dist::check_split(ok, r == 0 ? 100 : 103), "data sets differ in size", ValueError);
  data::SplitSampler whole(1, 0);  // every rank the whole epoch
  CHECK_ALL_THROW(dist::check_split(whole, 10), "ranks' parts", ValueError);
}
TEST_CASE("Parameters loaded on rank 0 only, then broadcast; every rank saving to one path at once") {
  const int r = dist::rank();
  const std::string path = (std::filesystem::temp_directory_path() / "gluino-test-mpi-hh-shared.safetensors").string();
  random::seed(40);
  nn::Dense saved(3, {.in_units = 2});
  saved.initialize(init::Xavier{});
  dist::broadcast_parameters(saved.collect_params());
  const auto want = saved.collect_params().nth(0)->data().to_vector();
  // Every rank writes the same file at once, five times: each write is whole (a temporary per
  // process, renamed), so the file always loads and holds the weights.
  for (int k = 0; k < 5; ++k) {
    dist::barrier();
    saved.save_parameters(path);
  }
  dist::barrier();
  random::seed(41 + std::uint64_t(r));  // other weights on every rank
  nn::Dense d(3, {.in_units = 2});
  d.initialize(init::Xavier{});
  if (r == 0) d.load_parameters(path);
  dist::broadcast_parameters(d.collect_params());
  CHECK(d.collect_params().nth(0)->data().to_vector() == want);
  nn::Dense e(3, {.in_units = 2});
  e.load_parameters(path);  // every rank reads the file the ranks wrote together
  CHECK(e.collect_params().nth(0)->data().to_vector() == want);
  dist::barrier();
  if (r == 0) std::filesystem::remove(path);
}
TEST_CASE("dist::Trainer: an lr_scheduler on one rank is refused at the first step whose rate differs") {
  const int r = dist::rank(), n = dist::size();
  nn::Dense d(2, {.in_units = 3});
  d.initialize();
  dist::broadcast_parameters(d.collect_params());
  dist::Trainer t(d.collect_params(), "sgd", {{"learning_rate", 0.1}});
  if (r == n - 1)  // the same rate at first, then halved every update
    t.local().optimizer().set_lr_scheduler(std::make_shared<optim::FactorScheduler>(1, optim::FactorSchedulerOptions{
                                                                                            .factor = 0.5}));
  int refused_at = -1;
  for (int step = 0; step < 4 && refused_at < 0; ++step) {
    {
      autograd::record rec;
      d(nd::ones<float>({2, 3})).sum().backward();
    }
    try {
      t.step(2);
    } catch (const ValueError& e) {
      CHECK(std::string(e.what()).find("learning rates differ") != std::string::npos);
      refused_at = step;
    }
    const auto [lo, hi] = min_max(checksum(d.collect_params()));
    CHECK(lo == hi);  // never apart: refused before the first update at another rate
  }
  CHECK(refused_at >= 0);
  const auto [lo, hi] = min_max(double(refused_at));
  CHECK(lo == hi);  // on every rank at the same step
}
TEST_CASE("dist::Trainer: the same optimizer under other option spellings, and a rate set on every rank, steps") {
  const int r = dist::rank();
  nn::Dense d(2, {.in_units = 3});
  d.initialize();
  dist::broadcast_parameters(d.collect_params());
  // The optimizer's name in another case, the options written in another order: the same optimizer.
  dist::Trainer t(d.collect_params(), r == 0 ? "SGD" : "sgd",
                  r == 0 ? optim::OptimizerOptions{{"learning_rate", 0.1}, {"momentum", 0.5}}
                         : optim::OptimizerOptions{{"momentum", 0.5}, {"learning_rate", 0.1}});
  for (int step = 0; step < 2; ++step) {
    {
      autograd::record rec;
      d(nd::ones<float>({2, 3}) * float(r + 1)).sum().backward();
    }
    t.step(2);
    t.set_learning_rate(0.05);  // on every rank
  }
  const auto [lo, hi] = min_max(checksum(d.collect_params()));
  CHECK(lo == hi);
}
}
