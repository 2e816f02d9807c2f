// SPDX-License-Identifier: Apache-2.0
#pragma once
/// Learning-rate schedules: lr = scheduler(num_update).  Gluon: mx.lr_scheduler (FactorScheduler,
/// MultiFactorScheduler, PolyScheduler, CosineScheduler, with linear or constant warm-up), plus a
/// one-cycle schedule (not in MXNet).  Like MXNet's, the schedulers are stateful (Factor and
/// MultiFactor decay base_lr as num_update passes each step), so share one per optimizer.
/// rate_at(num_update) gives the rate without that side effect: an optimizer asks it before an
/// update that may still fail, and moves the scheduler (advance, which calls operator()) only once
/// the update is made, so that a failed update leaves the scheduler as it was.  A scheduler of
/// one's own need only override operator(): the optimizer calls it once per update number.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <map>
#include <numbers>
#include <string>
#include <vector>

#include "gluino/core/error.hpp"

namespace gluino::optim {

/// Base of the schedulers: the base learning rate and the warm-up.  During the first
/// warmup_steps updates the rate goes from warmup_begin_lr to base_lr (linearly, or stays at
/// warmup_begin_lr with warmup_mode "constant"): the base_lr set by set_base_lr (an optimizer's
/// learning_rate) for Factor and MultiFactor, which continue from it; the one given at
/// construction for Poly and Cosine, which keep it.  Gluon: mx.lr_scheduler.LRScheduler (whose
/// warm-up always ends at the constructor's base_lr, so that MXNet jumps from it to the
/// optimizer's rate after the warm-up).
/// ValueError (naming the scheduler, `name`) for a rate that is NaN, negative or infinite.
class LRScheduler {
 public:
  explicit LRScheduler(double base_lr = 0.01, std::size_t warmup_steps = 0, double warmup_begin_lr = 0,
                       std::string warmup_mode = "linear", const char* name = "LRScheduler")
      : base_lr_(base_lr),
        undecayed_lr_(base_lr),
        warmup_final_lr_(base_lr),
        warmup_begin_lr_(warmup_begin_lr),
        warmup_steps_(warmup_steps),
        warmup_mode_(std::move(warmup_mode)),
        name_(name) {
    check_rate("base_lr", base_lr);
    check_rate("warmup_begin_lr", warmup_begin_lr);
    GLUINO_CHECK(ValueError, warmup_begin_lr_ <= warmup_final_lr_, name_, ": base_lr (", base_lr,
                 ") must not be below warmup_begin_lr (", warmup_begin_lr, ")");
    GLUINO_CHECK(ValueError, warmup_mode_ == "linear" || warmup_mode_ == "constant", name_,
                 ": warmup_mode must be \"linear\" or \"constant\", got \"", warmup_mode_, "\"");
  }
  virtual ~LRScheduler() = default;

  /// The learning rate for update number num_update (counted from 1 by the optimizer).  May
  /// change the scheduler (Factor and MultiFactor decay base_lr once num_update passes a step).
  /// An optimizer calls it once per update number, however many parameters that update has
  /// (through rate_at or advance, which remember its answer), so a scheduler of one's own may
  /// count its calls as steps of the schedule.  (MXNet asks again for each parameter or group.)
  virtual double operator()(std::size_t num_update) = 0;
  /// The rate operator()(num_update) would give now: what an optimizer asks before an update
  /// that may still fail (BasicOptimizer::update, Trainer::step), moving the scheduler with
  /// advance() only once the update is made.  Every scheduler here overrides it and changes
  /// nothing; asking it for several growing num_update gives what calling operator() with them
  /// in turn would.  By default (a scheduler of one's own that only overrides operator()) it
  /// calls operator() the first time it is asked for a num_update and remembers the rate:
  /// such a scheduler is moved when first asked, and an update that then fails, retried at the
  /// same num_update, gets the same rate without moving it again.
  virtual double rate_at(std::size_t num_update) const {
    auto it = asked_.find(num_update);
    if (it == asked_.end())  // the scheduler is held non-const (by the optimizer's shared_ptr)
      it = asked_.emplace(num_update, const_cast<LRScheduler*>(this)->operator()(num_update)).first;
    return it->second;
  }
  /// What an optimizer calls once an update at num_update is made: moves the scheduler to it by
  /// operator()(num_update), unless rate_at or advance already asked operator() for this
  /// num_update (the rate asked is remembered), and forgets the rates of earlier updates.
  void advance(std::size_t num_update) {
    if (asked_.find(num_update) == asked_.end()) asked_.emplace(num_update, operator()(num_update));
    asked_.erase(asked_.begin(), asked_.lower_bound(num_update));
  }
  /// Forgets the rates rate_at and advance remembered: an optimizer whose update counters go
  /// back (reset, loaded states) calls it, so that a num_update seen before is asked again.
  void forget_rates() { asked_.clear(); }

  /// The current base rate.  An optimizer given this scheduler sets it to its own learning_rate
  /// (as MXNet); Factor/MultiFactor decay it, Cosine/Poly keep the value given at construction.
  double base_lr() const { return base_lr_; }
  /// Sets the base rate (and, for Factor and MultiFactor, the rate the warm-up ends at).
  /// ValueError unless lr is finite and >= 0, or when it is below warmup_begin_lr (with a
  /// warm-up that ends at it); the old rate is then kept.
  void set_base_lr(double lr) {
    check_rate("base_lr", lr);
    if (warmup_follows_base_lr_) {
      GLUINO_CHECK(ValueError, warmup_steps_ == 0 || lr >= warmup_begin_lr_, name_, ": base_lr (", lr,
                   ") must not be below warmup_begin_lr (", warmup_begin_lr_, ")");
      warmup_final_lr_ = lr;
    }
    base_lr_ = undecayed_lr_ = lr;
    asked_.clear();  // rates asked with the old base
  }
  std::size_t warmup_steps() const { return warmup_steps_; }

 protected:
  /// The warm-up rate for num_update < warmup_steps.
  double warmup_lr(std::size_t num_update) const {
    if (warmup_mode_ == "constant") return warmup_begin_lr_;
    return warmup_begin_lr_ + (warmup_final_lr_ - warmup_begin_lr_) * static_cast<double>(num_update) /
                                  static_cast<double>(warmup_steps_);
  }

  /// ValueError "<scheduler>: <what> must be a finite number >= 0, got <v>" otherwise.
  void check_rate(const char* what, double v) const {
    GLUINO_CHECK(ValueError, std::isfinite(v) && v >= 0, name_, ": ", what, " must be a finite number >= 0, got ", v);
  }
  /// ValueError unless factor is in [0, 1] (a decay).
  void check_factor(double f) const {
    GLUINO_CHECK(ValueError, f >= 0 && f <= 1, name_, ": factor must be in [0, 1] so that the rate decays, got ", f);
  }

  double base_lr_;
  double undecayed_lr_;  // base_lr_ before Factor's and MultiFactor's decays: the last one set
  double warmup_final_lr_, warmup_begin_lr_;
  bool warmup_follows_base_lr_ = true;  // false for schedules that keep their constructor's base_lr
  std::size_t warmup_steps_;
  std::string warmup_mode_;
  std::string name_;  // for error messages: "FactorScheduler", ...

 private:
  mutable std::map<std::size_t, double> asked_;  // num_update -> operator()'s answer (rate_at, advance)
};

/// Options of FactorScheduler, in the order of Gluon's keyword arguments after `step`.
struct FactorSchedulerOptions {
  double factor = 1;               ///< multiplies the rate every `step` updates (<= 1)
  double stop_factor_lr = 1e-8;    ///< the rate never decays below this
  double base_lr = 0.01;
  std::size_t warmup_steps = 0;
  double warmup_begin_lr = 0;
  std::string warmup_mode = "linear";
};

/// lr = base_lr * factor^floor((num_update - 1) / step), floored at stop_factor_lr.
/// Gluon: mx.lr_scheduler.FactorScheduler(step, factor, stop_factor_lr, base_lr, warmup...).
/// Asked for a num_update before a decay it made (an optimizer's counters set back by reset()
/// or a Trainer's load_states), it starts again from the base rate set last, where MXNet's
/// keeps the decay (MXNet's load_states restores the scheduler instead).
class FactorScheduler : public LRScheduler {
 public:
  explicit FactorScheduler(std::size_t step, FactorSchedulerOptions opt = {})
      : LRScheduler(opt.base_lr, opt.warmup_steps, opt.warmup_begin_lr, opt.warmup_mode, "FactorScheduler"),
        step_(step),
        factor_(opt.factor),
        stop_factor_lr_(opt.stop_factor_lr) {
    GLUINO_CHECK(ValueError, step >= 1, "FactorScheduler: step must be >= 1, got ", step);
    check_factor(opt.factor);
    check_rate("stop_factor_lr", opt.stop_factor_lr);
  }
  double operator()(std::size_t num_update) override {
    if (num_update < warmup_steps_) return warmup_lr(num_update);
    catch_up(num_update, count_, base_lr_);
    return base_lr_;
  }
  double rate_at(std::size_t num_update) const override {
    if (num_update < warmup_steps_) return warmup_lr(num_update);
    std::size_t count = count_;
    double lr = base_lr_;
    catch_up(num_update, count, lr);
    return lr;
  }

 private:
  /// The decays due by num_update, applied to (count, lr); from the undecayed rate again when
  /// num_update is before a decay already made (an optimizer's counters set back: reset(), or
  /// a Trainer's load_states of an earlier checkpoint).
  void catch_up(std::size_t num_update, std::size_t& count, double& lr) const {
    if (count > 0 && num_update <= count) {
      count = 0;
      lr = undecayed_lr_;
    }
    while (num_update > count + step_) {  // a loop: catches up after a jump (resumed training)
      count += step_;
      lr = std::max(lr * factor_, stop_factor_lr_);
    }
  }

  std::size_t step_, count_ = 0;
  double factor_, stop_factor_lr_;
};

/// Options of MultiFactorScheduler, in the order of Gluon's keyword arguments after `step`.
struct MultiFactorSchedulerOptions {
  double factor = 1;  ///< multiplies the rate at each listed step (<= 1)
  double base_lr = 0.01;
  std::size_t warmup_steps = 0;
  double warmup_begin_lr = 0;
  std::string warmup_mode = "linear";
};

/// lr = base_lr * factor^(number of steps s with num_update > s); steps strictly increasing, >= 1.
/// Gluon: mx.lr_scheduler.MultiFactorScheduler(step, factor, base_lr, warmup...).  Goes back as
/// FactorScheduler does when asked for an earlier num_update.
class MultiFactorScheduler : public LRScheduler {
 public:
  explicit MultiFactorScheduler(std::vector<std::size_t> steps, MultiFactorSchedulerOptions opt = {})
      : LRScheduler(opt.base_lr, opt.warmup_steps, opt.warmup_begin_lr, opt.warmup_mode, "MultiFactorScheduler"),
        steps_(std::move(steps)),
        factor_(opt.factor) {
    GLUINO_CHECK(ValueError, !steps_.empty(), "MultiFactorScheduler: needs at least one step");
    for (std::size_t i = 0; i < steps_.size(); ++i) {
      GLUINO_CHECK(ValueError, steps_[i] >= 1, "MultiFactorScheduler: steps must be >= 1, got ", steps_[i]);
      GLUINO_CHECK(ValueError, i == 0 || steps_[i] > steps_[i - 1],
                   "MultiFactorScheduler: steps must increase strictly, got ", steps_[i - 1], " then ", steps_[i]);
    }
    check_factor(opt.factor);
  }
  double operator()(std::size_t num_update) override {
    if (num_update < warmup_steps_) return warmup_lr(num_update);
    catch_up(num_update, next_, base_lr_);
    return base_lr_;
  }
  double rate_at(std::size_t num_update) const override {
    if (num_update < warmup_steps_) return warmup_lr(num_update);
    std::size_t next = next_;
    double lr = base_lr_;
    catch_up(num_update, next, lr);
    return lr;
  }

 private:
  /// The decays due by num_update, applied to (next, lr); from the undecayed rate again when
  /// num_update is before a decay already made (counters set back, as FactorScheduler's).
  void catch_up(std::size_t num_update, std::size_t& next, double& lr) const {
    if (next > 0 && num_update <= steps_[next - 1]) {
      next = 0;
      lr = undecayed_lr_;
    }
    while (next < steps_.size() && num_update > steps_[next]) {
      ++next;
      lr *= factor_;
    }
  }

  std::vector<std::size_t> steps_;
  std::size_t next_ = 0;
  double factor_;
};

/// Options of PolyScheduler, in the order of Gluon's keyword arguments after `max_update`.
struct PolySchedulerOptions {
  double base_lr = 0.01;
  double pwr = 2;
  double final_lr = 0;
  std::size_t warmup_steps = 0;
  double warmup_begin_lr = 0;
  std::string warmup_mode = "linear";
};

/// lr = final_lr + (base_lr - final_lr) * (1 - (t - warmup_steps) / (max_update - warmup_steps))^pwr
/// for t <= max_update, final_lr after (also at a first call past max_update, where MXNet
/// returns base_lr, or the last rate it computed).  Gluon: mx.lr_scheduler.PolyScheduler.
class PolyScheduler : public LRScheduler {
 public:
  explicit PolyScheduler(std::size_t max_update, PolySchedulerOptions opt = {})
      : LRScheduler(opt.base_lr, opt.warmup_steps, opt.warmup_begin_lr, opt.warmup_mode, "PolyScheduler"),
        base_lr_orig_(opt.base_lr),
        final_lr_(opt.final_lr),
        power_(opt.pwr),
        max_update_(max_update) {
    warmup_follows_base_lr_ = false;
    check_rate("final_lr", opt.final_lr);
    GLUINO_CHECK(ValueError, std::isfinite(opt.pwr) && opt.pwr >= 0, "PolyScheduler: pwr must be a finite number >= 0, got ",
                 opt.pwr);
    GLUINO_CHECK(ValueError, max_update >= 1, "PolyScheduler: max_update must be >= 1, got ", max_update);
    GLUINO_CHECK(ValueError, max_update > opt.warmup_steps, "PolyScheduler: max_update (", max_update,
                 ") must exceed warmup_steps (", opt.warmup_steps, ")");
  }
  double operator()(std::size_t num_update) override {
    if (num_update < warmup_steps_) return warmup_lr(num_update);
    base_lr_ = rate_at(num_update);
    return base_lr_;
  }
  double rate_at(std::size_t num_update) const override {
    if (num_update < warmup_steps_) return warmup_lr(num_update);
    if (num_update > max_update_) return final_lr_;
    const double frac =
        static_cast<double>(num_update - warmup_steps_) / static_cast<double>(max_update_ - warmup_steps_);
    return final_lr_ + (base_lr_orig_ - final_lr_) * std::pow(1 - frac, power_);
  }

 private:
  double base_lr_orig_, final_lr_, power_;
  std::size_t max_update_;
};

/// Options of CosineScheduler, in the order of Gluon's keyword arguments after `max_update`.
struct CosineSchedulerOptions {
  double base_lr = 0.01;
  double final_lr = 0;
  std::size_t warmup_steps = 0;
  double warmup_begin_lr = 0;
  std::string warmup_mode = "linear";
};

/// lr = final_lr + (base_lr - final_lr) * (1 + cos(pi * (t - warmup_steps) / (max_update - warmup_steps))) / 2
/// for t <= max_update, final_lr after (also at a first call past max_update, where MXNet
/// returns base_lr, or the last rate it computed).  As in MXNet, the base_lr given here is the
/// one used (an optimizer's learning_rate does not replace it).  Gluon: mx.lr_scheduler.CosineScheduler.
class CosineScheduler : public LRScheduler {
 public:
  explicit CosineScheduler(std::size_t max_update, CosineSchedulerOptions opt = {})
      : LRScheduler(opt.base_lr, opt.warmup_steps, opt.warmup_begin_lr, opt.warmup_mode, "CosineScheduler"),
        base_lr_orig_(opt.base_lr),
        final_lr_(opt.final_lr),
        max_update_(max_update) {
    warmup_follows_base_lr_ = false;
    check_rate("final_lr", opt.final_lr);
    GLUINO_CHECK(ValueError, max_update >= 1, "CosineScheduler: max_update must be >= 1, got ", max_update);
    GLUINO_CHECK(ValueError, opt.base_lr >= opt.final_lr, "CosineScheduler: base_lr (", opt.base_lr,
                 ") must not be below final_lr (", opt.final_lr, ")");
    GLUINO_CHECK(ValueError, max_update > opt.warmup_steps, "CosineScheduler: max_update (", max_update,
                 ") must exceed warmup_steps (", opt.warmup_steps, ")");
  }
  double operator()(std::size_t num_update) override {
    if (num_update < warmup_steps_) return warmup_lr(num_update);
    base_lr_ = rate_at(num_update);
    return base_lr_;
  }
  double rate_at(std::size_t num_update) const override {
    if (num_update < warmup_steps_) return warmup_lr(num_update);
    if (num_update > max_update_) return final_lr_;
    const double frac =
        static_cast<double>(num_update - warmup_steps_) / static_cast<double>(max_update_ - warmup_steps_);
    return final_lr_ + (base_lr_orig_ - final_lr_) * (1 + std::cos(std::numbers::pi * frac)) / 2;
  }

 private:
  double base_lr_orig_, final_lr_;
  std::size_t max_update_;
};

/// Options of OneCycleScheduler.
struct OneCycleSchedulerOptions {
  double base_lr = 0.01;           ///< the peak rate (an optimizer's learning_rate replaces it)
  double pct_start = 0.3;          ///< fraction of max_update spent rising
  double div_factor = 25;          ///< start rate = base_lr / div_factor
  double final_div_factor = 1e4;   ///< final rate = start rate / final_div_factor
  std::string anneal = "cos";      ///< "cos" or "linear" interpolation
};

/// One-cycle policy (Smith 2018; fastai / torch OneCycleLR): the rate rises from
/// base_lr / div_factor to base_lr over the first pct_start * max_update updates, then falls
/// to base_lr / (div_factor * final_div_factor) at max_update, and stays there.  Not in MXNet.
class OneCycleScheduler : public LRScheduler {
 public:
  explicit OneCycleScheduler(std::size_t max_update, OneCycleSchedulerOptions opt = {})
      : LRScheduler(opt.base_lr, 0, 0, "linear", "OneCycleScheduler"), opt_(std::move(opt)), max_update_(max_update) {
    GLUINO_CHECK(ValueError, max_update >= 2, "OneCycleScheduler: max_update must be >= 2, got ", max_update);
    GLUINO_CHECK(ValueError, opt_.pct_start > 0 && opt_.pct_start < 1, "OneCycleScheduler: pct_start must be in (0, 1), got ",
                 opt_.pct_start);
    GLUINO_CHECK(ValueError, opt_.div_factor >= 1 && opt_.final_div_factor >= 1 && std::isfinite(opt_.div_factor) &&
                                 std::isfinite(opt_.final_div_factor),
                 "OneCycleScheduler: div_factor and final_div_factor must be finite and >= 1, got ", opt_.div_factor, " and ",
                 opt_.final_div_factor);
    GLUINO_CHECK(ValueError, opt_.anneal == "cos" || opt_.anneal == "linear",
                 "OneCycleScheduler: anneal must be \"cos\" or \"linear\", got \"", opt_.anneal, "\"");
  }
  double operator()(std::size_t num_update) override { return rate_at(num_update); }
  double rate_at(std::size_t num_update) const override {
    const double start = base_lr_ / opt_.div_factor, end = start / opt_.final_div_factor;
    const double t = static_cast<double>(std::min(num_update, max_update_));
    const double up = std::max(1.0, std::round(opt_.pct_start * static_cast<double>(max_update_)));
    if (t <= up) return interp(start, base_lr_, t / up);
    return interp(base_lr_, end, (t - up) / (static_cast<double>(max_update_) - up));
  }

 private:
  double interp(double a, double b, double frac) const {
    if (opt_.anneal == "linear") return a + (b - a) * frac;
    return b + (a - b) * (1 + std::cos(std::numbers::pi * frac)) / 2;
  }
  OneCycleSchedulerOptions opt_;
  std::size_t max_update_;
};

}  // namespace gluino::optim
