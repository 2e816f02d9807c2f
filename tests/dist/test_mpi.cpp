// SPDX-License-Identifier: Apache-2.0
// gluino::dist (dist/mpi.hpp), run by CTest under `mpirun -np 2` and `-np 4` (tests/CMakeLists.txt):
// every rank runs every case; the checks compare ranks through MPI itself.
#include <gluino/dist/mpi.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
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
TEST_CASE("N ranks at batch 64/N reach the weights of one process at batch 64 after 10 steps") {
  // In double: the ranks' gradient sums run in another order than the single process's, and in
  // float that difference (1e-8 in the weights after a step) is enough to flip the arg-max of a
  // max-pooling window whose two largest values lie that close, which moves a whole pixel's
  // gradient; over 20 steps at batch 128 such flips happened on some machines and builds (0.0045 apart).  In
  // double the order's effect is ~1e-16 and a flip needs a near-tie that close.
  const int r = dist::rank(), n = dist::size();
  // Each reduction path: buckets overlapping backward (the default), small buckets, no overlap.
  for (const dist::ReducerOptions options :
       {dist::ReducerOptions{}, dist::ReducerOptions{.bucket_bytes = 4096}, dist::ReducerOptions{.overlap = false}}) {
    CAPTURE(options.bucket_bytes);
    CAPTURE(options.overlap);
    const std::size_t global = 64, local = global / std::size_t(n);
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
      const auto xs = x.slice(local * std::size_t(r), local * std::size_t(r + 1));
      const auto ys = y.slice(local * std::size_t(r), local * std::size_t(r + 1));
      {
        autograd::record rec;
        loss_fn((*para)(xs), ys).backward();
      }
      tn.step(local);
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
}
