// SPDX-License-Identifier: Apache-2.0
#pragma once
/// BasicTrainer<T>: applies an optimizer to a set of parameters.  Gluon: gluon.Trainer.
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

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
  /// With an optimizer object (shared: the caller may keep tuning it).
  BasicTrainer(nn::BasicParameterDict<T> params, std::shared_ptr<optim::BasicOptimizer<T>> optimizer)
      : optimizer_(std::move(optimizer)) {
    GLUINO_CHECK(ValueError, optimizer_ != nullptr, "Trainer: the optimizer is null");
    scale_ = optimizer_->rescale_grad();
    for (const auto& [name, p] : params) {
      bool seen = false;
      for (const auto& q : params_) seen = seen || q == p;
      if (!seen) params_.push_back(p);
    }
  }

  /// One update of every parameter with a gradient, gradients scaled by rescale_grad / batch_size.
  /// StateError for a parameter that is not initialized yet.  Gluon: step(batch_size).
  void step(std::size_t batch_size) {
    GLUINO_CHECK(ValueError, batch_size > 0, "Trainer: step: batch_size must be > 0");
    optimizer_->set_rescale_grad(scale_ / static_cast<double>(batch_size));
    for (std::size_t i = 0; i < params_.size(); ++i) {
      const auto& p = *params_[i];
      if (p.grad_req() == GradReq::null) continue;
      NDArray<T> w = p.data();
      optimizer_->update(i, w, p.grad(), p.lr_mult(), p.wd_mult());
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

  /// Writes the optimizer's states to a safetensors file: tensors "<index>.<state>" (e.g.
  /// "0.mom"), metadata "optimizer", "num_update", "index_update_count" ("index:count,...")
  /// and "param_names" (comma-separated, in index order).  Gluon: save_states (a pickle there).
  void save_states(const std::string& path) const {
    std::vector<std::pair<std::string, NDArray<T>>> tensors;
    for (const auto& [name, arr] : optimizer_->states()) tensors.emplace_back(name, arr);
    std::ostringstream counts, names;
    for (const auto& [index, count] : optimizer_->index_update_count())
      counts << (counts.tellp() > 0 ? "," : "") << index << ":" << count;
    for (std::size_t i = 0; i < params_.size(); ++i) names << (i ? "," : "") << params_[i]->name();
    io::save_safetensors<T>(path, tensors,
                            {{"optimizer", optimizer_->name()},
                             {"num_update", std::to_string(optimizer_->num_update())},
                             {"index_update_count", counts.str()},
                             {"param_names", names.str()}});
  }
  /// Restores what save_states wrote.  ValueError when the file was written for another
  /// optimizer or other parameter names, or is malformed; ShapeError when a state's shape differs
  /// from its parameter's.  Gluon: load_states.
  void load_states(const std::string& path) {
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
    GLUINO_CHECK(ValueError, field("param_names") == names.str(), where, "saved for parameters [",
                 field("param_names"), "] but this trainer has [", names.str(), "]");
    std::map<std::string, NDArray<T>> states;
    for (auto& [name, arr] : contents.tensors) {
      const std::size_t index = parse_count(name.substr(0, name.find('.')), where);
      GLUINO_CHECK(ValueError, index < params_.size(), where, "state '", name, "' names parameter ", index, " of ",
                   params_.size());
      const auto& p = *params_[index];
      if (p.is_initialized())
        GLUINO_CHECK(ShapeError, arr.shape() == p.data().shape(), where, "state '", name, "' has shape ", arr.shape(),
                     " but parameter '", p.name(), "' has shape ", p.data().shape());
      states.emplace(name, arr);
    }
    std::map<std::size_t, std::size_t> counts;
    std::istringstream in(field("index_update_count"));
    for (std::string item; std::getline(in, item, ',');) {
      const auto colon = item.find(':');
      GLUINO_CHECK(ValueError, colon != std::string::npos, where, "malformed index_update_count entry '", item, "'");
      counts[parse_count(item.substr(0, colon), where)] = parse_count(item.substr(colon + 1), where);
    }
    optimizer_->set_states(states);
    optimizer_->set_update_counts(parse_count(field("num_update"), where), std::move(counts));
  }

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
};

/// The float trainer, under Gluon's name.
using Trainer = BasicTrainer<float>;

}  // namespace gluino
