// SPDX-License-Identifier: Apache-2.0
#pragma once
/// Test support for the model-zoo networks: their parameter counts against
/// tests/data/reference/model_zoo.json (scripts/make_model_zoo_references.py), their logits and
/// gradients against model_zoo_numbers.json (the same script), one training step on a tiny
/// batch, and the train-mode gradient against a central difference along it.
#include <gluino/autograd/engine.hpp>
#include <gluino/autograd/mode.hpp>
#include <gluino/init/initializer.hpp>
#include <gluino/init/xavier.hpp>
#include <gluino/loss/softmax_cross_entropy_loss.hpp>
#include <gluino/nd/creation.hpp>
#include <gluino/nd/elementwise.hpp>
#include <gluino/nd/random.hpp>
#include <gluino/nd/reduce.hpp>
#include <gluino/nn/block.hpp>
#include <gluino/optim/trainer.hpp>

#include <doctest/doctest.h>

#include <cmath>
#include <cstddef>
#include <string>
#include <vector>

#include "support/reference.hpp"

namespace gluino::test {

/// Parameter elements of a network: all of them (Gluon's count, BatchNorm's running statistics
/// included) and those with a gradient (grad_req not null).
struct ParamCounts {
  std::size_t total = 0, trainable = 0;
};
template <class T>
ParamCounts param_counts(const nn::BasicBlock<T>& net) {
  ParamCounts c;
  for (const auto& [name, p] : net.collect_params()) {
    c.total += p->data().size();
    if (p->grad_req() != GradReq::null) c.trainable += p->data().size();
  }
  return c;
}

/// The case of model_zoo.json for `model` whose options are `options` (a JSON object text).
inline nlohmann::json zoo_reference(const std::string& model, const std::string& options) {
  const nlohmann::json want = nlohmann::json::parse(options);
  for (const auto& c : reference_file("model_zoo.json").at("cases"))
    if (c.at("model") == model && c.at("options") == want) return c;
  FAIL("no case of ", model, " ", options, " in model_zoo.json");
  return {};
}

/// Checks a network's counts against the reference's (after initialize(), shapes all known).
template <class T>
void check_counts(const nn::BasicBlock<T>& net, const std::string& model, const std::string& options) {
  const auto ref = zoo_reference(model, options);
  const ParamCounts got = param_counts(net);
  INFO(model, " ", options);
  CHECK(got.total == ref.at("total").get<std::size_t>());
  CHECK(got.trainable == ref.at("trainable").get<std::size_t>());
}

/// The role of a parameter from its name (Gluon's "conv0_weight" or the structural
/// "0.1.running_var"): weight, bias, gamma, beta, running_mean or running_var (what
/// scripts/make_model_zoo_references.py's fill() scales by).
inline std::string param_role(const std::string& name) {
  for (const std::string r : {"running_mean", "running_var"})
    if (name.ends_with(r)) return r;
  return name.substr(name.find_last_of("._") + 1);
}

/// Checks a network in double, number for number, against the case of model_zoo_numbers.json for
/// `model` and `options`: every parameter (in collect_params order, its shape and role as the
/// PyTorch module's) set by the script's fill() (a frozen gamma and beta to 1 and 0, as Gluon's), the logits of its input in predict mode and the
/// gradient of the summed softmax cross-entropy (labels 0, 1, ...) reduced per parameter to
/// sum(grad * cos(0.21 i)).  rtol is relative to each value's magnitude and the largest one.
inline void check_numbers(nn::BasicBlock<double>& net, const std::string& model, const std::string& options,
                          double rtol = 1e-9) {
  const nlohmann::json want = nlohmann::json::parse(options);
  nlohmann::json ref;
  for (const auto& c : reference_file("model_zoo_numbers.json").at("cases"))
    if (c.at("model") == model && c.at("options") == want) ref = c;
  REQUIRE_MESSAGE(!ref.is_null(), "no case of ", model, " ", options, " in model_zoo_numbers.json");
  INFO(model, " ", options);
  const auto in_shape = Shape(ref.at("input").get<std::vector<std::size_t>>());
  NDArray<double> x(in_shape);
  for (std::size_t i = 0; i < x.size(); ++i) x.data()[i] = std::sin(0.05 * double(i) + 0.3);
  net.initialize();
  (void)net(x);  // resolves deferred shapes
  const auto params = net.collect_params_with_prefix();
  const auto& want_params = ref.at("params");
  REQUIRE(params.size() == want_params.size());
  for (std::size_t k = 0; k < params.size(); ++k) {
    const std::string& name = params[k].first;  // a named variable: clang 14 cannot capture a binding
    const auto& p = params[k].second;
    const auto& w = want_params[k];
    CAPTURE(name);
    REQUIRE(p->shape() == Shape(w.at("shape").get<std::vector<std::size_t>>()));
    const std::string role = param_role(name);
    REQUIRE(role == w.at("role").get<std::string>());
    REQUIRE((p->grad_req() != GradReq::null) == w.at("trainable").get<bool>());
    NDArray<double> v(p->shape());
    const double n = double(v.size()), kk = double(k);
    for (std::size_t i = 0; i < v.size(); ++i) {
      const double s = std::sin(0.37 * double(i) + 1.3 * kk + 0.1);
      double value = 0.1 * s;  // bias, beta, running_mean
      if (p->grad_req() == GradReq::null && (role == "gamma" || role == "beta")) value = role == "gamma" ? 1 : 0;
      else if (role == "weight") value = std::sqrt(4.0 / (n / double(v.shape()[0]))) * s;
      else if (role == "gamma") value = 1 + 0.1 * s;
      else if (role == "running_var") value = 1 + 0.25 * (1 + s);
      v.data()[i] = value;
    }
    p->set_data(v);
  }
  const std::size_t batch = in_shape[0];
  NDArray<double> label(Shape{batch});
  loss::BasicSoftmaxCrossEntropyLoss<double> loss_fn;
  NDArray<double> logits;
  {
    autograd::record rec(/*train_mode=*/false);
    logits = net(x);
    for (std::size_t i = 0; i < batch; ++i) label.data()[i] = double(i % logits.shape()[1]);
    nd::sum(loss_fn(logits, label)).backward();
  }
  const NDArray<double> want_logits = reference_array<double>(ref.at("logits"));
  REQUIRE(logits.shape() == want_logits.shape());
  double scale = 0;
  for (double v : want_logits.to_vector()) scale = std::max(scale, std::abs(v));
  check_reference_close(logits, ref.at("logits"), "logits", rtol, rtol * scale);
  const auto sums = ref.at("grad_sums").get<std::vector<double>>();
  std::vector<double> got;
  for (const auto& [name, p] : params) {
    if (p->grad_req() == GradReq::null) continue;
    const auto g = p->grad().to_vector();
    double s = 0;
    for (std::size_t i = 0; i < g.size(); ++i) s += g[i] * std::cos(0.21 * double(i));
    got.push_back(s);
  }
  REQUIRE(got.size() == sums.size());
  double gscale = 0;
  for (double v : sums) gscale = std::max(gscale, std::abs(v));
  for (std::size_t i = 0; i < got.size(); ++i) {
    CAPTURE(i);
    CHECK(std::abs(got[i] - sums[i]) <= rtol * (std::abs(sums[i]) + gscale));
  }
}

/// One SGD step on a fixed batch of images x with labels 0, 1, ...: every parameter with a
/// gradient gets a nonzero one (except those `exempt` selects, by regular expression), and
/// (with learning_rate > 0) the loss on the same batch is lower after the step.  Returns {loss
/// before, loss after} (after = before without a step).
template <class T>
std::pair<T, T> check_training_step(nn::BasicBlock<T>& net, const NDArray<T>& x, std::size_t classes,
                                    double learning_rate = 0.01, const std::string& exempt = "") {
  const std::size_t n = x.shape()[0];
  NDArray<T> label(Shape{n});
  for (std::size_t i = 0; i < n; ++i) label.data()[i] = static_cast<T>(i % classes);
  loss::BasicSoftmaxCrossEntropyLoss<T> loss_fn;
  BasicTrainer<T> trainer(net.collect_params(), "sgd", {{"learning_rate", learning_rate > 0 ? learning_rate : 0.0}});
  T before = 0;
  {
    autograd::record rec;
    auto l = loss_fn(net(x), label);
    before = nd::mean(l).asscalar();
    l.backward();
  }
  const auto skip = exempt.empty() ? nn::BasicParameterDict<T>() : net.collect_params(exempt);
  for (const auto& entry : net.collect_params()) {
    const std::string& name = entry.first;  // a named variable: clang 14 cannot capture a binding
    const auto& p = entry.second;
    if (p->grad_req() == GradReq::null || (!exempt.empty() && skip.contains(name))) continue;
    CAPTURE(name);
    CHECK(nd::max(nd::abs(p->grad())).asscalar() > T(0));
  }
  if (learning_rate <= 0) return {before, before};
  trainer.step(n);
  T after = 0;
  {
    autograd::train_mode tm;  // the same batch statistics as the step saw
    after = nd::mean(loss_fn(net(x), label)).asscalar();
  }
  MESSAGE("training step: loss ", before, " -> ", after);
  CHECK(after < before);
  return {before, after};
}

/// True in an AddressSanitizer build (scripts/test.sh's second pass): test cases that take most
/// of that pass's time and check nothing the other passes do not are skipped there.
#if defined(__SANITIZE_ADDRESS__)
inline constexpr bool sanitizer_build = true;
#else
inline constexpr bool sanitizer_build = false;
#endif

/// The train-mode loss's derivative along its own gradient g, by central differences of step
/// eps along g / |g|, against |g| (what backward says it is): returns {|g|, the difference
/// quotient}.  The mean softmax cross-entropy of x with labels 0, 1, ..., in double, batch
/// statistics in every pass.  The parameters are put back as they were.
inline std::pair<double, double> directional_derivative(nn::BasicBlock<double>& net, const NDArray<double>& x,
                                                        std::size_t classes, double eps) {
  const std::size_t n = x.shape()[0];
  NDArray<double> label(Shape{n});
  for (std::size_t i = 0; i < n; ++i) label.data()[i] = static_cast<double>(i % classes);
  loss::BasicSoftmaxCrossEntropyLoss<double> loss_fn;
  {
    autograd::record rec;
    nd::mean(loss_fn(net(x), label)).backward();
  }
  std::vector<std::pair<NDArray<double>, NDArray<double>>> moves;  // (data, grad copy)
  double squares = 0;
  for (const auto& [name, p] : net.collect_params()) {
    if (p->grad_req() == GradReq::null) continue;
    NDArray<double> g = p->grad().copy();
    for (std::size_t i = 0; i < g.size(); ++i) squares += g.data()[i] * g.data()[i];
    moves.emplace_back(p->data(), g);
  }
  const double norm = std::sqrt(squares);
  auto move = [&](double step) {
    for (auto& [d, g] : moves)
      for (std::size_t i = 0; i < d.size(); ++i) d.data()[i] += step * g.data()[i] / norm;
  };
  auto loss_at = [&] {
    autograd::train_mode tm;
    return nd::mean(loss_fn(net(x), label)).asscalar();
  };
  move(eps);
  const double plus = loss_at();
  move(-2 * eps);
  const double minus = loss_at();
  move(eps);
  return {norm, (plus - minus) / (2 * eps)};
}

}  // namespace gluino::test
