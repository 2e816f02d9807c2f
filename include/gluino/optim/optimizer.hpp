// SPDX-License-Identifier: Apache-2.0
#pragma once
/// BasicOptimizer<T>: the hyper-parameters every optimizer shares, the update counters, and the
/// per-parameter states.  Gluon: mx.optimizer.Optimizer (with its Updater's state dictionary).
#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstddef>
#include <limits>
#include <map>
#include <memory>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "gluino/core/error.hpp"
#include "gluino/core/ndarray.hpp"
#include "gluino/core/parallel.hpp"
#include "gluino/detail/precompiled.hpp"
#include "gluino/optim/lr_scheduler.hpp"

namespace gluino::optim {

/// The hyper-parameters every optimizer has (Gluon's Optimizer keyword arguments).  Checked by
/// the optimizer's constructor and setters: ValueError for NaN, a learning_rate or wd that is
/// negative or infinite, a rescale_grad that is not finite and > 0.
struct OptimizerHyper {
  double learning_rate = 0.01;
  double wd = 0;                               ///< weight decay (L2), times each parameter's wd_mult
  double rescale_grad = 1;                     ///< grad *= rescale_grad first (Trainer: 1 / batch_size)
  double clip_gradient = -1;                   ///< clip to [-c, c] when c >= 0; < 0 = off (Gluon's None)
  std::shared_ptr<LRScheduler> lr_scheduler = nullptr;  ///< when set, lr = lr_scheduler(num_update)
  std::size_t begin_num_update = 0;
};

/// The common hyper-parameters of an optimizer's options struct (every XxxOptions has
/// learning_rate, wd, rescale_grad, clip_gradient, lr_scheduler and begin_num_update); the
/// scheduler is moved out of `opt`.
template <class Options>
OptimizerHyper hyper_of(Options& opt) {
  return {opt.learning_rate, opt.wd, opt.rescale_grad, opt.clip_gradient, std::move(opt.lr_scheduler), opt.begin_num_update};
}

/// Base of the optimizers.  update(index, weight, grad) changes weight in place, keeping one
/// state per parameter index (created at its first update: zeros of the weight's shape per
/// state name); steady-state updates allocate nothing.
template <class T>
class BasicOptimizer {
 public:
  BasicOptimizer(std::string name, OptimizerHyper h) : name_(std::move(name)), h_(std::move(h)) {
    check_non_negative("learning_rate", h_.learning_rate);
    check_non_negative("wd", h_.wd);
    check_positive("rescale_grad", h_.rescale_grad);
    check_clip("clip_gradient", h_.clip_gradient);
    num_update_ = h_.begin_num_update;
    if (h_.lr_scheduler) h_.lr_scheduler->set_base_lr(h_.learning_rate);  // as MXNet
  }
  virtual ~BasicOptimizer() = default;

  /// Lower-case registry name: "sgd", "nag", "adam", "rmsprop".
  const std::string& name() const { return name_; }

  /// Updates weight in place from grad, for the parameter numbered index: counts the update,
  /// takes lr = (lr_scheduler ? lr_scheduler(num_update) : learning_rate) * lr_mult and wd = wd *
  /// wd_mult, creates the state at the first call, and applies the rule. ShapeError when weight,
  /// grad and a (loaded) state differ in shape; ValueError for an lr_mult or wd_mult that is
  /// negative, NaN or infinite, a rate from the scheduler that is negative, NaN or infinite, a
  /// rate, weight decay or rescale_grad beyond T's range (check_update), and the rule's own
  /// (check_step, such as FTML's at a rate of 0).  All of these are found before anything is
  /// written: an update that throws leaves the weight, the states, the update counts and the
  /// lr_scheduler as they were (the scheduler is asked with rate_at, which changes nothing, and
  /// moved with advance only once the update is made: FactorScheduler's decay does not stay after
  /// a failed update). The scheduler's operator() is called once per num_update, however many
  /// parameters share it; a scheduler of one's own that only overrides operator() is moved when
  /// first asked (see LRScheduler::rate_at), and a retry at that num_update gets the same rate.
  /// Gluon: Optimizer.update (lr_mult / wd_mult come from Parameter.lr_mult / wd_mult through the
  /// Trainer; Gluon does not check them).
  void update(std::size_t index, NDArray<T>& weight, const NDArray<T>& grad, double lr_mult = 1, double wd_mult = 1) {
    GLUINO_CHECK(ShapeError, weight.defined() && grad.defined() && weight.shape() == grad.shape(), name_,
                 ": update of parameter ", index, ": weight of shape ", weight.defined() ? weight.shape() : Shape{},
                 " and grad of shape ", grad.defined() ? grad.shape() : Shape{}, " differ");
    const std::size_t t = next_update_count(index), n = std::max(num_update_, t);
    check_update(index, lr_mult, wd_mult, n);
    const double lr = learning_rate_at(n) * lr_mult, wd = h_.wd * wd_mult;
    auto it = states_.find(index);
    const bool fresh = it == states_.end();
    if (fresh) {
      std::vector<NDArray<T>> st;
      for (std::size_t k = 0; k < state_names().size(); ++k) st.push_back(NDArray<T>(weight.shape()).fill(T(0)));
      it = states_.emplace(index, std::move(st)).first;
    }
    for (const NDArray<T>& s : it->second)
      GLUINO_CHECK(ShapeError, s.shape() == weight.shape(), name_, ": state of parameter ", index, " has shape ",
                   s.shape(), " but the weight has shape ", weight.shape());
    // Counted only once the rule has run (the entry is made first, so that counting cannot fail).
    const auto [count, inserted] = index_update_count_.try_emplace(index, h_.begin_num_update);
    try {
      step(weight, grad, it->second, lr, wd, t);
    } catch (...) {  // a rule's step throws nothing check_step accepted; this is for the unforeseen
      if (inserted) index_update_count_.erase(count);
      if (fresh) states_.erase(index);
      throw;
    }
    count->second = t;
    num_update_ = n;
    if (h_.lr_scheduler) h_.lr_scheduler->advance(n);  // moves it (Factor's decay) as rate_at foresaw
    weight.bump_version();  // an in-place change: a graph recorded before it can no longer backward
  }

  /// ValueError naming the parameter for an lr_mult or wd_mult that is negative, NaN or infinite
  /// (what update refuses; a Trainer checks every parameter's before updating any).
  void check_multipliers(std::size_t index, double lr_mult, double wd_mult) const {
    GLUINO_CHECK(ValueError, std::isfinite(lr_mult) && lr_mult >= 0, name_, ": update of parameter ", index,
                 ": lr_mult must be a finite number >= 0, got ", lr_mult);
    GLUINO_CHECK(ValueError, std::isfinite(wd_mult) && wd_mult >= 0, name_, ": update of parameter ", index,
                 ": wd_mult must be a finite number >= 0, got ", wd_mult);
  }
  /// The conditions of the rule on the rate and the weight decay it would be given (lr and wd
  /// already times the parameter's multipliers), checked without changing anything: update()
  /// asks before it writes, and a Trainer asks for every parameter before it updates the first.
  /// None by default; FTML refuses a rate of 0 (it divides by it).  ValueError naming the
  /// optimizer.  A rule whose step() could fail for another reason checks it here (or at
  /// construction): step() itself must not throw once this passed.
  virtual void check_step(double /*lr*/, double /*wd*/) const {}
  /// Everything update(index, ..., lr_mult, wd_mult) would refuse but the shapes, for an update
  /// that sees num_update n (next_num_update), changing nothing: check_multipliers, then
  /// check_step with the rate at n (learning_rate_at) times lr_mult and wd times wd_mult.
  /// Also ValueError when a scheduler (of one's own) gives a rate that is negative, NaN or
  /// infinite, and when the rate, the weight decay or rescale_grad is beyond T's range (a
  /// learning_rate of 1e300 is a finite double but an infinite float, whose lr * 0 would make
  /// every weight NaN).
  void check_update(std::size_t index, double lr_mult, double wd_mult, std::size_t n) const {
    check_multipliers(index, lr_mult, wd_mult);
    const double base = learning_rate_at(n), lr = base * lr_mult, wd = h_.wd * wd_mult;
    GLUINO_CHECK(ValueError, std::isfinite(base) && base >= 0, name_, ": update of parameter ", index,
                 ": the lr_scheduler's rate at num_update ", n, " must be a finite number >= 0, got ", base);
    const double top = static_cast<double>(std::numeric_limits<T>::max());
    GLUINO_CHECK(ValueError, lr <= top && wd <= top && h_.rescale_grad <= top, name_, ": update of parameter ", index,
                 ": the rate ", lr, " (learning rate times lr_mult), the weight decay ", wd,
                 " (wd times wd_mult) or rescale_grad ", h_.rescale_grad, " is too large for ",
                 sizeof(T) == 4 ? "float" : "double", " (at most ", top, ")");
    check_step(lr, wd);
  }
  /// The count t the next update of parameter index would have (its count + 1; begin_num_update
  /// + 1 at its first).
  std::size_t next_update_count(std::size_t index) const {
    const auto it = index_update_count_.find(index);
    return (it == index_update_count_.end() ? h_.begin_num_update : it->second) + 1;
  }
  /// The num_update that an update of parameter index would see after updates that brought
  /// num_update to `after` (num_update() when it is the next one): max(after, next_update_count).
  /// With it a Trainer foresees the rate each parameter of a step will get.
  std::size_t next_num_update(std::size_t index, std::size_t after) const {
    return std::max(after, next_update_count(index));
  }
  /// The learning rate at num_update n without moving the scheduler (lr_scheduler->rate_at(n)),
  /// or learning_rate when there is none; before lr_mult.  (A scheduler of one's own that only
  /// overrides operator() is asked once for n, then answers from memory: LRScheduler::rate_at.)
  double learning_rate_at(std::size_t n) const {
    return h_.lr_scheduler ? h_.lr_scheduler->rate_at(n) : h_.learning_rate;
  }

  /// The current learning rate (the scheduler's at num_update when one is set, asked with
  /// rate_at: this changes nothing but, as learning_rate_at says, a scheduler of one's own asked
  /// for the first time).  Gluon: learning_rate.
  double learning_rate() const { return learning_rate_at(num_update_); }
  /// Sets the learning rate; StateError when a scheduler drives it, ValueError unless lr is
  /// finite and >= 0.  Gluon: set_learning_rate.
  void set_learning_rate(double lr) {
    GLUINO_CHECK(StateError, !h_.lr_scheduler, name_,
                 ": set_learning_rate: an lr_scheduler drives the learning rate; change the scheduler instead");
    check_non_negative("learning_rate", lr);
    h_.learning_rate = lr;
  }
  double wd() const { return h_.wd; }
  /// ValueError unless wd is finite and >= 0.
  void set_wd(double wd) {
    check_non_negative("wd", wd);
    h_.wd = wd;
  }
  double rescale_grad() const { return h_.rescale_grad; }
  /// ValueError unless r is finite and > 0 (a Trainer sets 1 / batch_size).
  void set_rescale_grad(double r) {
    check_positive("rescale_grad", r);
    h_.rescale_grad = r;
  }
  double clip_gradient() const { return h_.clip_gradient; }
  /// c < 0 turns clipping off; ValueError for NaN.
  void set_clip_gradient(double c) {
    check_clip("clip_gradient", c);
    h_.clip_gradient = c;
  }
  const std::shared_ptr<LRScheduler>& lr_scheduler() const { return h_.lr_scheduler; }
  /// Installs a scheduler, setting its base_lr to this optimizer's learning_rate (as MXNet does at
  /// construction); nullptr removes it.
  void set_lr_scheduler(std::shared_ptr<LRScheduler> s) {
    h_.lr_scheduler = std::move(s);
    if (h_.lr_scheduler) h_.lr_scheduler->set_base_lr(h_.learning_rate);
  }

  /// The largest per-parameter update count so far (starts at begin_num_update).  Gluon: num_update.
  std::size_t num_update() const { return num_update_; }
  std::size_t begin_num_update() const { return h_.begin_num_update; }
  /// How many times each parameter index was updated (counted from begin_num_update).
  const std::map<std::size_t, std::size_t>& index_update_count() const { return index_update_count_; }
  /// Restores the counters (loading saved states); the scheduler then gives the rates of these
  /// update numbers, also when they are earlier ones (see FactorScheduler).
  void set_update_counts(std::size_t num_update, std::map<std::size_t, std::size_t> counts) {
    num_update_ = num_update;
    index_update_count_ = std::move(counts);
    if (h_.lr_scheduler) h_.lr_scheduler->forget_rates();  // the update numbers may come again
  }

  /// Names of the arrays kept per parameter, e.g. {"mom"} for SGD with momentum, {} without.
  virtual std::vector<std::string> state_names() const = 0;
  /// The states of one parameter, in state_names() order; StateError before its first update.
  std::vector<NDArray<T>>& state(std::size_t index) {
    auto it = states_.find(index);
    GLUINO_CHECK(StateError, it != states_.end(), name_, ": no state for parameter ", index, " (not updated yet)");
    return it->second;
  }
  bool has_state(std::size_t index) const { return states_.count(index) != 0; }
  /// Every state as "<index>.<name>" -> array (the arrays themselves, not copies): what a Trainer
  /// saves.  Counters come from num_update() and index_update_count().
  std::map<std::string, NDArray<T>> states() const {
    std::map<std::string, NDArray<T>> out;
    const auto names = state_names();
    for (const auto& [index, arrays] : states_)
      for (std::size_t k = 0; k < arrays.size(); ++k) out.emplace(std::to_string(index) + "." + names[k], arrays[k]);
    return out;
  }
  /// Replaces the states by copies of named arrays as states() returns them.  ValueError for a
  /// malformed or unknown name, an undefined array, or a parameter with some of its states
  /// missing; the states are then left as they were.
  void set_states(const std::map<std::string, NDArray<T>>& named) {
    const auto names = state_names();
    std::map<std::size_t, std::vector<NDArray<T>>> loaded;
    for (const auto& [key, arr] : named) {
      const auto dot = key.find('.');
      GLUINO_CHECK(ValueError, dot != std::string::npos && dot > 0 && key.find_first_not_of("0123456789") == dot, name_,
                   ": set_states: malformed state name '", key, "' (expected <index>.<state>)");
      std::size_t index = 0;
      const auto [end, ec] = std::from_chars(key.data(), key.data() + dot, index);
      GLUINO_CHECK(ValueError, ec == std::errc() && end == key.data() + dot, name_,
                   ": set_states: parameter index out of range in state name '", key, "'");
      const std::string slot = key.substr(dot + 1);
      std::size_t k = 0;
      while (k < names.size() && names[k] != slot) ++k;
      GLUINO_CHECK(ValueError, k < names.size(), name_, ": set_states: unknown state '", slot, "' in '", key, "'");
      GLUINO_CHECK(ValueError, arr.defined(), name_, ": set_states: state '", key, "' is an undefined array");
      auto& v = loaded[index];
      v.resize(names.size());
      v[k] = arr.copy();
    }
    for (const auto& [index, v] : loaded)
      for (std::size_t k = 0; k < v.size(); ++k)
        GLUINO_CHECK(ValueError, v[k].defined(), name_, ": set_states: parameter ", index, " lacks state '", names[k], "'");
    states_ = std::move(loaded);
  }
  /// For Trainer: ties this optimizer's parameter indices to `params` (identities, in index
  /// order) while the returned handle lives.  ValueError when a live Trainer tied it to other
  /// parameters: states and update counts are kept per index, so two Trainers of different
  /// parameters sharing one optimizer would mix them (Gluon's Trainers mix its counters and
  /// lr_mult / wd_mult).  Trainers of the same parameters may share it.
  std::shared_ptr<const void> bind_parameters(std::vector<const void*> params) {
    if (auto bound = bound_.lock()) {
      GLUINO_CHECK(ValueError, *bound == params, name_, ": this optimizer already updates another Trainer's ",
                   bound->size(), " parameters (its states are kept per parameter index); give each Trainer an "
                   "optimizer of its own, e.g. optim::create(name, options) twice");
      return bound;
    }
    auto made = std::make_shared<const std::vector<const void*>>(std::move(params));
    bound_ = made;
    return made;
  }

  /// Drops every state and counter (the next update starts afresh; a Factor or MultiFactor
  /// scheduler, asked for num_update 1 again, gives its undecayed rate).
  void reset() {
    states_.clear();
    index_update_count_.clear();
    num_update_ = h_.begin_num_update;
    if (h_.lr_scheduler) h_.lr_scheduler->forget_rates();
  }

 protected:
  /// The rule: updates weight (and state) in place.  lr and wd already include the multipliers;
  /// t is this parameter's update count (1 at its first update).
  virtual void step(NDArray<T>& weight, const NDArray<T>& grad, std::vector<NDArray<T>>& state, double lr, double wd,
                    std::size_t t) = 0;

  /// rescale_grad * g, clipped to [-clip_gradient, clip_gradient] when clipping is on.
  T rescaled(T g) const { return clip(static_cast<T>(h_.rescale_grad) * g); }
  /// v clipped to [-clip_gradient, clip_gradient] when clipping is on (clip_gradient >= 0).
  T clip(T v) const {
    if (h_.clip_gradient < 0) return v;
    const T c = static_cast<T>(h_.clip_gradient);
    return v > c ? c : (v < -c ? -c : v);
  }
  /// fn(i) for every element, threaded for large parameters.
  template <class Fn>
  static void for_each(std::size_t n, Fn&& fn) {
    gluino::detail::parallel_for(n, std::forward<Fn>(fn), 8);
  }
  /// fn(lo, hi) on blocks of at most gluino::detail::parallel_block elements, threaded as
  /// for_each: for rules that take square roots, which run a block's through
  /// kernels::vector_sqrt (std::sqrt in an element loop stays scalar, see that header).
  template <class Fn>
  static void for_each_block(std::size_t n, Fn&& fn) {
    gluino::detail::parallel_for_blocks(n, std::forward<Fn>(fn), 8);
  }

  const OptimizerHyper& hyper() const { return h_; }

  // Hyper-parameter checks for constructors and setters: ValueError "<name>: <what> must be
  // <rule>, got <v>", NaN failing every rule.
  void require(bool ok, const char* what, const char* rule, double v) const {
    GLUINO_CHECK(ValueError, ok && !std::isnan(v), name_, ": ", what, " must be ", rule, ", got ", v);
  }
  void check_non_negative(const char* what, double v) const {
    require(std::isfinite(v) && v >= 0, what, "a finite number >= 0", v);
  }
  void check_positive(const char* what, double v) const { require(std::isfinite(v) && v > 0, what, "a finite number > 0", v); }
  /// A decay rate such as momentum or beta1: in [0, 1).
  void check_unit(const char* what, double v) const { require(v >= 0 && v < 1, what, "in [0, 1)", v); }
  /// A clipping bound: any number (< 0 = off) but NaN.
  void check_clip(const char* what, double v) const { require(true, what, "a number (< 0 = off)", v); }

 private:
  std::string name_;
  OptimizerHyper h_;
  std::size_t num_update_ = 0;
  std::map<std::size_t, std::size_t> index_update_count_;
  std::map<std::size_t, std::vector<NDArray<T>>> states_;
  std::weak_ptr<const std::vector<const void*>> bound_;  // the parameters of bind_parameters
};

}  // namespace gluino::optim

// Precompiled mode (detail/precompiled.hpp): this header's float and double instantiations.
#define GLUINO_OPTIM_OPTIMIZER_INSTANTIATIONS(X, T) \
  X class BasicOptimizer<T>;
namespace gluino::optim {
GLUINO_EXTERN_INSTANTIATIONS(GLUINO_OPTIM_OPTIMIZER_INSTANTIATIONS)
}  // namespace gluino::optim
