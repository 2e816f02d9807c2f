// SPDX-License-Identifier: Apache-2.0
#include <gluino/optim/trainer.hpp>

#include <doctest/doctest.h>

#include <gluino/nn/parameter_dict.hpp>
#include <gluino/nn/parameter_io.hpp>  // save / load

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <gluino/loss/softmax_cross_entropy_loss.hpp>
#include <gluino/metric/accuracy.hpp>
#include <gluino/nd.hpp>  // NDArray with all its methods and ops
#include <gluino/nd/creation.hpp>
#include <gluino/nn/dense.hpp>
#include <gluino/nn/sequential.hpp>

using namespace gluino;

namespace {
/// Three parameters a, b, c of shape (2,): a with lr_mult 2 and wd_mult 0.5, b with grad_req null.
nn::BasicParameterDict<double> make_params() {
  nn::BasicParameterDict<double> d("net_");
  d.get("a", Shape{2})->set_data(nd::array<double>({1.0, -2.0}));
  d.get("b", Shape{2}, {}, {.grad_req = GradReq::null})->set_data(nd::array<double>({3.0, 4.0}));
  d.get("c", Shape{2})->set_data(nd::array<double>({0.5, 0.25}));
  d["net_a"]->set_lr_mult(2);
  d["net_a"]->set_wd_mult(0.5);
  return d;
}
void set_grads(const nn::BasicParameterDict<double>& d, int step) {
  d["net_a"]->grad().assign(nd::array<double>({1.0 + step, -0.5}));
  d["net_c"]->grad().assign(nd::array<double>({-2.0, 4.0 * step}));
}
std::string trainer_temp_path(const char* name) { return (std::filesystem::temp_directory_path() / name).string(); }
}  // namespace

TEST_SUITE("optim/trainer") {
TEST_CASE("step: SGD with momentum, 1 / batch_size, lr_mult / wd_mult, grad_req null skipped") {
  auto params = make_params();
  BasicTrainer<double> trainer(params, "sgd", {{"learning_rate", 0.1}, {"momentum", 0.9}, {"wd", 0.01}});
  const double lr = 0.1, mom = 0.9, wd = 0.01, bs = 4;
  std::vector<double> a = {1.0, -2.0}, c = {0.5, 0.25}, ma = {0, 0}, mc = {0, 0};
  for (int step = 0; step < 3; ++step) {
    set_grads(params, step);
    trainer.step(4);
    const std::vector<double> ga = {1.0 + step, -0.5}, gc = {-2.0, 4.0 * step};
    for (int i = 0; i < 2; ++i) {
      ma[i] = mom * ma[i] - (lr * 2) * (wd * 0.5) * a[i] - (lr * 2) * ga[i] / bs;
      a[i] += ma[i];
      mc[i] = mom * mc[i] - lr * wd * c[i] - lr * gc[i] / bs;
      c[i] += mc[i];
      CHECK(params["net_a"]->data().at(i) == doctest::Approx(a[i]).epsilon(1e-12));
      CHECK(params["net_c"]->data().at(i) == doctest::Approx(c[i]).epsilon(1e-12));
    }
  }
  CHECK(params["net_b"]->data().to_vector() == std::vector<double>{3.0, 4.0});
  CHECK(trainer.optimizer().rescale_grad() == 0.25);
  CHECK_FALSE(trainer.optimizer().has_state(1));
}
TEST_CASE("learning_rate and set_learning_rate") {
  auto params = make_params();
  BasicTrainer<double> trainer(params, "adam", {{"learning_rate", 0.5}});
  CHECK(trainer.learning_rate() == 0.5);
  trainer.set_learning_rate(0.05);
  CHECK(trainer.learning_rate() == 0.05);
  auto sgd = std::make_shared<optim::BasicSGD<double>>(optim::SGDOptions{.learning_rate = 0.3});
  BasicTrainer<double> with_obj(params, sgd);
  CHECK(with_obj.learning_rate() == 0.3);
  CHECK(&with_obj.optimizer() == sgd.get());
  CHECK_THROWS_WITH_AS(BasicTrainer<double>(params, "sgd", {{"learnig_rate", 0.1}}), doctest::Contains("learnig_rate"),
                       ValueError);
}
TEST_CASE("save_states / load_states round trip: a restored trainer continues identically") {
  const std::string path = trainer_temp_path("gluino_test_trainer_states.safetensors");
  auto p1 = make_params();
  BasicTrainer<double> t1(p1, "adam", {{"learning_rate", 0.1}});
  for (int s = 0; s < 2; ++s) {
    set_grads(p1, s);
    t1.step(2);
  }
  t1.save_states(path);
  auto p2 = make_params();
  for (const char* n : {"net_a", "net_c"}) p2[n]->set_data(p1[n]->data());
  BasicTrainer<double> t2(p2, "adam", {{"learning_rate", 0.1}});
  t2.load_states(path);
  CHECK(t2.optimizer().num_update() == 2);
  CHECK(t2.optimizer().index_update_count().at(2) == 2);
  set_grads(p1, 2), set_grads(p2, 2);
  t1.step(2), t2.step(2);
  CHECK(p2["net_a"]->data().to_vector() == p1["net_a"]->data().to_vector());
  CHECK(p2["net_c"]->data().to_vector() == p1["net_c"]->data().to_vector());

  BasicTrainer<double> wrong_opt(make_params(), "sgd", {{"momentum", 0.9}});
  CHECK_THROWS_WITH_AS(wrong_opt.load_states(path), doctest::Contains("optimizer 'adam'"), ValueError);
  nn::BasicParameterDict<double> other("other_");
  other.get("a", Shape{2})->set_data(nd::zeros<double>({2}));
  BasicTrainer<double> wrong_params(other, "adam");
  CHECK_THROWS_WITH_AS(wrong_params.load_states(path), doctest::Contains("other_a"), ValueError);
  std::remove(path.c_str());
}
TEST_CASE("load_states rejects a file that lacks the state of one updated parameter, naming it") {
  const std::string path = trainer_temp_path("gluino_test_trainer_missing_state.safetensors");
  auto p1 = make_params();
  BasicTrainer<double> t1(p1, "sgd", {{"learning_rate", 0.1}, {"momentum", 0.9}});
  set_grads(p1, 0);
  t1.step(1);
  t1.save_states(path);
  auto c = io::load_safetensors_with_metadata<double>(path);
  REQUIRE(c.tensors.size() == 2);  // 0.mom and 2.mom (b has grad_req null)
  c.tensors.erase(c.tensors.begin() + 1);  // drop 2.mom
  io::save_safetensors(path, c.tensors, c.metadata);
  auto p2 = make_params();
  BasicTrainer<double> t2(p2, "sgd", {{"learning_rate", 0.1}, {"momentum", 0.9}});
  CHECK_THROWS_WITH_AS(t2.load_states(path), doctest::Contains("no state 'mom' for parameter 2 ('net_c')"), ValueError);
  CHECK_FALSE(t2.optimizer().has_state(0));  // nothing was loaded
  CHECK(t2.optimizer().num_update() == 0);
  std::remove(path.c_str());
}
namespace {
nn::Sequential make_net() {
  nn::Sequential net;
  net.add(nn::Dense{4, {.activation = "relu", .in_units = 3}}, nn::Dense{2, {.in_units = 4}});
  net.initialize();
  return net;
}
void train_step(nn::Sequential& net, Trainer& trainer, float scale) {
  auto x = nd::array<float>({1, 2, 3, -1, 0.5f, 2}, {2, 3}) * scale;
  loss::SoftmaxCrossEntropyLoss loss_fn;
  {
    autograd::record rec;
    auto l = loss_fn(net(x), nd::array<float>({0, 1}));
    l.backward();
  }
  trainer.step(2);
}
}  // namespace
TEST_CASE("load_states matches parameters by structure: another process numbering blocks differently loads it") {
  const std::string path = trainer_temp_path("gluino_test_trainer_structural.safetensors");
  nn::reset_name_counters();
  auto net1 = make_net();  // dense0_, dense1_
  Trainer t1(net1.collect_params(), "sgd", {{"learning_rate", 0.1}, {"momentum", 0.9}});
  train_step(net1, t1, 1), train_step(net1, t1, 2);
  t1.save_states(path);
  net1.save_parameters(path + ".params");

  nn::reset_name_counters();  // "another process" that built a block first
  nn::Dense first{7, {.in_units = 2}};
  (void)first.name();     // blocks are named lazily: name this one first
  auto net2 = make_net();     // dense1_, dense2_
  CHECK(net2.collect_params().keys()[0] != net1.collect_params().keys()[0]);
  net2.load_parameters(path + ".params");
  Trainer t2(net2.collect_params(), "sgd", {{"learning_rate", 0.1}, {"momentum", 0.9}});
  t2.load_states(path);
  std::map<std::string, std::vector<float>> s1;  // copies: states() hands out the live arrays
  for (const auto& [name, arr] : t1.optimizer().states()) s1[name] = arr.to_vector();
  const auto s2 = t2.optimizer().states();
  REQUIRE(s1.size() == 4);
  REQUIRE(s2.size() == 4);
  for (const auto& [name, v] : s1) CHECK(s2.at(name).to_vector() == v);
  CHECK(t2.optimizer().num_update() == 2);
  train_step(net1, t1, 3), train_step(net2, t2, 3);
  for (std::size_t i = 0; i < t1.params().size(); ++i)
    CHECK(t2.params()[i]->data().to_vector() == t1.params()[i]->data().to_vector());

  SUBCASE("another count or shape is rejected") {
    nn::Sequential three;
    three.add(nn::Dense{4, {.in_units = 3}}, nn::Dense{2, {.in_units = 4}}, nn::Dense{1, {.in_units = 2}});
    three.initialize();
    Trainer t3(three.collect_params(), "sgd", {{"momentum", 0.9}});
    CHECK_THROWS_WITH_AS(t3.load_states(path), doctest::Contains("saved for 4 parameters"), ValueError);
    nn::Sequential wide;
    wide.add(nn::Dense{5, {.in_units = 3}}, nn::Dense{2, {.in_units = 5}});
    wide.initialize();
    Trainer t4(wide.collect_params(), "sgd", {{"momentum", 0.9}});
    CHECK_THROWS_WITH_AS(t4.load_states(path), doctest::Contains("of shape (4, 3) but it has shape (5, 3)"), ShapeError);
  }
  SUBCASE("files of format version 1 (global names, no shapes) still load") {
    auto c = io::load_safetensors_with_metadata<float>(path);
    for (const char* k : {"format", "format_version", "num_params", "param_shapes"}) CHECK(c.metadata.erase(k) == 1);
    io::save_safetensors(path, c.tensors, c.metadata);
    Trainer t5(net2.collect_params(), "sgd", {{"learning_rate", 0.1}, {"momentum", 0.9}});
    t5.load_states(path);
    CHECK(t5.optimizer().states().at("3.mom").to_vector() == s1.at("3.mom"));
  }
  std::remove(path.c_str());
  std::remove((path + ".params").c_str());
}
TEST_CASE("save_states: the caller's metadata, and a failed save leaves the previous file whole") {
  const std::string path = trainer_temp_path("gluino_test_trainer_meta.safetensors");
  auto p1 = make_params();
  BasicTrainer<double> t1(p1, "adam", {{"learning_rate", 0.1}});
  set_grads(p1, 0);
  t1.step(1);
  t1.save_states(path, {{"epoch", "4"}});
  const auto meta = io::read_safetensors_header(path).metadata;
  CHECK(meta.at("epoch") == "4");
  CHECK(meta.at("format_version") == "2");
  CHECK(meta.at("param_shapes") == "[[2],[2],[2]]");
  CHECK_THROWS_WITH_AS(t1.save_states(path, {{"optimizer", "x"}}), doctest::Contains("metadata key 'optimizer'"),
                       ValueError);
  std::ifstream f0(path, std::ios::binary);
  const std::string before{std::istreambuf_iterator<char>(f0), {}};
  set_grads(p1, 1);
  t1.step(1);
  detail::fail_writes_after_bytes = 100;
  CHECK_THROWS_WITH_AS(t1.save_states(path), doctest::Contains("disk full"), ValueError);
  detail::fail_writes_after_bytes.reset();
  std::ifstream f1(path, std::ios::binary);
  CHECK(std::string{std::istreambuf_iterator<char>(f1), {}} == before);
  for (const auto& e : std::filesystem::directory_iterator(std::filesystem::temp_directory_path()))
    CHECK(e.path().filename().string().rfind("gluino_test_trainer_meta.safetensors.tmp", 0) != 0);
  std::remove(path.c_str());
}
TEST_CASE("the issue's snippet: Trainer over a network's collect_params()") {
  nn::Sequential net;
  net.add(nn::Dense{8, {.activation = "relu"}}, nn::Dense{3});
  net.initialize();
  auto x = nd::ones<float>({4, 5});
  auto labels = nd::array<float>({0, 1, 2, 1});
  loss::SoftmaxCrossEntropyLoss loss_fn;
  net(x);
  Trainer trainer(net.collect_params(), "sgd", {{"learning_rate", 0.1}, {"momentum", 0.9}, {"wd", 1e-4}});
  const auto before = net.collect_params().at(net.collect_params().keys()[0])->data().copy();
  {
    autograd::record rec;
    auto l = loss_fn(net(x), labels);
    CHECK(l.shape() == Shape{4});
    l.backward();
  }
  trainer.step(x.shape()[0]);
  CHECK(trainer.optimizer().rescale_grad() == 0.25);
  CHECK(net.collect_params().at(net.collect_params().keys()[0])->data().to_vector() != before.to_vector());
}
TEST_CASE("an MLP learns a separable 3-class problem (seeded): accuracy >= 0.95") {
  random::seed(42);
  random::Generator gen(7);
  const std::size_t n = 150;
  NDArray<float> x(Shape{n, 2}), y(Shape{n});
  const float centers[3][2] = {{2, 0}, {-2, 1}, {0, -2.5f}};
  for (std::size_t i = 0; i < n; ++i) {
    const std::size_t k = i % 3;
    y.at(i) = static_cast<float>(k);
    x.at(i, 0) = centers[k][0] + static_cast<float>(gen.uniform(-0.8, 0.8));
    x.at(i, 1) = centers[k][1] + static_cast<float>(gen.uniform(-0.8, 0.8));
  }
  nn::Sequential net;
  net.add(nn::Dense{16, {.activation = "relu"}}, nn::Dense{3});
  net.initialize();
  loss::SoftmaxCrossEntropyLoss loss_fn;
  Trainer trainer(net.collect_params(), "sgd", {{"learning_rate", 0.5}, {"momentum", 0.9}});
  for (int epoch = 0; epoch < 30; ++epoch)
    for (std::size_t b = 0; b < n; b += 30) {
      auto xb = x.slice(b, b + 30), yb = y.slice(b, b + 30);
      {
        autograd::record rec;
        auto l = loss_fn(net(xb), yb);
        l.backward();
      }
      trainer.step(30);
    }
  metric::Accuracy acc;
  acc.update(y, net(x));
  MESSAGE("accuracy after 30 epochs: ", acc.get().second);
  CHECK(acc.get().second >= 0.95);
}
TEST_CASE("step: a parameter two layers share is updated once, with the gradient of both uses") {
  nn::Dense a{2, {.use_bias = false, .in_units = 2}};
  nn::Dense b{2, {.use_bias = false, .params = a.params()}};
  nn::Sequential net;
  auto pa = net.register_child(std::move(a));
  auto pb = net.register_child(std::move(b));
  net.initialize(init::Constant{0.5f});
  REQUIRE(pa->weight() == pb->weight());
  Trainer trainer(net.collect_params(), "sgd", {{"learning_rate", 0.1}});
  REQUIRE(trainer.params().size() == 1);
  const auto x = nd::array<float>({1.0f, 2.0f}).reshape({1, 2});
  {
    autograd::record rec;
    net(x).backward();
  }
  const auto w = pa->weight()->data().to_vector(), g = pa->weight()->grad().to_vector();
  trainer.step(1);
  const auto after = pa->weight()->data().to_vector();
  for (std::size_t i = 0; i < w.size(); ++i) CHECK(after[i] == doctest::Approx(w[i] - 0.1f * g[i]));
  CHECK(trainer.optimizer().index_update_count().at(0) == 1);
}
TEST_CASE("step: all or nothing when a parameter waits for its shape or a state has another shape") {
  nn::Sequential net;
  net.add(nn::Dense{2, {.in_units = 3}}, nn::Dense{2});
  net.initialize(init::Constant{1.0f});
  Trainer trainer(net.collect_params(), "sgd", {{"learning_rate", 0.1}, {"momentum", 0.9}});
  auto first = net.at<nn::Dense>(0).weight();
  first->grad().fill(1.0f);
  CHECK_THROWS_WITH_AS(trainer.step(1), doctest::Contains("waits for its shape"), StateError);
  CHECK(first->data().to_vector() == std::vector<float>(6, 1.0f));  // not updated
  CHECK(trainer.optimizer().num_update() == 0);
  CHECK_FALSE(trainer.optimizer().has_state(0));

  net(nd::ones<float>({1, 3}));  // the second layer learns its input size
  trainer.step(1);
  CHECK(trainer.optimizer().num_update() == 1);
  trainer.optimizer().state(3)[0] = nd::zeros<float>({5});  // the second bias's momentum, of a wrong shape
  const auto before = first->data().to_vector();
  CHECK_THROWS_WITH_AS(trainer.step(1), doctest::Contains("optimizer state has shape (5,)"), ShapeError);
  CHECK(first->data().to_vector() == before);
  CHECK_THROWS_WITH_AS(trainer.step(0), "Trainer: step: batch_size must be > 0", ValueError);
}
TEST_CASE("step: all or nothing when a later parameter's lr_mult or wd_mult is refused by the optimizer") {
  // The optimizer refuses a negative or non-finite multiplier; the Trainer finds it before the
  // first parameter is updated, so the layers before it keep their weights and the counts stay.
  for (const double bad : {-0.5, std::nan(""), std::numeric_limits<double>::infinity()})
    for (const bool lr : {true, false}) {
      CAPTURE(bad);
      CAPTURE(lr);
      nn::Sequential net;
      net.add(nn::Dense{2, {.in_units = 3}}, nn::Dense{2, {.in_units = 2}});
      net.initialize(init::Constant{1.0f});
      Trainer trainer(net.collect_params(), "sgd", {{"learning_rate", 0.1}});
      for (const auto& [name, p] : net.collect_params()) p->grad().fill(1.0f);
      auto last = net.at<nn::Dense>(1).bias();
      if (lr)
        last->set_lr_mult(bad);
      else
        last->set_wd_mult(bad);
      const auto first = net.at<nn::Dense>(0).weight()->data().to_vector();
      CHECK_THROWS_WITH_AS(trainer.step(1), doctest::Contains(lr ? "lr_mult" : "wd_mult"), ValueError);
      CHECK(net.at<nn::Dense>(0).weight()->data().to_vector() == first);  // not updated
      CHECK(trainer.optimizer().num_update() == 0);
    }
}
namespace {
/// Everything a step may change: the weights, the optimizer's states and its counters.
struct TrainerStepState {
  std::vector<std::vector<double>> weights;
  std::map<std::string, std::vector<double>> states;
  std::size_t num_update;
  std::map<std::size_t, std::size_t> counts;
  double learning_rate;
  bool operator==(const TrainerStepState&) const = default;
};
TrainerStepState trainer_step_state(const BasicTrainer<double>& trainer) {
  TrainerStepState s;
  for (const auto& p : trainer.params()) s.weights.push_back(p->data().to_vector());
  for (const auto& [name, arr] : trainer.optimizer().states()) s.states[name] = arr.to_vector();
  s.num_update = trainer.optimizer().num_update();
  s.counts = trainer.optimizer().index_update_count();
  s.learning_rate = trainer.learning_rate();
  return s;
}
template <class Fn>
std::string trainer_error_of(Fn&& fn) {
  try {
    fn();
  } catch (const ValueError& e) {
    return e.what();
  }
  return "(no ValueError)";
}
/// Two parameters a and b of shape (2,), with gradients.
nn::BasicParameterDict<double> trainer_two_params() {
  nn::BasicParameterDict<double> d("net_");
  d.get("a", Shape{2})->set_data(nd::array<double>({1.0, -2.0}));
  d.get("b", Shape{2})->set_data(nd::array<double>({0.5, 0.25}));
  d["net_a"]->grad().assign(nd::array<double>({0.5, -1.0}));
  d["net_b"]->grad().assign(nd::array<double>({2.0, 0.125}));
  return d;
}
}  // namespace
TEST_CASE("step: all or nothing when the optimizer's rule refuses a later parameter's rate (FTML at lr_mult 0)") {
  // FTML divides by the rate: a rate of 0 (lr_mult 0) is its own rule's ValueError.  The Trainer
  // asks the rule about every parameter before it updates the first one.
  auto d = trainer_two_params();
  BasicTrainer<double> trainer(d, "ftml", {{"learning_rate", 0.1}});
  trainer.step(1);  // both updated once: states and counters exist
  d["net_b"]->set_lr_mult(0);
  const TrainerStepState before = trainer_step_state(trainer);
  const std::string what = trainer_error_of([&] { trainer.step(1); });
  CHECK(what.find("parameter 'net_b'") != std::string::npos);
  CHECK(what.find("ftml: the learning rate (times lr_mult) must be > 0, got 0") != std::string::npos);
  CHECK(what.find("no parameter was updated") != std::string::npos);
  CHECK(trainer_step_state(trainer) == before);  // a's weight and states, num_update, index_update_count
  CHECK(trainer.optimizer().num_update() == 1);
  CHECK(trainer.optimizer().index_update_count().at(0) == 1);
  d["net_b"]->set_lr_mult(1);
  trainer.step(1);
  CHECK(trainer.optimizer().index_update_count().at(0) == 2);
  CHECK(trainer.optimizer().index_update_count().at(1) == 2);
}
TEST_CASE("step: all or nothing when the rate a scheduler gives a later parameter is refused by the rule") {
  // The rate each parameter would get: the scheduler's at the num_update its update would see.
  // Here b was counted once more than a, so a is updated at num_update 1 (rate 0.1) and b at 2,
  // where the scheduler's rate is 0, which FTML refuses: nothing is updated, and the scheduler
  // (which decays as a side effect of being asked) is left as it was.
  auto d = trainer_two_params();
  auto sched = std::make_shared<optim::FactorScheduler>(1, optim::FactorSchedulerOptions{.factor = 0, .stop_factor_lr = 0});
  auto ftml = std::make_shared<optim::BasicFTML<double>>(optim::FTMLOptions{.learning_rate = 0.1, .lr_scheduler = sched});
  BasicTrainer<double> trainer(d, ftml);
  ftml->set_update_counts(1, {{1, 1}});
  const TrainerStepState before = trainer_step_state(trainer);
  CHECK(before.learning_rate == 0.1);
  const std::string what = trainer_error_of([&] { trainer.step(1); });
  CHECK(what.find("parameter 'net_b'") != std::string::npos);
  CHECK(what.find("must be > 0, got 0") != std::string::npos);
  CHECK(what.find("no parameter was updated") != std::string::npos);
  CHECK(trainer_step_state(trainer) == before);
  CHECK(sched->base_lr() == 0.1);
  CHECK(trainer.learning_rate() == 0.1);
}
TEST_CASE("step: a scheduler of one's own (no rate_at) is asked once per step, whatever the number of parameters") {
  // A scheduler that counts its calls as steps of the schedule and does not override rate_at:
  // a Trainer of two parameters (with a third one skipped) moves it once per step(), as
  // MXNet's num_update does, and the rate of step k is 0.5^(k-1).
  struct Counting : optim::LRScheduler {
    std::vector<std::size_t> asked;
    double operator()(std::size_t num_update) override {
      asked.push_back(num_update);
      return base_lr() * std::pow(0.5, static_cast<double>(asked.size() - 1));
    }
  };
  auto d = make_params();
  auto sched = std::make_shared<Counting>();
  auto sgd = std::make_shared<optim::BasicSGD<double>>(optim::SGDOptions{.learning_rate = 1.0, .lr_scheduler = sched});
  BasicTrainer<double> trainer(d, sgd);
  std::vector<double> a = d["net_a"]->data().to_vector(), c = d["net_c"]->data().to_vector();
  for (int k = 1; k <= 3; ++k) {
    set_grads(d, k);
    const auto ga = d["net_a"]->grad().to_vector(), gc = d["net_c"]->grad().to_vector();
    trainer.step(1);
    const double lr = std::pow(0.5, k - 1);
    for (std::size_t i = 0; i < 2; ++i) {
      a[i] -= lr * 2 * ga[i];  // lr_mult 2
      c[i] -= lr * gc[i];
    }
  }
  CHECK(sched->asked == std::vector<std::size_t>{1, 2, 3});
  CHECK(d["net_a"]->data().to_vector() == a);
  CHECK(d["net_c"]->data().to_vector() == c);
}
TEST_CASE("load_states of an earlier checkpoint into a trainer that went on: a decayed rate goes back too") {
  // Training goes on past a checkpoint (the rate halves at every update), then rolls back to it
  // with load_states: the next step gets the rate of update 2, as a trainer that never went on.
  const std::string path = trainer_temp_path("gluino_test_trainer_rollback.safetensors");
  auto make = [](nn::BasicParameterDict<double> d) {
    auto sched = std::make_shared<optim::FactorScheduler>(1, optim::FactorSchedulerOptions{.factor = 0.5});
    return BasicTrainer<double>(
        d, std::make_shared<optim::BasicSGD<double>>(optim::SGDOptions{.learning_rate = 1.0, .lr_scheduler = sched}));
  };
  auto p1 = make_params(), p2 = make_params();
  auto t1 = make(p1), t2 = make(p2);
  set_grads(p1, 1), set_grads(p2, 1);
  t1.step(1), t2.step(1);
  t1.save_states(path);
  for (int s = 2; s <= 4; ++s) {
    set_grads(p1, s);
    t1.step(1);
  }
  CHECK(t1.learning_rate() == 0.125);
  t1.load_states(path);
  CHECK(t1.learning_rate() == t2.learning_rate());
  for (const char* n : {"net_a", "net_c"}) p1[n]->set_data(p2[n]->data());
  set_grads(p1, 2), set_grads(p2, 2);
  t1.step(1), t2.step(1);
  CHECK(p1["net_a"]->data().to_vector() == p2["net_a"]->data().to_vector());
  CHECK(p1["net_c"]->data().to_vector() == p2["net_c"]->data().to_vector());
  CHECK(t1.learning_rate() == 0.5);
  std::remove(path.c_str());
}
TEST_CASE("step: grad_req add sums the gradients of several backward passes until zero_grad") {
  nn::BasicParameterDict<double> d("acc_");
  auto p = d.get("w", Shape{2}, {}, {.grad_req = GradReq::add});
  p->set_data(nd::array<double>({1.0, 1.0}));
  BasicTrainer<double> trainer(d, "sgd", {{"learning_rate", 1.0}});
  for (int pass = 0; pass < 2; ++pass) {
    autograd::record rec;
    (p->data() * nd::array<double>({1.0, 2.0})).sum().backward();
  }
  CHECK(p->grad().to_vector() == std::vector<double>{2.0, 4.0});
  trainer.step(2);  // rescaled by 1 / 2
  CHECK(p->data().to_vector() == std::vector<double>{0.0, -1.0});
  d.zero_grad();
  CHECK(p->grad().to_vector() == std::vector<double>{0.0, 0.0});
}
TEST_CASE("one optimizer object serves the Trainers of one parameter list only") {
  nn::Dense a{2, {.in_units = 2}}, b{2, {.in_units = 2}};
  a.initialize();
  b.initialize();
  auto adam = std::make_shared<optim::Adam>(optim::AdamOptions{.learning_rate = 0.01});
  {
    Trainer first(a.collect_params(), adam);
    // Another network's parameters under the same indices would share Adam's moments and counts.
    CHECK_THROWS_WITH_AS(Trainer(b.collect_params(), adam),
                         doctest::Contains("give each Trainer an optimizer of its own"), ValueError);
    Trainer again(a.collect_params(), adam);  // the same parameters: the same indices
    Trainer copy = first;
    CHECK(&copy.optimizer() == adam.get());
  }
  Trainer second(b.collect_params(), adam);  // the first Trainers are gone
  CHECK(second.params().size() == 2);
}
}
