// SPDX-License-Identifier: Apache-2.0
#pragma once
// The LibTorch side of the comparison: the same workloads as gluino_side.hpp, built with
// torch::nn, trained with the same loss and optimizer; in the default NCHW memory format or,
// with Workload::channels_last, in channels_last (NHWC), which oneDNN often runs faster.
#include <torch/torch.h>

#include <chrono>

#include "workloads.hpp"

namespace compare {

inline torch::nn::Sequential torch_lenet() {
  using namespace torch::nn;
  return Sequential(Conv2d(Conv2dOptions(1, 20, 5)), ReLU(), MaxPool2d(2), Conv2d(Conv2dOptions(20, 50, 3)), ReLU(),
                    MaxPool2d(2), Flatten(), Linear(1250, 128), ReLU(), Linear(128, 10));
}

inline torch::nn::Sequential torch_alexnet() {
  using namespace torch::nn;
  return Sequential(Conv2d(Conv2dOptions(1, 96, 11).stride(4)), ReLU(), MaxPool2d(MaxPool2dOptions(3).stride(2)),
                    Conv2d(Conv2dOptions(96, 256, 5).padding(2)), ReLU(), MaxPool2d(MaxPool2dOptions(3).stride(2)),
                    Conv2d(Conv2dOptions(256, 384, 3).padding(1)), ReLU(), Conv2d(Conv2dOptions(384, 384, 3).padding(1)),
                    ReLU(), Conv2d(Conv2dOptions(384, 256, 3).padding(1)), ReLU(),
                    MaxPool2d(MaxPool2dOptions(3).stride(2)), Flatten(), Linear(6400, 4096), ReLU(), Dropout(0.5),
                    Linear(4096, 4096), ReLU(), Dropout(0.5), Linear(4096, 10));
}

inline torch::nn::Sequential torch_vgg11_quarter() {
  using namespace torch::nn;
  Sequential net;
  int in = 1;
  for (auto [convs, ch] : vgg11_quarter_arch()) {
    for (int i = 0; i < convs; ++i) {
      net->push_back(Conv2d(Conv2dOptions(in, ch, 3).padding(1)));
      net->push_back(ReLU());
      in = ch;
    }
    net->push_back(MaxPool2d(2));
  }
  net->push_back(Flatten());
  net->push_back(Linear(in * 7 * 7, 4096));
  net->push_back(ReLU());
  net->push_back(Dropout(0.5));
  net->push_back(Linear(4096, 4096));
  net->push_back(ReLU());
  net->push_back(Dropout(0.5));
  net->push_back(Linear(4096, 10));
  return net;
}

/// Runs `w` for warmup + timed steps and returns the timings.
inline Result run_torch(const Workload& w) {
  torch::manual_seed(0);
  torch::set_num_threads(w.threads);
  torch::nn::Sequential net = w.model == "lenet" ? torch_lenet() : w.model == "alexnet" ? torch_alexnet() : torch_vgg11_quarter();
  torch::optim::SGD opt(net->parameters(), torch::optim::SGDOptions(w.lr).momentum(w.momentum));
  auto x = torch::rand({w.batch, 1, w.size, w.size});
  if (w.channels_last) {  // PyTorch's recipe for NHWC: the input and the 4-D weights in channels_last
    torch::NoGradGuard ng;
    x = x.contiguous(torch::MemoryFormat::ChannelsLast);
    for (auto& p : net->parameters())
      if (p.dim() == 4) p.set_data(p.contiguous(torch::MemoryFormat::ChannelsLast));
  }
  auto y = torch::randint(0, 10, {w.batch}, torch::kLong);
  Result r;
  for (int step = 0; step < w.warmup + w.steps; ++step) {
    const bool timed = step >= w.warmup;
    auto t0 = Clock::now();
    if (!w.train) {
      torch::NoGradGuard ng;
      net->eval();
      auto out = net->forward(x);
      if (timed) r.forward_ms += ms_since(t0);
      continue;
    }
    net->train();
    opt.zero_grad();
    auto out = net->forward(x);
    auto loss = torch::nn::functional::cross_entropy(out, y);
    auto t1 = Clock::now();
    loss.backward();
    auto t2 = Clock::now();
    opt.step();
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
