// SPDX-License-Identifier: Apache-2.0
#include <gluino/optim/lr_scheduler.hpp>

#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <numbers>

using namespace gluino;
using doctest::Approx;

TEST_SUITE("optim/lr_scheduler") {
TEST_CASE("FactorScheduler: decays every step updates, floored at stop_factor_lr") {
  optim::FactorScheduler s(2, {.factor = 0.5, .stop_factor_lr = 0.02, .base_lr = 0.1});
  CHECK(s(1) == Approx(0.1));
  CHECK(s(2) == Approx(0.1));
  CHECK(s(3) == Approx(0.05));
  CHECK(s(4) == Approx(0.05));
  CHECK(s(5) == Approx(0.025));
  CHECK(s(7) == Approx(0.02));
  CHECK(s(100) == Approx(0.02));
}
TEST_CASE("FactorScheduler: linear and constant warm-up") {
  optim::FactorScheduler lin(10, {.factor = 0.5, .base_lr = 1.0, .warmup_steps = 4, .warmup_begin_lr = 0.2});
  CHECK(lin(0) == Approx(0.2));
  CHECK(lin(2) == Approx(0.6));
  CHECK(lin(4) == Approx(1.0));
  optim::FactorScheduler cst(10, {.base_lr = 1.0, .warmup_steps = 4, .warmup_begin_lr = 0.2, .warmup_mode = "constant"});
  CHECK(cst(3) == Approx(0.2));
  CHECK(cst(4) == Approx(1.0));
}
TEST_CASE("MultiFactorScheduler: decays after each listed step") {
  optim::MultiFactorScheduler s({2, 5}, {.factor = 0.1, .base_lr = 1.0});
  CHECK(s(1) == Approx(1.0));
  CHECK(s(2) == Approx(1.0));
  CHECK(s(3) == Approx(0.1));
  CHECK(s(5) == Approx(0.1));
  CHECK(s(6) == Approx(0.01));
  CHECK(s(1000) == Approx(0.01));
}
TEST_CASE("CosineScheduler and PolyScheduler follow their formulas") {
  optim::CosineScheduler c(10, {.base_lr = 1.0, .final_lr = 0.1, .warmup_steps = 2});
  CHECK(c(1) == Approx(0.5));  // warm-up from 0 to 1 over 2 updates
  for (std::size_t t : {2, 5, 10})
    CHECK(c(t) == Approx(0.1 + 0.9 * (1 + std::cos(std::numbers::pi * (static_cast<double>(t) - 2.0) / 8.0)) / 2));
  CHECK(c(50) == Approx(0.1));
  optim::PolyScheduler p(10, {.base_lr = 1.0, .pwr = 2, .final_lr = 0.0});
  CHECK(p(5) == Approx(0.25));
  CHECK(p(10) == Approx(0.0));
}
TEST_CASE("PolyScheduler and CosineScheduler: final_lr past max_update, also at a first call or a jump past it") {
  // Resuming at num_update 20 of a 10-update schedule must not restart at base_lr.
  optim::PolyScheduler p(10, {.base_lr = 1.0, .final_lr = 0.1});
  CHECK(p(20) == Approx(0.1));
  optim::PolyScheduler jump(10, {.base_lr = 1.0, .final_lr = 0.1});
  CHECK(jump(5) == Approx(0.1 + 0.9 * 0.25));
  CHECK(jump(11) == Approx(0.1));
  optim::CosineScheduler c(10, {.base_lr = 1.0, .final_lr = 0.2});
  CHECK(c(15) == Approx(0.2));
  optim::CosineScheduler cjump(10, {.base_lr = 1.0, .final_lr = 0.2});
  CHECK(cjump(3) > 0.5);
  CHECK(cjump(12) == Approx(0.2));
}
TEST_CASE("warm-up ends at the rate the schedule continues from") {
  // Factor and MultiFactor continue from the optimizer's rate (set_base_lr): the warm-up climbs to it.
  optim::FactorScheduler f(100, {.warmup_steps = 10});
  f.set_base_lr(0.1);
  CHECK(f(5) == Approx(0.05));
  CHECK(f(9) == Approx(0.09));
  CHECK(f(10) == Approx(0.1));
  optim::MultiFactorScheduler m({50}, {.factor = 0.5, .warmup_steps = 4, .warmup_begin_lr = 0.001});
  m.set_base_lr(1.0);
  CHECK(m(2) == Approx(0.001 + 0.999 / 2));
  // A rate below warmup_begin_lr is refused, as at construction, and the old one kept.
  optim::FactorScheduler g(100, {.base_lr = 1.0, .warmup_steps = 10, .warmup_begin_lr = 0.5});
  CHECK_THROWS_WITH_AS(g.set_base_lr(0.1), doctest::Contains("warmup_begin_lr"), ValueError);
  CHECK(g.base_lr() == 1.0);
  CHECK(g(5) == Approx(0.75));
  // Poly and Cosine keep their own base_lr (MXNet's behaviour), so their warm-up ends there.
  optim::PolyScheduler p(10, {.base_lr = 1.0, .warmup_steps = 2});
  p.set_base_lr(0.5);
  CHECK(p(1) == Approx(0.5));
  CHECK(p(2) == Approx(1.0));
}
TEST_CASE("OneCycleScheduler: up to the peak, down to the floor") {
  optim::OneCycleScheduler s(10, {.base_lr = 1.0, .pct_start = 0.3, .div_factor = 10, .final_div_factor = 100,
                                  .anneal = "linear"});
  CHECK(s(0) == Approx(0.1));
  CHECK(s(3) == Approx(1.0));
  CHECK(s(10) == Approx(0.001));
  CHECK(s(20) == Approx(0.001));
  CHECK(s(1) == Approx(0.1 + 0.9 / 3));
  optim::OneCycleScheduler cos_s(10, {.base_lr = 1.0, .pct_start = 0.5});
  CHECK(cos_s(5) == Approx(1.0));
  CHECK(cos_s(0) == Approx(1.0 / 25));
}
TEST_CASE("rate_at: the rate operator() would give, without moving the scheduler") {
  // Factor and MultiFactor decay base_lr when asked for a later num_update, Poly and Cosine keep
  // the last rate in base_lr; rate_at (what an optimizer asks before an update may still fail)
  // changes neither.  Two of each kind: one asked with rate_at first, then moved with
  // operator(), at the same num_updates (with a jump, as resumed training makes) as the other.
  auto check_pair = [](optim::LRScheduler& peeked, optim::LRScheduler& moved) {
    for (const std::size_t n : {0, 1, 2, 3, 4, 7, 8, 9, 15, 40}) {
      CAPTURE(n);
      const double base = peeked.base_lr();
      const double rate = peeked.rate_at(n);
      CHECK(peeked.base_lr() == base);
      CHECK(peeked.rate_at(n + 3) >= 0);  // a later one, asked and forgotten
      CHECK(peeked.base_lr() == base);
      CHECK(rate == moved(n));
      CHECK(peeked(n) == rate);
      CHECK(peeked.base_lr() == moved.base_lr());
    }
  };
  {
    optim::FactorScheduler a(2, {.factor = 0.5, .stop_factor_lr = 0.01, .base_lr = 1.0, .warmup_steps = 2}), b = a;
    check_pair(a, b);
    optim::FactorScheduler c(2, {.factor = 0.5, .base_lr = 1.0});
    CHECK(c.rate_at(5) == 0.25);
    CHECK(c.base_lr() == 1.0);
    CHECK(c(1) == 1.0);
  }
  {
    optim::MultiFactorScheduler a({2, 5, 8}, {.factor = 0.5, .base_lr = 1.0, .warmup_steps = 1}), b = a;
    check_pair(a, b);
  }
  {
    optim::PolyScheduler a(10, {.base_lr = 1.0, .pwr = 2, .final_lr = 0.1, .warmup_steps = 2}), b = a;
    check_pair(a, b);
  }
  {
    optim::CosineScheduler a(10, {.base_lr = 1.0, .final_lr = 0.1}), b = a;
    check_pair(a, b);
  }
  {
    optim::OneCycleScheduler a(10, {.base_lr = 1.0}), b = a;
    check_pair(a, b);
  }
  // A scheduler of one's own that does not override rate_at: rate_at asks operator().
  struct Halving : optim::LRScheduler {
    Halving() : optim::LRScheduler(1.0) {}
    double operator()(std::size_t num_update) override { return base_lr() / std::pow(2.0, static_cast<double>(num_update)); }
  } h;
  CHECK(h.rate_at(3) == 0.125);
}
TEST_CASE("asked for an earlier num_update (counters set back), Factor and MultiFactor give its rate again") {
  // An optimizer's reset() or a Trainer's load_states of an earlier checkpoint sets num_update
  // back; the schedulers that decay as num_update passes their steps start again from the base
  // rate instead of keeping the decay of updates that are undone.
  auto check_back = [](optim::LRScheduler& s, optim::LRScheduler& fresh) {
    for (const std::size_t n : {1, 2, 3, 4, 7, 9, 15}) CHECK(s(n) >= 0);
    for (const std::size_t n : {3, 1, 9, 2, 2, 15, 0, 6}) {
      CAPTURE(n);
      CHECK(s.rate_at(n) == fresh.rate_at(n));
      CHECK(s(n) == fresh.rate_at(n));
    }
  };
  {
    optim::FactorScheduler a(2, {.factor = 0.5, .stop_factor_lr = 0.01, .base_lr = 1.0, .warmup_steps = 1}), b = a;
    check_back(a, b);
  }
  {
    optim::MultiFactorScheduler a({2, 5, 8}, {.factor = 0.5, .base_lr = 1.0}), b = a;
    check_back(a, b);
  }
}
TEST_CASE("bad arguments are ValueErrors") {
  CHECK_THROWS_AS(optim::FactorScheduler(0), ValueError);
  CHECK_THROWS_WITH_AS(optim::FactorScheduler(1, {.factor = 2}), doctest::Contains("factor"), ValueError);
  CHECK_THROWS_WITH_AS(optim::MultiFactorScheduler({3, 3}), doctest::Contains("increase"), ValueError);
  CHECK_THROWS_AS(optim::CosineScheduler(10, {.base_lr = 0.1, .final_lr = 0.2}), ValueError);
  CHECK_THROWS_AS(optim::FactorScheduler(1, {.warmup_mode = "exp"}), ValueError);
  CHECK_THROWS_AS(optim::FactorScheduler(1, {.base_lr = 0.1, .warmup_begin_lr = 0.5}), ValueError);
  CHECK_THROWS_AS(optim::OneCycleScheduler(10, {.pct_start = 1.5}), ValueError);
}
TEST_CASE("nonsense rates (negative, NaN, infinite) are ValueErrors naming the scheduler and the value") {
  const double nan = std::numeric_limits<double>::quiet_NaN(), inf = std::numeric_limits<double>::infinity();
  CHECK_THROWS_WITH_AS(optim::FactorScheduler(1, {.base_lr = -1}),
                       "FactorScheduler: base_lr must be a finite number >= 0, got -1", ValueError);
  CHECK_THROWS_WITH_AS(optim::FactorScheduler(1, {.base_lr = nan}), doctest::Contains("base_lr must be a finite number >= 0, got nan"),
                       ValueError);
  CHECK_THROWS_WITH_AS(optim::FactorScheduler(1, {.factor = -0.5}), "FactorScheduler: factor must be in [0, 1] so that the rate decays, got -0.5",
                       ValueError);
  CHECK_THROWS_WITH_AS(optim::FactorScheduler(1, {.factor = nan}), doctest::Contains("factor"), ValueError);
  CHECK_THROWS_WITH_AS(optim::FactorScheduler(1, {.stop_factor_lr = -1}), doctest::Contains("stop_factor_lr"), ValueError);
  CHECK_THROWS_WITH_AS(optim::MultiFactorScheduler({3}, {.factor = nan}), doctest::Contains("MultiFactorScheduler: factor"),
                       ValueError);
  CHECK_THROWS_WITH_AS(optim::PolyScheduler(10, {.base_lr = inf}), doctest::Contains("PolyScheduler: base_lr"), ValueError);
  CHECK_THROWS_WITH_AS(optim::PolyScheduler(10, {.final_lr = -0.1}), doctest::Contains("PolyScheduler: final_lr"), ValueError);
  CHECK_THROWS_WITH_AS(optim::PolyScheduler(10, {.pwr = nan}), doctest::Contains("PolyScheduler: pwr"), ValueError);
  CHECK_THROWS_WITH_AS(optim::CosineScheduler(10, {.base_lr = -1, .final_lr = -2}), doctest::Contains("CosineScheduler: base_lr"),
                       ValueError);
  CHECK_THROWS_WITH_AS(optim::CosineScheduler(10, {.warmup_steps = 2, .warmup_begin_lr = nan}),
                       doctest::Contains("CosineScheduler: warmup_begin_lr"), ValueError);
  CHECK_THROWS_WITH_AS(optim::OneCycleScheduler(10, {.base_lr = nan}), doctest::Contains("OneCycleScheduler: base_lr"), ValueError);
  CHECK_THROWS_WITH_AS(optim::OneCycleScheduler(10, {.div_factor = inf}), doctest::Contains("OneCycleScheduler: div_factor"),
                       ValueError);
  optim::FactorScheduler s(1);
  CHECK_THROWS_WITH_AS(s.set_base_lr(-1), "FactorScheduler: base_lr must be a finite number >= 0, got -1", ValueError);
  CHECK(s.base_lr() == 0.01);
  optim::FactorScheduler zero(1, {.factor = 0, .base_lr = 0});  // edge values are fine
  CHECK(zero(1) == 0.0);
}
}
