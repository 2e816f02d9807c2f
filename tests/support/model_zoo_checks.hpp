// SPDX-License-Identifier: Apache-2.0
#pragma once
/// Test support for the model-zoo networks: their parameter counts against
/// tests/data/reference/model_zoo.json (scripts/make_model_zoo_references.py), and one training
/// step on a tiny batch.
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
  for (const auto& [name, p] : net.collect_params()) {
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

}  // namespace gluino::test
