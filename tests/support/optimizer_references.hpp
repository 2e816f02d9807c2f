// SPDX-License-Identifier: Apache-2.0
#pragma once
/// Test support for the optimizers (every rule of optim/, SGD and NAG through Adamax and LAMB):
/// - check_optimizer_references(name): replays the cases of tests/data/reference/optimizers.json
///   (made by scripts/make_optimizer_references.py from torch.optim or a NumPy transcription of
///   MXNet's rule) through optim::create, in double and in float, and checks every step's weight
///   and the last states: |got - want| <= tol * max(1, |want|), tol = 1e-10 (double), 3e-5 (float;
///   the largest float error, 7e-6, is FTML's, whose z is nearly -d * w and cancels).
/// - check_trainer_matches(name, options): a Trainer made by name updates a parameter exactly as
///   the optimizer made by name does with rescale_grad = 1 / batch_size and the parameter's
///   lr_mult and wd_mult.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <gluino/nd/creation.hpp>
#include <gluino/nn/parameter_dict.hpp>
#include <gluino/optim/create.hpp>
#include <gluino/optim/trainer.hpp>
#include "support/reference.hpp"

namespace gluino::test {

/// The tolerances of check_optimizer_references, relative to max(1, |want|).
inline constexpr double reference_tol_double = 1e-10, reference_tol_float = 3e-5;

inline const nlohmann::json& optimizer_references() { return reference_file("optimizers.json"); }

/// The largest |got - want| / max(1, |want|) over the case's steps and final states, for T.
template <class T>
double reference_error(const nlohmann::json& c) {
  optim::OptimizerOptions options;
  for (const auto& [key, value] : c.at("options").items()) options[key] = value.template get<double>();
  auto opt = optim::create<T>(c.at("optimizer").get<std::string>(), options);
  Shape shape;
  for (const auto& n : c.at("shape")) shape.push_back(n.get<std::size_t>());
  auto values = [&](const nlohmann::json& a) { return nd::array<T>(a.get<std::vector<T>>(), shape); };
  NDArray<T> w = values(c.at("weight"));
  double err = 0;
  auto compare = [&](const NDArray<T>& got, const nlohmann::json& want) {
    const auto v = want.get<std::vector<double>>();
    REQUIRE(got.size() == v.size());
    for (std::size_t i = 0; i < v.size(); ++i)
      err = std::max(err, std::abs(static_cast<double>(got.data()[i]) - v[i]) / std::max(1.0, std::abs(v[i])));
  };
  const auto& grads = c.at("grads");
  for (std::size_t s = 0; s < grads.size(); ++s) {
    opt->update(0, w, values(grads[s]), c.at("lr_mult").get<double>(), c.at("wd_mult").get<double>());
    compare(w, c.at("weights")[s]);
  }
  const auto names = opt->state_names();
  REQUIRE(names.size() == c.at("states").size());
  for (std::size_t k = 0; k < names.size(); ++k) {
    INFO("state ", names[k]);
    REQUIRE(c.at("states").contains(names[k]));
    compare(opt->state(0)[k], c.at("states").at(names[k]));
  }
  return err;
}

/// Checks every case of `optimizer` in optimizers.json; returns how many there were.
inline std::size_t check_optimizer_references(const std::string& optimizer) {
  std::size_t n = 0;
  for (const auto& c : optimizer_references().at("cases")) {
    if (c.at("optimizer") != optimizer) continue;
    ++n;
    INFO(optimizer, " (", c.at("reference").get<std::string>(), "): ", c.at("covers").get<std::string>());
    CHECK(reference_error<double>(c) <= reference_tol_double);
    CHECK(reference_error<float>(c) <= reference_tol_float);
  }
  return n;
}

/// Two Trainer steps (batch size 4, lr_mult 2, wd_mult 0.5) against the same optimizer applied
/// by hand with rescale_grad / 4; the weights must agree exactly.
inline void check_trainer_matches(const std::string& optimizer, const optim::OptimizerOptions& options) {
  nn::BasicParameterDict<double> params("net_");
  auto p = params.get("w", Shape{3});
  p->set_data(nd::array<double>({1.0, -1.0, 0.5}));
  p->set_lr_mult(2);
  p->set_wd_mult(0.5);
  BasicTrainer<double> trainer(params, optimizer, options);
  CHECK(trainer.optimizer().name() == optimizer);
  auto direct = optim::create<double>(optimizer, options);
  direct->set_rescale_grad(direct->rescale_grad() / 4);  // as Trainer: options' rescale_grad / batch_size
  auto w = nd::array<double>({1.0, -1.0, 0.5});
  const std::vector<std::vector<double>> grads = {{0.5, -2.0, 3.0}, {1.0, 0.25, -4.0}};
  for (const auto& g : grads) {
    p->grad().assign(nd::array<double>(g));
    trainer.step(4);
    direct->update(0, w, nd::array<double>(g), 2, 0.5);
    CHECK(p->data().to_vector() == w.to_vector());
  }
  CHECK(trainer.optimizer().num_update() == 2);
}

}  // namespace gluino::test
