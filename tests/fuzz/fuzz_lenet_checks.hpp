// SPDX-License-Identifier: Apache-2.0
#pragma once
/// What fuzz_load_parameters and fuzz_trainer_states run on each input, compiled once for both
/// (fuzz_lenet_checks.cpp: LeNet, its forward pass, the checkpoint readers and the Trainer are
/// most of either target's compile time).  Anything but a gluino::Error escaping is a crash.
#include <cstddef>
#include <string>

namespace gluino_fuzz {

/// load_parameters of the file at `path` into model_zoo LeNet (built once), with the load options
/// drawn from the input's size (default, allow_missing, ignore_extra, both); after a load that
/// succeeds, one forward pass, whose shape must be (2, 10) (the loaded shapes must fit the layers).
void load_parameters_and_run(const std::string& path, std::size_t size);

/// Trainer::load_states of the file at `path` into two trainers over LeNet's parameters (built
/// once): SGD with momentum and Adam; after a load that succeeds, one step (the loaded states
/// must fit the parameters).
void load_states_and_step(const std::string& path);

}  // namespace gluino_fuzz
