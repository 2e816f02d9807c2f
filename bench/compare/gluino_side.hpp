// SPDX-License-Identifier: Apache-2.0
#pragma once
// The gluino side of the comparison: the workloads of workloads.hpp with gluino's model zoo,
// SoftmaxCrossEntropyLoss and SGD with momentum through the Trainer.
#include <gluino/gluino.hpp>

#include "workloads.hpp"

namespace compare {

inline std::shared_ptr<gluino::nn::Sequential> gluino_model(const std::string& model) {
  using namespace gluino;
  if (model == "lenet") return model_zoo::lenet();
  if (model == "alexnet") return model_zoo::alexnet();
  return model_zoo::vgg11({.channel_divisor = 4});  // the same table as vgg11_quarter_arch()
}

/// Runs `w` for warmup + timed steps and returns the timings.
inline Result run_gluino(const Workload& w) {
  using namespace gluino;
  set_num_threads(w.threads);
  gluino::random::seed(0);
  auto net = gluino_model(w.model);
  net->initialize(init::Xavier{});
  const auto b = static_cast<std::size_t>(w.batch), s = static_cast<std::size_t>(w.size);
  auto x = nd::random::uniform<float>({b, 1, s, s});
  auto y = nd::zeros<float>({b});
  for (std::size_t i = 0; i < b; ++i) y.data()[i] = static_cast<float>(i % 10);
  (void)(*net)(x.slice(0, 1));  // deferred initialisation outside the timing
  if (w.hybridize) net->hybridize();  // traced at the first warm-up step
  Trainer trainer(net->collect_params(), "sgd", {{"learning_rate", w.lr}, {"momentum", w.momentum}});
  loss::SoftmaxCrossEntropyLoss loss_fn;
  Result r;
  for (int step = 0; step < w.warmup + w.steps; ++step) {
    const bool timed = step >= w.warmup;
    auto t0 = Clock::now();
    if (!w.train) {
      autograd::predict_mode predict;
      auto out = (*net)(x);
      if (timed) r.forward_ms += ms_since(t0);
      continue;
    }
    NDArray<float> loss;
    {
      autograd::record rec;
      loss = loss_fn((*net)(x), y);
    }
    auto t1 = Clock::now();
    loss.backward();
    auto t2 = Clock::now();
    trainer.step(b);
    auto t3 = Clock::now();
    if (timed) {
      r.forward_ms += std::chrono::duration<double, std::milli>(t1 - t0).count();
      r.backward_ms += std::chrono::duration<double, std::milli>(t2 - t1).count();
      r.update_ms += std::chrono::duration<double, std::milli>(t3 - t2).count();
    }
  }
  r.finish(w);
  return r;
}

}  // namespace compare
