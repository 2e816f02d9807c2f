// SPDX-License-Identifier: Apache-2.0
#include <gluino/optim/optimizer.hpp>

#include <doctest/doctest.h>

#include <cmath>
#include <functional>
#include <limits>
#include <memory>
#include <vector>

#include <gluino/nd/creation.hpp>
#include <gluino/optim/create.hpp>
#include <gluino/optim/ftml.hpp>
#include <gluino/optim/sgd.hpp>

using namespace gluino;

TEST_SUITE("optim/optimizer") {
TEST_CASE("nonsense hyper-parameters are ValueErrors naming the optimizer and the value") {
  const double nan = std::numeric_limits<double>::quiet_NaN(), inf = std::numeric_limits<double>::infinity();
  CHECK_THROWS_WITH_AS(optim::SGD({.learning_rate = -1}), "sgd: learning_rate must be a finite number >= 0, got -1",
                       ValueError);
  CHECK_THROWS_WITH_AS(optim::SGD({.learning_rate = nan}), "sgd: learning_rate must be a finite number >= 0, got nan",
                       ValueError);
  CHECK_THROWS_WITH_AS(optim::SGD({.learning_rate = inf}), doctest::Contains("got inf"), ValueError);
  CHECK_THROWS_WITH_AS(optim::SGD({.momentum = 1.0}), "sgd: momentum must be in [0, 1), got 1", ValueError);
  CHECK_THROWS_WITH_AS(optim::SGD({.momentum = -0.1}), doctest::Contains("momentum"), ValueError);
  CHECK_THROWS_WITH_AS(optim::SGD({.wd = -1e-4}), "sgd: wd must be a finite number >= 0, got -0.0001", ValueError);
  CHECK_THROWS_WITH_AS(optim::SGD({.rescale_grad = 0}), "sgd: rescale_grad must be a finite number > 0, got 0", ValueError);
  CHECK_THROWS_WITH_AS(optim::SGD({.clip_gradient = nan}), doctest::Contains("sgd: clip_gradient"), ValueError);
  CHECK_THROWS_WITH_AS(optim::NAG({.momentum = nan}), "nag: momentum must be in [0, 1), got nan", ValueError);
  CHECK_THROWS_WITH_AS(optim::Adam({.learning_rate = -0.001}), doctest::Contains("adam: learning_rate"), ValueError);
  CHECK_THROWS_WITH_AS(optim::Adam({.beta1 = nan}), "adam: beta1 must be in [0, 1), got nan", ValueError);
  CHECK_THROWS_WITH_AS(optim::Adam({.beta2 = 1.5}), "adam: beta2 must be in [0, 1), got 1.5", ValueError);
  CHECK_THROWS_WITH_AS(optim::Adam({.epsilon = 0}), "adam: epsilon must be a finite number > 0, got 0", ValueError);
  CHECK_THROWS_WITH_AS(optim::RMSProp({.gamma1 = 1}), "rmsprop: gamma1 must be in [0, 1), got 1", ValueError);
  CHECK_THROWS_WITH_AS(optim::RMSProp({.gamma2 = -1}), doctest::Contains("rmsprop: gamma2"), ValueError);
  CHECK_THROWS_WITH_AS(optim::RMSProp({.epsilon = -1e-8}), doctest::Contains("rmsprop: epsilon"), ValueError);
  CHECK_THROWS_WITH_AS(optim::RMSProp({.clip_weights = nan}), doctest::Contains("rmsprop: clip_weights"), ValueError);
  // Through the registry (Trainer(params, "sgd", {...})) too.
  CHECK_THROWS_WITH_AS(optim::create("sgd", {{"learning_rate", -1}}), "sgd: learning_rate must be a finite number >= 0, got -1",
                       ValueError);
  CHECK_THROWS_WITH_AS(optim::create("adam", {{"beta1", 1}}), doctest::Contains("adam: beta1"), ValueError);
  // Edge values that mean something are accepted: lr 0 freezes, clip_gradient < 0 is off, momentum 0.
  CHECK_NOTHROW(optim::SGD({.learning_rate = 0, .momentum = 0, .wd = 0, .clip_gradient = -1}));
}
TEST_CASE("the setters check too, and keep the old value on a bad one") {
  optim::SGD opt({.learning_rate = 0.1});
  CHECK_THROWS_WITH_AS(opt.set_learning_rate(-1), "sgd: learning_rate must be a finite number >= 0, got -1", ValueError);
  CHECK_THROWS_WITH_AS(opt.set_learning_rate(std::numeric_limits<double>::quiet_NaN()), doctest::Contains("got nan"),
                       ValueError);
  CHECK(opt.learning_rate() == 0.1);
  CHECK_THROWS_WITH_AS(opt.set_wd(-1), doctest::Contains("sgd: wd"), ValueError);
  CHECK_THROWS_WITH_AS(opt.set_rescale_grad(std::numeric_limits<double>::infinity()), doctest::Contains("sgd: rescale_grad"),
                       ValueError);
  CHECK_THROWS_WITH_AS(opt.set_clip_gradient(std::numeric_limits<double>::quiet_NaN()), doctest::Contains("clip_gradient"),
                       ValueError);
  opt.set_learning_rate(0.05);
  CHECK(opt.learning_rate() == 0.05);
}
TEST_CASE("counters: per index and num_update, from begin_num_update") {
  optim::BasicSGD<double> opt({.begin_num_update = 10});
  auto w = nd::zeros<double>({2}), g = nd::ones<double>({2});
  CHECK(opt.num_update() == 10);
  opt.update(0, w, g);
  opt.update(1, w, g);
  opt.update(0, w, g);
  CHECK(opt.index_update_count().at(0) == 12);
  CHECK(opt.index_update_count().at(1) == 11);
  CHECK(opt.num_update() == 12);
}
TEST_CASE("a scheduler drives the rate and takes the optimizer's learning_rate as base_lr") {
  auto sched = std::make_shared<optim::FactorScheduler>(1, optim::FactorSchedulerOptions{.factor = 0.5});
  optim::BasicSGD<double> opt({.learning_rate = 1.0, .lr_scheduler = sched});
  CHECK(sched->base_lr() == 1.0);
  auto w = nd::zeros<double>({1}), g = nd::ones<double>({1});
  opt.update(0, w, g);  // num_update 1: lr 1
  opt.update(0, w, g);  // num_update 2: lr 0.5
  CHECK(w.at(0) == doctest::Approx(-1.5));
  CHECK(opt.learning_rate() == doctest::Approx(0.5));
  CHECK_THROWS_WITH_AS(opt.set_learning_rate(0.1), doctest::Contains("lr_scheduler"), StateError);
  opt.set_lr_scheduler(nullptr);
  opt.set_learning_rate(0.1);
  CHECK(opt.learning_rate() == 0.1);
}
TEST_CASE("states() names states; set_states restores copies") {
  optim::BasicSGD<double> opt({.momentum = 0.9});
  auto w = nd::zeros<double>({2}), g = nd::ones<double>({2});
  opt.update(3, w, g);
  auto st = opt.states();
  REQUIRE(st.count("3.mom") == 1);
  CHECK(st.at("3.mom").to_vector() == std::vector<double>{-0.01, -0.01});
  optim::BasicSGD<double> other({.momentum = 0.9});
  other.set_states(st);
  other.set_update_counts(opt.num_update(), opt.index_update_count());
  CHECK(other.state(3)[0].to_vector() == st.at("3.mom").to_vector());
  CHECK(other.state(3)[0].data() != st.at("3.mom").data());
  CHECK_THROWS_WITH_AS(other.set_states({{"3.velocity", nd::zeros<double>({2})}}), doctest::Contains("velocity"), ValueError);
  CHECK_THROWS_WITH_AS(other.set_states({{"x.mom", nd::zeros<double>({2})}}), doctest::Contains("x.mom"), ValueError);
}
TEST_CASE("errors: weight and grad shapes differ, a loaded state of the wrong shape, missing state") {
  optim::BasicSGD<double> opt({.momentum = 0.9});
  auto w = nd::zeros<double>({2, 3});
  CHECK_THROWS_WITH_AS(opt.update(0, w, nd::zeros<double>({3, 2})), doctest::Contains("(2, 3) and grad of shape (3, 2)"),
                       ShapeError);
  opt.set_states({{"0.mom", nd::zeros<double>({4})}});
  CHECK_THROWS_WITH_AS(opt.update(0, w, nd::zeros<double>({2, 3})), doctest::Contains("(4,)"), ShapeError);
  CHECK_THROWS_AS(opt.state(9), StateError);
}
TEST_CASE("an update that throws leaves the weight, the states and the counters as they were") {
  optim::BasicFTML<double> opt;
  auto w = nd::array<double>({1.0, -2.0});
  const auto g = nd::array<double>({0.5, 0.25});
  CHECK_THROWS_AS(opt.update(0, w, g, /*lr_mult=*/0), ValueError);  // FTML divides by the rate
  CHECK(w.to_vector() == std::vector<double>{1.0, -2.0});
  CHECK_FALSE(opt.has_state(0));
  CHECK(opt.num_update() == 0);
  CHECK(opt.index_update_count().empty());
  opt.update(0, w, g);  // so the next update is the first one (t = 1), as for a fresh optimizer
  optim::BasicFTML<double> fresh;
  auto w2 = nd::array<double>({1.0, -2.0});
  fresh.update(0, w2, g);
  CHECK(w.to_vector() == w2.to_vector());
  const auto z = opt.state(0)[2].to_vector();
  CHECK_THROWS_AS(opt.update(0, w, g, 0), ValueError);
  CHECK(w.to_vector() == w2.to_vector());
  CHECK(opt.state(0)[2].to_vector() == z);
  CHECK(opt.index_update_count().at(0) == 1);
  CHECK(opt.num_update() == 1);
}
TEST_CASE("an update that throws leaves the lr_scheduler as it was (Factor and MultiFactor decay when asked)") {
  // FactorScheduler and MultiFactorScheduler decay their base_lr as a side effect of being asked
  // for the rate of a later num_update; Poly and Cosine keep the last rate in base_lr.  An
  // update that FTML refuses (lr_mult 0: FTML divides by the rate) leaves every one as it was,
  // so that the next update is the one an optimizer that never failed makes.
  const std::vector<std::function<std::shared_ptr<optim::LRScheduler>()>> makers = {
      [] { return std::make_shared<optim::FactorScheduler>(1, optim::FactorSchedulerOptions{.factor = 0.5}); },
      [] {
        return std::make_shared<optim::MultiFactorScheduler>(std::vector<std::size_t>{1},
                                                             optim::MultiFactorSchedulerOptions{.factor = 0.5});
      },
      [] { return std::make_shared<optim::PolyScheduler>(10, optim::PolySchedulerOptions{.base_lr = 0.1}); },
      [] { return std::make_shared<optim::CosineScheduler>(10, optim::CosineSchedulerOptions{.base_lr = 0.1}); }};
  for (std::size_t k = 0; k < makers.size(); ++k) {
    CAPTURE(k);
    const auto sched = makers[k]();
    optim::BasicFTML<double> opt({.learning_rate = 0.1, .lr_scheduler = sched});
    auto w = nd::array<double>({1.0, -2.0});
    const auto g = nd::array<double>({0.5, 0.25});
    opt.update(0, w, g);  // num_update 1
    const double base = sched->base_lr(), lr = opt.learning_rate();
    const auto w1 = w.to_vector();
    CHECK_THROWS_WITH_AS(opt.update(0, w, g, /*lr_mult=*/0), doctest::Contains("must be > 0, got 0"), ValueError);
    CHECK(sched->base_lr() == base);
    CHECK(opt.learning_rate() == lr);
    CHECK(opt.num_update() == 1);
    CHECK(w.to_vector() == w1);
    optim::BasicFTML<double> twin({.learning_rate = 0.1, .lr_scheduler = makers[k]()});
    auto w2 = nd::array<double>({1.0, -2.0});
    twin.update(0, w2, g);
    twin.update(0, w2, g);
    opt.update(0, w, g);
    CHECK(w.to_vector() == w2.to_vector());
    CHECK(opt.learning_rate() == twin.learning_rate());
    CHECK(sched->base_lr() == twin.lr_scheduler()->base_lr());
  }
}
TEST_CASE("a scheduler of one's own that counts its calls (no rate_at) is asked once per update number") {
  // A user's scheduler in the PyTorch style: each call is one step of the schedule (the rate
  // halves at every call), and it does not override rate_at.  The optimizer asks it once per
  // num_update and keeps the rate: an update refused by the rule (FTML at lr_mult 0) and its
  // retry at the same num_update do not count twice.
  struct Halving : optim::LRScheduler {
    std::vector<std::size_t> asked;
    double operator()(std::size_t num_update) override {
      asked.push_back(num_update);
      return base_lr() * std::pow(0.5, static_cast<double>(asked.size() - 1));
    }
  };
  auto sched = std::make_shared<Halving>();
  optim::BasicSGD<double> opt({.learning_rate = 1.0, .lr_scheduler = sched});
  auto w = nd::array<double>({1.0, -2.0});
  const auto g = nd::array<double>({0.5, 0.25});
  std::vector<double> naive = w.to_vector();
  for (int k = 0; k < 3; ++k) {
    opt.update(0, w, g);
    for (std::size_t i = 0; i < naive.size(); ++i) naive[i] -= std::pow(0.5, k) * g.to_vector()[i];
  }
  CHECK(sched->asked == std::vector<std::size_t>{1, 2, 3});
  CHECK(w.to_vector() == naive);
  CHECK(opt.learning_rate() == 0.25);  // the rate of update 3, not a fourth step of the schedule
  CHECK(sched->asked.size() == 3);

  auto sched2 = std::make_shared<Halving>();
  optim::BasicFTML<double> ftml({.learning_rate = 0.1, .lr_scheduler = sched2});
  auto w2 = nd::array<double>({1.0, -2.0});
  ftml.update(0, w2, g);
  CHECK_THROWS_AS(ftml.update(0, w2, g, /*lr_mult=*/0), ValueError);
  ftml.update(0, w2, g);
  CHECK(sched2->asked == std::vector<std::size_t>{1, 2});
  CHECK(ftml.learning_rate() == 0.05);

  // Counters set back (reset, or loaded states of an earlier step): the update numbers come
  // again and the scheduler is asked again, not answered from before.
  opt.reset();
  opt.update(0, w, g);
  opt.set_update_counts(2, {{0, 2}});
  opt.update(0, w, g);
  CHECK(sched->asked == std::vector<std::size_t>{1, 2, 3, 1, 3});
}
TEST_CASE("reset(): the next update starts afresh, also the rate of a FactorScheduler that decayed") {
  auto sched = std::make_shared<optim::FactorScheduler>(1, optim::FactorSchedulerOptions{.factor = 0.5});
  optim::BasicSGD<double> opt({.learning_rate = 1.0, .lr_scheduler = sched});
  auto w = nd::array<double>({1.0});
  const auto g = nd::array<double>({1.0});
  for (int k = 0; k < 4; ++k) opt.update(0, w, g);
  CHECK(opt.learning_rate() == 0.125);
  opt.reset();
  const double before = w.to_vector()[0];
  opt.update(0, w, g);
  CHECK(w.to_vector()[0] == before - 1.0);  // the rate of update 1
  CHECK(opt.learning_rate() == 1.0);
}
TEST_CASE("a rate, weight decay or rescale_grad beyond float's range is a ValueError in float, not NaN weights") {
  // 1e300 is a finite double but infinite as a float: lr * 0 (a zero gradient, or wd 0) would
  // then make NaN of every weight.  The float optimizer refuses the update; double takes it.
  const std::vector<float> w0{1.0f, -2.0f};
  auto w = nd::array<float>(w0);
  const auto g = nd::array<float>({0.0f, 1.0f});
  optim::SGD huge_lr({.learning_rate = 1e300});
  CHECK_THROWS_WITH_AS(huge_lr.update(0, w, g), doctest::Contains("too large for float"), ValueError);
  optim::SGD huge_mult({.learning_rate = 1.0});
  CHECK_THROWS_WITH_AS(huge_mult.update(0, w, g, /*lr_mult=*/1e39), doctest::Contains("too large for float"), ValueError);
  optim::SGD huge_wd({.learning_rate = 0.1, .wd = 1e39});
  CHECK_THROWS_AS(huge_wd.update(0, w, g), ValueError);
  optim::SGD huge_rescale({.learning_rate = 0.1, .rescale_grad = 1e39});
  CHECK_THROWS_AS(huge_rescale.update(0, w, g), ValueError);
  CHECK(w.to_vector() == w0);
  CHECK(huge_lr.num_update() == 0);
  CHECK_FALSE(huge_lr.has_state(0));
  optim::BasicSGD<double> in_double({.learning_rate = 1e300});
  auto wd = nd::array<double>({1.0, -2.0});
  in_double.update(0, wd, nd::array<double>({0.0, 1e-300}));
  CHECK(wd.to_vector()[0] == 1.0);
  CHECK(wd.to_vector()[1] == doctest::Approx(-3.0));
}
TEST_CASE("a scheduler of one's own giving a negative or NaN rate: a ValueError naming it, nothing changed") {
  struct Fixed : optim::LRScheduler {
    double rate = 0;
    double operator()(std::size_t) override { return rate; }
  };
  auto sched = std::make_shared<Fixed>();
  optim::BasicSGD<double> opt({.learning_rate = 0.1, .momentum = 0.9, .lr_scheduler = sched});
  auto w = nd::array<double>({1.0, -2.0});
  const auto g = nd::array<double>({0.5, 0.25});
  for (const double bad : {-0.5, std::numeric_limits<double>::quiet_NaN(), std::numeric_limits<double>::infinity()}) {
    CAPTURE(bad);
    sched->rate = bad;
    sched->forget_rates();
    CHECK_THROWS_WITH_AS(opt.update(0, w, g), doctest::Contains("lr_scheduler"), ValueError);
    CHECK(w.to_vector() == std::vector<double>{1.0, -2.0});
    CHECK(opt.num_update() == 0);
  }
  sched->rate = 0.5;
  sched->forget_rates();
  opt.update(0, w, g);
  CHECK(w.to_vector() == std::vector<double>{0.75, -2.125});
}
TEST_CASE("lr_mult and wd_mult must be finite and >= 0: a ValueError naming the parameter, nothing changed") {
  const double nan = std::numeric_limits<double>::quiet_NaN(), inf = std::numeric_limits<double>::infinity();
  optim::BasicSGD<double> opt({.learning_rate = 0.1, .momentum = 0.9, .wd = 0.1});
  auto w = nd::ones<double>({2});
  const auto g = nd::ones<double>({2});
  CHECK_THROWS_WITH_AS(opt.update(5, w, g, -1),
                       "sgd: update of parameter 5: lr_mult must be a finite number >= 0, got -1", ValueError);
  CHECK_THROWS_WITH_AS(opt.update(5, w, g, nan), doctest::Contains("lr_mult"), ValueError);
  CHECK_THROWS_WITH_AS(opt.update(5, w, g, 1, -0.5),
                       doctest::Contains("wd_mult must be a finite number >= 0, got -0.5"), ValueError);
  CHECK_THROWS_WITH_AS(opt.update(5, w, g, 1, inf), doctest::Contains("wd_mult"), ValueError);
  CHECK(w.to_vector() == std::vector<double>{1.0, 1.0});
  CHECK_FALSE(opt.has_state(5));
  CHECK(opt.num_update() == 0);
  opt.update(5, w, g, 0, 0);  // 0 freezes the parameter
  CHECK(w.to_vector() == std::vector<double>{1.0, 1.0});
}
TEST_CASE("set_states: an index out of range is a ValueError, not std::out_of_range") {
  optim::BasicSGD<double> opt({.momentum = 0.9});
  CHECK_THROWS_WITH_AS(opt.set_states({{"99999999999999999999999.mom", nd::zeros<double>({2})}}),
                       doctest::Contains("99999999999999999999999.mom"), ValueError);
  opt.set_states({{"1.mom", nd::ones<double>({2})}});
  CHECK_THROWS_WITH_AS(opt.set_states({{"0.mom", NDArray<double>{}}}),
                       "sgd: set_states: state '0.mom' is an undefined array", ValueError);
  CHECK(opt.has_state(1));
  CHECK_FALSE(opt.has_state(0));
}
TEST_CASE("steady-state updates keep the weight and state storage") {
  optim::BasicSGD<float> opt({.momentum = 0.9});
  auto w = nd::zeros<float>({4}), g = nd::ones<float>({4});
  opt.update(0, w, g);
  const float* mom = opt.state(0)[0].data();
  const float* wp = w.data();
  opt.update(0, w, g);
  CHECK(opt.state(0)[0].data() == mom);
  CHECK(w.data() == wp);
}
}
