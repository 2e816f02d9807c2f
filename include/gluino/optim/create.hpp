// SPDX-License-Identifier: Apache-2.0
#pragma once
/// optim::create: an optimizer from its name and a map of numeric options, as Gluon's
/// mx.optimizer.create(name, **kwargs) and Trainer(params, "sgd", {"learning_rate": 0.1}).
#include <algorithm>
#include <cctype>
#include <cmath>
#include <limits>
#include <map>
#include <memory>
#include <set>
#include <string>

#include "gluino/detail/precompiled.hpp"
#include "gluino/optim/adadelta.hpp"
#include "gluino/optim/adagrad.hpp"
#include "gluino/optim/adam.hpp"
#include "gluino/optim/adamax.hpp"
#include "gluino/optim/adamw.hpp"
#include "gluino/optim/ftml.hpp"
#include "gluino/optim/lamb.hpp"
#include "gluino/optim/nadam.hpp"
#include "gluino/optim/nag.hpp"
#include "gluino/optim/rmsprop.hpp"
#include "gluino/optim/sgd.hpp"
#include "gluino/optim/signum.hpp"

namespace gluino::detail {
/// Reads options into fields; ValueError naming the optimizer, the unknown key and the known ones.
class OptionReader {
 public:
  OptionReader(std::string opt_name, const std::map<std::string, double>& options) : name_(std::move(opt_name)), options_(options) {}
  void read(const std::string& key, double& field) {
    known_.insert(key);
    if (auto it = options_.find(key); it != options_.end()) field = it->second;
  }
  /// A boolean: 0 or 1 (ValueError otherwise, NaN included).
  void read(const std::string& key, bool& field) {
    double v = field ? 1 : 0;
    read(key, v);
    GLUINO_CHECK(ValueError, v == 0 || v == 1, "create: option '", key, "' of optimizer '", name_,
                 "' must be 0 or 1 (a boolean), got ", v);
    field = v != 0;
  }
  /// A count: an integer in [0, SIZE_MAX] (checked before the conversion, undefined outside it).
  void read(const std::string& key, std::size_t& field) {
    double v = static_cast<double>(field);
    read(key, v);
    // SIZE_MAX + 1, a power of two: SIZE_MAX itself rounds up to it as a double.
    const double limit = 2.0 * static_cast<double>(std::numeric_limits<std::size_t>::max() / 2 + 1);
    GLUINO_CHECK(ValueError, v >= 0 && v < limit && v == std::floor(v), "create: option '", key, "' of optimizer '",
                 name_, "' must be a non-negative integer, got ", v);
    field = static_cast<std::size_t>(v);
  }
  template <class Opt>
  void read_common(Opt& o) {
    read("learning_rate", o.learning_rate);
    read("wd", o.wd);
    read("rescale_grad", o.rescale_grad);
    read("clip_gradient", o.clip_gradient);
    read("begin_num_update", o.begin_num_update);
  }
  void finish() const {
    for (const auto& [key, value] : options_) {
      if (known_.count(key)) continue;
      std::string list;
      for (const auto& k : known_) list += (list.empty() ? "" : ", ") + k;
      raise<ValueError>("create: unknown option '", key, "' for optimizer '", name_, "'; expected one of: ",
                                        list);
    }
  }

 private:
  std::string name_;
  const std::map<std::string, double>& options_;
  std::set<std::string> known_;
};
}  // namespace gluino::detail

namespace gluino::optim {

/// Numeric options by Gluon's keyword names, e.g. {{"learning_rate", 0.1}, {"momentum", 0.9}}.
using OptimizerOptions = std::map<std::string, double>;

/// The optimizer registered under `name` (case-insensitive: "sgd", "nag", "adam", "rmsprop",
/// "adagrad", "adadelta", "adamax", "nadam", "signum", "ftml", "lamb", "adamw"), configured from
/// options.  Keys: learning_rate, wd, rescale_grad, clip_gradient (< 0 = off), begin_num_update,
/// and per optimizer (booleans as 0 / 1):
///   sgd, nag: momentum            adam: beta1, beta2, epsilon
///   rmsprop: gamma1, gamma2, epsilon, centered, clip_weights
///   adagrad: eps                  adadelta: rho, epsilon
///   adamax: beta1, beta2          nadam: beta1, beta2, epsilon, schedule_decay
///   signum: momentum, wd_lh       ftml: beta1, beta2, epsilon
///   lamb: beta1, beta2, epsilon, lower_bound, upper_bound, bias_correction
///   adamw: beta1, beta2, epsilon, correct_bias
/// An option left out takes the default of the optimizer's options struct (Gluon's).  ValueError
/// for an unknown name or key.  Gluon: mx.optimizer.create(name, **kwargs).  A scheduler is
/// installed afterwards with set_lr_scheduler.
template <class T = float>
std::shared_ptr<BasicOptimizer<T>> create(const std::string& name, const OptimizerOptions& options = {}) {
  std::string key = name;
  std::transform(key.begin(), key.end(), key.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  gluino::detail::OptionReader r(key, options);
  if (key == "sgd") {
    SGDOptions o;
    r.read_common(o);
    r.read("momentum", o.momentum);
    r.finish();
    return std::make_shared<BasicSGD<T>>(o);
  }
  if (key == "nag") {
    NAGOptions o;
    r.read_common(o);
    r.read("momentum", o.momentum);
    r.finish();
    return std::make_shared<BasicNAG<T>>(o);
  }
  if (key == "adam") {
    AdamOptions o;
    r.read_common(o);
    r.read("beta1", o.beta1);
    r.read("beta2", o.beta2);
    r.read("epsilon", o.epsilon);
    r.finish();
    return std::make_shared<BasicAdam<T>>(o);
  }
  if (key == "rmsprop") {
    RMSPropOptions o;
    r.read_common(o);
    r.read("gamma1", o.gamma1);
    r.read("gamma2", o.gamma2);
    r.read("epsilon", o.epsilon);
    r.read("centered", o.centered);
    r.read("clip_weights", o.clip_weights);
    r.finish();
    return std::make_shared<BasicRMSProp<T>>(o);
  }
  if (key == "adagrad") {
    AdaGradOptions o;
    r.read_common(o);
    r.read("eps", o.eps);
    r.finish();
    return std::make_shared<BasicAdaGrad<T>>(o);
  }
  if (key == "adadelta") {
    AdaDeltaOptions o;
    r.read_common(o);
    r.read("rho", o.rho);
    r.read("epsilon", o.epsilon);
    r.finish();
    return std::make_shared<BasicAdaDelta<T>>(o);
  }
  if (key == "adamax") {
    AdamaxOptions o;
    r.read_common(o);
    r.read("beta1", o.beta1);
    r.read("beta2", o.beta2);
    r.finish();
    return std::make_shared<BasicAdamax<T>>(o);
  }
  if (key == "nadam") {
    NadamOptions o;
    r.read_common(o);
    r.read("beta1", o.beta1);
    r.read("beta2", o.beta2);
    r.read("epsilon", o.epsilon);
    r.read("schedule_decay", o.schedule_decay);
    r.finish();
    return std::make_shared<BasicNadam<T>>(o);
  }
  if (key == "signum") {
    SignumOptions o;
    r.read_common(o);
    r.read("momentum", o.momentum);
    r.read("wd_lh", o.wd_lh);
    r.finish();
    return std::make_shared<BasicSignum<T>>(o);
  }
  if (key == "ftml") {
    FTMLOptions o;
    r.read_common(o);
    r.read("beta1", o.beta1);
    r.read("beta2", o.beta2);
    r.read("epsilon", o.epsilon);
    r.finish();
    return std::make_shared<BasicFTML<T>>(o);
  }
  if (key == "lamb") {
    LAMBOptions o;
    r.read_common(o);
    r.read("beta1", o.beta1);
    r.read("beta2", o.beta2);
    r.read("epsilon", o.epsilon);
    r.read("lower_bound", o.lower_bound);
    r.read("upper_bound", o.upper_bound);
    r.read("bias_correction", o.bias_correction);
    r.finish();
    return std::make_shared<BasicLAMB<T>>(o);
  }
  if (key == "adamw") {
    AdamWOptions o;
    r.read_common(o);
    r.read("beta1", o.beta1);
    r.read("beta2", o.beta2);
    r.read("epsilon", o.epsilon);
    r.read("correct_bias", o.correct_bias);
    r.finish();
    return std::make_shared<BasicAdamW<T>>(o);
  }
  gluino::detail::raise<ValueError>("create: unknown optimizer '", name,
                                    "'; expected sgd, nag, adam, rmsprop, adagrad, adadelta, adamax, nadam, signum, "
                                    "ftml, lamb or adamw");
}

}  // namespace gluino::optim

// Precompiled mode (detail/precompiled.hpp): this header's float and double instantiations.
#define GLUINO_OPTIM_CREATE_INSTANTIATIONS(X, T) \
  X std::shared_ptr<BasicOptimizer<T>> create<T>(const std::string&, const OptimizerOptions&);
namespace gluino::optim {
GLUINO_EXTERN_INSTANTIATIONS(GLUINO_OPTIM_CREATE_INSTANTIATIONS)
}  // namespace gluino::optim
