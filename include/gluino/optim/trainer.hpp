// SPDX-License-Identifier: Apache-2.0
#pragma once
/// BasicTrainer<T>: applies an optimizer to a set of parameters.  Gluon: gluon.Trainer.
#include <algorithm>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "gluino/detail/precompiled.hpp"
#include "gluino/io/safetensors.hpp"
#include "gluino/nn/parameter_dict.hpp"
#include "gluino/optim/create.hpp"

namespace gluino {

/// Updates parameters with an optimizer after backward():
/// ```
/// Trainer trainer(net.collect_params(), "sgd", {{"learning_rate", 0.1}, {"momentum", 0.9}});
/// { autograd::record rec; auto l = loss_fn(net(x), y); l.backward(); }
/// trainer.step(x.shape()[0]);     // gradients rescaled by 1 / batch_size
/// ```
/// Parameter i (in the dict's order) is the optimizer's index i; parameters with grad_req null
/// are skipped; each parameter's lr_mult and wd_mult scale the rate and the weight decay.
/// A parameter held twice (shared) is updated once.  Gluon: gluon.Trainer(params, optimizer,
/// optimizer_params).  Differs from Gluon: no kvstore (single device), and no stale-gradient
/// check (step() updates every parameter with a gradient, whether backward reached it or not).
template <class T>
class BasicTrainer {
 public:
  /// With an optimizer by name and numeric options (see optim::create): ValueError for an
  /// unknown name or option.  options["rescale_grad"] (default 1) is multiplied by 1 / batch_size
  /// at each step, as Gluon.
  BasicTrainer(nn::BasicParameterDict<T> params, const std::string& optimizer, const optim::OptimizerOptions& options = {})
      : BasicTrainer(std::move(params), optim::create<T>(optimizer, options)) {}
  /// With an optimizer object (shared: the caller may keep tuning it).  ValueError when another
  /// live Trainer of other parameters uses it (optimizer states are kept per parameter index).
  BasicTrainer(nn::BasicParameterDict<T> params, std::shared_ptr<optim::BasicOptimizer<T>> optimizer)
      : optimizer_(std::move(optimizer)) {
    GLUINO_CHECK(ValueError, optimizer_ != nullptr, "Trainer: the optimizer is null");
    scale_ = optimizer_->rescale_grad();
    for (const auto& [name, p] : params) {
      bool seen = false;
      for (const auto& q : params_) seen = seen || q == p;
      if (!seen) params_.push_back(p);
    }
    std::vector<const void*> ids;
    for (const auto& p : params_) ids.push_back(p.get());
    binding_ = optimizer_->bind_parameters(std::move(ids));
  }

  /// One update of every parameter with a gradient, gradients scaled by rescale_grad / batch_size.
  /// All or nothing: StateError naming the parameter, before anything is updated, when one with a
  /// gradient is not initialized (or waits for its shape), ShapeError when an optimizer state
  /// (set_states, load_states) does not have its shape, ValueError for an lr_mult or wd_mult the
  /// optimizer refuses (negative, NaN, infinite) or for a rate the optimizer's rule refuses
  /// (check_step, e.g. FTML's at 0), each asked with the rate that parameter's update would get:
  /// the scheduler's at the num_update that update would see (asked with rate_at, which changes
  /// nothing), times its lr_mult.  The errors say "no parameter was updated"; the weights, the
  /// optimizer's states and counters, and its lr_scheduler are then as they were.
  /// Gluon: step(batch_size).
  void step(std::size_t batch_size) {
    check_step(batch_size);
    optimizer_->set_rescale_grad(scale_ / static_cast<double>(batch_size));
    for (std::size_t i = 0; i < params_.size(); ++i) {
      const auto& p = *params_[i];
      if (p.grad_req() == GradReq::null) continue;
      NDArray<T> w = p.data();
      optimizer_->update(i, w, p.grad(), p.lr_mult(), p.wd_mult());
    }
  }
  /// What step(batch_size) would refuse (see step), thrown as step throws it, changing nothing:
  /// dist::Trainer asks it on every rank before the gradients are summed.
  void check_step(std::size_t batch_size) const {
    GLUINO_CHECK(ValueError, batch_size > 0, "Trainer: step: batch_size must be > 0");
    std::size_t num_update = optimizer_->num_update();  // what each update in turn will see
    for (std::size_t i = 0; i < params_.size(); ++i) {
      const auto& p = *params_[i];
      if (p.grad_req() == GradReq::null) continue;
      GLUINO_CHECK(StateError, !p.is_deferred() && p.is_initialized(), "Trainer: step: parameter '", p.name(), "' ",
                   p.is_deferred()
                       ? "waits for its shape (deferred initialization): pass a batch through the network first"
                       : "is not initialized: call initialize()",
                   "; no parameter was updated");
      num_update = optimizer_->next_num_update(i, num_update);
      try {
        optimizer_->check_update(i, p.lr_mult(), p.wd_mult(), num_update);
      } catch (const ValueError& e) {
        detail::raise<ValueError>("Trainer: step: parameter '", p.name(), "': ", e.what(),
                                  "; no parameter was updated");
      }
      if (optimizer_->has_state(i))
        for (const NDArray<T>& s : optimizer_->state(i))
          GLUINO_CHECK(ShapeError, s.shape() == p.data().shape(), "Trainer: step: parameter '", p.name(),
                       "' has shape ", p.data().shape(), " but its optimizer state has shape ", s.shape(),
                       "; no parameter was updated");
    }
  }
  /// Same as step() (no separate gradient reduction on one device).  Gluon: update(batch_size).
  void update(std::size_t batch_size) { step(batch_size); }

  /// The current learning rate.  Gluon: learning_rate.
  double learning_rate() const { return optimizer_->learning_rate(); }
  /// Gluon: set_learning_rate(lr); StateError when an lr_scheduler drives the rate.
  void set_learning_rate(double lr) { optimizer_->set_learning_rate(lr); }
  /// The optimizer (shared).  Gluon: trainer.optimizer.
  optim::BasicOptimizer<T>& optimizer() const { return *optimizer_; }
  /// The parameters in index order (shared ones once).
  const std::vector<std::shared_ptr<nn::BasicParameter<T>>>& params() const { return params_; }

  /// Writes the optimizer's states to a safetensors file (atomic: a failed save leaves an
  /// existing file whole): tensors "<index>.<state>" (e.g. "0.mom"), metadata "format"
  /// ("gluino.trainer_states"), "format_version" ("2"), "optimizer", "num_update",
  /// "index_update_count" ("index:count,..."), "num_params", "param_shapes" (JSON, in index
  /// order, 0 = not known yet) and "param_names" (comma-separated, for reading only: loading
  /// matches parameters by index, not name), plus the caller's `metadata` (e.g. the epoch; a key
  /// of the trainer's own is a ValueError).  Gluon: save_states (a pickle there).
  void save_states(const std::string& path, const std::map<std::string, std::string>& metadata = {}) const;
  /// Restores what save_states wrote, all or nothing (the file is checked whole before anything
  /// changes).  Parameters are matched by index (the order of collect_params(), i.e. the
  /// structure), not by their global names, so a process that numbered its blocks differently
  /// loads the file.  ValueError when the file was written for another optimizer or another
  /// number of parameters, lacks the state of a parameter it says was updated (or has a state
  /// of one never updated), or is malformed; ShapeError when a parameter's or a state's shape
  /// differs.  Also reads files of format version 1 (no "format_version": shapes are then
  /// checked through the states only).  Gluon: load_states.
  void load_states(const std::string& path);

 private:
  /// A non-negative decimal integer; ValueError naming the text otherwise.
  static std::size_t parse_count(const std::string& text, const std::string& where) {
    GLUINO_CHECK(ValueError, !text.empty() && text.size() < 20 && text.find_first_not_of("0123456789") == std::string::npos,
                 where, "malformed number '", text, "'");
    return static_cast<std::size_t>(std::stoull(text));
  }

  std::shared_ptr<optim::BasicOptimizer<T>> optimizer_;
  std::vector<std::shared_ptr<nn::BasicParameter<T>>> params_;
  double scale_ = 1;
  std::shared_ptr<const void> binding_;  // optimizer_->bind_parameters(params_): one Trainer's indices
};

// save_states and load_states use nlohmann-json: compiled once in the precompiled library, which
// programs built against it link instead (detail/precompiled.hpp).
#if !GLUINO_EXTERN_TEMPLATES
template <class T>
void BasicTrainer<T>::save_states(const std::string& path, const std::map<std::string, std::string>& metadata) const {
  std::vector<std::pair<std::string, NDArray<T>>> tensors;
  for (const auto& [name, arr] : optimizer_->states()) tensors.emplace_back(name, arr);
  std::ostringstream counts, names;
  for (const auto& [index, count] : optimizer_->index_update_count())
    counts << (counts.tellp() > 0 ? "," : "") << index << ":" << count;
  nlohmann::json shapes = nlohmann::json::array();
  for (std::size_t i = 0; i < params_.size(); ++i) {
    names << (i ? "," : "") << params_[i]->name();
    shapes.push_back(params_[i]->is_initialized() ? params_[i]->data().shape().vec() : params_[i]->shape().vec());
  }
  std::map<std::string, std::string> meta{{"format", "gluino.trainer_states"},
                                          {"format_version", "2"},
                                          {"optimizer", optimizer_->name()},
                                          {"num_update", std::to_string(optimizer_->num_update())},
                                          {"index_update_count", counts.str()},
                                          {"num_params", std::to_string(params_.size())},
                                          {"param_shapes", shapes.dump()},
                                          {"param_names", names.str()}};
  for (const auto& [key, value] : metadata)
    GLUINO_CHECK(ValueError, meta.emplace(key, value).second, "Trainer: save_states: '", path, "': metadata key '",
                 key, "' is the trainer's own");
  io::save_safetensors<T>(path, tensors, meta);
}

template <class T>
void BasicTrainer<T>::load_states(const std::string& path) {
  const std::string where = "Trainer: load_states: '" + path + "': ";
  auto contents = io::load_safetensors_with_metadata<T>(path);
  const auto& meta = contents.metadata;
  auto field = [&](const std::string& key) -> const std::string& {
    auto it = meta.find(key);
    GLUINO_CHECK(ValueError, it != meta.end(), where, "no '", key, "' in the metadata (not written by save_states)");
    return it->second;
  };
  GLUINO_CHECK(ValueError, field("optimizer") == optimizer_->name(), where, "states of optimizer '", field("optimizer"),
               "' cannot be loaded into '", optimizer_->name(), "'");
  std::ostringstream names;
  for (std::size_t i = 0; i < params_.size(); ++i) names << (i ? "," : "") << params_[i]->name();
  auto describe = [&](std::size_t i) { return "parameter " + std::to_string(i) + " ('" + params_[i]->name() + "')"; };

  // The number of parameters and, from version 2 on, their shapes.
  std::size_t count = 0;
  std::vector<Shape> saved_shapes;
  auto version = meta.find("format_version");
  if (version == meta.end()) {  // version 1: count the names
    const std::string& saved = field("param_names");
    count = saved.empty() ? 0 : static_cast<std::size_t>(std::count(saved.begin(), saved.end(), ',')) + 1;
  } else {
    GLUINO_CHECK(ValueError, version->second == "2", where, "format_version ", version->second,
                 " is not known to this gluino (2 is)");
    count = parse_count(field("num_params"), where);
    nlohmann::json shapes;
    try {
      shapes = nlohmann::json::parse(field("param_shapes"));
    } catch (const nlohmann::json::exception&) {
      detail::raise<ValueError>(where, "malformed param_shapes '", field("param_shapes"), "'");
    }
    GLUINO_CHECK(ValueError, shapes.is_array() && shapes.size() == count, where, "param_shapes '", field("param_shapes"),
                 "' does not list ", count, " shapes");
    for (const auto& s : shapes) {
      bool ok = s.is_array() && s.size() <= Shape::max_dims;
      std::vector<std::size_t> dims;
      for (std::size_t d = 0; ok && d < s.size(); ++d) {
        ok = s[d].is_number_unsigned();
        if (ok) dims.push_back(s[d].template get<std::size_t>());
      }
      GLUINO_CHECK(ValueError, ok, where, "malformed param_shapes '", field("param_shapes"), "'");
      saved_shapes.emplace_back(dims);
    }
  }
  GLUINO_CHECK(ValueError, count == params_.size(), where, "saved for ", count, " parameters [", field("param_names"),
               "] but this trainer has ", params_.size(), " [", names.str(), "]");
  for (std::size_t i = 0; i < saved_shapes.size(); ++i)
    if (saved_shapes[i].is_complete() && params_[i]->is_initialized())
      GLUINO_CHECK(ShapeError, saved_shapes[i] == params_[i]->data().shape(), where, "saved for ", describe(i),
                   " of shape ", saved_shapes[i], " but it has shape ", params_[i]->data().shape());

  std::map<std::string, NDArray<T>> states;
  std::set<std::size_t> with_state;
  for (auto& [name, arr] : contents.tensors) {
    const std::size_t index = parse_count(name.substr(0, name.find('.')), where);
    GLUINO_CHECK(ValueError, index < params_.size(), where, "state '", name, "' names parameter ", index, " of ",
                 params_.size());
    const auto& p = *params_[index];
    if (p.is_initialized())
      GLUINO_CHECK(ShapeError, arr.shape() == p.data().shape(), where, "state '", name, "' has shape ", arr.shape(),
                   " but ", describe(index), " has shape ", p.data().shape());
    states.emplace(name, arr);
    with_state.insert(index);
  }
  std::map<std::size_t, std::size_t> counts;
  std::istringstream in(field("index_update_count"));
  for (std::string item; std::getline(in, item, ',');) {
    const auto colon = item.find(':');
    GLUINO_CHECK(ValueError, colon != std::string::npos, where, "malformed index_update_count entry '", item, "'");
    const std::size_t index = parse_count(item.substr(0, colon), where);
    GLUINO_CHECK(ValueError, index < params_.size(), where, "index_update_count names parameter ", index, " of ",
                 params_.size());
    counts[index] = parse_count(item.substr(colon + 1), where);
  }
  // Every updated parameter has all its states, and only updated ones have states: otherwise a
  // missing state would silently restart from zero (momentum lost).
  const auto state_names = optimizer_->state_names();
  for (const auto& [index, n] : counts)
    for (const auto& s : state_names)
      GLUINO_CHECK(ValueError, states.count(std::to_string(index) + "." + s), where, "no state '", s, "' for ",
                   describe(index), ", which was updated ", n, " times (state '", index, ".", s, "' missing)");
  for (std::size_t index : with_state)
    GLUINO_CHECK(ValueError, counts.count(index), where, "states for ", describe(index),
                 ", which index_update_count says was never updated");
  optimizer_->set_states(states);
  optimizer_->set_update_counts(parse_count(field("num_update"), where), std::move(counts));
}
#endif  // !GLUINO_EXTERN_TEMPLATES

/// The float trainer, under Gluon's name.
using Trainer = BasicTrainer<float>;

}  // namespace gluino

// Precompiled mode (detail/precompiled.hpp): this header's float and double instantiations.
#define GLUINO_OPTIM_TRAINER_INSTANTIATIONS(X, T) \
  X class BasicTrainer<T>;
namespace gluino {
GLUINO_EXTERN_INSTANTIATIONS(GLUINO_OPTIM_TRAINER_INSTANTIATIONS)
}  // namespace gluino
